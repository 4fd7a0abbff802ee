//! The `dl` command-line tool.

// The compiler allocates many small, short-lived nodes (IR, Cranelift's
// and the register allocator's tables); mimalloc makes compiling about
// 10% faster than the system allocator, with run times unchanged. It is
// built without transparent huge pages (Cargo feature `no_thp`): asking
// for them made one compile in four take up to 60 ms longer, while the
// kernel zeroed and compacted 2 MiB pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dl_compiler::core::ir::{DerivOp, Func, Program};
use dl_compiler::core::value::{value_to_json, Value};
use dl_compiler::driver::{self, Compiled};
use dl_compiler::{core, syntax};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "dl", version, about = "dl: a differentiable array language", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an entry point of a program and print its result.
    Run {
        #[command(flatten)]
        call: Call,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Run on the reference interpreter instead of native code.
        #[arg(long)]
        interp: bool,
    },
    /// Compile an entry point to native code and time its calls: the
    /// compile time (source to native code), then the fastest and median
    /// of the timed calls, after a warm-up.
    Bench {
        #[command(flatten)]
        call: Call,
        /// How many timed calls.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// How many times to compile, source to native code, each time
        /// from scratch: the compile time printed is their median, the
        /// first (in a process that has compiled nothing yet) apart.
        #[arg(long, default_value_t = 1)]
        compile_runs: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Compile a program ahead of time: an object file (or, with
    /// --shared, a shared library) exporting its entry points with a C
    /// ABI, and optionally their C header.
    Build(Build),
    /// Type-check a program and report every diagnostic.
    Check { file: PathBuf },
    /// Run the `test` declarations of a program.
    Test { file: PathBuf },
    /// Compare the gradient of an entry point with central finite
    /// differences and print the largest relative error.
    CheckGrad {
        file: PathBuf,
        /// The function to differentiate; it must return an f64.
        #[arg(short, long, default_value = "main")]
        entry: String,
        /// The point, in dl literal syntax.
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// The largest relative error accepted.
        #[arg(long, default_value_t = 1e-6)]
        tolerance: f64,
    },
    /// Print the cost vector of an entry point and of its gradient (with
    /// and without partial evaluation), measured by running them on the
    /// arguments: the cheap gradient principle, in figures.
    Cost {
        file: PathBuf,
        /// The function; for the gradient it must return an f64.
        #[arg(short, long, default_value = "main")]
        entry: String,
        /// The arguments, in dl literal syntax.
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// Print a program, or one entry point, at a stage of the compiler.
    Ir {
        file: PathBuf,
        /// The entry point to print (with the functions it uses); the whole
        /// program when absent.
        #[arg(short, long)]
        entry: Option<String>,
        /// The stage to print.
        #[arg(long, value_enum, default_value = "core")]
        stage: Stage,
        /// Print the gradient of the entry point instead.
        #[arg(long, group = "derivative", requires = "entry")]
        grad: bool,
        /// Print the forward-mode derivative (jvp) of the entry point.
        #[arg(long, group = "derivative", requires = "entry")]
        jvp: bool,
        /// Print the reverse-mode derivative (vjp) of the entry point.
        #[arg(long, group = "derivative", requires = "entry")]
        vjp: bool,
        /// Also write the dataflow graph of the printed function as Graphviz.
        #[arg(long, value_name = "FILE")]
        dot: Option<PathBuf>,
    },
}

/// A call of an entry point: the program, the entry and its arguments.
#[derive(Args)]
struct Call {
    /// The program.
    file: PathBuf,
    /// The entry point to call.
    #[arg(short, long, default_value = "main")]
    entry: String,
    /// Arguments in dl literal syntax, e.g. `[1.0, 2.0]` or `(3, true)`.
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    /// Read the arguments from a file holding a JSON array, one element
    /// per parameter.
    #[arg(long, value_name = "FILE", conflicts_with = "args")]
    args_json: Option<PathBuf>,
    /// Print the time each compiler stage took to stderr.
    #[arg(long)]
    timings: bool,
}

/// `dl build`.
#[derive(Args)]
struct Build {
    /// The program.
    #[arg(required_unless_present = "print_runtime_dir")]
    file: Option<PathBuf>,
    /// The object file (or shared library) to write.
    #[arg(short, long, value_name = "OUT", required_unless_present = "print_runtime_dir")]
    output: Option<PathBuf>,
    /// Also write the C header declaring the exported functions.
    #[arg(long, value_name = "H")]
    header: Option<PathBuf>,
    /// Export this entry point (repeatable); by default every definition
    /// of the file is exported.
    #[arg(long = "entry", value_name = "NAME")]
    entries: Vec<String>,
    /// Prefix every exported symbol with P.
    #[arg(long, value_name = "P", default_value = "")]
    prefix: String,
    /// Write a shared library (linked with the static runtime) instead of
    /// an object file.
    #[arg(long)]
    shared: bool,
    /// Generate code for any processor of this architecture instead of
    /// using this machine's instruction set extensions.
    #[arg(long)]
    portable: bool,
    /// Print the directory holding the runtime library `libdl_runtime.a`
    /// that object files link against, and exit.
    #[arg(long, exclusive = true)]
    print_runtime_dir: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Stage {
    /// The syntax tree of the file, as parsed.
    Ast,
    /// The typed core IR after checking (with --grad: the derivative read
    /// back from the unary form).
    Core,
    /// The unary form (with --grad or --vjp).
    Unary,
    /// The raw reverse-mode program, in unary form (with --grad or --vjp).
    Rev,
    /// After partial evaluation.
    Opt,
    /// The loop IR of the entry point (or of its derivative).
    Lir,
    /// The Cranelift IR of the entry point (or of its derivative), after
    /// Cranelift's optimisations, for unknown sizes.
    Clif,
}

/// Rust ignores SIGPIPE, so `dl ir ... | head` would make every later
/// print fail and panic; with the default action the process just ends
/// when the reader goes away, as a Unix filter should.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default has no
    // preconditions, and no other thread exists yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { call, json, interp } => run(&call, json, interp),
        Command::Bench {
            call,
            runs,
            compile_runs,
            json,
        } => bench(&call, runs, compile_runs, json),
        Command::Build(options) => build(&options),
        Command::Check { file } => check(&file),
        Command::Test { file } => test(&file),
        Command::Ir {
            file,
            entry,
            stage,
            grad,
            jvp,
            vjp,
            dot,
        } => {
            let op = match (grad, jvp, vjp) {
                (true, _, _) => Some(DerivOp::Grad),
                (_, true, _) => Some(DerivOp::Jvp),
                (_, _, true) => Some(DerivOp::Vjp),
                _ => None,
            };
            match op {
                Some(op) => ir_derivative(&file, entry.as_deref().unwrap_or("main"), op, stage, dot.as_deref()),
                None => ir(&file, entry.as_deref(), stage, dot.as_deref()),
            }
        }
        Command::CheckGrad {
            file,
            entry,
            args,
            tolerance,
        } => check_grad(&file, &entry, &args, tolerance),
        Command::Cost { file, entry, args } => cost(&file, &entry, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            if !message.is_empty() {
                eprint!("{message}");
                if !message.ends_with('\n') {
                    eprintln!();
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// Compiles a file; errors come back rendered, warnings go to stderr.
fn compile(file: &Path) -> Result<(Compiled, Program), String> {
    let compiled = front_end(file)?;
    let program = driver::prepare(&compiled)?;
    Ok((compiled, program))
}

/// [`compile`] for a call of `entry` alone, which is all it prepares.
fn compile_entry(file: &Path, entry: &str) -> Result<(Compiled, Program), String> {
    let compiled = front_end(file)?;
    let program = driver::prepare_entry(&compiled, entry)?;
    Ok((compiled, program))
}

/// Parses and checks a file; errors come back rendered, warnings go to
/// stderr.
fn front_end(file: &Path) -> Result<Compiled, String> {
    let compiled = driver::compile_file(file);
    if compiled.has_errors() {
        return Err(compiled.render_diagnostics());
    }
    if !compiled.diagnostics.is_empty() {
        eprint!("{}", compiled.render_diagnostics());
    }
    Ok(compiled)
}

fn run(call: &Call, json: bool, interp: bool) -> Result<(), String> {
    let timings = Timings::start(call.timings);
    let (compiled, program) = compile_entry(&call.file, &call.entry)?;
    let values = read_args(&program, call)?;
    let entry = call.entry.as_str();
    let value = if interp {
        driver::run(&program, entry, values)
    } else {
        driver::run_native(&program, entry, values)
    }
    .map_err(|e| driver::render_run_error(&compiled.sources, &e))?;
    timings.report();
    print_value(&value, json);
    Ok(())
}

/// `--timings`: the time of each compiler stage, printed to stderr.
struct Timings(bool);

impl Timings {
    fn start(on: bool) -> Timings {
        if on {
            dl_compiler::timings::enable();
        }
        Timings(on)
    }

    fn report(&self) {
        if self.0 {
            eprint!("{}", dl_compiler::timings::report());
        }
    }
}

/// The arguments of the call, from the command line or a JSON file.
fn read_args(program: &Program, call: &Call) -> Result<Vec<Value>, String> {
    let func = driver::entry(program, &call.entry).map_err(|e| format!("error: {e}"))?;
    match &call.args_json {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("error: cannot read `{}`: {e}", path.display()))?;
            driver::parse_args_json(func, &text)
        }
        None => driver::parse_args(func, &call.args),
    }
    .map_err(|e| format!("error: {e}"))
}

fn bench(call: &Call, runs: usize, compile_runs: usize, json: bool) -> Result<(), String> {
    use dl_compiler::codegen::jit::Jit;
    use std::time::Instant;
    // Compile time is source to native code; reading the arguments is not
    // part of it.
    let timings = Timings::start(call.timings);
    let entry = call.entry.as_str();
    let mut compile_times = Vec::new();
    let mut values = None;
    let (compiled, mut jit) = loop {
        let start = Instant::now();
        let (compiled, program) = compile_entry(&call.file, &call.entry)?;
        let front_end = start.elapsed();
        if values.is_none() {
            values = Some(read_args(&program, call)?);
        }
        let args = values.as_deref().unwrap_or_default();
        let start = Instant::now();
        let mut jit = Jit::new(program).map_err(|e| format!("error: {e}"))?;
        let setup = start.elapsed();
        let code = jit
            .compile(entry, args)
            .map_err(|e| driver::render_run_error(&compiled.sources, &e))?;
        compile_times.push((front_end + setup + code).as_secs_f64() * 1e3);
        if compile_times.len() >= compile_runs.max(1) {
            break (compiled, jit);
        }
    };
    let values = values.unwrap_or_default();
    let first_compile_ms = compile_times[0];
    let compile_ms = median(&mut compile_times);
    timings.report();
    let render = |e| driver::render_run_error(&compiled.sources, &e);
    // Warm caches and the thread pool: a few calls, at least 0.1 s.
    let warm = Instant::now();
    let mut warmups = 0;
    while warmups < 3 || (warm.elapsed().as_secs_f64() < 0.1 && warmups < 1000) {
        jit.time_calls(entry, &values, 1).map_err(render)?;
        warmups += 1;
    }
    let runs = runs.max(1);
    let mut times: Vec<f64> = jit
        .time_calls(entry, &values, runs)
        .map_err(render)?
        .iter()
        .map(|t| t.as_secs_f64() * 1e3)
        .collect();
    let median_ms = median(&mut times);
    let min_ms = times[0];
    if json {
        let object = serde_json::json!({
            "file": call.file.display().to_string(),
            "entry": entry,
            "compile_ms": compile_ms,
            "first_compile_ms": first_compile_ms,
            "compile_runs": compile_times.len(),
            "min_ms": min_ms,
            "median_ms": median_ms,
            "runs": runs,
            "warmup_runs": warmups,
        });
        println!("{object}");
    } else {
        println!("compile_ms {compile_ms:.3}");
        if compile_times.len() > 1 {
            println!("first_compile_ms {first_compile_ms:.3}");
        }
        println!("min_ms     {min_ms:.6}");
        println!("median_ms  {median_ms:.6}");
        println!("runs       {runs}");
    }
    Ok(())
}

/// The median of `xs`, which it sorts.
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn build(options: &Build) -> Result<(), String> {
    use dl_compiler::codegen::{c_abi, object::ObjectOptions};
    if options.print_runtime_dir {
        println!("{}", runtime_dir()?.display());
        return Ok(());
    }
    let (Some(file), Some(output)) = (&options.file, &options.output) else {
        return Err("error: `dl build` needs a program and an output file (-o)".to_string());
    };
    let (compiled, program) = compile(file)?;
    let (entries, notes) = driver::exported_entries(&compiled, &program, &options.entries, &options.prefix)
        .map_err(|e| format!("error: {e}"))?;
    for note in notes {
        eprintln!("{note}");
    }
    let object_options = ObjectOptions {
        prefix: options.prefix.clone(),
        portable: options.portable,
        ..ObjectOptions::default()
    };
    let object =
        driver::build_object(&compiled, &program, &entries, &object_options).map_err(|e| format!("error: {e}"))?;
    if options.shared {
        let symbols: Vec<&str> = object.signatures.iter().map(|s| s.symbol.as_str()).collect();
        link_shared(&object.bytes, &symbols, output)?;
    } else {
        write_file(output, object.bytes.as_slice())?;
    }
    if let Some(header) = &options.header {
        let name = header
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        write_file(
            header,
            c_abi::header(&header_guard(&name), &object.signatures).as_bytes(),
        )?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("error: cannot write `{}`: {e}", path.display()))
}

/// The include guard of a header named `name`: `prog.h` -> `PROG_H`.
fn header_guard(name: &str) -> String {
    let guard: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    match guard.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => guard,
        _ => format!("DL_{guard}"),
    }
}

/// The runtime library's name, as the linker looks for `-ldl_runtime`.
const RUNTIME_LIB: &str = "libdl_runtime.a";

/// The directory of `libdl_runtime.a`: `DL_RUNTIME_DIR` when set, else
/// the directory of the running `dl` (where `cargo build --release` puts
/// both).
fn runtime_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("DL_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .ok_or("error: cannot find the directory of the running `dl`")?,
    };
    if dir.join(RUNTIME_LIB).is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "error: the runtime library `{RUNTIME_LIB}` is not in `{}`\n  \
             build it with `cargo build --release` (it is written beside `dl`), \
             or set DL_RUNTIME_DIR to the directory that holds it",
            dir.display()
        ))
    }
}

/// Links an object file into the shared library `output` with the static
/// runtime, exporting only `symbols` and the runtime's C API.
fn link_shared(object: &[u8], symbols: &[&str], output: &Path) -> Result<(), String> {
    let dir = runtime_dir()?;
    let scratch = std::env::temp_dir().join(format!("dl-build-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("error: cannot create `{}`: {e}", scratch.display()))?;
    let result = (|| {
        let object_path = scratch.join("program.o");
        write_file(&object_path, object)?;
        let api = ["dl_last_error", "dl_free", "dl_set_num_threads"];
        let exported: Vec<String> = symbols.iter().chain(&api).map(|s| format!("{s};")).collect();
        let script = scratch.join("exports.map");
        write_file(
            &script,
            format!("{{\n  global: {}\n  local: *;\n}};\n", exported.join(" ")).as_bytes(),
        )?;
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
        let mut command = std::process::Command::new(&cc);
        command.arg("-shared").arg("-o").arg(output).arg(&object_path);
        // The runtime's C API is pulled in even though the object does not
        // call it, so that the library's users can.
        for name in api {
            command.arg(format!("-Wl,--undefined={name}"));
        }
        command
            .arg(format!("-Wl,--version-script={}", script.display()))
            .arg("-L")
            .arg(&dir)
            .args(["-ldl_runtime", "-lpthread", "-lm", "-ldl"]);
        let out = command
            .output()
            .map_err(|e| format!("error: cannot run the C compiler `{cc}` to link: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "error: linking `{}` failed:\n{}",
                output.display(),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })();
    // Best effort: a leftover scratch directory is harmless.
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn print_value(value: &Value, json: bool) {
    if json {
        println!("{}", value_to_json(value));
    } else {
        println!("{value}");
    }
}

fn check(file: &Path) -> Result<(), String> {
    let compiled = driver::compile_file(file);
    let rendered = compiled.render_diagnostics();
    if compiled.has_errors() {
        let count = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
        let plural = if count == 1 { "error" } else { "errors" };
        return Err(format!("{rendered}{count} {plural} in `{}`", file.display()));
    }
    eprint!("{rendered}");
    println!("`{}` is well typed", file.display());
    Ok(())
}

fn test(file: &Path) -> Result<(), String> {
    let (compiled, program) = compile(file)?;
    let (mut passed, mut failed) = (0, 0);
    for t in &program.tests {
        match driver::run(&program, &t.func, Vec::new()) {
            Ok(Value::Bool(true)) => {
                passed += 1;
                println!("test {} ... ok", t.name);
            }
            Ok(other) => {
                failed += 1;
                println!("test {} ... FAILED (the test evaluated to {other})", t.name);
                println!("  at {}", compiled.sources.location(t.span));
            }
            Err(e) => {
                failed += 1;
                println!("test {} ... FAILED with a run-time error", t.name);
                print!("{}", driver::render_run_error(&compiled.sources, &e));
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        Err(String::new())
    } else {
        Ok(())
    }
}

fn cost(file: &Path, entry: &str, args: &[String]) -> Result<(), String> {
    use dl_compiler::opt::cost::{run_with_cost, Cost};
    let compiled = driver::compile_file(file);
    if compiled.has_errors() {
        return Err(compiled.render_diagnostics());
    }
    let program = driver::prepare(&compiled)?;
    let func = driver::entry(&program, entry).map_err(|e| format!("error: {e}"))?;
    let values = driver::parse_args(func, args).map_err(|e| format!("error: {e}"))?;
    let run = |p: &Program, f: &str| {
        run_with_cost(p, f, values.clone()).map_err(|e| driver::render_run_error(&compiled.sources, &e))
    };
    let (_, primal) = run(&program, entry)?;
    let mut rows: Vec<(String, Cost)> = vec![(entry.to_string(), primal)];
    if func.ret == dl_compiler::core::ir::Type::F64 && !func.params.is_empty() {
        let checked = compiled.program.clone().ok_or_else(|| compiled.render_diagnostics())?;
        let (raw, gradient) = dl_compiler::ad::check::operator_entry(&checked, DerivOp::Grad, entry)
            .map_err(|e| format!("error: {e}"))?;
        let (_, raw_cost) = run(&raw, &gradient)?;
        let (_, opt_cost) = run(&dl_compiler::opt::optimize(&raw), &gradient)?;
        rows.push((format!("grad({entry}) unoptimised"), raw_cost));
        rows.push((format!("grad({entry})"), opt_cost));
    }
    println!(
        "{:<28} {:>11} {:>11} {:>11} {:>11} {:>7}",
        "", "flops", "memory", "allocations", "total", "ratio"
    );
    for (name, c) in &rows {
        let ratio = c.total() as f64 / primal.total().max(1) as f64;
        println!(
            "{name:<28} {:>11} {:>11} {:>11} {:>11} {ratio:>7.2}",
            c.flops,
            c.memory,
            c.allocations,
            c.total()
        );
    }
    Ok(())
}

fn check_grad(file: &Path, entry: &str, args: &[String], tolerance: f64) -> Result<(), String> {
    let (_, program) = compile(file)?;
    let func = driver::entry(&program, entry).map_err(|e| format!("error: {e}"))?;
    let values = driver::parse_args(func, args).map_err(|e| format!("error: {e}"))?;
    let check = dl_compiler::ad::check::check_grad(&program, entry, &values).map_err(|e| format!("error: {e}"))?;
    println!(
        "{:>6} {:>24} {:>24} {:>10}",
        "input", "gradient", "finite differences", "rel error"
    );
    for (i, (g, fd)) in check.gradient.iter().zip(&check.finite_differences).enumerate() {
        let err = dl_compiler::ad::check::relative_error(*g, *fd);
        println!("{i:>6} {g:>24.16e} {fd:>24.16e} {err:>10.1e}");
    }
    println!("largest relative error: {:.2e}", check.max_rel_error);
    if check.max_rel_error > tolerance {
        return Err(format!(
            "error: the gradient differs from finite differences by more than {tolerance:e}"
        ));
    }
    Ok(())
}

fn ir(file: &Path, entry: Option<&str>, stage: Stage, dot: Option<&Path>) -> Result<(), String> {
    if let Stage::Ast = stage {
        let compiled = driver::compile_file(file);
        let module = compiled.main_module();
        let items: Vec<_> = module
            .items
            .iter()
            .filter(|item| match (item, entry) {
                (syntax::ast::Item::Def(d), Some(name)) => d.name.name == name,
                (_, Some(_)) => false,
                (_, None) => true,
            })
            .cloned()
            .collect();
        if let (true, Some(name)) = (items.is_empty(), entry) {
            return Err(format!("error: `{}` defines no `{name}`", file.display()));
        }
        print!("{}", syntax::print_module(&syntax::ast::Module { items }));
        return Ok(());
    }
    let compiled = driver::compile_file(file);
    if compiled.has_errors() {
        return Err(compiled.render_diagnostics());
    }
    let checked = compiled.program.clone().ok_or_else(|| compiled.render_diagnostics())?;
    let program = match stage {
        Stage::Core => checked,
        Stage::Opt => dl_compiler::opt::optimize(&driver::prepare(&compiled)?),
        Stage::Unary | Stage::Rev => {
            return Err("error: the `unary` and `rev` stages show a derivative: add --grad or --vjp".to_string())
        }
        Stage::Lir | Stage::Clif => {
            let name = entry.ok_or("error: the `lir` and `clif` stages show one entry point: add --entry")?;
            return print_native_stage(&driver::prepare(&compiled)?, name, None, stage);
        }
        Stage::Ast => unreachable!("handled above"),
    };
    let program = match entry {
        None => program,
        Some(name) => {
            driver::entry(&program, name).map_err(|e| format!("error: {e}"))?;
            dl_compiler::stages::reachable(&program, name)
        }
    };
    print!("{}", core::print::print_program(&program));
    if let (Some(path), Some(first)) = (dot, program.funcs.first()) {
        write_dot(path, first)?;
    }
    Ok(())
}

fn ir_derivative(file: &Path, entry: &str, op: DerivOp, stage: Stage, dot: Option<&Path>) -> Result<(), String> {
    let stage = match stage {
        Stage::Unary => dl_compiler::stages::Stage::Unary,
        Stage::Rev => dl_compiler::stages::Stage::Rev,
        Stage::Core => dl_compiler::stages::Stage::Core,
        Stage::Opt => dl_compiler::stages::Stage::Opt,
        Stage::Ast => return Err("error: a derivative has no syntax tree; use --stage unary, rev, core or opt".into()),
        Stage::Lir | Stage::Clif => {
            let (_, program) = compile(file)?;
            return print_native_stage(&program, entry, Some(op), stage);
        }
    };
    let (_, program) = compile(file)?;
    driver::entry(&program, entry).map_err(|e| format!("error: {e}"))?;
    let (text, main) =
        dl_compiler::stages::derivative_stage(&program, entry, op, stage).map_err(|e| format!("error: {e}"))?;
    print!("{text}");
    if let Some(path) = dot {
        write_dot(path, &main)?;
    }
    Ok(())
}

/// Prints the loop IR or the Cranelift IR of an entry point or of its
/// derivative.
fn print_native_stage(program: &Program, entry: &str, op: Option<DerivOp>, stage: Stage) -> Result<(), String> {
    let func = driver::lower_entry(program, entry, op).map_err(|e| format!("error: {e}"))?;
    match stage {
        Stage::Lir => print!("{}", dl_compiler::lower::print::print(&func)),
        _ => {
            let text = dl_compiler::codegen::jit::clif_text(&func, &[]).map_err(|e| format!("error: {e}"))?;
            print!("{text}");
        }
    }
    Ok(())
}

fn write_dot(path: &Path, func: &Func) -> Result<(), String> {
    std::fs::write(path, core::dot::dataflow_dot(func))
        .map_err(|e| format!("error: cannot write `{}`: {e}", path.display()))
}
