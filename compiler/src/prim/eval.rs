//! The reference semantics of every primitive.
//!
//! Decisions that the language contract leaves open, kept here in one place
//! (the language reference repeats them):
//! - f64 arithmetic is IEEE 754 binary64. `rem` on f64 is C's `fmod`: the
//!   result has the sign of the dividend.
//! - i64 arithmetic wraps on overflow (`add`, `sub`, `mul`, `neg`, `abs`,
//!   `pow`, `sum`, `prod`); `abs(i64::MIN)` is `i64::MIN`.
//! - i64 `div` truncates toward zero and `rem` has the sign of the dividend,
//!   as in C, so `a == div(a, b) * b + rem(a, b)`; `-7 / 2 == -3`,
//!   `-7 % 2 == -1`. Division by zero is an error; `i64::MIN / -1` wraps to
//!   `i64::MIN`.
//! - `pow` on f64 is `powf` (`pow(x, 0.0) == 1.0` even for NaN); on i64 a
//!   negative exponent is an error.
//! - `min`/`max` on f64 are IEEE 754-2019 `minimum`/`maximum`: NaN if either
//!   argument is NaN, and `-0.0 < 0.0`. `maximum`/`minimum` of an array
//!   agree: a NaN element makes the result NaN.
//! - `polygamma(k, x)` is the k-th derivative of digamma (`lgamma'`), for
//!   orders 0 to 100 (others are an error). At its poles, the non-positive
//!   integers, it is `+inf` for odd `k` and NaN for even `k`.
//! - `sign` is -1, 0 or 1 of the argument's type; `sign(±0.0) = ±0.0`,
//!   `sign(nan) = nan`.
//! - `to_i64` truncates toward zero; NaN or a value out of the range of i64
//!   is an error. `to_f64` of an i64 rounds to the nearest f64.
//! - `eq`/`ne` compare whole values structurally with IEEE equality on
//!   floats: `nan != nan` and `0.0 == -0.0`. `lt`.. on bools order
//!   `false < true`.
//! - `approx_eq`: see [`crate::core::value::approx_eq`] (relative tolerance
//!   1e-9, NaN equals NaN, exact on integers and booleans).
//! - Indices are never negative-from-the-end: a negative index is out of
//!   bounds.
//! - `sum`/`prod` fold left in index order starting from the first element
//!   (empty: 0 and 1). `maximum`/`minimum` of an empty f64 array are `-inf`
//!   and `inf`; of an empty i64 array an error.
//! - `argmax`/`argmin` return the first index of the extreme; a NaN is more
//!   extreme than any number, so the first NaN's index is returned (as in
//!   NumPy). An empty array is an error.
//! - Arrays are values with no separate shape, so an empty matrix has no
//!   column count: `transpose([])` is `[]`, and a product whose inner size is
//!   0 with a right operand of no rows gives rows of length 0.

use crate::core::ir::Type;
use crate::core::value::{approx_eq, Value};
use dl_runtime::error::{kind, message};
use dl_runtime::math;
use std::fmt;

use super::Prim;

/// A run-time error raised by a primitive (out of bounds, size mismatch,
/// division by zero). The interpreter adds the source location. Messages are
/// those of the run-time error kinds of docs/runtime-abi.md, so natively
/// compiled code reports the same words.
#[derive(Clone, Debug, PartialEq)]
pub struct PrimError(pub String);

impl fmt::Display for PrimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PrimError {}

/// The relative tolerance of `approx_eq` (the `~=` operator).
pub const APPROX_EQ_TOLERANCE: f64 = 1e-9;

type R = Result<Value, PrimError>;

fn err<T>(message: impl Into<String>) -> Result<T, PrimError> {
    Err(PrimError(message.into()))
}

impl Prim {
    /// Applies the primitive to argument values that fit its type rule
    /// ([`Prim::result_type`]). Arguments that do not fit give an error
    /// naming the primitive (a bug in the pass that built the program).
    ///
    /// A value does not say the element type of an empty array, so `sum`,
    /// `prod`, `maximum` and `minimum` of `[]` are taken to be of `[]f64`
    /// here; [`Prim::eval_typed`] knows better.
    pub fn eval(self, args: &[Value]) -> R {
        self.eval_impl(args, Empty::F64)
    }

    /// [`Prim::eval`] for a primitive whose result has type `result`: an
    /// empty array reduced by `sum`, `prod`, `maximum` or `minimum` is of
    /// i64 when the result is. The interpreter uses this one.
    pub fn eval_typed(self, args: &[Value], result: &Type) -> R {
        // The zero tangent is shaped by the type: `[]i64` has tangent `()`,
        // which the value alone cannot tell for an empty array.
        if let (Prim::ZeroTangent, [v]) = (self, args) {
            return zero_tangent(v, result);
        }
        let empty = match result {
            Type::I64 => Empty::I64,
            Type::F64 | Type::Bool | Type::Array(_) | Type::Tuple(_) => Empty::F64,
        };
        self.eval_impl(args, empty)
    }

    fn eval_impl(self, args: &[Value], empty: Empty) -> R {
        use Value::{Bool, F64, I64};
        match self {
            Prim::Add => self.arith(args, |a, b| a + b, |a, b| Ok(a.wrapping_add(b))),
            Prim::Sub => self.arith(args, |a, b| a - b, |a, b| Ok(a.wrapping_sub(b))),
            Prim::Mul => self.arith(args, |a, b| a * b, |a, b| Ok(a.wrapping_mul(b))),
            Prim::Div => self.arith(
                args,
                |a, b| a / b,
                |a, b| {
                    if b == 0 {
                        err(message(kind::INTEGER_DIVISION_BY_ZERO, a, b, 0))
                    } else {
                        Ok(a.wrapping_div(b))
                    }
                },
            ),
            Prim::Rem => self.arith(args, math::fmod, |a, b| {
                if b == 0 {
                    err(message(kind::INTEGER_REMAINDER_BY_ZERO, a, b, 0))
                } else {
                    Ok(a.wrapping_rem(b))
                }
            }),
            Prim::Pow => self.arith(args, math::pow, int_pow),
            Prim::Min => self.arith(args, f64_min, |a, b| Ok(a.min(b))),
            Prim::Max => self.arith(args, f64_max, |a, b| Ok(a.max(b))),
            Prim::Atan2 => match args {
                [F64(y), F64(x)] => Ok(F64(math::atan2(*y, *x))),
                _ => self.bad_args(args),
            },
            Prim::Neg => self.unary_num(args, |x| -x, i64::wrapping_neg),
            Prim::Abs => self.unary_num(args, f64::abs, i64::wrapping_abs),
            Prim::Sign => self.unary_num(args, f64_sign, i64::signum),
            Prim::Sqrt => self.unary(args, f64::sqrt),
            Prim::Exp => self.unary(args, math::exp),
            Prim::Log => self.unary(args, math::log),
            Prim::Log1p => self.unary(args, math::log1p),
            Prim::Expm1 => self.unary(args, math::expm1),
            Prim::Sin => self.unary(args, math::sin),
            Prim::Cos => self.unary(args, math::cos),
            Prim::Tan => self.unary(args, math::tan),
            Prim::Tanh => self.unary(args, math::tanh),
            Prim::Sigmoid => self.unary(args, math::sigmoid),
            Prim::Floor => self.unary(args, f64::floor),
            Prim::Ceil => self.unary(args, f64::ceil),
            Prim::Erf => self.unary(args, math::erf),
            Prim::Lgamma => self.unary(args, math::lgamma),
            Prim::Polygamma => match args {
                [I64(k), F64(x)] => polygamma(*k, *x).map(F64),
                _ => self.bad_args(args),
            },
            Prim::ToF64 => match args {
                [F64(x)] => Ok(F64(*x)),
                [I64(n)] => Ok(F64(*n as f64)),
                _ => self.bad_args(args),
            },
            Prim::ToI64 => match args {
                [I64(n)] => Ok(I64(*n)),
                [F64(x)] => to_i64(*x).map(I64),
                _ => self.bad_args(args),
            },
            Prim::Eq => match args {
                [a, b] => Ok(Bool(a == b)),
                _ => self.bad_args(args),
            },
            Prim::Ne => match args {
                [a, b] => Ok(Bool(a != b)),
                _ => self.bad_args(args),
            },
            Prim::Lt => self.compare(args, |o| o.is_lt()),
            Prim::Le => self.compare(args, |o| o.is_le()),
            Prim::Gt => self.compare(args, |o| o.is_gt()),
            Prim::Ge => self.compare(args, |o| o.is_ge()),
            Prim::And => match args {
                [Bool(a), Bool(b)] => Ok(Bool(*a && *b)),
                _ => self.bad_args(args),
            },
            Prim::Or => match args {
                [Bool(a), Bool(b)] => Ok(Bool(*a || *b)),
                _ => self.bad_args(args),
            },
            Prim::Not => match args {
                [Bool(a)] => Ok(Bool(!a)),
                _ => self.bad_args(args),
            },
            Prim::ApproxEq => match args {
                [a, b] => Ok(Bool(approx_eq(a, b, APPROX_EQ_TOLERANCE))),
                _ => self.bad_args(args),
            },
            Prim::Length => match args {
                [Value::Array(a)] => Ok(I64(a.len() as i64)),
                _ => self.bad_args(args),
            },
            Prim::Iota => match args {
                [I64(n)] => {
                    let n = size(*n)?;
                    let mut out = Value::try_vec(n).or_else(err)?;
                    out.extend((0..n as i64).map(I64));
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::Replicate => match args {
                [I64(n), v] => {
                    let n = size(*n)?;
                    let mut out = Value::try_vec(n).or_else(err)?;
                    out.resize(n, v.clone());
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::Index => match args {
                [Value::Array(a), I64(i)] => Ok(a[index(*i, a.len())?].clone()),
                _ => self.bad_args(args),
            },
            Prim::Slice => match args {
                [Value::Array(a), I64(i), I64(j)] => {
                    let len = a.len() as i64;
                    if 0 <= *i && i <= j && *j <= len {
                        Ok(Value::array(a[*i as usize..*j as usize].to_vec()))
                    } else {
                        err(message(kind::SLICE_OUT_OF_BOUNDS, *i, *j, len))
                    }
                }
                _ => self.bad_args(args),
            },
            Prim::Concat => match args {
                [Value::Array(a), Value::Array(b)] => {
                    let mut out = Vec::with_capacity(a.len() + b.len());
                    out.extend(a.iter().cloned());
                    out.extend(b.iter().cloned());
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::Reverse => match args {
                [Value::Array(a)] => Ok(Value::array(a.iter().rev().cloned().collect())),
                _ => self.bad_args(args),
            },
            Prim::Flatten => match args {
                [Value::Array(rows)] => {
                    let rows = self.rows(rows)?;
                    let (_, m) = regular(&rows)?;
                    let total = rows.len().saturating_mul(m);
                    let mut out = Value::try_vec(total).or_else(err)?;
                    for row in &rows {
                        out.extend(row.iter().cloned());
                    }
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::Unflatten => match args {
                [I64(n), I64(m), Value::Array(a)] => {
                    let (n, m) = (size(*n)?, size(*m)?);
                    if n.checked_mul(m) != Some(a.len()) {
                        // The product as native code states it: saturated
                        // at i64::MAX, never a wrapped value that may equal
                        // the length it is compared with.
                        let expected = (n as i64).saturating_mul(m as i64);
                        return err(format!("size mismatch: expected {expected}, got {}", a.len()));
                    }
                    let rows = (0..n).map(|r| Value::array(a[r * m..(r + 1) * m].to_vec())).collect();
                    Ok(Value::array(rows))
                }
                _ => self.bad_args(args),
            },
            Prim::Transpose => match args {
                [Value::Array(rows)] => {
                    let rows = self.rows(rows)?;
                    let (n, m) = regular(&rows)?;
                    let out = (0..m)
                        .map(|j| Value::array((0..n).map(|i| rows[i][j].clone()).collect()))
                        .collect();
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::ScatterAdd => match args {
                [I64(n), Value::Array(idx), Value::Array(vals)] => {
                    let n = size(*n)?;
                    if idx.len() != vals.len() {
                        return err(format!("size mismatch: expected {}, got {}", idx.len(), vals.len()));
                    }
                    let mut out = Value::try_vec(n).or_else(err)?;
                    out.resize(n, 0.0);
                    for (i, v) in idx.iter().zip(vals.iter()) {
                        match (i, v) {
                            (I64(i), F64(v)) => {
                                let k = index(*i, n)?;
                                out[k] += v;
                            }
                            _ => return self.bad_args(args),
                        }
                    }
                    Ok(Value::array(out.into_iter().map(F64).collect()))
                }
                _ => self.bad_args(args),
            },
            Prim::Sum => self.fold(args, empty, 0.0, 0, |a, b| a + b, i64::wrapping_add),
            Prim::Prod => self.fold(args, empty, 1.0, 1, |a, b| a * b, i64::wrapping_mul),
            Prim::Maximum => match self.numbers(args, empty)? {
                Numbers::F64(xs) => Ok(F64(xs.into_iter().fold(f64::NEG_INFINITY, f64_max))),
                Numbers::I64(xs) => match xs.into_iter().max() {
                    Some(x) => Ok(I64(x)),
                    None => err("maximum of an empty array"),
                },
            },
            Prim::Minimum => match self.numbers(args, empty)? {
                Numbers::F64(xs) => Ok(F64(xs.into_iter().fold(f64::INFINITY, f64_min))),
                Numbers::I64(xs) => match xs.into_iter().min() {
                    Some(x) => Ok(I64(x)),
                    None => err("minimum of an empty array"),
                },
            },
            Prim::Argmax => self.arg_extreme(args, empty, std::cmp::Ordering::Greater),
            Prim::Argmin => self.arg_extreme(args, empty, std::cmp::Ordering::Less),
            Prim::Dot => match args {
                [a, b] => {
                    let (a, b) = (self.vector(a)?, self.vector(b)?);
                    if a.len() != b.len() {
                        return err(format!("size mismatch: expected {}, got {}", a.len(), b.len()));
                    }
                    Ok(F64(dot(&a, &b)))
                }
                _ => self.bad_args(args),
            },
            Prim::Matmul => match args {
                [a, b] => {
                    let a = self.matrix(a)?;
                    let b = self.matrix(b)?;
                    if !a.rows.is_empty() && a.cols != b.rows.len() {
                        return err(format!("size mismatch: expected {}, got {}", a.cols, b.rows.len()));
                    }
                    let cols = b.columns();
                    let out = a
                        .rows
                        .iter()
                        .map(|row| Value::array(cols.iter().map(|c| F64(dot(row, c))).collect()))
                        .collect();
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::Matvec => match args {
                [m, v] => {
                    let m = self.matrix(m)?;
                    let v = self.vector(v)?;
                    if !m.rows.is_empty() && m.cols != v.len() {
                        return err(format!("size mismatch: expected {}, got {}", m.cols, v.len()));
                    }
                    Ok(Value::array(m.rows.iter().map(|row| F64(dot(row, &v))).collect()))
                }
                _ => self.bad_args(args),
            },
            Prim::Vecmat => match args {
                [v, m] => {
                    let v = self.vector(v)?;
                    let m = self.matrix(m)?;
                    if v.len() != m.rows.len() {
                        return err(format!("size mismatch: expected {}, got {}", v.len(), m.rows.len()));
                    }
                    let out = m.columns().iter().map(|c| F64(dot(&v, c))).collect();
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::Outer => match args {
                [a, b] => {
                    let (a, b) = (self.vector(a)?, self.vector(b)?);
                    let out = a
                        .iter()
                        .map(|x| Value::array(b.iter().map(|y| F64(x * y)).collect()))
                        .collect();
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::StopGradient => match args {
                [v] => Ok(v.clone()),
                _ => self.bad_args(args),
            },
            Prim::ZeroTangent => match args {
                [v] => zero_tangent_of_value(v),
                _ => self.bad_args(args),
            },
            Prim::AddTangent => match args {
                [a, b] => add_tangent(a, b),
                _ => self.bad_args(args),
            },
            Prim::IndexAdd => match args {
                [Value::Array(a), I64(i), v] => {
                    let k = index(*i, a.len())?;
                    let mut out: Vec<Value> = a.as_ref().clone();
                    out[k] = add_tangent(&a[k], v)?;
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::IndexSet => match args {
                [Value::Array(a), I64(i), v] => {
                    let k = index(*i, a.len())?;
                    same_sizes(&a[k], v)?;
                    let mut out: Vec<Value> = a.as_ref().clone();
                    out[k] = v.clone();
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::SliceAdd => match args {
                [Value::Array(a), I64(i), Value::Array(v)] => {
                    let fits = *i >= 0 && (*i as usize).checked_add(v.len()).is_some_and(|end| end <= a.len());
                    if !fits {
                        let hi = i.wrapping_add(v.len() as i64);
                        return err(format!(
                            "slice {i}:{hi} out of bounds for an array of length {}",
                            a.len()
                        ));
                    }
                    let mut out: Vec<Value> = a.as_ref().clone();
                    for (k, x) in v.iter().enumerate() {
                        let at = *i as usize + k;
                        out[at] = add_tangent(&a[at], x)?;
                    }
                    Ok(Value::array(out))
                }
                _ => self.bad_args(args),
            },
            Prim::CheckIndex => match args {
                [I64(i), I64(n)] => {
                    if 0 <= *i && i < n {
                        Ok(I64(*i))
                    } else {
                        err(message(kind::INDEX_OUT_OF_BOUNDS, *i, *n, 0))
                    }
                }
                _ => self.bad_args(args),
            },
            Prim::CheckSlice => match args {
                [I64(lo), I64(hi), I64(n)] => {
                    if 0 <= *lo && lo <= hi && hi <= n {
                        Ok(I64(*lo))
                    } else {
                        err(message(kind::SLICE_OUT_OF_BOUNDS, *lo, *hi, *n))
                    }
                }
                _ => self.bad_args(args),
            },
            Prim::SizeEq => match args {
                [I64(actual), I64(expected)] => {
                    if actual == expected {
                        Ok(I64(*actual))
                    } else {
                        err(message(kind::SIZE_MISMATCH, *expected, *actual, 0))
                    }
                }
                _ => self.bad_args(args),
            },
        }
    }

    /// The error for arguments that do not fit the type rule.
    fn bad_args<T>(self, args: &[Value]) -> Result<T, PrimError> {
        let kinds: Vec<&str> = args.iter().map(Value::kind).collect();
        err(format!(
            "internal error: `{}` does not apply to ({})",
            self.name(),
            kinds.join(", ")
        ))
    }

    fn arith(self, args: &[Value], f: impl Fn(f64, f64) -> f64, i: impl Fn(i64, i64) -> Result<i64, PrimError>) -> R {
        match args {
            [Value::F64(a), Value::F64(b)] => Ok(Value::F64(f(*a, *b))),
            [Value::I64(a), Value::I64(b)] => i(*a, *b).map(Value::I64),
            _ => self.bad_args(args),
        }
    }

    fn unary_num(self, args: &[Value], f: impl Fn(f64) -> f64, i: impl Fn(i64) -> i64) -> R {
        match args {
            [Value::F64(x)] => Ok(Value::F64(f(*x))),
            [Value::I64(n)] => Ok(Value::I64(i(*n))),
            _ => self.bad_args(args),
        }
    }

    fn unary(self, args: &[Value], f: impl Fn(f64) -> f64) -> R {
        match args {
            [Value::F64(x)] => Ok(Value::F64(f(*x))),
            _ => self.bad_args(args),
        }
    }

    /// An ordered comparison; any comparison with NaN is false.
    fn compare(self, args: &[Value], test: impl Fn(std::cmp::Ordering) -> bool) -> R {
        let ordering = match args {
            [Value::F64(a), Value::F64(b)] => a.partial_cmp(b),
            [Value::I64(a), Value::I64(b)] => Some(a.cmp(b)),
            [Value::Bool(a), Value::Bool(b)] => Some(a.cmp(b)),
            _ => return self.bad_args(args),
        };
        Ok(Value::Bool(ordering.is_some_and(test)))
    }

    /// The elements of an array of f64 or of i64.
    /// `empty` says which kind an empty array is.
    fn numbers(self, args: &[Value], empty: Empty) -> Result<Numbers, PrimError> {
        let [Value::Array(a)] = args else {
            return self.bad_args(args);
        };
        let is_f64 = match a.first() {
            None => empty == Empty::F64,
            Some(v) => matches!(v, Value::F64(_)),
        };
        if is_f64 {
            a.iter()
                .map(|v| v.as_f64().ok_or(()))
                .collect::<Result<Vec<_>, ()>>()
                .map(Numbers::F64)
        } else {
            a.iter()
                .map(|v| v.as_i64().ok_or(()))
                .collect::<Result<Vec<_>, ()>>()
                .map(Numbers::I64)
        }
        .or_else(|()| self.bad_args(args))
    }

    /// A left fold in index order from the first element; `empty` when there
    /// is none.
    fn fold(
        self,
        args: &[Value],
        empty: Empty,
        empty_f: f64,
        empty_i: i64,
        f: impl Fn(f64, f64) -> f64,
        i: impl Fn(i64, i64) -> i64,
    ) -> R {
        match self.numbers(args, empty)? {
            Numbers::F64(xs) => Ok(Value::F64(xs.into_iter().reduce(f).unwrap_or(empty_f))),
            Numbers::I64(xs) => Ok(Value::I64(xs.into_iter().reduce(i).unwrap_or(empty_i))),
        }
    }

    /// The first index of the extreme element: the first one that every
    /// later element does not beat with ordering `want`. A NaN beats every
    /// number, so the first NaN wins.
    fn arg_extreme(self, args: &[Value], empty: Empty, want: std::cmp::Ordering) -> R {
        let mut best = None;
        match self.numbers(args, empty)? {
            Numbers::F64(xs) => {
                let mut best_x = 0.0;
                for (k, x) in xs.into_iter().enumerate() {
                    if x.is_nan() {
                        best = Some(k);
                        break;
                    }
                    if best.is_none() || x.partial_cmp(&best_x) == Some(want) {
                        best = Some(k);
                        best_x = x;
                    }
                }
            }
            Numbers::I64(xs) => {
                let mut best_x = 0;
                for (k, x) in xs.into_iter().enumerate() {
                    if best.is_none() || x.cmp(&best_x) == want {
                        best = Some(k);
                        best_x = x;
                    }
                }
            }
        }
        match best {
            Some(k) => Ok(Value::I64(k as i64)),
            None => err(format!("{} of an empty array", self.name())),
        }
    }

    /// The rows of a 2-D array.
    fn rows(self, rows: &[Value]) -> Result<Vec<&[Value]>, PrimError> {
        rows.iter()
            .map(|r| match r {
                Value::Array(r) => Ok(&r[..]),
                _ => self.bad_args(std::slice::from_ref(r)),
            })
            .collect()
    }

    fn vector(self, v: &Value) -> Result<Vec<f64>, PrimError> {
        match v {
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_f64().ok_or(()))
                .collect::<Result<_, ()>>()
                .or_else(|()| self.bad_args(std::slice::from_ref(v))),
            _ => self.bad_args(std::slice::from_ref(v)),
        }
    }

    fn matrix(self, m: &Value) -> Result<Matrix, PrimError> {
        let Value::Array(rows) = m else {
            return self.bad_args(std::slice::from_ref(m));
        };
        let rows = rows.iter().map(|r| self.vector(r)).collect::<Result<Vec<_>, _>>()?;
        let cols = rows.first().map_or(0, Vec::len);
        for row in &rows {
            if row.len() != cols {
                return irregular(cols, row.len());
            }
        }
        Ok(Matrix { rows, cols })
    }
}

/// The element type assumed for an empty array.
#[derive(Clone, Copy, PartialEq)]
enum Empty {
    F64,
    I64,
}

enum Numbers {
    F64(Vec<f64>),
    I64(Vec<i64>),
}

struct Matrix {
    rows: Vec<Vec<f64>>,
    cols: usize,
}

impl Matrix {
    fn columns(&self) -> Vec<Vec<f64>> {
        (0..self.cols)
            .map(|j| self.rows.iter().map(|r| r[j]).collect())
            .collect()
    }
}

/// The shape of a regular 2-D array; an empty one has 0 columns.
fn regular(rows: &[&[Value]]) -> Result<(usize, usize), PrimError> {
    let m = rows.first().map_or(0, |r| r.len());
    for row in rows {
        if row.len() != m {
            return irregular(m, row.len());
        }
    }
    Ok((rows.len(), m))
}

/// A size argument, which must not be negative.
fn size(n: i64) -> Result<usize, PrimError> {
    usize::try_from(n).or_else(|_| err(format!("negative size: {n}")))
}

/// The error for an array of arrays whose rows differ in length.
fn irregular<T>(expected: usize, actual: usize) -> Result<T, PrimError> {
    err(format!("irregular array: elements of sizes {expected} and {actual}"))
}

/// Checks that `actual` has the sizes of `expected`, both regular, outer
/// sizes first: an element replaced by it leaves its array regular.
pub(crate) fn same_sizes(expected: &Value, actual: &Value) -> Result<(), PrimError> {
    match (expected, actual) {
        (Value::Array(a), Value::Array(b)) if a.len() != b.len() => irregular(a.len(), b.len()),
        (Value::Array(a), Value::Array(b)) => match (a.first(), b.first()) {
            (Some(x), Some(y)) => same_sizes(x, y),
            _ => Ok(()),
        },
        (Value::Tuple(a), Value::Tuple(b)) => a.iter().zip(b.iter()).try_for_each(|(x, y)| same_sizes(x, y)),
        _ => Ok(()),
    }
}

fn index(i: i64, len: usize) -> Result<usize, PrimError> {
    match usize::try_from(i) {
        Ok(k) if k < len => Ok(k),
        _ => err(message(kind::INDEX_OUT_OF_BOUNDS, i, len as i64, 0)),
    }
}

/// Sum of products in index order.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).fold(0.0, |s, p| s + p)
}

/// Integer power; the runtime computes it, a negative exponent is an error.
fn int_pow(base: i64, exp: i64) -> Result<i64, PrimError> {
    if exp < 0 {
        return err(message(kind::NEGATIVE_EXPONENT, base, exp, 0));
    }
    Ok(math::ipow(base, exp))
}

/// IEEE 754-2019 `minimum`: NaN-propagating, `-0.0 < 0.0`.
fn f64_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b || (a == b && a.is_sign_negative()) {
        a
    } else {
        b
    }
}

/// IEEE 754-2019 `maximum`: NaN-propagating, `-0.0 < 0.0`.
fn f64_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b || (a == b && a.is_sign_positive()) {
        a
    } else {
        b
    }
}

fn f64_sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        // ±0.0 and NaN are their own sign.
        x
    }
}

/// `polygamma(k, x)` ([`math::polygamma`]); an order the runtime does not
/// accept is an error here.
fn polygamma(k: i64, x: f64) -> Result<f64, PrimError> {
    if !(0..=math::MAX_POLYGAMMA_ORDER).contains(&k) {
        return err(format!(
            "polygamma of order {k}: the order must be between 0 and {}",
            math::MAX_POLYGAMMA_ORDER
        ));
    }
    Ok(math::polygamma(k, x))
}

/// The zero tangent of `v`, shaped by its tangent type `ty`.
fn zero_tangent(v: &Value, ty: &Type) -> R {
    match (ty, v) {
        (Type::F64, _) => Ok(Value::F64(0.0)),
        (Type::Array(t), Value::Array(items)) => Ok(Value::array(
            items.iter().map(|x| zero_tangent(x, t)).collect::<Result<_, _>>()?,
        )),
        (Type::Tuple(ts), Value::Tuple(items)) if ts.len() == items.len() => Ok(Value::tuple(
            ts.iter()
                .zip(items.iter())
                .map(|(t, x)| zero_tangent(x, t))
                .collect::<Result<_, _>>()?,
        )),
        (Type::Tuple(ts), _) if ts.is_empty() => Ok(Value::unit()),
        _ => err(format!("internal error: zero_tangent of a {} as {ty}", v.kind())),
    }
}

/// The zero tangent read off the value alone (used without a type): an
/// empty array is taken to hold f64s.
fn zero_tangent_of_value(v: &Value) -> R {
    match v {
        Value::F64(_) => Ok(Value::F64(0.0)),
        Value::I64(_) | Value::Bool(_) => Ok(Value::unit()),
        Value::Array(items) => Ok(Value::array(
            items.iter().map(zero_tangent_of_value).collect::<Result<_, _>>()?,
        )),
        Value::Tuple(items) => Ok(Value::tuple(
            items.iter().map(zero_tangent_of_value).collect::<Result<_, _>>()?,
        )),
    }
}

/// The sum of two tangents of one shape.
fn add_tangent(a: &Value, b: &Value) -> R {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => Ok(Value::F64(x + y)),
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return err(format!("size mismatch: expected {}, got {}", x.len(), y.len()));
            }
            Ok(Value::array(
                x.iter()
                    .zip(y.iter())
                    .map(|(p, q)| add_tangent(p, q))
                    .collect::<Result<_, _>>()?,
            ))
        }
        (Value::Tuple(x), Value::Tuple(y)) if x.len() == y.len() => Ok(Value::tuple(
            x.iter()
                .zip(y.iter())
                .map(|(p, q)| add_tangent(p, q))
                .collect::<Result<_, _>>()?,
        )),
        _ => err(format!(
            "internal error: add_tangent of a {} and a {}",
            a.kind(),
            b.kind()
        )),
    }
}

fn to_i64(x: f64) -> Result<i64, PrimError> {
    let t = x.trunc();
    // -2^63 is representable; 2^63 is the first value out of range.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t) {
        Ok(t as i64)
    } else if x.is_nan() {
        err(message(kind::NAN_TO_INT, x.to_bits() as i64, 0, 0))
    } else {
        err(message(kind::FLOAT_TO_INT_OUT_OF_RANGE, x.to_bits() as i64, 0, 0))
    }
}
