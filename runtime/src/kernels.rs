//! Whole-buffer transcendental maps: `dst[i] = f(src[i])` for `i < n`.
//!
//! Generated code calls these where one call per element, or its own
//! two-lane code, would be slower: they run in the widest vectors the
//! processor has (AVX-512 or AVX2 on x86-64, chosen once at run time).
//! Each kernel's results are exactly those of the scalar function of
//! [`crate::math`] (and of the interpreter): `exp`, `log`, `tanh` and
//! `sigmoid` work on chunks of [`CHUNK`] elements with the straight-line
//! kernels of [`crate::elementary`], which the Rust compiler vectorises, and
//! compute a chunk again with the scalar function when one of its elements
//! is outside the kernel's range. `src == dst` is allowed: a chunk is
//! copied out of `src` before anything is written to `dst`.

use crate::elementary::{
    exp_in_range, exp_kernel, log_in_range, log_kernel, tanh_in_range, EXP_LIMIT, TANH_P, TANH_Q, TANH_SPLIT,
};
use crate::math;

/// Elements per chunk: a multiple of every vector width, small enough for
/// the chunk to stay in registers and the first-level cache.
const CHUNK: usize = 64;

/// `dst[i] = f(src[i])` for `i < n`, one element at a time; nothing for
/// `n <= 0`.
///
/// # Safety
/// For `n > 0`, `src` is readable and `dst` writable for `n` f64s, and the
/// two are equal or do not overlap.
#[inline(always)]
unsafe fn map(n: i64, src: *const f64, dst: *mut f64, f: impl Fn(f64) -> f64) {
    let n = usize::try_from(n).unwrap_or(0);
    for i in 0..n {
        // SAFETY: `i < n`, inside both buffers (caller's contract); the read
        // of element i happens before the write of element i, so equal
        // buffers are fine.
        unsafe { dst.add(i).write(f(src.add(i).read())) };
    }
}

/// `dst[i] = scalar(src[i])` for `i < n` by chunks: `kernel` on every
/// element of a chunk, or `scalar` on all of them where `in_range` fails
/// for one. `kernel` must equal `scalar` wherever `in_range` holds, and
/// must not fail anywhere (its value outside the range is discarded).
///
/// # Safety
/// As [`map`].
#[inline(always)]
unsafe fn map_chunked(
    n: i64,
    src: *const f64,
    dst: *mut f64,
    kernel: impl Fn(f64) -> f64,
    in_range: impl Fn(f64) -> bool,
    scalar: impl Fn(f64) -> f64,
) {
    let n = usize::try_from(n).unwrap_or(0);
    let mut at = 0;
    while at < n {
        let len = CHUNK.min(n - at);
        // A whole chunk, the tail padded with ones (in every range), so
        // the loops below have a fixed length and vectorise without a
        // remainder.
        let mut x = [1.0; CHUNK];
        // SAFETY: `at + len <= n`, inside `src` (caller's contract); `x` is
        // a local array of at least `len` elements.
        unsafe { std::ptr::copy_nonoverlapping(src.add(at), x.as_mut_ptr(), len) };
        let mut y = [0.0; CHUNK];
        let mut inside = true;
        for j in 0..CHUNK {
            y[j] = kernel(x[j]);
            inside &= in_range(x[j]);
        }
        if !inside {
            for j in 0..CHUNK {
                y[j] = scalar(x[j]);
            }
        }
        // SAFETY: `at + len <= n`, inside `dst` (caller's contract); the
        // chunk was read into `x` before this write, so `src == dst` is fine.
        unsafe { std::ptr::copy_nonoverlapping(y.as_ptr(), dst.add(at), len) };
        at += len;
    }
}

/// `math::sigmoid` for `|x| <= EXP_LIMIT`, both of its branches computed
/// and one picked, so that it vectorises.
#[inline(always)]
fn sigmoid_kernel(x: f64) -> f64 {
    let e = exp_kernel(-x.abs());
    let denominator = 1.0 + e;
    let at_or_above = 1.0 / denominator;
    let below = e / denominator;
    if x >= 0.0 {
        at_or_above
    } else {
        below
    }
}

/// `elementary::tanh_kernel` with both of its formulas computed and one
/// picked, so that it vectorises.
#[inline(always)]
fn tanh_lanes(x: f64) -> f64 {
    let f = x.abs();
    let e = exp_kernel(f + f);
    let large = 1.0 - 2.0 / (e + 1.0);
    let g = f * f;
    let [p0, p1, p2] = TANH_P;
    let [q0, q1, q2] = TANH_Q;
    let numerator = g * ((p2 * g + p1) * g + p0);
    let denominator = ((g + q2) * g + q1) * g + q0;
    let small = f + f * (numerator / denominator);
    let r = if f > TANH_SPLIT { large } else { small };
    r.copysign(x)
}

macro_rules! chunked_kernels {
    ($($name:ident => $kernel:path, $in_range:path, $scalar:path $(, lanes $lanes:expr, $limit:expr)?;)*) => {$(
        #[doc = concat!("`dst[i] = ", stringify!($scalar), "(src[i])` for `i < n`, in the widest vectors at hand; `src == dst` is allowed.")]
        ///
        /// # Safety
        /// For `n > 0`, `src` is readable and `dst` writable for `n` f64s,
        /// and the two are equal or do not overlap.
        #[no_mangle]
        pub unsafe extern "C" fn $name(n: i64, src: *const f64, dst: *mut f64) {
            #[cfg(target_arch = "x86_64")]
            {
                /// The same loop compiled for AVX-512.
                ///
                /// # Safety
                /// As the kernel's; and the processor has AVX-512F, DQ and VL, and AVX2.
                #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2")]
                #[allow(unreachable_code)]
                unsafe fn wide(n: i64, src: *const f64, dst: *mut f64) {
                    // Eight lanes written out where a gather would cost more.
                    $(
                        // SAFETY: forwarded from this function's contract.
                        return unsafe { avx512::map_lanes::<{ $lanes }>(n, src, dst, $limit, $scalar) };
                    )?
                    // SAFETY: forwarded from this function's contract.
                    unsafe { map_chunked(n, src, dst, $kernel, $in_range, $scalar) }
                }
                /// The same loop compiled for AVX2.
                ///
                /// # Safety
                /// As the kernel's; and the processor has AVX2.
                #[target_feature(enable = "avx2")]
                unsafe fn medium(n: i64, src: *const f64, dst: *mut f64) {
                    // SAFETY: forwarded from this function's contract.
                    unsafe { map_chunked(n, src, dst, $kernel, $in_range, $scalar) }
                }
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx2")
                {
                    // SAFETY: the features were just detected; the rest is
                    // this function's contract.
                    return unsafe { wide(n, src, dst) };
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: as above.
                    return unsafe { medium(n, src, dst) };
                }
            }
            // SAFETY: forwarded from this function's contract.
            unsafe { map_chunked(n, src, dst, $kernel, $in_range, $scalar) }
        }
    )*};
}

chunked_kernels! {
    dl_vexp => exp_kernel, exp_in_range, math::exp, lanes avx512::EXP, EXP_LIMIT;
    dl_vlog => log_kernel, log_in_range, math::log;
    dl_vtanh => tanh_lanes, tanh_in_range, math::tanh;
    dl_vsigmoid => sigmoid_kernel, exp_in_range, math::sigmoid, lanes avx512::SIGMOID, EXP_LIMIT;
}

/// `exp_kernel` and `sigmoid_kernel` on eight lanes of AVX-512, operation
/// for operation (no fused multiply-add), so their bits are the scalar
/// kernels'. The 32 entries of the `exp` table sit in four registers per
/// column and are looked up with two permutations and a blend: the
/// compiler's own vectorisation of the table read is a gather, which
/// costs more than the rest of the kernel.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use crate::elementary::{EXP_LN2_N_HI, EXP_LN2_N_LO, EXP_N_INV_LN2, EXP_POLY, EXP_TABLE, EXP_TABLE_BITS, SHIFTER};
    use std::arch::x86_64::*;

    /// The lane functions [`map_lanes`] applies.
    pub const EXP: bool = false;
    pub const SIGMOID: bool = true;

    /// `dst[i] = scalar(src[i])` for `i < n`: eight at a time with [`exp`]
    /// (or [`sigmoid`] when `SIGMOID`), called directly so that it is
    /// inlined, where all eight are at most `limit` in magnitude, else
    /// with `scalar`.
    ///
    /// # Safety
    /// As the kernels'; and the processor has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn map_lanes<const SIGMOID: bool>(
        n: i64,
        src: *const f64,
        dst: *mut f64,
        limit: f64,
        scalar: impl Fn(f64) -> f64,
    ) {
        let n = usize::try_from(n).unwrap_or(0);
        let limit = _mm512_set1_pd(limit);
        let mut at = 0;
        while at + 8 <= n {
            // SAFETY: `at + 8 <= n`: eight elements inside both buffers;
            // all eight are read before any is written.
            unsafe {
                let x = _mm512_loadu_pd(src.add(at));
                // |x| <= limit in every lane (false for NaN).
                if _mm512_cmp_pd_mask::<_CMP_LE_OQ>(_mm512_abs_pd(x), limit) == 0xff {
                    let y = if SIGMOID { sigmoid(x) } else { exp(x) };
                    _mm512_storeu_pd(dst.add(at), y);
                } else {
                    for j in at..at + 8 {
                        dst.add(j).write(scalar(src.add(j).read()));
                    }
                }
            }
            at += 8;
        }
        for j in at..n {
            // SAFETY: `j < n`, inside both buffers.
            unsafe { dst.add(j).write(scalar(src.add(j).read())) };
        }
    }

    /// `crate::elementary::exp_kernel` on eight lanes.
    ///
    /// # Safety
    /// The processor has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn exp(x: __m512d) -> __m512d {
        const { assert!(EXP_TABLE_BITS == 5, "four registers hold 32 entries") };
        // Entries 8j to 8j + 7 of one column (0: tails, 1: scales).
        let part = |column: usize, j: usize| {
            let at = |k: usize| EXP_TABLE[2 * (8 * j + k) + column] as i64;
            _mm512_set_epi64(at(7), at(6), at(5), at(4), at(3), at(2), at(1), at(0))
        };
        let shifter = _mm512_set1_pd(SHIFTER);
        let shifted = _mm512_add_pd(_mm512_mul_pd(x, _mm512_set1_pd(EXP_N_INV_LN2)), shifter);
        let k_bits = _mm512_castpd_si512(shifted);
        let kd = _mm512_sub_pd(shifted, shifter);
        let r = _mm512_sub_pd(x, _mm512_mul_pd(kd, _mm512_set1_pd(EXP_LN2_N_HI)));
        let r = _mm512_sub_pd(r, _mm512_mul_pd(kd, _mm512_set1_pd(EXP_LN2_N_LO)));
        // The low four bits of k pick an entry in each half of the table,
        // the fifth bit the half.
        let upper = _mm512_test_epi64_mask(k_bits, _mm512_set1_epi64(16));
        let entry = |column: usize| {
            let low = _mm512_permutex2var_epi64(part(column, 0), k_bits, part(column, 1));
            let high = _mm512_permutex2var_epi64(part(column, 2), k_bits, part(column, 3));
            _mm512_mask_blend_epi64(upper, low, high)
        };
        let tail = _mm512_castsi512_pd(entry(0));
        let scale = _mm512_castsi512_pd(_mm512_add_epi64(
            entry(1),
            _mm512_slli_epi64::<{ 52 - EXP_TABLE_BITS }>(k_bits),
        ));
        let [c2, c3, c4, c5, c6] = EXP_POLY.map(|v| _mm512_set1_pd(v));
        let r2 = _mm512_mul_pd(r, r);
        let low = _mm512_add_pd(c2, _mm512_mul_pd(r, c3));
        let high = _mm512_add_pd(_mm512_add_pd(c4, _mm512_mul_pd(r, c5)), _mm512_mul_pd(r2, c6));
        let p = _mm512_add_pd(_mm512_add_pd(tail, r), _mm512_mul_pd(r2, low));
        let p = _mm512_add_pd(p, _mm512_mul_pd(_mm512_mul_pd(r2, r2), high));
        _mm512_add_pd(scale, _mm512_mul_pd(scale, p))
    }

    /// `sigmoid_kernel` on eight lanes.
    ///
    /// # Safety
    /// The processor has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn sigmoid(x: __m512d) -> __m512d {
        // -|x|: the sign bit set.
        let negative = _mm512_or_si512(_mm512_castpd_si512(x), _mm512_set1_epi64(i64::MIN));
        // SAFETY: AVX-512F, as this function requires.
        let e = unsafe { exp(_mm512_castsi512_pd(negative)) };
        let denominator = _mm512_add_pd(_mm512_set1_pd(1.0), e);
        let at_or_above = _mm512_div_pd(_mm512_set1_pd(1.0), denominator);
        let below = _mm512_div_pd(e, denominator);
        let nonnegative = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(x, _mm512_setzero_pd());
        _mm512_mask_blend_pd(nonnegative, below, at_or_above)
    }
}

macro_rules! buffer_kernels {
    ($($name:ident => $f:path),* $(,)?) => {$(
        #[doc = concat!("`dst[i] = ", stringify!($f), "(src[i])` for `i < n`; `src == dst` is allowed.")]
        ///
        /// # Safety
        /// For `n > 0`, `src` is readable and `dst` writable for `n` f64s,
        /// and the two are equal or do not overlap.
        #[no_mangle]
        pub unsafe extern "C" fn $name(n: i64, src: *const f64, dst: *mut f64) {
            // SAFETY: forwarded from this function's contract.
            unsafe { map(n, src, dst, $f) }
        }
    )*};
}

buffer_kernels! {
    dl_vsin => math::sin,
    dl_vcos => math::cos,
}
