//! Operators: scalar arithmetic lifted element-wise over arrays (with a
//! scalar combining with every element), comparisons, and `@`.

use super::ty::{compare_sizes, Size, SizeCmp, Ty};
use super::{Elab, Val};
use crate::core::ir::{Atom, Rhs};
use crate::diagnostics::{Diagnostic, Span};
use crate::prim::Prim;
use crate::syntax::ast::{BinOp, UnOp};

impl<'a> Elab<'a> {
    pub(super) fn binary(
        &mut self,
        op: BinOp,
        x: (Atom, Ty),
        y: (Atom, Ty),
        spans: (Span, Span),
        span: Span,
    ) -> Val<'a> {
        let prim = match op {
            BinOp::Add => Prim::Add,
            BinOp::Sub => Prim::Sub,
            BinOp::Mul => Prim::Mul,
            BinOp::Div => Prim::Div,
            BinOp::Rem => Prim::Rem,
            BinOp::Pow => Prim::Pow,
            BinOp::Eq | BinOp::Ne | BinOp::Approx => {
                if !x.1.same_structure(&y.1) {
                    let msg = format!(
                        "`{}` compares values of one type, but these are {} and {}",
                        op.symbol(),
                        self.show(&x.1),
                        self.show(&y.1)
                    );
                    self.error(Diagnostic::error(msg, span, "different types"));
                    return Val::Error;
                }
                let prim = match op {
                    BinOp::Eq => Prim::Eq,
                    BinOp::Ne => Prim::Ne,
                    _ => Prim::ApproxEq,
                };
                let a = self
                    .ctx
                    .cur()
                    .emit("c", &Ty::Bool, Rhs::Prim(prim, vec![x.0, y.0]), span);
                return self.atom_val(a, Ty::Bool);
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let prim = match op {
                    BinOp::Lt => Prim::Lt,
                    BinOp::Le => Prim::Le,
                    BinOp::Gt => Prim::Gt,
                    _ => Prim::Ge,
                };
                let ok = x.1 == y.1 && matches!(x.1, Ty::F64 | Ty::I64);
                if !ok {
                    let msg = format!(
                        "`{}` compares two numbers of one type, but these are {} and {}",
                        op.symbol(),
                        self.show(&x.1),
                        self.show(&y.1)
                    );
                    let mut d = Diagnostic::error(msg, span, "cannot compare");
                    if matches!((&x.1, &y.1), (Ty::F64, Ty::I64) | (Ty::I64, Ty::F64)) {
                        d = d.with_note("convert one side with `f64(...)` or `i64(...)`");
                    } else if !x.1.is_scalar() || !y.1.is_scalar() {
                        d = d.with_note("to compare arrays element by element, use `map2`");
                    }
                    self.error(d);
                    return Val::Error;
                }
                let a = self
                    .ctx
                    .cur()
                    .emit("c", &Ty::Bool, Rhs::Prim(prim, vec![x.0, y.0]), span);
                return self.atom_val(a, Ty::Bool);
            }
            BinOp::MatMul => return self.matmul(x, y, spans, span, "`@`"),
            BinOp::And | BinOp::Or => unreachable!("`&&` and `||` short-circuit in `expr`"),
        };
        self.elementwise2(prim, op.symbol(), x, y, span)
    }

    /// A binary numeric primitive applied element-wise: both operands of one
    /// shape, or one of them a scalar.
    pub(super) fn elementwise2(&mut self, prim: Prim, what: &str, x: (Atom, Ty), y: (Atom, Ty), span: Span) -> Val<'a> {
        let (sx, sy) = (x.1.scalar_elem().clone(), y.1.scalar_elem().clone());
        let numeric = |t: &Ty| matches!(t, Ty::F64) || (matches!(t, Ty::I64) && prim != Prim::Atan2);
        if sx != sy || !numeric(&sx) {
            let msg = format!("`{what}` cannot combine {} and {}", self.show(&x.1), self.show(&y.1));
            let mut d = Diagnostic::error(msg, span, "incompatible operands");
            if matches!((&sx, &sy), (Ty::F64, Ty::I64) | (Ty::I64, Ty::F64)) {
                d = d.with_note("dl does not convert between i64 and f64 implicitly: use `f64(i)`, or write a float literal such as `2.0`");
            } else if matches!(sx, Ty::Tuple(_)) || matches!(sy, Ty::Tuple(_)) {
                d = d.with_note("arithmetic applies to numbers and arrays of numbers, not tuples");
            }
            self.error(d);
            return Val::Error;
        }
        let (rx, ry) = (rank(&x.1), rank(&y.1));
        if rx > 0 && ry > 0 && rx != ry {
            let msg = format!(
                "`{what}` cannot combine {} and {}: arrays must have the same shape",
                self.show(&x.1),
                self.show(&y.1)
            );
            self.error(
                Diagnostic::error(msg, span, "shapes differ")
                    .with_note("only a scalar combines with every element of an array; use `map` for other shapes"),
            );
            return Val::Error;
        }
        if rx > 0 && ry > 0 {
            if let Some((a, b)) = x.1.size_conflict(&y.1) {
                let msg = format!(
                    "size mismatch: `{what}` combines arrays of sizes {} and {} ({} and {})",
                    self.show_size(a),
                    self.show_size(b),
                    self.show(&x.1),
                    self.show(&y.1)
                );
                self.error(Diagnostic::error(msg, span, "sizes differ"));
                return Val::Error;
            }
        }
        let (a, t) = self.lift2(prim, x, y, span);
        self.atom_val(a, t)
    }

    fn lift2(&mut self, prim: Prim, x: (Atom, Ty), y: (Atom, Ty), span: Span) -> (Atom, Ty) {
        match (&x.1, &y.1) {
            (Ty::Array(n, _), Ty::Array(m, _)) => {
                let size = if *n == Size::Unknown { *m } else { *n };
                self.map_elements(vec![x, y], size, span, &mut |this, mut elems| {
                    let ey = elems.pop().expect("two elements");
                    let ex = elems.pop().expect("two elements");
                    this.lift2(prim, ex, ey, span)
                })
            }
            (Ty::Array(n, _), _) => {
                let n = *n;
                self.map_elements(vec![x], n, span, &mut |this, mut elems| {
                    let ex = elems.pop().expect("one element");
                    this.lift2(prim, ex, y.clone(), span)
                })
            }
            (_, Ty::Array(m, _)) => {
                let m = *m;
                self.map_elements(vec![y], m, span, &mut |this, mut elems| {
                    let ey = elems.pop().expect("one element");
                    this.lift2(prim, x.clone(), ey, span)
                })
            }
            _ => {
                let ty = x.1.clone();
                let a = self.ctx.cur().emit("t", &ty, Rhs::Prim(prim, vec![x.0, y.0]), span);
                (a, ty)
            }
        }
    }

    /// `map(\x.. -> body(x..), arrays..)` of `size` elements, where `body`
    /// elaborates the element computation.
    fn map_elements(
        &mut self,
        arrays: Vec<(Atom, Ty)>,
        size: Size,
        span: Span,
        body: &mut ElementBody<'_, 'a>,
    ) -> (Atom, Ty) {
        let mut params = Vec::new();
        let mut elems = Vec::new();
        for (k, (_, t)) in arrays.iter().enumerate() {
            let elem = t.elem_or_self();
            let p = self.ctx.cur().fresh(["x", "y", "z"][k.min(2)], &elem);
            elems.push((Atom::Var(p.var), elem));
            params.push(p);
        }
        self.ctx.cur().open_block();
        let (ra, rt) = body(self, elems);
        let block = self.ctx.cur().close_block(ra);
        let ty = Ty::array(size, rt);
        let map = Rhs::Map {
            arrays: arrays.iter().map(|(a, _)| *a).collect(),
            params,
            body: block,
        };
        let a = self.ctx.cur().emit("m", &ty, map, span);
        (a, ty)
    }

    pub(super) fn unary(&mut self, op: UnOp, x: (Atom, Ty), span: Span) -> Val<'a> {
        match op {
            UnOp::Neg => self.elementwise1(Prim::Neg, "-", &[Ty::F64, Ty::I64], x, span),
            UnOp::Not => self.elementwise1(Prim::Not, "!", &[Ty::Bool], x, span),
        }
    }

    /// A unary scalar primitive applied to every element.
    pub(super) fn elementwise1(
        &mut self,
        prim: Prim,
        what: &str,
        accepts: &[Ty],
        x: (Atom, Ty),
        span: Span,
    ) -> Val<'a> {
        let scalar = x.1.scalar_elem().clone();
        if !accepts.contains(&scalar) {
            let kinds: Vec<&str> = accepts
                .iter()
                .map(|t| match t {
                    Ty::F64 => "f64",
                    Ty::I64 => "i64",
                    _ => "bool",
                })
                .collect();
            let msg = format!(
                "`{what}` applies to {} (or arrays of them), but this is {}",
                kinds.join(" or "),
                self.show(&x.1)
            );
            let mut d = Diagnostic::error(msg, span, "wrong type");
            if scalar == Ty::I64 && accepts == [Ty::F64] {
                d = d.with_note("convert with `f64(...)` first");
            }
            self.error(d);
            return Val::Error;
        }
        let result_scalar = match prim {
            Prim::ToF64 => Ty::F64,
            Prim::ToI64 => Ty::I64,
            _ => scalar,
        };
        let (a, t) = self.lift1(prim, x, &result_scalar, span);
        self.atom_val(a, t)
    }

    fn lift1(&mut self, prim: Prim, x: (Atom, Ty), result_scalar: &Ty, span: Span) -> (Atom, Ty) {
        match &x.1 {
            Ty::Array(n, _) => {
                let n = *n;
                self.map_elements(vec![x], n, span, &mut |this, mut elems| {
                    let ex = elems.pop().expect("one element");
                    this.lift1(prim, ex, result_scalar, span)
                })
            }
            _ => {
                let a = self
                    .ctx
                    .cur()
                    .emit("t", result_scalar, Rhs::Prim(prim, vec![x.0]), span);
                (a, result_scalar.clone())
            }
        }
    }

    /// `a @ b` and the linear-algebra builtins: the primitive is chosen by
    /// the ranks of the operands.
    pub(super) fn matmul(
        &mut self,
        x: (Atom, Ty),
        y: (Atom, Ty),
        spans: (Span, Span),
        span: Span,
        what: &str,
    ) -> Val<'a> {
        let shape = |t: &Ty| -> Option<Vec<Size>> {
            match t {
                Ty::Array(n, e) => match &**e {
                    Ty::F64 => Some(vec![*n]),
                    Ty::Array(m, e2) if **e2 == Ty::F64 => Some(vec![*n, *m]),
                    _ => None,
                },
                _ => None,
            }
        };
        let (Some(sx), Some(sy)) = (shape(&x.1), shape(&y.1)) else {
            let msg = format!(
                "{what} multiplies vectors and matrices of f64, but these are {} and {}",
                self.show(&x.1),
                self.show(&y.1)
            );
            let bad = if shape(&x.1).is_none() { spans.0 } else { spans.1 };
            self.error(Diagnostic::error(msg, bad, "not a vector or matrix of f64"));
            return Val::Error;
        };
        let inner_x = *sx.last().expect("rank >= 1");
        let inner_y = sy[0];
        if compare_sizes(inner_x, inner_y) == SizeCmp::Different {
            let msg = format!(
                "{what} needs the inner sizes to agree, but they are {} and {} ({} and {})",
                self.show_size(inner_x),
                self.show_size(inner_y),
                self.show(&x.1),
                self.show(&y.1)
            );
            self.error(
                Diagnostic::error(msg, span, "inner sizes differ")
                    .with_label(spans.0, "left")
                    .with_label(spans.1, "right"),
            );
            return Val::Error;
        }
        let (prim, ty) = match (sx.len(), sy.len()) {
            (2, 2) => (Prim::Matmul, Ty::array(sx[0], Ty::array(sy[1], Ty::F64))),
            (2, 1) => (Prim::Matvec, Ty::array(sx[0], Ty::F64)),
            (1, 2) => (Prim::Vecmat, Ty::array(sy[1], Ty::F64)),
            _ => (Prim::Dot, Ty::F64),
        };
        let a = self.ctx.cur().emit("t", &ty, Rhs::Prim(prim, vec![x.0, y.0]), span);
        self.atom_val(a, ty)
    }
}

/// Elaborates the computation on one element of each array of a map.
type ElementBody<'b, 'a> = dyn FnMut(&mut Elab<'a>, Vec<(Atom, Ty)>) -> (Atom, Ty) + 'b;

fn rank(t: &Ty) -> usize {
    match t {
        Ty::Array(_, e) => 1 + rank(e),
        _ => 0,
    }
}
