//! Throughput of the runtime's BLAS against its building blocks:
//! `dl_gemm` against the gemm crate called directly (1024^2, and a few
//! other sizes), `dl_dot` over 32M f64 against a plain Rust loop.
//!
//! `cargo bench -p dl-runtime --bench blas` prints the median of several
//! runs in GFLOP/s (products) and GB/s (dot: bytes of both vectors read).

use std::hint::black_box;
use std::time::{Duration, Instant};

use dl_runtime::blas::{dl_dot, dl_gemm, dl_gemv};
use dl_runtime::parallel::dl_num_threads;

#[path = "support/gemm_direct.rs"]
mod gemm_direct;
use gemm_direct::gemm_direct;

/// The median time of `runs` calls of `f`, after a tenth of a second of
/// warm-up calls (clock speed, page faults, the pool's threads).
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(100) {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn data(len: usize) -> Vec<f64> {
    (0..len).map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5).collect()
}

fn dl_gemm_square(n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
    let n = n as i64;
    // SAFETY: three contiguous row-major n x n matrices, C distinct.
    unsafe { dl_gemm(0, 0, n, n, n, a.as_ptr(), n, b.as_ptr(), n, c.as_mut_ptr(), n) }
}

fn bench_gemm(n: usize, runs: usize) {
    let (a, b) = (data(n * n), data(n * n + 1));
    let mut c = vec![0.0; n * n];
    let flop = 2.0 * (n as f64).powi(3);
    let rate = |t: Duration| flop / t.as_secs_f64() / 1e9;
    let ours = median(runs, || dl_gemm_square(n, &a, &b, &mut c));
    let one = median(runs, || gemm_direct(n, &a, &b, &mut c, gemm::Parallelism::None));
    let all = median(runs, || gemm_direct(n, &a, &b, &mut c, gemm::Parallelism::Rayon(0)));
    println!(
        "gemm {n:>4}x{n:<4}  dl_gemm {:6.1} GFLOP/s   gemm direct: 1 thread {:6.1}, rayon {:6.1} GFLOP/s",
        rate(ours),
        rate(one),
        rate(all)
    );
    black_box(&c);
}

fn bench_dot(n: usize, runs: usize) {
    let (x, y) = (data(n), data(n + 3));
    let bytes = 2.0 * 8.0 * n as f64;
    let rate = |t: Duration| bytes / t.as_secs_f64() / 1e9;
    let mut sink = 0.0;
    // SAFETY: both hold n elements.
    let ours = median(runs, || sink += unsafe { dl_dot(n as i64, x.as_ptr(), y.as_ptr()) });
    let plain = median(runs, || {
        sink += black_box(&x).iter().zip(black_box(&y)).map(|(a, b)| a * b).sum::<f64>()
    });
    println!(
        "dot  {n} f64   dl_dot {:5.1} GB/s ({:.2} GFLOP/s)   plain loop {:5.1} GB/s",
        rate(ours),
        rate(ours) / 8.0,
        rate(plain)
    );
    black_box(sink);
}

fn bench_gemv(n: usize, runs: usize) {
    let a = data(n * n);
    let x = data(n + 1);
    let mut y = vec![0.0; n];
    let rate = |t: Duration| 8.0 * (n * n) as f64 / t.as_secs_f64() / 1e9;
    let mut times = [Duration::ZERO; 2];
    for (ta, time) in times.iter_mut().enumerate() {
        let n = n as i64;
        // SAFETY: A is n x n, x and y hold n elements, y distinct.
        *time = median(runs, || unsafe {
            dl_gemv(ta as i32, n, n, a.as_ptr(), n, x.as_ptr(), y.as_mut_ptr())
        });
    }
    println!(
        "gemv {n:>4}x{n:<4}  A x {:5.1} GB/s   A^T x {:5.1} GB/s (bytes of A)",
        rate(times[0]),
        rate(times[1])
    );
    black_box(&y);
}

fn main() {
    println!("dl-runtime BLAS, {} pool threads", dl_num_threads());
    for (n, runs) in [(64, 201), (256, 21), (1024, 7)] {
        bench_gemm(n, runs);
    }
    bench_gemv(4096, 11);
    bench_dot(32 << 20, 7);
}
