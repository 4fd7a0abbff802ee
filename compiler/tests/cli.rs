//! The `dl` command as a user runs it: arguments, output formats, exit
//! codes and error messages.

mod common;

use std::process::{Command, Output};

fn dl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dl"))
        .args(args)
        .current_dir(common::repo())
        .output()
        .expect("dl runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn run_prints_the_result_of_main() {
    let o = dl(&["run", "examples/newton.dl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "(1.414213562373095, 5)\n");
}

#[test]
fn run_calls_an_entry_point_with_literal_arguments() {
    let o = dl(&[
        "run",
        "examples/kmeans.dl",
        "-e",
        "kmeans_cost",
        "[[0.0, 0.0]]",
        "[[1.0, 1.0], [-1.0, 2.0]]",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "7.0\n");
}

#[test]
fn run_accepts_negative_numbers_and_prints_json() {
    let o = dl(&[
        "run",
        "examples/recurrence.dl",
        "-e",
        "logistic",
        "-1.5",
        "0.5",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // x1 = -1.5 * 0.5 * 0.5 = -0.375; x2 = -1.5 * -0.375 * 1.375
    assert_eq!(stdout(&o).trim(), (-1.5f64 * -0.375 * 1.375).to_string());
}

#[test]
fn running_one_entry_point_differentiates_only_what_it_uses() {
    let file = temp_file(
        "two_entries.dl",
        "def f(x: f64) -> f64 = x * x\ndef df(x: f64) -> f64 = grad(f)(x)\n",
    );
    let file = file.to_str().expect("a path");
    let primal = dl(&["run", file, "-e", "f", "3.0", "--timings"]);
    assert!(primal.status.success(), "{}", stderr(&primal));
    assert_eq!(stdout(&primal).trim(), "9.0");
    assert!(!stderr(&primal).contains("ad: reverse"), "{}", stderr(&primal));
    let gradient = dl(&["run", file, "-e", "df", "3.0", "--timings"]);
    assert!(gradient.status.success(), "{}", stderr(&gradient));
    assert_eq!(stdout(&gradient).trim(), "6.0");
    assert!(stderr(&gradient).contains("ad: reverse"), "{}", stderr(&gradient));
}

#[test]
fn run_reads_arguments_from_json() {
    let args = temp_file("args.json", "[[[1, 2], [3, 4]], [[\"NaN\", 1]]]");
    let o = dl(&[
        "run",
        "examples/kmeans.dl",
        "-e",
        "assign",
        "--args-json",
        args.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "[0]");
}

#[test]
fn json_output_writes_special_floats_as_strings() {
    let prog = temp_file("special.dl", "def main() = [1.0 / 0.0, 0.0 / 0.0, 0.5]\n");
    let o = dl(&["run", prog.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "[\"Infinity\",\"NaN\",0.5]");
}

#[test]
fn floats_print_shortest_round_trip() {
    let prog = temp_file("floats.dl", "def main() = (0.1 + 0.2, 1e-7, 1e300 * 10.0, -0.0)\n");
    let o = dl(&["run", prog.to_str().unwrap()]);
    assert_eq!(stdout(&o), "(0.30000000000000004, 1e-7, 1e301, -0.0)\n");
}

#[test]
fn a_malformed_argument_is_an_error_naming_the_parameter() {
    let o = dl(&[
        "run",
        "examples/kmeans.dl",
        "-e",
        "kmeans_cost",
        "[[0.0, 0.0]]",
        "[[1.0, 1.0], [oops]]",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("argument 2") && err.contains("points"), "{err}");
}

#[test]
fn a_ragged_argument_is_rejected() {
    let o = dl(&[
        "run",
        "examples/kmeans.dl",
        "-e",
        "kmeans_cost",
        "[[0.0, 0.0]]",
        "[[1.0, 1.0], [2.0]]",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("one length"), "{}", stderr(&o));
}

#[test]
fn a_size_mismatch_between_arguments_names_both_sizes() {
    let o = dl(&[
        "run",
        "examples/kmeans.dl",
        "-e",
        "sqdist",
        "[1.0, 2.0]",
        "[1.0, 2.0, 3.0]",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains('3') && err.contains('2') && err.contains("kmeans.dl:"),
        "{err}"
    );
}

#[test]
fn the_wrong_number_of_arguments_lists_the_parameters() {
    let o = dl(&["run", "examples/kmeans.dl", "-e", "sqdist", "[1.0]"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("a: []f64, b: []f64"), "{}", stderr(&o));
}

#[test]
fn an_unknown_entry_point_lists_the_entry_points() {
    let o = dl(&["run", "examples/kmeans.dl", "-e", "nope"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("kmeans_cost"), "{}", stderr(&o));
}

#[test]
fn a_run_time_error_points_at_the_source_and_exits_non_zero() {
    let o = dl(&["run", "tests/runtime_errors/index_out_of_bounds.dl"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("index 3") && err.contains("index_out_of_bounds.dl:1:"),
        "{err}"
    );
}

#[test]
fn check_reports_every_error_and_exits_non_zero() {
    let o = dl(&["check", "tests/diagnostics/several_errors.dl"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("3 errors"), "{err}");
}

#[test]
fn check_accepts_a_good_program() {
    let o = dl(&["check", "examples/gmm.dl"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn test_runs_declarations_and_reports_failures() {
    let prog = temp_file("tests.dl", "test \"good\" = 1 + 1 == 2\ntest \"bad\" = 1 + 1 == 3\n");
    let o = dl(&["test", prog.to_str().unwrap()]);
    assert!(!o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("test good ... ok") && out.contains("test bad ... FAILED") && out.contains("1 passed, 1 failed"),
        "{out}"
    );
}

#[test]
fn ir_prints_the_ast_and_the_core_of_an_entry_point() {
    let ast = dl(&["ir", "examples/kmeans.dl", "-e", "sqdist", "--stage", "ast"]);
    assert!(ast.status.success(), "{}", stderr(&ast));
    assert!(stdout(&ast).contains("def sqdist"), "{}", stdout(&ast));
    let core = dl(&["ir", "examples/kmeans.dl", "-e", "sqdist", "--stage", "core"]);
    assert!(core.status.success(), "{}", stderr(&core));
    let text = stdout(&core);
    // The entry point first, then the prelude function it calls.
    assert!(text.starts_with("def sqdist("), "{text}");
    assert!(text.contains("def sqnorm("), "{text}");
}

#[test]
fn help_explains_each_subcommand() {
    for sub in ["run", "check", "test", "ir", "bench"] {
        let o = dl(&[sub, "--help"]);
        assert!(o.status.success());
        assert!(stdout(&o).contains("Usage: dl"), "{sub}");
    }
}

#[test]
fn check_grad_reports_a_small_error_for_a_correct_gradient() {
    let o = dl(&["check-grad", "tests/derivatives/poly.dl", "-e", "f", "1.5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // f'(1.5) = 3 (1.5)^2 + 4 (1.5) - 1 = 11.75
    assert!(out.contains("1.1750000000000000e1"), "{out}");
    assert!(out.contains("largest relative error"), "{out}");
}

#[test]
fn check_grad_fails_where_finite_differences_cannot_see_stop_gradient() {
    let o = dl(&["check-grad", "tests/derivatives/stop_gradient.dl", "-e", "f", "3.0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("differs from finite differences"), "{}", stderr(&o));
}

#[test]
fn ir_prints_each_stage_of_a_gradient() {
    let unary = stdout(&dl(&[
        "ir",
        "tests/derivatives/poly.dl",
        "-e",
        "f",
        "--grad",
        "--stage",
        "unary",
    ]));
    assert!(unary.starts_with("def f(%0: f64)"), "{unary}");
    let rev = stdout(&dl(&[
        "ir",
        "tests/derivatives/poly.dl",
        "-e",
        "f",
        "--grad",
        "--stage",
        "rev",
    ]));
    assert!(rev.starts_with("def f$vjp(%0: f64, %1: f64)"), "{rev}");
    let core = stdout(&dl(&[
        "ir",
        "tests/derivatives/poly.dl",
        "-e",
        "f",
        "--grad",
        "--stage",
        "core",
    ]));
    assert!(core.contains("call \"f$flat$vjp\""), "{core}");
    let jvp = stdout(&dl(&[
        "ir",
        "tests/derivatives/poly.dl",
        "-e",
        "f",
        "--jvp",
        "--stage",
        "core",
    ]));
    assert!(jvp.contains("f$flat$jvp"), "{jvp}");
    let bad = dl(&["ir", "tests/derivatives/poly.dl", "-e", "f", "--jvp", "--stage", "rev"]);
    assert!(
        !bad.status.success() && stderr(&bad).contains("reverse mode only"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn ir_writes_a_dataflow_graph() {
    let dot = std::env::temp_dir().join(format!("dl-cli-{}-graph.dot", std::process::id()));
    let o = dl(&[
        "ir",
        "tests/derivatives/poly.dl",
        "-e",
        "f",
        "--grad",
        "--stage",
        "core",
        "--dot",
        dot.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&dot).expect("the graph was written");
    assert!(text.starts_with("digraph {") && text.contains("->"), "{text}");
}

#[test]
fn cost_prints_the_function_and_its_gradient() {
    let o = dl(&[
        "cost",
        "examples/linreg.dl",
        "-e",
        "loss",
        "[0.1, 0.2, 0.3]",
        "[[1.0, 2.0, 1.0]]",
        "[1.0]",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 4, "{out}");
    assert!(
        rows[1].starts_with("loss ") && rows[1].trim_end().ends_with("1.00"),
        "{out}"
    );
    assert!(
        rows[2].starts_with("grad(loss) unoptimised") && rows[3].starts_with("grad(loss) "),
        "{out}"
    );
    // Partial evaluation pays off: the optimised gradient costs less.
    let total = |row: &str| {
        row.split_whitespace()
            .rev()
            .nth(1)
            .and_then(|t| t.parse::<u64>().ok())
            .expect("a total")
    };
    assert!(total(rows[3]) < total(rows[2]), "{out}");
}

#[test]
fn run_on_native_code_and_on_the_interpreter_print_the_same() {
    for extra in [&[][..], &["--interp"][..]] {
        let mut args = vec!["run", "examples/newton.dl"];
        args.extend_from_slice(extra);
        let o = dl(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "(1.414213562373095, 5)\n", "{args:?}");
    }
}

#[test]
fn ir_prints_the_loop_ir_and_the_cranelift_ir() {
    let o = dl(&["ir", "tests/lir/map_reduce.dl", "-e", "f", "--stage", "lir"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("func f("), "{}", stdout(&o));
    let o = dl(&["ir", "tests/lir/map_reduce.dl", "-e", "f", "--stage", "clif"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("f64x2"), "{}", stdout(&o));
    let o = dl(&["ir", "examples/mlp.dl", "-e", "xent", "--grad", "--stage", "lir"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = dl(&["ir", "tests/lir/map_reduce.dl", "--stage", "clif"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("add --entry"), "{}", stderr(&o));
}

#[test]
fn bench_prints_compile_time_and_call_times_as_json() {
    let o = dl(&["bench", "examples/newton.dl", "--runs", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    for key in ["compile_ms", "min_ms", "median_ms"] {
        assert!(v[key].as_f64().is_some_and(|t| t >= 0.0), "{key}: {v}");
    }
    assert_eq!(v["runs"], 3);
    assert!(v["min_ms"].as_f64() <= v["median_ms"].as_f64());
}

/// `--compile-runs` compiles from scratch that many times and reports the
/// median, with the first compile of the process apart.
#[test]
fn bench_compiles_as_many_times_as_asked() {
    let o = dl(&[
        "bench",
        "examples/newton.dl",
        "--runs",
        "1",
        "--compile-runs",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    assert_eq!(v["compile_runs"], 3);
    for key in ["compile_ms", "first_compile_ms"] {
        assert!(v[key].as_f64().is_some_and(|t| t > 0.0), "{key}: {v}");
    }
    let o = dl(&["bench", "examples/newton.dl", "--runs", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    assert_eq!(v["compile_runs"], 1);
    assert_eq!(v["compile_ms"], v["first_compile_ms"]);
}

/// The timed calls free their results unread; a failing call is still
/// reported, with its location, and the exit status says so.
#[test]
fn bench_reports_a_run_time_error_of_the_timed_code() {
    let o = dl(&["bench", "tests/runtime_errors/index_out_of_bounds.dl", "--runs", "2"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("index 3 out of bounds"), "{err}");
    assert!(err.contains("index_out_of_bounds.dl:1:39"), "{err}");
    // An array result, freed after each call.
    let o = dl(&["bench", "bench/ode.dl", "--runs", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Constant folding leaves array-valued primitives alone: a literal size
/// too large for memory does not make the optimiser build the array.
#[test]
fn the_optimiser_does_not_build_arrays_of_a_literal_size() {
    for body in ["replicate(2305843009213693952, 1.0)", "iota(100000000000)"] {
        let prog = temp_file("huge_literal.dl", &format!("def main() = {body}\n"));
        let o = dl(&["ir", prog.to_str().unwrap(), "--stage", "opt", "-e", "main"]);
        assert!(o.status.success(), "{body}: {}", stderr(&o));
    }
}

/// An array too large for memory is a run-time error of the interpreter,
/// not an abort, whichever primitive makes it.
#[test]
fn the_interpreter_reports_an_array_too_large_for_memory() {
    for (name, body) in [
        ("build", "build(4611686018427387904, \\i -> f64(i))"),
        ("iota", "iota(2305843009213693952)"),
        ("replicate", "replicate(2305843009213693952, 1.0)"),
        ("scatter", "scatter_add(4611686018427387904, [0], [1.0])"),
    ] {
        let prog = temp_file(
            &format!("huge_{name}.dl"),
            &format!("def f(k: i64) = {body}\ndef main() = f(0)\n"),
        );
        let o = dl(&["run", "--interp", prog.to_str().unwrap(), "-e", "f", "0"]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("out of memory: cannot allocate an array of"),
            "{name}: {}",
            stderr(&o)
        );
    }
}

/// `ir --grad` (and the other derivative flags) on an entry point whose
/// result the operator does not apply to is an error, as `grad(f)` is in a
/// program, not a crash of the lowering on ill-typed code.
#[test]
fn ir_of_a_derivative_that_does_not_apply_is_an_error() {
    let prog = temp_file(
        "not_scalar.dl",
        "def f(a: [n]f64) -> [n]f64 = reverse(a)\ndef k(a: [n]f64) -> i64 = argmax(a)\n",
    );
    let path = prog.to_str().unwrap();
    for (entry, flag, message) in [
        (
            "f",
            "--grad",
            "`grad` needs a function that returns f64, but `f` returns []f64",
        ),
        (
            "k",
            "--vjp",
            "`vjp` needs a function with a differentiable result, but `k` returns i64",
        ),
        ("k", "--jvp", "`jvp` needs a function with a differentiable result"),
    ] {
        for stage in ["core", "opt", "lir", "clif"] {
            let o = dl(&["ir", path, "--stage", stage, "-e", entry, flag]);
            assert_eq!(o.status.code(), Some(1), "{entry} {flag} {stage}: {}", stderr(&o));
            assert!(stderr(&o).contains(message), "{entry} {flag} {stage}: {}", stderr(&o));
        }
    }
    let o = dl(&["check-grad", path, "-e", "f", "[1.0, 2.0]"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("needs a function that returns f64"),
        "{}",
        stderr(&o)
    );
}

/// Native code whose allocation the system refuses, or whose size does not
/// fit in an i64 (a product of sizes that would wrap to a small buffer),
/// fails with "out of memory" instead of writing past what it got.
#[test]
fn native_code_reports_an_allocation_it_cannot_get() {
    let prog = temp_file(
        "huge_native.dl",
        "def build_of(n: i64) = build(n, \\i -> f64(i))\n\
         def rows_of(n: i64) = build(n, \\i -> replicate(4, f64(i)))\n\
         def ones(n: i64) = replicate(n, 1.0)\n\
         def main() = ones(3)\n",
    );
    let path = prog.to_str().unwrap();
    for (entry, n) in [
        ("build_of", "4611686018427387904"),
        ("build_of", "100000000000000"),
        ("rows_of", "4611686018427387904"),
        ("ones", "2305843009213693952"),
    ] {
        let o = dl(&["run", path, "-e", entry, n]);
        assert_eq!(o.status.code(), Some(1), "{entry} {n}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("out of memory: cannot allocate"),
            "{entry} {n}: {}",
            stderr(&o)
        );
    }
    let o = dl(&["run", path, "-e", "rows_of", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "[[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]");
}
