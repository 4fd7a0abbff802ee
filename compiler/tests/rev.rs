//! Reverse mode through the unary form, checked as an oracle: for every
//! function of `tests/rev/*.dl` named by a `-- at NAME: ARG | ARG` line,
//! `NAME$vjp` must give the primal result of `NAME` exactly and parameter
//! cotangents that agree with central finite differences of
//! `<ct, NAME(x)>`. The unary form is checked on its own too: it verifies,
//! and `to_core(from_core(f))` computes what `f` does.

mod common;

use dl_compiler::core::ir::Program;
use dl_compiler::core::value::Value;
use dl_compiler::core::verify::verify_program;
use dl_compiler::driver;
use dl_compiler::unf::{from_core::from_core, to_core::to_core, verify::verify};
use std::path::Path;

/// A function of a test file and one point to evaluate it at.
struct Case {
    func: String,
    args: Vec<Value>,
}

/// The program of a test file and its `-- at` points.
fn load(path: &Path) -> (Program, Vec<Case>) {
    let (_, program) = common::compile_ok(path);
    let text = std::fs::read_to_string(path).expect("a readable file");
    let mut cases = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("-- at ") else {
            continue;
        };
        let (name, args) = rest.split_once(':').expect("`-- at NAME: ARGS`");
        let func = program
            .func(name.trim())
            .unwrap_or_else(|| panic!("no function `{name}`"));
        let args: Vec<String> = args.split('|').map(|a| a.trim().to_string()).collect();
        let args = driver::parse_args(func, &args).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        cases.push(Case {
            func: name.trim().to_string(),
            args,
        });
    }
    assert!(!cases.is_empty(), "{} has no `-- at` line", path.display());
    (program, cases)
}

fn run(program: &Program, func: &str, args: &[Value]) -> Value {
    driver::run(program, func, args.to_vec()).unwrap_or_else(|e| panic!("running `{func}`: {}", e.message))
}

/// The functions the cases of a file name, each once.
fn tested(cases: &[Case]) -> Vec<String> {
    let mut names: Vec<String> = cases.iter().map(|c| c.func.clone()).collect();
    names.dedup();
    names
}

#[test]
fn unary_form_round_trips() {
    let mut checked = 0;
    for path in common::dl_files("tests/rev") {
        let (program, cases) = load(&path);
        let mut round = program.clone();
        for name in tested(&cases) {
            let f = program.func(&name).expect("a tested function");
            let u = from_core(f).unwrap_or_else(|e| panic!("{name}: {e}"));
            verify(&u).unwrap_or_else(|e| panic!("{name}: {e}\n{u}"));
            let back = to_core(&u);
            let slot = round.funcs.iter_mut().find(|g| g.name == name).expect("the function");
            *slot = back;
        }
        verify_program(&round).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        for c in &cases {
            assert_eq!(
                run(&round, &c.func, &c.args),
                run(&program, &c.func, &c.args),
                "{}: `{}` changed through the unary form",
                path.display(),
                c.func
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} points");
}
