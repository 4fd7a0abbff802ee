//! Programs whose `test` declarations must all pass: the language's
//! semantics, builtin by builtin, against hand-computed values.

mod common;

use dl_compiler::core::value::Value;

#[test]
fn every_test_declaration_passes() {
    let mut total = 0;
    for path in common::dl_files("tests/programs") {
        let (compiled, program) = common::compile_ok(&path);
        assert!(!program.tests.is_empty(), "{} declares no test", path.display());
        for t in &program.tests {
            let result = dl_compiler::driver::run(&program, &t.func, Vec::new());
            match result {
                Ok(Value::Bool(true)) => total += 1,
                Ok(other) => panic!(
                    "{}: test {:?} at {} gave {other}",
                    path.display(),
                    t.name,
                    compiled.sources.location(t.span)
                ),
                Err(e) => panic!("{}: test {:?} failed: {}", path.display(), t.name, e.message),
            }
        }
    }
    assert!(total >= 100, "expected at least 100 tests, ran {total}");
}
