//! The thread pool: one rayon pool of the runtime's own, built once on first
//! use, that runs parallel loops (`dl_parallel_chunks`) and the threaded
//! matrix products.
//!
//! Its size is, in order of precedence: the last `dl_set_num_threads` before
//! the pool was built, the `DL_NUM_THREADS` environment variable, the number
//! of cores. A dedicated pool (not rayon's global one) keeps the runtime's
//! size setting from fighting a host program's own use of rayon.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use rayon::prelude::*;

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

/// A parallel kernel of generated code: `kernel(env, chunk)`.
pub type Kernel = extern "C" fn(env: *const u8, chunk: i64);

/// The environment pointer, handed to every chunk.
#[derive(Clone, Copy)]
struct Env(*const u8);

impl Env {
    /// The pointer (a method, so that closures capture the whole `Env`,
    /// which is `Sync`, not its field, which is not).
    fn ptr(self) -> *const u8 {
        self.0
    }
}

// SAFETY: the pointer is only passed back to the kernel; the kernels of one
// loop read the environment and write disjoint per-chunk slots, which the
// ABI requires of the code that generates them.
unsafe impl Send for Env {}
// SAFETY: as above.
unsafe impl Sync for Env {}

/// Calls `kernel(env, c)` for every `c` in `0..chunks` on the pool and
/// returns when all are done. A null kernel or `chunks <= 0` does nothing;
/// one chunk runs on the calling thread.
///
/// # Safety
/// `kernel` is null or a function that may be called with `env` and each
/// chunk number from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn dl_parallel_chunks(kernel: Option<Kernel>, env: *const u8, chunks: i64) {
    let Some(kernel) = kernel else {
        return;
    };
    let count = match usize::try_from(chunks) {
        Ok(0) | Err(_) => return,
        Ok(count) => count,
    };
    if chunks == 1 {
        kernel(env, 0);
        return;
    }
    let env = Env(env);
    no_unwind((), || {
        install(|| {
            // Every chunk is a task of its own: generated code already
            // sized the chunks.
            (0..count)
                .into_par_iter()
                .with_max_len(1)
                .for_each(|c| kernel(env.ptr(), c as i64))
        })
    })
}
