//! Code generation: LIR to native code through Cranelift.
//!
//! - `abi`: the runtime functions generated code calls, with their types;
//! - `c_abi`: the C signature of an exported entry point, and its header;
//! - `elementary`: `exp` and `log` inline, as the runtime computes them;
//! - `clif`: one LIR function to Cranelift IR, defined in a module;
//! - `jit`: compiles entry points into memory on first call and runs them;
//! - `object`: compiles entry points ahead of time into an object file
//!   exporting them with the C ABI.

pub mod abi;
pub mod c_abi;
pub mod clif;
pub mod elementary;
pub mod jit;
pub mod object;
mod staging;

#[cfg(test)]
mod tests;
