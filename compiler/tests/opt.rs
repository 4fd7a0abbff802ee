//! Partial evaluation: filetests and the cost model.
//!
//! Each `tests/opt/*.core` file is a program with `-- run f [args]` lines
//! (arguments as a JSON array). `check_file` optimises it with the
//! verifier run after every rule, snapshots the optimised program with the
//! cost of each run before and after, and checks that every run gives the
//! same value as before (when the original succeeds) at no greater cost.

use dl_compiler::core::interp::run;
use dl_compiler::core::ir::Program;
use dl_compiler::core::parse::parse_program;
use dl_compiler::core::print::print_program;
use dl_compiler::core::value::{approx_eq, Value};
use dl_compiler::core::verify::verify_program;
use dl_compiler::driver::parse_args_json;
use dl_compiler::opt::cost::{run_with_cost, Cost};
use dl_compiler::opt::{inline_calls, optimize, optimize_with, Options};
use std::fmt::Write;
use std::path::PathBuf;

mod common;

fn opt_dir() -> PathBuf {
    common::repo().join("tests/opt")
}

fn verified(p: &Program, what: &str) {
    if let Err(errors) = verify_program(p) {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("{what} does not verify:\n{}\n{}", errors.join("\n"), print_program(p));
    }
}

fn optimize_checked(p: &Program, what: &str) -> Program {
    let options = Options {
        verify_each_rule: true,
        ..Options::default()
    };
    let q = optimize_with(p, &options).unwrap_or_else(|e| panic!("{what}: {e}"));
    verified(&q, what);
    q
}

fn same(a: &Value, b: &Value) -> bool {
    approx_eq(a, b, 1e-12)
}

fn cost_line(c: &Cost) -> String {
    format!(
        "total {}, flops {}, memory {}, allocations {}",
        c.total(),
        c.flops,
        c.memory,
        c.allocations
    )
}

fn check_file(name: &str) {
    let path = opt_dir().join(format!("{name}.core"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let p = parse_program(&text).unwrap_or_else(|e| panic!("{name}.core:{e}"));
    verified(&p, name);
    let q = optimize_checked(&p, name);
    // The fixpoint is reached: optimising again changes nothing.
    let again = optimize(&q);
    assert_eq!(
        print_program(&again),
        print_program(&q),
        "{name}: a second run changes the program"
    );
    let mut out = print_program(&q);
    out.push_str("\n-- cost before -> after\n");
    for line in text.lines().filter_map(|l| l.strip_prefix("-- run ")) {
        let (func, args) = line.split_once(' ').expect("-- run f [args]");
        let f = p.func(func).unwrap_or_else(|| panic!("{name}: no function {func}"));
        let args = parse_args_json(f, args).unwrap_or_else(|e| panic!("{name}: {line}: {e}"));
        let after = run_with_cost(&q, func, args.clone());
        match run_with_cost(&p, func, args) {
            Ok((value, before)) => {
                let (got, after) = after.unwrap_or_else(|e| panic!("{name}: {line}: optimised program fails: {e}"));
                assert!(same(&value, &got), "{name}: {line}: {value} before, {got} after");
                assert!(
                    after.total() <= before.total(),
                    "{name}: {line}: the cost grows\nbefore:\n{before}\nafter:\n{after}"
                );
                let _ = writeln!(out, "-- {line} = {value}");
                let _ = writeln!(out, "--   {}", cost_line(&before));
                let _ = writeln!(out, "--   {}", cost_line(&after));
            }
            Err(e) => {
                let result = match after {
                    Ok((v, _)) => v.to_string(),
                    Err(e) => format!("error: {e}"),
                };
                let _ = writeln!(out, "-- {line}: error: {e}; after: {result}");
            }
        }
    }
    insta::with_settings!({
        snapshot_path => "../../tests/opt/snapshots",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, out);
    });
}

#[test]
fn lets() {
    check_file("lets");
}

#[test]
fn algebra() {
    check_file("algebra");
}

#[test]
fn dead() {
    check_file("dead");
}

#[test]
fn tuples() {
    check_file("tuples");
}

#[test]
fn conditionals() {
    check_file("conditionals");
}

#[test]
fn arrays() {
    check_file("arrays");
}

#[test]
fn onehot() {
    check_file("onehot");
}

#[test]
fn rows() {
    check_file("rows");
}

#[test]
fn updates() {
    check_file("updates");
}

#[test]
fn gradient() {
    check_file("gradient");
}

/// After optimisation, the gradient costs a small constant times the
/// function, at several sizes.
#[test]
fn cheap_gradient() {
    let text = std::fs::read_to_string(opt_dir().join("gradient.core")).expect("gradient.core");
    let q = optimize(&parse_program(&text).expect("parses"));
    for n in [1, 10, 100] {
        let a: Vec<String> = (0..n).map(|i| format!("{i}.5")).collect();
        let a = format!("[{}]", a.join(", "));
        let primal = cost_of(&q, "f", &format!("[{a}]"));
        let gradient = cost_of(&q, "f_vjp", &format!("[{a}, 1.0]"));
        assert!(
            gradient.total() <= 4 * primal.total(),
            "n = {n}: the gradient costs {} against {}",
            gradient.total(),
            primal.total()
        );
    }
}

#[test]
fn every_file_is_checked() {
    let mut names: Vec<String> = std::fs::read_dir(opt_dir())
        .expect("tests/opt")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "core"))
        .map(|p| common::stem(&p))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "algebra",
            "arrays",
            "conditionals",
            "dead",
            "gradient",
            "lets",
            "onehot",
            "rows",
            "seed",
            "tuples",
            "updates"
        ]
    );
}

fn core(text: &str) -> Program {
    let p = parse_program(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    verified(&p, "test program");
    p
}

fn cost_of(p: &Program, func: &str, args: &str) -> Cost {
    let f = p.func(func).expect("the function");
    let args = parse_args_json(f, args).expect("arguments");
    run_with_cost(p, func, args).expect("runs").1
}

#[test]
fn cost_of_a_map_of_a_multiplication() {
    let p = core(
        "def f(a.0: []f64) -> []f64 =
           let m.1: []f64 = map(a.0) \\(x.2: f64) ->
             let y.3: f64 = mul(x.2, x.2)
             in y.3
           in m.1",
    );
    let c = cost_of(&p, "f", "[[1,2,3,4,5,6,7,8,9,10]]");
    // 10 multiplications; 10 elements read and 10 written; 10 allocated.
    assert_eq!(c, Cost::new(10, 20, 10));
    assert_eq!(c.total(), 10 + 20 + 2 * 10);
    assert_eq!(
        c.to_string(),
        "flops                  10\nmemory                 20\nallocations            10\ntotal                  50"
    );
}

#[test]
fn cost_of_scalar_code() {
    let p = core(
        "def f(x.0: f64) -> f64 =
           let a.1: f64 = exp(x.0)
           let b.2: f64 = add(a.1, x.0)
           let t.3: (f64, f64) = (a.1, b.2)
           let c.4: f64 = proj(t.3, 1)
           in c.4",
    );
    // exp is transcendental; tuples and projections are free.
    assert_eq!(cost_of(&p, "f", "[1.0]"), Cost::new(11, 0, 0));
}

#[test]
fn cost_of_linear_algebra_and_reductions() {
    let p = core(
        "def f(a.0: [][]f64, b.1: [][]f64, v.2: []f64) -> f64 =
           let c.3: [][]f64 = matmul(a.0, b.1)
           let d.4: f64 = dot(v.2, v.2)
           let s.5: f64 = sum(v.2)
           let r.6: f64 = add(d.4, s.5)
           in r.6",
    );
    // (2x3)(3x4): 2*2*3*4 = 48 flops, reads 6 + 12, writes and allocates 8;
    // dot of 3: 6 flops, reads 6; sum: 3 flops, reads 3; add: 1.
    let c = cost_of(
        &p,
        "f",
        "[[[1,2,3],[4,5,6]], [[1,2,3,4],[5,6,7,8],[9,10,11,12]], [1,2,3]]",
    );
    assert_eq!(c, Cost::new(48 + 6 + 3 + 1, 18 + 8 + 6 + 3, 8));
}

#[test]
fn cost_of_combinators() {
    let p = core(
        "def f(n.0: i64) -> f64 =
           let b.1: []f64 = build(n.0) \\(i.2: i64) ->
             let x.3: f64 = to_f64(i.2)
             in x.3
           let s.4: []f64 = scan(0.0, b.1) \\(acc.5: f64) (x.6: f64) ->
             let y.7: f64 = add(acc.5, x.6)
             in y.7
           let r.8: f64 = reduce(0.0, s.4) \\(acc.9: f64) (x.10: f64) ->
             let y.11: f64 = max(acc.9, x.10)
             in y.11
           let z.12: []f64 = zero_tangent(b.1)
           let h.13: []f64 = index_add(z.12, 1, r.8)
           let e.14: f64 = index(h.13, 1)
           in e.14",
    );
    // build: 5 conversions, writes 5; scan: 5 adds, reads 5, writes 5;
    // reduce: 5 maxes, reads 5; zero_tangent writes 5; index_add in place:
    // 1 flop, reads 2, writes 1; index reads 1.
    let c = cost_of(&p, "f", "[5]");
    assert_eq!(c, Cost::new(5 + 5 + 5 + 1, 5 + 10 + 5 + 5 + 3 + 1, 5 + 5 + 5));
}

#[test]
fn counting_is_off_by_default() {
    let p = core("def f(x.0: f64) -> f64 =\n  let y.1: f64 = exp(x.0)\n  in y.1");
    let interp = dl_compiler::core::interp::Interpreter::new(&p);
    assert_eq!(interp.call("f", vec![Value::F64(0.0)]), Ok(Value::F64(1.0)));
    assert_eq!(interp.cost(), None);
}

#[test]
fn inline_calls_renames_apart() {
    let p = core(
        "def sq(x.0: f64) -> f64 =
           let y.1: f64 = mul(x.0, x.0)
           in y.1
         def f(x.0: f64) -> f64 =
           let a.1: f64 = call sq(x.0)
           let b.2: f64 = call sq(a.1)
           in b.2",
    );
    let f = inline_calls(&p, p.func("f").expect("f"));
    let q = Program {
        funcs: vec![f],
        tests: Vec::new(),
    };
    verified(&q, "inlined");
    let text = print_program(&q);
    assert!(!text.contains("call"), "{text}");
    assert_eq!(run(&q, "f", vec![Value::F64(3.0)]), Ok(Value::F64(81.0)));
}

/// The dl programs of the repository: optimised with the verifier after
/// every rule, each function without parameters gives the same result as
/// before, at no greater cost.
#[test]
fn programs_keep_their_meaning() {
    let mut files = common::dl_files("examples");
    files.extend(common::dl_files("tests/programs"));
    let mut checked = 0;
    for path in files {
        let compiled = common::compile(&path);
        let Some(p) = compiled.program.as_ref() else { continue };
        let name = common::stem(&path);
        let q = optimize_checked(p, &name);
        for f in p.funcs.iter().filter(|f| f.params.is_empty()) {
            if let Ok((before, cost_before)) = run_with_cost(p, &f.name, Vec::new()) {
                let (after, cost_after) = run_with_cost(&q, &f.name, Vec::new())
                    .unwrap_or_else(|e| panic!("{name}: `{}` fails after optimisation: {e}", f.name));
                assert!(
                    same(&before, &after),
                    "{name}: `{}`: {before} before, {after} after",
                    f.name
                );
                assert!(
                    cost_after.total() <= cost_before.total(),
                    "{name}: `{}` costs more after optimisation:\n{cost_before}\n{cost_after}",
                    f.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} functions checked");
}

/// The core IR corpus of `tests/core` (every construct, derivative
/// operators included) optimises into programs that verify after every
/// rule; functions without parameters keep their values.
#[test]
fn core_corpus_optimizes_and_verifies() {
    let dir = common::repo().join("tests/core");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/core") {
        let path = entry.expect("entry").path();
        // `names.core` binds the largest variable id, which leaves no fresh
        // variable for a pass to make (`Func::next_var` overflows).
        if path.extension().is_none_or(|x| x != "core") || path.ends_with("names.core") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let p = parse_program(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = common::stem(&path);
        let q = optimize_checked(&p, &name);
        for f in p.funcs.iter().filter(|f| f.params.is_empty()) {
            if let Ok(before) = run(&p, &f.name, Vec::new()) {
                let after = run(&q, &f.name, Vec::new()).unwrap_or_else(|e| panic!("{name}: `{}`: {e}", f.name));
                assert!(
                    same(&before, &after),
                    "{name}: `{}`: {before} before, {after} after",
                    f.name
                );
            }
        }
        count += 1;
    }
    assert!(count >= 10, "only {count} files");
}

/// Two maps written in two places of a dl program, with parameters named
/// apart, are one map after optimisation: the statements of their bodies
/// carry different source spans, which must not keep them apart.
#[test]
fn combinators_share_across_source_places() {
    let compiled = dl_compiler::driver::compile_source(
        "twice.dl",
        "def f(a: [n]f64) -> f64 =
           let b = map(\\x -> exp(x) * 2.0, a)
           let c = map(\\y -> exp(y) * 2.0, a)
           in sum(b) + sum(c)",
    );
    let p = compiled.program.as_ref().expect("the program checks");
    let q = optimize_checked(p, "twice");
    let text = dl_compiler::core::print::print_func(q.func("f").expect("f"));
    assert_eq!(text.matches("map(").count(), 1, "{text}");
    let args = vec![Value::array(vec![Value::F64(0.5), Value::F64(-1.0)])];
    let (before, after) = (run(p, "f", args.clone()), run(&q, "f", args));
    assert!(
        matches!((&before, &after), (Ok(b), Ok(a)) if same(b, a)),
        "{before:?} {after:?}"
    );
}

/// The sums of rows of `rows.core` on matrices of no row and of one row,
/// where trading the matrix product for a vector-matrix product costs
/// more than it saves (RULES.md): the values and errors stay the same.
#[test]
fn sums_of_rows_keep_their_meaning_on_short_matrices() {
    let path = opt_dir().join("rows.core");
    let text = std::fs::read_to_string(&path).expect("rows.core");
    let p = parse_program(&text).expect("parses");
    let q = optimize_checked(&p, "rows");
    let b = "[[1.0, 0.5, 2.0], [-1.0, 3.0, 0.25], [0.5, -2.0, 1.0]]";
    let runs = [
        ("product_rows", format!("[[], {b}, [[5.0, 5.0, 5.0]], 7]")),
        (
            "product_rows",
            format!("[[[1.0, 2.0, 0.5]], {b}, [[5.0, 5.0, 5.0], [1.0, 1.0, 1.0]], 1]"),
        ),
        ("checked_rows", format!("[[], {b}, [], [[0.0, 0.0, 0.0]], [1.0]]")),
        (
            "checked_rows",
            format!("[[[1.0, 2.0, 0.5]], {b}, [[1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0]], [1.0, 1.0, 1.0]]"),
        ),
        (
            "checked_rows",
            format!("[[[1.0, 2.0, 0.5]], {b}, [[1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0]], [1.0]]"),
        ),
    ];
    for (func, args) in runs {
        let f = p.func(func).expect("the function");
        let args = parse_args_json(f, &args).expect("arguments");
        let (before, after) = (run(&p, func, args.clone()), run(&q, func, args));
        match (&before, &after) {
            (Ok(b), Ok(a)) => assert!(same(b, a), "{func}: {b} before, {a} after"),
            (Err(b), Err(a)) => assert_eq!(b.message, a.message, "{func}"),
            _ => panic!("{func}: {before:?} before, {after:?} after"),
        }
    }
}

#[test]
fn seed() {
    check_file("seed");
}
