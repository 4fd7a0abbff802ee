//! The one place that knows the order of the passes: source files to
//! checked core IR, and core IR to values.

use crate::check::{self, SourceModule};
use crate::core::interp::{self, RunError};
use crate::core::ir::{Func, Program, Type};
use crate::core::value::{self, Value};
use crate::diagnostics::{Diagnostic, SourceMap, Span};
use crate::lower::lir::Func as LirFunc;
use crate::syntax::{self, ast};
use crate::timings;
use std::path::{Path, PathBuf};

/// The prelude, always in scope. It is file 0 of every compilation.
pub const PRELUDE: &str = include_str!("../../stdlib/prelude.dl");

/// Where a compilation reads its files from: the file system, or memory
/// (for tests).
pub trait Loader {
    fn load(&self, path: &Path) -> std::io::Result<String>;
}

pub struct FileLoader;

impl Loader for FileLoader {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// The result of compiling a program to core IR.
pub struct Compiled {
    pub sources: SourceMap,
    /// The parsed files, in file-id order (the prelude first).
    pub modules: Vec<ast::Module>,
    pub main_file: u32,
    /// `None` when there are errors.
    pub program: Option<Program>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn render_diagnostics(&self) -> String {
        crate::diagnostics::render(&self.sources, &self.diagnostics)
    }

    pub fn main_module(&self) -> &ast::Module {
        &self.modules[self.main_file as usize]
    }
}

/// Compiles the file at `path` with its imports.
pub fn compile_file(path: &Path) -> Compiled {
    compile_with(path, &FileLoader)
}

/// Compiles a program given as text; imports are resolved against the
/// current directory.
pub fn compile_source(name: &str, text: &str) -> Compiled {
    struct Single<'t>(&'t str, &'t str);
    impl Loader for Single<'_> {
        fn load(&self, path: &Path) -> std::io::Result<String> {
            if path == Path::new(self.0) {
                Ok(self.1.to_string())
            } else {
                std::fs::read_to_string(path)
            }
        }
    }
    compile_with(Path::new(name), &Single(name, text))
}

/// Parses the prelude, the main file and (transitively) its imports, then
/// checks the whole program.
pub fn compile_with(path: &Path, loader: &dyn Loader) -> Compiled {
    let mut sources = SourceMap::new();
    let mut modules = Vec::new();
    let mut diagnostics = Vec::new();
    let prelude = sources.add("<prelude>", PRELUDE);
    let (m, d) = timings::time("parse", || syntax::parse(prelude, PRELUDE));
    modules.push(m);
    diagnostics.extend(d);
    let mut loaded: Vec<PathBuf> = Vec::new();
    let main_file = match loader.load(path) {
        Ok(text) => {
            let id = sources.add(path.display().to_string(), text.clone());
            let (m, d) = timings::time("parse", || syntax::parse(id, &text));
            modules.push(m);
            diagnostics.extend(d);
            loaded.push(normalize(path));
            id
        }
        Err(e) => {
            diagnostics.push(Diagnostic::bare(format!("cannot read `{}`: {e}", path.display())));
            return Compiled {
                sources,
                modules,
                main_file: prelude,
                program: None,
                diagnostics,
            };
        }
    };
    // Imports, breadth first; a file imported twice is loaded once.
    let mut next = main_file as usize;
    let mut dirs = vec![PathBuf::new(), path.parent().map(Path::to_path_buf).unwrap_or_default()];
    while next < modules.len() {
        let imports: Vec<(String, Span)> = modules[next]
            .items
            .iter()
            .filter_map(|item| match item {
                ast::Item::Import { path, span } => Some((path.clone(), *span)),
                _ => None,
            })
            .collect();
        let dir = dirs[next].clone();
        for (rel, span) in imports {
            let full = dir.join(&rel);
            let key = normalize(&full);
            if loaded.contains(&key) {
                continue;
            }
            match loader.load(&full) {
                Ok(text) => {
                    let id = sources.add(full.display().to_string(), text.clone());
                    let (m, d) = timings::time("parse", || syntax::parse(id, &text));
                    modules.push(m);
                    diagnostics.extend(d);
                    dirs.push(full.parent().map(Path::to_path_buf).unwrap_or_default());
                    loaded.push(key);
                }
                Err(e) => diagnostics.push(Diagnostic::error(
                    format!("cannot import `{rel}`: {e}"),
                    span,
                    format!("looked for `{}`", full.display()),
                )),
            }
        }
        next += 1;
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Compiled {
            sources,
            modules,
            main_file,
            program: None,
            diagnostics,
        };
    }
    let inputs: Vec<SourceModule> = modules
        .iter()
        .enumerate()
        .map(|(i, m)| SourceModule {
            file: i as u32,
            module: m,
        })
        .collect();
    let (program, d) = timings::time("check", || check::check(&inputs, main_file));
    diagnostics.extend(d);
    Compiled {
        sources,
        modules,
        main_file,
        program,
        diagnostics,
    }
}

fn normalize(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// An entry point: a first-order function a user may call by name.
pub fn entry<'p>(program: &'p Program, name: &str) -> Result<&'p Func, String> {
    match program.func(name) {
        Some(f) if !name.contains('$') => Ok(f),
        _ => {
            let mut names: Vec<&str> = program
                .funcs
                .iter()
                .map(|f| f.name.as_str())
                .filter(|n| !n.contains('$'))
                .collect();
            names.sort();
            Err(format!(
                "there is no entry point `{name}`; the entry points are: {}",
                names.join(", ")
            ))
        }
    }
}

/// What `func` takes: "no arguments", "1 argument (x: f64)", "2 arguments (...)".
fn takes(func: &Func) -> String {
    match func.params.len() {
        0 => "no arguments".to_string(),
        1 => format!("1 argument ({})", describe_params(func)),
        n => format!("{n} arguments ({})", describe_params(func)),
    }
}

/// Reads command-line arguments in dl literal syntax for `func`.
pub fn parse_args(func: &Func, args: &[String]) -> Result<Vec<Value>, String> {
    if args.len() != func.params.len() {
        return Err(format!(
            "`{}` takes {}, but {} given",
            func.name,
            takes(func),
            if args.len() == 1 {
                "1 was".to_string()
            } else {
                format!("{} were", args.len())
            }
        ));
    }
    let mut out = Vec::new();
    for (i, (p, text)) in func.params.iter().zip(args).enumerate() {
        let v = value::parse_value(text, &p.ty)
            .map_err(|e| format!("argument {} (`{}: {}`) is malformed: {e}", i + 1, p.name, p.ty))?;
        check_regular(&v).map_err(|e| format!("argument {} (`{}`): {e}", i + 1, p.name))?;
        out.push(v);
    }
    Ok(out)
}

/// Reads arguments from a JSON array.
pub fn parse_args_json(func: &Func, json: &str) -> Result<Vec<Value>, String> {
    let parsed: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("the arguments are not valid JSON: {e}"))?;
    let serde_json::Value::Array(items) = parsed else {
        return Err("the JSON arguments must be an array with one element per parameter".to_string());
    };
    if items.len() != func.params.len() {
        return Err(format!(
            "`{}` takes {}, but the JSON array has {}",
            func.name,
            takes(func),
            items.len()
        ));
    }
    let mut out = Vec::new();
    for (i, (p, item)) in func.params.iter().zip(&items).enumerate() {
        let v = value::value_from_json(item, &p.ty)
            .map_err(|e| format!("argument {} (`{}: {}`) is malformed: {e}", i + 1, p.name, p.ty))?;
        check_regular(&v).map_err(|e| format!("argument {} (`{}`): {e}", i + 1, p.name))?;
        out.push(v);
    }
    Ok(out)
}

fn describe_params(func: &Func) -> String {
    let parts: Vec<String> = func.params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect();
    parts.join(", ")
}

/// Arrays of arrays must be regular: every row of one length.
pub fn check_regular(v: &Value) -> Result<(), String> {
    match v {
        Value::Array(items) => {
            let mut len = None;
            for (i, item) in items.iter().enumerate() {
                if let Value::Array(row) = item {
                    match len {
                        None => len = Some(row.len()),
                        Some(l) if l != row.len() => {
                            return Err(format!(
                            "the rows of an array must have one length, but row 0 has {l} elements and row {i} has {}",
                            row.len()
                        ))
                        }
                        Some(_) => {}
                    }
                }
                check_regular(item)?;
            }
            Ok(())
        }
        Value::Tuple(items) => items.iter().try_for_each(check_regular),
        Value::F64(_) | Value::I64(_) | Value::Bool(_) => Ok(()),
    }
}

/// The program ready to run: derivative operators expanded into the
/// functions forward and reverse mode make, then partially evaluated.
/// Errors come back rendered.
pub fn prepare(compiled: &Compiled) -> Result<Program, String> {
    let expanded = expand(compiled, None)?;
    Ok(timings::time("opt", || crate::opt::optimize(&expanded)))
}

/// [`prepare`] for the entry point `name` alone: the program holds that
/// one function, optimised. Optimising a function inlines every call it
/// makes, so it needs no other function, and the rest of the program (the
/// prelude, the functions derivatives are made of) is never optimised:
/// most of [`prepare`]'s time when only one entry point will run.
pub fn prepare_entry(compiled: &Compiled, name: &str) -> Result<Program, String> {
    if let Some(program) = &compiled.program {
        entry(program, name).map_err(|e| format!("error: {e}"))?;
    }
    let expanded = expand(compiled, Some(name))?;
    let func = expanded.func(name).expect("derivatives keep every function");
    let func = timings::time("opt", || crate::opt::optimize_func(&expanded, func));
    Ok(Program {
        funcs: vec![func],
        tests: Vec::new(),
    })
}

/// The checked program with its derivative operators expanded; with a
/// `root`, only the functions it uses, so that running one entry point
/// never differentiates the others (a primal's compile then costs no
/// reverse mode of its gradient beside it in the file).
fn expand(compiled: &Compiled, root: Option<&str>) -> Result<Program, String> {
    let program = compiled.program.as_ref().ok_or_else(|| compiled.render_diagnostics())?;
    let used;
    let program = match root {
        Some(root) => {
            used = crate::stages::reachable(program, root);
            &used
        }
        None => program,
    };
    timings::time("ad", || crate::ad::expand_derivatives(program)).map_err(|e| {
        let d = match e.span {
            Some(span) => Diagnostic::error(e.message.clone(), span, "cannot differentiate this"),
            None => Diagnostic::bare(e.message.clone()),
        };
        crate::diagnostics::render(&compiled.sources, &[d])
    })
}

/// Runs an entry point of a prepared program on the reference interpreter.
pub fn run(program: &Program, name: &str, args: Vec<Value>) -> Result<Value, RunError> {
    interp::run(program, name, args)
}

/// Runs an entry point of a prepared program as native code (the JIT).
pub fn run_native(program: &Program, name: &str, args: Vec<Value>) -> Result<Value, RunError> {
    let mut jit = crate::codegen::jit::Jit::new(program.clone()).map_err(|e| RunError {
        message: e.to_string(),
        span: None,
    })?;
    jit.call(name, args)
}

/// A function of a prepared program in the loop IR: an entry point, or with
/// `op` the derivative of one (expanded and optimised like a program).
pub fn lower_entry(program: &Program, name: &str, op: Option<crate::core::ir::DerivOp>) -> Result<LirFunc, String> {
    entry(program, name)?;
    let lowered = match op {
        None => crate::lower::from_core::lower(program, name),
        Some(op) => {
            let (expanded, entry) = crate::ad::check::operator_entry(program, op, name).map_err(|e| e.message)?;
            crate::lower::from_core::lower(&crate::opt::optimize(&expanded), &entry)
        }
    };
    lowered.map_err(|e| e.to_string())
}

/// The entry points an object file exports: `requested` (checked, in
/// order, each once), or when it is empty every definition of the main
/// file whose name can be a C symbol under `prefix`. The second list
/// holds a note per definition left out.
pub fn exported_entries(
    compiled: &Compiled,
    program: &Program,
    requested: &[String],
    prefix: &str,
) -> Result<(Vec<String>, Vec<String>), String> {
    use crate::codegen::object::entry_symbol;
    let mut names = Vec::new();
    let mut notes = Vec::new();
    if requested.is_empty() {
        for f in &program.funcs {
            if f.name.contains('$') || f.span.file != compiled.main_file {
                continue;
            }
            match entry_symbol(prefix, &f.name) {
                Ok(_) => names.push(f.name.clone()),
                Err(e) => notes.push(format!("note: not exported: {e}")),
            }
        }
        if names.is_empty() {
            return Err(format!(
                "`{}` has no entry point to export",
                compiled.sources.get(compiled.main_file).name
            ));
        }
    } else {
        for name in requested {
            entry(program, name)?;
            entry_symbol(prefix, name)?;
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    Ok((names, notes))
}

/// An object file exporting `entries` of a prepared program, with the C
/// ABI.
pub fn build_object(
    compiled: &Compiled,
    program: &Program,
    entries: &[String],
    options: &crate::codegen::object::ObjectOptions,
) -> Result<crate::codegen::object::Object, String> {
    let mut object = crate::codegen::object::build_object(program, &compiled.sources, entries, options)
        .map_err(|e| e.to_string())?;
    // The header's comments show the signatures as written, with their
    // size variables: they say which sizes must be equal.
    for (name, sig) in entries.iter().zip(&mut object.signatures) {
        if let Some(text) = written_signature(compiled, program, name) {
            sig.dl_signature = text;
        }
    }
    Ok(object)
}

/// The signature of the definition `name` of the main file as its source
/// writes it (the result type inferred when it is not written).
fn written_signature(compiled: &Compiled, program: &Program, name: &str) -> Option<String> {
    use crate::syntax::print::print_type;
    let def = compiled.main_module().items.iter().find_map(|item| match item {
        ast::Item::Def(d) if d.name.name == name => Some(d),
        _ => None,
    })?;
    let params: Vec<String> = def
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name.name, print_type(&p.ty)))
        .collect();
    let ret = match &def.ret {
        Some(t) => print_type(t),
        None => program.func(name)?.ret.to_string(),
    };
    Some(format!("{name}({}) -> {ret}", params.join(", ")))
}

/// Renders a run-time error as a diagnostic with the failing expression
/// underlined.
pub fn render_run_error(sources: &SourceMap, err: &RunError) -> String {
    let d = match err.span {
        Some(span) => Diagnostic::error(err.message.clone(), span, "while evaluating this"),
        None => Diagnostic::bare(err.message.clone()),
    };
    crate::diagnostics::render(sources, &[d])
}

/// The parameter types of an entry point, for messages.
pub fn param_types(func: &Func) -> Vec<Type> {
    func.params.iter().map(|p| p.ty.clone()).collect()
}
