//! Code generation: LIR to native code, and the C ABI of exported entry points.

pub mod c_abi;
