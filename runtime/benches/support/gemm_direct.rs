//! The `gemm` crate called directly from Rust: the yardstick the runtime's
//! and generated code's matrix products are measured against (shared by
//! `runtime/benches/blas.rs` and `compiler/benches/kernels.rs`).

/// `C = A B` for square row-major `n x n` matrices.
pub fn gemm_direct(n: usize, a: &[f64], b: &[f64], c: &mut [f64], parallelism: gemm::Parallelism) {
    // SAFETY: three contiguous row-major n x n matrices, C distinct.
    unsafe {
        gemm::gemm(
            n,
            n,
            n,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            n as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}
