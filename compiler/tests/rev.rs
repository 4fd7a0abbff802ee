//! Reverse mode through the unary form, checked as an oracle: for every
//! function of `tests/rev/*.dl` named by a `-- at NAME: ARG | ARG` line,
//! `NAME$vjp` must give the primal result of `NAME` exactly and parameter
//! cotangents that agree with central finite differences of
//! `<ct, NAME(x)>`. The unary form is checked on its own too: it verifies,
//! and `to_core(from_core(f))` computes what `f` does.

mod common;

use dl_compiler::ad::rev::{reverse, vjp};
use dl_compiler::core::ir::{Program, Type};
use dl_compiler::core::value::Value;
use dl_compiler::core::verify::verify_program;
use dl_compiler::driver;
use dl_compiler::unf::{from_core::from_core, to_core::to_core, verify::verify};
use std::path::Path;

/// A function of a test file and one point to evaluate it at.
struct Case {
    func: String,
    args: Vec<Value>,
    /// False for a function whose derivative is not that of its values
    /// (`stop_gradient`), marked `-- at! NAME: ...`: only the primal and the
    /// closed forms are checked.
    smooth: bool,
}

/// The program of a test file and its `-- at` points.
fn load(path: &Path) -> (Program, Vec<Case>) {
    let (_, program) = common::compile_ok(path);
    let text = std::fs::read_to_string(path).expect("a readable file");
    let mut cases = Vec::new();
    for line in text.lines() {
        let (rest, smooth) = match (line.strip_prefix("-- at "), line.strip_prefix("-- at! ")) {
            (Some(rest), _) => (rest, true),
            (None, Some(rest)) => (rest, false),
            (None, None) => continue,
        };
        let (name, args) = rest.split_once(':').expect("`-- at NAME: ARGS`");
        let func = program
            .func(name.trim())
            .unwrap_or_else(|| panic!("no function `{name}`"));
        let args: Vec<String> = args.split('|').map(|a| a.trim().to_string()).collect();
        let args = driver::parse_args(func, &args).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        cases.push(Case {
            func: name.trim().to_string(),
            args,
            smooth,
        });
    }
    assert!(!cases.is_empty(), "{} has no `-- at` line", path.display());
    (program, cases)
}

fn run(program: &Program, func: &str, args: &[Value]) -> Value {
    driver::run(program, func, args.to_vec()).unwrap_or_else(|e| panic!("running `{func}`: {}", e.message))
}

/// The functions the cases of a file name, each once.
fn tested(cases: &[Case]) -> Vec<String> {
    let mut names: Vec<String> = cases.iter().map(|c| c.func.clone()).collect();
    names.dedup();
    names
}

#[test]
fn unary_form_round_trips() {
    let mut checked = 0;
    for path in common::dl_files("tests/rev") {
        let (program, cases) = load(&path);
        let mut round = program.clone();
        for name in tested(&cases) {
            let f = program.func(&name).expect("a tested function");
            let u = from_core(f).unwrap_or_else(|e| panic!("{name}: {e}"));
            verify(&u).unwrap_or_else(|e| panic!("{name}: {e}\n{u}"));
            let back = to_core(&u);
            let slot = round.funcs.iter_mut().find(|g| g.name == name).expect("the function");
            *slot = back;
        }
        verify_program(&round).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        for c in &cases {
            assert_eq!(
                run(&round, &c.func, &c.args),
                run(&program, &c.func, &c.args),
                "{}: `{}` changed through the unary form",
                path.display(),
                c.func
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} points");
}

/// The f64s of a value, in order.
fn leaves(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::F64(x) => out.push(*x),
        Value::I64(_) | Value::Bool(_) => {}
        Value::Array(items) => items.iter().for_each(|x| leaves(x, out)),
        Value::Tuple(items) => items.iter().for_each(|x| leaves(x, out)),
    }
}

/// `v` with its f64s replaced, in order, by those `next` gives.
fn refill(v: &Value, next: &mut dyn FnMut() -> f64) -> Value {
    match v {
        Value::F64(_) => Value::F64(next()),
        Value::I64(_) | Value::Bool(_) => v.clone(),
        Value::Array(items) => Value::array(items.iter().map(|x| refill(x, next)).collect()),
        Value::Tuple(items) => Value::tuple(items.iter().map(|x| refill(x, next)).collect()),
    }
}

/// A deterministic cotangent for a result `v` of type `ty`: its tangent
/// type, shaped like `v`, holding 0.5, 0.87, 1.24, ...
fn cotangent(v: &Value, ty: &Type) -> Value {
    let mut k = 0.0;
    let filled = refill(v, &mut || {
        k += 1.0;
        0.13 + 0.37 * k
    });
    tangent_shape(&filled, ty)
}

/// Drops the parts of a value that hold no f64, as `Type::tangent` does.
fn tangent_shape(v: &Value, ty: &Type) -> Value {
    if !ty.has_f64() {
        return Value::unit();
    }
    match (v, ty) {
        (Value::Array(items), Type::Array(t)) => Value::array(items.iter().map(|x| tangent_shape(x, t)).collect()),
        (Value::Tuple(items), Type::Tuple(ts)) => {
            Value::tuple(items.iter().zip(ts).map(|(x, t)| tangent_shape(x, t)).collect())
        }
        _ => v.clone(),
    }
}

/// `<ct, v>`: the sum of the products of their f64s.
fn pair(ct: &Value, v: &Value) -> f64 {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    leaves(ct, &mut a);
    leaves(v, &mut b);
    assert_eq!(a.len(), b.len(), "a cotangent of another shape");
    a.iter().zip(&b).map(|(x, y)| x * y).sum()
}

/// Runs `{f}$vjp` at a case: the primal result exactly, the cotangents
/// against central differences. Returns the cotangents.
fn check_case(path: &Path, original: &Program, with_vjp: &Program, c: &Case) -> Vec<Value> {
    let f = original.func(&c.func).expect("the function");
    let primal = run(original, &c.func, &c.args);
    let ct = cotangent(&primal, &f.ret);
    let mut args = c.args.clone();
    args.push(ct.clone());
    let out = run(with_vjp, &format!("{}$vjp", c.func), &args);
    let Value::Tuple(out) = out else {
        panic!("a vjp returns a pair")
    };
    assert_eq!(
        out[0],
        primal,
        "{}: `{}`: the primal result differs",
        path.display(),
        c.func
    );
    let Value::Tuple(grads) = &out[1] else {
        panic!("cotangents come as a tuple")
    };
    assert_eq!(grads.len(), c.args.len());
    for (k, (x, g)) in c.args.iter().zip(grads.iter()).enumerate() {
        let mut xs = Vec::new();
        leaves(x, &mut xs);
        let mut gs = Vec::new();
        leaves(g, &mut gs);
        assert_eq!(
            xs.len(),
            gs.len(),
            "{}: `{}`: cotangent {k} has another shape: {g}",
            path.display(),
            c.func
        );
        for leaf in 0..xs.len() {
            if !c.smooth {
                break;
            }
            let h = 1e-6 * xs[leaf].abs().max(1.0);
            let at = |d: f64| {
                let mut n = 0;
                let moved = refill(x, &mut || {
                    n += 1;
                    if n - 1 == leaf {
                        xs[leaf] + d
                    } else {
                        xs[n - 1]
                    }
                });
                let mut a = c.args.clone();
                a[k] = moved;
                pair(&ct, &run(original, &c.func, &a))
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            let err = (fd - gs[leaf]).abs() / fd.abs().max(gs[leaf].abs()).max(1.0);
            assert!(
                err < 1e-6,
                "{}: `{}` at {:?}: d/d(arg {k} leaf {leaf}) is {} by reverse mode, {fd} by finite differences",
                path.display(),
                c.func,
                c.args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                gs[leaf]
            );
        }
    }
    grads.to_vec()
}

#[test]
fn reverse_mode_agrees_with_finite_differences() {
    let mut checked = 0;
    for path in common::dl_files("tests/rev") {
        let (program, cases) = load(&path);
        let mut with_vjp = program.clone();
        for name in tested(&cases) {
            let f = program.func(&name).expect("a tested function");
            let u = from_core(f).expect("a unary form");
            let r = reverse(&u).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            verify(&r).unwrap_or_else(|e| panic!("{}: {e}\n{r}", path.display()));
            vjp(&mut with_vjp, &name).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            verify_program(&with_vjp).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        }
        for c in &cases {
            check_case(&path, &program, &with_vjp, c);
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} points");
}

/// The cotangents `{func}$vjp` gives at `args` (dl literals) for the
/// cotangent `ct` of the result.
fn grads_at(file: &str, func: &str, args: &[&str], ct: Value) -> Vec<Value> {
    let (_, program) = common::compile_ok(&common::repo().join("tests/rev").join(file));
    let mut with_vjp = program.clone();
    let name = vjp(&mut with_vjp, func).expect("a vjp");
    let f = program.func(func).expect("the function");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut args = driver::parse_args(f, &args).expect("arguments");
    args.push(ct);
    match run(&with_vjp, &name, &args) {
        Value::Tuple(out) => match &out[1] {
            Value::Tuple(g) => g.to_vec(),
            other => panic!("cotangents {other}"),
        },
        other => panic!("a vjp gave {other}"),
    }
}

fn value(text: &str, ty: &Type) -> Value {
    dl_compiler::core::value::parse_value(text, ty).expect("a value")
}

/// Closed forms at points where every operation is exact in f64.
#[test]
fn closed_forms_hold_exactly() {
    let vec = Type::array(Type::F64);
    let one = Value::F64(1.0);
    // d/dx (3x³ - 2x² + x - 5) = 9x² - 4x + 1 = 29 at 2.
    assert_eq!(grads_at("poly.dl", "poly", &["2.0"], one.clone()), [Value::F64(29.0)]);
    // d/dx of x³ + 1 (two iterations of horner).
    assert_eq!(
        grads_at("for.dl", "horner", &["2.0", "2"], one.clone())[0],
        Value::F64(12.0)
    );
    // Six halvings from 37: d/dx = 2^-6.
    assert_eq!(
        grads_at("while.dl", "halve", &["37.0", "1.5"], one.clone())[0],
        Value::F64(1.0 / 64.0)
    );
    // The stopped path contributes nothing: (x y, 1).
    assert_eq!(
        grads_at("stop.dl", "stopped", &["1.5", "2.0"], one.clone()),
        [Value::F64(3.0), Value::F64(1.0)]
    );
    // dot(a, b) + a @ a: (b + 2a, a).
    assert_eq!(
        grads_at("dot.dl", "inner", &["[1.0, 2.0, 3.0]", "[0.5, -1.0, 2.0]"], one.clone()),
        [value("[2.5, 3.0, 8.0]", &vec), value("[1.0, 2.0, 3.0]", &vec)]
    );
    // A gather: 2 a[j] times how often j is read.
    let ones = value("[1.0, 1.0, 1.0, 1.0, 1.0]", &vec);
    assert_eq!(
        grads_at(
            "gather.dl",
            "gather",
            &["[1.0, 2.0, 3.0, 4.0]", "[2, 0, 2, 3, 1]"],
            ones
        )[0],
        value("[2.0, 4.0, 12.0, 8.0]", &vec)
    );
    // relu with a captured scale: the slopes, and the sum of the positives.
    let ones = value("[1.0, 1.0, 1.0, 1.0]", &vec);
    assert_eq!(
        grads_at("relu.dl", "relu", &["[1.0, -2.0, 3.0, -0.5]", "1.5"], ones),
        [value("[1.5, 0.01, 1.5, 0.01]", &vec), Value::F64(4.0)]
    );
    // C = A @ B with a cotangent of ones: A_bar = 1 B^T (row sums of B).
    let mat = Type::array(vec.clone());
    let g = grads_at(
        "matmul.dl",
        "mm",
        &["[[1.0, 2.0], [3.0, 4.0]]", "[[1.0, 2.0], [3.0, 4.0]]"],
        value("[[1.0, 1.0], [1.0, 1.0]]", &mat),
    );
    assert_eq!(g[0], value("[[3.0, 7.0], [3.0, 7.0]]", &mat));
    assert_eq!(g[1], value("[[4.0, 4.0], [6.0, 6.0]]", &mat));
}

/// What reverse mode cannot do is an error that names it.
#[test]
fn unsupported_programs_are_named_errors() {
    let cases = [(
        "def g(x: f64) -> f64 = x * x\ndef f(x: f64) -> f64 = g(x) + 1.0",
        "f",
        "inlined",
    )];
    for (src, func, needle) in cases {
        let compiled = driver::compile_source("t.dl", src);
        let mut program = compiled.program.expect("a program");
        let err = vjp(&mut program, func).expect_err("an error");
        assert!(err.message.contains(needle), "{src}: {}", err.message);
    }
}

/// The unary form, the reversed unary form and the core vjp of a few
/// representative programs, for review.
#[test]
fn snapshots() {
    for (file, func) in [
        ("poly.dl", "poly"),
        ("map.dl", "weighted"),
        ("dot.dl", "inner"),
        ("gather.dl", "gather"),
        ("for.dl", "horner"),
    ] {
        let (_, program) = common::compile_ok(&common::repo().join("tests/rev").join(file));
        let u = from_core(program.func(func).expect("the function")).expect("a unary form");
        let r = reverse(&u).expect("a reverse");
        let mut with_vjp = program.clone();
        let name = vjp(&mut with_vjp, func).expect("a vjp");
        let core = dl_compiler::core::print::print_func(with_vjp.func(&name).expect("the vjp"));
        let text = format!("-- unary form\n{u}\n-- reversed\n{r}\n-- core\n{core}");
        insta::with_settings!({snapshot_path => "../../tests/rev/snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("rev_{func}"), text);
        });
    }
}

/// lgamma's derivative is digamma, polygamma of order 0.
#[test]
fn lgamma_differentiates_to_digamma() {
    let compiled = driver::compile_source("t.dl", "def f(x: f64) -> f64 = lgamma(x)");
    let mut program = compiled.program.expect("a program");
    let name = vjp(&mut program, "f").expect("a vjp");
    let out = dl_compiler::core::interp::run(&program, &name, vec![Value::F64(1.0), Value::F64(1.0)]).expect("runs");
    let euler = 0.577_215_664_901_532_9;
    let grad = out.as_tuple().expect("a pair")[1].f64_leaves()[0];
    assert!((grad + euler).abs() < 1e-14, "{grad}");
}
