//! Parallel loops: every chunk runs exactly once, and the loop returns only
//! when all have.

use dl_runtime::parallel::*;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

struct Counts {
    runs: Vec<AtomicU32>,
    threads: std::sync::Mutex<std::collections::HashSet<std::thread::ThreadId>>,
}

extern "C" fn count(env: *const u8, chunk: i64) {
    // SAFETY: `env` is the `Counts` handed to dl_parallel_chunks, alive for
    // the whole loop; its fields are thread-safe.
    let counts = unsafe { &*(env as *const Counts) };
    counts.runs[chunk as usize].fetch_add(1, Ordering::Relaxed);
    counts.threads.lock().unwrap().insert(std::thread::current().id());
    // A little work, so that the pool spreads the chunks.
    let mut x = chunk as f64;
    for _ in 0..20_000 {
        x = (x * 1.000001).sin();
    }
    std::hint::black_box(x);
}

fn run(chunks: usize) -> Counts {
    let counts = Counts {
        runs: (0..chunks).map(|_| AtomicU32::new(0)).collect(),
        threads: Default::default(),
    };
    // SAFETY: `count` accepts `counts` and every chunk number below `chunks`.
    unsafe { dl_parallel_chunks(Some(count), &counts as *const Counts as *const u8, chunks as i64) };
    counts
}

#[test]
fn every_chunk_runs_exactly_once() {
    for chunks in [1, 2, 3, 7, 64, 1000] {
        let counts = run(chunks);
        for (c, n) in counts.runs.iter().enumerate() {
            assert_eq!(n.load(Ordering::Relaxed), 1, "chunk {c} of {chunks}");
        }
    }
}

#[test]
fn work_spreads_over_the_pool() {
    let counts = run(256);
    let threads = counts.threads.lock().unwrap().len();
    assert!(threads >= 1 && threads <= dl_num_threads() as usize);
    if dl_num_threads() > 1 {
        assert!(threads > 1, "256 chunks ran on one thread of {}", dl_num_threads());
    }
}

#[test]
fn no_chunks_or_no_kernel_do_nothing() {
    assert!(run(0).runs.is_empty());
    // SAFETY: a null kernel is never called.
    unsafe {
        dl_parallel_chunks(None, std::ptr::null(), 10);
        dl_parallel_chunks(Some(count), std::ptr::null(), -4);
    }
}

static NESTED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn inner(_env: *const u8, _chunk: i64) {
    NESTED.fetch_add(1, Ordering::Relaxed);
}

extern "C" fn outer(_env: *const u8, _chunk: i64) {
    // SAFETY: `inner` ignores its environment.
    unsafe { dl_parallel_chunks(Some(inner), std::ptr::null(), 10) };
}

#[test]
fn loops_nest() {
    // SAFETY: `outer` ignores its environment.
    unsafe { dl_parallel_chunks(Some(outer), std::ptr::null(), 10) };
    assert_eq!(NESTED.load(Ordering::Relaxed), 100);
}

#[test]
fn the_pool_has_a_size() {
    assert!(dl_num_threads() >= 1);
    assert_eq!(dl_num_threads() as usize, num_threads());
}
