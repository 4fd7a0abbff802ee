//! Linear algebra on row-major f64 buffers: `dl_gemm`, `dl_gemv`, `dl_dot`,
//! `dl_outer`, `dl_transpose`.
//!
//! Matrix products go to the `gemm` crate, which packs and runs AVX-512 (or
//! AVX2) microkernels chosen at run time and splits large products over the
//! runtime's pool. Transposed operands and leading dimensions become gemm's
//! row and column strides, so nothing is copied. Products below about
//! 128^3 multiply-adds stay on the calling thread, where a second thread
//! does not pay.
//!
//! The memory-bound operations (`dot`, `gemv`, `outer`, `transpose`) are
//! plain loops. `dot` keeps eight independent accumulators in a fixed order,
//! so its result does not depend on the instruction set or on threads: a
//! long dot product is cut into fixed blocks whose partial sums are added in
//! block order, whatever the number of threads.
//!
//! Negative sizes make every function do nothing. Sizes of zero work: a
//! product with an inner size of zero writes zeros.

use gemm::Parallelism;
use rayon::prelude::*;

use crate::no_unwind;
use crate::parallel;

/// Products with fewer multiply-adds than this run on one thread.
pub const GEMM_THREAD_THRESHOLD: usize = 128 * 128 * 128;

/// Products with fewer multiply-adds than this stay with gemm, which sums
/// tiny ones without fused multiply-adds, as the interpreter does.
pub const SMALL_PRODUCT_MIN: usize = 1 << 13;

/// Matrix-vector products with more elements than this go to gemm (and its
/// threads); below, a loop over rows.
pub const GEMV_GEMM_THRESHOLD: usize = 1 << 18;

/// Dot products longer than this are cut into blocks of this length, summed
/// block by block on the pool.
pub const DOT_BLOCK: usize = 1 << 16;

fn dim(x: i64) -> Option<usize> {
    usize::try_from(x).ok()
}

/// `C[m,n] = op(A)[m,k] op(B)[k,n]` on raw strides (in elements): element
/// `(i, p)` of `op(A)` is at `a + i*a_rs + p*a_cs`, and so on. `C` is
/// overwritten.
///
/// # Safety
/// Every element the strides address for these sizes is inside its buffer;
/// `c` does not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_strided(
    m: usize,
    n: usize,
    k: usize,
    a: *const f64,
    a_rs: isize,
    a_cs: isize,
    b: *const f64,
    b_rs: isize,
    b_cs: isize,
    c: *mut f64,
    c_rs: isize,
    c_cs: isize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let work = m.saturating_mul(n).saturating_mul(k);
    // SAFETY: forwarded from this function's contract.
    if (SMALL_PRODUCT_MIN..GEMM_THREAD_THRESHOLD).contains(&work)
        && c_cs == 1
        && unsafe { small::product(m, n, k, (a, a_rs, a_cs), (b, b_rs, b_cs), c, c_rs) }
    {
        return;
    }
    let (a, b, c) = (SendPtr(a), SendPtr(b), SendPtr(c));
    let run = move |parallelism| {
        // SAFETY: the caller guarantees the strided buffers; `read_dst` is
        // false, so `C` is written, never read, and gemm writes zeros when
        // `k == 0`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.get(),
                c_cs,
                c_rs,
                false,
                a.get(),
                a_cs,
                a_rs,
                b.get(),
                b_cs,
                b_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            )
        }
    };
    if work < GEMM_THREAD_THRESHOLD {
        return run(Parallelism::None);
    }
    match parallel::num_threads() {
        1 => run(Parallelism::None),
        threads => parallel::install(|| run(Parallelism::Rayon(threads))),
    }
}

/// Products with at most 16 columns and an inner size up to 32, or at
/// most 12 rows and 16 columns: GMM's with a small dimension `d`
/// (`(n x d)(d x d)` and `(d x n)(n x d)`). gemm packs its operands and
/// runs microkernels tuned for large products; these keep the 16 columns
/// of a row of `C` in two AVX-512 registers and take about half its time.
#[cfg(target_arch = "x86_64")]
mod small {
    use std::arch::x86_64::*;

    /// A matrix operand: its first element and its row and column strides.
    pub type Strided = (*const f64, isize, isize);

    /// Most columns of `C`: two registers of eight.
    const COLUMNS: usize = 16;
    /// Largest inner size for [`rows`]: `op(B)` is packed on the stack.
    const INNER: usize = 32;
    /// Most rows for [`outer_products`]: all of `C` in 24 registers.
    const ROWS: usize = 12;

    /// Computes the product of [`super::gemm_strided`] with `c_cs == 1`
    /// when its shape suits a kernel here and the processor has AVX-512;
    /// false, having done nothing, otherwise.
    ///
    /// # Safety
    /// As for [`super::gemm_strided`].
    pub unsafe fn product(
        m: usize,
        n: usize,
        k: usize,
        (a, a_rs, a_cs): Strided,
        (b, b_rs, b_cs): Strided,
        c: *mut f64,
        c_rs: isize,
    ) -> bool {
        if n > COLUMNS || !std::is_x86_feature_detected!("avx512f") {
            return false;
        }
        if k <= INNER {
            // SAFETY: AVX-512 is there; the buffers are the caller's.
            unsafe { rows(m, n, k, (a, a_rs, a_cs), (b, b_rs, b_cs), c, c_rs) };
            true
        } else if m <= ROWS {
            // SAFETY: as above.
            unsafe { outer_products(m, n, k, (a, a_rs, a_cs), (b, b_rs, b_cs), c, c_rs) };
            true
        } else {
            false
        }
    }

    /// The masks of the lanes of the two registers that hold `n` columns.
    fn masks(n: usize) -> (u8, u8) {
        let lanes = |n: usize| if n >= 8 { 0xff } else { ((1u16 << n) - 1) as u8 };
        (lanes(n), lanes(n.saturating_sub(8)))
    }

    /// Stores the first two registers of `acc` into the columns of a row
    /// of `C` that the masks select.
    ///
    /// # Safety
    /// `out` points at a row of `C`, whose `n` columns the masks select.
    #[target_feature(enable = "avx512f")]
    unsafe fn store_row(out: *mut f64, (lo, hi): (u8, u8), acc: &[__m512d]) {
        // SAFETY: masked-out lanes are neither written nor faulted on.
        unsafe {
            _mm512_mask_storeu_pd(out, lo, acc[0]);
            _mm512_mask_storeu_pd(out.wrapping_add(8), hi, acc[1]);
        }
    }

    /// Four rows of `C` at a time, each the sum over `p` of `op(A)(i, p)`
    /// times row `p` of `op(B)`, packed once into 16 columns (zeros past
    /// `n`), in the order of `p`: the sums gemm makes on these shapes, bit
    /// for bit.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows(
        m: usize,
        n: usize,
        k: usize,
        (a, a_rs, a_cs): Strided,
        (b, b_rs, b_cs): Strided,
        c: *mut f64,
        c_rs: isize,
    ) {
        let mut packed = [0.0f64; COLUMNS * INNER];
        for p in 0..k {
            for j in 0..n {
                // SAFETY: element (p, j) of op(B) is in its buffer.
                packed[p * COLUMNS + j] = unsafe { *b.offset(p as isize * b_rs + j as isize * b_cs) };
            }
        }
        let (lo, hi) = masks(n);
        let row = |i: usize| a.wrapping_offset(i as isize * a_rs);
        let mut i = 0;
        while i < m {
            let block = (m - i).min(4);
            let mut acc = [_mm512_setzero_pd(); 8];
            for p in 0..k {
                // SAFETY: `packed` holds 16 values per row of op(B).
                let (bl, bh) = unsafe {
                    (
                        _mm512_loadu_pd(packed.as_ptr().add(p * COLUMNS)),
                        _mm512_loadu_pd(packed.as_ptr().add(p * COLUMNS + 8)),
                    )
                };
                for r in 0..block {
                    // SAFETY: element (i + r, p) of op(A) is in its buffer.
                    let x = _mm512_set1_pd(unsafe { *row(i + r).offset(p as isize * a_cs) });
                    acc[2 * r] = _mm512_fmadd_pd(x, bl, acc[2 * r]);
                    acc[2 * r + 1] = _mm512_fmadd_pd(x, bh, acc[2 * r + 1]);
                }
            }
            for r in 0..block {
                // SAFETY: row i + r of C is in its buffer.
                unsafe { store_row(c.wrapping_offset((i + r) as isize * c_rs), (lo, hi), &acc[2 * r..]) };
            }
            i += block;
        }
    }

    /// All of `C` (at most 12 rows) in registers, adding the outer product
    /// of column `p` of `op(A)` and row `p` of `op(B)` for each `p` in turn:
    /// one pass over a long inner size.
    #[target_feature(enable = "avx512f")]
    unsafe fn outer_products(
        m: usize,
        n: usize,
        k: usize,
        (a, a_rs, a_cs): Strided,
        (b, b_rs, b_cs): Strided,
        c: *mut f64,
        c_rs: isize,
    ) {
        let (lo, hi) = masks(n);
        let mut acc = [_mm512_setzero_pd(); 2 * ROWS];
        let mut row = [0.0f64; COLUMNS];
        for p in 0..k {
            let b_row = b.wrapping_offset(p as isize * b_rs);
            let (bl, bh) = if b_cs == 1 {
                // SAFETY: the masks keep the loads to the n elements of
                // row p of op(B).
                unsafe {
                    (
                        _mm512_maskz_loadu_pd(lo, b_row),
                        _mm512_maskz_loadu_pd(hi, b_row.wrapping_add(8)),
                    )
                }
            } else {
                for (j, x) in row.iter_mut().enumerate().take(n) {
                    // SAFETY: element (p, j) of op(B) is in its buffer.
                    *x = unsafe { *b_row.offset(j as isize * b_cs) };
                }
                // SAFETY: `row` holds 16 values.
                unsafe { (_mm512_loadu_pd(row.as_ptr()), _mm512_loadu_pd(row.as_ptr().add(8))) }
            };
            let column = a.wrapping_offset(p as isize * a_cs);
            for i in 0..m {
                // SAFETY: element (i, p) of op(A) is in its buffer.
                let x = _mm512_set1_pd(unsafe { *column.offset(i as isize * a_rs) });
                acc[2 * i] = _mm512_fmadd_pd(x, bl, acc[2 * i]);
                acc[2 * i + 1] = _mm512_fmadd_pd(x, bh, acc[2 * i + 1]);
            }
        }
        for i in 0..m {
            // SAFETY: row i of C is in its buffer.
            unsafe { store_row(c.wrapping_offset(i as isize * c_rs), (lo, hi), &acc[2 * i..]) };
        }
    }
}

/// Elsewhere every product goes to gemm.
#[cfg(not(target_arch = "x86_64"))]
mod small {
    pub type Strided = (*const f64, isize, isize);

    pub unsafe fn product(_: usize, _: usize, _: usize, _: Strided, _: Strided, _: *mut f64, _: isize) -> bool {
        false
    }
}

/// A buffer pointer that crosses to the pool's threads.
#[derive(Clone, Copy)]
struct SendPtr<T>(T);
// SAFETY: used only for buffers that the functions below read from several
// threads, or write in disjoint parts from several threads.
unsafe impl<T> Send for SendPtr<T> {}

impl<T: Copy> SendPtr<T> {
    /// The pointer (a method, so that closures capture the whole wrapper).
    fn get(self) -> T {
        self.0
    }
}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

/// `C[m,n] = op(A)[m,k] op(B)[k,n]`, row-major with leading dimensions
/// `lda`, `ldb`, `ldc`; `op` transposes when its flag is 1 (then `A` is
/// stored `k x m`, `B` `n x k`). `C` is overwritten.
///
/// # Safety
/// The buffers hold the matrices their sizes and leading dimensions
/// describe; `C` does not overlap `A` or `B`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dl_gemm(
    ta: i32,
    tb: i32,
    m: i64,
    n: i64,
    k: i64,
    a: *const f64,
    lda: i64,
    b: *const f64,
    ldb: i64,
    c: *mut f64,
    ldc: i64,
) {
    let (Some(m), Some(n), Some(k)) = (dim(m), dim(n), dim(k)) else {
        return;
    };
    let (lda, ldb, ldc) = (lda as isize, ldb as isize, ldc as isize);
    let (a_rs, a_cs) = if ta == 1 { (1, lda) } else { (lda, 1) };
    let (b_rs, b_cs) = if tb == 1 { (1, ldb) } else { (ldb, 1) };
    // SAFETY: forwarded from this function's contract.
    no_unwind((), || unsafe {
        gemm_strided(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, ldc, 1)
    })
}

/// `y = A x` (`A` is `m x n` with leading dimension `lda`, `y` has `m`
/// elements) or, with `ta = 1`, `y = A^T x` (`y` has `n` elements).
///
/// # Safety
/// `a` holds the matrix, `x` its `n` (or, transposed, `m`) elements, `y`
/// room for the result, not overlapping `a` or `x`.
#[no_mangle]
pub unsafe extern "C" fn dl_gemv(ta: i32, m: i64, n: i64, a: *const f64, lda: i64, x: *const f64, y: *mut f64) {
    let (Some(m), Some(n)) = (dim(m), dim(n)) else {
        return;
    };
    let lda_u = usize::try_from(lda).unwrap_or(0);
    let lda = lda as isize;
    no_unwind((), || {
        if m.saturating_mul(n) > GEMV_GEMM_THRESHOLD {
            // y as a column: (m x n)(n x 1), or (n x m)(m x 1) transposed.
            let (rows, inner, a_rs, a_cs) = if ta == 1 { (n, m, 1, lda) } else { (m, n, lda, 1) };
            // SAFETY: forwarded from this function's contract.
            unsafe { gemm_strided(rows, 1, inner, a, a_rs, a_cs, x, 1, 1, y, 1, 1) };
            return;
        }
        if ta == 1 {
            // y = sum_i x[i] A[i, :], row by row: streams through A.
            // SAFETY: `y` has room for `n` elements and overlaps nothing.
            let y = unsafe { raw_slice_mut(y, n) };
            y.fill(0.0);
            for i in 0..m {
                // SAFETY: row i of A and element i of x are inside their
                // buffers (this function's contract).
                let (row, xi) = unsafe { (raw_slice(a.wrapping_add(i * lda_u), n), *x.add(i)) };
                for (yj, aij) in y.iter_mut().zip(row) {
                    *yj += xi * aij;
                }
            }
        } else {
            // SAFETY: `x` holds `n` elements.
            let x = unsafe { raw_slice(x, n) };
            for i in 0..m {
                // SAFETY: row i of A is inside the buffer and `y` has room
                // for `m` elements (this function's contract).
                unsafe { *y.add(i) = dot(raw_slice(a.wrapping_add(i * lda_u), n), x) };
            }
        }
    })
}

/// A slice over `len` elements at `p`, or an empty one when `len == 0`
/// (where `p` may be null or dangling).
///
/// # Safety
/// For `len > 0`, `p` points to `len` readable f64s that nothing writes
/// while the slice lives.
unsafe fn raw_slice<'a>(p: *const f64, len: usize) -> &'a [f64] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(p, len) }
}

/// As [`raw_slice`], writable.
///
/// # Safety
/// For `len > 0`, `p` points to `len` writable f64s that nothing else
/// reads or writes while the slice lives.
unsafe fn raw_slice_mut<'a>(p: *mut f64, len: usize) -> &'a mut [f64] {
    if len == 0 {
        return &mut [];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts_mut(p, len) }
}

/// `sum x[i] y[i]` with eight accumulators: element `i` goes to accumulator
/// `i % 8` (the tail to the first ones), and the accumulators are added
/// pairwise at the end. The same order on every machine.
#[inline(always)]
fn dot_kernel(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0.0f64; 8];
    let mut xc = x.chunks_exact(8);
    let mut yc = y.chunks_exact(8);
    for (xs, ys) in (&mut xc).zip(&mut yc) {
        for l in 0..8 {
            acc[l] += xs[l] * ys[l];
        }
    }
    for (l, (a, b)) in xc.remainder().iter().zip(yc.remainder()).enumerate() {
        acc[l] += a * b;
    }
    let s4 = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    (s4[0] + s4[2]) + (s4[1] + s4[3])
}

/// [`dot_kernel`] compiled for AVX2, which widens the loop without changing
/// its order of operations (no fused multiply-add), so the result is the
/// same bit for bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_kernel_avx2(x: &[f64], y: &[f64]) -> f64 {
    dot_kernel(x, y)
}

fn dot_block(x: &[f64], y: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2.
        return unsafe { dot_kernel_avx2(x, y) };
    }
    dot_kernel(x, y)
}

/// The dot product of the first `min(x.len(), y.len())` elements. Long
/// vectors are cut into blocks of [`DOT_BLOCK`] whose sums are added in
/// order, computed on the pool; the result depends on the length only.
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n <= DOT_BLOCK {
        return dot_block(x, y);
    }
    let (x, y) = (&x[..n], &y[..n]);
    let partial: Vec<f64> = parallel::install(|| {
        x.par_chunks(DOT_BLOCK)
            .zip(y.par_chunks(DOT_BLOCK))
            .map(|(a, b)| dot_block(a, b))
            .collect()
    });
    partial.iter().fold(0.0, |s, p| s + p)
}

/// `sum x[i] y[i]` for `i < n`.
///
/// # Safety
/// For `n > 0`, `x` and `y` hold `n` elements each.
#[no_mangle]
pub unsafe extern "C" fn dl_dot(n: i64, x: *const f64, y: *const f64) -> f64 {
    let n = dim(n).unwrap_or(0);
    // SAFETY: this function's contract.
    let (x, y) = unsafe { (raw_slice(x, n), raw_slice(y, n)) };
    no_unwind(f64::NAN, || dot(x, y))
}

/// `C[i,j] = x[i] y[j]`, `C` row-major `m x n` and contiguous.
///
/// # Safety
/// `x` holds `m` elements, `y` `n`, `c` room for `m * n` not overlapping
/// them.
#[no_mangle]
pub unsafe extern "C" fn dl_outer(m: i64, n: i64, x: *const f64, y: *const f64, c: *mut f64) {
    let (Some(m), Some(n)) = (dim(m), dim(n)) else {
        return;
    };
    let Some(len) = m.checked_mul(n) else {
        return;
    };
    // SAFETY: this function's contract.
    let (x, y, c) = unsafe { (raw_slice(x, m), raw_slice(y, n), raw_slice_mut(c, len)) };
    if n == 0 {
        return;
    }
    for (row, xi) in c.chunks_exact_mut(n).zip(x) {
        for (cij, yj) in row.iter_mut().zip(y) {
            *cij = xi * yj;
        }
    }
}

/// The side of the square tiles of the transpose: two 32x32 tiles of f64
/// (16 KiB) sit in the L1 cache.
const TILE: usize = 32;

/// `dst[j,i] = src[i,j]` for a row-major `rows x cols` source. `src == dst`
/// is allowed (then the transpose goes through a temporary copy unless the
/// matrix is square or a single row or column).
///
/// # Safety
/// `src` holds `rows * cols` elements, `dst` has room for as many; the two
/// are equal or do not overlap.
#[no_mangle]
pub unsafe extern "C" fn dl_transpose(rows: i64, cols: i64, src: *const f64, dst: *mut f64) {
    let (Some(rows), Some(cols)) = (dim(rows), dim(cols)) else {
        return;
    };
    let Some(len) = rows.checked_mul(cols) else {
        return;
    };
    if len == 0 {
        return;
    }
    if std::ptr::eq(src, dst) {
        if rows == 1 || cols == 1 {
            return;
        }
        // SAFETY: `dst` holds `len` elements and, being `src`, nothing else
        // refers to it during this call.
        let data = unsafe { raw_slice_mut(dst, len) };
        if rows == cols {
            for i in 0..rows {
                for j in i + 1..cols {
                    data.swap(i * cols + j, j * rows + i);
                }
            }
        } else {
            let copy = data.to_vec();
            transpose_into(rows, cols, &copy, data);
        }
        return;
    }
    // SAFETY: this function's contract: distinct buffers of `len` elements.
    let (src, dst) = unsafe { (raw_slice(src, len), raw_slice_mut(dst, len)) };
    transpose_into(rows, cols, src, dst);
}

/// Transposes tile by tile so that both the reads and the writes stay
/// within a few cache lines at a time.
fn transpose_into(rows: usize, cols: usize, src: &[f64], dst: &mut [f64]) {
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                for j in j0..(j0 + TILE).min(cols) {
                    dst[j * rows + i] = src[i * cols + j];
                }
            }
        }
    }
}
