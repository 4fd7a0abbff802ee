//! Native code checked against the core interpreter: every entry point the
//! interpreter's tests run (`common::differential`) is compiled by the JIT
//! and must give the interpreter's value (bitwise, or within 1e-12 relative
//! where the code may reassociate sums) or its run-time error (same
//! message, same span). Snapshots of the Cranelift IR of a few kernels sit
//! in tests/clif.

mod common;

use common::differential::{self, reassociates, same_value};
use dl_compiler::codegen::jit::{clif_text, Jit};
use dl_compiler::core::interp;
use dl_compiler::core::ir::Program;
use dl_compiler::core::value::Value;
use dl_compiler::lower::from_core::lower;
use dl_compiler::lower::lir::{Inst, Operand};

/// Runs `entry` natively and on the interpreter and compares them.
fn check_entry(program: &Program, entry: &str, args: &[Value]) -> Result<(), String> {
    let lir = lower(program, entry).map_err(|e| format!("lowering: {e}"))?;
    let tolerant = reassociates(&lir.body);
    let want = interp::run(program, entry, args.to_vec());
    let mut jit = Jit::new(program.clone()).map_err(|e| e.to_string())?;
    let got = jit.call(entry, args.to_vec());
    // A second call reuses the code and must give the same again.
    let again = jit.call(entry, args.to_vec());
    let repeats = match (&got, &again) {
        (Ok(g), Ok(a)) => same_value(g, a, false),
        (Err(g), Err(a)) => g.message == a.message && g.span == a.span,
        _ => false,
    };
    if !repeats {
        return Err(format!("two calls differ: {got:?} then {again:?}"));
    }
    match (want, got) {
        (Ok(w), Ok(g)) if same_value(&w, &g, tolerant) => Ok(()),
        (Ok(w), Ok(g)) => Err(format!("the interpreter gives {w}, native code {g}")),
        (Err(w), Err(g)) if w.message == g.message && w.span == g.span => Ok(()),
        (Err(w), Err(g)) => Err(format!(
            "the interpreter fails with {:?} at {:?}, native code with {:?} at {:?}",
            w.message, w.span, g.message, g.span
        )),
        (Ok(w), Err(g)) => Err(format!("the interpreter gives {w}, native code fails: {}", g.message)),
        (Err(w), Ok(g)) => Err(format!(
            "the interpreter fails with {:?}, native code gives {g}",
            w.message
        )),
    }
}

#[test]
fn test_declarations_agree_with_the_interpreter() {
    differential::test_declarations(check_entry);
}

#[test]
fn examples_and_their_gradients_agree_with_the_interpreter() {
    differential::examples_and_gradients(check_entry);
}

#[test]
fn derivative_programs_agree_with_the_interpreter() {
    differential::derivative_programs(check_entry);
}

#[test]
fn run_time_errors_agree_with_the_interpreter() {
    differential::run_time_errors(check_entry);
}

/// The optimised Cranelift IR of the kernels of tests/clif: each file
/// names the function to compile in a first line `-- compile: NAME`, and
/// is compiled without known sizes.
#[test]
fn clif_of_kernels_is_snapshotted() {
    for path in common::dl_files("tests/clif") {
        let name = common::stem(&path);
        let text = std::fs::read_to_string(&path).expect("readable");
        let entry = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-- compile: "))
            .unwrap_or_else(|| panic!("{name}: the first line must be `-- compile: NAME`"))
            .trim();
        let (_, program) = common::compile_ok(&path);
        let func = lower(&program, entry).unwrap_or_else(|e| panic!("{name}: {e}"));
        let clif = clif_text(&func, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::with_settings!({
            snapshot_path => "../../tests/clif/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, format!("{text}\n---\n{clif}"));
        });
    }
}

/// The kernels of tests/clif on arrays long enough for the parallel path,
/// against the interpreter.
#[test]
fn long_arrays_run_in_parallel_chunks_and_agree() {
    let n = 70_001;
    let a: Vec<Value> = (0..n)
        .map(|k| Value::F64(((k * 37 % 101) as f64 - 50.0) / 8.0))
        .collect();
    let b: Vec<Value> = (0..n).map(|k| Value::F64((k % 13) as f64 / 4.0)).collect();
    let idx: Vec<Value> = (0..n).map(|k| Value::I64((k * 7919 % n) as i64)).collect();
    let cases = [
        ("map_reduce", vec![Value::array(a.clone()), Value::array(b.clone())]),
        ("gather", vec![Value::array(a.clone()), Value::array(idx)]),
        ("loop", vec![Value::array(a.clone()), Value::I64(3)]),
        ("stencil", vec![Value::array(a.clone()), Value::I64(3)]),
        ("staged_exp", vec![Value::array(a), Value::F64(1.5)]),
    ];
    for (name, args) in cases {
        let path = common::repo().join(format!("tests/clif/{name}.dl"));
        let (_, program) = common::compile_ok(&path);
        check_entry(&program, "f", &args).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Temporaries bigger than the arena's first chunk, taken and released in
/// every iteration: generated code bumps and resets the arena's top
/// itself and calls the runtime only to change chunks, so this crosses
/// chunk boundaries both ways, within one call and across calls.
#[test]
fn temporaries_across_arena_chunks_agree_with_the_interpreter() {
    let source = "
def churn(n: i64, rounds: i64) -> f64 =
  loop acc = 0.0 for i < rounds do
    let small = build(3, \\j -> f64(i * j))
    let big = build(n + i * 1000, \\j -> f64(i + j) * small[2])
    in acc + sum(big) + sum(small)
";
    let compiled = dl_compiler::driver::compile_source("churn.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    for (n, rounds) in [(0, 3), (5, 40), (9000, 30), (100_000, 5)] {
        check_entry(&program, "churn", &[Value::I64(n), Value::I64(rounds)])
            .unwrap_or_else(|e| panic!("churn({n}, {rounds}): {e}"));
    }
}

/// A build whose first element is computed apart from the loop over the
/// others: results at lengths around the vector width, also when element
/// 0 reads elements of a build whose loop was fused with this one's, and
/// the error of the first failing element, as the interpreter reports it.
#[test]
fn builds_with_their_first_element_apart_agree_with_the_interpreter() {
    let source = "
def diffs(x: [n]f64) -> [n]f64 = build(n, \\i -> if i == 0 then x[0] else x[i] - x[i - 1])
def both_fail(a: [n]f64, b: [m]f64) -> [n]f64 = build(n, \\i -> if i == 0 then b[5] else b[i - 1])
def after_fused(x: [n]f64) -> [n]f64 =
  let a = build(n, \\i -> if i == 0 then 0.0 else x[i] * 2.0)
  in build(n, \\i -> if i == 0 then sum(a) else a[i])
def reads_ahead(x: [n]f64) -> [n]f64 =
  let a = build(n, \\i -> if i == 0 then x[0] else 3.0 * x[i])
  in build(n, \\i -> if i == 0 then a[n - 1] else a[i] + 1.0)
def fused_sums(x: [n]f64) -> (f64, f64) =
  let a = map(\\v -> v * v, x)
  let s = sum(a)
  let b = map(\\v -> v + s, a)
  in (s, sum(b))
";
    let compiled = dl_compiler::driver::compile_source("apart.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let array = |n: usize| Value::array((0..n).map(|k| Value::F64((k * k) as f64 / 3.0)).collect());
    for n in [0, 1, 2, 3, 4, 5, 8, 33] {
        for entry in ["diffs", "after_fused", "reads_ahead", "fused_sums"] {
            check_entry(&program, entry, &[array(n)]).unwrap_or_else(|e| panic!("{entry} at {n}: {e}"));
        }
    }
    let lir = lower(&program, "diffs").expect("lowers");
    assert!(
        lir.body
            .iter()
            .any(|inst| matches!(inst, Inst::For { start: Operand::I64(1), hint, .. } if hint.vector)),
        "the loop from 1 is not a vector loop"
    );
    check_entry(&program, "both_fail", &[array(4), array(2)]).unwrap_or_else(|e| panic!("both_fail: {e}"));
    let jit_error = Jit::new(program.clone())
        .expect("a JIT")
        .call("both_fail", vec![array(4), array(2)])
        .expect_err("fails");
    assert!(jit_error.message.contains("index 5"), "{}", jit_error.message);
}

/// A size check proves two sizes equal only for the code it dominates:
/// not after the branch it sits in, and not for a variable set again
/// (a loop state that grows).
#[test]
fn size_checks_speak_only_for_the_code_they_dominate() {
    let source = "
def branch(a: [n]f64, b: [m]f64, c: bool) -> f64 =
  (if c then sum(map2(\\x y -> x + y, a, b)) else 0.0) + sum(map2(\\x y -> x * y, a, b))
def grown(a: [n]f64, b: [m]f64) -> f64 =
  let s = sum(map2(\\x y -> x + y, a, b))
  let v = loop v = a for i < 2 do concat(v, v)
  in s + sum(map2(\\x y -> x * y, v, b))
";
    let compiled = dl_compiler::driver::compile_source("sizes.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let array = |n: usize| Value::array((0..n).map(|k| Value::F64(k as f64 + 0.5)).collect());
    for (n, m, c) in [(3, 3, true), (3, 2, false), (3, 2, true)] {
        let args = [array(n), array(m), Value::Bool(c)];
        check_entry(&program, "branch", &args).unwrap_or_else(|e| panic!("branch({n}, {m}, {c}): {e}"));
    }
    for (n, m) in [(3, 3), (2, 8)] {
        check_entry(&program, "grown", &[array(n), array(m)]).unwrap_or_else(|e| panic!("grown({n}, {m}): {e}"));
    }
    let error = Jit::new(program.clone())
        .expect("a JIT")
        .call("branch", vec![array(3), array(2), Value::Bool(false)])
        .expect_err("the sizes differ");
    assert!(
        error.message.contains('3') && error.message.contains('2'),
        "{}",
        error.message
    );
}

/// An `if` whose branches are a few safe operations computes both and
/// selects, in vector lanes: the same values as the interpreter's
/// branches, at NaN, infinities and signed zeros, and the loop around it
/// is a vector loop.
#[test]
fn ifs_computed_as_selects_agree_with_the_interpreter() {
    let source = "
def relu_back(x: [n]f64, g: [n]f64) -> [n]f64 = map2(\\a b -> if a >= 0.0 then b else 0.0, x, g)
def clamp(x: [n]f64) -> [n]f64 = map(\\a -> if a > 1.0 then -a else a * 2.0 + 1.0, x)
";
    let compiled = dl_compiler::driver::compile_source("selects.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        3.0,
        -2.5,
        1e-310,
    ];
    for n in [1, 2, 7, 11, 40_000] {
        let x = Value::array((0..n).map(|k| Value::F64(specials[k % specials.len()])).collect());
        let g = Value::array(
            (0..n)
                .map(|k| Value::F64(specials[(k * 7 + 3) % specials.len()]))
                .collect(),
        );
        check_entry(&program, "relu_back", &[x.clone(), g]).unwrap_or_else(|e| panic!("relu_back at {n}: {e}"));
        check_entry(&program, "clamp", &[x]).unwrap_or_else(|e| panic!("clamp at {n}: {e}"));
    }
    for entry in ["relu_back", "clamp"] {
        let lir = lower(&program, entry).expect("lowers");
        let vector_loop = lir
            .body
            .iter()
            .any(|inst| matches!(inst, Inst::For { hint, body, .. } if hint.vector && !body.iter().any(|i| matches!(i, Inst::If { .. }))));
        assert!(vector_loop, "{entry}: no branch-free vector loop");
    }
}

/// The functions generated code computes inline (`exp`, `log`, `sigmoid`,
/// `tanh`, and `pow` by an integer) give the interpreter's bits, in
/// vector lanes and one at a time, at special values, at the edges of
/// their fast ranges and over a spread of magnitudes.
#[test]
fn inline_elementary_functions_agree_bit_for_bit() {
    let source = "
def lanes(a: [n]f64) -> ([n]f64, [n]f64, [n]f64, [n]f64, [n]f64) =
  (map(exp, a), map(log, a), map(sigmoid, a), map(tanh, a), map(\\x -> x ** 7.0, a))

def one(x: f64) -> (f64, f64, f64, f64, f64) =
  (exp(x), log(x), sigmoid(x), tanh(x), x ** 3.0)
";
    let compiled = dl_compiler::driver::compile_source("elementary.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let mut xs = vec![
        0.0,
        -0.0,
        5e-324,
        -1e-300,
        0.549_306_144_334_054_8,
        -0.549_306_144_334_054_9,
        22.0,
        -22.000_000_000_000_004,
        708.0,
        -709.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let mut s: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..4000 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let unit = (s >> 11) as f64 / (1u64 << 53) as f64;
        xs.push((unit - 0.5) * 2f64.powi((s % 12) as i32 - 2));
    }
    let array = Value::array(xs.iter().map(|x| Value::F64(*x)).collect());
    check_entry(&program, "lanes", &[array]).unwrap_or_else(|e| panic!("lanes: {e}"));
    for x in xs.iter().step_by(37) {
        check_entry(&program, "one", &[Value::F64(*x)]).unwrap_or_else(|e| panic!("one({x}): {e}"));
    }
}

/// Powers whose exponent differs from lane to lane, and the index as a
/// float in lanes (`x ** f64(j)`, least squares' polynomial): both lanes
/// square at once when both exponents are small non-negative integers,
/// and the lanes go one by one otherwise (negative, fractional, large,
/// NaN or infinite exponents, mixed with small ones in one pair), with
/// the interpreter's bits either way.
#[test]
fn powers_in_lanes_agree_bit_for_bit() {
    let source = "
def powers(a: [n]f64, e: [n]f64) -> [n]f64 = map2(\\x y -> x ** y, a, e)
def polynomial(t: f64, m: i64) -> [m]f64 = build(m, \\j -> t ** f64(j))
";
    let compiled = dl_compiler::driver::compile_source("powers.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let exponents = [
        0.0,
        1.0,
        2.0,
        7.0,
        127.0,
        128.0,
        255.0,
        256.0,
        257.0,
        -1.0,
        -3.0,
        0.5,
        2.5,
        -0.0,
        1e9,
        f64::NAN,
        f64::INFINITY,
    ];
    let bases = [
        1.0001,
        -1.3,
        0.0,
        -0.0,
        2.0,
        0.999,
        -7.5,
        1e-3,
        f64::INFINITY,
        f64::NAN,
        3.25,
    ];
    let mut a = Vec::new();
    let mut e = Vec::new();
    for (k, x) in bases.iter().enumerate() {
        for j in 0..exponents.len() {
            a.push(Value::F64(*x));
            e.push(Value::F64(exponents[(j + k) % exponents.len()]));
        }
    }
    check_entry(&program, "powers", &[Value::array(a), Value::array(e)]).unwrap_or_else(|e| panic!("powers: {e}"));
    for t in [-1.0, -0.37, 0.0, 0.999, 1.0 + 1e-9, 3.0] {
        for m in [0, 1, 2, 5, 64, 300] {
            check_entry(&program, "polynomial", &[Value::F64(t), Value::I64(m)])
                .unwrap_or_else(|e| panic!("polynomial({t}, {m}): {e}"));
        }
    }
    let lir = lower(&program, "polynomial").expect("lowers");
    let clif = clif_text(&lir, &[]).expect("compiles");
    assert!(clif.contains("f64x2"), "the powers are not computed in lanes");
}

/// A matrix product of a transpose reads the matrix in place with the
/// kernel's transposed flag, a transpose of a transpose is the matrix, and
/// a transpose of a product is the swapped product of the transposes: at
/// every shape, including empty ones, the interpreter's values.
#[test]
fn products_of_transposes_agree_with_the_interpreter() {
    let source = "
def right(a: [n][k]f64, b: [m][k]f64) -> [n][m]f64 = a @ transpose(b)
def left(a: [k][n]f64, b: [k][m]f64) -> [n][m]f64 = transpose(a) @ b
def both(a: [k][n]f64, b: [m][k]f64) -> [n][m]f64 = transpose(a) @ transpose(b)
def twice(a: [n][k]f64) -> [n][k]f64 = transpose(transpose(a))
def kept(a: [n][k]f64, b: [n][m]f64) -> ([k][n]f64, [k][m]f64) = let t = transpose(a) in (t, t @ b)
def of_product(a: [n][k]f64, b: [k][m]f64) -> [m][n]f64 = transpose(a @ b)
def of_product_of_transposes(a: [k][n]f64, b: [m][k]f64) -> [m][n]f64 = transpose(transpose(a) @ transpose(b))
def product_kept(a: [n][k]f64, b: [k][m]f64) -> ([n][m]f64, [m][n]f64) = let p = a @ b in (p, transpose(p))
";
    let compiled = dl_compiler::driver::compile_source("transposes.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let matrix = |rows: usize, cols: usize, seed: usize| {
        Value::array(
            (0..rows)
                .map(|i| {
                    Value::array(
                        (0..cols)
                            .map(|j| Value::F64(((i * 7 + j * 3 + seed) % 11) as f64 - 5.0))
                            .collect(),
                    )
                })
                .collect(),
        )
    };
    for (n, k, m) in [(2, 3, 4), (1, 5, 1), (0, 0, 0), (3, 1, 2), (17, 9, 13)] {
        let case = |entry: &str, args: &[Value]| {
            check_entry(&program, entry, args).unwrap_or_else(|e| panic!("{entry} {n}x{k}x{m}: {e}"))
        };
        case("right", &[matrix(n, k, 1), matrix(m, k, 2)]);
        case("left", &[matrix(k, n, 3), matrix(k, m, 4)]);
        case("both", &[matrix(k, n, 5), matrix(m, k, 6)]);
        case("twice", &[matrix(n, k, 7)]);
        case("kept", &[matrix(n, k, 8), matrix(n, m, 9)]);
        case("of_product", &[matrix(n, k, 10), matrix(k, m, 11)]);
        case("of_product_of_transposes", &[matrix(k, n, 12), matrix(m, k, 13)]);
        case("product_kept", &[matrix(n, k, 14), matrix(k, m, 15)]);
    }
    for entry in [
        "right",
        "left",
        "both",
        "twice",
        "of_product",
        "of_product_of_transposes",
    ] {
        let lir = lower(&program, entry).expect("lowers");
        assert!(
            !dl_compiler::lower::print::print(&lir).contains("dl_transpose"),
            "{entry} still transposes"
        );
    }
    // An operand updated in place after the product, before its
    // transpose: the transpose reads the product, not the operand again.
    let updated = "
def product_then_update(x: [n][k]f64, b: [k][m]f64) -> ([m][n]f64, [n][k]f64) =
  let a = map(\\r -> r * 2.0, x)
  let p = a @ b
  let a2 = build(n, \\i -> if i == 0 then b[0] else a[i])
  in (transpose(p), a2)
";
    let compiled = dl_compiler::driver::compile_source("updated.dl", updated);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let optimised = dl_compiler::driver::prepare(&compiled).expect("optimises");
    for (n, k) in [(2, 2), (3, 3), (1, 1)] {
        check_entry(&optimised, "product_then_update", &[matrix(n, k, 16), matrix(k, k, 17)])
            .unwrap_or_else(|e| panic!("product_then_update {n}x{k}: {e}"));
    }
    // A product that is read besides its transpose is transposed, not
    // computed twice.
    let lir = lower(&program, "product_kept").expect("lowers");
    assert_eq!(
        dl_compiler::lower::print::print(&lir).matches("dl_gemm").count(),
        1,
        "product_kept multiplies twice"
    );
}

/// A parallel loop inside another loop gets a kernel (a function of its
/// own) while a function has few of them; a function with many, as a
/// derivative over small arrays has, runs them on the calling thread and
/// compiles no kernel for them. Both give the interpreter's values.
#[test]
fn nested_parallel_loops_get_kernels_only_when_few() {
    // Each map reads the sum of the one before, so none fuses with another.
    let maps = |count: usize| {
        let steps: String = (0..count)
            .map(|k| {
                format!(
                    "  let s{k} = sum(w{k})\n  let w{} = map(\\x -> x * 0.5 + s{k} * 1e-9, w{k})\n",
                    k + 1
                )
            })
            .collect();
        format!("def f(v: [n]f64, k: i64) -> [n]f64 =\n loop w0 = v for i < k do\n{steps}  in w{count}\n")
    };
    let kernels = |count: usize| {
        let compiled = dl_compiler::driver::compile_source("nested.dl", &maps(count));
        assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
        let program = compiled.program.expect("a program");
        let func = lower(&program, "f").expect("lowers");
        let clif = clif_text(&func, &[]).expect("compiles");
        let a = Value::array((0..40_000).map(|k| Value::F64(k as f64 / 7.0)).collect());
        check_entry(&program, "f", &[a, Value::I64(2)]).unwrap_or_else(|e| panic!("{count} maps: {e}"));
        clif.matches("\nfunction ").count() + usize::from(clif.starts_with("function "))
    };
    assert_eq!(kernels(1), 3, "a sum and a map in a loop: the function and two kernels");
    // The sum of a map just made is added up in the map's own loop: ten
    // steps make eleven loops.
    assert_eq!(kernels(10), 1, "ten sums and maps in a loop: the function alone");
}

/// A loop takes an array allocated just before it as its state without a
/// copy, unless something else reads that array: the body, the code after
/// the loop, or another part of the state. Each case gives the
/// interpreter's values; the first one takes its state uncopied.
#[test]
fn loops_take_fresh_states_only_when_nothing_else_reads_them() {
    let source = "
def adopted(a: [n]f64) -> [n]f64 =
  let b = map(\\x -> x * 2.0, a)
  in loop y = b for i < 3 do y * 2.0 + 1.0
def read_in_body(a: [n]f64) -> [n]f64 =
  let b = map(\\x -> x * 2.0, a)
  in loop y = b for i < 3 do y + b
def read_after(a: [n]f64) -> [n]f64 =
  let b = map(\\x -> x * 2.0, a)
  let y = loop y = b for i < 3 do y + 1.0
  in y + b
def twice(a: [n]f64) -> [n]f64 =
  let b = map(\\x -> x * 2.0, a)
  let (p, q) = loop (p, q) = (b, b) for i < 3 do (p + 1.0, q * 2.0)
  in p + q
";
    let compiled = dl_compiler::driver::compile_source("states.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    for n in [1, 3, 40_000] {
        let a = Value::array((0..n).map(|k| Value::F64(k as f64 * 0.5 - 1.0)).collect());
        for entry in ["adopted", "read_in_body", "read_after", "twice"] {
            check_entry(&program, entry, std::slice::from_ref(&a)).unwrap_or_else(|e| panic!("{entry} at {n}: {e}"));
        }
    }
    let copies = |entry: &str| {
        let lir = lower(&program, entry).expect("lowers");
        lir.body.iter().filter(|inst| matches!(inst, Inst::Copy { .. })).count()
    };
    // `adopted` updates the map's buffer in place throughout, so its
    // result is that buffer, result memory from the start: no copy.
    // `read_in_body` copies its state in and its result out.
    assert_eq!(copies("adopted"), 0, "the adopted state is copied");
    assert_eq!(copies("read_in_body"), 2, "the state read in the body is not copied");
}

/// Reverse mode scatters the cotangent of `y[i - 1]` into element `i - 1`
/// of an accumulator: a loop that stores at the index less one, in vector
/// lanes. At every length the values are the interpreter's.
#[test]
fn scatters_at_a_shifted_index_agree_with_the_interpreter() {
    let source = "
def chain(x: [n]f64, y: [n]f64) -> f64 = sum(build(n, \\i -> if i == 0 then x[0] else x[i] * y[i - 1]))
def chain_grad(x: [n]f64, y: [n]f64) -> ([n]f64, [n]f64) = grad(chain)(x, y)
";
    let compiled = dl_compiler::driver::compile_source("scatter.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare(&compiled).expect("derivatives expand");
    for n in [1, 2, 3, 5, 8, 1001] {
        let x = Value::array((0..n).map(|k| Value::F64(k as f64 * 0.25 - 1.0)).collect());
        let y = Value::array((0..n).map(|k| Value::F64(2.0 - k as f64 * 0.5)).collect());
        check_entry(&program, "chain_grad", &[x, y]).unwrap_or_else(|e| panic!("chain_grad at {n}: {e}"));
    }
    let lir = lower(&program, "chain_grad").expect("lowers");
    fn shifted_store(code: &[Inst]) -> bool {
        code.iter().any(|inst| match inst {
            Inst::For { hint, body, index, .. } => {
                (hint.vector
                    && body
                        .iter()
                        .any(|i| matches!(i, Inst::Store { index: Operand::Var(t), .. } if t != index)))
                    || shifted_store(body)
            }
            Inst::If { then, els, .. } => shifted_store(then) || shifted_store(els),
            _ => false,
        })
    }
    assert!(shifted_store(&lir.body), "no vector loop stores at a shifted index");
}

/// Loops whose `exp`, `log`, `tanh` or `sigmoid` run a block at a time in
/// the runtime's wide kernels: whole blocks, a partial one after them,
/// lengths below one block, values outside the kernels' ranges in some
/// blocks (which the kernels compute again with the scalar functions), a
/// call whose argument needs another call (which stays inline), and a
/// loop long enough for threads. Element-wise results are the
/// interpreter's bits; sums are within the reassociation tolerance.
#[test]
fn staged_elementary_functions_agree_with_the_interpreter() {
    let source = "
def softmax_sum(x: [n]f64) -> f64 =
  let m = maximum(x) in sum(map(\\v -> exp(v - m), x))
def mixed(x: [n]f64) -> ([n]f64, [n]f64) =
  (map(\\v -> tanh(v) * sigmoid(2.0 * v) + log(v * v + 1.0), x), map(\\v -> exp(exp(0.01 * v)), x))
def staged_grad(x: [n]f64) -> [n]f64 = grad(\\y -> sum(map(\\v -> tanh(v) + exp(0.5 * v), y)))(x)
";
    let compiled = dl_compiler::driver::compile_source("staged.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare(&compiled).expect("derivatives expand");
    for n in [1usize, 255, 256, 257, 1000, 70_001] {
        let x: Vec<Value> = (0..n)
            .map(|k| {
                let v = ((k * 7919 % 2003) as f64 - 1001.0) / 37.0;
                // Out of range for exp or tanh in a few blocks, NaN in one.
                let v = match k {
                    300 => 800.0,
                    700 => f64::NAN,
                    900 => -30.0,
                    _ => v,
                };
                Value::F64(v)
            })
            .collect();
        let x = Value::array(x);
        for entry in ["softmax_sum", "mixed", "staged_grad"] {
            check_entry(&program, entry, std::slice::from_ref(&x)).unwrap_or_else(|e| panic!("{entry} at {n}: {e}"));
        }
    }
}

/// Dot products up to 64 elements are inline reduction loops, longer ones
/// the runtime's kernel; both agree with the interpreter, signed zeros and
/// empty vectors included, and in a loop over rows as GMM's norms are.
#[test]
fn short_and_long_dot_products_agree_with_the_interpreter() {
    let source = "
def d(a: [n]f64, b: [n]f64) -> f64 = dot(a, b)
def norms(m: [r][c]f64) -> [r]f64 = map(\\row -> dot(row, row), m)
";
    let compiled = dl_compiler::driver::compile_source("dot.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    for n in [0usize, 1, 2, 3, 63, 64, 65, 1000] {
        let a = Value::array(
            (0..n)
                .map(|k| Value::F64(if k % 7 == 3 { -0.0 } else { k as f64 * 0.3 - 2.0 }))
                .collect(),
        );
        let b = Value::array((0..n).map(|k| Value::F64(1.5 - k as f64 * 0.01)).collect());
        check_entry(&program, "d", &[a, b]).unwrap_or_else(|e| panic!("d at {n}: {e}"));
        let negative_zeros = Value::array(vec![Value::F64(-0.0); n]);
        let ones = Value::array(vec![Value::F64(1.0); n]);
        check_entry(&program, "d", &[negative_zeros, ones]).unwrap_or_else(|e| panic!("zeros at {n}: {e}"));
    }
    for c in [2usize, 10, 70] {
        let m = Value::array(
            (0..5)
                .map(|i| Value::array((0..c).map(|j| Value::F64((i * c + j) as f64 * 0.1 - 1.0)).collect()))
                .collect(),
        );
        check_entry(&program, "norms", &[m]).unwrap_or_else(|e| panic!("norms of {c}: {e}"));
    }
}

/// Minima and maxima in lanes skip NaNs and may keep the wrong zero, so a
/// loop that saw a NaN or ends at zero is computed again by the scalar
/// code: the results are the interpreter's bits, NaNs, signed zeros and
/// infinities included, in one thread and in parallel chunks, also for a
/// maximum over a computed array.
#[test]
fn minima_and_maxima_in_lanes_are_the_interpreters_bits() {
    let source = "
def extrema(x: [n]f64) -> (f64, f64) = (maximum(x), minimum(x))
def spread(x: [n]f64) -> f64 = reduce(\\a b -> max(a, b), -inf, map(\\v -> v * v - 1.0, x)) + sum(x)
";
    let compiled = dl_compiler::driver::compile_source("extrema.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let mut jit = Jit::new(program.clone()).expect("a JIT");
    type Element = fn(usize) -> f64;
    let cases: [(&str, Element); 6] = [
        ("mixed", |k| ((k * 7919 % 2003) as f64 - 1001.0) / 37.0),
        (
            "negative zeros and one zero",
            |k| if k % 1000 == 999 { 0.0 } else { -0.0 },
        ),
        (
            "zeros and one negative zero",
            |k| if k % 1000 == 999 { -0.0 } else { 0.0 },
        ),
        ("zeros below", |k| if k % 3 == 0 { -0.0 } else { -1.0 - k as f64 }),
        ("a NaN", |k| if k == 5 { f64::NAN } else { k as f64 }),
        (
            "infinities",
            |k| if k % 2 == 0 { f64::INFINITY } else { f64::NEG_INFINITY },
        ),
    ];
    for n in [0usize, 1, 2, 7, 8, 9, 1000, 70_001] {
        for (name, element) in &cases {
            let x = Value::array((0..n).map(|k| Value::F64(element(k))).collect());
            let want = interp::run(&program, "extrema", vec![x.clone()]).expect("the interpreter runs");
            let got = jit.call("extrema", vec![x.clone()]).expect("native code runs");
            let bits = |v: &Value| match v {
                Value::Tuple(xs) => xs
                    .iter()
                    .map(|x| match x {
                        Value::F64(f) if f.is_nan() => u64::MAX,
                        Value::F64(f) => f.to_bits(),
                        other => panic!("not a float: {other}"),
                    })
                    .collect::<Vec<_>>(),
                other => panic!("not a pair: {other}"),
            };
            assert_eq!(bits(&want), bits(&got), "{name} at {n}: {want} against {got}");
            check_entry(&program, "spread", &[x]).unwrap_or_else(|e| panic!("spread of {name} at {n}: {e}"));
        }
    }
}

/// Rows of a size known when the code is compiled run their lanes without
/// a loop, up to 16 elements, and the odd last element without one too:
/// sums, maxima (NaNs and zeros included: the reciprocal shows a zero's
/// sign) and element-wise rows agree with the interpreter at every width
/// around those limits.
#[test]
fn rows_of_known_width_agree_with_the_interpreter() {
    let source = "
def row_sums(x: [n][d]f64) -> [n]f64 = map(sum, x)
def row_maxima(x: [n][d]f64) -> [n]f64 = map(\\r -> 1.0 / maximum(r), x)
def scaled_rows(x: [n][d]f64) -> [n][d]f64 = map(\\r -> map(\\v -> 2.0 * v - 1.0, r), x)
def row_products(x: [n][d]f64) -> [n]f64 = map(\\r -> dot(r, r) * reduce(\\a b -> a * b, 1.0, r), x)
";
    let compiled = dl_compiler::driver::compile_source("rows.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    for d in [0usize, 1, 2, 3, 7, 15, 16, 17, 18] {
        let x = Value::array(
            (0..5)
                .map(|i| {
                    Value::array(
                        (0..d)
                            .map(|j| {
                                Value::F64(match (i, j) {
                                    (1, 2) => f64::NAN,
                                    (2, _) => -0.0,
                                    (3, 0) => 0.0,
                                    (3, _) => -0.0,
                                    _ => (i * d + j) as f64 * 0.37 - 3.0,
                                })
                            })
                            .collect(),
                    )
                })
                .collect(),
        );
        for entry in ["row_sums", "row_maxima", "scaled_rows", "row_products"] {
            check_entry(&program, entry, std::slice::from_ref(&x))
                .unwrap_or_else(|e| panic!("{entry} of width {d}: {e}"));
        }
    }
}

/// The small buffers of a loop's iteration (a cross product, a row of two
/// in one branch) take stack slots that every iteration reuses, and the
/// results are the interpreter's, in one
/// thread and in parallel chunks, with rows known only at run time beside
/// them.
#[test]
fn small_buffers_of_an_iteration_live_on_the_stack() {
    let source = "
def cross(a: [3]f64, b: [3]f64) -> [3]f64 =
  [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
def turned(x: [n][3]f64, w: [m]f64) -> [n][3]f64 =
  build(n, \\i ->
    let c = cross(x[i], cross(x[(i + 1) % n], x[i]))
    let r = if c[0] > 0.0 then [c[1], c[2]] else [c[2], c[0]]
    in c * (r[0] - r[1]) + x[i] * sum(w))
";
    let compiled = dl_compiler::driver::compile_source("stack.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    for n in [1usize, 2, 7, 40_000] {
        let x = Value::array(
            (0..n)
                .map(|i| {
                    Value::array(
                        (0..3)
                            .map(|j| Value::F64(((i * 3 + j) % 17) as f64 * 0.3 - 2.0))
                            .collect(),
                    )
                })
                .collect(),
        );
        let w = Value::array((0..5).map(|k| Value::F64(k as f64 * 0.1)).collect());
        check_entry(&program, "turned", &[x, w]).unwrap_or_else(|e| panic!("turned at {n}: {e}"));
    }
    // The slots of the three-element rows and of the branch's pair.
    let lir = lower(&program, "turned").expect("lowers");
    let clif = clif_text(&lir, &[]).expect("compiles");
    for slot in ["explicit_slot 24,", "explicit_slot 16,"] {
        assert!(clif.contains(slot), "no `{slot}` stack buffer:\n{clif}");
    }
}

/// True when a loop at the top of `func` may run its iterations at once.
fn has_independent_loop(func: &dl_compiler::lower::lir::Func) -> bool {
    func.body
        .iter()
        .any(|inst| matches!(inst, Inst::For { hint, .. } if hint.independent))
}

/// An `n` x `d` matrix of a few distinct values in [-1, 1.5].
fn patterned_matrix(n: usize, d: usize) -> Value {
    Value::array(
        (0..n)
            .map(|i| {
                Value::array(
                    (0..d)
                        .map(|j| Value::F64(((i * 7 + j * 3) % 11) as f64 / 4.0 - 1.0))
                        .collect(),
                )
            })
            .collect(),
    )
}

/// A build over rows whose body allocates and does real work runs its
/// rows on the pool, each chunk allocating from an arena of its own: the
/// values are the interpreter's, and of two failing rows in different
/// chunks the first one's error is reported, as the interpreter reports
/// it.
#[test]
fn independent_rows_run_on_the_pool_and_agree() {
    let source = "
def rows(x: [n][d]f64, w: [d][d]f64, k: [n]i64) -> [n]f64 =
  build(n, \\i ->
    let centered = map(\\v -> v - x[i][k[i]], x[i])
    let y = build(d, \\r -> dot(w[r], centered))
    in sum(map(\\v -> v * v, y)))
";
    let compiled = dl_compiler::driver::compile_source("rows.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let func = lower(&program, "rows").expect("lowers");
    assert!(has_independent_loop(&func), "the loop over rows is not independent");
    let (n, d) = (300usize, 24usize);
    // The sizes of the calls below, known as the JIT knows them: the loops
    // inside a row are too short for threads, the rows are not.
    let (n64, d64) = (Some(n as i64), Some(d as i64));
    let clif = clif_text(&func, &[n64, d64, None, d64, d64, None, n64, None]).expect("compiles");
    let functions = clif.matches("\nfunction ").count() + usize::from(clif.starts_with("function "));
    assert_eq!(functions, 2, "the function and the rows' kernel:\n{clif}");
    let x = patterned_matrix(n, d);
    let w = Value::array(
        (0..d)
            .map(|r| {
                Value::array(
                    (0..d)
                        .map(|j| Value::F64(((r * 5 + j) % 13) as f64 / 8.0 - 0.5))
                        .collect(),
                )
            })
            .collect(),
    );
    let columns = |bad: &[(usize, i64)]| {
        Value::array(
            (0..n)
                .map(|i| Value::I64(bad.iter().find(|(r, _)| *r == i).map_or((i % d) as i64, |(_, k)| *k)))
                .collect(),
        )
    };
    check_entry(&program, "rows", &[x.clone(), w.clone(), columns(&[])]).unwrap_or_else(|e| panic!("{e}"));
    // Rows 250 and 100 read out of bounds, in different chunks: row 100's
    // error is the one reported.
    check_entry(&program, "rows", &[x, w, columns(&[(250, 40), (100, 29)])]).unwrap_or_else(|e| panic!("{e}"));
}

/// A sum over rows whose terms each take an inner loop, written as a
/// `sum` of a `build` and as a `for` loop's state, runs its rows on the
/// pool, each chunk adding up its own part: the values are the
/// interpreter's to 1e-12 (the parts are added in another order).
#[test]
fn sums_over_rows_run_on_the_pool_and_agree() {
    let source = "
def summed(x: [n][d]f64) -> f64 = sum(build(n, \\i -> sum(map(\\v -> v * v, x[i]))))

def looped(x: [n][d]f64) -> f64 =
  loop s = 0.25 for i < n do s + sum(map(\\v -> v * x[i][0], x[i]))
";
    let compiled = dl_compiler::driver::compile_source("sums.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let (n, d) = (3000usize, 24usize);
    let x = patterned_matrix(n, d);
    for entry in ["summed", "looped"] {
        let func = lower(&program, entry).expect("lowers");
        assert!(
            has_independent_loop(&func),
            "{entry}: the loop over rows is not independent"
        );
        let (n64, d64) = (Some(n as i64), Some(d as i64));
        let clif = clif_text(&func, &[n64, d64, None]).expect("compiles");
        let functions = clif.matches("\nfunction ").count() + usize::from(clif.starts_with("function "));
        assert_eq!(functions, 2, "{entry}: the function and the rows' kernel:\n{clif}");
        check_entry(&program, entry, std::slice::from_ref(&x)).unwrap_or_else(|e| panic!("{entry}: {e}"));
    }
}

/// A loop that adds each row into the row of an accumulator that data
/// picks (reverse mode's scatter into the cameras and points of a bundle
/// adjustment) runs on the pool, each chunk adding into a zeroed copy of
/// its own: the values are the interpreter's to 1e-12, and of two bad
/// indices in different chunks the first one's error is reported.
#[test]
fn scatters_into_rows_run_on_the_pool_and_agree() {
    let program = "def scatter(acc.0: [][]f64, v.1: [][]f64, k.2: []i64) -> [][]f64 =
  let n.3: i64 = length(v.1)
  let r.4: [][]f64 = loop (a.5: [][]f64) = acc.0 for (i.6: i64) < n.3 do
    let row.7: []f64 = index(v.1, i.6)
    let m.8: []f64 = map(row.7) \\(x.9: f64) ->
      let t.10: f64 = mul(x.9, x.9)
      let t.11: f64 = sub(t.10, x.9)
      in t.11
    let j.12: i64 = index(k.2, i.6)
    let a.13: [][]f64 = index_add(a.5, j.12, m.8)
    in a.13
  in r.4
";
    let program = dl_compiler::core::parse::parse_program(program).expect("parses");
    let func = lower(&program, "scatter").expect("lowers");
    assert!(has_independent_loop(&func), "the scatter is not independent");
    let (n, d, rows) = (3000usize, 24usize, 50usize);
    let (n64, d64, rows64) = (Some(n as i64), Some(d as i64), Some(rows as i64));
    let clif = clif_text(&func, &[rows64, d64, None, n64, d64, None, n64, None]).expect("compiles");
    let functions = clif.matches("\nfunction ").count() + usize::from(clif.starts_with("function "));
    assert_eq!(functions, 2, "the function and the scatter's kernel:\n{clif}");
    let picks = |bad: &[(usize, i64)]| {
        Value::array(
            (0..n)
                .map(|i| {
                    Value::I64(
                        bad.iter()
                            .find(|(r, _)| *r == i)
                            .map_or((i * 37 % rows) as i64, |(_, k)| *k),
                    )
                })
                .collect(),
        )
    };
    let (acc, v) = (patterned_matrix(rows, d), patterned_matrix(n, d));
    check_entry(&program, "scatter", &[acc.clone(), v.clone(), picks(&[])]).unwrap_or_else(|e| panic!("{e}"));
    check_entry(&program, "scatter", &[acc, v.clone(), picks(&[(2500, 60), (700, -1)])])
        .unwrap_or_else(|e| panic!("{e}"));
    // A row no iteration picks keeps its -0: the copies start at -0, which
    // adds to anything without changing it.
    let negative_zeros = Value::array((0..rows).map(|_| Value::array(vec![Value::F64(-0.0); d])).collect());
    let but_last = Value::array((0..n).map(|i| Value::I64((i * 37 % (rows - 1)) as i64)).collect());
    let args = vec![negative_zeros, v, but_last];
    check_entry(&program, "scatter", &args).unwrap_or_else(|e| panic!("{e}"));
    let mut jit = Jit::new(program.clone()).expect("a JIT");
    let Ok(Value::Array(out)) = jit.call("scatter", args) else {
        panic!("the scatter does not give rows");
    };
    let Some(Value::Array(last)) = out.last() else {
        panic!("no last row");
    };
    assert!(
        last.iter()
            .all(|x| matches!(x, Value::F64(z) if z.to_bits() == (-0.0f64).to_bits())),
        "the untouched row lost its -0: {last:?}"
    );
}

/// A row that fails keeps the rows after it from running when the loop
/// runs in order; on threads they may run first, so a body that can fail
/// and holds a `while` loop (which might not end) stays on one thread,
/// and reports the interpreter's error.
#[test]
fn rows_that_can_fail_and_hold_a_while_loop_run_in_order() {
    let source = "
def h(n: i64, a: [m]f64) -> [n]f64 =
  build(n, \\i -> if i < 1 then a[m + 5] else (loop x = a[0] while x > 0.0 && x < 2000.0 do x + 1.0))
";
    let compiled = dl_compiler::driver::compile_source("h.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = compiled.program.expect("a program");
    let func = lower(&program, "h").expect("lowers");
    assert!(
        !has_independent_loop(&func),
        "a body that fails and may not end is independent"
    );
    check_entry(&program, "h", &[Value::I64(1000), Value::array(vec![Value::F64(1.0)])])
        .unwrap_or_else(|e| panic!("{e}"));
}
