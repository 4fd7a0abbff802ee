//! Lowering: optimised core IR to the loop IR, where memory is explicit.

pub mod lir;
