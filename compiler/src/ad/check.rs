//! Checking derivatives numerically: entry points for the derivative
//! operators of a function, and its gradient against central finite
//! differences of the interpreter.

use super::AdError;
use crate::core::interp::{self, RunError};
use crate::core::ir::{Atom, Binder, Block, DerivOp, Func, Program, Rhs, Stmt, Type, VarId};
use crate::core::value::Value;

/// Adds `{f}${op}`: a function applying the derivative operator `op` to
/// `f`, with the parameters that operator's result takes (`f`'s
/// parameters, then tangents for `jvp` or a cotangent for `vjp`), and
/// expands the program's derivatives. Returns the expanded program and the
/// entry's name.
pub fn operator_entry(program: &Program, op: DerivOp, f: &str) -> Result<(Program, String), AdError> {
    let func = program
        .func(f)
        .ok_or_else(|| AdError::new(format!("there is no function `{f}`"), None))?;
    applicable(op, func).map_err(|message| AdError::new(message, Some(func.span)))?;
    let mut params: Vec<Binder> = Vec::new();
    let mut fresh = |name: String, ty: Type| {
        let b = Binder {
            var: VarId(params.len() as u32),
            name,
            ty,
        };
        params.push(b.clone());
        b
    };
    let primal: Vec<Binder> = func
        .params
        .iter()
        .map(|p| fresh(p.name.clone(), p.ty.clone()))
        .collect();
    let extra: Vec<Binder> = match op {
        DerivOp::Jvp => func
            .params
            .iter()
            .map(|p| fresh(format!("{}_tan", p.name), p.ty.tangent()))
            .collect(),
        DerivOp::Vjp => vec![fresh("ct".into(), func.ret.tangent())],
        DerivOp::Grad | DerivOp::ValueAndGrad | DerivOp::JacFwd | DerivOp::JacRev | DerivOp::Hessian => Vec::new(),
    };
    let grads = if primal.len() == 1 {
        primal[0].ty.tangent()
    } else {
        Type::Tuple(primal.iter().map(|p| p.ty.tangent()).collect())
    };
    let ret = match op {
        DerivOp::Grad => grads,
        DerivOp::ValueAndGrad => Type::Tuple(vec![func.ret.clone(), grads]),
        DerivOp::Jvp => Type::Tuple(vec![func.ret.clone(), func.ret.tangent()]),
        DerivOp::Vjp => Type::Tuple(vec![
            func.ret.clone(),
            Type::Tuple(primal.iter().map(|p| p.ty.tangent()).collect()),
        ]),
        DerivOp::JacFwd | DerivOp::JacRev | DerivOp::Hessian => Type::array(Type::array(Type::F64)),
    };
    let args: Vec<Atom> = primal.iter().chain(&extra).map(|b| Atom::Var(b.var)).collect();
    let out = Binder {
        var: VarId(params.len() as u32),
        name: op.name().to_string(),
        ty: ret.clone(),
    };
    let stmt = Stmt {
        binder: out.clone(),
        rhs: Rhs::Deriv {
            op,
            func: f.to_string(),
            captured: Vec::new(),
            args,
        },
        span: func.span,
    };
    let name = format!("{f}${}", op.name());
    let entry = Func {
        name: name.clone(),
        params,
        ret,
        body: Block {
            stmts: vec![stmt],
            result: Atom::Var(out.var),
        },
        span: func.span,
    };
    let mut with_entry = program.clone();
    with_entry.funcs.retain(|g| g.name != name);
    with_entry.funcs.push(entry);
    Ok((super::expand_derivatives(&with_entry)?, name))
}

/// Whether `op` applies to `func`'s result and parameters the way the
/// checker requires of `op(f)` in a program: an f64 result for `grad`,
/// `value_and_grad` and `hessian`, a differentiable result for `jvp` and
/// `vjp`, and `[n]f64` to `[m]f64` for the Jacobians. An entry named on the
/// command line has not been through those checks. (Integer and boolean
/// parameters are allowed here: their tangents and cotangents are `()`.)
fn applicable(op: DerivOp, func: &Func) -> Result<(), String> {
    let name = op.name();
    let f = &func.name;
    let vector = |t: &Type| matches!(t, Type::Array(e) if **e == Type::F64);
    match op {
        DerivOp::Grad | DerivOp::ValueAndGrad if func.ret != Type::F64 => Err(format!(
            "`{name}` needs a function that returns f64, but `{f}` returns {}",
            func.ret
        )),
        DerivOp::Jvp | DerivOp::Vjp if !func.ret.is_differentiable() => Err(format!(
            "`{name}` needs a function with a differentiable result, but `{f}` returns {}",
            func.ret
        )),
        DerivOp::JacFwd | DerivOp::JacRev | DerivOp::Hessian
            if func.params.len() != 1 || !vector(&func.params[0].ty) =>
        {
            Err(format!(
                "`{name}` needs a function of one [n]f64 argument, which `{f}` is not"
            ))
        }
        DerivOp::JacFwd | DerivOp::JacRev if !vector(&func.ret) => Err(format!(
            "`{name}` needs a function that returns [m]f64, but `{f}` returns {}",
            func.ret
        )),
        DerivOp::Hessian if func.ret != Type::F64 => Err(format!(
            "`{name}` needs a function that returns f64, but `{f}` returns {}",
            func.ret
        )),
        _ => Ok(()),
    }
}

/// The outcome of comparing a gradient with finite differences.
#[derive(Clone, Debug)]
pub struct GradCheck {
    /// The gradient by reverse mode, flattened.
    pub gradient: Vec<f64>,
    /// Central differences with one Richardson extrapolation step.
    pub finite_differences: Vec<f64>,
    /// max |g - fd| / max(|g|, |fd|, 1)
    pub max_rel_error: f64,
}

/// Compares `grad(f)` at `args` with central finite differences of `f`.
pub fn check_grad(program: &Program, f: &str, args: &[Value]) -> Result<GradCheck, String> {
    let (expanded, entry) = operator_entry(program, DerivOp::Grad, f).map_err(|e| e.message)?;
    let gradient = interp::run(&expanded, &entry, args.to_vec())
        .map_err(|e| e.message)?
        .f64_leaves();
    let finite_differences = finite_differences(program, f, args).map_err(|e| e.message)?;
    if gradient.len() != finite_differences.len() {
        return Err(format!(
            "the gradient has {} numbers but the inputs {}",
            gradient.len(),
            finite_differences.len()
        ));
    }
    let max_rel_error = gradient
        .iter()
        .zip(&finite_differences)
        .map(|(a, b)| relative_error(*a, *b))
        .fold(0.0, f64::max);
    Ok(GradCheck {
        gradient,
        finite_differences,
        max_rel_error,
    })
}

/// |a - b| / max(|a|, |b|, 1): relative for large values, absolute near 0.
pub fn relative_error(a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    (a - b).abs() / a.abs().max(b.abs()).max(1.0)
}

/// The partial derivatives of the f64-valued `f` with respect to every f64
/// of its arguments, by central differences `(4 D(h/2) - D(h)) / 3`.
pub fn finite_differences(program: &Program, f: &str, args: &[Value]) -> Result<Vec<f64>, RunError> {
    let x: Vec<f64> = args.iter().flat_map(Value::f64_leaves).collect();
    let eval = |point: &[f64]| -> Result<f64, RunError> {
        let mut it = point.iter().copied();
        let moved: Vec<Value> = args.iter().map(|a| a.with_f64_leaves(&mut it)).collect();
        match interp::run(program, f, moved)? {
            Value::F64(y) => Ok(y),
            other => Err(RunError {
                message: format!("`{f}` must return an f64, but returned {other}"),
                span: None,
            }),
        }
    };
    let mut out = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        let h = 1e-4 * x[i].abs().max(1.0);
        let central = |h: f64| -> Result<f64, RunError> {
            let mut up = x.clone();
            let mut down = x.clone();
            up[i] += h;
            down[i] -= h;
            Ok((eval(&up)? - eval(&down)?) / (2.0 * h))
        };
        let coarse = central(h)?;
        let fine = central(h / 2.0)?;
        out.push((4.0 * fine - coarse) / 3.0);
    }
    Ok(out)
}
