//! The dl compiler library: the passes from source text to values.
//!
//! The order of the passes is written in one place, [`driver`].

pub mod ad;
pub mod check;
pub mod codegen;
pub mod core;
pub mod diagnostics;
pub mod driver;
pub mod lower;
pub mod opt;
pub mod prim;
pub mod stages;
pub mod syntax;
pub mod timings;
pub mod unf;
