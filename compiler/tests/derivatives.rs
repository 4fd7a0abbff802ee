//! Derivatives checked three ways on every program of tests/derivatives:
//! the gradient of `f` at `inputs()` against central finite differences,
//! forward mode (jvp) against reverse mode (grad), and the closed forms
//! the file's `test` declarations state. The figures are printed as a table.

mod common;

use dl_compiler::ad::check::{finite_differences, operator_entry, relative_error};
use dl_compiler::core::interp;
use dl_compiler::core::ir::{DerivOp, Program};
use dl_compiler::core::value::Value;

fn run(program: &Program, func: &str, args: Vec<Value>) -> Value {
    interp::run(program, func, args).unwrap_or_else(|e| panic!("{func}: {}", e.message))
}

/// The arguments of `f`: `inputs()` is the single argument, or a tuple of
/// all of them.
fn args_of(inputs: Value, k: usize) -> Vec<Value> {
    if k == 1 {
        return vec![inputs];
    }
    match inputs {
        Value::Tuple(items) if items.len() == k => items.to_vec(),
        other => panic!("inputs() must be a tuple of {k} values, got {other}"),
    }
}

#[test]
fn gradients_agree_with_finite_differences_forward_mode_and_closed_forms() {
    let files = common::dl_files("tests/derivatives");
    assert!(
        files.len() >= 40,
        "expected at least 40 derivative programs, found {}",
        files.len()
    );
    let mut table = vec![format!(
        "{:<20} {:>6} {:>11} {:>11} {:>6}",
        "program", "inputs", "fd error", "fwd-rev", "tests"
    )];
    let mut failures = Vec::new();
    for path in files {
        let name = common::stem(&path);
        let (_, program) = common::compile_ok(&path);
        let f = program.func("f").unwrap_or_else(|| panic!("{name} defines no `f`"));
        let args = args_of(run(&program, "inputs", Vec::new()), f.params.len());
        // Reverse mode against finite differences.
        let (with_grad, grad) = operator_entry(&program, DerivOp::Grad, "f").unwrap_or_else(|e| panic!("{name}: {e}"));
        let g = run(&with_grad, &grad, args.clone()).f64_leaves();
        let fd = finite_differences(&program, "f", &args).unwrap_or_else(|e| panic!("{name}: {}", e.message));
        assert_eq!(g.len(), fd.len(), "{name}: the gradient has the wrong shape");
        let fd_err = g
            .iter()
            .zip(&fd)
            .map(|(a, b)| relative_error(*a, *b))
            .fold(0.0, f64::max);
        // Forward mode along a fixed direction t: the jvp must be <grad, t>.
        let t: Vec<f64> = (0..g.len()).map(|i| ((i * 7 + 3) % 11) as f64 / 11.0 - 0.4).collect();
        let expected: f64 = g.iter().zip(&t).map(|(a, b)| a * b).sum();
        let fwd_err = match operator_entry(&program, DerivOp::Jvp, "f") {
            Ok((with_jvp, jvp)) => {
                let mut it = t.iter().copied();
                let mut jvp_args = args.clone();
                jvp_args.extend(args.iter().map(|a| a.with_f64_leaves(&mut it)).collect::<Vec<_>>());
                match interp::run(&with_jvp, &jvp, jvp_args) {
                    Ok(Value::Tuple(pair)) => {
                        let directional = pair[1].as_f64().expect("an f64 tangent");
                        if relative_error(directional, expected) > 1e-10 {
                            failures.push(format!("{name}: jvp {directional} differs from <grad, t> = {expected}"));
                        }
                        relative_error(directional, expected)
                    }
                    other => {
                        failures.push(format!("{name}: jvp gave {other:?}"));
                        f64::NAN
                    }
                }
            }
            Err(e) => {
                failures.push(format!("{name}: forward mode: {e}"));
                f64::NAN
            }
        };
        // Closed forms.
        let mut passed = 0;
        for test in &program.tests {
            match interp::run(&program, &test.func, Vec::new()) {
                Ok(Value::Bool(true)) => passed += 1,
                other => failures.push(format!("{name}: test {:?} gave {other:?}", test.name)),
            }
        }
        table.push(format!(
            "{name:<20} {:>6} {fd_err:>11.1e} {fwd_err:>11.1e} {passed:>6}",
            g.len()
        ));
        // A file may opt out of finite differences (stop_gradient is
        // invisible to them); its closed forms still run.
        let skip_fd = std::fs::read_to_string(&path).expect("readable").contains("fd: skip");
        if fd_err > 1e-6 && !skip_fd {
            failures.push(format!("{name}: gradient {g:?} differs from finite differences {fd:?}"));
        }
    }
    println!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every stage of each program's gradient and its values, locked by
/// snapshots: a change to any derivative shows up as a reviewable diff.
#[test]
fn derivative_programs_and_values_are_snapshotted() {
    for path in common::dl_files("tests/derivatives") {
        let name = common::stem(&path);
        let (_, program) = common::compile_ok(&path);
        let k = program.func("f").expect("an f").params.len();
        let args = args_of(run(&program, "inputs", Vec::new()), k);
        let report =
            dl_compiler::stages::derivative_report(&program, "f", &args).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::with_settings!({
            snapshot_path => "../../tests/derivatives/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, report);
        });
    }
}

/// The gradients that cost more than [`MAX_RATIO`] times their function,
/// and why no sound rewrite brings them under it on the cost model.
const COSTLIER_GRADIENTS: &[(&str, &str)] = &[
    (
        "fold_horner",
        "f costs 3 an element (a read, a multiply-add); with its states \
         recorded, a gradient also allocates and writes them and the \
         coefficients' cotangent, reads them back and multiplies twice: at \
         least 17 an element, 5.7 times f",
    ),
    (
        "nested_loops",
        "it is made of the inner loops that reverse mode must run again: the \
         four whose sizes or trip count follow the outer loop run in the \
         backward sweep once more, recording their states, and each recorded \
         inner loop's last step runs again there to give its final state: \
         4.1 times f",
    ),
    (
        "runge_kutta",
        "each step's backward sweep computes the inputs of three of the four \
         stages again from the recorded state, then transposes each stage's \
         build into two cotangents per element, a scatter at i - 1 and an \
         update at i, and scales and adds them into the next stage's: 4.1 \
         times f on the cost model, which counts every array pass apart",
    ),
    (
        "scaled_state",
        "each step of f multiplies the state by one element (n flops); its \
         record is written in the forward sweep and read in the backward \
         sweep, which scales the cotangent (n flops) and takes the \
         element's cotangent as the dot product of the cotangent and the \
         recorded state (2n flops): 6.1 times f at n = 3",
    ),
    (
        "while_loop",
        "f costs 5 flops a trip; the trip count is known only when the loop \
         ends, so a second run records the states, and the backward trip \
         takes 8 flops (0.01 y y transposed without reassociating)",
    ),
];

/// The cheap gradient principle's bound on the cost of a gradient over
/// its function's, for functions that take no derivatives themselves.
const MAX_RATIO: f64 = 4.0;

/// The cheap gradient principle, measured: the cost of `grad(f)` after
/// partial evaluation over the cost of `f`, on the interpreter's cost
/// model at `inputs()`, beside the cost without partial evaluation. The
/// table is printed; partial evaluation must never make a gradient
/// costlier, and must pay off on the gradients as a whole; a gradient of a
/// function without derivative operators costs at most [`MAX_RATIO`]
/// times the function, but for those of [`COSTLIER_GRADIENTS`].
#[test]
fn gradients_cost_a_small_multiple_of_the_function() {
    use dl_compiler::opt::cost::run_with_cost;
    let mut table = vec![format!(
        "{:<20} {:>7} {:>9} {:>9} {:>7} {:>7}",
        "program", "f", "grad raw", "grad opt", "raw/f", "opt/f"
    )];
    let mut failures = Vec::new();
    let (mut raw_total, mut opt_total) = (0.0, 0.0);
    for path in common::dl_files("tests/derivatives") {
        let name = common::stem(&path);
        let (_, checked) = common::check_ok(&path);
        let program = dl_compiler::opt::optimize(&dl_compiler::ad::expand_derivatives(&checked).expect("expands"));
        let k = program.func("f").expect("an f").params.len();
        let args = args_of(run(&program, "inputs", Vec::new()), k);
        let (_, primal) = run_with_cost(&program, "f", args.clone()).expect("f runs");
        // The raw gradient: derivatives expanded, nothing optimised.
        let (raw, entry) = operator_entry(&checked, DerivOp::Grad, "f").expect("a gradient");
        let (_, raw_cost) = run_with_cost(&raw, &entry, args.clone()).expect("the raw gradient runs");
        let optimized = dl_compiler::opt::optimize(&raw);
        let (_, opt_cost) = run_with_cost(&optimized, &entry, args.clone()).expect("the gradient runs");
        let (f, r, o) = (primal.total() as f64, raw_cost.total() as f64, opt_cost.total() as f64);
        raw_total += r;
        opt_total += o;
        // `f` itself takes derivatives: its gradient is a higher derivative.
        let nested = dl_compiler::stages::reachable(&checked, "f")
            .funcs
            .iter()
            .any(|g| uses_derivatives(&g.body));
        let mark = if nested { " nested" } else { "" };
        table.push(format!(
            "{name:<20} {f:>7} {r:>9} {o:>9} {:>7.2} {:>7.2}{mark}",
            r / f,
            o / f
        ));
        if o > r {
            failures.push(format!(
                "{name}: partial evaluation made the gradient costlier ({r} -> {o})"
            ));
        }
        let known = COSTLIER_GRADIENTS.iter().any(|(n, _)| *n == name);
        match (nested, o / f > MAX_RATIO, known) {
            (false, true, false) => failures.push(format!(
                "{name}: the gradient costs {:.2} times the function, more than {MAX_RATIO}",
                o / f
            )),
            (_, false, true) | (true, _, true) => failures.push(format!(
                "{name}: listed in COSTLIER_GRADIENTS but its gradient costs {:.2} times the function: take it off",
                o / f
            )),
            _ => {}
        }
    }
    println!("{}", table.join("\n"));
    println!("all gradients: {raw_total} before partial evaluation, {opt_total} after");
    assert!(
        opt_total < 0.8 * raw_total,
        "partial evaluation saved too little: {raw_total} -> {opt_total}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn uses_derivatives(block: &dl_compiler::core::ir::Block) -> bool {
    use dl_compiler::core::ir::{LoopKind, Rhs};
    block.stmts.iter().any(|s| match &s.rhs {
        Rhs::Deriv { .. } => true,
        Rhs::If(_, a, b) => uses_derivatives(a) || uses_derivatives(b),
        Rhs::Loop(l) => {
            uses_derivatives(&l.body) || matches!(&l.kind, LoopKind::While { cond } if uses_derivatives(cond))
        }
        Rhs::Map { body, .. } | Rhs::Build { body, .. } => uses_derivatives(body),
        Rhs::Reduce(c) | Rhs::Scan(c) => uses_derivatives(&c.body),
        Rhs::Atom(_) | Rhs::Prim(..) | Rhs::Tuple(_) | Rhs::Proj(..) | Rhs::Array(..) | Rhs::Call(..) => false,
    })
}
