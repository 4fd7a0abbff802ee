//! Scalar mathematics: the one implementation of every transcendental
//! function of dl.
//!
//! The interpreter (`dl-compiler`'s `prim::eval`) calls these Rust
//! functions and generated code calls the `dl_*` wrappers below, so the two
//! agree bit for bit. `exp`, `log` and `tanh` are the straight-line kernels
//! of `elementary` (which generated code inlines); the others use the
//! platform's maths library through `std` (sin, cos...) and the `libm`
//! crate (erf, lgamma); `sigmoid`, `polygamma` and `ipow` are written here.
//!
//! Semantics (the language reference repeats them):
//! - `pow` is `powf` within `|y|` ulp (integer exponents up to 256 in
//!   magnitude by repeated squaring): `pow(x, 0.0) == 1.0` even for NaN.
//! - `fmod` is C's `fmod` (Rust's `%` on f64): the result has the sign of
//!   the dividend.
//! - `ipow` wraps on overflow; a negative exponent is the caller's error.
//! - `polygamma(k, x)` is the k-th derivative of digamma, for orders 0 to
//!   [`MAX_POLYGAMMA_ORDER`] (others give NaN here; the callers report them).
//!   At its poles, the non-positive integers, it is `+inf` for odd `k` and
//!   NaN for even `k`.

pub use crate::elementary::{exp, log, tanh};

pub fn log1p(x: f64) -> f64 {
    x.ln_1p()
}

pub fn expm1(x: f64) -> f64 {
    x.exp_m1()
}

pub fn sin(x: f64) -> f64 {
    x.sin()
}

pub fn cos(x: f64) -> f64 {
    x.cos()
}

pub fn tan(x: f64) -> f64 {
    x.tan()
}

/// `1 / (1 + exp(-x))`, without overflow for large `|x|`.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + exp(-x))
    } else {
        let e = exp(x);
        e / (1.0 + e)
    }
}

pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// `ln |Gamma(x)|`.
pub fn lgamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// `x` to the power `y`. An integer exponent of magnitude up to
/// [`POW_BY_SQUARING_MAX`] is computed by repeated squaring, without
/// branches (a polynomial's `t ** f64(j)` is a few multiplications, not a
/// call to the C library's `pow` at about 20 ns); the result is within
/// about `|y|` ulp of the correctly rounded power (squaring doubles the
/// relative error), 6e-14 at 256, as `exp(y log x)` would be. Every other
/// exponent, and a negative one whose `x^|y|` overflows or underflows,
/// goes to `powf`. Either way `pow(x, 0.0) == 1.0`, even for NaN.
pub fn pow(x: f64, y: f64) -> f64 {
    // `y as i64` saturates and drops the fraction: no call to `trunc`.
    if y.abs() <= POW_BY_SQUARING_MAX && (y as i64) as f64 == y {
        let n = y.abs() as u64;
        let mut base = x;
        let mut result = 1.0f64;
        // As many steps as `n` has bits: the same count for most of the
        // exponents a loop sees, so the exit is predicted.
        for bit in 0..u64::BITS - n.leading_zeros() {
            // `result *= if bit is set { base } else { 1.0 }`, as a mask so
            // that the varying exponents of one loop cost no mispredictions.
            let mask = 0u64.wrapping_sub((n >> bit) & 1);
            let factor = f64::from_bits((base.to_bits() & mask) | (1.0f64.to_bits() & !mask));
            result *= factor;
            base *= base;
        }
        if y >= 0.0 {
            return result;
        }
        // `1 / x^n`, unless `x^n` left the range where `x^-n` is in it.
        if result.is_finite() && result != 0.0 {
            return 1.0 / result;
        }
    }
    x.powf(y)
}

/// The largest exponent magnitude `pow` computes by repeated squaring.
pub const POW_BY_SQUARING_MAX: f64 = 256.0;

pub fn atan2(y: f64, x: f64) -> f64 {
    y.atan2(x)
}

/// The remainder of `x / y` with the sign of `x` (C's `fmod`).
pub fn fmod(x: f64, y: f64) -> f64 {
    x % y
}

/// `base` to the power `exp`, wrapping on overflow, by repeated squaring.
/// `exp` must not be negative (the caller reports that); a negative one
/// gives 0.
pub fn ipow(base: i64, exp: i64) -> i64 {
    if exp < 0 {
        return 0;
    }
    let (mut result, mut base, mut exp) = (1i64, base, exp as u64);
    while exp > 0 {
        if exp & 1 == 1 {
            result = result.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        exp >>= 1;
    }
    result
}

/// The largest order `polygamma` accepts; beyond it `k!` overflows.
pub const MAX_POLYGAMMA_ORDER: i64 = 100;

/// `polygamma(k, x)`: the `k`-th derivative of the digamma function
/// `psi = lgamma'`, accurate to a few ulp away from its zeros. NaN for an
/// order outside `0..=MAX_POLYGAMMA_ORDER`.
///
/// - `x >= 0.5`: the recurrence `psi_k(x) = psi_k(x + 1) - (-1)^k k! / x^(k+1)`
///   moves `x` to at least `10 + k`, where the asymptotic series in Bernoulli
///   numbers converges to below an ulp within nine terms.
/// - `x < 0.5`: the reflection formula, differentiated `k` times:
///   `psi_k(x) = (-1)^k psi_k(1 - x) - pi^(k+1) P_k(cot(pi x))`, where
///   `P_k` is the polynomial with `d^k/dz^k cot z = P_k(cot z)`.
/// - At the poles (`x` a non-positive integer) the result is `+inf` for odd
///   `k` (both sides tend to it) and NaN for even `k` (the sides disagree).
pub fn polygamma(k: i64, x: f64) -> f64 {
    if !(0..=MAX_POLYGAMMA_ORDER).contains(&k) {
        return f64::NAN;
    }
    let k = k as u32;
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return if k == 0 { f64::INFINITY } else { 0.0 };
    }
    if x <= 0.0 && x == x.floor() {
        return if k % 2 == 1 { f64::INFINITY } else { f64::NAN };
    }
    if x < 0.5 {
        // cot(pi x) has period 1: reduce x to [-1/2, 1/2] first, exactly
        // (x minus its nearest integer is exact in binary64).
        let r = x - x.round();
        let (s, c) = (std::f64::consts::PI * r).sin_cos();
        // cot(pi / 2) is 0, not the cos(pi / 2) / 1 = 6e-17 of rounding.
        let cot = if r.abs() == 0.5 { 0.0 } else { c / s };
        let reflected = polygamma_right(k, 1.0 - x);
        let sign = if k.is_multiple_of(2) { 1.0 } else { -1.0 };
        let pi_pow = std::f64::consts::PI.powi(k as i32 + 1);
        return sign * reflected - pi_pow * cot_derivative(k, cot);
    }
    polygamma_right(k, x)
}

/// `polygamma(k, x)` for `x >= 0.5`.
fn polygamma_right(k: u32, mut x: f64) -> f64 {
    // B_2, B_4, ..., B_18.
    const BERNOULLI: [f64; 9] = [
        1.0 / 6.0,
        -1.0 / 30.0,
        1.0 / 42.0,
        -1.0 / 30.0,
        5.0 / 66.0,
        -691.0 / 2730.0,
        7.0 / 6.0,
        -3617.0 / 510.0,
        43867.0 / 798.0,
    ];
    let start = 10.0 + f64::from(k);
    if k == 0 {
        // psi(x) = psi(x + n) - sum 1/(x + j).
        let mut shift = 0.0;
        while x < start {
            shift += 1.0 / x;
            x += 1.0;
        }
        let x2 = 1.0 / (x * x);
        let mut series = 0.0;
        let mut power = x2;
        for (n, b) in BERNOULLI.iter().enumerate() {
            series += b / (2.0 * (n as f64 + 1.0)) * power;
            power *= x2;
        }
        return x.ln() - 0.5 / x - series - shift;
    }
    // psi_k(x) = (-1)^(k+1) k! [sum 1/(x + j)^(k+1)
    //            + (1/k) x^-k (1 + k/(2x) + sum B_2n C(2n+k-1, 2n) x^-2n)].
    let mut shift = 0.0;
    while x < start {
        shift += x.powi(-(k as i32 + 1));
        x += 1.0;
    }
    let kf = f64::from(k);
    let x2 = 1.0 / (x * x);
    let mut series = 1.0 + kf / (2.0 * x);
    let mut binom = 1.0;
    let mut power = x2;
    for (n, b) in BERNOULLI.iter().enumerate() {
        let j = 2.0 * (n as f64 + 1.0);
        // C(2n+k-1, 2n) from C(2n+k-3, 2n-2).
        binom *= (kf + j - 2.0) * (kf + j - 1.0) / ((j - 1.0) * j);
        series += b * binom * power;
        power *= x2;
    }
    let factorial: f64 = (1..=k).map(f64::from).product();
    let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
    sign * factorial * (shift + x.powi(-(k as i32)) / kf * series)
}

/// `d^k/dz^k cot z` as a polynomial in `c = cot z`: `P_0 = c` and
/// `P_(k+1)(c) = -(1 + c^2) P_k'(c)`.
fn cot_derivative(k: u32, c: f64) -> f64 {
    let mut p = vec![0.0, 1.0];
    for _ in 0..k {
        let d: Vec<f64> = (1..p.len()).map(|i| i as f64 * p[i]).collect();
        let mut q = vec![0.0; d.len() + 2];
        for (i, di) in d.iter().enumerate() {
            q[i] -= di;
            q[i + 2] -= di;
        }
        p = q;
    }
    p.iter().rev().fold(0.0, |acc, a| acc * c + a)
}

// The ABI wrappers: one per function, same names with a `dl_` prefix.

macro_rules! unary_abi {
    ($($name:ident => $f:ident),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($f), "` for generated code.")]
        #[no_mangle]
        pub extern "C" fn $name(x: f64) -> f64 {
            $f(x)
        }
    )*};
}

unary_abi! {
    dl_exp => exp,
    dl_log => log,
    dl_log1p => log1p,
    dl_expm1 => expm1,
    dl_sin => sin,
    dl_cos => cos,
    dl_tan => tan,
    dl_tanh => tanh,
    dl_sigmoid => sigmoid,
    dl_erf => erf,
    dl_lgamma => lgamma,
}

/// `pow` for generated code.
#[no_mangle]
pub extern "C" fn dl_pow(x: f64, y: f64) -> f64 {
    pow(x, y)
}

/// `atan2` for generated code.
#[no_mangle]
pub extern "C" fn dl_atan2(y: f64, x: f64) -> f64 {
    atan2(y, x)
}

/// `fmod` for generated code.
#[no_mangle]
pub extern "C" fn dl_fmod(x: f64, y: f64) -> f64 {
    fmod(x, y)
}

/// `polygamma` for generated code (the order is checked by the caller).
#[no_mangle]
pub extern "C" fn dl_polygamma(k: i64, x: f64) -> f64 {
    polygamma(k, x)
}

/// `ipow` for generated code (the exponent is checked by the caller).
#[no_mangle]
pub extern "C" fn dl_ipow(base: i64, exp: i64) -> i64 {
    ipow(base, exp)
}
