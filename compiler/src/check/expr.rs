//! Expressions: names, `let` and patterns, `if`, loops, tuples, arrays,
//! indexing and slicing. Operators are in `ops`, calls in `apply`.

use super::builtins;
use super::ty::{Size, Ty};
use super::{Elab, Env, FnVal, Val};
use crate::core::ir::{Atom, Block, Loop, LoopKind, Rhs};
use crate::diagnostics::{Diagnostic, Span};
use crate::prim::Prim;
use crate::syntax::ast::{BinOp, Expr, ExprKind, LoopKind as AstLoopKind, Pat, Subscript, UnOp};
use std::rc::Rc;

impl<'a> Elab<'a> {
    pub(super) fn expr(&mut self, env: &Env<'a>, e: &'a Expr) -> Val<'a> {
        match &e.kind {
            ExprKind::Int(n) => self.atom_val(Atom::I64(*n), Ty::I64),
            ExprKind::Float(x) => self.atom_val(Atom::F64(*x), Ty::F64),
            ExprKind::Bool(b) => self.atom_val(Atom::Bool(*b), Ty::Bool),
            ExprKind::Var(id) => self.lookup(env, &id.name, id.span),
            ExprKind::Tuple(es) => {
                let mut atoms = Vec::new();
                let mut tys = Vec::new();
                for el in es {
                    let v = self.expr(env, el);
                    let (a, t) = or_error!(self.first_order(v, el.span, "a tuple element"));
                    atoms.push(a);
                    tys.push(t);
                }
                let ty = Ty::Tuple(tys);
                let atom = self.ctx.cur().emit("tup", &ty, Rhs::Tuple(atoms), e.span);
                self.atom_val(atom, ty)
            }
            ExprKind::Array(es) => self.array_literal(env, es, e.span),
            ExprKind::Binary(BinOp::And, a, b) => self.short_circuit(env, a, b, true, e.span),
            ExprKind::Binary(BinOp::Or, a, b) => self.short_circuit(env, a, b, false, e.span),
            ExprKind::Binary(op, a, b) => {
                let va = self.expr(env, a);
                let vb = self.expr(env, b);
                let (Some(x), Some(y)) = (
                    self.first_order(va, a.span, &format!("an operand of `{}`", op.symbol())),
                    self.first_order(vb, b.span, &format!("an operand of `{}`", op.symbol())),
                ) else {
                    return Val::Error;
                };
                self.binary(*op, x, y, (a.span, b.span), e.span)
            }
            ExprKind::Unary(op, a) => {
                let va = self.expr(env, a);
                let what = match op {
                    UnOp::Neg => "the operand of `-`",
                    UnOp::Not => "the operand of `!`",
                };
                let x = or_error!(self.first_order(va, a.span, what));
                self.unary(*op, x, e.span)
            }
            ExprKind::Call(f, args) => {
                let fv = self.expr(env, f);
                let vals: Vec<Val<'a>> = args.iter().map(|a| self.expr(env, a)).collect();
                let spans: Vec<Span> = args.iter().map(|a| a.span).collect();
                self.apply(fv, vals, &spans, f.span, e.span)
            }
            ExprKind::Index(a, subs) => {
                let va = self.expr(env, a);
                let x = or_error!(self.first_order(va, a.span, "an indexed value"));
                let mut ixs = Vec::new();
                for s in subs {
                    ixs.push(match s {
                        Subscript::Index(i) => Sub::Index(or_error!(self.index_operand(env, i))),
                        Subscript::Slice(lo, hi) => {
                            let lo = match lo {
                                Some(l) => Some(or_error!(self.index_operand(env, l))),
                                None => None,
                            };
                            let hi = match hi {
                                Some(h) => Some(or_error!(self.index_operand(env, h))),
                                None => None,
                            };
                            Sub::Slice(lo, hi)
                        }
                    });
                }
                self.subscripts(x, &ixs, a.span, e.span)
            }
            ExprKind::Proj(t, i) => {
                let vt = self.expr(env, t);
                let (atom, ty) = or_error!(self.first_order(vt, t.span, "a projected value"));
                match &ty {
                    Ty::Tuple(ts) if *i < ts.len() => {
                        let fty = ts[*i].clone();
                        let a = self.ctx.cur().emit("p", &fty, Rhs::Proj(atom, *i), e.span);
                        self.atom_val(a, fty)
                    }
                    Ty::Tuple(ts) => {
                        let msg = format!("this tuple has {} fields, so `.{}` does not exist", ts.len(), i);
                        self.error(
                            Diagnostic::error(msg, e.span, "no such field")
                                .with_note(format!("the type is {}", self.show(&ty))),
                        );
                        Val::Error
                    }
                    _ => {
                        let msg = format!("`.{i}` projects a tuple, but this is {}", self.show(&ty));
                        self.error(Diagnostic::error(msg, t.span, "not a tuple"));
                        Val::Error
                    }
                }
            }
            ExprKind::Let(binds, body) => {
                let mut env = env.clone();
                for (pat, rhs) in binds {
                    let v = self.expr(&env, rhs);
                    env = self.bind_pat(&env, pat, v, rhs.span);
                }
                self.expr(&env, body)
            }
            ExprKind::If(c, t, f) => self.if_expr(env, c, t, f, e.span),
            ExprKind::Lambda(params, body) => Val::Fn(Rc::new(FnVal::Lambda {
                params,
                body,
                env: env.clone(),
                span: e.span,
            })),
            ExprKind::Loop { pat, init, kind, body } => self.loop_expr(env, pat, init, kind, body, e.span),
            ExprKind::Error => Val::Error,
        }
    }

    /// A name: a local, a definition, or a builtin.
    fn lookup(&mut self, env: &Env<'a>, name: &str, span: Span) -> Val<'a> {
        if let Some(v) = env.lookup(name) {
            return match v.clone() {
                Val::Atom { atom, ty, ctx } => self.localize(atom, ty, ctx),
                other => other,
            };
        }
        if self.defs.contains_key(name) {
            return Val::Fn(Rc::new(FnVal::Def(name.to_string())));
        }
        if let Some(c) = builtins::constant(name) {
            return self.atom_val(Atom::F64(c), Ty::F64);
        }
        if let Some(b) = builtins::lookup(name) {
            return Val::Fn(Rc::new(FnVal::Builtin(b)));
        }
        let mut candidates = env.names();
        candidates.extend(self.defs.keys().cloned());
        candidates.extend(builtins::names().map(str::to_string));
        let mut d = Diagnostic::error(format!("unknown name `{name}`"), span, "not defined");
        if let Some(best) = closest(name, &candidates) {
            d = d.with_note(format!("did you mean `{best}`?"));
        }
        self.error(d);
        Val::Error
    }

    /// A value of another (enclosing) function used here becomes a capture.
    pub(super) fn localize(&mut self, atom: Atom, ty: Ty, owner: super::ctx::CtxId) -> Val<'a> {
        if owner == self.ctx.cur_id() || !matches!(atom, Atom::Var(_)) {
            return Val::Atom {
                atom,
                ty: if owner == self.ctx.cur_id() {
                    ty
                } else {
                    ty.forget_var_sizes()
                },
                ctx: self.ctx.cur_id(),
            };
        }
        let ty = self.ctx.localize_ty(owner, &ty);
        let local = self.ctx.localize_atom(owner, atom);
        if let Atom::Var(v) = local {
            self.ctx.set_capture_type(v, &ty);
        }
        self.atom_val(local, ty)
    }

    /// The atom and type of a first-order value; reports an error for a
    /// function. `None` also for an error value (already reported).
    pub(super) fn first_order(&mut self, v: Val<'a>, span: Span, what: &str) -> Option<(Atom, Ty)> {
        match v {
            Val::Atom { atom, ty, ctx } => {
                if ctx == self.ctx.cur_id() {
                    return Some((atom, ty));
                }
                match self.localize(atom, ty, ctx) {
                    Val::Atom { atom, ty, .. } => Some((atom, ty)),
                    _ => None,
                }
            }
            Val::Fn(_) => {
                let msg = format!("{what} must be a value, but this is a function");
                self.error(
                    Diagnostic::error(msg, span, "a function")
                        .with_note("functions can only be called or passed to functions such as `map`"),
                );
                None
            }
            Val::Error => None,
        }
    }

    fn index_operand(&mut self, env: &Env<'a>, e: &'a Expr) -> Option<Atom> {
        let v = self.expr(env, e);
        let (atom, ty) = self.first_order(v, e.span, "an index")?;
        if ty != Ty::I64 {
            let msg = format!("an index must be an i64, but this is {}", self.show(&ty));
            let mut d = Diagnostic::error(msg, e.span, "not an i64");
            if ty == Ty::F64 {
                d = d.with_note("convert with `i64(x)`");
            }
            self.error(d);
            return None;
        }
        Some(atom)
    }

    fn short_circuit(&mut self, env: &Env<'a>, a: &'a Expr, b: &'a Expr, is_and: bool, span: Span) -> Val<'a> {
        let op = if is_and { "&&" } else { "||" };
        let va = self.expr(env, a);
        let ca = self.expect_bool(va, a.span, op);
        self.ctx.cur().open_block();
        let vb = self.expr(env, b);
        let cb = self.expect_bool(vb, b.span, op);
        let (Some(ca), Some(cb)) = (ca, cb) else {
            let _ = self.ctx.cur().close_block(Atom::Bool(false));
            return Val::Error;
        };
        let rhs_block = self.ctx.cur().close_block(cb);
        // a && b = if a then b else false;  a || b = if a then true else b
        let (then, otherwise) = if is_and {
            (rhs_block, Block::atom(Atom::Bool(false)))
        } else {
            (Block::atom(Atom::Bool(true)), rhs_block)
        };
        let atom = self.ctx.cur().emit("c", &Ty::Bool, Rhs::If(ca, then, otherwise), span);
        self.atom_val(atom, Ty::Bool)
    }

    fn expect_bool(&mut self, v: Val<'a>, span: Span, op: &str) -> Option<Atom> {
        let (atom, ty) = self.first_order(v, span, &format!("an operand of `{op}`"))?;
        if ty != Ty::Bool {
            let msg = format!("`{op}` needs bool operands, but this is {}", self.show(&ty));
            self.error(Diagnostic::error(msg, span, "not a bool"));
            return None;
        }
        Some(atom)
    }

    fn array_literal(&mut self, env: &Env<'a>, es: &'a [Expr], span: Span) -> Val<'a> {
        let mut atoms = Vec::new();
        let mut elem: Option<(Ty, Span)> = None;
        let mut failed = false;
        for el in es {
            let v = self.expr(env, el);
            let Some((a, t)) = self.first_order(v, el.span, "an array element") else {
                failed = true;
                continue;
            };
            match &elem {
                None => elem = Some((t, el.span)),
                Some((first, first_span)) => {
                    if !first.same_structure(&t) {
                        let msg = format!(
                            "array elements must have one type, but this is {} and the first is {}",
                            self.show(&t),
                            self.show(first)
                        );
                        self.error(
                            Diagnostic::error(msg, el.span, "different type").with_label(*first_span, "first element"),
                        );
                        failed = true;
                    } else if let Some((x, y)) = first.size_conflict(&t) {
                        let msg = format!(
                            "the rows of an array must have one size, but this row has size {} and the first has size {}",
                            self.show_size(y),
                            self.show_size(x)
                        );
                        self.error(
                            Diagnostic::error(msg, el.span, "different size").with_label(*first_span, "first row"),
                        );
                        failed = true;
                    } else {
                        let joined = first.join(&t);
                        elem = Some((joined, *first_span));
                    }
                }
            }
            atoms.push(a);
        }
        if failed {
            return Val::Error;
        }
        // An empty literal `[]` is an array of f64.
        let elem_ty = elem.map(|(t, _)| t).unwrap_or(Ty::F64);
        let ty = Ty::array(Size::Const(atoms.len() as i64), elem_ty.clone());
        let core_elem = elem_ty.to_core().unwrap_or_else(crate::core::ir::Type::unit);
        let atom = self.ctx.cur().emit("arr", &ty, Rhs::Array(atoms, core_elem), span);
        self.atom_val(atom, ty)
    }

    /// Binds a pattern to a value, destructuring tuples.
    pub(super) fn bind_pat(&mut self, env: &Env<'a>, pat: &'a Pat, v: Val<'a>, span: Span) -> Env<'a> {
        match pat {
            Pat::Var(id) => env.bind(&id.name, v),
            Pat::Wild(_) => env.clone(),
            Pat::Typed(p, t) => {
                let want = self.type_of(t, &mut |n| match env.lookup(n) {
                    Some(Val::Atom {
                        atom: Atom::Var(var),
                        ty: Ty::I64,
                        ..
                    }) => Some(Size::Var(*var)),
                    Some(Val::Atom {
                        atom: Atom::I64(c),
                        ty: Ty::I64,
                        ..
                    }) => Some(Size::Const(*c)),
                    _ => None,
                });
                let ok = match &v {
                    Val::Atom { ty, .. } => {
                        if !want.same_structure(ty) {
                            let msg = format!("this is {} but the annotation says {}", self.show(ty), self.show(&want));
                            self.error(Diagnostic::error(msg, span, "type mismatch").with_label(t.span, "annotation"));
                            false
                        } else if let Some((a, b)) = want.size_conflict(ty) {
                            let msg = format!(
                                "this has size {} but the annotation says {}",
                                self.show_size(b),
                                self.show_size(a)
                            );
                            self.error(Diagnostic::error(msg, span, "size mismatch").with_label(t.span, "annotation"));
                            false
                        } else {
                            true
                        }
                    }
                    Val::Fn(_) | Val::Error => true,
                };
                self.bind_pat(env, p, if ok { v } else { Val::Error }, span)
            }
            Pat::Tuple(ps, pspan) => {
                let fields = match &v {
                    Val::Error => None,
                    Val::Fn(_) => {
                        self.error(Diagnostic::error(
                            "a function cannot be destructured as a tuple",
                            *pspan,
                            "tuple pattern",
                        ));
                        None
                    }
                    Val::Atom { ty: Ty::Tuple(ts), .. } if ts.len() == ps.len() => Some(ts.clone()),
                    Val::Atom { ty, .. } => {
                        let msg = format!(
                            "this pattern has {} fields but the value is {}",
                            ps.len(),
                            self.show(ty)
                        );
                        self.error(
                            Diagnostic::error(msg, *pspan, "pattern does not fit").with_label(span, "the value"),
                        );
                        None
                    }
                };
                let mut env = env.clone();
                match (fields, v) {
                    (Some(ts), Val::Atom { atom, ctx, .. }) => {
                        let atom = match self.localize(atom, Ty::unit(), ctx) {
                            Val::Atom { atom, .. } => atom,
                            _ => atom,
                        };
                        for (i, (p, t)) in ps.iter().zip(ts).enumerate() {
                            if let Pat::Wild(_) = p {
                                continue;
                            }
                            let name = match p {
                                Pat::Var(id) => id.name.as_str(),
                                _ => "p",
                            };
                            let a = self.ctx.cur().emit(name, &t, Rhs::Proj(atom, i), span);
                            let field = self.atom_val(a, t);
                            env = self.bind_pat(&env, p, field, span);
                        }
                    }
                    _ => {
                        for p in ps {
                            env = self.bind_pat(&env, p, Val::Error, span);
                        }
                    }
                }
                env
            }
        }
    }

    fn if_expr(&mut self, env: &Env<'a>, c: &'a Expr, t: &'a Expr, f: &'a Expr, span: Span) -> Val<'a> {
        let vc = self.expr(env, c);
        let cond = match self.first_order(vc, c.span, "a condition") {
            Some((a, Ty::Bool)) => Some(a),
            Some((_, ty)) => {
                let msg = format!("the condition of `if` must be a bool, but this is {}", self.show(&ty));
                self.error(Diagnostic::error(msg, c.span, "not a bool"));
                None
            }
            None => None,
        };
        let then = self.branch(env, t, "the `then` branch");
        let otherwise = self.branch(env, f, "the `else` branch");
        let (Some(cond), Some((tb, tt)), Some((fb, ft))) = (cond, then, otherwise) else {
            return Val::Error;
        };
        if !tt.same_structure(&ft) {
            let msg = format!(
                "the branches of `if` have different types: {} and {}",
                self.show(&tt),
                self.show(&ft)
            );
            let then_label = format!("this is {}", self.show(&tt));
            let else_label = format!("this is {}", self.show(&ft));
            self.error(Diagnostic::error(msg, f.span, else_label).with_label(t.span, then_label));
            return Val::Error;
        }
        let ty = tt.join(&ft);
        let atom = self.ctx.cur().emit("r", &ty, Rhs::If(cond, tb, fb), span);
        self.atom_val(atom, ty)
    }

    fn branch(&mut self, env: &Env<'a>, e: &'a Expr, what: &str) -> Option<(Block, Ty)> {
        self.ctx.cur().open_block();
        let v = self.expr(env, e);
        let r = self.first_order(v, e.span, what);
        match r {
            Some((a, t)) => Some((self.ctx.cur().close_block(a), t)),
            None => {
                let _ = self.ctx.cur().close_block(Atom::Bool(false));
                None
            }
        }
    }

    fn loop_expr(
        &mut self,
        env: &Env<'a>,
        pat: &'a Pat,
        init: &'a Expr,
        kind: &'a AstLoopKind,
        body: &'a Expr,
        span: Span,
    ) -> Val<'a> {
        let vi = self.expr(env, init);
        let Some((init_atom, init_ty)) = self.first_order(vi, init.span, "a loop's initial state") else {
            return Val::Error;
        };
        let n = match kind {
            AstLoopKind::For(_, n) => {
                let vn = self.expr(env, n);
                match self.first_order(vn, n.span, "a loop's iteration count") {
                    Some((a, Ty::I64)) => Some(a),
                    Some((_, ty)) => {
                        let msg = format!(
                            "a `for` loop runs an i64 number of times, but this is {}",
                            self.show(&ty)
                        );
                        self.error(Diagnostic::error(msg, n.span, "not an i64"));
                        return Val::Error;
                    }
                    None => return Val::Error,
                }
            }
            AstLoopKind::While(_) => None,
        };
        // The state may change size from one iteration to the next: try the
        // initial sizes, then the sizes the body agrees with, then none.
        let mut state_ty = init_ty.clone();
        for attempt in 0..3 {
            let errors_before = self.diags.len();
            let state = self.ctx.cur().fresh(&pat_name(pat), &state_ty);
            let state_val = self.atom_val(Atom::Var(state.var), state_ty.clone());
            let index = match kind {
                AstLoopKind::For(i, _) => Some((self.ctx.cur().fresh(&i.name, &Ty::I64), i)),
                AstLoopKind::While(_) => None,
            };
            // The condition of a while loop.
            let cond = match kind {
                AstLoopKind::While(c) => {
                    self.ctx.cur().open_block();
                    let cenv = self.bind_pat(env, pat, state_val.clone(), init.span);
                    let vc = self.expr(&cenv, c);
                    let ca = self.expect_bool_named(vc, c.span, "the condition of `while`");
                    let block = self.ctx.cur().close_block(ca.unwrap_or(Atom::Bool(false)));
                    if ca.is_none() {
                        return Val::Error;
                    }
                    Some(block)
                }
                AstLoopKind::For(..) => None,
            };
            self.ctx.cur().open_block();
            let mut benv = self.bind_pat(env, pat, state_val, init.span);
            if let Some((b, i)) = &index {
                benv = benv.bind(&i.name, self.atom_val(Atom::Var(b.var), Ty::I64));
            }
            let vb = self.expr(&benv, body);
            let result = self.first_order(vb, body.span, "a loop body");
            let Some((batom, bty)) = result else {
                let _ = self.ctx.cur().close_block(Atom::Bool(false));
                return Val::Error;
            };
            let block = self.ctx.cur().close_block(batom);
            if !bty.same_structure(&state_ty) {
                let msg = format!(
                    "the loop body returns {} but the state is {}",
                    self.show(&bty),
                    self.show(&state_ty)
                );
                self.error(
                    Diagnostic::error(msg, body.span, "the new state").with_label(init.span, "the initial state"),
                );
                return Val::Error;
            }
            if let Some(wider) = state_ty.widen_state(&bty, attempt) {
                // Sizes changed: discard this attempt and retry with fewer sizes.
                self.diags.truncate(errors_before);
                state_ty = wider;
                continue;
            }
            let kind = match (index, cond) {
                (Some((b, _)), _) => LoopKind::For {
                    n: n.unwrap_or(Atom::I64(0)),
                    index: b,
                },
                (None, Some(cond)) => LoopKind::While { cond },
                (None, None) => return Val::Error,
            };
            let lp = Loop {
                state,
                init: init_atom,
                kind,
                body: block,
            };
            let atom = self.ctx.cur().emit(&pat_name(pat), &state_ty, Rhs::Loop(lp), span);
            return self.atom_val(atom, state_ty);
        }
        Val::Error
    }

    fn expect_bool_named(&mut self, v: Val<'a>, span: Span, what: &str) -> Option<Atom> {
        let (atom, ty) = self.first_order(v, span, what)?;
        if ty != Ty::Bool {
            let msg = format!("{what} must be a bool, but this is {}", self.show(&ty));
            self.error(Diagnostic::error(msg, span, "not a bool"));
            return None;
        }
        Some(atom)
    }

    /// Applies subscripts left to right; after a slice, the remaining
    /// subscripts apply to every element of the slice.
    fn subscripts(&mut self, x: (Atom, Ty), subs: &[Sub], arr_span: Span, span: Span) -> Val<'a> {
        let Some((first, rest)) = subs.split_first() else {
            return self.atom_val(x.0, x.1);
        };
        let (atom, ty) = x;
        let Ty::Array(size, elem) = &ty else {
            let msg = format!("only arrays can be indexed, but this is {}", self.show(&ty));
            self.error(Diagnostic::error(msg, arr_span, "not an array"));
            return Val::Error;
        };
        match first {
            Sub::Index(i) => {
                if let (Atom::I64(k), Size::Const(n)) = (i, size) {
                    if *k < 0 || k >= n {
                        let msg = format!("index {k} is out of bounds for an array of {n} elements");
                        self.error(Diagnostic::error(msg, span, "out of bounds"));
                        return Val::Error;
                    }
                }
                let a = self
                    .ctx
                    .cur()
                    .emit("x", elem, Rhs::Prim(Prim::Index, vec![atom, *i]), span);
                self.subscripts((a, (**elem).clone()), rest, arr_span, span)
            }
            Sub::Slice(lo, hi) => {
                let lo = lo.unwrap_or(Atom::I64(0));
                let hi = match hi {
                    Some(h) => *h,
                    None => self.length_of(atom, *size, span),
                };
                let new_size = match (lo, hi) {
                    (Atom::I64(a), Atom::I64(b)) if b >= a => Size::Const(b - a),
                    (Atom::I64(0), Atom::Var(v)) => Size::Var(v),
                    _ => Size::Unknown,
                };
                let sty = Ty::array(new_size, (**elem).clone());
                let sliced = self
                    .ctx
                    .cur()
                    .emit("s", &sty, Rhs::Prim(Prim::Slice, vec![atom, lo, hi]), span);
                if rest.is_empty() {
                    return self.atom_val(sliced, sty);
                }
                // Map the remaining subscripts over the rows of the slice.
                let row = self.ctx.cur().fresh("row", elem);
                self.ctx.cur().open_block();
                let inner = self.subscripts((Atom::Var(row.var), (**elem).clone()), rest, arr_span, span);
                let Some((ra, rt)) = self.first_order(inner, span, "an element") else {
                    let _ = self.ctx.cur().close_block(Atom::Bool(false));
                    return Val::Error;
                };
                let body = self.ctx.cur().close_block(ra);
                let mty = Ty::array(new_size, rt);
                let m = self.ctx.cur().emit(
                    "m",
                    &mty,
                    Rhs::Map {
                        arrays: vec![sliced],
                        params: vec![row],
                        body,
                    },
                    span,
                );
                self.atom_val(m, mty)
            }
        }
    }

    /// The length of an array: the size itself when it is known.
    pub(super) fn length_of(&mut self, atom: Atom, size: Size, span: Span) -> Atom {
        match size {
            Size::Const(c) => Atom::I64(c),
            Size::Var(v) => Atom::Var(v),
            Size::Unknown => self
                .ctx
                .cur()
                .emit("n", &Ty::I64, Rhs::Prim(Prim::Length, vec![atom]), span),
        }
    }

    /// A type for messages, with sizes named after their variables.
    pub(super) fn show(&self, ty: &Ty) -> String {
        match self.ctx.stack.last() {
            Some(c) => ty.display(&|v| c.var_name(v)),
            None => ty.display(&|v| format!("v{}", v.0)),
        }
    }

    pub(super) fn show_size(&self, s: Size) -> String {
        match self.ctx.stack.last() {
            Some(c) => super::ty::display_size(s, &|v| c.var_name(v)),
            None => super::ty::display_size(s, &|v| format!("v{}", v.0)),
        }
    }
}

/// A checked subscript.
enum Sub {
    Index(Atom),
    Slice(Option<Atom>, Option<Atom>),
}

fn pat_name(p: &Pat) -> String {
    match p {
        Pat::Var(id) => id.name.clone(),
        Pat::Typed(p, _) => pat_name(p),
        Pat::Wild(_) | Pat::Tuple(..) => "state".to_string(),
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough
/// to be a likely typo.
pub(super) fn closest(name: &str, candidates: &[String]) -> Option<String> {
    let mut best: Option<(usize, &String)> = None;
    for c in candidates {
        if c.contains('$') || c == name {
            continue;
        }
        let d = edit_distance(name, c);
        if best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    let (d, c) = best?;
    let limit = (name.chars().count().max(2) / 3).max(1);
    (d <= limit).then(|| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}
