//! Calls: of definitions (a core call, or inlined when the definition takes
//! functions), of lambdas (elaborated at the call), of builtins and of
//! derivative operators.

use super::defs::Step;
use super::ty::{compare_sizes, Size, SizeCmp, Ty};
use super::{Elab, Env, FnVal, Val};
use crate::core::ir::{Atom, Rhs, Type, VarId};
use crate::diagnostics::{Diagnostic, Span};
use crate::syntax::ast::{self, SizeExpr, TypeExpr, TypeKind};
use crate::HashMap;
use std::rc::Rc;

impl<'a> Elab<'a> {
    pub(super) fn apply(&mut self, f: Val<'a>, args: Vec<Val<'a>>, spans: &[Span], fspan: Span, span: Span) -> Val<'a> {
        match f {
            Val::Error => Val::Error,
            Val::Atom { ty, .. } => {
                let msg = format!("this is a value of type {}, not a function", self.show(&ty));
                self.error(Diagnostic::error(msg, fspan, "called here"));
                Val::Error
            }
            Val::Fn(fv) => {
                if args.iter().any(|a| matches!(a, Val::Error)) {
                    return Val::Error;
                }
                self.apply_fn(&fv, args, spans, span)
            }
        }
    }

    pub(super) fn apply_fn(&mut self, f: &Rc<FnVal<'a>>, args: Vec<Val<'a>>, spans: &[Span], span: Span) -> Val<'a> {
        match &**f {
            FnVal::Def(name) => self.call_def(name, args, spans, span),
            FnVal::Builtin(name) => self.builtin(name, args, spans, span),
            FnVal::Lambda {
                params,
                body,
                env,
                span: lspan,
            } => {
                if params.len() != args.len() {
                    let msg = format!(
                        "this lambda takes {} arguments but is given {}",
                        params.len(),
                        args.len()
                    );
                    self.error(
                        Diagnostic::error(msg, span, "wrong number of arguments").with_label(*lspan, "the lambda"),
                    );
                    return Val::Error;
                }
                let mut env = env.clone();
                for ((p, a), s) in params
                    .iter()
                    .zip(args)
                    .zip(spans.iter().chain(std::iter::repeat(&span)))
                {
                    env = self.bind_pat(&env, p, a, *s);
                }
                self.expr(&env, body)
            }
            FnVal::Deriv(op, inner, dspan) => self.apply_deriv(*op, inner, args, spans, *dspan, span),
            FnVal::Declared { name, ty, inner } => self.apply_declared(name, ty, inner, args, spans, span),
        }
    }

    fn arity(&mut self, what: &str, want: usize, got: usize, span: Span) -> bool {
        if want == got {
            return true;
        }
        let plural = if want == 1 { "argument" } else { "arguments" };
        let were = if got == 1 { "was" } else { "were" };
        let msg = format!("{what} takes {want} {plural} but {got} {were} given");
        self.error(Diagnostic::error(msg, span, format!("expected {want} {plural}")));
        false
    }

    fn call_def(&mut self, name: &str, args: Vec<Val<'a>>, spans: &[Span], span: Span) -> Val<'a> {
        let def = self.defs[name];
        if self.is_higher_order(def) {
            return self.inline_def(def, args, spans, span);
        }
        let sig = or_error!(self.ensure_def(name, span));
        if !self.arity(&format!("`{name}`"), sig.params.len(), args.len(), span) {
            return Val::Error;
        }
        let mut xs = Vec::new();
        for (a, s) in args.into_iter().zip(spans) {
            xs.push(or_error!(self.first_order(a, *s, "an argument")));
        }
        // A function of one scalar applies to every element of an array.
        if let ([param], [(_, arg_ty)]) = (sig.params.as_slice(), xs.as_slice()) {
            if param.is_scalar()
                && !arg_ty.is_scalar()
                && arg_ty.scalar_elem() == param
                && matches!(arg_ty, Ty::Array(..))
            {
                let x = xs.pop().expect("one argument");
                return self.map_call(name, &sig.ret, x, span);
            }
        }
        let subst = or_error!(self.match_params(name, def, &sig.params, &sig.names, &xs, spans));
        let ret = sig.ret.substitute(&subst);
        let atoms = xs.iter().map(|(a, _)| *a).collect();
        let a = self
            .ctx
            .cur()
            .emit(name, &ret, Rhs::Call(name.to_string(), atoms), span);
        self.atom_val(a, ret)
    }

    /// `f(a)` for `f` of one scalar and an array `a`: a map of calls.
    fn map_call(&mut self, name: &str, ret: &Ty, x: (Atom, Ty), span: Span) -> Val<'a> {
        let Ty::Array(n, elem) = &x.1 else {
            let a = self
                .ctx
                .cur()
                .emit(name, ret, Rhs::Call(name.to_string(), vec![x.0]), span);
            return self.atom_val(a, ret.clone());
        };
        let (n, elem) = (*n, (**elem).clone());
        let p = self.ctx.cur().fresh("x", &elem);
        self.ctx.cur().open_block();
        let inner = self.map_call(name, ret, (Atom::Var(p.var), elem), span);
        let Val::Atom { atom, ty, .. } = inner else {
            let _ = self.ctx.cur().close_block(Atom::Bool(false));
            return Val::Error;
        };
        let body = self.ctx.cur().close_block(atom);
        let mty = Ty::array(n, ty);
        let a = self.ctx.cur().emit(
            "m",
            &mty,
            Rhs::Map {
                arrays: vec![x.0],
                params: vec![p],
                body,
            },
            span,
        );
        self.atom_val(a, mty)
    }

    /// Checks arguments against a signature and returns the substitution of
    /// the callee's size variables by the caller's sizes.
    pub(super) fn match_params(
        &mut self,
        name: &str,
        def: &ast::Def,
        params: &[Ty],
        names: &HashMap<VarId, String>,
        args: &[(Atom, Ty)],
        spans: &[Span],
    ) -> Option<HashMap<VarId, Size>> {
        let mut subst: HashMap<VarId, Size> = HashMap::default();
        let callee_name = |v: VarId| names.get(&v).cloned().unwrap_or_else(|| format!("v{}", v.0));
        for (i, ((want, (_, got)), s)) in params.iter().zip(args).zip(spans).enumerate() {
            let pname = def
                .params
                .get(i)
                .map_or(String::new(), |p| format!(" `{}`", p.name.name));
            if !want.same_structure(got) {
                let msg = format!(
                    "argument {}{} of `{name}` must be {}, but this is {}",
                    i + 1,
                    pname,
                    want.display(&callee_name),
                    self.show(got)
                );
                let mut d = Diagnostic::error(msg, *s, "wrong type");
                if let Some(p) = def.params.get(i) {
                    d = d.with_label(p.ty.span, "parameter declared here");
                }
                self.error(d);
                return None;
            }
            let mut conflict = None;
            unify_sizes(want, got, &mut subst, &mut conflict);
            if let Some((w, g)) = conflict {
                let expected = match w {
                    Size::Var(v) => {
                        let bound = subst.get(&v).copied().unwrap_or(Size::Unknown);
                        format!("{} (the size `{}`)", self.show_size(bound), callee_name(v))
                    }
                    other => self.show_size(other),
                };
                let msg = format!(
                    "size mismatch: argument {}{} of `{name}` has size {} where {} is expected",
                    i + 1,
                    pname,
                    self.show_size(g),
                    expected
                );
                let mut d = Diagnostic::error(msg, *s, "wrong size");
                if let Some(p) = def.params.get(i) {
                    d = d.with_label(p.ty.span, "parameter declared here");
                }
                self.error(d);
                return None;
            }
        }
        Some(subst)
    }

    /// A definition that takes functions is specialised by elaborating its
    /// body at each call, with the functions bound in its environment.
    fn inline_def(&mut self, def: &'a ast::Def, args: Vec<Val<'a>>, spans: &[Span], span: Span) -> Val<'a> {
        let name = def.name.name.as_str();
        if self.active.iter().any(|n| n == name) {
            self.report_recursion(name, span);
            return Val::Error;
        }
        if !self.arity(&format!("`{name}`"), def.params.len(), args.len(), span) {
            return Val::Error;
        }
        let mut env = Env::default();
        let mut sizes: HashMap<String, Size> = HashMap::default();
        let mut bound = Vec::new();
        for ((p, a), s) in def.params.iter().zip(args).zip(spans) {
            if let TypeKind::Func(..) = p.ty.kind {
                let ty = self.type_of(&p.ty, &mut |_| None);
                match a {
                    Val::Fn(inner) => {
                        let declared = FnVal::Declared {
                            name: p.name.name.clone(),
                            ty,
                            inner,
                        };
                        bound.push((p.name.name.as_str(), Val::Fn(Rc::new(declared))));
                    }
                    Val::Atom { ty: got, .. } => {
                        let msg = format!(
                            "`{name}` expects a function for `{}`, but this is a value of type {}",
                            p.name.name,
                            self.show(&got)
                        );
                        self.error(
                            Diagnostic::error(msg, *s, "not a function")
                                .with_label(p.ty.span, "parameter declared here"),
                        );
                        return Val::Error;
                    }
                    Val::Error => return Val::Error,
                }
                continue;
            }
            let (atom, got) = or_error!(self.first_order(a, *s, "an argument"));
            let want = self.type_of(&p.ty, &mut |_| None);
            if !want.same_structure(&got) {
                let msg = format!(
                    "argument `{}` of `{name}` must be {}, but this is {}",
                    p.name.name,
                    self.show(&want),
                    self.show(&got)
                );
                self.error(Diagnostic::error(msg, *s, "wrong type").with_label(p.ty.span, "parameter declared here"));
                return Val::Error;
            }
            let root = (atom, got.to_core().unwrap_or_else(Type::unit));
            if !self.bind_arg_sizes(&p.ty, &got, &root, &mut Vec::new(), &mut sizes, *s) {
                return Val::Error;
            }
            bound.push((p.name.name.as_str(), self.atom_val(atom, got)));
        }
        for (n, size) in &sizes {
            if let Some(a) = super::defs::size_atom(*size) {
                env = env.bind(n, self.atom_val(a, Ty::I64));
            }
        }
        for (n, v) in bound {
            env = env.bind(n, v);
        }
        self.active.push(name.to_string());
        let result = self.expr(&env, &def.body);
        self.active.pop();
        if let (Some(ret), Val::Atom { ty, .. }) = (&def.ret, &result) {
            let want = self.type_of(ret, &mut |n| sizes.get(n).copied());
            if !want.same_structure(ty) {
                let msg = format!(
                    "`{name}` returns {} but its declared result type is {}",
                    self.show(ty),
                    self.show(&want)
                );
                self.error(
                    Diagnostic::error(msg, def.body.span, "the body has this type")
                        .with_label(ret.span, "declared here"),
                );
                return Val::Error;
            }
        }
        result
    }

    /// Binds the size names of an inlined parameter's type to the sizes of
    /// its argument; an unknown size is read with `length`.
    fn bind_arg_sizes(
        &mut self,
        t: &TypeExpr,
        got: &Ty,
        root: &(Atom, Type),
        path: &mut Vec<Step>,
        sizes: &mut HashMap<String, Size>,
        span: Span,
    ) -> bool {
        match (&t.kind, got) {
            (TypeKind::Tuple(ts), Ty::Tuple(gs)) => {
                for (i, (t, g)) in ts.iter().zip(gs).enumerate() {
                    path.push(Step::Field(i));
                    let ok = self.bind_arg_sizes(t, g, root, path, sizes, span);
                    path.pop();
                    if !ok {
                        return false;
                    }
                }
                true
            }
            (TypeKind::Array(s, elem), Ty::Array(n, gelem)) => {
                match s {
                    SizeExpr::Unknown => {}
                    SizeExpr::Const(c) => {
                        if compare_sizes(Size::Const(*c), *n) == SizeCmp::Different {
                            let msg = format!(
                                "size mismatch: this array has {} elements where {c} are expected",
                                self.show_size(*n)
                            );
                            self.error(Diagnostic::error(msg, span, "wrong size").with_label(t.span, "declared here"));
                            return false;
                        }
                    }
                    SizeExpr::Var(id) => {
                        let actual = match n {
                            Size::Unknown => match self.emit_path_length(root, path, span) {
                                Atom::Var(v) => Size::Var(v),
                                Atom::I64(c) => Size::Const(c),
                                _ => Size::Unknown,
                            },
                            known => *known,
                        };
                        match sizes.get(&id.name) {
                            Some(prev) if compare_sizes(*prev, actual) == SizeCmp::Different => {
                                let msg = format!(
                                    "size mismatch: `{}` is {} here but {} in an earlier argument",
                                    id.name,
                                    self.show_size(actual),
                                    self.show_size(*prev)
                                );
                                self.error(
                                    Diagnostic::error(msg, span, "wrong size").with_label(t.span, "declared here"),
                                );
                                return false;
                            }
                            Some(_) => {}
                            None => {
                                sizes.insert(id.name.clone(), actual);
                            }
                        }
                    }
                }
                path.push(Step::Row);
                let ok = self.bind_arg_sizes(elem, gelem, root, path, sizes, span);
                path.pop();
                ok
            }
            _ => true,
        }
    }

    fn apply_declared(
        &mut self,
        name: &str,
        ty: &Ty,
        inner: &Rc<FnVal<'a>>,
        args: Vec<Val<'a>>,
        spans: &[Span],
        span: Span,
    ) -> Val<'a> {
        let Ty::Func(params, ret) = ty else {
            return self.apply_fn(inner, args, spans, span);
        };
        if !self.arity(&format!("`{name}`"), params.len(), args.len(), span) {
            return Val::Error;
        }
        for ((want, a), s) in params.iter().zip(&args).zip(spans) {
            if let Val::Atom { ty: got, .. } = a {
                if !want.same_structure(got) {
                    let msg = format!(
                        "`{name}` takes {} here, but this is {}",
                        self.show(want),
                        self.show(got)
                    );
                    self.error(Diagnostic::error(msg, *s, "wrong type"));
                    return Val::Error;
                }
            }
        }
        let result = self.apply_fn(inner, args, spans, span);
        if let Val::Atom { ty: got, .. } = &result {
            if !ret.same_structure(got) {
                let msg = format!(
                    "the function passed as `{name}` returns {}, but {} is declared",
                    self.show(got),
                    self.show(ret)
                );
                self.error(Diagnostic::error(msg, span, "wrong result type"));
                return Val::Error;
            }
        }
        result
    }
}

/// Matches a parameter type against an argument type, extending `subst`
/// with the callee's size variables; records the first static conflict.
fn unify_sizes(want: &Ty, got: &Ty, subst: &mut HashMap<VarId, Size>, conflict: &mut Option<(Size, Size)>) {
    if conflict.is_some() {
        return;
    }
    match (want, got) {
        (Ty::Array(w, we), Ty::Array(g, ge)) => {
            match w {
                Size::Var(v) => match subst.get(v) {
                    Some(prev) => {
                        if compare_sizes(*prev, *g) == SizeCmp::Different {
                            *conflict = Some((*w, *g));
                            return;
                        }
                    }
                    None => {
                        subst.insert(*v, *g);
                    }
                },
                Size::Const(_) => {
                    if compare_sizes(*w, *g) == SizeCmp::Different {
                        *conflict = Some((*w, *g));
                        return;
                    }
                }
                Size::Unknown => {}
            }
            unify_sizes(we, ge, subst, conflict);
        }
        (Ty::Tuple(ws), Ty::Tuple(gs)) => {
            for (w, g) in ws.iter().zip(gs) {
                unify_sizes(w, g, subst, conflict);
            }
        }
        _ => {}
    }
}
