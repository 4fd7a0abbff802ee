//! Generated code against hand-written Rust on the same data, side by side
//! in one run (issue targets of the native backend):
//!
//! - `a @ b` on 1024x1024 f64, JIT-compiled, against the `gemm` crate called
//!   directly from Rust on all threads (target: within 10%);
//! - `sum(x)` and `dot(x, y)` over 32M f64, JIT-compiled, against a plain
//!   Rust loop (target: at least 70% of its bandwidth).
//!
//! `cargo bench -p dl-compiler --bench kernels` prints each median and the
//! ratio. Figures, never assertions: the machines are shared and noisy.

use std::hint::black_box;
use std::time::{Duration, Instant};

use dl_compiler::codegen::jit::Jit;
use dl_compiler::core::value::Value;
use dl_compiler::driver;

#[path = "../../runtime/benches/support/gemm_direct.rs"]
mod gemm_direct;
use gemm_direct::gemm_direct;

const PROGRAM: &str = "
def product(a: [n][k]f64, b: [k][m]f64) -> [n][m]f64 = a @ b
def total(x: [n]f64) -> f64 = sum(x)
def inner(x: [n]f64, y: [n]f64) -> f64 = dot(x, y)
";

/// The medians of `runs` timings of `a` and of `b`, taken in turns (which
/// goes first alternates) after a tenth of a second of warm-up each, so
/// that the drift of a shared machine hits both alike.
fn side_by_side(runs: usize, mut a: impl FnMut() -> Duration, mut b: impl FnMut() -> Duration) -> (Duration, Duration) {
    for f in [&mut a as &mut dyn FnMut() -> Duration, &mut b] {
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_millis(100) {
            f();
        }
    }
    let (mut ta, mut tb) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for k in 0..runs {
        if k % 2 == 0 {
            ta.push(a());
            tb.push(b());
        } else {
            tb.push(b());
            ta.push(a());
        }
    }
    ta.sort();
    tb.sort();
    (ta[runs / 2], tb[runs / 2])
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Times one native call of `entry` (the call alone, as `dl bench` does).
fn jit_call<'a>(jit: &'a mut Jit, entry: &'a str, args: &'a [Value]) -> impl FnMut() -> Duration + 'a {
    move || jit.time_calls(entry, args, 1).expect("the call runs")[0]
}

fn data(len: usize, seed: usize) -> Vec<f64> {
    (0..len)
        .map(|i| (((i + seed) * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect()
}

fn vector(xs: &[f64]) -> Value {
    Value::array(xs.iter().map(|&x| Value::F64(x)).collect())
}

fn matrix(xs: &[f64], cols: usize) -> Value {
    Value::array(xs.chunks(cols).map(vector).collect())
}

fn bench_matmul(jit: &mut Jit) {
    let n = 1024;
    let (a, b) = (data(n * n, 0), data(n * n, 1));
    let mut c = vec![0.0; n * n];
    let flop = 2.0 * (n as f64).powi(3);
    let rate = |t: Duration| flop / t.as_secs_f64() / 1e9;
    let args = [matrix(&a, n), matrix(&b, n)];
    let (ours, direct) = side_by_side(21, jit_call(jit, "product", &args), || {
        // On the runtime's pool, as dl's own product: two pools of spinning
        // workers would slow each other down.
        let threads = dl_runtime::parallel::num_threads();
        timed(|| dl_runtime::parallel::install(|| gemm_direct(n, &a, &b, &mut c, gemm::Parallelism::Rayon(threads))))
    });
    println!(
        "a @ b 1024x1024   dl {:6.1} GFLOP/s   gemm direct {:6.1} GFLOP/s   dl/direct {:.2}",
        rate(ours),
        rate(direct),
        rate(ours) / rate(direct)
    );
}

fn bench_reductions(jit: &mut Jit) {
    let len = 32 << 20;
    let (x, y) = (data(len, 0), data(len, 3));
    let gbs = |bytes: usize, t: Duration| bytes as f64 / t.as_secs_f64() / 1e9;
    let (vx, vy) = (vector(&x), vector(&y));

    let (ours, plain) = side_by_side(11, jit_call(jit, "total", std::slice::from_ref(&vx)), || {
        timed(|| {
            black_box(black_box(&x).iter().sum::<f64>());
        })
    });
    let bytes = len * 8;
    println!(
        "sum(x)  32M f64   dl {:6.1} GB/s   plain Rust loop {:6.1} GB/s   dl/loop {:.2}",
        gbs(bytes, ours),
        gbs(bytes, plain),
        gbs(bytes, ours) / gbs(bytes, plain)
    );

    let pair = [vx, vy];
    let (ours, plain) = side_by_side(11, jit_call(jit, "inner", &pair), || {
        timed(|| {
            let d: f64 = black_box(&x).iter().zip(black_box(&y)).map(|(a, b)| a * b).sum();
            black_box(d);
        })
    });
    let bytes = 2 * len * 8;
    println!(
        "dot(x, y) 32M f64 dl {:6.1} GB/s   plain Rust loop {:6.1} GB/s   dl/loop {:.2}",
        gbs(bytes, ours),
        gbs(bytes, plain),
        gbs(bytes, ours) / gbs(bytes, plain)
    );
}

fn main() {
    let compiled = driver::compile_source("kernels.dl", PROGRAM);
    let program = driver::prepare(&compiled).expect("the benchmark program compiles");
    let mut jit = Jit::new(program).expect("the JIT starts");
    println!("threads: {}", dl_runtime::parallel::dl_num_threads());
    bench_matmul(&mut jit);
    bench_reductions(&mut jit);
}
