//! The linear algebra kernels against naive loops: many shapes, both
//! transposes, leading dimensions larger than the rows, empty dimensions.

use dl_runtime::blas::*;

/// A deterministic matrix of `len` values in [-1, 1).
fn data(len: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// `got` and `want` agree to rounding of a sum of `k` products of values
/// at most 1 in magnitude.
#[track_caller]
fn assert_close(got: f64, want: f64, k: usize, what: &str) {
    let tol = 1e-15 * (k as f64 + 1.0) * 4.0;
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

const SIZES: [usize; 6] = [0, 1, 2, 7, 64, 200];

#[test]
fn gemm_against_the_triple_loop() {
    let mut cases = 0;
    for &m in &SIZES {
        for &n in &SIZES {
            for &k in &SIZES {
                // The full cube of sizes with 200 in two places is slow in a
                // debug build and adds nothing.
                if [m, n, k].iter().filter(|&&s| s == 200).count() > 1 && (m, n, k) != (200, 200, 200) {
                    continue;
                }
                for ta in 0..2 {
                    for tb in 0..2 {
                        check_gemm(ta, tb, m, n, k, (m + n + k + ta as usize) % 3);
                        cases += 1;
                    }
                }
            }
        }
    }
    assert!(cases > 500);
}

/// The shapes around the limits of the small-product kernels (16 columns,
/// an inner size of 32, 12 rows; blocks of four rows; at least
/// `SMALL_PRODUCT_MIN` multiply-adds), which gemm takes past them.
#[test]
fn small_products_against_the_triple_loop() {
    // Many rows and a short inner size; few rows and a long one.
    let shapes = [1001, 1002, 1003].map(|m| (m, [0, 1, 31, 32, 33]));
    let shapes = shapes
        .into_iter()
        .chain([3, 4, 5, 12, 13].map(|m| (m, [700, 701, 1000, 1, 2])));
    for (m, ks) in shapes {
        for n in [1, 8, 9, 15, 16, 17] {
            for k in ks {
                for ta in 0..2 {
                    for tb in 0..2 {
                        check_gemm(ta, tb, m, n, k, (m + k) % 2);
                    }
                }
            }
        }
    }
}

/// `pad` extra columns in every leading dimension.
fn check_gemm(ta: i32, tb: i32, m: usize, n: usize, k: usize, pad: usize) {
    // Stored shapes: A is m x k (k x m transposed), B is k x n (n x k).
    let (a_rows, a_cols) = if ta == 1 { (k, m) } else { (m, k) };
    let (b_rows, b_cols) = if tb == 1 { (n, k) } else { (k, n) };
    let (lda, ldb, ldc) = (a_cols + pad, b_cols + pad, n + pad);
    let a = data(a_rows * lda, (m * 31 + k) as u64);
    let b = data(b_rows * ldb, (k * 17 + n) as u64);
    let sentinel = 12345.0;
    let mut c = vec![sentinel; m * ldc];
    let at = |i: usize, p: usize| if ta == 1 { a[p * lda + i] } else { a[i * lda + p] };
    let bt = |p: usize, j: usize| if tb == 1 { b[j * ldb + p] } else { b[p * ldb + j] };
    // SAFETY: the buffers hold the stored shapes with their leading
    // dimensions, and C is distinct.
    unsafe {
        dl_gemm(
            ta,
            tb,
            m as i64,
            n as i64,
            k as i64,
            a.as_ptr(),
            lda as i64,
            b.as_ptr(),
            ldb as i64,
            c.as_mut_ptr(),
            ldc as i64,
        )
    };
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
            let what = format!("gemm ta={ta} tb={tb} {m}x{n}x{k} pad {pad} at ({i}, {j})");
            assert_close(c[i * ldc + j], want, k, &what);
        }
        for j in n..ldc {
            assert_eq!(c[i * ldc + j], sentinel, "gemm wrote into the padding");
        }
    }
}

#[test]
fn gemm_overwrites_nan_and_ignores_negative_sizes() {
    let a = data(12, 1);
    let b = data(12, 2);
    let mut c = vec![f64::NAN; 9];
    // SAFETY: 3x4 times 4x3 into 3x3, contiguous.
    unsafe { dl_gemm(0, 0, 3, 3, 4, a.as_ptr(), 4, b.as_ptr(), 3, c.as_mut_ptr(), 3) };
    assert!(c.iter().all(|x| x.is_finite()));
    // Inner size 0: C is all zeros.
    let mut c = vec![f64::NAN; 9];
    // SAFETY: nothing is read for k = 0; C is 3x3.
    unsafe {
        dl_gemm(
            0,
            0,
            3,
            3,
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
            3,
            c.as_mut_ptr(),
            3,
        )
    };
    assert_eq!(c, vec![0.0; 9]);
    // Negative sizes do nothing.
    // SAFETY: nothing is touched.
    unsafe {
        dl_gemm(
            0,
            0,
            -1,
            3,
            3,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            0,
        )
    };
}

#[test]
fn gemv_against_the_loop() {
    // The last shapes pass the threshold where gemm takes over.
    let shapes = [
        (0, 0),
        (0, 3),
        (3, 0),
        (1, 1),
        (7, 5),
        (64, 64),
        (200, 7),
        (5, 200),
        (700, 600),
    ];
    for (m, n) in shapes {
        for ta in 0..2 {
            for pad in [0, 3] {
                let lda = n + pad;
                let a = data(m * lda, (m + 3 * n) as u64);
                let (len_x, len_y) = if ta == 1 { (m, n) } else { (n, m) };
                let x = data(len_x, 99);
                let mut y = vec![f64::NAN; len_y + 1];
                // SAFETY: A is m x n with leading dimension lda; x and y
                // have the lengths of the product, y one more.
                unsafe {
                    dl_gemv(
                        ta,
                        m as i64,
                        n as i64,
                        a.as_ptr(),
                        lda as i64,
                        x.as_ptr(),
                        y.as_mut_ptr(),
                    )
                };
                for r in 0..len_y {
                    let want: f64 = if ta == 1 {
                        (0..m).map(|i| a[i * lda + r] * x[i]).sum()
                    } else {
                        (0..n).map(|j| a[r * lda + j] * x[j]).sum()
                    };
                    assert_close(y[r], want, len_x, &format!("gemv ta={ta} {m}x{n} row {r}"));
                }
                assert!(y[len_y].is_nan(), "gemv wrote past y");
            }
        }
    }
}

#[test]
fn dot_against_the_loop() {
    for n in [
        0usize,
        1,
        7,
        8,
        9,
        15,
        16,
        17,
        1000,
        DOT_BLOCK - 1,
        DOT_BLOCK,
        DOT_BLOCK + 1,
        5 * DOT_BLOCK + 13,
    ] {
        let x = data(n, 5);
        let y = data(n, 6);
        let want: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        // SAFETY: both hold n elements.
        let got = unsafe { dl_dot(n as i64, x.as_ptr(), y.as_ptr()) };
        assert_close(got, want, n, &format!("dot of {n}"));
        // The same bits every time, whatever the scheduling.
        for _ in 0..3 {
            // SAFETY: as above.
            assert_eq!(
                unsafe { dl_dot(n as i64, x.as_ptr(), y.as_ptr()) }.to_bits(),
                got.to_bits()
            );
        }
    }
    // SAFETY: nothing is read for n <= 0.
    assert_eq!(unsafe { dl_dot(-3, std::ptr::null(), std::ptr::null()) }, 0.0);
}

#[test]
fn outer_product() {
    for (m, n) in [(0, 0), (0, 4), (4, 0), (1, 1), (3, 7), (64, 65)] {
        let x = data(m, 1);
        let y = data(n, 2);
        let mut c = vec![f64::NAN; m * n + 1];
        // SAFETY: x has m elements, y n, c m * n (and one more).
        unsafe { dl_outer(m as i64, n as i64, x.as_ptr(), y.as_ptr(), c.as_mut_ptr()) };
        for i in 0..m {
            for j in 0..n {
                assert_eq!(c[i * n + j], x[i] * y[j]);
            }
        }
        assert!(c[m * n].is_nan());
    }
}

#[test]
fn transpose_out_of_place_and_in_place() {
    for (rows, cols) in [
        (0, 0),
        (0, 5),
        (5, 0),
        (1, 1),
        (1, 9),
        (9, 1),
        (7, 7),
        (3, 5),
        (33, 70),
        (64, 64),
        (200, 7),
    ] {
        let src = data(rows * cols, (rows * 1000 + cols) as u64);
        let want = |dst: &[f64]| {
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(dst[j * rows + i], src[i * cols + j], "{rows}x{cols} at ({i}, {j})");
                }
            }
        };
        let mut dst = vec![f64::NAN; rows * cols];
        // SAFETY: both hold rows * cols elements and are distinct.
        unsafe { dl_transpose(rows as i64, cols as i64, src.as_ptr(), dst.as_mut_ptr()) };
        want(&dst);
        let mut buf = src.clone();
        // SAFETY: one buffer of rows * cols elements as source and destination.
        unsafe { dl_transpose(rows as i64, cols as i64, buf.as_ptr(), buf.as_mut_ptr()) };
        want(&buf);
    }
}
