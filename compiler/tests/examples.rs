//! Every example runs and prints what its `.out` file says.

mod common;

#[test]
fn examples_print_their_expected_output() {
    let files = common::dl_files("examples");
    assert!(files.len() >= 10, "expected at least 10 examples");
    for path in files {
        let (_, program) = common::compile_ok(&path);
        let value = dl_compiler::driver::run(&program, "main", Vec::new())
            .unwrap_or_else(|e| panic!("{}: run-time error: {}", path.display(), e.message));
        let expected_path = path.with_extension("out");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no expected output {}", path.display(), expected_path.display()));
        assert_eq!(value.to_string(), expected.trim_end(), "{}", path.display());
    }
}
