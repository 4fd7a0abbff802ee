//! The thread pool: one rayon pool of the runtime's own, built once on first
//! use, that runs parallel loops (`dl_parallel_chunks`) and the threaded
//! matrix products.
//!
//! Its size is, in order of precedence: the last `dl_set_num_threads` before
//! the pool was built, the `DL_NUM_THREADS` environment variable, the number
//! of cores. A dedicated pool (not rayon's global one) keeps the runtime's
//! size setting from fighting a host program's own use of rayon.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;

use crate::context::{arena, DlCtx};
use crate::error::ErrorState;
use crate::no_unwind;

/// The pool, or `None` if the system would not start its threads (then
/// parallel work runs on the calling thread).
static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();

/// The size asked for by `dl_set_num_threads`; 0 when not asked.
static REQUESTED: AtomicUsize = AtomicUsize::new(0);

/// The size the pool gets when it is built now.
fn wanted_threads() -> usize {
    let requested = REQUESTED.load(Ordering::Relaxed);
    if requested > 0 {
        return requested;
    }
    let from_env = std::env::var("DL_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    match from_env {
        Some(n) if n > 0 => n,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// The runtime's pool, built on first use.
pub fn pool() -> Option<&'static rayon::ThreadPool> {
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(wanted_threads())
            .thread_name(|i| format!("dl-worker-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// The number of threads parallel work uses.
pub fn num_threads() -> usize {
    pool().map_or(1, |p| p.current_num_threads())
}

/// Runs `f` inside the pool, so that rayon work it starts uses the pool's
/// threads; on the calling thread when there is no pool.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match pool() {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// The number of threads of the pool (building it if needed).
#[no_mangle]
pub extern "C" fn dl_num_threads() -> i64 {
    no_unwind(1, || num_threads() as i64)
}

/// Sets the pool size; takes effect only before the pool's first use. 0
/// means the number of cores; a negative size is ignored.
#[no_mangle]
pub extern "C" fn dl_set_num_threads(n: i64) {
    let n = match usize::try_from(n) {
        Ok(0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Ok(n) => n,
        Err(_) => return,
    };
    REQUESTED.store(n, Ordering::Relaxed);
}

/// A parallel kernel of generated code: `kernel(env, chunk, ctx)`, where
/// `ctx` is the context the chunk allocates from and raises errors in.
pub type Kernel = extern "C" fn(env: *const u8, chunk: i64, ctx: *mut DlCtx);

/// A pointer handed to every chunk.
#[derive(Clone, Copy)]
struct Shared<T>(*const T);

impl<T> Shared<T> {
    /// The pointer (a method, so that closures capture the whole `Shared`,
    /// which is `Sync`, not its field, which is not).
    fn ptr(self) -> *const T {
        self.0
    }
}

// SAFETY: the environment is only passed back to the kernel, whose chunks
// read it and write disjoint per-chunk slots (the ABI requires that of the
// code that generates them); of the caller's context, the chunks only
// reach the error state, which is thread-safe.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> {}

thread_local! {
    /// The contexts of the chunks this thread runs, one per level: a thread
    /// that waits inside a chunk (on a threaded matrix product, say) may
    /// run another chunk meanwhile, which must not share its arena.
    // Boxed: a chunk holds a pointer to its context while a nested chunk
    // may grow the vector.
    #[allow(clippy::vec_box)]
    static CHUNK_CONTEXTS: RefCell<Vec<Box<DlCtx>>> = const { RefCell::new(Vec::new()) };
    /// How many chunks this thread is inside.
    static CHUNK_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with a context of this thread's own for one chunk, its arena
/// released to where it was when `f` returns. The contexts stay for the
/// next chunk, and with them the arena's memory.
fn with_chunk_context(f: impl FnOnce(*mut DlCtx)) {
    let depth = CHUNK_DEPTH.get();
    let ctx: *mut DlCtx = CHUNK_CONTEXTS.with_borrow_mut(|contexts| {
        if contexts.len() <= depth {
            contexts.push(Box::new(DlCtx::new()));
        }
        &mut *contexts[depth] as *mut DlCtx
    });
    CHUNK_DEPTH.set(depth + 1);
    // SAFETY: the context is this thread's at this depth: no other chunk
    // reaches it while this one runs (a nested one takes the next level),
    // and the box does not move when the vector grows.
    let arena = unsafe { &mut *ctx }.arena();
    let mark = arena.mark();
    f(ctx);
    // SAFETY: as above; the chunk is done with the arena.
    unsafe { &mut *ctx }.arena().release(mark);
    CHUNK_DEPTH.set(depth);
}

/// The first failed chunk's error: the one a loop run in order would have
/// reported.
struct FirstFailure {
    chunk: usize,
    error: ErrorState,
}

/// Calls `kernel(env, c, ctx)` for every `c` in `0..chunks` and returns when
/// all are done. One chunk, or every chunk when the pool has one thread,
/// runs on the calling thread with the caller's context `ctx`; more run on
/// the pool, each with a context of its thread
/// ([`with_chunk_context`]), and the error of the first chunk that failed,
/// if any, is then raised in `ctx`. A null kernel or `chunks <= 0` does
/// nothing.
///
/// # Safety
/// `ctx` is a live context whose call is the caller's; `kernel` is null or
/// a function that may be called with `env` and each chunk number from
/// several threads at once.
#[no_mangle]
pub unsafe extern "C" fn dl_parallel_chunks(ctx: *mut DlCtx, kernel: Option<Kernel>, env: *const u8, chunks: i64) {
    let Some(kernel) = kernel else {
        return;
    };
    let count = match usize::try_from(chunks) {
        Ok(0) | Err(_) => return,
        Ok(count) => count,
    };
    if chunks == 1 || num_threads() == 1 {
        // In order on the calling thread, as a plain loop would, up to the
        // first chunk that fails.
        for c in 0..chunks {
            // SAFETY: the caller's call waits in this one, so its arena is
            // this thread's alone (caller's contract: `ctx` is live).
            let mark = unsafe { arena(ctx) }.map(|a| a.mark());
            kernel(env, c, ctx);
            // SAFETY: as above; the chunk is done with the arena.
            if let (Some(mark), Some(arena)) = (mark, unsafe { arena(ctx) }) {
                arena.release(mark);
            }
            // SAFETY: as above.
            if unsafe { ctx.as_ref() }.is_some_and(|c| c.error().has_error()) {
                return;
            }
        }
        return;
    }
    let (env, caller) = (Shared(env), Shared(ctx as *const DlCtx));
    let first_failure: Mutex<Option<FirstFailure>> = Mutex::new(None);
    // The lowest chunk that failed so far: the chunks after it need not
    // run, as a loop run in order would not have reached them.
    let failed_from = AtomicUsize::new(usize::MAX);
    no_unwind((), || {
        install(|| {
            // Every chunk is a task of its own: generated code already
            // sized the chunks.
            (0..count).into_par_iter().with_max_len(1).for_each(|c| {
                if c > failed_from.load(Ordering::Relaxed) {
                    return;
                }
                with_chunk_context(|chunk_ctx| {
                    kernel(env.ptr(), c as i64, chunk_ctx);
                    // SAFETY: the chunk's context, alive and this chunk's.
                    let failed = unsafe { &*chunk_ctx }.error();
                    if failed.has_error() {
                        failed_from.fetch_min(c, Ordering::Relaxed);
                        let mut first = first_failure.lock().unwrap_or_else(|p| p.into_inner());
                        if first.as_ref().is_none_or(|f| c < f.chunk) {
                            let error = ErrorState::new();
                            error.take_from(failed);
                            *first = Some(FirstFailure { chunk: c, error });
                        } else {
                            failed.clear();
                        }
                    }
                })
            })
        })
    });
    if let Some(failure) = first_failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        // SAFETY: `ctx` is live (caller's contract); its error state is
        // thread-safe.
        if let Some(caller) = unsafe { caller.ptr().as_ref() } {
            caller.error().take_from(&failure.error);
        }
    }
}
