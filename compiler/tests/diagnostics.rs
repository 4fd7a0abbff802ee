//! Bad programs: each file under tests/diagnostics must fail to compile,
//! and its rendered diagnostics are snapshotted beside its source.

mod common;

#[test]
fn every_bad_program_is_reported() {
    let files = common::dl_files("tests/diagnostics");
    assert!(
        files.len() >= 40,
        "expected at least 40 bad programs, found {}",
        files.len()
    );
    for path in files {
        let compiled = common::compile(&path);
        assert!(compiled.has_errors(), "{} compiled without an error", path.display());
        let source = std::fs::read_to_string(&path).expect("readable");
        let rendered = compiled.render_diagnostics();
        // Every error points into the program, except a failed import.
        for d in compiled.diagnostics.iter().filter(|d| d.is_error()) {
            assert!(
                !d.labels.is_empty() || d.message.contains("cannot"),
                "{}: a diagnostic without a location: {}",
                path.display(),
                d.message
            );
        }
        insta::with_settings!({
            snapshot_path => "../../tests/diagnostics/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(common::stem(&path), format!("{source}\n---\n{rendered}"));
        });
    }
}
