//! `exp`, `log` and `tanh` as straight-line arithmetic, so that generated
//! code can compute them inline, two lanes at a time, with the same
//! operations in the same order as these Rust functions: the JIT and the
//! interpreter then agree bit for bit.
//!
//! `exp` reduces its argument with a table of 128 powers of two, as the
//! usual C libraries do, and is within about half an ulp; `log` is fdlibm's
//! (argument reduction, then a minimax polynomial), within one ulp. Both
//! leave out the branches those take for speed: each has one fast range, checked by
//! [`exp_in_range`] and [`log_in_range`], and falls back to the platform's
//! function outside it (infinities, NaN, overflow, subnormals). Generated
//! code must test the same ranges and call `dl_exp` / `dl_log` outside.
//!
//! `tanh` is Cody and Waite's: a rational function `f + f R(f^2)` for
//! `|x|` up to `ln 3 / 2`, `1 - 2 / (e^2|x| + 1)` above, with this file's
//! `exp`; within two ulps. Generated code computes both formulas and picks
//! one per lane, where this code branches.
//!
//! Every constant is public so that the code generator reads it from here.

// fdlibm's constants are written as it publishes them, with more digits
// than an f64 holds; each rounds to the intended f64.
#![allow(clippy::excessive_precision)]

/// `1.5 * 2^52`: adding it rounds an f64 below 2^51 in magnitude to an
/// integer, which then sits in the low bits of the sum.
pub const SHIFTER: f64 = 6755399441055744.0;
/// `ln 2` split in two: `LN2_HI` has trailing zero bits, so `k * LN2_HI` is
/// exact for the `k` that occur here.
pub const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
pub const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;

/// The fast range of `exp`: `|x| <= EXP_LIMIT`, where neither overflow nor
/// subnormal results occur.
pub const EXP_LIMIT: f64 = 708.0;
/// `exp` splits `x = (k / N) ln 2 + r` with `N = 2^EXP_TABLE_BITS`, so that
/// `|r| <= ln 2 / 2N` and `e^x = 2^(k / N) e^r`. Thirty-two entries fit in
/// four vector registers of eight lanes, so the runtime's AVX-512 kernel
/// looks them up with permutations instead of a gather.
pub const EXP_TABLE_BITS: u32 = 5;
/// `N / ln 2`.
pub const EXP_N_INV_LN2: f64 = f64::from_bits(0x4047_1547_652b_82fe);
/// `ln 2 / N` split in two: `EXP_LN2_N_HI` has 36 significant bits, so
/// `k * EXP_LN2_N_HI` is exact for every `k` of the fast range.
pub const EXP_LN2_N_HI: f64 = f64::from_bits(0x3f96_2e42_fefa_0000);
pub const EXP_LN2_N_LO: f64 = f64::from_bits(0x3d2c_f79a_bc9e_3b3a);
/// Taylor coefficients of `e^r` from `r^2` on: on `|r| <= ln 2 / 64` the
/// first term left out is below 2^-58.
pub const EXP_POLY: [f64; 5] = [0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0];

/// `2^(i / N)` for `i < N` as pairs: the bits of a correction `tail` with
/// `2^(i / N) = scale (1 + tail)` to 60 digits, then the bits of `scale`
/// less `i << 47`, so that adding `k << 47` to them gives the bits of
/// `2^(k / N)` up to that correction (the shift puts `k / N` in the
/// exponent and `k mod N` back where it was taken out). Generated code
/// reads this table under the symbol `dl_exp_table`.
#[export_name = "dl_exp_table"]
pub static EXP_TABLE: [u64; 2 << EXP_TABLE_BITS] = [
    0x0000000000000000,
    0x3ff0000000000000,
    0x3c8cd2523567f613,
    0x3fefd9b0d3158574,
    0x3c979aa65d837b6d,
    0x3fefb5586cf9890f,
    0xbc9556522a2fbd0e,
    0x3fef9301d0125b51,
    0xbc801b15eaa59348,
    0x3fef72b83c7d517b,
    0x3c9aecf73e3a2f60,
    0x3fef54873168b9aa,
    0x3c968efde3a8a894,
    0x3fef387a6e756238,
    0x3c82f7e16d09ab31,
    0x3fef1e9df51fdee1,
    0x3c834d754db0abb6,
    0x3fef06fe0a31b715,
    0xbc924aedcc4b5068,
    0x3feef1a7373aa9cb,
    0x3c859f48a72a4c6d,
    0x3feedea64c123422,
    0x3c4363ed60c2ac11,
    0x3feece086061892d,
    0x3c7690cebb7aafb0,
    0x3feebfdad5362a27,
    0xbc78dec6bd0f385f,
    0x3feeb42b569d4f82,
    0x3c9063e1e21c5409,
    0x3feeab07dd485429,
    0xbc8c33c53bef4da8,
    0x3feea47eb03a5585,
    0xbc93b3efbf5e2228,
    0x3feea09e667f3bcd,
    0xbc781f647e5a3ecf,
    0x3fee9f75e8ec5f74,
    0xbc7b32dcb94da51d,
    0x3feea11473eb0187,
    0xbc9369b6f13b3734,
    0x3feea589994cce13,
    0x3c8db72fc1f0eab4,
    0x3feeace5422aa0db,
    0xbc5da9b88b6c1e29,
    0x3feeb737b0cdc5e5,
    0x3c71affc2b91ce27,
    0x3feec49182a3f090,
    0xbc91bbd1d3bcbb15,
    0x3feed503b23e255d,
    0x3c8c1a7792cb3387,
    0x3feee89f995ad3ad,
    0xbc68d6f438ad9334,
    0x3feeff76f2fb5e47,
    0x3c736eae30af0cb3,
    0x3fef199bdd85529c,
    0x3c676b2c6c921968,
    0x3fef3720dcef9069,
    0x3c74a385a63d07a7,
    0x3fef5818dcfba487,
    0xbc82d52107b43e1f,
    0x3fef7c97337b9b5f,
    0xbc8ff7128fd391f0,
    0x3fefa4afa2a490da,
    0x3c8a64a931d185ee,
    0x3fefd0765b6e4540,
];

/// fdlibm's polynomial for `log((1+s)/(1-s))` in powers of `s^2`.
pub const LOG_LG: [f64; 7] = [
    6.666_666_666_666_735_13e-1,
    3.999_999_999_940_941_908e-1,
    2.857_142_874_366_239_149e-1,
    2.222_219_843_214_978_396e-1,
    1.818_357_216_161_805_012e-1,
    1.531_383_769_920_937_332e-1,
    1.479_819_860_511_658_591e-1,
];

/// True where [`exp_kernel`] holds (NaN is outside).
#[inline]
pub fn exp_in_range(x: f64) -> bool {
    x.abs() <= EXP_LIMIT
}

/// `e^x` for `|x| <= EXP_LIMIT`, within 0.8 ulp. Generated code and the
/// runtime's AVX-512 kernel compute the same operations in the same order.
#[inline]
pub fn exp_kernel(x: f64) -> f64 {
    // k = round(x N / ln 2), in the low bits of `shifted`.
    let shifted = x * EXP_N_INV_LN2 + SHIFTER;
    let k_bits = shifted.to_bits();
    let kd = shifted - SHIFTER;
    let r = x - kd * EXP_LN2_N_HI - kd * EXP_LN2_N_LO;
    let i = 2 * (k_bits & ((1 << EXP_TABLE_BITS) - 1)) as usize;
    let tail = f64::from_bits(EXP_TABLE[i]);
    let scale = f64::from_bits(EXP_TABLE[i + 1].wrapping_add(k_bits << (52 - EXP_TABLE_BITS)));
    let [c2, c3, c4, c5, c6] = EXP_POLY;
    let r2 = r * r;
    // e^r - 1 + tail, the small terms added last.
    let p = tail + r + r2 * (c2 + r * c3) + r2 * r2 * ((c4 + r * c5) + r2 * c6);
    scale + scale * p
}

/// True where [`log_kernel`] applies: positive, normal and finite.
#[inline]
pub fn log_in_range(x: f64) -> bool {
    (f64::MIN_POSITIVE..f64::INFINITY).contains(&x)
}

/// The high 20 bits of the significand that split the reduced argument's
/// two formulas (fdlibm's `0x6147a` and `0x6b851`).
pub const LOG_SPLIT_LOW: u64 = 0x6147a;
pub const LOG_SPLIT_HIGH: u64 = 0x6b851;

/// `ln x` for positive, normal, finite `x`.
#[inline]
pub fn log_kernel(x: f64) -> f64 {
    let bits = x.to_bits();
    // The significand's top 20 bits; x = 2^k m, m in [sqrt(2)/2, sqrt(2)).
    let top = (bits >> 32) & 0x000f_ffff;
    let round_up = (top + 0x95f64) & 0x10_0000;
    let exponent = (bits >> 52) as i64 - 1023 + (round_up >> 20) as i64;
    let m_bits = (bits & 0x000f_ffff_ffff_ffff) | ((round_up ^ 0x3ff0_0000) << 32);
    let f = f64::from_bits(m_bits) - 1.0;
    let dk = exponent as f64;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let [lg1, lg2, lg3, lg4, lg5, lg6, lg7] = LOG_LG;
    let t1 = w * (lg2 + w * (lg4 + w * lg6));
    let t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
    let r = t2 + t1;
    // fdlibm's split: the formula with f^2/2 where m is far from 1.
    let far = top.wrapping_sub(LOG_SPLIT_LOW) as i64 | LOG_SPLIT_HIGH.wrapping_sub(top) as i64;
    if far > 0 {
        let hfsq = 0.5 * f * f;
        dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
    } else {
        dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f)
    }
}

/// Beyond this magnitude `tanh` is `±1` to the last bit (from about 19.1).
pub const TANH_LIMIT: f64 = 22.0;
/// `ln 3 / 2`: below it `tanh` is the rational function, above it the
/// formula with `exp`, whose cancellation is then harmless.
pub const TANH_SPLIT: f64 = 0.549_306_144_334_054_845_70;
/// Cody and Waite's `R(g) = g P(g) / Q(g)`: `P`'s coefficients from the
/// constant term up, then `Q`'s below its leading 1.
pub const TANH_P: [f64; 3] = [
    -0.161_341_190_239_962_280_53e4,
    -0.992_259_296_722_360_833_13e2,
    -0.964_374_927_772_254_697_87,
];
pub const TANH_Q: [f64; 3] = [
    0.484_023_570_719_886_886_86e4,
    0.223_377_207_189_623_129_26e4,
    0.112_744_743_805_349_493_35e3,
];

/// True where [`tanh_kernel`] holds (NaN is outside).
#[inline]
pub fn tanh_in_range(x: f64) -> bool {
    x.abs() <= TANH_LIMIT
}

/// `tanh x` for `|x| <= TANH_LIMIT`.
#[inline]
pub fn tanh_kernel(x: f64) -> f64 {
    let f = x.abs();
    let r = if f > TANH_SPLIT {
        let e = exp_kernel(f + f);
        1.0 - 2.0 / (e + 1.0)
    } else {
        let g = f * f;
        let [p0, p1, p2] = TANH_P;
        let [q0, q1, q2] = TANH_Q;
        let numerator = g * ((p2 * g + p1) * g + p0);
        let denominator = ((g + q2) * g + q1) * g + q0;
        f + f * (numerator / denominator)
    };
    r.copysign(x)
}

/// `tanh x`: the kernel in its range, `±1` beyond it, NaN for NaN.
pub fn tanh(x: f64) -> f64 {
    if tanh_in_range(x) {
        tanh_kernel(x)
    } else if x.is_nan() {
        x
    } else {
        1.0f64.copysign(x)
    }
}

/// `e^x`: the kernel in its range, the platform's `exp` outside.
pub fn exp(x: f64) -> f64 {
    if exp_in_range(x) {
        exp_kernel(x)
    } else {
        x.exp()
    }
}

/// `ln x`: the kernel in its range, the platform's `ln` outside.
pub fn log(x: f64) -> f64 {
    if log_in_range(x) {
        log_kernel(x)
    } else {
        x.ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance in ulps between two finite f64 of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// A deterministic spread of test points (a 64-bit LCG).
    fn points(count: usize, lo: f64, hi: f64) -> impl Iterator<Item = f64> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..count).map(move |_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((state >> 11) as f64 / (1u64 << 53) as f64)
        })
    }

    /// The platform's `exp` is correctly rounded almost everywhere; within
    /// one ulp of it, and different on under 1% of the points, is what the
    /// 32-entry table and its degree-6 polynomial give (0.77 ulp at
    /// worst against 120-bit arithmetic, where the platform differs).
    #[test]
    fn exp_is_within_one_ulp_of_the_platform_and_rarely_differs() {
        let (mut worst, mut differ, mut count) = (0, 0, 0);
        for x in points(1_000_000, -708.0, 708.0).chain(points(200_000, -1.0, 1.0)) {
            let off = ulps(exp(x), x.exp());
            worst = worst.max(off);
            differ += (off != 0) as usize;
            count += 1;
        }
        assert!(worst <= 1, "exp is off by {worst} ulps");
        assert!(
            differ * 100 < count,
            "exp differs from the platform on {differ} of {count} points"
        );
    }

    #[test]
    fn tanh_is_within_two_ulps_of_the_platform() {
        let mut worst = 0;
        for x in points(1_000_000, -25.0, 25.0)
            .chain(points(500_000, -1.0, 1.0))
            .chain(points(100_000, -1e-6, 1e-6))
        {
            worst = worst.max(ulps(tanh(x), x.tanh()));
        }
        assert!(worst <= 2, "tanh is off by {worst} ulps");
        assert_eq!(tanh(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(tanh(f64::INFINITY), 1.0);
        assert_eq!(tanh(-30.0), -1.0);
        assert!(tanh(f64::NAN).is_nan());
        assert_eq!(tanh(1e-300), 1e-300);
        assert_eq!(tanh(-5e-324), -5e-324);
    }

    #[test]
    fn log_is_within_one_ulp_of_the_platform() {
        let mut worst = 0;
        for x in points(500_000, 0.5, 2.0)
            .chain(points(500_000, 1e-300, 1e300))
            .chain(points(200_000, 0.0, 1e-200))
        {
            let x = x.max(f64::MIN_POSITIVE);
            worst = worst.max(ulps(log(x), x.ln()));
        }
        assert!(worst <= 1, "log is off by {worst} ulps");
    }

    #[test]
    fn exact_values_and_the_edges_of_the_ranges() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(log(1.0), 0.0);
        assert_eq!(log(2.0), std::f64::consts::LN_2);
        assert_eq!(exp(1.0), std::f64::consts::E);
        assert_eq!(exp(710.0), f64::INFINITY);
        assert_eq!(exp(-800.0), 0.0);
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(log(0.0), f64::NEG_INFINITY);
        assert!(log(-1.0).is_nan());
        assert_eq!(log(f64::INFINITY), f64::INFINITY);
        assert_eq!(log(f64::MIN_POSITIVE / 4.0), (f64::MIN_POSITIVE / 4.0).ln());
        for x in [EXP_LIMIT, -EXP_LIMIT, f64::MIN_POSITIVE, f64::MAX] {
            assert!(ulps(exp(x.min(EXP_LIMIT)), x.min(EXP_LIMIT).exp()) <= 1);
            assert!(ulps(log(x), x.ln()) <= 1);
        }
    }
}
