//! Differential testing against the core interpreter: the corpus of entry
//! points the interpreter's tests run (test declarations, examples and
//! benchmark programs with their gradients, the derivative programs'
//! functions and derivatives, run-time errors), each handed to a back end's
//! check, and the comparison of values that allows reassociated sums.

use super::{compile_ok, dl_files, stem};
use dl_compiler::ad::check::operator_entry;
use dl_compiler::core::interp;
use dl_compiler::core::ir::{DerivOp, Program};
use dl_compiler::core::value::Value;
use dl_compiler::lower::lir::Inst;

/// True when LIR `code` may sum in another order than the interpreter.
pub fn reassociates(code: &[Inst]) -> bool {
    code.iter().any(|inst| match inst {
        Inst::For { hint, body, .. } => !hint.reductions.is_empty() || !hint.summed.is_empty() || reassociates(body),
        Inst::If { then, els, .. } => reassociates(then) || reassociates(els),
        Inst::While { cond, body, .. } => reassociates(cond) || reassociates(body),
        Inst::Call { func, .. } => matches!(*func, "dl_dot" | "dl_gemm" | "dl_gemv"),
        _ => false,
    })
}

fn same_f64(a: f64, b: f64, tolerant: bool) -> bool {
    if a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) {
        return true;
    }
    tolerant && (a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()))
}

/// Equal values: bitwise, or within 1e-12 relative when `tolerant`.
pub fn same_value(a: &Value, b: &Value, tolerant: bool) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => same_f64(*x, *y, tolerant),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same_value(x, y, tolerant))
        }
        (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same_value(x, y, tolerant))
        }
        _ => a == b,
    }
}

pub fn run(program: &Program, func: &str, args: Vec<Value>) -> Value {
    interp::run(program, func, args).unwrap_or_else(|e| panic!("{func}: {}", e.message))
}

/// The arguments of a function of `k` parameters: `inputs` itself, or the
/// fields of the tuple it is.
pub fn args_of(inputs: Value, k: usize) -> Vec<Value> {
    match (k, inputs) {
        (1, v) => vec![v],
        (_, Value::Tuple(items)) if items.len() == k => items.to_vec(),
        (_, other) => panic!("expected a tuple of {k} inputs, got {other}"),
    }
}

/// A back end's check of one entry point against the interpreter.
pub type Check = fn(&Program, &str, &[Value]) -> Result<(), String>;

/// Checks entries and collects failures as `file: entry: problem`.
pub struct Checker {
    check: Check,
    checked: usize,
    failures: Vec<String>,
}

impl Checker {
    pub fn new(check: Check) -> Checker {
        Checker {
            check,
            checked: 0,
            failures: Vec::new(),
        }
    }

    pub fn entry(&mut self, file: &str, program: &Program, entry: &str, args: &[Value]) {
        self.checked += 1;
        if let Err(e) = (self.check)(program, entry, args) {
            self.failures.push(format!("{file}: {entry}: {e}"));
        }
    }

    pub fn derivative(&mut self, file: &str, program: &Program, op: DerivOp, f: &str, args: &[Value]) {
        match operator_entry(program, op, f) {
            Ok((with_op, entry)) => {
                let with_op = dl_compiler::opt::optimize(&with_op);
                self.entry(file, &with_op, &entry, args)
            }
            Err(e) => self
                .failures
                .push(format!("{file}: {} of {f}: {}", op.name(), e.message)),
        }
    }

    pub fn tests(&mut self, file: &str, program: &Program) {
        for t in &program.tests {
            self.entry(file, program, &t.func, &[]);
        }
    }

    pub fn finish(self, at_least: usize) {
        assert!(
            self.failures.is_empty(),
            "{} failures:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        assert!(self.checked >= at_least, "only {} entries checked", self.checked);
        println!("{} entries agree", self.checked);
    }
}

/// The `test` declarations of tests/programs.
pub fn test_declarations(check: Check) {
    let mut c = Checker::new(check);
    for path in dl_files("tests/programs") {
        let (_, program) = compile_ok(&path);
        c.tests(&stem(&path), &program);
    }
    c.finish(100);
}

/// The `main` of every example and benchmark program, and each function
/// named by a `-- check-grad: FUNC at POINT` line with its gradient.
pub fn examples_and_gradients(check: Check) {
    let mut c = Checker::new(check);
    for path in dl_files("examples").into_iter().chain(dl_files("bench")) {
        let name = stem(&path);
        let (_, program) = compile_ok(&path);
        c.entry(&name, &program, "main", &[]);
        let text = std::fs::read_to_string(&path).expect("readable");
        for line in text.lines().filter_map(|l| l.strip_prefix("-- check-grad: ")) {
            let (func, point) = line.split_once(" at ").expect("`-- check-grad: FUNC at POINT`");
            let k = program.func(func).expect("the checked function").params.len();
            let args = args_of(run(&program, point, Vec::new()), k);
            c.entry(&name, &program, func, &args);
            c.derivative(&name, &program, DerivOp::Grad, func, &args);
        }
    }
    c.finish(20);
}

/// `f` of every program of tests/derivatives at `inputs()`, its gradient,
/// its forward derivative along a fixed direction (as tests/derivatives.rs)
/// and the file's tests.
pub fn derivative_programs(check: Check) {
    let mut c = Checker::new(check);
    for path in dl_files("tests/derivatives") {
        let name = stem(&path);
        let (_, program) = compile_ok(&path);
        let k = program.func("f").expect("an f").params.len();
        let args = args_of(run(&program, "inputs", Vec::new()), k);
        c.entry(&name, &program, "f", &args);
        c.derivative(&name, &program, DerivOp::Grad, "f", &args);
        let mut t = (0..).map(|i: usize| ((i * 7 + 3) % 11) as f64 / 11.0 - 0.4);
        let mut jvp_args = args.clone();
        jvp_args.extend(args.iter().map(|a| a.with_f64_leaves(&mut t)).collect::<Vec<_>>());
        c.derivative(&name, &program, DerivOp::Jvp, "f", &jvp_args);
        c.tests(&name, &program);
    }
    c.finish(120);
}

/// The `main` of every program of tests/runtime_errors.
pub fn run_time_errors(check: Check) {
    let mut c = Checker::new(check);
    for path in dl_files("tests/runtime_errors") {
        let (_, program) = compile_ok(&path);
        c.entry(&stem(&path), &program, "main", &[]);
    }
    c.finish(10);
}
