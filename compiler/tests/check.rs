//! Filetests of the checker: each program under tests/check is lowered to
//! core IR, verified, printed and snapshotted; the printed text must read
//! back to the same program.

mod common;

use dl_compiler::core::{parse, print, verify};

#[test]
fn core_ir_of_each_program() {
    for path in common::dl_files("tests/check") {
        let (compiled, program) = common::check_ok(&path);
        if let Err(errors) = verify::verify_program(&program) {
            panic!(
                "{}: the checker produced invalid core IR: {errors:?}\n{}",
                path.display(),
                print::print_program(&program)
            );
        }
        let own = common::own_functions(&compiled, &program);
        let text = print::print_program(&own);
        let reread = parse::parse_program(&text)
            .unwrap_or_else(|e| panic!("{}: printed core IR does not parse: {e:?}\n{text}", path.display()));
        assert_eq!(
            print::print_program(&reread),
            text,
            "{}: print/parse round trip",
            path.display()
        );
        let source = std::fs::read_to_string(&path).expect("readable");
        insta::with_settings!({
            snapshot_path => "../../tests/check/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(common::stem(&path), format!("{source}\n---\n{text}"));
        });
    }
}

/// Every program the tests compile (examples included) passes the verifier.
#[test]
fn checker_output_always_verifies() {
    let folders = ["examples", "tests/programs", "tests/check", "tests/runtime_errors"];
    for folder in folders {
        for path in common::dl_files(folder) {
            let (_, program) = common::check_ok(&path);
            if let Err(errors) = verify::verify_program(&program) {
                panic!("{}: invalid core IR: {errors:?}", path.display());
            }
        }
    }
}
