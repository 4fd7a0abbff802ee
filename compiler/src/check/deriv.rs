//! Derivative operators: their typing, and lifting the differentiated
//! function to a core function of its own.
//!
//! `grad(f)(x)` becomes `Rhs::Deriv { op: Grad, func, captured, args }`,
//! where `func` is `f` as a core function whose first parameters are the
//! values `f` captures (held constant) and whose remaining parameters are
//! the ones differentiated. The `ad` pass expands these nodes.

use super::ty::{Size, Ty};
use super::{Elab, FnVal, Val};
use crate::core::ir::{Atom, DerivOp, Func, Rhs, VarId};
use crate::diagnostics::{Diagnostic, Span};
use crate::HashMap;
use std::rc::Rc;

impl<'a> Elab<'a> {
    pub(super) fn apply_deriv(
        &mut self,
        op: DerivOp,
        f: &Rc<FnVal<'a>>,
        args: Vec<Val<'a>>,
        spans: &[Span],
        dspan: Span,
        span: Span,
    ) -> Val<'a> {
        let name = op.name();
        let mut xs = Vec::new();
        for (a, s) in args.into_iter().zip(spans) {
            xs.push(or_error!(self.first_order(
                a,
                *s,
                &format!("an argument of `{name}(...)`")
            )));
        }
        // How many of the arguments are primal inputs of `f`.
        let primals = match op {
            DerivOp::Grad | DerivOp::ValueAndGrad => xs.len(),
            DerivOp::Jvp => {
                if xs.len() % 2 != 0 || xs.is_empty() {
                    let msg = format!("`jvp(f)` takes the inputs of `f` followed by one tangent for each, but it was given {} arguments", xs.len());
                    self.error(Diagnostic::error(msg, span, "odd number of arguments"));
                    return Val::Error;
                }
                xs.len() / 2
            }
            DerivOp::Vjp => {
                if xs.len() < 2 {
                    let msg = "`vjp(f)` takes the inputs of `f` followed by a cotangent of its result".to_string();
                    self.error(Diagnostic::error(msg, span, "too few arguments"));
                    return Val::Error;
                }
                xs.len() - 1
            }
            DerivOp::JacFwd | DerivOp::JacRev | DerivOp::Hessian => {
                let ok = xs.len() == 1 && matches!(&xs[0].1, Ty::Array(_, e) if **e == Ty::F64);
                if !ok {
                    let got: Vec<String> = xs.iter().map(|(_, t)| self.show(t)).collect();
                    let msg = format!(
                        "`{name}(f)` takes one [n]f64 argument, but it was given ({})",
                        got.join(", ")
                    );
                    self.error(Diagnostic::error(msg, span, "wrong arguments").with_note("to differentiate with respect to one argument of several, close over the others: `jacrev(\\x -> f(x, y))`"));
                    return Val::Error;
                }
                1
            }
        };
        for (i, ((_, t), s)) in xs.iter().zip(spans).take(primals).enumerate() {
            if !t.is_differentiable() {
                let msg = format!("`{name}` differentiates with respect to every argument, but argument {} has type {}, which has no derivative", i + 1, self.show(t));
                self.error(
                    Diagnostic::error(msg, *s, "not differentiable")
                        .with_label(dspan, "derivative taken here")
                        .with_note(format!(
                            "close over it instead, for example `{name}(\\x -> f(x, n))(x0)`"
                        )),
                );
                return Val::Error;
            }
        }
        let primal_tys: Vec<Ty> = xs[..primals].iter().map(|(_, t)| t.clone()).collect();
        let Some((func, captured, ret)) = self.lift(f, &primal_tys, dspan, span) else {
            return Val::Error;
        };
        let grads = if primal_tys.len() == 1 {
            primal_tys[0].clone()
        } else {
            Ty::Tuple(primal_tys.clone())
        };
        let scalar_result = |this: &mut Self| {
            if ret != Ty::F64 {
                let msg = format!(
                    "`{name}` needs a function that returns f64, but this one returns {}",
                    this.show(&ret)
                );
                let hint = if matches!(ret, Ty::Array(..)) {
                    "for a function that returns an array, use `jacrev`, `jacfwd` or `vjp`"
                } else {
                    "differentiate a function whose result is one f64"
                };
                this.error(Diagnostic::error(msg, dspan, "result is not f64").with_note(hint));
                return false;
            }
            true
        };
        let result_ty = match op {
            DerivOp::Grad => {
                if !scalar_result(self) {
                    return Val::Error;
                }
                grads
            }
            DerivOp::ValueAndGrad => {
                if !scalar_result(self) {
                    return Val::Error;
                }
                Ty::Tuple(vec![Ty::F64, grads])
            }
            DerivOp::Hessian => {
                if !scalar_result(self) {
                    return Val::Error;
                }
                let Ty::Array(n, _) = &primal_tys[0] else {
                    return Val::Error;
                };
                Ty::array(*n, Ty::array(*n, Ty::F64))
            }
            DerivOp::Jvp | DerivOp::Vjp => {
                if !ret.is_differentiable() {
                    let msg = format!(
                        "`{name}` needs a function with a differentiable result, but this one returns {}",
                        self.show(&ret)
                    );
                    self.error(Diagnostic::error(msg, dspan, "no derivative"));
                    return Val::Error;
                }
                let (extra, want): (&[(Atom, Ty)], Vec<Ty>) = if op == DerivOp::Jvp {
                    (&xs[primals..], primal_tys.clone())
                } else {
                    (&xs[primals..], vec![ret.clone()])
                };
                for (((_, got), want), s) in extra.iter().zip(&want).zip(&spans[primals..]) {
                    if !got.same_structure(want) {
                        let what = if op == DerivOp::Jvp {
                            "a tangent"
                        } else {
                            "the cotangent"
                        };
                        let msg = format!(
                            "{what} must have the type {}, but this is {}",
                            self.show(want),
                            self.show(got)
                        );
                        self.error(Diagnostic::error(msg, *s, "wrong type"));
                        return Val::Error;
                    }
                }
                if op == DerivOp::Jvp {
                    Ty::Tuple(vec![ret.clone(), ret.clone()])
                } else {
                    // Like JAX's vjp, the cotangents are always a tuple.
                    Ty::Tuple(vec![ret.clone(), Ty::Tuple(primal_tys.clone())])
                }
            }
            DerivOp::JacFwd | DerivOp::JacRev => {
                let (Ty::Array(m, e), Ty::Array(n, _)) = (&ret, &primal_tys[0]) else {
                    let msg = format!(
                        "`{name}` needs a function from [n]f64 to [m]f64, but this one returns {}",
                        self.show(&ret)
                    );
                    self.error(
                        Diagnostic::error(msg, dspan, "result is not [m]f64")
                            .with_note("for a function returning f64, use `grad`"),
                    );
                    return Val::Error;
                };
                if **e != Ty::F64 {
                    let msg = format!(
                        "`{name}` needs a function from [n]f64 to [m]f64, but this one returns {}",
                        self.show(&ret)
                    );
                    self.error(Diagnostic::error(msg, dspan, "result is not [m]f64"));
                    return Val::Error;
                }
                Ty::array(*m, Ty::array(*n, Ty::F64))
            }
        };
        let args = xs.iter().map(|(a, _)| *a).collect();
        let rhs = Rhs::Deriv {
            op,
            func,
            captured,
            args,
        };
        let a = self.ctx.cur().emit(name, &result_ty, rhs, span);
        self.atom_val(a, result_ty)
    }

    /// Turns a function value into a core function of the given parameter
    /// types. Returns its name, the captured atoms to pass first, and its
    /// result type in the caller's terms.
    fn lift(&mut self, f: &Rc<FnVal<'a>>, params: &[Ty], dspan: Span, span: Span) -> Option<(String, Vec<Atom>, Ty)> {
        // A first-order definition is already a core function.
        if let FnVal::Def(name) = &**f {
            let def = self.defs[name.as_str()];
            if !self.is_higher_order(def) {
                let sig = self.ensure_def(name, span)?;
                if sig.params.len() != params.len() {
                    let msg = format!(
                        "`{name}` takes {} arguments but the derivative is given {}",
                        sig.params.len(),
                        params.len()
                    );
                    self.error(Diagnostic::error(msg, span, "wrong number of arguments"));
                    return None;
                }
                let args: Vec<(Atom, Ty)> = params.iter().map(|t| (Atom::I64(0), t.clone())).collect();
                let spans = vec![span; params.len()];
                let subst = self.match_params(name, def, &sig.params, &sig.names, &args, &spans)?;
                return Some((name.clone(), Vec::new(), sig.ret.substitute(&subst)));
            }
        }
        let outer = self.ctx.cur_id();
        self.ctx.push();
        let mut binders = Vec::new();
        let mut vals = Vec::new();
        for t in params {
            let local = self.ctx.localize_ty(outer, t);
            let b = self.ctx.cur().fresh("x", &local);
            vals.push(self.atom_val(Atom::Var(b.var), local));
            binders.push(b);
        }
        let spans = vec![span; params.len()];
        let r = self.apply_fn(f, vals, &spans, span);
        let result = self.first_order(r, dspan, "the result of a differentiated function");
        let mut ctx = self.ctx.pop();
        let (atom, ret) = result?;
        let body = ctx.close_block(atom);
        let core_ret = ret.to_core()?;
        // Sizes of the result that are captured values map back to the caller.
        let back: HashMap<VarId, Size> = ctx
            .captures
            .iter()
            .filter_map(|(outer_atom, b)| match outer_atom {
                Atom::Var(v) => Some((b.var, Size::Var(*v))),
                _ => None,
            })
            .collect();
        let ret = ret.substitute(&back);
        let name = self.lifted_name(f);
        let captured: Vec<Atom> = ctx.captures.iter().map(|(a, _)| *a).collect();
        let mut all_params: Vec<_> = ctx.captures.into_iter().map(|(_, b)| b).collect();
        all_params.extend(binders);
        self.funcs.push(Func {
            name: name.clone(),
            params: all_params,
            ret: core_ret,
            body,
            span: dspan,
        });
        Some((name, captured, ret))
    }

    fn lifted_name(&mut self, f: &FnVal<'a>) -> String {
        self.lifted += 1;
        let base = match f {
            FnVal::Def(n) => n.clone(),
            FnVal::Builtin(n) => n.to_string(),
            FnVal::Lambda { .. } => "lambda".to_string(),
            FnVal::Deriv(op, ..) => op.name().to_string(),
            FnVal::Declared { name, .. } => name.clone(),
        };
        format!("{base}${}", self.lifted)
    }
}
