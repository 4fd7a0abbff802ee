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

/// The compiler's hash maps and sets. Their keys are its own (variable
/// numbers, names, addresses), never an adversary's, so a fast hash
/// serves where the standard library's resists flooding at a cost.
pub type HashMap<K, V> = rustc_hash::FxHashMap<K, V>;
pub type HashSet<T> = rustc_hash::FxHashSet<T>;
