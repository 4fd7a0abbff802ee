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
