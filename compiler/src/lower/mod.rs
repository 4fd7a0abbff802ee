//! Lowering: optimised core IR to the loop IR, where memory is explicit.
//!
//! - `lir`: the loop IR's definition (shared with code generation);
//! - `from_core`: the lowering of one entry point;
//! - `marshal`: core values to components and back (shared with the JIT);
//! - `schedule`: the order of a block's statements, for updates in place;
//! - `unread`: drops buffers that are written and never read;
//! - `fuse_loops`: fuses neighbouring element-wise loops;
//! - `fuse_skewed`: fuses a loop with the next one, which starts one index
//!   lower, one iteration behind;
//! - `independent`: marks the loops whose iterations may run at once;
//! - `points_to`: what each pointer may point into (for the two above);
//! - `print`, `verify`: the text form and the checker of a LIR function;
//! - `eval`: a LIR evaluator with simulated memory, for tests;
//! - `abi`, `failure`: the runtime functions and error kinds LIR uses.

pub mod abi;
pub mod check_once;
pub mod eval;
pub mod failure;
pub mod forward_stores;
pub mod from_core;
pub mod fuse_loops;
pub mod fuse_skewed;
pub mod independent;
pub mod lir;
pub mod marshal;
pub mod points_to;
pub mod print;
pub mod schedule;
pub mod unread;
pub mod verify;
