//! The run-time error kinds of docs/runtime-abi.md that `Fail` carries, as
//! the runtime defines them (`dl_runtime::error`): their numbers, how many
//! values each reads, and its message. The interpreter formats its errors
//! with the same table, so both back ends report the same words.

use dl_runtime::error::{kind, message as runtime_message, ERROR_KINDS};

pub const INDEX_OUT_OF_BOUNDS: u32 = kind::INDEX_OUT_OF_BOUNDS as u32;
pub const SLICE_OUT_OF_BOUNDS: u32 = kind::SLICE_OUT_OF_BOUNDS as u32;
pub const SIZE_MISMATCH: u32 = kind::SIZE_MISMATCH as u32;
pub const INTEGER_DIVISION_BY_ZERO: u32 = kind::INTEGER_DIVISION_BY_ZERO as u32;
pub const INTEGER_REMAINDER_BY_ZERO: u32 = kind::INTEGER_REMAINDER_BY_ZERO as u32;
pub const NEGATIVE_SIZE: u32 = kind::NEGATIVE_SIZE as u32;
/// Its value names the reduction: [`EMPTY_ARGMAX`] and the next three.
pub const EMPTY_REDUCTION: u32 = kind::EMPTY_REDUCTION as u32;
/// Its value is the f64's bits.
pub const NAN_TO_INT: u32 = kind::NAN_TO_INT as u32;
/// Its value is the f64's bits.
pub const FLOAT_TO_INT_OUT_OF_RANGE: u32 = kind::FLOAT_TO_INT_OUT_OF_RANGE as u32;
pub const NEGATIVE_EXPONENT: u32 = kind::NEGATIVE_EXPONENT as u32;
pub const IRREGULAR_ARRAY: u32 = kind::IRREGULAR_ARRAY as u32;
pub const OUT_OF_MEMORY: u32 = kind::OUT_OF_MEMORY as u32;

/// The values of `EMPTY_REDUCTION` (`dl_runtime::error::REDUCTIONS`).
pub const EMPTY_ARGMAX: i64 = 0;
pub const EMPTY_ARGMIN: i64 = 1;
pub const EMPTY_MAXIMUM: i64 = 2;
pub const EMPTY_MINIMUM: i64 = 3;

/// The number of values a kind reads, or `None` for an unknown kind.
pub fn arity(kind: u32) -> Option<usize> {
    ERROR_KINDS.get(kind as usize).map(|k| k.values.len())
}

/// The message of an error of `kind` with `values` (missing values read as 0).
pub fn message(kind: u32, values: &[i64]) -> String {
    let v = |k: usize| values.get(k).copied().unwrap_or(0);
    runtime_message(kind as i32, v(0), v(1), v(2))
}
