//! Parallel loops: every chunk runs exactly once, and the loop returns only
//! when all have.
//!
//! The tests take turns (`one_at_a_time`): every thread of the pool helps
//! each loop, so a loop of another test running at once could hold the
//! whole pool, and whether work spreads could not be told.

use dl_runtime::context::{dl_alloc, dl_arena_mark, dl_ctx_free, dl_ctx_new};
use dl_runtime::parallel::*;
use dl_runtime::DlCtx;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

struct Counts {
    runs: Vec<AtomicU32>,
    threads: std::sync::Mutex<std::collections::HashSet<std::thread::ThreadId>>,
}

extern "C" fn count(env: *const u8, chunk: i64, _ctx: *mut DlCtx) {
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

static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the turn of the test that calls it until the test ends.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn run(chunks: usize) -> Counts {
    let counts = Counts {
        runs: (0..chunks).map(|_| AtomicU32::new(0)).collect(),
        threads: Default::default(),
    };
    let ctx = dl_ctx_new();
    // SAFETY: `count` accepts `counts` and every chunk number below
    // `chunks`; `ctx` is live until freed.
    unsafe {
        dl_parallel_chunks(ctx, Some(count), &counts as *const Counts as *const u8, chunks as i64);
        dl_ctx_free(ctx);
    }
    counts
}

#[test]
fn every_chunk_runs_exactly_once() {
    let _turn = one_at_a_time();
    for chunks in [1, 2, 3, 7, 64, 1000] {
        let counts = run(chunks);
        for (c, n) in counts.runs.iter().enumerate() {
            assert_eq!(n.load(Ordering::Relaxed), 1, "chunk {c} of {chunks}");
        }
    }
}

#[test]
fn work_spreads_over_the_pool() {
    let _turn = one_at_a_time();
    let counts = run(256);
    let threads = counts.threads.lock().unwrap().len();
    // The calling thread and every thread of the pool.
    assert!(threads >= 1 && threads <= dl_num_threads() as usize + 1);
    if dl_num_threads() > 1 {
        assert!(threads > 1, "256 chunks ran on one thread of {}", dl_num_threads());
    }
}

#[test]
fn the_calling_thread_runs_chunks_too() {
    let _turn = one_at_a_time();
    // The caller claims the first chunk before any helper can wake up.
    let counts = run(64);
    let threads = counts.threads.lock().unwrap();
    assert!(
        threads.contains(&std::thread::current().id()),
        "the caller slept while the pool ran its loop"
    );
}

#[test]
fn no_chunks_or_no_kernel_do_nothing() {
    let _turn = one_at_a_time();
    assert!(run(0).runs.is_empty());
    // SAFETY: a null kernel is never called.
    unsafe {
        dl_parallel_chunks(std::ptr::null_mut(), None, std::ptr::null(), 10);
        dl_parallel_chunks(std::ptr::null_mut(), Some(count), std::ptr::null(), -4);
    }
}

static NESTED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn inner(_env: *const u8, _chunk: i64, _ctx: *mut DlCtx) {
    NESTED.fetch_add(1, Ordering::Relaxed);
}

extern "C" fn outer(_env: *const u8, _chunk: i64, ctx: *mut DlCtx) {
    // SAFETY: `inner` ignores its environment; `ctx` is this chunk's.
    unsafe { dl_parallel_chunks(ctx, Some(inner), std::ptr::null(), 10) };
}

#[test]
fn loops_nest() {
    let _turn = one_at_a_time();
    let ctx = dl_ctx_new();
    // SAFETY: `outer` ignores its environment; `ctx` is live until freed.
    unsafe {
        dl_parallel_chunks(ctx, Some(outer), std::ptr::null(), 10);
        dl_ctx_free(ctx);
    }
    assert_eq!(NESTED.load(Ordering::Relaxed), 100);
}

/// What each chunk of `allocating` saw.
struct Allocations {
    caller: *mut DlCtx,
    /// Per chunk: its context, and whether its memory kept what it wrote.
    seen: Vec<std::sync::Mutex<(usize, bool)>>,
}

extern "C" fn allocating(env: *const u8, chunk: i64, ctx: *mut DlCtx) {
    // SAFETY: `env` is the `Allocations` handed to dl_parallel_chunks, alive
    // for the whole loop; `ctx` is this chunk's, live while it runs.
    let allocations = unsafe { &*(env as *const Allocations) };
    let n = 1000 + chunk as usize;
    // SAFETY: as above; the memory holds `n` f64 (64-byte aligned).
    let kept = unsafe {
        let p = dl_alloc(ctx, 8 * n as i64) as *mut f64;
        for k in 0..n {
            *p.add(k) = (chunk as usize * 100_000 + k) as f64;
        }
        // Work between the writes and the reads, so that chunks overlap.
        let mut x = chunk as f64;
        for _ in 0..20_000 {
            x = (x * 1.000001).sin();
        }
        std::hint::black_box(x);
        (0..n).all(|k| *p.add(k) == (chunk as usize * 100_000 + k) as f64)
    };
    *allocations.seen[chunk as usize].lock().unwrap() = (ctx as usize, kept);
}

#[test]
fn chunks_on_the_pool_allocate_from_contexts_of_their_own() {
    let _turn = one_at_a_time();
    let ctx = dl_ctx_new();
    let chunks = 64;
    let allocations = Allocations {
        caller: ctx,
        seen: (0..chunks).map(|_| Default::default()).collect(),
    };
    // SAFETY: `allocating` accepts `allocations` and every chunk number
    // below `chunks`; `ctx` is live until freed.
    unsafe {
        let before = dl_arena_mark(ctx);
        dl_parallel_chunks(
            ctx,
            Some(allocating),
            &allocations as *const Allocations as *const u8,
            chunks,
        );
        assert_eq!(dl_arena_mark(ctx), before, "the caller's arena is untouched");
        dl_ctx_free(ctx);
    }
    for (c, seen) in allocations.seen.iter().enumerate() {
        let (chunk_ctx, kept) = *seen.lock().unwrap();
        assert!(kept, "chunk {c} lost what it wrote");
        assert_ne!(
            chunk_ctx, allocations.caller as usize,
            "chunk {c} used the caller's context"
        );
    }
}

#[test]
fn the_pool_has_a_size() {
    let _turn = one_at_a_time();
    assert!(dl_num_threads() >= 1);
    assert_eq!(dl_num_threads() as usize, num_threads());
}
