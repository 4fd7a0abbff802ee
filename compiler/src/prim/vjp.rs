//! The transposed Jacobian `J^T` of every primitive: given the primitive's
//! arguments, its result and the cotangent `ct` of the result, the code
//! that computes each argument's cotangent contribution.
//!
//! Naming: `a`, `b`, ... are the arguments, `r` the result, `c` the
//! cotangent of the result, `ca`, `cb` the cotangents of the arguments.
//! Rules emit code through [`Emit`], so this table depends on no IR; the
//! reverse-mode pass implements it over the unary form.

use super::Prim;
use crate::core::ir::Type;

/// What a transposition rule may emit. Handles name values in the code
/// being built; a handle made outside a `map` body stays valid inside it.
pub trait Emit {
    type H: Copy;
    fn ty(&self, h: Self::H) -> Type;
    /// A primitive, typed by its rule; an error when the types do not fit.
    fn prim(&mut self, p: Prim, args: &[Self::H]) -> Result<Self::H, String>;
    fn f64(&mut self, x: f64) -> Self::H;
    fn i64(&mut self, n: i64) -> Self::H;
    /// `if cond then a else b`, both already computed.
    fn select(&mut self, cond: Self::H, a: Self::H, b: Self::H) -> Self::H;
    /// `map(body, arrays...)`: `body` gets the elements.
    fn map(&mut self, arrays: &[Self::H], body: &mut ElemFn<'_, Self>) -> Result<Self::H, String>;
    /// The sum along the outer axis of an array of tangents whose elements
    /// are tangents of `elem`, a primal element value (its zero is the sum
    /// of no element).
    fn sum_outer(&mut self, a: Self::H, elem: Self::H) -> Result<Self::H, String>;
    /// The cotangent of `a` in the left fold `reduce(op, ne, a)` (`op` a
    /// binary f64 primitive, associative, `ne` its neutral element) whose
    /// result has cotangent `c`: by reverse mode of the fold, linear in
    /// the length.
    fn fold_cotangent(&mut self, op: Prim, ne: Self::H, a: Self::H, c: Self::H) -> Result<Self::H, String>;
}

/// The body of [`Emit::map`]: the elements in, the element out.
pub type ElemFn<'a, E> = dyn FnMut(&mut E, &[<E as Emit>::H]) -> Result<<E as Emit>::H, String> + 'a;

/// One contribution per argument; `None` is a zero contribution.
pub type Contributions<H> = Vec<Option<H>>;

impl Prim {
    /// The cotangent contributions of `args` for the result `r` with
    /// cotangent `c`. Only arguments with `wanted[k]` set need one; the
    /// others may be `None` whatever their derivative. An error names a
    /// primitive with no rule.
    pub fn vjp<E: Emit>(
        self,
        e: &mut E,
        args: &[E::H],
        r: E::H,
        c: E::H,
        wanted: &[bool],
    ) -> Result<Contributions<E::H>, String> {
        use Prim as P;
        let mut out: Contributions<E::H> = vec![None; args.len()];
        if !e.ty(r).has_f64() || !wanted.iter().any(|w| *w) {
            return Ok(out);
        }
        let want = |k: usize| wanted.get(k).copied().unwrap_or(false);
        let a = args.first().copied();
        let arg = |k: usize| {
            args.get(k)
                .copied()
                .ok_or_else(|| format!("`{}` is missing an argument", self.name()))
        };
        // The cotangent times a local derivative `d` (a scalar).
        macro_rules! times {
            ($d:expr) => {{
                let d = $d;
                Some(e.prim(P::Mul, &[c, d])?)
            }};
        }
        match self {
            P::Add => {
                out[0] = Some(c);
                out[1] = Some(c);
            }
            P::Sub => {
                out[0] = Some(c);
                if want(1) {
                    out[1] = Some(e.prim(P::Neg, &[c])?);
                }
            }
            P::Mul => {
                let (x, y) = (arg(0)?, arg(1)?);
                if want(0) {
                    out[0] = Some(e.prim(P::Mul, &[c, y])?);
                }
                if want(1) {
                    out[1] = Some(e.prim(P::Mul, &[c, x])?);
                }
            }
            P::Div => {
                // r = x / y: cx = c / y, cy = -(c / y) * r.
                let y = arg(1)?;
                let cx = e.prim(P::Div, &[c, y])?;
                out[0] = Some(cx);
                if want(1) {
                    let t = e.prim(P::Mul, &[cx, r])?;
                    out[1] = Some(e.prim(P::Neg, &[t])?);
                }
            }
            P::Rem => {
                // r = x - trunc(x / y) * y: cx = c, cy = -c * (x - r) / y.
                out[0] = Some(c);
                if want(1) {
                    let (x, y) = (arg(0)?, arg(1)?);
                    let q = e.prim(P::Sub, &[x, r])?;
                    let q = e.prim(P::Div, &[q, y])?;
                    let t = e.prim(P::Mul, &[c, q])?;
                    out[1] = Some(e.prim(P::Neg, &[t])?);
                }
            }
            P::Pow => {
                // r = x ** y: cx = c * y * x ** (y - 1), cy = c * r * log(x)
                // (0 where x = 0, the limit from above).
                let (x, y) = (arg(0)?, arg(1)?);
                if want(0) {
                    let one = e.f64(1.0);
                    let ym1 = e.prim(P::Sub, &[y, one])?;
                    let p = e.prim(P::Pow, &[x, ym1])?;
                    let d = e.prim(P::Mul, &[y, p])?;
                    out[0] = times!(d);
                }
                if want(1) {
                    let l = e.prim(P::Log, &[x])?;
                    let d = e.prim(P::Mul, &[r, l])?;
                    let t = e.prim(P::Mul, &[c, d])?;
                    let zero = e.f64(0.0);
                    let at_zero = e.prim(P::Eq, &[x, zero])?;
                    out[1] = Some(e.select(at_zero, zero, t));
                }
            }
            P::Min | P::Max => {
                // Ties give the whole cotangent to the first argument.
                let (x, y) = (arg(0)?, arg(1)?);
                let cmp = if self == P::Max { P::Ge } else { P::Le };
                let first = e.prim(cmp, &[x, y])?;
                let zero = e.f64(0.0);
                out[0] = Some(e.select(first, c, zero));
                out[1] = Some(e.select(first, zero, c));
            }
            P::Atan2 => {
                // r = atan2(y, x): cy = c * x / (x² + y²), cx = -c * y / (x² + y²).
                let (y, x) = (arg(0)?, arg(1)?);
                let yy = e.prim(P::Mul, &[y, y])?;
                let xx = e.prim(P::Mul, &[x, x])?;
                let d = e.prim(P::Add, &[xx, yy])?;
                let s = e.prim(P::Div, &[c, d])?;
                out[0] = Some(e.prim(P::Mul, &[s, x])?);
                if want(1) {
                    let t = e.prim(P::Mul, &[s, y])?;
                    out[1] = Some(e.prim(P::Neg, &[t])?);
                }
            }
            P::Neg => out[0] = Some(e.prim(P::Neg, &[c])?),
            // abs'(0) = 0, since sign(0) = 0.
            P::Abs => out[0] = times!(e.prim(P::Sign, &[arg(0)?])?),
            // Piecewise constant: a zero derivative.
            P::Sign | P::Floor | P::Ceil => {}
            P::Sqrt => {
                // c / (2 r)
                let half = e.f64(0.5);
                let h = e.prim(P::Mul, &[c, half])?;
                out[0] = Some(e.prim(P::Div, &[h, r])?);
            }
            P::Exp => out[0] = times!(r),
            P::Log => out[0] = Some(e.prim(P::Div, &[c, arg(0)?])?),
            P::Log1p => {
                let one = e.f64(1.0);
                let d = e.prim(P::Add, &[one, arg(0)?])?;
                out[0] = Some(e.prim(P::Div, &[c, d])?);
            }
            P::Expm1 => {
                let one = e.f64(1.0);
                out[0] = times!(e.prim(P::Add, &[r, one])?);
            }
            P::Sin => out[0] = times!(e.prim(P::Cos, &[arg(0)?])?),
            P::Cos => {
                let s = e.prim(P::Sin, &[arg(0)?])?;
                let t = e.prim(P::Mul, &[c, s])?;
                out[0] = Some(e.prim(P::Neg, &[t])?);
            }
            P::Tan => {
                // 1 + r²
                let one = e.f64(1.0);
                let rr = e.prim(P::Mul, &[r, r])?;
                out[0] = times!(e.prim(P::Add, &[one, rr])?);
            }
            P::Tanh => {
                // 1 - r²
                let one = e.f64(1.0);
                let rr = e.prim(P::Mul, &[r, r])?;
                out[0] = times!(e.prim(P::Sub, &[one, rr])?);
            }
            P::Sigmoid => {
                // r (1 - r)
                let one = e.f64(1.0);
                let s = e.prim(P::Sub, &[one, r])?;
                out[0] = times!(e.prim(P::Mul, &[r, s])?);
            }
            P::Erf => {
                // 2 / sqrt(pi) * exp(-x²)
                let x = arg(0)?;
                let xx = e.prim(P::Mul, &[x, x])?;
                let nxx = e.prim(P::Neg, &[xx])?;
                let g = e.prim(P::Exp, &[nxx])?;
                let k = e.f64(std::f64::consts::FRAC_2_SQRT_PI);
                out[0] = times!(e.prim(P::Mul, &[k, g])?);
            }
            P::Lgamma => {
                // digamma(x) = polygamma(0, x)
                let x = arg(0)?;
                let zero = e.i64(0);
                out[0] = times!(e.prim(P::Polygamma, &[zero, x])?);
            }
            P::Polygamma => {
                // d/dx polygamma(k, x) = polygamma(k + 1, x); the order has none.
                if want(1) {
                    let (k, x) = (arg(0)?, arg(1)?);
                    let one = e.i64(1);
                    let k1 = e.prim(P::Add, &[k, one])?;
                    let d = e.prim(P::Polygamma, &[k1, x])?;
                    out[1] = times!(d);
                }
            }
            P::ToF64 => {
                if a.is_some_and(|a| e.ty(a) == Type::F64) {
                    out[0] = Some(c);
                }
            }
            // No f64 in the result: no derivative (the guard above returns).
            P::ToI64
            | P::Eq
            | P::Ne
            | P::Lt
            | P::Le
            | P::Gt
            | P::Ge
            | P::And
            | P::Or
            | P::Not
            | P::ApproxEq
            | P::Length
            | P::Iota
            | P::Argmax
            | P::Argmin
            | P::SizeEq
            | P::CheckIndex
            | P::CheckSlice => {}
            P::Replicate => out[1] = Some(e.sum_outer(c, arg(1)?)?),
            P::Index => {
                // A one-hot array: `c` at `i`.
                let (x, i) = (arg(0)?, arg(1)?);
                let z = e.prim(P::ZeroTangent, &[x])?;
                out[0] = Some(e.prim(P::IndexAdd, &[z, i, c])?);
            }
            P::Slice => {
                let (x, i) = (arg(0)?, arg(1)?);
                let z = e.prim(P::ZeroTangent, &[x])?;
                out[0] = Some(e.prim(P::SliceAdd, &[z, i, c])?);
            }
            P::Concat => {
                let la = e.prim(P::Length, &[arg(0)?])?;
                if want(0) {
                    let zero = e.i64(0);
                    out[0] = Some(e.prim(P::Slice, &[c, zero, la])?);
                }
                if want(1) {
                    let lc = e.prim(P::Length, &[c])?;
                    out[1] = Some(e.prim(P::Slice, &[c, la, lc])?);
                }
            }
            P::Reverse => out[0] = Some(e.prim(P::Reverse, &[c])?),
            P::Flatten => {
                // The row length is length(c) / rows (any, for no rows).
                let rows = e.prim(P::Length, &[arg(0)?])?;
                let one = e.i64(1);
                let d = e.prim(P::Max, &[rows, one])?;
                let lc = e.prim(P::Length, &[c])?;
                let cols = e.prim(P::Div, &[lc, d])?;
                out[0] = Some(e.prim(P::Unflatten, &[rows, cols, c])?);
            }
            P::Unflatten => out[2] = Some(e.prim(P::Flatten, &[c])?),
            P::Transpose => out[0] = Some(e.prim(P::Transpose, &[c])?),
            P::ScatterAdd => {
                // A gather: cvals[k] = c[idx[k]].
                let idx = arg(1)?;
                out[2] = Some(e.map(&[idx], &mut |e, xs| e.prim(P::Index, &[c, xs[0]]))?);
            }
            P::Sum => {
                let n = e.prim(P::Length, &[arg(0)?])?;
                out[0] = Some(e.prim(P::Replicate, &[n, c])?);
            }
            P::Prod => {
                // prod(a) == reduce(*, 1.0, a): the fold's reverse mode, in
                // which a[i] gets c times the product of the elements
                // before it (recorded) and of those after it (accumulated
                // backwards). Linear in the length, and exact where
                // elements are 0, unlike c * r / a[i].
                let one = e.f64(1.0);
                out[0] = Some(e.fold_cotangent(P::Mul, one, arg(0)?, c)?);
            }
            P::Maximum | P::Minimum => {
                // The first extreme element gets the whole cotangent.
                let x = arg(0)?;
                let arg_p = if self == P::Maximum { P::Argmax } else { P::Argmin };
                let i = e.prim(arg_p, &[x])?;
                let z = e.prim(P::ZeroTangent, &[x])?;
                out[0] = Some(e.prim(P::IndexAdd, &[z, i, c])?);
            }
            P::Dot => {
                let (x, y) = (arg(0)?, arg(1)?);
                if want(0) {
                    out[0] = Some(e.map(&[y], &mut |e, ys| e.prim(P::Mul, &[c, ys[0]]))?);
                }
                if want(1) {
                    out[1] = Some(e.map(&[x], &mut |e, xs| e.prim(P::Mul, &[c, xs[0]]))?);
                }
            }
            P::Matmul => {
                // C = A @ B: ca = c @ B^T, cb = A^T @ c.
                let (x, y) = (arg(0)?, arg(1)?);
                if want(0) {
                    let yt = e.prim(P::Transpose, &[y])?;
                    out[0] = Some(e.prim(P::Matmul, &[c, yt])?);
                }
                if want(1) {
                    let xt = e.prim(P::Transpose, &[x])?;
                    out[1] = Some(e.prim(P::Matmul, &[xt, c])?);
                }
            }
            P::Matvec => {
                // r = M v: cM = c v^T, cv = M^T c.
                let (m, v) = (arg(0)?, arg(1)?);
                if want(0) {
                    out[0] = Some(e.prim(P::Outer, &[c, v])?);
                }
                if want(1) {
                    out[1] = Some(e.prim(P::Vecmat, &[c, m])?);
                }
            }
            P::Vecmat => {
                // r = v^T M: cv = M c, cM = v c^T.
                let (v, m) = (arg(0)?, arg(1)?);
                if want(0) {
                    out[0] = Some(e.prim(P::Matvec, &[m, c])?);
                }
                if want(1) {
                    out[1] = Some(e.prim(P::Outer, &[v, c])?);
                }
            }
            P::Outer => {
                // r = x y^T: cx = c y, cy = c^T x.
                let (x, y) = (arg(0)?, arg(1)?);
                if want(0) {
                    out[0] = Some(e.prim(P::Matvec, &[c, y])?);
                }
                if want(1) {
                    out[1] = Some(e.prim(P::Vecmat, &[x, c])?);
                }
            }
            P::StopGradient => {}
            // Linear in the tangents.
            P::ZeroTangent => {}
            P::AddTangent => {
                out[0] = Some(c);
                out[1] = Some(c);
            }
            P::IndexAdd => {
                out[0] = Some(c);
                if want(2) {
                    out[2] = Some(e.prim(P::Index, &[c, arg(1)?])?);
                }
            }
            P::IndexSet => {
                let i = arg(1)?;
                if want(0) {
                    let z = e.prim(P::ZeroTangent, &[arg(2)?])?;
                    out[0] = Some(e.prim(P::IndexSet, &[c, i, z])?);
                }
                if want(2) {
                    out[2] = Some(e.prim(P::Index, &[c, i])?);
                }
            }
            P::SliceAdd => {
                out[0] = Some(c);
                if want(2) {
                    let (i, v) = (arg(1)?, arg(2)?);
                    let n = e.prim(P::Length, &[v])?;
                    let j = e.prim(P::Add, &[i, n])?;
                    out[2] = Some(e.prim(P::Slice, &[c, i, j])?);
                }
            }
        }
        for (k, o) in out.iter_mut().enumerate() {
            if !want(k) {
                *o = None;
            }
        }
        Ok(out)
    }
}
