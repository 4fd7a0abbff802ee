fn main() {
    lalrpop::Configuration::new()
        .emit_rerun_directives(true)
        .set_in_dir("src")
        .process()
        .expect("the grammar in src/syntax/grammar.lalrpop should build");
}
