//! The runtime's part of the C ABI of exported entry points (object files
//! and shared libraries): a context per thread, the last error's message
//! with its source location, and freeing results.
//!
//! An exported entry point's wrapper calls `dl_thread_ctx` (a clean context
//! for this thread), then the compiled function, then `dl_entry_finish`,
//! which turns an error into the message `dl_last_error` returns and frees
//! the call's temporaries. So entry points are thread-safe: threads never
//! share a context.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

use crate::context::{dl_arena_reset, dl_clear_error, dl_ctx_free, dl_ctx_new, dl_result_free};
use crate::{no_unwind, DlCtx};

/// A context owned by one thread, freed when the thread ends.
struct ThreadCtx(*mut DlCtx);

impl Drop for ThreadCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `dl_ctx_new` and only this
        // thread-local owns it; the thread is ending, so nothing uses it.
        unsafe { dl_ctx_free(self.0) }
    }
}

thread_local! {
    static CONTEXT: RefCell<Option<ThreadCtx>> = const { RefCell::new(None) };
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// The calling thread's context, with no error and an empty arena (null
/// only when out of memory). Also forgets the thread's last error.
#[no_mangle]
pub extern "C" fn dl_thread_ctx() -> *mut DlCtx {
    no_unwind(std::ptr::null_mut(), || {
        LAST_ERROR.with(|e| e.borrow_mut().take());
        CONTEXT.with(|c| {
            let mut slot = c.borrow_mut();
            let ctx = slot.get_or_insert_with(|| ThreadCtx(dl_ctx_new())).0;
            // SAFETY: `ctx` is this thread's live context and no call is
            // running on it (entry points do not nest).
            unsafe {
                dl_clear_error(ctx);
                dl_arena_reset(ctx);
            }
            ctx
        })
    })
}

/// Ends a call on `ctx` that returned `status`: frees its temporaries and,
/// for a status other than 0, records the error as the thread's last one,
/// prefixed by `locations[loc]` (an array of `count` NUL-terminated source
/// locations such as `prog.dl:3:14`). Returns `status`.
///
/// # Safety
/// `ctx` is null or a live context; `locations` points to `count` valid
/// C strings (or is null with `count` 0).
#[no_mangle]
pub unsafe extern "C" fn dl_entry_finish(
    ctx: *mut DlCtx,
    status: i32,
    locations: *const *const c_char,
    count: i64,
) -> i32 {
    // SAFETY: forwarded from this function's contract.
    let Some(context) = (unsafe { ctx.as_ref() }) else {
        return status;
    };
    if status != 0 {
        let message = context
            .error()
            .message()
            .unwrap_or_else(|| "run-time error".to_string());
        let loc = context.error().loc();
        let place = if loc >= 0 && i64::from(loc) < count && !locations.is_null() {
            // SAFETY: `loc` is in 0..count and `locations` holds `count`
            // valid C strings (caller's contract).
            let text = unsafe { CStr::from_ptr(*locations.add(loc as usize)) };
            format!("{}: ", text.to_string_lossy())
        } else {
            String::new()
        };
        let full = CString::new(format!("{place}error: {message}").replace('\0', " ")).unwrap_or_default();
        LAST_ERROR.with(|e| *e.borrow_mut() = Some(full));
    }
    // SAFETY: forwarded from this function's contract; the call is over.
    unsafe { dl_arena_reset(ctx) };
    status
}

/// The calling thread's last run-time error message, or null. Valid until
/// the thread's next call of an entry point.
#[no_mangle]
pub extern "C" fn dl_last_error() -> *const c_char {
    no_unwind(std::ptr::null(), || {
        LAST_ERROR.with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |s| s.as_ptr()))
    })
}

/// Frees a result buffer of an entry point (null is allowed).
///
/// # Safety
/// `p` is null or a result buffer not yet freed.
#[no_mangle]
pub unsafe extern "C" fn dl_free(p: *mut u8) {
    // SAFETY: result buffers come from `dl_result_alloc` (caller's contract).
    unsafe { dl_result_free(p) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::dl_raise;

    #[test]
    fn errors_carry_their_location_and_stay_until_the_next_call() {
        let ctx = dl_thread_ctx();
        let locations = [c"prog.dl:3:14".as_ptr(), c"prog.dl:7:1".as_ptr()];
        // SAFETY: `ctx` is this thread's context, `locations` holds 2 strings.
        unsafe {
            dl_raise(ctx, 0, 1, 5, 3, 0);
            assert_eq!(dl_entry_finish(ctx, 1, locations.as_ptr(), 2), 1);
        }
        // SAFETY: dl_last_error returned a valid C string.
        let message = unsafe { CStr::from_ptr(dl_last_error()) }.to_str().unwrap().to_string();
        assert_eq!(
            message,
            "prog.dl:7:1: error: index 5 out of bounds for an array of length 3"
        );
        let again = dl_thread_ctx();
        assert_eq!(again, ctx, "one context per thread");
        assert!(dl_last_error().is_null(), "a new call forgets the last error");
    }

    #[test]
    fn threads_get_their_own_contexts() {
        let here = dl_thread_ctx() as usize;
        let there = std::thread::spawn(|| dl_thread_ctx() as usize).join().unwrap();
        assert_ne!(here, there);
    }
}
