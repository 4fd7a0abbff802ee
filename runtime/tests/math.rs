//! Scalar maths against values known by hand, and the whole-buffer kernels
//! against the scalar functions.

use dl_runtime::kernels::*;
use dl_runtime::math::*;
use std::f64::consts::{E, PI};

/// `a` and `b` are within `ulps` units in the last place.
fn close(a: f64, b: f64, ulps: u64) -> bool {
    a == b || (a.signum() == b.signum() && a.to_bits().abs_diff(b.to_bits()) <= ulps)
}

#[track_caller]
fn near(got: f64, want: f64, ulps: u64) {
    assert!(close(got, want, ulps), "got {got:e}, want {want:e}");
}

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

#[test]
fn known_values() {
    near(exp(1.0), E, 1);
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(log(1.0), 0.0);
    near(log(E), 1.0, 1);
    near(lgamma(0.5), PI.sqrt().ln(), 2);
    assert_eq!(lgamma(1.0), 0.0);
    assert_eq!(lgamma(2.0), 0.0);
    assert_eq!(erf(0.0), 0.0);
    near(erf(1.0), 0.842_700_792_949_714_9, 2);
    assert_eq!(erf(f64::INFINITY), 1.0);
    // The digamma recurrence cancels about three bits near its root at 1.46.
    near(polygamma(0, 1.0), -EULER_GAMMA, 8);
    near(polygamma(1, 1.0), PI * PI / 6.0, 4);
    // psi(1/2) = -gamma - 2 ln 2; psi_2(1) = -2 zeta(3).
    near(polygamma(0, 0.5), -EULER_GAMMA - 2.0 * 2f64.ln(), 4);
    near(polygamma(2, 1.0), -2.0 * 1.202_056_903_159_594_2, 8);
    near(log1p(1e-20), 1e-20, 0);
    near(expm1(1e-20), 1e-20, 0);
    assert_eq!(tanh(1000.0), 1.0);
    near(atan2(1.0, 1.0), PI / 4.0, 1);
}

#[test]
fn sigmoid_is_finite_at_large_magnitudes() {
    assert_eq!(sigmoid(0.0), 0.5);
    for x in [40.0, 710.0, 1e10, 1e300, f64::MAX] {
        let (hi, lo) = (sigmoid(x), sigmoid(-x));
        assert!(hi.is_finite() && lo.is_finite(), "{x}");
        assert_eq!(hi, 1.0);
        assert!((0.0..1e-17).contains(&lo), "sigmoid(-{x}) = {lo}");
    }
    assert_eq!(sigmoid(f64::INFINITY), 1.0);
    assert_eq!(sigmoid(f64::NEG_INFINITY), 0.0);
    // exp(-745) is the smallest subnormal: still positive.
    assert!(sigmoid(-745.0) > 0.0);
    near(sigmoid(1.0), 1.0 / (1.0 + (-1.0f64).exp()), 0);
    assert!(sigmoid(f64::NAN).is_nan());
}

#[test]
fn polygamma_at_its_poles_and_out_of_range() {
    for x in [0.0, -1.0, -7.0] {
        assert!(polygamma(0, x).is_nan());
        assert_eq!(polygamma(1, x), f64::INFINITY);
        assert!(polygamma(2, x).is_nan());
    }
    assert!(polygamma(-1, 1.0).is_nan());
    assert!(polygamma(MAX_POLYGAMMA_ORDER + 1, 1.0).is_nan());
    assert!(polygamma(MAX_POLYGAMMA_ORDER, 1.0).is_finite());
    assert_eq!(polygamma(0, f64::INFINITY), f64::INFINITY);
    assert_eq!(polygamma(3, f64::INFINITY), 0.0);
    assert!(polygamma(0, f64::NAN).is_nan());
    // Reflection: psi(1 - x) - psi(x) = pi cot(pi x).
    let x = 0.3;
    near(polygamma(0, 1.0 - x) - polygamma(0, x), PI / (PI * x).tan(), 16);
}

#[test]
fn pow_fmod_and_integer_power() {
    assert_eq!(pow(f64::NAN, 0.0), 1.0);
    assert_eq!(pow(2.0, 10.0), 1024.0);
    assert!(pow(-8.0, 1.0 / 3.0).is_nan());
    assert_eq!(fmod(7.5, 2.0), 1.5);
    assert_eq!(fmod(-7.5, 2.0), -1.5);
    assert_eq!(fmod(7.5, -2.0), 1.5);
    assert!(fmod(1.0, 0.0).is_nan());
    assert_eq!(ipow(3, 4), 81);
    assert_eq!(ipow(-2, 63), i64::MIN);
    assert_eq!(ipow(2, 64), 0);
    assert_eq!(ipow(0, 0), 1);
    assert_eq!(ipow(-1, 1_000_000_001), -1);
    assert_eq!(ipow(7, 30), 7i64.wrapping_pow(30));
    assert_eq!(ipow(5, -1), 0);
    assert_eq!(dl_ipow(10, 18), 1_000_000_000_000_000_000);
}

/// Integer exponents take repeated squaring: within a few ulp of the
/// platform's `powf` over a spread of bases, and exact where the power is.
#[test]
fn pow_with_an_integer_exponent_is_close_to_powf() {
    let mut worst = 0u64;
    for k in 0..2000 {
        let x = (k as f64 - 1000.0) * 0.0137 + 0.003;
        for j in -256i64..=256 {
            let (got, want) = (pow(x, j as f64), x.powf(j as f64));
            if want.is_finite() && want != 0.0 && want.abs() > f64::MIN_POSITIVE {
                assert!(got.signum() == want.signum(), "{x} ** {j}: {got:e} against {want:e}");
                let off = got.to_bits().abs_diff(want.to_bits());
                assert!(off <= 2 + j.unsigned_abs(), "{x} ** {j} is off by {off} ulps");
                worst = worst.max(off);
            }
        }
    }
    assert!(worst >= 1, "no exponent tested the squaring path");
    assert_eq!(pow(3.0, 40.0), 3f64.powi(40));
    assert_eq!(pow(0.5, -10.0), 1024.0);
    assert_eq!(pow(-2.0, 63.0), -(2f64.powi(63)));
}

/// The special cases of `powf` hold on the squaring path too.
#[test]
fn pow_special_cases() {
    assert_eq!(pow(f64::NAN, 0.0), 1.0);
    assert_eq!(pow(f64::INFINITY, 0.0), 1.0);
    assert!(pow(f64::NAN, 2.0).is_nan());
    assert_eq!(pow(-0.0, 3.0).to_bits(), (-0.0f64).to_bits());
    assert_eq!(pow(-0.0, 2.0).to_bits(), 0.0f64.to_bits());
    assert_eq!(pow(-0.0, -1.0), f64::NEG_INFINITY);
    assert_eq!(pow(0.0, -2.0), f64::INFINITY);
    assert_eq!(pow(f64::INFINITY, -1.0), 0.0);
    assert_eq!(pow(f64::NEG_INFINITY, 3.0), f64::NEG_INFINITY);
    assert_eq!(pow(1e200, 2.0), f64::INFINITY);
    assert_eq!(pow(1e100, 1.0), 1e100);
    assert_eq!(pow(1.0, 64.0), 1.0);
    assert_eq!(pow(2.0, 257.0), 2f64.powf(257.0));
    assert_eq!(pow(2.0, 200.0), 2f64.powi(200));
    assert_eq!(pow(2.0, 0.5), 2f64.sqrt());
}

#[test]
fn the_abi_wrappers_are_the_functions() {
    for x in [-3.5, -0.0, 0.25, 2.0, 1e6] {
        assert_eq!(dl_exp(x).to_bits(), exp(x).to_bits());
        assert_eq!(dl_lgamma(x).to_bits(), lgamma(x).to_bits());
        assert_eq!(dl_sigmoid(x).to_bits(), sigmoid(x).to_bits());
        assert_eq!(dl_polygamma(2, x).to_bits(), polygamma(2, x).to_bits());
        assert_eq!(dl_pow(x, 1.5).to_bits(), pow(x, 1.5).to_bits());
    }
}

type Kernel = unsafe extern "C" fn(i64, *const f64, *mut f64);

type Scalar = fn(f64) -> f64;

const KERNELS: [(&str, Kernel, Scalar); 6] = [
    ("exp", dl_vexp, exp),
    ("log", dl_vlog, log),
    ("tanh", dl_vtanh, tanh),
    ("sigmoid", dl_vsigmoid, sigmoid),
    ("sin", dl_vsin, sin),
    ("cos", dl_vcos, cos),
];

/// Values in and out of the kernels' ranges; the wide kernels work on
/// chunks of 64, and the values out of every range (NaN, infinities,
/// overflow, zero and subnormals for `log`) sit in a few chunks only.
fn sample(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| match i {
            70 => f64::NAN,
            140 => f64::INFINITY,
            141 => f64::NEG_INFINITY,
            200 => 750.0,
            210 => -750.0,
            300 => 0.0,
            301 => 5e-324,
            _ if i >= 256 => (i as f64 * 0.37).sin() * 3.0 + 3.5,
            _ => (i as f64 * 0.37).sin() * 30.0 + if i % 5 == 0 { 31.0 } else { 0.0 },
        })
        .collect()
}

/// The AVX-512 `exp` and `sigmoid` (a table lookup by permutation) give
/// the scalar kernels' bits across their whole range, lane by lane.
#[test]
fn exp_and_sigmoid_kernels_equal_the_scalar_functions_across_their_range() {
    let n = 200_003;
    let src: Vec<f64> = (0..n)
        .map(|i| {
            let t = (i as f64 * 0.618_033_988_749_894_9).fract();
            if i % 2 == 0 {
                -708.0 + 1416.0 * t
            } else {
                -40.0 + 80.0 * t
            }
        })
        .collect();
    for (name, kernel, scalar) in [
        ("exp", dl_vexp as Kernel, exp as Scalar),
        ("sigmoid", dl_vsigmoid, sigmoid),
    ] {
        let mut dst = vec![0.0; n];
        // SAFETY: `src` and `dst` hold n elements each; distinct.
        unsafe { kernel(n as i64, src.as_ptr(), dst.as_mut_ptr()) };
        for (x, y) in src.iter().zip(&dst) {
            assert_eq!(y.to_bits(), scalar(*x).to_bits(), "{name}({x})");
        }
    }
}

#[test]
fn kernels_equal_the_scalar_functions() {
    for n in [0usize, 1, 3, 8, 63, 64, 65, 128, 1001] {
        let src = sample(n);
        for (name, kernel, scalar) in KERNELS {
            let mut dst = vec![f64::NAN; n + 1];
            // SAFETY: `src` holds n elements and `dst` n + 1; distinct.
            unsafe { kernel(n as i64, src.as_ptr(), dst.as_mut_ptr()) };
            for i in 0..n {
                assert_eq!(dst[i].to_bits(), scalar(src[i]).to_bits(), "{name}({})", src[i]);
            }
            assert!(dst[n].is_nan(), "{name} wrote past the end");
            // In place.
            let mut buf = src.clone();
            // SAFETY: one buffer of n elements as both source and destination.
            unsafe { kernel(n as i64, buf.as_ptr(), buf.as_mut_ptr()) };
            for i in 0..n {
                assert_eq!(buf[i].to_bits(), scalar(src[i]).to_bits(), "{name} in place");
            }
        }
    }
    // Negative or zero lengths touch nothing, even through null pointers.
    // SAFETY: no element is read or written for n <= 0.
    unsafe {
        dl_vexp(-5, std::ptr::null(), std::ptr::null_mut());
        dl_vexp(0, std::ptr::null(), std::ptr::null_mut());
    }
}
