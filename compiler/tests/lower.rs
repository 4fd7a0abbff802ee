//! The lowering to LIR, checked against the core interpreter: every entry
//! point the interpreter's tests run (`common::differential`) is lowered, verified, run on the LIR evaluator, and must give
//! the interpreter's value (bitwise, or within 1e-12 relative where the
//! LIR may reassociate sums) or its run-time error (same message, same
//! span). Snapshots of printed LIR for a few kernels sit in tests/lir.

mod common;

use common::differential::{self, reassociates, run, same_value};
use dl_compiler::core::interp;
use dl_compiler::core::ir::Program;
use dl_compiler::core::value::Value;
use dl_compiler::lower::eval::{eval, eval_with_stats, EvalError};
use dl_compiler::lower::from_core::lower;
use dl_compiler::lower::lir::Func;
use dl_compiler::lower::print::print;
use dl_compiler::lower::verify::verify;

/// Lowers `entry`, verifies it, and compares the evaluator with the
/// interpreter on `args`.
fn check_entry(program: &Program, entry: &str, args: &[Value]) -> Result<Func, String> {
    let func = lower(program, entry).map_err(|e| format!("lowering: {e}"))?;
    verify(&func).map_err(|errors| format!("verifier:\n  {}\n{}", errors.join("\n  "), print(&func)))?;
    let want = interp::run(program, entry, args.to_vec());
    let got = eval(&func, args);
    let tolerant = reassociates(&func.body);
    match (want, got) {
        (Ok(w), Ok(g)) if same_value(&w, &g, tolerant) => Ok(func),
        (Ok(w), Ok(g)) => Err(format!("the interpreter gives {w}, the LIR {g}")),
        (Err(w), Err(EvalError::Failure { message, span, .. })) => {
            if w.message == message && w.span == span {
                Ok(func)
            } else {
                Err(format!(
                    "the interpreter fails with {:?} at {:?}, the LIR with {message:?} at {span:?}",
                    w.message, w.span
                ))
            }
        }
        (Ok(w), Err(e)) => Err(format!("the interpreter gives {w}, the LIR fails: {e}")),
        (Err(w), Ok(g)) => Err(format!("the interpreter fails with {:?}, the LIR gives {g}", w.message)),
        (Err(w), Err(e)) => Err(format!("the interpreter fails with {:?}, the LIR: {e}", w.message)),
    }
}

#[test]
fn test_declarations_agree_with_the_interpreter() {
    differential::test_declarations(|p, e, a| check_entry(p, e, a).map(|_| ()));
}

#[test]
fn examples_and_their_gradients_agree_with_the_interpreter() {
    differential::examples_and_gradients(|p, e, a| check_entry(p, e, a).map(|_| ()));
}

#[test]
fn derivative_programs_agree_with_the_interpreter() {
    differential::derivative_programs(|p, e, a| check_entry(p, e, a).map(|_| ()));
}

#[test]
fn run_time_errors_agree_with_the_interpreter() {
    differential::run_time_errors(|p, e, a| check_entry(p, e, a).map(|_| ()));
}

/// The printed LIR of the kernels of tests/lir: each file names the
/// function to lower in a first line `-- lower: NAME`.
#[test]
fn lir_of_kernels_is_snapshotted() {
    for path in common::dl_files("tests/lir") {
        let name = common::stem(&path);
        let text = std::fs::read_to_string(&path).expect("readable");
        let entry = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-- lower: "))
            .unwrap_or_else(|| panic!("{name}: the first line must be `-- lower: NAME`"))
            .trim();
        let (_, program) = common::compile_ok(&path);
        let func = lower(&program, entry).unwrap_or_else(|e| panic!("{name}: {e}"));
        verify(&func).unwrap_or_else(|e| panic!("{name}: {}", e.join("\n")));
        insta::with_settings!({
            snapshot_path => "../../tests/lir/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, format!("{text}\n---\n{}", print(&func)));
        });
    }
}

/// A loop whose body allocates keeps its memory bounded: the arena's peak
/// does not grow with the iteration count.
#[test]
fn loops_release_their_iterations_memory() {
    let source = "def f(n: i64) -> [4]f64 =\n  loop v = replicate(4, 1.0) for i < n do map(\\x -> x * 0.5 + 1.0, concat(v[0:2], v[2:4]))\n";
    let compiled = dl_compiler::driver::compile_source("loop.dl", source);
    let program = dl_compiler::driver::prepare(&compiled).expect("compiles");
    let func = lower(&program, "f").expect("lowers");
    verify(&func).expect("verifies");
    let peak = |n: i64| {
        let (value, stats) = eval_with_stats(&func, &[Value::I64(n)]).expect("runs");
        assert_eq!(value, run(&program, "f", vec![Value::I64(n)]));
        stats.peak_arena_bytes
    };
    assert_eq!(peak(10), peak(1000), "the arena grows with the iterations");
}

/// The total arena bytes of `f(n)` in core text `program`, checked against
/// the interpreter.
fn arena_bytes(program: &str, n: i64) -> usize {
    let program = dl_compiler::core::parse::parse_program(program).expect("parses");
    let func = lower(&program, "f").expect("lowers");
    verify(&func).expect("verifies");
    let (value, stats) = eval_with_stats(&func, &[Value::I64(n)]).expect("runs");
    assert_eq!(value, run(&program, "f", vec![Value::I64(n)]));
    stats.arena_bytes
}

/// A loop that adds into one element of its state per iteration updates
/// the state in place: memory is linear in the trip count, not quadratic.
#[test]
fn loop_state_updates_are_in_place() {
    let record = "def f(n.0: i64) -> []f64 =
  let z.1: []f64 = replicate(n.0, 0.0)
  let r.2: []f64 = loop (a.3: []f64) = z.1 for (i.4: i64) < n.0 do
    let x.5: f64 = to_f64(i.4)
    let b.6: []f64 = index_add(a.3, i.4, x.5)
    in b.6
  in r.2
";
    assert_eq!(arena_bytes(record, 2000), 2 * arena_bytes(record, 1000));
    // Reverse mode records loop states into one array with index_set.
    let states = "def f(n.0: i64) -> [][]f64 =
  let v.1: []f64 = replicate(2, 1.0)
  let z.2: [][]f64 = replicate(n.0, v.1)
  let u.3: ([]f64, [][]f64) = (v.1, z.2)
  let r.4: ([]f64, [][]f64) = loop (s.5: ([]f64, [][]f64)) = u.3 for (i.6: i64) < n.0 do
    let a.7: []f64 = proj(s.5, 0)
    let b.8: [][]f64 = proj(s.5, 1)
    let c.9: [][]f64 = index_set(b.8, i.6, a.7)
    let d.10: []f64 = map(a.7) \\(x.11: f64) ->
      let y.12: f64 = mul(x.11, 0.5)
      in y.12
    let t.13: ([]f64, [][]f64) = (d.10, c.9)
    in t.13
  let p.14: [][]f64 = proj(r.4, 1)
  in p.14
";
    let (a1, a2, a3) = (
        arena_bytes(states, 1000),
        arena_bytes(states, 2000),
        arena_bytes(states, 3000),
    );
    assert_eq!(a3 - a2, a2 - a1, "recording states is not linear in the trip count");
    // Reverse mode allocates an inner loop's record on the first
    // iteration, which knows its rows' sizes, and fills it in place: the
    // arena holds that record and the result, 2 x n rows of 2 f64s, with
    // no copy for the update nor into the loop's spare buffer.
    let first = "def f(n.0: i64) -> [][]f64 =
  let e.1: [][]f64 = []: [][]f64
  let r.2: [][]f64 = loop (a.3: [][]f64) = e.1 for (i.4: i64) < n.0 do
    let x.5: f64 = to_f64(i.4)
    let v.6: []f64 = replicate(2, x.5)
    let z.7: bool = eq(i.4, 0)
    let b.8: [][]f64 = if z.7 then
      let c.9: [][]f64 = replicate(n.0, v.6)
      in c.9
    else
      in a.3
    let d.10: [][]f64 = index_set(b.8, i.4, v.6)
    in d.10
  in r.2
";
    let bytes = arena_bytes(first, 1000);
    assert_eq!(bytes, 2 * 1000 * 16, "the record is copied");
    // The state read after the update must not be updated in place.
    let shared = "def f(n.0: i64) -> ([]f64, f64) =
  let z.1: []f64 = replicate(n.0, 0.0)
  let u.11: ([]f64, f64) = (z.1, 0.0)
  let r.2: ([]f64, f64) = loop (s.3: ([]f64, f64)) = u.11 for (i.4: i64) < n.0 do
    let a.5: []f64 = proj(s.3, 0)
    let b.6: []f64 = index_add(a.5, i.4, 1.0)
    let y.7: f64 = index(a.5, i.4)
    let c.8: f64 = proj(s.3, 1)
    let d.9: f64 = add(c.8, y.7)
    let t.10: ([]f64, f64) = (b.6, d.9)
    in t.10
  in r.2
";
    arena_bytes(shared, 10);
}

/// How many instructions of `code` copy buffers, nested ones included.
fn copies(code: &[dl_compiler::lower::lir::Inst]) -> usize {
    use dl_compiler::lower::lir::Inst;
    code.iter()
        .map(|inst| match inst {
            Inst::Copy { .. } => 1,
            Inst::If { then, els, .. } => copies(then) + copies(els),
            Inst::For { body, .. } => copies(body),
            Inst::While { cond, body, .. } => copies(cond) + copies(body),
            _ => 0,
        })
        .sum()
}

/// A map or build whose rows have sizes known before the loop computes
/// each row in its place in the result: no copy of the row, and the
/// arena holds the result alone. Rows whose size the body decides take
/// the general path, and empty arrays keep zero inner sizes.
#[test]
fn rows_of_known_size_are_written_in_place() {
    let source = "
def rows(a: [n][m]f64) -> [n][m]f64 = map(\\r -> r * 2.0 + 1.0, a)
def grid(n: i64, m: i64) -> [_][_]f64 = build(n, \\i -> build(m, \\j -> f64(i * m + j)))
def ragged(n: i64) -> [_][_]f64 = build(n, \\i -> build(i % 2 + 1, \\j -> f64(j)))
";
    let compiled = dl_compiler::driver::compile_source("rows.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare(&compiled).expect("compiles");
    for entry in ["rows", "grid"] {
        let func = lower(&program, entry).expect("lowers");
        verify(&func).expect("verifies");
        // Only the copy of the whole result into result memory remains.
        assert_eq!(copies(&func.body), 1, "{entry}:\n{}", print(&func));
    }
    let matrix = |n: usize, m: usize| {
        Value::array(
            (0..n)
                .map(|i| Value::array((0..m).map(|j| Value::F64((i * m + j) as f64)).collect()))
                .collect(),
        )
    };
    for (n, m) in [(0, 0), (3, 0), (0, 4), (5, 7)] {
        check_entry(&program, "rows", &[matrix(n, m)]).unwrap_or_else(|e| panic!("rows {n}x{m}: {e}"));
        check_entry(&program, "grid", &[Value::I64(n as i64), Value::I64(m as i64)])
            .unwrap_or_else(|e| panic!("grid {n}x{m}: {e}"));
    }
    check_entry(&program, "grid", &[Value::I64(3), Value::I64(-2)]).unwrap_or_else(|e| panic!("grid 3x-2: {e}"));
    check_entry(&program, "ragged", &[Value::I64(1)]).unwrap_or_else(|e| panic!("ragged 1: {e}"));
    let (_, stats) = eval_with_stats(&lower(&program, "grid").unwrap(), &[Value::I64(100), Value::I64(50)]).unwrap();
    assert_eq!(stats.arena_bytes, 100 * 50 * 8, "grid allocated more than its result");
}

/// How many loops `code` runs, nested ones included.
fn loops(code: &[dl_compiler::lower::lir::Inst]) -> usize {
    use dl_compiler::lower::lir::Inst;
    code.iter()
        .map(|inst| match inst {
            Inst::If { then, els, .. } => loops(then) + loops(els),
            Inst::For { body, .. } => 1 + loops(body),
            Inst::While { cond, body, .. } => 1 + loops(cond) + loops(body),
            _ => 0,
        })
        .sum()
}

/// Projecting a field out of every element of an array of tuples is a
/// view of that field's buffers: reverse mode makes such arrays for the
/// cotangents of a map, then takes them apart field by field.
#[test]
fn fields_of_an_array_of_tuples_are_views() {
    let program = "def f(a.0: [][]f64) -> ([]f64, [][]f64) =
  let m.1: [](f64, []f64) = map(a.0) \\(x.2: []f64) ->
    let s.3: f64 = sum(x.2)
    let t.4: (f64, []f64) = (s.3, x.2)
    in t.4
  let p.5: []f64 = map(m.1) \\(y.6: (f64, []f64)) ->
    let q.7: f64 = proj(y.6, 0)
    in q.7
  let r.8: [][]f64 = map(m.1) \\(y.9: (f64, []f64)) ->
    let q.10: []f64 = proj(y.9, 1)
    in q.10
  let u.11: ([]f64, [][]f64) = (p.5, r.8)
  in u.11
";
    let program = dl_compiler::core::parse::parse_program(program).expect("parses");
    let func = lower(&program, "f").expect("lowers");
    verify(&func).expect("verifies");
    // The map that builds the tuples: a loop over rows and one summing each;
    // the projections add none (the copies into result memory are calls).
    assert_eq!(loops(&func.body), 2, "{}", print(&func));
    for (n, m) in [(0, 0), (4, 0), (3, 5)] {
        let a = Value::array(
            (0..n)
                .map(|i| Value::array((0..m).map(|j| Value::F64((i * m + j) as f64 * 0.5)).collect()))
                .collect(),
        );
        check_entry(&program, "f", &[a]).unwrap_or_else(|e| panic!("{n}x{m}: {e}"));
    }
}

/// How many `Fail`s `code` holds inside loops.
fn fails_in_loops(code: &[dl_compiler::lower::lir::Inst], in_loop: bool) -> usize {
    use dl_compiler::lower::lir::Inst;
    code.iter()
        .map(|inst| match inst {
            Inst::Fail { .. } => usize::from(in_loop),
            Inst::If { then, els, .. } => fails_in_loops(then, in_loop) + fails_in_loops(els, in_loop),
            Inst::For { body, .. } => fails_in_loops(body, true),
            Inst::While { cond, body, .. } => fails_in_loops(cond, true) + fails_in_loops(body, true),
            _ => 0,
        })
        .sum()
}

/// Indexing by the index of a loop that runs from 0 to the array's length
/// needs no bounds check, so the loop is straight-line code (a vector
/// loop); any other index is still checked, with the interpreter's error.
#[test]
fn loop_indices_below_the_length_are_not_checked() {
    let source = "
def twice(a: [n]f64) -> [n]f64 = build(n, \\i -> a[i] * 2.0)
def shifted(a: [n]f64) -> [_]f64 = build(n, \\i -> a[i] * a[n - 1 - i])
def past(a: [n]f64) -> [_]f64 = build(n + 1, \\i -> a[i])
";
    let compiled = dl_compiler::driver::compile_source("bounds.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare(&compiled).expect("compiles");
    let twice = lower(&program, "twice").expect("lowers");
    assert_eq!(fails_in_loops(&twice.body, false), 0, "{}", print(&twice));
    assert!(print(&twice).contains("[vector"), "{}", print(&twice));
    let shifted = lower(&program, "shifted").expect("lowers");
    assert_eq!(fails_in_loops(&shifted.body, false), 1, "{}", print(&shifted));
    let a = Value::array((0..5).map(|k| Value::F64(k as f64)).collect());
    for entry in ["twice", "shifted", "past"] {
        check_entry(&program, entry, std::slice::from_ref(&a)).unwrap_or_else(|e| panic!("{entry}: {e}"));
    }
    let past = lower(&program, "past").expect("lowers");
    assert!(eval(&past, &[a]).is_err(), "reading past the end must fail");
}

/// The sum of a map just made is added up in the map's loop, from -0.0:
/// one pass, and the signed zeros of the fold from the first element (the
/// sum of [-0.0] is -0.0, of [] 0.0).
#[test]
fn the_sum_of_a_map_is_added_up_in_its_loop() {
    let source = "def f(a: [n]f64) -> f64 = sum(map(\\x -> x * 2.0, a))\n";
    let compiled = dl_compiler::driver::compile_source("sum.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare(&compiled).expect("compiles");
    let func = lower(&program, "f").expect("lowers");
    verify(&func).expect("verifies");
    assert_eq!(loops(&func.body), 1, "{}", print(&func));
    let bits = |xs: &[f64]| {
        let a = Value::array(xs.iter().map(|x| Value::F64(*x)).collect());
        match eval(&func, &[a]) {
            Ok(Value::F64(s)) => s.to_bits(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(bits(&[]), 0.0f64.to_bits());
    assert_eq!(bits(&[-0.0]), (-0.0f64).to_bits());
    assert_eq!(bits(&[-0.0, 0.0]), 0.0f64.to_bits());
    assert_eq!(
        bits(&[1.0, 1e16, -1e16]),
        0.0f64.to_bits(),
        "added in order: (2 + 2e16) - 2e16"
    );
    for xs in [vec![], vec![-0.0], vec![0.5, -3.25, 7.0]] {
        let a = Value::array(xs.into_iter().map(Value::F64).collect());
        check_entry(&program, "f", &[a]).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// An array only summed is not kept: its sum moves into the loop that
/// computes it, and its buffer, never read, is dropped with its stores.
/// An array also read, or returned, keeps its buffer.
#[test]
fn arrays_written_and_never_read_take_no_memory() {
    let source = "
def summed(a: [n]f64) -> f64 = sum(map(\\x -> x * x, a))
def summed_and_read(a: [n]f64) -> f64 = let s = map(\\x -> x * x, a) in sum(s) + s[0]
def summed_and_returned(a: [n]f64) -> (f64, [n]f64) = let s = map(\\x -> x * x, a) in (sum(s), s)
";
    let compiled = dl_compiler::driver::compile_source("unread.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare(&compiled).expect("compiles");
    let a = Value::array((0..40).map(|k| Value::F64(k as f64 - 3.5)).collect());
    let mut bytes = Vec::new();
    for entry in ["summed", "summed_and_read", "summed_and_returned"] {
        check_entry(&program, entry, std::slice::from_ref(&a)).unwrap_or_else(|e| panic!("{entry}: {e}"));
        let (_, stats) = eval_with_stats(&lower(&program, entry).unwrap(), std::slice::from_ref(&a)).unwrap();
        bytes.push(stats.arena_bytes);
    }
    assert_eq!(bytes[0], 0, "the summed array was kept");
    assert_eq!(bytes[1], 40 * 8, "the array read after its sum was not kept");
}

/// A map whose element holds the same row twice (reverse mode makes one
/// when a cotangent flows to two places): the row is computed in its
/// place in the first field, copied to the second, and when nothing reads
/// the second field its buffer, its views and the copies go. Both fields
/// read keep both.
#[test]
fn a_row_held_twice_is_written_once_and_its_unread_copy_dropped() {
    // Each row doubled, held twice; the first field projected out.
    let pairs = "  let m.1: []([]f64, []f64) = map(a.0) \\(x.2: []f64) ->
    let r.3: []f64 = map(x.2) \\(y.4: f64) ->
      let t.5: f64 = mul(y.4, 2.0)
      in t.5
    let t.6: ([]f64, []f64) = (r.3, r.3)
    in t.6
  let p.7: [][]f64 = map(m.1) \\(z.8: ([]f64, []f64)) ->
    let q.9: []f64 = proj(z.8, 0)
    in q.9
";
    let program = format!(
        "def first(a.0: [][]f64) -> [][]f64 =
{pairs}  in p.7

def both(a.0: [][]f64) -> ([][]f64, [][]f64) =
{pairs}  let s.10: [][]f64 = map(m.1) \\(z.11: ([]f64, []f64)) ->
    let q.12: []f64 = proj(z.11, 1)
    in q.12
  let u.13: ([][]f64, [][]f64) = (p.7, s.10)
  in u.13
"
    );
    let program = dl_compiler::core::parse::parse_program(&program).expect("parses");
    let (n, m) = (6, 5);
    let a = Value::array(
        (0..n)
            .map(|i| Value::array((0..m).map(|j| Value::F64((i * m + j) as f64 - 7.5)).collect()))
            .collect(),
    );
    for entry in ["first", "both"] {
        check_entry(&program, entry, std::slice::from_ref(&a)).unwrap_or_else(|e| panic!("{entry}: {e}"));
    }
    let first = lower(&program, "first").unwrap();
    // Only the copy of the result into result memory.
    assert_eq!(copies(&first.body), 1, "{}", print(&first));
    let (_, stats) = eval_with_stats(&first, std::slice::from_ref(&a)).unwrap();
    assert_eq!(stats.arena_bytes, n * m * 8, "the unread field kept its buffer");
    let both = lower(&program, "both").unwrap();
    // The second field's copy of each row, and the two results'.
    assert_eq!(copies(&both.body), 3, "{}", print(&both));
}

/// A map consumed by the loop of an `index_add` into a loop's state (the
/// accumulation of a cotangent row by row) whose row length a size check
/// made equal to the map's: the two loops are one, and the mapped row is
/// never stored.
#[test]
fn loops_over_ranges_a_check_made_equal_fuse() {
    let program = "def f(acc.0: [][]f64, v.1: [][]f64, c.2: i64) -> [][]f64 =
  let n.3: i64 = length(v.1)
  let r.4: [][]f64 = loop (a.5: [][]f64) = acc.0 for (i.6: i64) < n.3 do
    let row.7: []f64 = index(v.1, i.6)
    let m.8: []f64 = map(row.7) \\(x.9: f64) ->
      let t.10: f64 = neg(x.9)
      in t.10
    let a.11: [][]f64 = index_add(a.5, c.2, m.8)
    in a.11
  in r.4
";
    let program = dl_compiler::core::parse::parse_program(program).expect("parses");
    let func = lower(&program, "f").expect("lowers");
    let acc = Value::array(
        (0..3)
            .map(|i| Value::array((0..4).map(|j| Value::F64((i * 4 + j) as f64)).collect()))
            .collect(),
    );
    let matrix = |n: usize, m: usize| {
        Value::array(
            (0..n)
                .map(|i| Value::array((0..m).map(|j| Value::F64((i * m + j) as f64 * 0.5 - 1.0)).collect()))
                .collect(),
        )
    };
    for (v, c) in [
        (matrix(5, 4), 1),
        (matrix(0, 4), 1),
        (matrix(2, 1), 1),
        (matrix(5, 4), 7),
    ] {
        check_entry(&program, "f", &[acc.clone(), v, Value::I64(c)]).unwrap_or_else(|e| panic!("{e}"));
    }
    // The loop's state alone: no buffer for the mapped rows.
    let (_, stats) = eval_with_stats(&func, &[acc, matrix(5, 4), Value::I64(2)]).unwrap();
    assert_eq!(
        stats.arena_bytes,
        3 * 4 * 8,
        "the mapped rows were stored:\n{}",
        print(&func)
    );
}

/// A matrix product that is the result is written by the BLAS kernel
/// straight into result memory, although the lowering computes its size
/// twice (for the product's buffer, then for the result): no copy.
#[test]
fn a_returned_product_is_computed_in_result_memory() {
    let source = "def product(a: [n][k]f64, b: [k][m]f64) -> [n][m]f64 = a @ b";
    let compiled = dl_compiler::driver::compile_source("product.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare(&compiled).expect("compiles");
    let func = lower(&program, "product").expect("lowers");
    verify(&func).expect("verifies");
    assert_eq!(copies(&func.body), 0, "{}", print(&func));
    let matrix = |n: usize, m: usize| {
        Value::array(
            (0..n)
                .map(|i| Value::array((0..m).map(|j| Value::F64((i * m + j) as f64 * 0.25)).collect()))
                .collect(),
        )
    };
    for (n, k, m) in [(3, 4, 5), (0, 2, 3), (2, 0, 3), (2, 3, 0)] {
        check_entry(&program, "product", &[matrix(n, k), matrix(k, m)]).unwrap_or_else(|e| panic!("{n}x{k}x{m}: {e}"));
    }
    let (_, stats) = eval_with_stats(&func, &[matrix(3, 4), matrix(4, 5)]).unwrap();
    assert_eq!(stats.arena_bytes, 0, "the product took arena memory");
}

/// A map over an array that nothing reads afterwards writes its result
/// into that array's memory (softmax's scaling writes where the
/// exponentials were, which is result memory from the start), and only
/// then: not when the body reads the array elsewhere, the array is read
/// later, a map reads it twice, or it is the caller's. A transpose
/// overwritten so is no longer taken for its matrix's transpose.
#[test]
fn maps_over_arrays_read_no_more_write_in_place() {
    let source = "
def softmax_of(x: [n]f64) -> [n]f64 = let e = map(\\v -> exp(v), x) in let s = sum(e) in map(\\v -> v / s, e)
def reads_elsewhere(x: [n]f64) -> [n]f64 = let e = map(\\v -> v + 1.0, x) in map(\\v -> v * e[0], e)
def read_later(x: [n]f64) -> ([n]f64, [n]f64) = let e = map(\\v -> v + 1.0, x) in (map(\\v -> v * 2.0, e), e)
def read_twice(x: [n]f64) -> [n]f64 = let e = map(\\v -> v + 1.0, x) in map2(\\a b -> a * b, e, e)
def callers(x: [n]f64) -> [n]f64 = map(\\v -> v * 2.0, x)
def transposed_back(m: [n][k]f64) -> [n][k]f64 =
  let t = transpose(m) in transpose(unflatten(k, n, map(\\v -> v + 100.0, flatten(t))))
def transposed_product(m: [n][k]f64) -> [k][1]f64 =
  let t = transpose(m) in unflatten(k, n, map(\\v -> tanh(v), flatten(t))) @ build(n, \\i -> [1.0])
";
    let compiled = dl_compiler::driver::compile_source("in_place.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare(&compiled).expect("compiles");
    let x = Value::array((0..7).map(|k| Value::F64(k as f64 * 0.5 - 1.0)).collect());
    for (entry, in_place) in [
        ("softmax_of", true),
        ("reads_elsewhere", false),
        ("read_later", false),
        ("read_twice", false),
        ("callers", false),
    ] {
        let func = check_entry(&program, entry, std::slice::from_ref(&x)).unwrap_or_else(|e| panic!("{entry}: {e}"));
        let loads_and_stores_meet = last_loop_updates_what_it_reads(&func.body);
        assert_eq!(loads_and_stores_meet, in_place, "{entry}:\n{}", print(&func));
    }
    // A transpose written over in place is no longer its matrix's.
    let m = Value::array(
        (0..3)
            .map(|i| Value::array((0..2).map(|j| Value::F64((i * 2 + j) as f64)).collect()))
            .collect(),
    );
    for entry in ["transposed_back", "transposed_product"] {
        check_entry(&program, entry, std::slice::from_ref(&m)).unwrap_or_else(|e| panic!("{entry}: {e}"));
    }
    let func = lower(&program, "softmax_of").expect("lowers");
    let (_, stats) = eval_with_stats(&func, &[x]).unwrap();
    assert_eq!(stats.arena_bytes, 0, "softmax took arena memory:\n{}", print(&func));
}

/// Whether the last top-level loop of `code` stores into a buffer it loads.
fn last_loop_updates_what_it_reads(code: &[dl_compiler::lower::lir::Inst]) -> bool {
    use dl_compiler::lower::lir::{Expr, Inst};
    let Some(Inst::For { body, .. }) = code.iter().rev().find(|inst| matches!(inst, Inst::For { .. })) else {
        return false;
    };
    let loaded: Vec<_> = body
        .iter()
        .filter_map(|inst| match inst {
            Inst::Set(_, Expr::Load { base, .. }) => Some(*base),
            _ => None,
        })
        .collect();
    body.iter()
        .any(|inst| matches!(inst, Inst::Store { base, .. } if loaded.contains(base)))
}

/// Reverse mode's transpose of taking a row out of a matrix: the row is
/// read after it is zeroed, from a field of a tuple that the loop reads
/// again later. Lowering reads the row first, copies the row alone out,
/// and zeroes the matrix in place, so the loop's memory does not grow
/// with the matrix's copies. An index out of range fails where the
/// update is, as in the interpreter.
#[test]
fn a_row_read_after_its_update_is_read_first_and_copied_alone() {
    let program = "def f(n.0: i64, k.1: i64) -> ([][]f64, []f64) =
  let v.2: []f64 = replicate(64, 1.0)
  let m.3: [][]f64 = replicate(n.0, v.2)
  let t.4: []f64 = replicate(64, 0.0)
  let s.5: ([][]f64, []f64) = (m.3, t.4)
  let r.6: ([][]f64, []f64) = loop (c.7: ([][]f64, []f64)) = s.5 for (i.8: i64) < k.1 do
    let x.9: [][]f64 = proj(c.7, 0)
    let j.10: i64 = rem(i.8, 7)
    let z.11: []f64 = replicate(64, 0.0)
    let u.12: [][]f64 = index_set(x.9, j.10, z.11)
    let w.13: []f64 = index(x.9, j.10)
    let a.14: []f64 = proj(c.7, 1)
    let b.15: []f64 = map(a.14, w.13) \\(p.16: f64) (q.17: f64) ->
      let e.18: f64 = add(p.16, q.17)
      let g.19: f64 = mul(e.18, 0.5)
      in g.19
    let h.20: ([][]f64, []f64) = (u.12, b.15)
    in h.20
  in r.6
";
    let mut program = dl_compiler::core::parse::parse_program(program).expect("parses");
    // Core text has no locations: each statement gets its own.
    fn locate(block: &mut dl_compiler::core::ir::Block, next: &mut u32) {
        for stmt in &mut block.stmts {
            *next += 1;
            stmt.span = dl_compiler::diagnostics::Span {
                file: 0,
                start: *next,
                end: *next + 1,
            };
            if let dl_compiler::core::ir::Rhs::Loop(l) = &mut stmt.rhs {
                locate(&mut l.body, next);
            }
        }
    }
    locate(&mut program.funcs[0].body, &mut 0);
    let func = lower(&program, "f").expect("lowers");
    verify(&func).expect("verifies");
    let bytes = |n: i64, k: i64| {
        let args = [Value::I64(n), Value::I64(k)];
        check_entry(&program, "f", &args).unwrap_or_else(|e| panic!("f({n}, {k}): {e}"));
        eval_with_stats(&func, &args).expect("runs").1.arena_bytes
    };
    // Each iteration copies one row of 64, never the matrix of n rows.
    let per_iteration = bytes(10, 200) - bytes(10, 100);
    assert!(
        per_iteration <= 100 * 2 * 64 * 8,
        "{per_iteration} bytes per 100 iterations:\n{}",
        print(&func)
    );
    assert_eq!(bytes(40, 200) - bytes(40, 100), per_iteration, "the matrix is copied");
    // Row 6 of 5 is out of range: the error names the update.
    check_entry(&program, "f", &[Value::I64(5), Value::I64(9)]).unwrap_or_else(|e| panic!("f(5, 9): {e}"));
}

/// A loop whose state starts as zeros that are read again after it (so
/// the loop cannot take them as its own) starts from a loop of zero
/// stores, not a copy of the zeros; zeros updated in place, or a
/// scatter's, are not mistaken for zeros.
#[test]
fn a_copy_of_zeros_is_a_fill() {
    let program = "def f(n.0: i64, k.1: i64) -> ([]f64, []f64, []f64) =
  let x.2: []f64 = replicate(n.0, 1.0)
  let z.3: []f64 = zero_tangent(x.2)
  let r.4: []f64 = loop (a.5: []f64) = z.3 for (i.6: i64) < k.1 do
    let j.7: i64 = rem(i.6, n.0)
    let b.8: []f64 = index_add(a.5, j.7, 1.5)
    in b.8
  let w.9: []f64 = index_add(z.3, 0, 2.0)
  let y.10: []f64 = loop (c.11: []f64) = w.9 for (i.12: i64) < k.1 do
    let d.13: []f64 = index_add(c.11, 1, 0.5)
    in d.13
  let t.14: ([]f64, []f64, []f64) = (r.4, y.10, w.9)
  in t.14
";
    let program = dl_compiler::core::parse::parse_program(program).expect("parses");
    for (n, k) in [(5, 12), (3, 0), (4, 1)] {
        check_entry(&program, "f", &[Value::I64(n), Value::I64(k)]).unwrap_or_else(|e| panic!("f({n}, {k}): {e}"));
    }
    let func = lower(&program, "f").expect("lowers");
    // The second loop copies the updated zeros; two results are copied
    // into result memory (the zeros' buffer is a result's from the start).
    assert_eq!(copies(&func.body), 3, "{}", print(&func));
    // A scatter adds into zeros of its own: returned twice, one result
    // is a copy of its sums.
    let scatter = "def g(n.0: i64) -> ([]f64, []f64) =
  let i.1: []i64 = [0, 2, 0]: []i64
  let v.2: []f64 = [1.0, 2.0, 3.0]: []f64
  let s.3: []f64 = scatter_add(n.0, i.1, v.2)
  let t.4: ([]f64, []f64) = (s.3, s.3)
  in t.4
";
    let scatter = dl_compiler::core::parse::parse_program(scatter).expect("parses");
    check_entry(&scatter, "g", &[Value::I64(3)]).unwrap_or_else(|e| panic!("g(3): {e}"));
}

/// The loops at the top of `code` that may run their iterations at once.
fn independent_loops(code: &[dl_compiler::lower::lir::Inst]) -> usize {
    code.iter()
        .filter(|inst| matches!(inst, dl_compiler::lower::lir::Inst::For { hint, .. } if hint.independent))
        .count()
}

/// A loop whose iterations each update their own row of its state, or
/// write their own row of a build, or add into any row (each chunk into a
/// copy of its own), may run them at once; one that sets another row,
/// adds into rows it also reads, or carries a value from one iteration to
/// the next, may not. Each gives
/// the interpreter's values.
#[test]
fn loops_whose_iterations_touch_their_own_rows_are_independent() {
    // One loop over the rows of `v` four times: what it reads before the
    // map, the map's term, and how (and where) it puts the row into `a`.
    let into_rows = |name: &str, before: &str, term: &str, update: &str, at: &str| {
        format!(
            "def {name}(acc.0: [][]f64, v.1: [][]f64) -> [][]f64 =
  let n.2: i64 = length(v.1)
  let r.3: [][]f64 = loop (a.4: [][]f64) = acc.0 for (i.5: i64) < n.2 do
    let row.6: []f64 = index(v.1, i.5)
{before}    let m.7: []f64 = map(row.6) \\(x.8: f64) ->
      let t.9: f64 = {term}
      in t.9
    let j.11: i64 = add(i.5, 1)
    let k.12: i64 = rem(j.11, n.2)
    let a.10: [][]f64 = {update}(a.4, {at}, m.7)
    in a.10
  in r.3
"
        )
    };
    let peek = "    let first.13: []f64 = index(a.4, 0)\n    let y.14: f64 = index(first.13, 0)\n";
    let program = [
        into_rows("own", "", "neg(x.8)", "index_add", "i.5"),
        into_rows("next", "", "neg(x.8)", "index_add", "k.12"),
        into_rows("moved", "", "neg(x.8)", "index_set", "k.12"),
        into_rows("peeked", peek, "mul(x.8, y.14)", "index_add", "k.12"),
    ]
    .join("\n")
        + "
def carried(v.1: [][]f64) -> f64 =
  let n.2: i64 = length(v.1)
  let r.3: f64 = loop (s.4: f64) = 0.0 for (i.5: i64) < n.2 do
    let row.6: []f64 = index(v.1, i.5)
    let t.7: f64 = sum(row.6)
    let t.8: f64 = mul(s.4, 0.5)
    let t.9: f64 = add(t.8, t.7)
    in t.9
  in r.3

def rows(v.1: [][]f64) -> [][]f64 =
  let n.2: i64 = length(v.1)
  let b.3: [][]f64 = build(n.2) \\(i.4: i64) ->
    let j.5: i64 = add(i.4, 1)
    let k.6: i64 = rem(j.5, n.2)
    let row.7: []f64 = index(v.1, k.6)
    let m.8: []f64 = map(row.7) \\(x.9: f64) ->
      let t.10: f64 = mul(x.9, 2.0)
      in t.10
    in m.8
  in b.3
";
    let program = dl_compiler::core::parse::parse_program(&program).expect("parses");
    let matrix = |n: usize, m: usize, scale: f64| {
        Value::array(
            (0..n)
                .map(|i| Value::array((0..m).map(|j| Value::F64((i * m + j) as f64 * scale - 1.0)).collect()))
                .collect(),
        )
    };
    for (entry, independent) in [
        ("own", 1),
        ("next", 1),
        ("moved", 0),
        ("peeked", 0),
        ("carried", 0),
        ("rows", 1),
    ] {
        let args = match entry {
            "own" | "next" | "moved" | "peeked" => vec![matrix(5, 4, 0.25), matrix(5, 4, 0.5)],
            _ => vec![matrix(5, 4, 0.5)],
        };
        let func = check_entry(&program, entry, &args).unwrap_or_else(|e| panic!("{entry}: {e}"));
        assert_eq!(
            independent_loops(&func.body),
            independent,
            "{entry}: independent loops at the top\n{}",
            print(&func)
        );
    }
}

/// A loop that carries nothing from one iteration to the next but an
/// accumulator `s = s + t` (whose terms each take an inner loop, so no
/// vector hint applies) is independent, with the accumulator as its
/// reduction; one whose accumulator the body also reads, or that takes a
/// maximum (NaN and the sign of zero make its order matter), is not.
/// Each gives the interpreter's values.
#[test]
fn loops_that_only_accumulate_are_independent_with_a_reduction() {
    // The same loop three times: its term (`x * x`, or `x * s`, which reads
    // the accumulator) and how it accumulates (`add` or `max`).
    let accumulating = |name: &str, term: &str, accumulate: &str| {
        format!(
            "def {name}(v.1: [][]f64) -> f64 =
  let n.2: i64 = length(v.1)
  let r.3: f64 = loop (s.4: f64) = 0.5 for (i.5: i64) < n.2 do
    let row.6: []f64 = index(v.1, i.5)
    let m.7: []f64 = map(row.6) \\(x.8: f64) ->
      let t.9: f64 = mul(x.8, {term})
      in t.9
    let t.10: f64 = sum(m.7)
    let s.11: f64 = {accumulate}(s.4, t.10)
    in s.11
  in r.3
"
        )
    };
    let program = [
        accumulating("summed", "x.8", "add"),
        accumulating("spied", "s.4", "add"),
        accumulating("maxed", "x.8", "max"),
    ]
    .join("\n");
    let program = program.as_str();
    let program = dl_compiler::core::parse::parse_program(program).expect("parses");
    let matrix = Value::array(
        (0..5)
            .map(|i| Value::array((0..4).map(|j| Value::F64((i * 4 + j) as f64 * 0.25 - 1.0)).collect()))
            .collect(),
    );
    for (entry, independent) in [("summed", 1), ("spied", 0), ("maxed", 0)] {
        let func =
            check_entry(&program, entry, std::slice::from_ref(&matrix)).unwrap_or_else(|e| panic!("{entry}: {e}"));
        let text = print(&func);
        assert_eq!(
            independent_loops(&func.body),
            independent,
            "{entry}: independent loops at the top\n{text}"
        );
        if independent == 1 {
            assert!(text.contains("[independent reduce(s"), "{entry}: no reduction\n{text}");
        }
    }
}

/// The copies anywhere in `code`.
fn copies_deep(code: &[dl_compiler::lower::lir::Inst]) -> usize {
    let mut n = 0;
    dl_compiler::lower::lir::each_inst_deep(code, &mut |inst| {
        n += usize::from(matches!(inst, dl_compiler::lower::lir::Inst::Copy { .. }))
    });
    n
}

/// Reverse mode of `m[c]` read in an inner loop over data points: the
/// inner loop adds its terms straight into the outer accumulator's row
/// `c`, in place (no zero array per component, no addition or copy of
/// the whole accumulator), so the backward sweep over components writes
/// only row `c` in iteration `c` and may run its components at once.
#[test]
fn a_nested_loops_cotangent_goes_into_its_own_row_in_place() {
    let source = "
def comp(m: [k][d]f64, x: [n][d]f64) -> f64 =
  sum(build(k, \\c -> exp(sum(map(\\xi -> sqnorm(xi - m[c]), x)) * 0.001)))

def comp_grad(m: [k][d]f64, x: [n][d]f64) -> [k][d]f64 =
  grad(\\mm -> comp(mm, x))(m)
";
    let compiled = dl_compiler::driver::compile_source("comp.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let program = dl_compiler::driver::prepare_entry(&compiled, "comp_grad").unwrap_or_else(|e| panic!("{e}"));
    let matrix = |n: usize, m: usize, scale: f64| {
        Value::array(
            (0..n)
                .map(|i| {
                    Value::array(
                        (0..m)
                            .map(|j| Value::F64(((i * m + j) % 7) as f64 * scale - 1.0))
                            .collect(),
                    )
                })
                .collect(),
        )
    };
    let func =
        check_entry(&program, "comp_grad", &[matrix(4, 3, 0.3), matrix(6, 3, 0.2)]).unwrap_or_else(|e| panic!("{e}"));
    let sweep = func
        .body
        .iter()
        .find(|inst| matches!(inst, dl_compiler::lower::lir::Inst::For { body, .. } if !body.is_empty() && independent_loops(std::slice::from_ref(inst)) == 1));
    let Some(dl_compiler::lower::lir::Inst::For { body, .. }) = sweep else {
        panic!("no independent loop over the components:\n{}", print(&func));
    };
    assert_eq!(copies_deep(body), 0, "the sweep copies:\n{}", print(&func));
}

/// A loop state updated as `t = y + x`, then set to something else, then
/// to `t`: moving the update to `y` itself would let the other assignment
/// overwrite it, so the body keeps its form (and its values).
#[test]
fn an_accumulator_assigned_between_its_update_and_its_copy_is_left_alone() {
    use dl_compiler::lower::lir::{BinOp, Expr, Inst, LoopHint, Operand, Ty, UnOp, Var, VarInfo};
    let v = |k: u32| Operand::Var(Var(k));
    let vars = [
        ("n", Ty::I64),
        ("bytes", Ty::I64),
        ("out", Ty::Ptr),
        ("i", Ty::I64),
        ("xf", Ty::F64),
        ("y", Ty::F64),
        ("t", Ty::F64),
    ]
    .map(|(name, ty)| VarInfo { name: name.into(), ty })
    .to_vec();
    let body = vec![
        Inst::Set(Var(4), Expr::Unary(UnOp::IToF, v(3))),
        Inst::Set(Var(5), Expr::Atom(Operand::F64(1.0))),
        Inst::Set(Var(6), Expr::Binary(BinOp::FAdd, v(5), v(4))),
        Inst::Set(Var(5), Expr::Atom(Operand::F64(5.0))),
        Inst::Set(Var(5), Expr::Atom(v(6))),
        Inst::Store {
            ty: Ty::F64,
            base: v(2),
            index: v(3),
            value: v(5),
        },
    ];
    let mut func = Func {
        name: "w".into(),
        vars,
        params: vec![Var(0)],
        param_types: vec![dl_compiler::core::ir::Type::I64],
        result_type: dl_compiler::core::ir::Type::Array(Box::new(dl_compiler::core::ir::Type::F64)),
        body: vec![
            Inst::Set(Var(1), Expr::Binary(BinOp::IMul, v(0), Operand::I64(8))),
            Inst::Call {
                func: "dl_result_alloc",
                args: vec![v(1)],
                result: Some(Var(2)),
            },
            Inst::For {
                index: Var(3),
                start: Operand::I64(0),
                end: v(0),
                body,
                hint: LoopHint::default(),
            },
        ],
        results: vec![v(0), v(2)],
        locations: vec![],
    };
    let before = eval(&func, &[Value::I64(3)]).expect("runs");
    dl_compiler::lower::independent::mark_independent(&mut func);
    let after = eval(&func, &[Value::I64(3)]).expect("runs");
    assert!(
        same_value(&before, &after, false),
        "{before} became {after}\n{}",
        print(&func)
    );
}

/// A loop that only checks the length of each row runs its checks once:
/// rows of a flat array all have one length. The check still fails when
/// it should, and passes on no row at all.
#[test]
fn loops_that_only_check_run_once() {
    let program = dl_compiler::core::parse::parse_program(
        "def f(a.0: [][]f64, v.1: []f64) -> f64 =
  let n.2: i64 = length(a.0)
  let e.3: () = ()
  let e.4: () = loop (s.5: ()) = e.3 for (i.6: i64) < n.2 do
    let row.7: []f64 = index(a.0, i.6)
    let k.8: i64 = length(row.7)
    let l.9: i64 = length(v.1)
    let c.10: i64 = size_eq(k.8, l.9)
    in s.5
  in 1.0
",
    )
    .expect("parses");
    let rows = |r: usize, c: usize| Value::array(vec![Value::array(vec![Value::F64(1.0); c]); r]);
    let v = |n: usize| Value::array(vec![Value::F64(2.0); n]);
    // The same checks in a loop nested in another: the inner loop's test
    // of its trip count stays, and the outer loop stays a loop.
    let nested = dl_compiler::core::parse::parse_program(
        "def f(a.0: [][]f64, v.1: []f64) -> f64 =
  let n.2: i64 = length(a.0)
  let e.3: () = ()
  let e.4: () = loop (s.5: ()) = e.3 for (i.6: i64) < n.2 do
    let e.11: () = loop (t.12: ()) = s.5 for (j.13: i64) < n.2 do
      let row.7: []f64 = index(a.0, j.13)
      let k.8: i64 = length(row.7)
      let l.9: i64 = length(v.1)
      let c.10: i64 = size_eq(k.8, l.9)
      in t.12
    in e.11
  in 1.0
",
    )
    .expect("parses");
    for args in [[rows(3, 2), v(2)], [rows(3, 2), v(3)], [rows(0, 0), v(5)]] {
        check_entry(&nested, "f", &args).unwrap_or_else(|e| panic!("nested: {e}"));
    }
    for args in [[rows(3, 2), v(2)], [rows(3, 2), v(3)], [rows(0, 0), v(5)]] {
        let func = check_entry(&program, "f", &args).unwrap_or_else(|e| panic!("{e}"));
        let mut loops = 0;
        dl_compiler::lower::lir::each_inst_deep(&func.body, &mut |i| {
            loops += usize::from(matches!(i, dl_compiler::lower::lir::Inst::For { .. }));
        });
        assert_eq!(loops, 0, "{}", print(&func));
    }
}

/// A loop that loads what it stored into an arena buffer in the same
/// iteration takes the stored value instead, and the buffer, then written
/// and never read, goes with its allocation (`forward_stores`,
/// `drop_unread_buffers`); the result stays the same.
#[test]
fn stored_values_are_forwarded_to_their_loads() {
    use dl_compiler::core::ir::Type;
    use dl_compiler::lower::lir::{BinOp, Expr, Inst, LoopHint, Operand, Ty, Var, VarInfo};
    let var = |name: &str, ty| VarInfo { name: name.into(), ty };
    let (n, a, tmp, out, i, x, y, z, bytes) = (Var(0), Var(1), Var(2), Var(3), Var(4), Var(5), Var(6), Var(7), Var(8));
    let load = |base: Var| Expr::Load {
        ty: Ty::F64,
        base: Operand::Var(base),
        index: Operand::Var(i),
    };
    let store = |base: Var, value: Var| Inst::Store {
        ty: Ty::F64,
        base: Operand::Var(base),
        index: Operand::Var(i),
        value: Operand::Var(value),
    };
    let mut func = Func {
        name: "f".into(),
        vars: vec![
            var("n", Ty::I64),
            var("a", Ty::Ptr),
            var("tmp", Ty::Ptr),
            var("out", Ty::Ptr),
            var("i", Ty::I64),
            var("x", Ty::F64),
            var("y", Ty::F64),
            var("z", Ty::F64),
            var("bytes", Ty::I64),
        ],
        params: vec![n, a],
        param_types: vec![Type::array(Type::F64)],
        result_type: Type::array(Type::F64),
        body: vec![
            Inst::Set(
                tmp,
                Expr::Alloc {
                    ty: Ty::F64,
                    n: Operand::Var(n),
                },
            ),
            Inst::Call {
                func: "dl_result_alloc",
                args: vec![Operand::Var(n)],
                result: Some(out),
            },
            Inst::For {
                index: i,
                start: Operand::I64(0),
                end: Operand::Var(n),
                body: vec![
                    Inst::Set(x, load(a)),
                    Inst::Set(y, Expr::Binary(BinOp::FMul, Operand::Var(x), Operand::F64(3.0))),
                    store(tmp, y),
                    Inst::Set(z, load(tmp)),
                    store(out, z),
                ],
                hint: LoopHint::default(),
            },
        ],
        results: vec![Operand::Var(n), Operand::Var(out)],
        locations: Vec::new(),
    };
    // `dl_result_alloc` takes bytes.
    func.body.insert(
        1,
        Inst::Set(bytes, Expr::Binary(BinOp::IMul, Operand::Var(n), Operand::I64(8))),
    );
    if let Inst::Call { args, .. } = &mut func.body[2] {
        args[0] = Operand::Var(bytes);
    }
    verify(&func).expect("verifies");
    let args = [Value::array([1.0, -2.0, 0.5].map(Value::F64).to_vec())];
    let before = eval(&func, &args).expect("runs");
    assert!(dl_compiler::lower::forward_stores::forward_stores(&mut func));
    dl_compiler::lower::unread::drop_unread_buffers(&mut func);
    verify(&func).expect("verifies after");
    assert_eq!(eval(&func, &args).expect("runs after"), before);
    let mut touches_tmp = 0;
    dl_compiler::lower::lir::each_inst_deep(&func.body, &mut |inst| {
        touches_tmp += usize::from(match inst {
            Inst::Set(v, e) => *v == tmp || e.operands().contains(&Operand::Var(tmp)),
            Inst::Store { base, .. } => *base == Operand::Var(tmp),
            _ => false,
        });
    });
    assert_eq!(touches_tmp, 0, "{}", print(&func));
}

/// An allocation too large for the evaluator, or whose size saturated,
/// fails with the runtime's out-of-memory error instead of aborting.
#[test]
fn the_evaluator_reports_an_allocation_it_cannot_make() {
    let compiled = dl_compiler::driver::compile_source(
        "rows.dl",
        "def rows_of(n: i64) = build(n, \\i -> replicate(4, f64(i)))\n",
    );
    let program = dl_compiler::driver::prepare(&compiled).expect("prepares");
    let func = lower(&program, "rows_of").expect("lowers");
    for n in [4_611_686_018_427_387_904, 1 << 45] {
        match eval(&func, &[Value::I64(n)]) {
            Err(EvalError::Failure { message, .. }) => {
                assert!(message.starts_with("out of memory: cannot allocate"), "{n}: {message}")
            }
            other => panic!("{n}: {other:?}"),
        }
    }
    let small = eval(&func, &[Value::I64(2)]).expect("runs");
    assert_eq!(small.to_string(), "[[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]");
}
