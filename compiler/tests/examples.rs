//! Every example (and every benchmark program) runs and prints what its
//! `.out` file says, and its gradients agree with finite differences.

mod common;

#[test]
fn examples_print_their_expected_output() {
    assert!(
        common::dl_files("examples").len() >= 10,
        "expected at least 10 examples"
    );
    assert!(common::dl_files("bench").len() >= 6, "expected the benchmark programs");
    for path in common::dl_files("examples")
        .into_iter()
        .chain(common::dl_files("bench"))
    {
        let (_, program) = common::compile_ok(&path);
        let value = dl_compiler::driver::run(&program, "main", Vec::new())
            .unwrap_or_else(|e| panic!("{}: run-time error: {}", path.display(), e.message));
        let expected_path = path.with_extension("out");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no expected output {}", path.display(), expected_path.display()));
        assert_eq!(value.to_string(), expected.trim_end(), "{}", path.display());
    }
}

/// Examples say which of their functions to check with a line
/// `-- check-grad: FUNC at POINT`: the gradient of FUNC at the arguments
/// POINT() returns must agree with finite differences.
#[test]
fn example_gradients_agree_with_finite_differences() {
    let mut checked = 0;
    for path in common::dl_files("examples")
        .into_iter()
        .chain(common::dl_files("bench"))
    {
        let text = std::fs::read_to_string(&path).expect("readable");
        for line in text.lines().filter_map(|l| l.strip_prefix("-- check-grad: ")) {
            let (func, point) = line.split_once(" at ").expect("`-- check-grad: FUNC at POINT`");
            let (_, program) = common::compile_ok(&path);
            let k = program.func(func).unwrap_or_else(|| panic!("no `{func}`")).params.len();
            let inputs = dl_compiler::driver::run(&program, point, Vec::new()).expect("the point evaluates");
            let args = match (k, inputs) {
                (1, v) => vec![v],
                (_, dl_compiler::core::value::Value::Tuple(items)) => items.to_vec(),
                (_, other) => panic!("{point}() must return a tuple, got {other}"),
            };
            let check =
                dl_compiler::ad::check::check_grad(&program, func, &args).unwrap_or_else(|e| panic!("{func}: {e}"));
            assert!(
                check.max_rel_error < 1e-6,
                "{}: {func}: relative error {:e}",
                path.display(),
                check.max_rel_error
            );
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} example gradients were checked");
}
