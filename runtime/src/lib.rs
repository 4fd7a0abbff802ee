//! The dl runtime: what natively compiled dl code links against. It never
//! imports the compiler; the two share only the ABI (`docs/runtime-abi.md`,
//! and [`abi`] on this side).
//!
//! - [`abi`]: every ABI symbol with its types and address.
//! - [`context`]: the per-call context, arena and result memory, errors.
//! - [`arena`]: the bump allocator behind `dl_alloc`.
//! - [`error`]: the error kinds, their messages, first-error-wins state.
//! - [`math`]: scalar mathematics, shared with the interpreter.
//! - [`kernels`]: whole-buffer transcendental maps.
//! - [`blas`]: matrix products (on the `gemm` crate), dot products and
//!   friends.
//! - [`parallel`]: the thread pool and parallel loops.
//! - [`c_entry`]: per-thread contexts and error messages for exported
//!   entry points (the C ABI of object files).
//!
//! Every `extern "C"` function of the ABI is `#[no_mangle]` and never
//! unwinds: the code behind it either cannot panic or runs under
//! [`std::panic::catch_unwind`]. The ones that take pointers are `unsafe`,
//! with their contract in a `# Safety` section.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod abi;
pub mod arena;
pub mod blas;
pub mod c_entry;
pub mod context;
pub mod elementary;
pub mod error;
pub mod kernels;
pub mod math;
pub mod parallel;

pub use context::DlCtx;

/// Runs `f`, turning a panic into `default` so that it never unwinds into
/// generated code.
pub(crate) fn no_unwind<R>(default: R, f: impl FnOnce() -> R) -> R {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(default)
}
