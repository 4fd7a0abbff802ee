//! Helpers shared by the integration tests: where the repository's test
//! data lives, and one function per boundary.

#![allow(dead_code)]

use dl_compiler::core::ir::Program;
use dl_compiler::driver::{self, Compiled};
use std::path::{Path, PathBuf};

/// The repository root (the parent of the compiler crate).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

/// The `.dl` files of a folder under the repository, sorted by name.
pub fn dl_files(folder: &str) -> Vec<PathBuf> {
    let dir = repo().join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "dl"))
        .collect();
    files.sort();
    files
}

pub fn stem(path: &Path) -> String {
    path.file_stem().expect("a file name").to_string_lossy().into_owned()
}

/// Compiles a file under a short, stable name (for snapshots).
pub fn compile(path: &Path) -> Compiled {
    let text = std::fs::read_to_string(path).expect("a readable file");
    let name = format!("{}.dl", stem(path));
    let dir = path.parent().expect("a folder");
    // Imports resolve against the file's folder.
    struct InFolder<'a>(&'a Path, String, String);
    impl driver::Loader for InFolder<'_> {
        fn load(&self, p: &Path) -> std::io::Result<String> {
            if p == Path::new(&self.1) {
                Ok(self.2.clone())
            } else {
                std::fs::read_to_string(self.0.join(p))
            }
        }
    }
    driver::compile_with(Path::new(&name), &InFolder(dir, name.clone(), text))
}

/// Compiles a file that must be well typed; the checked core IR.
pub fn check_ok(path: &Path) -> (Compiled, Program) {
    let compiled = compile(path);
    assert!(
        !compiled.has_errors(),
        "{} does not compile:\n{}",
        path.display(),
        compiled.render_diagnostics()
    );
    let program = compiled.program.clone().expect("a program");
    (compiled, program)
}

/// Compiles a file that must be well typed, and prepares it to run.
pub fn compile_ok(path: &Path) -> (Compiled, Program) {
    let compiled = compile(path);
    assert!(
        !compiled.has_errors(),
        "{} does not compile:\n{}",
        path.display(),
        compiled.render_diagnostics()
    );
    let program = driver::prepare(&compiled).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (compiled, program)
}

/// The functions of `program` that come from the main file (its own
/// definitions, lifted lambdas and tests), not from the prelude.
pub fn own_functions(compiled: &Compiled, program: &Program) -> Program {
    let funcs = program
        .funcs
        .iter()
        .filter(|f| f.span.file == compiled.main_file)
        .cloned()
        .collect();
    Program {
        funcs,
        tests: program.tests.clone(),
    }
}
pub mod differential;
