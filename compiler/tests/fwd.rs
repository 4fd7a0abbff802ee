//! Forward mode (`ad::fwd::jvp`) against finite differences.
//!
//! Every function of every program in `tests/fwd/*.dl` whose parameters
//! hold an f64 is differentiated; the program must verify after each `jvp`
//! is added. Then, at each input point, with pseudo-random tangents:
//! - the primal half of `f$jvp` equals `f` exactly;
//! - the tangent half agrees with central finite differences of `f` along
//!   the tangent (Richardson-extrapolated) to a relative 1e-6;
//! - the same holds one order up: `f$jvp$jvp` against differences of
//!   `f$jvp`, which exercises the rules of the tangent primitives
//!   (`zero_tangent`, `add_tangent`) that forward mode emits.
//!
//! The input points are written above each definition as `-- at: VALUE`
//! lines (the argument tuple, or the one argument, in dl literal syntax);
//! a function without one is run at pseudo-random arguments in [0.3, 1.3]
//! with arrays of length 3, and i64s of 1. A line `-- first order` above a
//! definition skips the second-order check (for functions whose first
//! derivative has kinks near the input). A line `-- tangent: NAME` replaces
//! finite differences by a hand-written tangent `NAME(x.., t..)`, for
//! `stop_gradient`, which finite differences cannot see.
//!
//! A few printed `f$jvp` functions are snapshotted in
//! `tests/fwd/snapshots`, so reviewers see what forward mode emits.

mod common;

use dl_compiler::ad::fwd::jvp;
use dl_compiler::core::interp::Interpreter;
use dl_compiler::core::ir::{Func, Program, Rhs, Type};
use dl_compiler::core::parse::parse_program;
use dl_compiler::core::print::print_func;
use dl_compiler::core::value::{parse_value, Value};
use dl_compiler::core::verify::verify_program;
use std::path::Path;

/// A deterministic pseudo-random sequence (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A pseudo-random value of type `ty`, arrays of length 3.
fn random_value(ty: &Type, rng: &mut Rng) -> Value {
    match ty {
        Type::F64 => Value::F64(rng.uniform(0.3, 1.3)),
        Type::I64 => Value::I64(1),
        Type::Bool => Value::Bool(true),
        Type::Array(t) => Value::array((0..3).map(|_| random_value(t, rng)).collect()),
        Type::Tuple(ts) => Value::tuple(ts.iter().map(|t| random_value(t, rng)).collect()),
    }
}

/// A pseudo-random tangent of `v` (of type `ty`): `ty.tangent()`-shaped,
/// each f64 in [-1, 1].
fn random_tangent(v: &Value, ty: &Type, rng: &mut Rng) -> Value {
    if !ty.has_f64() {
        return Value::unit();
    }
    match (ty, v) {
        (Type::F64, _) => Value::F64(rng.uniform(-1.0, 1.0)),
        (Type::Array(t), Value::Array(items)) => {
            Value::array(items.iter().map(|x| random_tangent(x, t, rng)).collect())
        }
        (Type::Tuple(ts), Value::Tuple(items)) => Value::tuple(
            ts.iter()
                .zip(items.iter())
                .map(|(t, x)| random_tangent(x, t, rng))
                .collect(),
        ),
        _ => panic!("a value {v} that is not of type {ty}"),
    }
}

/// `x + h t` for a tangent `t` of `x`.
fn step(x: &Value, h: f64, t: &Value) -> Value {
    match (x, t) {
        (Value::F64(a), Value::F64(b)) => Value::F64(a + h * b),
        (Value::Array(xs), Value::Array(ts)) => {
            Value::array(xs.iter().zip(ts.iter()).map(|(x, t)| step(x, h, t)).collect())
        }
        (Value::Tuple(xs), Value::Tuple(ts)) if xs.len() == ts.len() => {
            Value::tuple(xs.iter().zip(ts.iter()).map(|(x, t)| step(x, h, t)).collect())
        }
        // A part without f64 has the tangent `()`.
        _ => x.clone(),
    }
}

/// The f64s of a value, in order: a value and its tangent list the same
/// f64 positions.
fn floats(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::F64(x) => out.push(*x),
        Value::I64(_) | Value::Bool(_) => {}
        Value::Array(items) => items.iter().for_each(|x| floats(x, out)),
        Value::Tuple(items) => items.iter().for_each(|x| floats(x, out)),
    }
}

fn flat(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    floats(v, &mut out);
    out
}

/// Exact equality, NaN equal to NaN.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same(x, y))
        }
        (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same(x, y))
        }
        _ => false,
    }
}

/// The lines above a definition that say how to test it.
#[derive(Default)]
struct Directives {
    /// `-- at: VALUE`: the input points.
    points: Vec<String>,
    /// `-- first order`: no second-order check.
    first_order: bool,
    /// `-- tangent: NAME`: the expected tangent is `NAME(x.., t..)`, not
    /// finite differences (for `stop_gradient`, which differences ignore).
    reference: Option<String>,
}

fn directives(source: &str, name: &str) -> Directives {
    let lines: Vec<&str> = source.lines().collect();
    let head = format!("def {name}(");
    let Some(at) = lines.iter().position(|l| l.starts_with(&head)) else {
        return Directives::default();
    };
    let mut points = Vec::new();
    let mut first_order = false;
    let mut reference = None;
    for l in lines[..at].iter().rev() {
        let l = l.trim();
        if let Some(v) = l.strip_prefix("-- at:") {
            points.push(v.trim().to_string());
        } else if l == "-- first order" {
            first_order = true;
        } else if let Some(r) = l.strip_prefix("-- tangent:") {
            reference = Some(r.trim().to_string());
        } else if !l.starts_with("--") {
            break;
        }
    }
    points.reverse();
    Directives {
        points,
        first_order,
        reference,
    }
}

fn parse_point(f: &Func, text: &str) -> Vec<Value> {
    let tys: Vec<Type> = f.params.iter().map(|p| p.ty.clone()).collect();
    if tys.len() == 1 {
        vec![parse_value(text, &tys[0]).unwrap_or_else(|e| panic!("`{}`: bad point {text}: {e}", f.name))]
    } else {
        match parse_value(text, &Type::Tuple(tys)) {
            Ok(Value::Tuple(vs)) => vs.to_vec(),
            Ok(v) => panic!("`{}`: point {v} is not a tuple", f.name),
            Err(e) => panic!("`{}`: bad point {text}: {e}", f.name),
        }
    }
}

/// Central differences of `f` at `x` along `t`, Richardson-extrapolated:
/// `(4 D(h/2) - D(h)) / 3` has error O(h^4).
fn finite_difference(interp: &Interpreter, f: &str, x: &[Value], t: &[Value]) -> Vec<f64> {
    let scale = x.iter().flat_map(flat).fold(1.0f64, |m, v| m.max(v.abs()));
    let h = 1e-3 * scale;
    let eval = |h: f64| -> Vec<f64> {
        let args = x.iter().zip(t).map(|(x, t)| step(x, h, t)).collect();
        let v = interp
            .call(f, args)
            .unwrap_or_else(|e| panic!("`{f}` fails at a shifted point: {e}"));
        flat(&v)
    };
    let central = |h: f64| -> Vec<f64> {
        let (p, m) = (eval(h), eval(-h));
        p.iter().zip(&m).map(|(p, m)| (p - m) / (2.0 * h)).collect()
    };
    let (d1, d2) = (central(h), central(h / 2.0));
    d1.iter().zip(&d2).map(|(a, b)| (4.0 * b - a) / 3.0).collect()
}

/// Checks `f$jvp` against `f` at `x` with a tangent from `rng`: the primal
/// exactly, the tangent against finite differences.
/// With `reference`, the expected tangent is `reference(x, t)` instead.
fn check_point(
    program: &Program,
    f: &str,
    x: &[Value],
    rng: &mut Rng,
    what: &str,
    reference: Option<&str>,
) -> Result<(), String> {
    let interp = Interpreter::new(program);
    let func = program.func(f).expect("the function");
    let t: Vec<Value> = func
        .params
        .iter()
        .zip(x)
        .map(|(p, v)| random_tangent(v, &p.ty, rng))
        .collect();
    let primal = interp
        .call(f, x.to_vec())
        .map_err(|e| format!("{what}: `{f}` fails: {e}"))?;
    let mut args = x.to_vec();
    args.extend(t.iter().cloned());
    let out = interp
        .call(&format!("{f}$jvp"), args)
        .map_err(|e| format!("{what}: `{f}$jvp` fails: {e}"))?;
    let Value::Tuple(pair) = &out else {
        return Err(format!("{what}: `{f}$jvp` returned {out}, not a pair"));
    };
    if !same(&pair[0], &primal) {
        return Err(format!(
            "{what}: the primal of `{f}$jvp` is {}, but `{f}` gives {primal}",
            pair[0]
        ));
    }
    let got = flat(&pair[1]);
    let (want, by) = match reference {
        None => (finite_difference(&interp, f, x, &t), "finite differences"),
        Some(r) => {
            let mut args = x.to_vec();
            args.extend(t.iter().cloned());
            let v = interp.call(r, args).map_err(|e| format!("{what}: `{r}` fails: {e}"))?;
            (flat(&v), "the reference")
        }
    };
    if got.len() != want.len() {
        return Err(format!(
            "{what}: `{f}$jvp` gives {} tangent floats, {by} {}",
            got.len(),
            want.len()
        ));
    }
    let norm = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let err = got.iter().zip(&want).fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    if err.is_nan() || err > 1e-6 * norm {
        return Err(format!(
            "{what}: the tangent of `{f}` at {} along {} is {got:?}, {by} give {want:?}",
            Value::tuple(x.to_vec()),
            Value::tuple(t)
        ));
    }
    Ok(())
}

/// Differentiates every function of the file that takes an f64 (once and
/// twice) and checks it at its points. Returns the program with the `jvp`s.
fn check_file(path: &Path) -> usize {
    let (compiled, mut program) = common::compile_ok(path);
    let source = std::fs::read_to_string(path).expect("a readable file");
    let tests: Vec<String> = program.tests.iter().map(|t| t.func.clone()).collect();
    let names: Vec<String> = program
        .funcs
        .iter()
        .filter(|f| f.span.file == compiled.main_file && !f.name.contains('$') && !tests.contains(&f.name))
        .filter(|f| f.params.iter().any(|p| p.ty.has_f64()))
        .map(|f| f.name.clone())
        .collect();
    assert!(!names.is_empty(), "{}: no function to differentiate", path.display());
    let mut failures = Vec::new();
    let mut rng = Rng(0x5EED);
    let mut checked = 0;
    for name in &names {
        let Directives {
            points,
            first_order,
            reference,
        } = directives(&source, name);
        let first_order = first_order || reference.is_some();
        let jvp1 = jvp(&mut program, name).unwrap_or_else(|e| panic!("jvp of `{name}`: {e}"));
        if let Err(es) = verify_program(&program) {
            let text = print_func(program.func(&jvp1).expect("the jvp"));
            panic!("`{jvp1}` does not verify: {es:?}\n{text}");
        }
        let jvp2 = if first_order {
            None
        } else {
            let j = jvp(&mut program, &jvp1).unwrap_or_else(|e| panic!("jvp of `{jvp1}`: {e}"));
            if let Err(es) = verify_program(&program) {
                let text = print_func(program.func(&j).expect("the jvp"));
                panic!("`{j}` does not verify: {es:?}\n{text}");
            }
            Some(j)
        };
        let func = program.func(name).expect("the function").clone();
        let mut xs: Vec<Vec<Value>> = points.iter().map(|p| parse_point(&func, p)).collect();
        if xs.is_empty() {
            xs.push(func.params.iter().map(|p| random_value(&p.ty, &mut rng)).collect());
        }
        for x in &xs {
            let what = format!("{}: `{name}`", common::stem(path));
            checked += 1;
            if let Err(e) = check_point(&program, name, x, &mut rng, &what, reference.as_deref()) {
                failures.push(e);
                continue;
            }
            if jvp2.is_some() {
                let jf = program.func(&jvp1).expect("the jvp");
                let mut x2 = x.clone();
                x2.extend(
                    func.params
                        .iter()
                        .zip(x)
                        .map(|(p, v)| random_tangent(v, &p.ty, &mut rng)),
                );
                assert_eq!(x2.len(), jf.params.len());
                let what = format!("{what} (second order)");
                if let Err(e) = check_point(&program, &jvp1, &x2, &mut rng, &what, None) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    checked
}

#[test]
fn every_program_agrees_with_finite_differences() {
    let files = common::dl_files("tests/fwd");
    assert!(files.len() >= 25, "only {} programs", files.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in files {
        match std::panic::catch_unwind(|| check_file(&path)) {
            Ok(n) => checked += n,
            Err(e) => {
                let message = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}:\n{message}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked >= 150, "only {checked} points checked");
}

/// Forward mode never panics on a checked program: every function of every
/// test program either gets a `jvp` that verifies or an error (for calls
/// and derivative operators, which are inlined and expanded first).
#[test]
fn every_function_of_every_test_program_transforms_or_is_refused() {
    let mut transformed = 0;
    for folder in ["tests/check", "tests/programs", "tests/runtime_errors", "tests/fwd"] {
        for path in common::dl_files(folder) {
            let compiled = common::compile(&path);
            let Some(mut program) = compiled.program else {
                continue;
            };
            let names: Vec<String> = program.funcs.iter().map(|f| f.name.clone()).collect();
            for name in names {
                match jvp(&mut program, &name) {
                    Ok(_) => transformed += 1,
                    Err(e) => assert!(
                        e.message.contains("must be inlined or expanded"),
                        "{name}: {}",
                        e.message
                    ),
                }
            }
            if let Err(es) = verify_program(&program) {
                panic!("{}: {es:?}", path.display());
            }
        }
    }
    assert!(transformed > 200, "only {transformed} functions transformed");
}

/// The printed `f$jvp` of a few representative functions.
#[test]
fn snapshots_of_emitted_code() {
    let cases = [
        ("scalar_unary", "chain"),
        ("map", "scaled_exp"),
        ("for_loop", "momentum"),
        ("reduce", "weighted_sum"),
        ("if_else", "piecewise"),
        ("matmul", "layer"),
        ("while_loop", "newton"),
    ];
    for (file, func) in cases {
        let path = common::repo().join(format!("tests/fwd/{file}.dl"));
        let (_, mut program) = common::compile_ok(&path);
        let name = jvp(&mut program, func).unwrap_or_else(|e| panic!("jvp of `{func}`: {e}"));
        verify_program(&program).unwrap_or_else(|e| panic!("{e:?}"));
        let text = print_func(program.func(&name).expect("the jvp"));
        insta::with_settings!({
            snapshot_path => "../../tests/fwd/snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(format!("{file}__{func}"), text);
        });
    }
}

/// Compiles `def f(x: f64) -> f64 = BODY` and returns the tangent of `f` at
/// each point along 1.
fn derivative(body: &str, points: &[f64]) -> Vec<f64> {
    let source = format!("def f(x: f64) -> f64 = {body}\n");
    let compiled = dl_compiler::driver::compile_source("closed_form.dl", &source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let mut program = compiled.program.expect("a program");
    let name = jvp(&mut program, "f").expect("jvp");
    verify_program(&program).unwrap_or_else(|e| panic!("{e:?}"));
    let interp = Interpreter::new(&program);
    points
        .iter()
        .map(|&x| {
            let out = interp
                .call(&name, vec![Value::F64(x), Value::F64(1.0)])
                .unwrap_or_else(|e| panic!("{body} at {x}: {e}"));
            match out.as_tuple() {
                Some([_, Value::F64(d)]) => *d,
                _ => panic!("{body}: {out}"),
            }
        })
        .collect()
}

/// `d/dx body` at `points` is `want(x)` to within `rel` (0: exactly).
fn closed_form(body: &str, points: &[f64], rel: f64, want: impl Fn(f64) -> f64) {
    for (x, got) in points.iter().zip(derivative(body, points)) {
        let w = want(*x);
        let ok = if rel == 0.0 {
            got == w || (got.is_nan() && w.is_nan())
        } else {
            (got - w).abs() <= rel * w.abs().max(1e-300)
        };
        assert!(ok, "d/dx {body} at {x}: got {got}, want {w}");
    }
}

#[test]
fn scalar_derivatives_in_closed_form() {
    let xs = [-2.5, -0.7, 0.0, 0.3, 1.0, 4.2];
    let pos = [0.01, 0.3, 1.0, 2.5, 40.0];
    closed_form("sin(x)", &xs, 0.0, f64::cos);
    closed_form("cos(x)", &xs, 0.0, |x| -x.sin());
    // dl's exp is the runtime's (within an ulp of the platform's).
    closed_form("exp(x)", &xs, 0.0, dl_runtime::math::exp);
    // expm1' is computed as expm1(x) + 1: for x < 0 the sum loses a few bits to cancellation.
    closed_form("expm1(x)", &xs, 2e-15, f64::exp);
    closed_form("log(x)", &pos, 0.0, |x| 1.0 / x);
    closed_form("log1p(x)", &pos, 0.0, |x| 1.0 / (1.0 + x));
    closed_form("sqrt(x)", &pos, 0.0, |x| 1.0 / (2.0 * x.sqrt()));
    closed_form("tan(x)", &[-1.2, 0.0, 0.4, 1.5], 1e-14, |x| 1.0 / (x.cos() * x.cos()));
    // tanh' = 1 - tanh^2 and sigmoid' = s (1 - s), as JAX has them: exact
    // to an ulp of 1, not of the (small) derivative, in the tails.
    let near = |got: f64, want: f64| (got - want).abs() <= 1e-15;
    for (x, d) in xs.iter().zip(derivative("tanh(x)", &xs)) {
        assert!(near(d, 1.0 / (x.cosh() * x.cosh())), "tanh' at {x}: {d}");
    }
    for (x, d) in xs.iter().zip(derivative("sigmoid(x)", &xs)) {
        let s = dl_runtime::math::sigmoid(*x);
        assert!(near(d, s * (1.0 - s)), "sigmoid' at {x}: {d}");
    }
    closed_form("erf(x)", &xs, 1e-14, |x| {
        2.0 / std::f64::consts::PI.sqrt() * dl_runtime::math::exp(-x * x)
    });
    closed_form("atan2(x, 2.0)", &xs, 1e-15, |x| 2.0 / (4.0 + x * x));
    closed_form("atan2(3.0, x)", &xs, 1e-15, |x| -3.0 / (9.0 + x * x));
    closed_form("abs(x)", &xs, 0.0, |x| x.signum() * if x == 0.0 { 0.0 } else { 1.0 });
    closed_form("x * x * x", &xs, 1e-15, |x| 3.0 * x * x);
    closed_form("1.0 / x", &[-2.0, 0.5, 3.0], 1e-15, |x| -1.0 / (x * x));
    closed_form("x % 1.5", &[-2.0, 0.5, 3.2], 0.0, |_| 1.0);
    closed_form("4.0 % x", &[1.5, 2.5], 1e-15, |x| -(4.0 / x).trunc());
    closed_form("floor(x) + ceil(x) + sign(x)", &xs, 0.0, |_| 0.0);
    closed_form("f64(i64(x)) + x", &xs, 0.0, |_| 1.0);
    closed_form("stop_gradient(x) * x", &xs, 0.0, |x| x);
    // lgamma' is digamma: psi(1) = -gamma, psi(1/2) = -gamma - 2 log 2,
    // psi(5) = 1 + 1/2 + 1/3 + 1/4 - gamma, psi(-1/2) = psi(1/2) + 2.
    let gamma = 0.5772156649015329;
    let digamma = [
        (1.0, -gamma),
        (0.5, -gamma - 2.0 * std::f64::consts::LN_2),
        (5.0, 1.0 + 0.5 + 1.0 / 3.0 + 0.25 - gamma),
        (-0.5, -gamma - 2.0 * std::f64::consts::LN_2 + 2.0),
    ];
    for (x, want) in digamma {
        closed_form("lgamma(x)", &[x], 1e-14, |_| want);
    }
}

#[test]
fn min_max_take_the_first_argument_on_ties() {
    closed_form(
        "max(x, 1.0)",
        &[0.5, 1.0, 2.0],
        0.0,
        |x| if x >= 1.0 { 1.0 } else { 0.0 },
    );
    closed_form(
        "min(x, 1.0)",
        &[0.5, 1.0, 2.0],
        0.0,
        |x| if x <= 1.0 { 1.0 } else { 0.0 },
    );
    closed_form(
        "max(1.0, x)",
        &[0.5, 1.0, 2.0],
        0.0,
        |x| if x > 1.0 { 1.0 } else { 0.0 },
    );
    closed_form(
        "min(1.0, x)",
        &[0.5, 1.0, 2.0],
        0.0,
        |x| if x < 1.0 { 1.0 } else { 0.0 },
    );
    // maximum/minimum: the first extreme element.
    closed_form("maximum([x, 1.0, x])", &[0.5, 1.0, 2.0], 0.0, |x| {
        if x >= 1.0 {
            1.0
        } else {
            0.0
        }
    });
    closed_form("minimum([1.0, x])", &[0.5, 1.0, 2.0], 0.0, |x| {
        if x < 1.0 {
            1.0
        } else {
            0.0
        }
    });
    // abs'(0) = 0.
    closed_form("abs(x)", &[0.0, -0.0], 0.0, |_| 0.0);
}

#[test]
fn pow_at_zero_is_finite_where_the_function_is_smooth() {
    // d/dx x^y at x = 0: y 0^(y-1).
    closed_form("x ** 2.0", &[0.0, 3.0], 0.0, |x| 2.0 * x);
    closed_form("x ** 1.0", &[0.0, 3.0], 0.0, |_| 1.0);
    closed_form("x ** 0.0", &[0.0, 3.0], 0.0, |_| 0.0);
    closed_form("x ** 3.0", &[0.0, -2.0], 0.0, |x| 3.0 * x.powf(2.0));
    // d/dy 0^y = 0 for y > 0 (not 0 * log 0 = nan).
    closed_form("0.0 ** x", &[0.5, 2.0], 0.0, |_| 0.0);
    closed_form("let z = x - x in z ** (x + 1.0)", &[0.5, 2.0], 0.0, |_| 0.0);
    closed_form("2.0 ** x", &[0.0, 1.5], 1e-15, |x| {
        2f64.powf(x) * std::f64::consts::LN_2
    });
    // A variable exponent that is 0: x^0 = 1, also at x = 0.
    closed_form("let y = x - x in x ** y", &[0.0, 2.0], 0.0, |_| 0.0);
}

#[test]
fn prod_with_zeros_has_the_right_tangent() {
    // prod([x, 0, 3]) = 0 for all x: the tangent is 0, not nan; prod([x, x, 2]) has 4x.
    closed_form("prod([x, 0.0, 3.0])", &[0.0, 1.5], 0.0, |_| 0.0);
    closed_form("prod([x, x, 2.0])", &[0.0, 1.5], 0.0, |x| 4.0 * x);
    closed_form("prod([x, 2.0])", &[0.0, 1.5], 0.0, |_| 2.0);
}

#[test]
fn jvp_is_added_once_and_keeps_the_signature_convention() {
    let source = "def f(x: f64, n: i64, v: [k]f64, b: bool) -> (f64, i64) = (x * f64(n), n)\n";
    let compiled = dl_compiler::driver::compile_source("sig.dl", source);
    let mut program = compiled.program.expect("a program");
    let name = jvp(&mut program, "f").expect("jvp");
    assert_eq!(name, "f$jvp");
    let count = program.funcs.len();
    assert_eq!(jvp(&mut program, "f").expect("jvp"), "f$jvp");
    assert_eq!(program.funcs.len(), count, "a second jvp adds nothing");
    let g = program.func("f$jvp").expect("the jvp");
    let tys: Vec<String> = g.params.iter().map(|p| p.ty.to_string()).collect();
    assert_eq!(tys, ["f64", "i64", "[]f64", "bool", "f64", "()", "[]f64", "()"]);
    assert_eq!(g.ret.to_string(), "((f64, i64), (f64, ()))");
    verify_program(&program).unwrap_or_else(|e| panic!("{e:?}"));
}

#[test]
fn calls_and_derivatives_are_rejected_with_an_error() {
    let source = "def g(x: f64) -> f64 = x * x\ndef f(x: f64) -> f64 = g(x) + 1.0\ndef h(x: f64) -> f64 = grad(g)(x)\n";
    let compiled = dl_compiler::driver::compile_source("calls.dl", source);
    let mut program = compiled.program.expect("a program");
    let e = jvp(&mut program, "f").unwrap_err();
    assert!(e.message.contains("a call of `g`"), "{}", e.message);
    assert!(e.span.is_some());
    let e = jvp(&mut program, "h").unwrap_err();
    assert!(e.message.contains("`grad(g)`"), "{}", e.message);
    let e = jvp(&mut program, "nope").unwrap_err();
    assert!(e.message.contains("no function `nope`"), "{}", e.message);
}

/// The tangent primitives and `polygamma`, which dl source cannot write,
/// through core IR text.
#[test]
fn primitives_only_passes_emit() {
    let text = "
def tangents(a.0: []f64, x.1: f64, v.2: []f64) -> []f64 =
  let z.3: []f64 = zero_tangent(a.0)
  let s.4: []f64 = add_tangent(a.0, v.2)
  let i.5: []f64 = index_add(s.4, 1, x.1)
  let w.6: []f64 = slice_add(i.5, 0, v.2)
  let u.7: []f64 = add_tangent(w.6, z.3)
  in u.7

def digamma(x.0: f64) -> f64 =
  let p.1: f64 = polygamma(0, x.0)
  let q.2: f64 = polygamma(2, x.0)
  let r.3: f64 = mul(p.1, q.2)
  in r.3
";
    let mut program = parse_program(text).expect("core text");
    let mut rng = Rng(7);
    for name in ["tangents", "digamma"] {
        let j = jvp(&mut program, name).expect("jvp");
        let jj = jvp(&mut program, &j).expect("jvp of jvp");
        verify_program(&program).unwrap_or_else(|e| panic!("{e:?}"));
        let func = program.func(name).expect("the function").clone();
        for _ in 0..3 {
            let x: Vec<Value> = func.params.iter().map(|p| random_value(&p.ty, &mut rng)).collect();
            check_point(&program, name, &x, &mut rng, name, None).unwrap_or_else(|e| panic!("{e}"));
            let jf = program.func(&j).expect("the jvp").clone();
            let x2: Vec<Value> = jf.params.iter().map(|p| random_value(&p.ty, &mut rng)).collect();
            check_point(&program, &j, &x2, &mut rng, &jj, None).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Zero tangents stay symbolic: a function of constants and integers
/// emits no `zero_tangent`, and a combinator whose tangent is zero is
/// copied unchanged.
#[test]
fn known_zero_tangents_are_not_materialised() {
    let source = "
def f(x: f64, v: [n]f64, k: i64) -> f64 =
  let c = map(\\i -> f64(i) * 2.0, iota(k))
  let s = loop acc = 0.0 for i < k do acc + c[i]
  let w = map(\\y -> y * x, v)
  in sum(w) + s + sum(c)
";
    let compiled = dl_compiler::driver::compile_source("zeros.dl", source);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    let mut program = compiled.program.expect("a program");
    let name = jvp(&mut program, "f").expect("jvp");
    verify_program(&program).unwrap_or_else(|e| panic!("{e:?}"));
    let g = program.func(&name).expect("the jvp");
    let text = print_func(g);
    assert!(!text.contains("zero_tangent"), "{text}");
    // The map over iota and the loop over its constants are copied as they
    // are: one map pairs values with tangents (w), and no loop carries a
    // pair.
    let pairs = g
        .body
        .stmts
        .iter()
        .filter(|s| s.binder.name.ends_with("_pair"))
        .map(|s| match &s.rhs {
            Rhs::Map { .. } => "map",
            Rhs::Loop(_) => "loop",
            _ => "other",
        })
        .collect::<Vec<_>>();
    assert_eq!(pairs, ["map"], "{text}");
}
