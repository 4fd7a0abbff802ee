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
use std::sync::{Arc, Condvar, Mutex, OnceLock};

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

/// One parallel loop's chunks, claimed one at a time by the calling thread
/// and by helpers on the pool. The caller works from the start instead of
/// sleeping until the pool is done: the helpers' wake-up, which costs
/// tens of microseconds on a virtual machine, overlaps the caller's own
/// chunks instead of preceding them all.
struct ChunkJob {
    kernel: Kernel,
    env: Shared<u8>,
    count: usize,
    /// The next chunk nobody has claimed.
    next: AtomicUsize,
    /// Chunks run or skipped; the loop is over when it reaches `count`.
    finished: AtomicUsize,
    /// Taken by the thread that finishes the last chunk before it wakes
    /// the caller, and by the caller before it sleeps, so that the
    /// wake-up cannot fall between the caller's test and its sleep.
    finished_lock: Mutex<()>,
    all_finished: Condvar,
    /// The lowest chunk that failed so far: the chunks after it need not
    /// run, as a loop run in order would not have reached them.
    failed_from: AtomicUsize,
    first_failure: Mutex<Option<FirstFailure>>,
}

impl ChunkJob {
    /// Claims and runs chunks until every one is claimed. A helper that
    /// starts after the loop is over claims none, and so never calls the
    /// kernel or reads its environment once the caller has returned.
    fn run_chunks(&self) {
        loop {
            let c = self.next.fetch_add(1, Ordering::AcqRel);
            if c >= self.count {
                return;
            }
            if c <= self.failed_from.load(Ordering::Acquire) {
                with_chunk_context(|chunk_ctx| {
                    (self.kernel)(self.env.ptr(), c as i64, chunk_ctx);
                    // SAFETY: the chunk's context, alive and this chunk's.
                    self.keep_first_failure(c, unsafe { &*chunk_ctx }.error());
                });
            }
            if self.finished.fetch_add(1, Ordering::AcqRel) + 1 == self.count {
                let _guard = self.finished_lock.lock().unwrap_or_else(|p| p.into_inner());
                self.all_finished.notify_all();
            }
        }
    }

    /// Keeps chunk `c`'s error if it is the lowest failed so far, and
    /// clears the chunk's error state for the next chunk of its context.
    fn keep_first_failure(&self, c: usize, failed: &ErrorState) {
        if !failed.has_error() {
            return;
        }
        self.failed_from.fetch_min(c, Ordering::AcqRel);
        let mut first = self.first_failure.lock().unwrap_or_else(|p| p.into_inner());
        if first.as_ref().is_none_or(|f| c < f.chunk) {
            let error = ErrorState::new();
            error.take_from(failed);
            *first = Some(FirstFailure { chunk: c, error });
        } else {
            failed.clear();
        }
    }

    /// Returns when every chunk has finished: spins a little first, since
    /// the chunks that others claimed usually end about when the caller's
    /// do, then sleeps.
    fn wait(&self) {
        let done = || self.finished.load(Ordering::Acquire) == self.count;
        for _ in 0..SPINS_BEFORE_SLEEP {
            if done() {
                return;
            }
            std::hint::spin_loop();
        }
        let mut guard = self.finished_lock.lock().unwrap_or_else(|p| p.into_inner());
        while !done() {
            guard = self.all_finished.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// How long [`ChunkJob::wait`] spins before it sleeps (some microseconds).
const SPINS_BEFORE_SLEEP: usize = 20_000;

/// Calls `kernel(env, c, ctx)` for every `c` in `0..chunks` and returns when
/// all are done. One chunk, or every chunk when the pool has one thread,
/// runs on the calling thread with the caller's context `ctx`, in order.
/// More are claimed one at a time by the calling thread and by helpers on
/// the pool ([`ChunkJob`]), each run with a context of the thread that
/// claimed it ([`with_chunk_context`]), and the error of the first chunk
/// that failed, if any, is then raised in `ctx`. A null kernel or
/// `chunks <= 0` does nothing.
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
    let pool = pool().filter(|p| p.current_num_threads() > 1);
    let Some(pool) = pool.filter(|_| count > 1) else {
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
    };
    let job = Arc::new(ChunkJob {
        kernel,
        env: Shared(env),
        count,
        next: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        finished_lock: Mutex::new(()),
        all_finished: Condvar::new(),
        failed_from: AtomicUsize::new(usize::MAX),
        first_failure: Mutex::new(None),
    });
    // Every thread of the pool helps, and the caller works too: one thread
    // more than the pool's size may be ready to run. Chunks are claimed
    // one at a time, so whichever threads the system runs share the work;
    // with a helper fewer, the pool's idle thread spun beside the two that
    // worked and the system often ran the loop at one thread's speed (GMM's
    // large gradient on two threads: a median of 33 ms against 22).
    let helpers = pool.current_num_threads().min(count - 1);
    // Not under `no_unwind`: returning early would leave the helpers the
    // caller's environment. Nothing here panics short of a broken
    // invariant, and a panic out of this `extern "C"` function aborts.
    for _ in 0..helpers {
        let job = Arc::clone(&job);
        pool.spawn(move || job.run_chunks());
    }
    job.run_chunks();
    job.wait();
    let failure = job.first_failure.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(failure) = failure {
        // SAFETY: `ctx` is live (caller's contract); its error state is
        // thread-safe.
        if let Some(caller) = unsafe { ctx.as_ref() } {
            caller.error().take_from(&failure.error);
        }
    }
}
