//! The per-call context (`DlCtx`) and the ABI functions for memory and
//! errors: `dl_ctx_*`, `dl_alloc`, `dl_arena_*`, `dl_result_*`, `dl_raise`
//! and `dl_*error*`.
//!
//! A context is used by one call at a time. Within that call, the arena is
//! touched only by the thread that runs the call (a chunk of a parallel
//! loop that runs on another thread gets a context of that thread's own,
//! see `dl_parallel_chunks`), while errors may be raised from any thread.
//! So the context is only ever reached through a shared reference; the
//! arena sits in an `UnsafeCell` and the error state is thread-safe on its
//! own.
//!
//! Every function accepts a null context and then does nothing (returning
//! null, 0 or -1), so a caller that failed to create one cannot crash here.

use std::alloc::{alloc, dealloc, Layout};
use std::cell::UnsafeCell;
use std::ffi::c_char;
use std::mem::offset_of;

use crate::arena::{Arena, Top, ALIGN};
use crate::error::ErrorState;
use crate::no_unwind;

/// The context of one call: its arena and its error state. The arena comes
/// first, so that generated code finds its [`Top`] at the offsets below.
#[repr(C)]
pub struct DlCtx {
    arena: UnsafeCell<Arena>,
    error: ErrorState,
}

/// Where generated code finds the arena's top, end, current chunk base and
/// that chunk's position, as byte offsets from a context pointer.
pub const ARENA_TOP_OFFSET: i32 = (offset_of!(DlCtx, arena) + offset_of!(Arena, fast) + offset_of!(Top, top)) as i32;
pub const ARENA_END_OFFSET: i32 = (offset_of!(DlCtx, arena) + offset_of!(Arena, fast) + offset_of!(Top, end)) as i32;
pub const ARENA_BASE_OFFSET: i32 = (offset_of!(DlCtx, arena) + offset_of!(Arena, fast) + offset_of!(Top, base)) as i32;
pub const ARENA_START_OFFSET: i32 =
    (offset_of!(DlCtx, arena) + offset_of!(Arena, fast) + offset_of!(Top, start)) as i32;

impl Default for DlCtx {
    fn default() -> Self {
        Self::new()
    }
}

impl DlCtx {
    pub fn new() -> Self {
        DlCtx {
            arena: UnsafeCell::new(Arena::new()),
            error: ErrorState::new(),
        }
    }

    pub fn error(&self) -> &ErrorState {
        &self.error
    }

    /// The arena, exclusively.
    pub fn arena(&mut self) -> &mut Arena {
        self.arena.get_mut()
    }
}

/// The context behind `ctx`, shared, or `None` for null.
///
/// # Safety
/// `ctx` is null or came from `dl_ctx_new` and was not freed.
pub(crate) unsafe fn shared<'a>(ctx: *mut DlCtx) -> Option<&'a DlCtx> {
    // SAFETY: by the caller's contract a non-null `ctx` points to a live
    // context; only shared references to it are ever made while it lives.
    unsafe { ctx.as_ref() }
}

/// The arena of `ctx`, exclusively, or `None` for null.
///
/// # Safety
/// As for [`shared`], and no other reference to this arena is alive: the
/// ABI lets only the thread running the call touch the arena, one function
/// at a time.
pub(crate) unsafe fn arena<'a>(ctx: *mut DlCtx) -> Option<&'a mut Arena> {
    // SAFETY: the context is live (caller's contract) and the arena is
    // reached by one thread, one function at a time (the ABI's contract),
    // so this is the only reference to it.
    unsafe { shared(ctx).map(|c| &mut *c.arena.get()) }
}

/// A fresh context (null only if the system is out of memory).
#[no_mangle]
pub extern "C" fn dl_ctx_new() -> *mut DlCtx {
    no_unwind(std::ptr::null_mut(), || Box::into_raw(Box::new(DlCtx::new())))
}

/// Frees a context and its arena; null is allowed.
///
/// # Safety
/// `ctx` is null or came from `dl_ctx_new` and was not freed; nothing uses
/// it afterwards.
#[no_mangle]
pub unsafe extern "C" fn dl_ctx_free(ctx: *mut DlCtx) {
    if !ctx.is_null() {
        // SAFETY: `ctx` came from `Box::into_raw` in `dl_ctx_new` and is
        // freed once (caller's contract).
        drop(unsafe { Box::from_raw(ctx) });
    }
}

/// `bytes` of arena memory, 64-byte aligned and uninitialised. Null for a
/// negative size, a null context, or when the system is out of memory.
///
/// # Safety
/// `ctx` is null or a live context, used by this thread alone for now.
#[no_mangle]
pub unsafe extern "C" fn dl_alloc(ctx: *mut DlCtx, bytes: i64) -> *mut u8 {
    // SAFETY: forwarded from this function's contract.
    let Some(arena) = (unsafe { arena(ctx) }) else {
        return std::ptr::null_mut();
    };
    let Ok(bytes) = usize::try_from(bytes) else {
        return std::ptr::null_mut();
    };
    if let Some(p) = arena.bump(bytes) {
        return p.as_ptr();
    }
    no_unwind(std::ptr::null_mut(), || {
        arena.alloc(bytes).map_or(std::ptr::null_mut(), |p| p.as_ptr())
    })
}

/// The arena's current top, to hand to `dl_arena_release` later.
///
/// # Safety
/// As for `dl_alloc`.
#[no_mangle]
pub unsafe extern "C" fn dl_arena_mark(ctx: *mut DlCtx) -> i64 {
    // SAFETY: forwarded from this function's contract.
    unsafe { arena(ctx) }.map_or(0, |a| a.mark())
}

/// Frees everything allocated since `mark`.
///
/// # Safety
/// As for `dl_alloc`.
#[no_mangle]
pub unsafe extern "C" fn dl_arena_release(ctx: *mut DlCtx, mark: i64) {
    // SAFETY: forwarded from this function's contract.
    if let Some(a) = unsafe { arena(ctx) } {
        a.release(mark);
    }
}

/// Frees everything in the arena, keeping its chunks.
///
/// # Safety
/// As for `dl_alloc`.
#[no_mangle]
pub unsafe extern "C" fn dl_arena_reset(ctx: *mut DlCtx) {
    // SAFETY: forwarded from this function's contract.
    if let Some(a) = unsafe { arena(ctx) } {
        a.reset();
    }
}

/// The header in front of a result buffer: one cache line, which holds the
/// buffer's size in its first 8 bytes and keeps the data 64-byte aligned.
const RESULT_HEADER: usize = ALIGN;

fn result_layout(bytes: usize) -> Option<Layout> {
    Layout::from_size_align(bytes.checked_add(RESULT_HEADER)?, ALIGN).ok()
}

/// Freed result buffers kept for the next results of the same size.
///
/// A program that calls an entry point in a loop gets results of the same
/// sizes every time; a large buffer fresh from the system costs a page
/// fault per 4 KiB page on first touch, more than computing into it. So
/// `dl_result_free` keeps up to [`ResultCache::BLOCKS`] buffers of at least
/// [`ResultCache::MIN_BYTES`] (and [`ResultCache::MAX_TOTAL`] bytes in all),
/// and `dl_result_alloc` reuses one of exactly the size asked for.
struct ResultCache {
    /// `(bytes, base)`: the size the buffer was allocated for and its base
    /// (header included), owned by the cache.
    blocks: Vec<(usize, usize)>,
}

static RESULT_CACHE: std::sync::Mutex<ResultCache> = std::sync::Mutex::new(ResultCache { blocks: Vec::new() });

impl ResultCache {
    const BLOCKS: usize = 8;
    const MIN_BYTES: usize = 256 * 1024;
    const MAX_TOTAL: usize = 256 * 1024 * 1024;

    /// A kept buffer's base allocated for exactly `bytes`, now the caller's.
    fn take(bytes: usize) -> Option<*mut u8> {
        if bytes < Self::MIN_BYTES {
            return None;
        }
        let mut cache = RESULT_CACHE.lock().ok()?;
        let k = cache.blocks.iter().position(|(b, _)| *b == bytes)?;
        Some(std::ptr::with_exposed_provenance_mut(cache.blocks.swap_remove(k).1))
    }

    /// Keeps the buffer at `base` (allocated for `bytes`), or gives it back
    /// when the cache will not hold it.
    fn keep(bytes: usize, base: *mut u8) -> Option<*mut u8> {
        if bytes < Self::MIN_BYTES {
            return Some(base);
        }
        let Ok(mut cache) = RESULT_CACHE.lock() else {
            return Some(base);
        };
        let total: usize = cache.blocks.iter().map(|(b, _)| b).sum();
        if cache.blocks.len() == Self::BLOCKS || total.saturating_add(bytes) > Self::MAX_TOTAL {
            return Some(base);
        }
        cache.blocks.push((bytes, base.expose_provenance()));
        None
    }
}

/// Heap memory, 64-byte aligned, that outlives the call; free it with
/// `dl_result_free`. Null for a negative size or when out of memory. Zero
/// bytes give a unique non-null pointer.
#[no_mangle]
pub extern "C" fn dl_result_alloc(bytes: i64) -> *mut u8 {
    let Ok(bytes) = usize::try_from(bytes) else {
        return std::ptr::null_mut();
    };
    let Some(layout) = result_layout(bytes) else {
        return std::ptr::null_mut();
    };
    let base = match ResultCache::take(bytes) {
        Some(base) => base,
        // SAFETY: the layout is at least RESULT_HEADER > 0 bytes.
        None => unsafe { alloc(layout) },
    };
    if base.is_null() {
        return base;
    }
    // SAFETY: `base` is 64-byte aligned with room for the header, which
    // holds the size at its start; the data begins right after it, inside
    // the same allocation.
    unsafe {
        base.cast::<usize>().write(bytes);
        base.add(RESULT_HEADER)
    }
}

/// Frees a buffer from `dl_result_alloc`; null is allowed.
///
/// # Safety
/// `p` is null or came from `dl_result_alloc` and was not freed.
#[no_mangle]
pub unsafe extern "C" fn dl_result_free(p: *mut u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `dl_result_alloc`, so the header that holds the
    // size starts RESULT_HEADER bytes before it, in the same allocation, and
    // the layout recomputed from that size is the one it was allocated with.
    unsafe {
        let base = p.sub(RESULT_HEADER);
        let bytes = base.cast::<usize>().read();
        if let Some(base) = ResultCache::keep(bytes, base) {
            if let Some(layout) = result_layout(bytes) {
                dealloc(base, layout);
            }
        }
    }
}

/// Records an error of `kind` at location `loc` unless the call has one
/// already. Thread-safe.
///
/// # Safety
/// `ctx` is null or a live context.
#[no_mangle]
pub unsafe extern "C" fn dl_raise(ctx: *mut DlCtx, kind: i32, loc: i32, a: i64, b: i64, c: i64) {
    // SAFETY: forwarded from this function's contract.
    if let Some(ctx) = unsafe { shared(ctx) } {
        no_unwind((), || ctx.error.raise(kind, loc, a, b, c));
    }
}

/// 1 if an error was raised since the last clear, else 0.
///
/// # Safety
/// `ctx` is null or a live context.
#[no_mangle]
pub unsafe extern "C" fn dl_has_error(ctx: *mut DlCtx) -> i32 {
    // SAFETY: forwarded from this function's contract.
    unsafe { shared(ctx) }.map_or(0, |c| i32::from(c.error.has_error()))
}

/// The location number of the error, or -1 when there is none.
///
/// # Safety
/// `ctx` is null or a live context.
#[no_mangle]
pub unsafe extern "C" fn dl_error_loc(ctx: *mut DlCtx) -> i32 {
    // SAFETY: forwarded from this function's contract.
    unsafe { shared(ctx) }.map_or(-1, |c| c.error.loc())
}

/// The error's message, NUL-terminated and owned by the context: valid
/// until `dl_clear_error` or `dl_ctx_free`. Empty when there is no error.
///
/// # Safety
/// `ctx` is null or a live context.
#[no_mangle]
pub unsafe extern "C" fn dl_error_message(ctx: *mut DlCtx) -> *const c_char {
    // SAFETY: forwarded from this function's contract.
    unsafe { shared(ctx) }.map_or(c"".as_ptr(), |c| c.error.message_ptr())
}

/// Forgets the error.
///
/// # Safety
/// `ctx` is null or a live context.
#[no_mangle]
pub unsafe extern "C" fn dl_clear_error(ctx: *mut DlCtx) {
    // SAFETY: forwarded from this function's contract.
    if let Some(c) = unsafe { shared(ctx) } {
        c.error.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the word at `offset` bytes into the context, as generated code does.
    fn word(ctx: *mut DlCtx, offset: i32) -> usize {
        // SAFETY: the offsets are those of `Top`'s word-sized fields inside a
        // live context.
        unsafe { ctx.cast::<u8>().add(offset as usize).cast::<usize>().read() }
    }

    /// A freed large result is handed out again for the same size, and
    /// only for it; small results go straight back to the system.
    #[test]
    fn freed_large_results_are_reused_for_the_same_size() {
        let bytes = ResultCache::MIN_BYTES as i64 + 8 * 1000;
        let first = dl_result_alloc(bytes);
        assert!(!first.is_null());
        // SAFETY: each pointer came from `dl_result_alloc` and is freed once.
        unsafe {
            first.write_bytes(7, bytes as usize);
            dl_result_free(first);
            let other = dl_result_alloc(bytes + 64);
            let again = dl_result_alloc(bytes);
            assert_eq!(again, first);
            assert_ne!(other, first);
            dl_result_free(other);
            dl_result_free(again);
            let small = dl_result_alloc(64);
            dl_result_free(small);
            assert!(RESULT_CACHE
                .lock()
                .unwrap()
                .blocks
                .iter()
                .all(|(b, _)| *b >= ResultCache::MIN_BYTES));
        }
    }

    /// The published offsets find the arena's fast fields, and moving the
    /// top there is what `dl_alloc` and `dl_arena_release` would do.
    #[test]
    fn generated_code_finds_the_arena_top_at_the_published_offsets() {
        let ctx = dl_ctx_new();
        // SAFETY: `ctx` is live until `dl_ctx_free`, used by this thread only.
        unsafe {
            let mark = dl_arena_mark(ctx);
            let p = dl_alloc(ctx, 100) as usize;
            let (top, end, base, start) = (
                word(ctx, ARENA_TOP_OFFSET),
                word(ctx, ARENA_END_OFFSET),
                word(ctx, ARENA_BASE_OFFSET),
                word(ctx, ARENA_START_OFFSET),
            );
            assert_eq!(top, p + 128);
            assert!(base <= p && top <= end);
            assert_eq!((start + top - base) as i64, dl_arena_mark(ctx));
            dl_arena_release(ctx, mark);
            assert_eq!(word(ctx, ARENA_TOP_OFFSET), p);
            dl_ctx_free(ctx);
        }
    }
}
