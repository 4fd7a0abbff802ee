//! Whole-buffer transcendental maps: `dst[i] = f(src[i])` for `i < n`.
//!
//! Generated code would otherwise make one call per element; one call per
//! buffer keeps the loop in Rust. Each kernel applies the scalar function
//! of [`crate::math`], so its results are exactly those of the scalar
//! function (and of the interpreter). `src == dst` is allowed: the loop
//! reads element `i` before it writes element `i` and touches nothing else,
//! and it works through raw pointers so no two references alias.

use crate::math;

/// `dst[i] = f(src[i])` for `i < n`; nothing for `n <= 0`.
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
    dl_vexp => math::exp,
    dl_vlog => math::log,
    dl_vtanh => math::tanh,
    dl_vsigmoid => math::sigmoid,
    dl_vsin => math::sin,
    dl_vcos => math::cos,
}
