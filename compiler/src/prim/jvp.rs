//! The forward derivative of every primitive: the Jacobian-vector product
//! `J P (x) . t`, written as core IR by [`Prim::jvp`].
//!
//! A rule receives the primal arguments `x`, the primal result `r` (already
//! bound) and one tangent per argument, and writes the statements that
//! compute the tangent of the result. A tangent is an atom of the type
//! `Type::tangent()` gives, or `None`: known to be zero (a literal, a value
//! under `stop_gradient`) or of a type without f64. Rules never materialise
//! a zero: they leave out the terms it multiplies, and a tangent that is
//! zero comes back as `None`. Since `J . 0 = 0` for every primitive, a
//! primitive whose tangents are all `None` has a `None` tangent, and the
//! rules below only run when some tangent is known.
//!
//! Conventions at non-smooth points: `abs'(0) = 0`; `min` and `max` take
//! the tangent of their first argument on ties, `maximum` and `minimum`
//! the tangent of the first extreme element (where `argmax` points);
//! `floor`, `ceil`, `sign`, comparisons and integer operations have zero
//! tangent. `pow(x, y)` has the partial derivative `y x^(y-1)`, taken to be
//! 0 where `y = 0` (the function is constant in `x` there), and `x^y log x`,
//! taken to be 0 where `x = 0`.

use super::Prim;
use crate::core::ir::{Atom, Type};

/// The ways a rule may write code. Forward mode (`ad::fwd`) implements it;
/// every method binds one statement (or one compound statement) to a fresh
/// variable and returns it.
pub trait Emit {
    /// The type of an atom in scope.
    fn type_of(&self, a: Atom) -> Type;
    /// `prim(args)`, typed by the primitive's type rule.
    fn prim(&mut self, prim: Prim, args: &[Atom]) -> Atom;
    fn tuple(&mut self, items: &[Atom]) -> Atom;
    fn proj(&mut self, tuple: Atom, field: usize) -> Atom;
    /// `if cond then BLOCK else BLOCK`, each branch written by its closure.
    fn if_(
        &mut self,
        cond: Atom,
        then: &mut dyn FnMut(&mut dyn Emit) -> Atom,
        els: &mut dyn FnMut(&mut dyn Emit) -> Atom,
    ) -> Atom;
    /// `map(arrays) \xs -> BLOCK`; the closure gets the element variables.
    fn map(&mut self, arrays: &[Atom], body: &mut dyn FnMut(&mut dyn Emit, &[Atom]) -> Atom) -> Atom;
    /// `reduce(ne, array) \acc x -> BLOCK`.
    fn reduce(&mut self, ne: Atom, array: Atom, body: &mut dyn FnMut(&mut dyn Emit, Atom, Atom) -> Atom) -> Atom;
}

/// 2 / sqrt(pi), the factor of erf'.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

impl Prim {
    /// The tangent of `r = self(x)` given the tangents `t` of the arguments
    /// (`None`: zero). The arguments must fit the type rule; an error says
    /// why they do not (a bug in the pass that built the program).
    pub fn jvp(self, e: &mut dyn Emit, x: &[Atom], r: Atom, t: &[Option<Atom>]) -> Result<Option<Atom>, String> {
        let tys: Vec<Type> = x.iter().map(|a| e.type_of(*a)).collect();
        self.result_type(&tys)?;
        if t.len() != x.len() {
            return Err(format!(
                "`{}` has {} arguments but {} tangents",
                self.name(),
                x.len(),
                t.len()
            ));
        }
        if t.iter().all(Option::is_none) {
            return Ok(None);
        }
        use Prim::*;
        let f = Atom::F64;
        let tangent = match self {
            // r = x0 + x1: t0 + t1.
            Add => plus(e, t[0], t[1]),
            // r = x0 - x1: t0 - t1.
            Sub => minus(e, t[0], t[1]),
            // r = x0 x1: t0 x1 + x0 t1.
            Mul => {
                let a = scale(e, t[0], x[1]);
                let b = scale(e, t[1], x[0]);
                plus(e, a, b)
            }
            // r = x0 / x1: (t0 - r t1) / x1.
            Div => {
                let rt1 = scale(e, t[1], r);
                minus(e, t[0], rt1).map(|n| e.prim(Div, &[n, x[1]]))
            }
            // r = x0 - trunc(x0 / x1) x1: t0 - trunc(x0 / x1) t1.
            Rem => {
                let q = t[1].map(|_| {
                    let q = e.prim(Div, &[x[0], x[1]]);
                    let a = e.prim(Abs, &[q]);
                    let fl = e.prim(Floor, &[a]);
                    let s = e.prim(Sign, &[q]);
                    e.prim(Mul, &[s, fl])
                });
                let b = match q {
                    Some(q) => scale(e, t[1], q),
                    None => None,
                };
                minus(e, t[0], b)
            }
            Pow => {
                let a = match t[0] {
                    Some(t0) => pow_base(e, x[0], x[1]).map(|j| times(e, j, t0)),
                    None => None,
                };
                let b = t[1].and_then(|t1| pow_exponent(e, x[0], r).map(|j| times(e, j, t1)));
                plus(e, a, b)
            }
            // The tangent of the argument that is returned, the first on
            // ties.
            Min | Max => {
                let test = if self == Max { Ge } else { Le };
                let c = e.prim(test, &[x[0], x[1]]);
                let a = t[0].unwrap_or(f(0.0));
                let b = t[1].unwrap_or(f(0.0));
                Some(select(e, c, a, b))
            }
            // r = atan2(y, x): (x ty - y tx) / (x^2 + y^2).
            Atan2 => {
                let a = scale(e, t[0], x[1]);
                let b = scale(e, t[1], x[0]);
                minus(e, a, b).map(|n| {
                    let xx = e.prim(Mul, &[x[1], x[1]]);
                    let yy = e.prim(Mul, &[x[0], x[0]]);
                    let d = e.prim(Add, &[xx, yy]);
                    e.prim(Div, &[n, d])
                })
            }
            Neg => t[0].map(|t0| e.prim(Neg, &[t0])),
            // abs' = sign, which is 0 at 0.
            Abs => t[0].map(|t0| {
                let s = e.prim(Sign, &[x[0]]);
                e.prim(Mul, &[s, t0])
            }),
            // sqrt' = 1 / (2 r).
            Sqrt => t[0].map(|t0| {
                let d = e.prim(Mul, &[f(2.0), r]);
                e.prim(Div, &[t0, d])
            }),
            // exp' = r.
            Exp => scale(e, t[0], r),
            // log' = 1 / x.
            Log => t[0].map(|t0| e.prim(Div, &[t0, x[0]])),
            // log1p' = 1 / (1 + x).
            Log1p => t[0].map(|t0| {
                let d = e.prim(Add, &[f(1.0), x[0]]);
                e.prim(Div, &[t0, d])
            }),
            // expm1' = r + 1.
            Expm1 => t[0].map(|t0| {
                let d = e.prim(Add, &[r, f(1.0)]);
                e.prim(Mul, &[d, t0])
            }),
            // sin' = cos.
            Sin => t[0].map(|t0| {
                let d = e.prim(Cos, &[x[0]]);
                e.prim(Mul, &[d, t0])
            }),
            // cos' = -sin.
            Cos => t[0].map(|t0| {
                let s = e.prim(Sin, &[x[0]]);
                let d = e.prim(Neg, &[s]);
                e.prim(Mul, &[d, t0])
            }),
            // tan' = 1 + r^2.
            Tan => t[0].map(|t0| {
                let rr = e.prim(Mul, &[r, r]);
                let d = e.prim(Add, &[f(1.0), rr]);
                e.prim(Mul, &[d, t0])
            }),
            // tanh' = 1 - r^2.
            Tanh => t[0].map(|t0| {
                let rr = e.prim(Mul, &[r, r]);
                let d = e.prim(Sub, &[f(1.0), rr]);
                e.prim(Mul, &[d, t0])
            }),
            // sigmoid' = r (1 - r).
            Sigmoid => t[0].map(|t0| {
                let c = e.prim(Sub, &[f(1.0), r]);
                let d = e.prim(Mul, &[r, c]);
                e.prim(Mul, &[d, t0])
            }),
            // erf' = 2 / sqrt(pi) exp(-x^2).
            Erf => t[0].map(|t0| {
                let xx = e.prim(Mul, &[x[0], x[0]]);
                let n = e.prim(Neg, &[xx]);
                let ex = e.prim(Exp, &[n]);
                let d = e.prim(Mul, &[f(TWO_OVER_SQRT_PI), ex]);
                e.prim(Mul, &[d, t0])
            }),
            // lgamma' = digamma = polygamma(0, x).
            Lgamma => t[0].map(|t0| {
                let d = e.prim(Polygamma, &[Atom::I64(0), x[0]]);
                e.prim(Mul, &[d, t0])
            }),
            // d/dx polygamma(k, x) = polygamma(k + 1, x).
            Polygamma => t[1].map(|t1| {
                let k = match x[0] {
                    Atom::I64(k) => Atom::I64(k.wrapping_add(1)),
                    k => e.prim(Add, &[k, Atom::I64(1)]),
                };
                let d = e.prim(Polygamma, &[k, x[1]]);
                e.prim(Mul, &[d, t1])
            }),
            // Identity on f64; an i64 argument has no tangent.
            ToF64 => t[0],
            Sign | Floor | Ceil | ToI64 | Eq | Ne | Lt | Le | Gt | Ge | And | Or | Not | ApproxEq | Length | Iota
            | Argmax | Argmin | StopGradient | SizeEq | CheckIndex | CheckSlice | ZeroTangent => None,
            // Linear in the array operand: the same primitive on tangents.
            Replicate => t[1].map(|t1| e.prim(Replicate, &[x[0], t1])),
            Index => t[0].map(|t0| e.prim(Index, &[t0, x[1]])),
            Slice => t[0].map(|t0| e.prim(Slice, &[t0, x[1], x[2]])),
            Reverse | Flatten | Transpose | Sum => t[0].map(|t0| e.prim(self, &[t0])),
            Unflatten => t[2].map(|t2| e.prim(Unflatten, &[x[0], x[1], t2])),
            ScatterAdd => t[2].map(|t2| e.prim(ScatterAdd, &[x[0], x[1], t2])),
            Concat => {
                let a = t[0].unwrap_or_else(|| zero(e, x[0]));
                let b = t[1].unwrap_or_else(|| zero(e, x[1]));
                Some(e.prim(Concat, &[a, b]))
            }
            // sum_i t_i prod_(j != i) x_j, without dividing by x_i: reduce
            // the (x, t) pairs with the product rule
            // (a, da) * (b, db) = (a b, da b + a db), which is associative
            // with neutral element (1, 0).
            Prod => t[0].map(|t0| {
                let pairs = e.map(&[x[0], t0], &mut |e, xs| e.tuple(xs));
                let ne = e.tuple(&[f(1.0), f(0.0)]);
                let out = e.reduce(ne, pairs, &mut |e, acc, el| {
                    let a = e.proj(acc, 0);
                    let da = e.proj(acc, 1);
                    let b = e.proj(el, 0);
                    let db = e.proj(el, 1);
                    let p = e.prim(Mul, &[a, b]);
                    let l = e.prim(Mul, &[da, b]);
                    let q = e.prim(Mul, &[a, db]);
                    let d = e.prim(Add, &[l, q]);
                    e.tuple(&[p, d])
                });
                e.proj(out, 1)
            }),
            // The tangent of the first extreme element; an empty array has
            // a constant extreme (-inf or inf).
            Maximum | Minimum => t[0].map(|t0| {
                let arg = if self == Maximum { Argmax } else { Argmin };
                let n = e.prim(Length, &[x[0]]);
                let c = e.prim(Gt, &[n, Atom::I64(0)]);
                e.if_(
                    c,
                    &mut |e| {
                        let k = e.prim(arg, &[x[0]]);
                        e.prim(Index, &[t0, k])
                    },
                    &mut |_| f(0.0),
                )
            }),
            // Bilinear: P(t0, x1) + P(x0, t1), still matrix products.
            Dot | Matmul | Matvec | Vecmat | Outer => {
                let a = t[0].map(|t0| e.prim(self, &[t0, x[1]]));
                let b = t[1].map(|t1| e.prim(self, &[x[0], t1]));
                plus(e, a, b)
            }
            // The tangent primitives are linear.
            AddTangent => plus(e, t[0], t[1]),
            // Linear in the array and the value together.
            IndexAdd | SliceAdd | IndexSet => {
                let a = t[0].unwrap_or_else(|| zero(e, x[0]));
                let v = t[2].unwrap_or_else(|| zero(e, x[2]));
                Some(e.prim(self, &[a, x[1], v]))
            }
        };
        Ok(tangent)
    }
}

/// The zero tangent of `x`.
fn zero(e: &mut dyn Emit, x: Atom) -> Atom {
    if e.type_of(x) == Type::F64 {
        Atom::F64(0.0)
    } else {
        e.prim(Prim::ZeroTangent, &[x])
    }
}

/// `a + b` of two tangents of one type.
fn plus(e: &mut dyn Emit, a: Option<Atom>, b: Option<Atom>) -> Option<Atom> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(a), Some(b)) => {
            let add = if e.type_of(a) == Type::F64 {
                Prim::Add
            } else {
                Prim::AddTangent
            };
            Some(e.prim(add, &[a, b]))
        }
    }
}

/// `a - b` of two f64 tangents.
fn minus(e: &mut dyn Emit, a: Option<Atom>, b: Option<Atom>) -> Option<Atom> {
    match (a, b) {
        (a, None) => a,
        (None, Some(b)) => Some(e.prim(Prim::Neg, &[b])),
        (Some(a), Some(b)) => Some(e.prim(Prim::Sub, &[a, b])),
    }
}

/// `t c` of an f64 tangent and an f64 factor.
fn scale(e: &mut dyn Emit, t: Option<Atom>, c: Atom) -> Option<Atom> {
    t.map(|t| times(e, c, t))
}

/// `c t`, leaving out a factor of 1.
fn times(e: &mut dyn Emit, c: Atom, t: Atom) -> Atom {
    if c == Atom::F64(1.0) {
        t
    } else {
        e.prim(Prim::Mul, &[c, t])
    }
}

/// `if c then a else b` of two atoms.
fn select(e: &mut dyn Emit, c: Atom, a: Atom, b: Atom) -> Atom {
    e.if_(c, &mut |_| a, &mut |_| b)
}

/// d/dx x^y = y x^(y-1), and 0 where y = 0; `None` when it is 0.
fn pow_base(e: &mut dyn Emit, x: Atom, y: Atom) -> Option<Atom> {
    match y {
        Atom::F64(0.0) => None,
        Atom::F64(1.0) => Some(Atom::F64(1.0)),
        Atom::F64(2.0) => Some(e.prim(Prim::Mul, &[Atom::F64(2.0), x])),
        Atom::F64(c) => {
            let p = e.prim(Prim::Pow, &[x, Atom::F64(c - 1.0)]);
            Some(e.prim(Prim::Mul, &[y, p]))
        }
        _ => {
            let y1 = e.prim(Prim::Sub, &[y, Atom::F64(1.0)]);
            let p = e.prim(Prim::Pow, &[x, y1]);
            let j = e.prim(Prim::Mul, &[y, p]);
            let c = e.prim(Prim::Eq, &[y, Atom::F64(0.0)]);
            Some(select(e, c, Atom::F64(0.0), j))
        }
    }
}

/// d/dy x^y = x^y log x, and 0 where x = 0; `None` when it is 0.
fn pow_exponent(e: &mut dyn Emit, x: Atom, r: Atom) -> Option<Atom> {
    match x {
        Atom::F64(0.0) => None,
        Atom::F64(c) => Some(e.prim(Prim::Mul, &[r, Atom::F64(c.ln())])),
        _ => {
            let c = e.prim(Prim::Eq, &[x, Atom::F64(0.0)]);
            let safe = select(e, c, Atom::F64(1.0), x);
            let l = e.prim(Prim::Log, &[safe]);
            Some(e.prim(Prim::Mul, &[r, l]))
        }
    }
}
