//! Programs that fail at run time: the error names the values and points
//! at the source, and nothing panics. Snapshots hold source and message.

mod common;

#[test]
fn run_time_errors_name_location_and_values() {
    let files = common::dl_files("tests/runtime_errors");
    assert!(files.len() >= 10);
    for path in files {
        let (compiled, program) = common::compile_ok(&path);
        let err = match dl_compiler::driver::run(&program, "main", Vec::new()) {
            Ok(v) => panic!("{} ran without an error and gave {v}", path.display()),
            Err(e) => e,
        };
        let span = err
            .span
            .unwrap_or_else(|| panic!("{}: the error has no location: {}", path.display(), err.message));
        assert_eq!(
            span.file,
            compiled.main_file,
            "{}: the error points outside the program",
            path.display()
        );
        assert!(
            err.message.chars().any(|c| c.is_ascii_digit()),
            "{}: the message names no value: {}",
            path.display(),
            err.message
        );
        let source = std::fs::read_to_string(&path).expect("readable");
        let rendered = dl_compiler::driver::render_run_error(&compiled.sources, &err);
        insta::with_settings!({
            snapshot_path => "../../tests/runtime_errors/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(common::stem(&path), format!("{source}\n---\n{rendered}"));
        });
    }
}
