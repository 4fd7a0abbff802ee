//! The builtin functions of the language and how each is elaborated:
//! scalar functions lift element-wise, array combinators take their function
//! argument inline, and linear algebra maps to its primitives.

use super::ty::{compare_sizes, Size, SizeCmp, Ty};
use super::{Elab, FnVal, Val};
use crate::core::ir::{Atom, Combine, DerivOp, Loop, LoopKind, Rhs};
use crate::diagnostics::{Diagnostic, Span};
use crate::prim::Prim;
use std::rc::Rc;

/// Scalar functions of f64, applied element-wise to arrays.
const UNARY_F64: &[(&str, Prim)] = &[
    ("sqrt", Prim::Sqrt),
    ("exp", Prim::Exp),
    ("log", Prim::Log),
    ("log1p", Prim::Log1p),
    ("expm1", Prim::Expm1),
    ("sin", Prim::Sin),
    ("cos", Prim::Cos),
    ("tan", Prim::Tan),
    ("tanh", Prim::Tanh),
    ("sigmoid", Prim::Sigmoid),
    ("floor", Prim::Floor),
    ("ceil", Prim::Ceil),
    ("erf", Prim::Erf),
    ("lgamma", Prim::Lgamma),
];

/// Scalar functions of f64 or i64, applied element-wise.
const UNARY_NUM: &[(&str, Prim)] = &[("abs", Prim::Abs), ("sign", Prim::Sign)];

/// Binary scalar functions, element-wise with scalar broadcasting.
const BINARY: &[(&str, Prim)] = &[
    ("min", Prim::Min),
    ("max", Prim::Max),
    ("pow", Prim::Pow),
    ("atan2", Prim::Atan2),
];

/// Reductions of a one-dimensional array of numbers.
const REDUCTIONS: &[(&str, Prim)] = &[
    ("sum", Prim::Sum),
    ("prod", Prim::Prod),
    ("maximum", Prim::Maximum),
    ("minimum", Prim::Minimum),
    ("argmax", Prim::Argmax),
    ("argmin", Prim::Argmin),
];

const OTHERS: &[&str] = &[
    "f64",
    "i64",
    "length",
    "iota",
    "replicate",
    "build",
    "map",
    "map2",
    "map3",
    "reduce",
    "fold",
    "scan",
    "dot",
    "matmul",
    "matvec",
    "outer",
    "transpose",
    "concat",
    "reverse",
    "flatten",
    "unflatten",
    "scatter_add",
    "stop_gradient",
];

const CONSTANTS: &[(&str, f64)] = &[("pi", std::f64::consts::PI), ("inf", f64::INFINITY), ("nan", f64::NAN)];

pub fn constant(name: &str) -> Option<f64> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// Every builtin function name (constants excluded).
pub fn names() -> impl Iterator<Item = &'static str> {
    UNARY_F64
        .iter()
        .chain(UNARY_NUM)
        .chain(BINARY)
        .chain(REDUCTIONS)
        .map(|(n, _)| *n)
        .chain(OTHERS.iter().copied())
        .chain(DerivOp::ALL.iter().map(|op| op.name()))
        .chain(CONSTANTS.iter().map(|(n, _)| *n))
}

/// The static name of a builtin function.
pub fn lookup(name: &str) -> Option<&'static str> {
    names().find(|n| *n == name && constant(n).is_none())
}

pub fn is_builtin(name: &str) -> bool {
    names().any(|n| n == name)
}

fn find(table: &[(&'static str, Prim)], name: &str) -> Option<Prim> {
    table.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

impl<'a> Elab<'a> {
    pub(super) fn builtin(&mut self, name: &'static str, args: Vec<Val<'a>>, spans: &[Span], span: Span) -> Val<'a> {
        if let Some(op) = DerivOp::from_name(name) {
            if !self.builtin_arity(name, 1, args.len(), span) {
                return Val::Error;
            }
            return match args.into_iter().next() {
                Some(Val::Fn(f)) => Val::Fn(Rc::new(FnVal::Deriv(op, f, span))),
                Some(Val::Atom { ty, .. }) => {
                    let msg = format!(
                        "`{name}` takes a function, but this is a value of type {}",
                        self.show(&ty)
                    );
                    self.error(
                        Diagnostic::error(msg, spans[0], "not a function")
                            .with_note(format!("write `{name}(f)(x)` to evaluate the derivative of `f` at `x`")),
                    );
                    Val::Error
                }
                _ => Val::Error,
            };
        }
        match name {
            "map" | "map2" | "map3" => {
                let k = match name {
                    "map" => 1,
                    "map2" => 2,
                    _ => 3,
                };
                if !self.builtin_arity(name, k + 1, args.len(), span) {
                    return Val::Error;
                }
                let mut it = args.into_iter();
                let f = or_error!(self.function_arg(name, it.next(), spans[0]));
                let mut arrays = Vec::new();
                for (a, s) in it.zip(&spans[1..]) {
                    arrays.push((or_error!(self.array_arg(name, Some(a), *s)), *s));
                }
                return self.map(name, &f, arrays, span);
            }
            "build" => {
                if !self.builtin_arity(name, 2, args.len(), span) {
                    return Val::Error;
                }
                let mut it = args.into_iter();
                let n = or_error!(self.int_arg(name, it.next(), spans[0]));
                let f = or_error!(self.function_arg(name, it.next(), spans[1]));
                let index = self.ctx.cur().fresh("i", &Ty::I64);
                self.ctx.cur().open_block();
                let iv = self.atom_val(Atom::Var(index.var), Ty::I64);
                let r = self.apply_fn(&f, vec![iv], &[span], span);
                let Some((ra, rt)) = self.first_order(r, spans[1], "the result of `build`'s function") else {
                    let _ = self.ctx.cur().close_block(Atom::Bool(false));
                    return Val::Error;
                };
                let body = self.ctx.cur().close_block(ra);
                let ty = Ty::array(size_of_atom(n), rt);
                let a = self.ctx.cur().emit("b", &ty, Rhs::Build { n, index, body }, span);
                return self.atom_val(a, ty);
            }
            "reduce" | "scan" => {
                if !self.builtin_arity(name, 3, args.len(), span) {
                    return Val::Error;
                }
                let mut it = args.into_iter();
                let f = or_error!(self.function_arg(name, it.next(), spans[0]));
                let ne = or_error!(self.first_order(it.next().unwrap_or(Val::Error), spans[1], "a neutral element"));
                let arr = or_error!(self.array_arg(name, it.next(), spans[2]));
                let Ty::Array(n, elem) = &arr.1 else { return Val::Error };
                let (n, elem) = (*n, (**elem).clone());
                if !elem.same_structure(&ne.1) {
                    let msg = format!(
                        "the neutral element of `{name}` must have the array's element type {}, but it is {}",
                        self.show(&elem),
                        self.show(&ne.1)
                    );
                    self.error(Diagnostic::error(msg, spans[1], "wrong type"));
                    return Val::Error;
                }
                let elem = elem.join(&ne.1);
                let acc = self.ctx.cur().fresh("a", &elem);
                let x = self.ctx.cur().fresh("b", &elem);
                self.ctx.cur().open_block();
                let av = self.atom_val(Atom::Var(acc.var), elem.clone());
                let xv = self.atom_val(Atom::Var(x.var), elem.clone());
                let r = self.apply_fn(&f, vec![av, xv], &[spans[1], spans[2]], span);
                let Some((ra, rt)) = self.first_order(r, spans[0], "the result of the operator") else {
                    let _ = self.ctx.cur().close_block(Atom::Bool(false));
                    return Val::Error;
                };
                let body = self.ctx.cur().close_block(ra);
                if !rt.same_structure(&elem) {
                    let msg = format!(
                        "the operator of `{name}` must return the element type {}, but it returns {}",
                        self.show(&elem),
                        self.show(&rt)
                    );
                    self.error(Diagnostic::error(msg, spans[0], "wrong result type"));
                    return Val::Error;
                }
                let combine = Combine {
                    ne: ne.0,
                    array: arr.0,
                    acc,
                    elem: x,
                    body,
                };
                let (rhs, ty) = if name == "reduce" {
                    (Rhs::Reduce(combine), elem)
                } else {
                    (Rhs::Scan(combine), Ty::array(n, elem))
                };
                let a = self.ctx.cur().emit("r", &ty, rhs, span);
                return self.atom_val(a, ty);
            }
            "fold" => {
                if !self.builtin_arity(name, 3, args.len(), span) {
                    return Val::Error;
                }
                let mut it = args.into_iter();
                let f = or_error!(self.function_arg(name, it.next(), spans[0]));
                let init = or_error!(self.first_order(it.next().unwrap_or(Val::Error), spans[1], "an initial value"));
                let arr = or_error!(self.array_arg(name, it.next(), spans[2]));
                return self.fold(&f, init, arr, spans, span);
            }
            _ => {}
        }
        // The remaining builtins take values only.
        let mut xs = Vec::new();
        for (a, s) in args.into_iter().zip(spans) {
            xs.push(or_error!(self.first_order(a, *s, &format!("an argument of `{name}`"))));
        }
        if let Some(prim) = find(UNARY_F64, name) {
            if !self.builtin_arity(name, 1, xs.len(), span) {
                return Val::Error;
            }
            return self.elementwise1(prim, name, &[Ty::F64], xs.remove(0), span);
        }
        if let Some(prim) = find(UNARY_NUM, name) {
            if !self.builtin_arity(name, 1, xs.len(), span) {
                return Val::Error;
            }
            return self.elementwise1(prim, name, &[Ty::F64, Ty::I64], xs.remove(0), span);
        }
        if let Some(prim) = find(BINARY, name) {
            if !self.builtin_arity(name, 2, xs.len(), span) {
                return Val::Error;
            }
            let y = xs.pop().expect("two arguments");
            let x = xs.pop().expect("two arguments");
            return self.elementwise2(prim, name, x, y, span);
        }
        if let Some(prim) = find(REDUCTIONS, name) {
            if !self.builtin_arity(name, 1, xs.len(), span) {
                return Val::Error;
            }
            let (a, t) = xs.remove(0);
            let result = match &t {
                Ty::Array(_, e) if matches!(**e, Ty::F64 | Ty::I64) => {
                    if matches!(prim, Prim::Argmax | Prim::Argmin) {
                        Ty::I64
                    } else {
                        (**e).clone()
                    }
                }
                _ => {
                    let msg = format!(
                        "`{name}` reduces a one-dimensional array of numbers, but this is {}",
                        self.show(&t)
                    );
                    let mut d = Diagnostic::error(msg, spans[0], "wrong type");
                    if let Ty::Array(_, e) = &t {
                        if matches!(**e, Ty::Array(..)) {
                            d = d.with_note(format!("for a matrix, reduce each row with `map({name}, m)` or everything with `{name}(flatten(m))`"));
                        }
                    }
                    self.error(d);
                    return Val::Error;
                }
            };
            let r = self.ctx.cur().emit("r", &result, Rhs::Prim(prim, vec![a]), span);
            return self.atom_val(r, result);
        }
        self.array_builtin(name, xs, spans, span)
    }

    fn array_builtin(
        &mut self,
        name: &'static str,
        mut xs: Vec<(crate::core::ir::Atom, Ty)>,
        spans: &[Span],
        span: Span,
    ) -> Val<'a> {
        let want = match name {
            "f64" | "i64" | "length" | "iota" | "transpose" | "reverse" | "flatten" | "stop_gradient" => 1,
            "replicate" | "dot" | "matmul" | "matvec" | "outer" | "concat" => 2,
            "unflatten" | "scatter_add" => 3,
            _ => unreachable!("`{name}` is not a builtin"),
        };
        if !self.builtin_arity(name, want, xs.len(), span) {
            return Val::Error;
        }
        let emit = |this: &mut Self, ty: Ty, prim: Prim, args: Vec<Atom>| {
            let a = this.ctx.cur().emit("t", &ty, Rhs::Prim(prim, args), span);
            this.atom_val(a, ty)
        };
        match name {
            "f64" => self.elementwise1(Prim::ToF64, name, &[Ty::I64, Ty::F64], xs.remove(0), span),
            "i64" => self.elementwise1(Prim::ToI64, name, &[Ty::F64, Ty::I64], xs.remove(0), span),
            "stop_gradient" => {
                let (a, t) = xs.remove(0);
                emit(self, t, Prim::StopGradient, vec![a])
            }
            "length" => {
                let (a, t) = xs.remove(0);
                let Ty::Array(n, _) = t else {
                    return self.not_array(name, &t, spans[0]);
                };
                let len = self.length_of(a, n, span);
                self.atom_val(len, Ty::I64)
            }
            "iota" => {
                let n = or_error!(self.expect_int(name, &xs[0], spans[0]));
                emit(self, Ty::array(size_of_atom(n), Ty::I64), Prim::Iota, vec![n])
            }
            "replicate" => {
                let n = or_error!(self.expect_int(name, &xs[0], spans[0]));
                let (v, t) = xs.remove(1);
                emit(self, Ty::array(size_of_atom(n), t), Prim::Replicate, vec![n, v])
            }
            "reverse" => {
                let (a, t) = xs.remove(0);
                if !matches!(t, Ty::Array(..)) {
                    return self.not_array(name, &t, spans[0]);
                }
                emit(self, t, Prim::Reverse, vec![a])
            }
            "transpose" | "flatten" => {
                let (a, t) = xs.remove(0);
                let Ty::Array(n, inner) = &t else {
                    return self.not_array(name, &t, spans[0]);
                };
                let Ty::Array(m, elem) = &**inner else {
                    let msg = format!("`{name}` needs a two-dimensional array, but this is {}", self.show(&t));
                    self.error(Diagnostic::error(msg, spans[0], "not two-dimensional"));
                    return Val::Error;
                };
                let ty = if name == "transpose" {
                    Ty::array(*m, Ty::array(*n, (**elem).clone()))
                } else {
                    let size = match (n, m) {
                        (Size::Const(a), Size::Const(b)) => Size::Const(a * b),
                        _ => Size::Unknown,
                    };
                    Ty::array(size, (**elem).clone())
                };
                let prim = if name == "transpose" {
                    Prim::Transpose
                } else {
                    Prim::Flatten
                };
                emit(self, ty, prim, vec![a])
            }
            "unflatten" => {
                let n = or_error!(self.expect_int(name, &xs[0], spans[0]));
                let m = or_error!(self.expect_int(name, &xs[1], spans[1]));
                let (a, t) = xs.remove(2);
                let Ty::Array(len, elem) = &t else {
                    return self.not_array(name, &t, spans[2]);
                };
                if let (Atom::I64(x), Atom::I64(y), Size::Const(l)) = (n, m, len) {
                    // A product that overflows fits no array; a wrapped one
                    // could equal the length and pass.
                    let needed = x.checked_mul(y);
                    if needed != Some(*l) {
                        let needed = needed.map_or_else(|| format!("{x} * {y} (beyond i64)"), |p| p.to_string());
                        let msg = format!("`unflatten({x}, {y}, ...)` needs {needed} elements, but the array has {l}");
                        self.error(Diagnostic::error(msg, span, "wrong size"));
                        return Val::Error;
                    }
                }
                let ty = Ty::array(size_of_atom(n), Ty::array(size_of_atom(m), (**elem).clone()));
                emit(self, ty, Prim::Unflatten, vec![n, m, a])
            }
            "concat" => {
                let (b, tb) = xs.remove(1);
                let (a, ta) = xs.remove(0);
                let (Ty::Array(n, ea), Ty::Array(m, eb)) = (&ta, &tb) else {
                    let bad = if matches!(ta, Ty::Array(..)) {
                        (&tb, spans[1])
                    } else {
                        (&ta, spans[0])
                    };
                    return self.not_array(name, bad.0, bad.1);
                };
                if !ea.same_structure(eb) || ea.size_conflict(eb).is_some() {
                    let msg = format!(
                        "`concat` joins arrays of one element type, but these are {} and {}",
                        self.show(&ta),
                        self.show(&tb)
                    );
                    self.error(Diagnostic::error(msg, span, "element types differ"));
                    return Val::Error;
                }
                let size = match (n, m) {
                    (Size::Const(x), Size::Const(y)) => Size::Const(x + y),
                    _ => Size::Unknown,
                };
                emit(self, Ty::array(size, ea.join(eb)), Prim::Concat, vec![a, b])
            }
            "dot" | "matmul" | "matvec" | "outer" => {
                let y = xs.remove(1);
                let x = xs.remove(0);
                let ranks = match name {
                    "dot" => (1, 1),
                    "matmul" => (2, 2),
                    "matvec" => (2, 1),
                    _ => (1, 1),
                };
                let (rx, ry) = (rank(&x.1), rank(&y.1));
                let f64s = x.1.scalar_elem() == &Ty::F64 && y.1.scalar_elem() == &Ty::F64;
                if (rx, ry) != ranks || !f64s {
                    let want = match ranks {
                        (1, 1) => "two vectors of f64",
                        (2, 2) => "two matrices of f64",
                        _ => "a matrix and a vector of f64",
                    };
                    let msg = format!(
                        "`{name}` takes {want}, but these are {} and {}",
                        self.show(&x.1),
                        self.show(&y.1)
                    );
                    self.error(Diagnostic::error(msg, span, "wrong shapes"));
                    return Val::Error;
                }
                if name == "outer" {
                    let (Ty::Array(n, _), Ty::Array(m, _)) = (&x.1, &y.1) else {
                        return Val::Error;
                    };
                    let ty = Ty::array(*n, Ty::array(*m, Ty::F64));
                    return emit(self, ty, Prim::Outer, vec![x.0, y.0]);
                }
                self.matmul(x, y, (spans[0], spans[1]), span, &format!("`{name}`"))
            }
            "scatter_add" => {
                let n = or_error!(self.expect_int(name, &xs[0], spans[0]));
                let (idx, ti) = xs.remove(1);
                let (vals, tv) = xs.remove(1);
                let ok_i = matches!(&ti, Ty::Array(_, e) if **e == Ty::I64);
                let ok_v = matches!(&tv, Ty::Array(_, e) if **e == Ty::F64);
                if !ok_i || !ok_v {
                    let msg = format!("`scatter_add(n, idx, vals)` takes an [k]i64 of indices and a [k]f64 of values, but these are {} and {}", self.show(&ti), self.show(&tv));
                    self.error(Diagnostic::error(msg, span, "wrong types"));
                    return Val::Error;
                }
                if let (Ty::Array(a, _), Ty::Array(b, _)) = (&ti, &tv) {
                    if compare_sizes(*a, *b) == SizeCmp::Different {
                        let msg = format!(
                            "`scatter_add` needs as many indices as values, but there are {} and {}",
                            self.show_size(*a),
                            self.show_size(*b)
                        );
                        self.error(Diagnostic::error(msg, span, "sizes differ"));
                        return Val::Error;
                    }
                }
                emit(
                    self,
                    Ty::array(size_of_atom(n), Ty::F64),
                    Prim::ScatterAdd,
                    vec![n, idx, vals],
                )
            }
            _ => unreachable!("`{name}` is handled above"),
        }
    }

    fn map(&mut self, name: &str, f: &Rc<FnVal<'a>>, arrays: Vec<((Atom, Ty), Span)>, span: Span) -> Val<'a> {
        let mut size = Size::Unknown;
        let mut first: Option<(Size, Span)> = None;
        for ((_, t), s) in &arrays {
            let Ty::Array(n, _) = t else { continue };
            if let Some((m, ms)) = first {
                if compare_sizes(m, *n) == SizeCmp::Different {
                    let msg = format!(
                        "`{name}` needs arrays of one size, but they have {} and {} elements",
                        self.show_size(m),
                        self.show_size(*n)
                    );
                    self.error(Diagnostic::error(msg, *s, "different size").with_label(ms, "first array"));
                    return Val::Error;
                }
            } else {
                first = Some((*n, *s));
            }
            if size == Size::Unknown {
                size = *n;
            }
        }
        let mut params = Vec::new();
        let mut vals = Vec::new();
        let mut atoms = Vec::new();
        for ((a, t), _) in &arrays {
            let Ty::Array(_, elem) = t else { return Val::Error };
            let p = self.ctx.cur().fresh("x", elem);
            vals.push(self.atom_val(Atom::Var(p.var), (**elem).clone()));
            params.push(p);
            atoms.push(*a);
        }
        let spans: Vec<Span> = arrays.iter().map(|(_, s)| *s).collect();
        self.ctx.cur().open_block();
        let r = self.apply_fn(f, vals, &spans, span);
        let Some((ra, rt)) = self.first_order(r, span, "the result of the mapped function") else {
            let _ = self.ctx.cur().close_block(Atom::Bool(false));
            return Val::Error;
        };
        let body = self.ctx.cur().close_block(ra);
        let ty = Ty::array(size, rt);
        let a = self.ctx.cur().emit(
            "m",
            &ty,
            Rhs::Map {
                arrays: atoms,
                params,
                body,
            },
            span,
        );
        self.atom_val(a, ty)
    }

    /// `fold(f, init, a)`: a `for` loop over the elements of `a`.
    fn fold(&mut self, f: &Rc<FnVal<'a>>, init: (Atom, Ty), arr: (Atom, Ty), spans: &[Span], span: Span) -> Val<'a> {
        let Ty::Array(n, elem) = &arr.1 else { return Val::Error };
        let (n, elem) = (*n, (**elem).clone());
        let len = self.length_of(arr.0, n, span);
        let mut state_ty = init.1.clone();
        for attempt in 0..3 {
            let errors_before = self.diags.len();
            let state = self.ctx.cur().fresh("acc", &state_ty);
            let index = self.ctx.cur().fresh("i", &Ty::I64);
            self.ctx.cur().open_block();
            let x = self.ctx.cur().emit(
                "x",
                &elem,
                Rhs::Prim(Prim::Index, vec![arr.0, Atom::Var(index.var)]),
                span,
            );
            let sv = self.atom_val(Atom::Var(state.var), state_ty.clone());
            let xv = self.atom_val(x, elem.clone());
            let r = self.apply_fn(f, vec![sv, xv], &[spans[1], spans[2]], span);
            let Some((ra, rt)) = self.first_order(r, spans[0], "the result of `fold`'s function") else {
                let _ = self.ctx.cur().close_block(Atom::Bool(false));
                return Val::Error;
            };
            let body = self.ctx.cur().close_block(ra);
            if !rt.same_structure(&state_ty) {
                let msg = format!(
                    "`fold`'s function must return the accumulator type {}, but it returns {}",
                    self.show(&state_ty),
                    self.show(&rt)
                );
                self.error(Diagnostic::error(msg, spans[0], "wrong result type"));
                return Val::Error;
            }
            if let Some(wider) = state_ty.widen_state(&rt, attempt) {
                // Sizes changed: discard this attempt and retry with fewer sizes.
                self.diags.truncate(errors_before);
                state_ty = wider;
                continue;
            }
            let lp = Loop {
                state,
                init: init.0,
                kind: LoopKind::For { n: len, index },
                body,
            };
            let a = self.ctx.cur().emit("acc", &state_ty, Rhs::Loop(lp), span);
            return self.atom_val(a, state_ty);
        }
        Val::Error
    }

    fn builtin_arity(&mut self, name: &str, want: usize, got: usize, span: Span) -> bool {
        if want == got {
            return true;
        }
        let plural = if want == 1 { "argument" } else { "arguments" };
        let were = if got == 1 { "was" } else { "were" };
        let msg = format!("`{name}` takes {want} {plural} but {got} {were} given");
        self.error(Diagnostic::error(msg, span, format!("expected {want} {plural}")));
        false
    }

    fn function_arg(&mut self, name: &str, v: Option<Val<'a>>, span: Span) -> Option<Rc<FnVal<'a>>> {
        match v? {
            Val::Fn(f) => Some(f),
            Val::Atom { ty, .. } => {
                let msg = format!(
                    "`{name}` takes a function first, but this is a value of type {}",
                    self.show(&ty)
                );
                self.error(
                    Diagnostic::error(msg, span, "not a function")
                        .with_note("pass a lambda such as `\\x -> x * 2.0` or the name of a function"),
                );
                None
            }
            Val::Error => None,
        }
    }

    fn array_arg(&mut self, name: &str, v: Option<Val<'a>>, span: Span) -> Option<(Atom, Ty)> {
        let (a, t) = self.first_order(v?, span, &format!("an argument of `{name}`"))?;
        if !matches!(t, Ty::Array(..)) {
            self.not_array(name, &t, span);
            return None;
        }
        Some((a, t))
    }

    fn int_arg(&mut self, name: &str, v: Option<Val<'a>>, span: Span) -> Option<Atom> {
        let x = self.first_order(v?, span, &format!("an argument of `{name}`"))?;
        self.expect_int(name, &x, span)
    }

    fn expect_int(&mut self, name: &str, x: &(Atom, Ty), span: Span) -> Option<Atom> {
        if x.1 != Ty::I64 {
            let msg = format!("`{name}` takes an i64 size here, but this is {}", self.show(&x.1));
            self.error(Diagnostic::error(msg, span, "not an i64"));
            return None;
        }
        Some(x.0)
    }

    fn not_array(&mut self, name: &str, t: &Ty, span: Span) -> Val<'a> {
        let msg = format!("`{name}` takes an array, but this is {}", self.show(t));
        self.error(Diagnostic::error(msg, span, "not an array"));
        Val::Error
    }
}

fn size_of_atom(a: Atom) -> Size {
    match a {
        Atom::I64(c) => Size::Const(c),
        Atom::Var(v) => Size::Var(v),
        Atom::F64(_) | Atom::Bool(_) => Size::Unknown,
    }
}

fn rank(t: &Ty) -> usize {
    match t {
        Ty::Array(_, e) => 1 + rank(e),
        _ => 0,
    }
}
