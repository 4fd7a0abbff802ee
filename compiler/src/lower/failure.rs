//! The run-time error kinds of docs/runtime-abi.md: the numbers `Fail`
//! carries, and the message each kind makes of its values. The interpreter's
//! messages are these words, so both back ends report the same text.

use crate::core::value::write_f64;

pub const INDEX_OUT_OF_BOUNDS: u32 = 0;
pub const SLICE_OUT_OF_BOUNDS: u32 = 1;
pub const SIZE_MISMATCH: u32 = 2;
pub const INTEGER_DIVISION_BY_ZERO: u32 = 3;
pub const INTEGER_REMAINDER_BY_ZERO: u32 = 4;
pub const NEGATIVE_SIZE: u32 = 5;
/// Values: which reduction (see [`EMPTY_ARGMAX`] and the next three).
pub const EMPTY_REDUCTION: u32 = 6;
pub const NAN_TO_INT: u32 = 7;
/// Values: the f64's bits.
pub const FLOAT_TO_INT_OUT_OF_RANGE: u32 = 8;
pub const NEGATIVE_EXPONENT: u32 = 9;
pub const IRREGULAR_ARRAY: u32 = 10;

/// The value of `EMPTY_REDUCTION` naming the reduction.
pub const EMPTY_ARGMAX: i64 = 0;
pub const EMPTY_ARGMIN: i64 = 1;
pub const EMPTY_MAXIMUM: i64 = 2;
pub const EMPTY_MINIMUM: i64 = 3;

/// The number of values a kind reads.
pub fn arity(kind: u32) -> Option<usize> {
    match kind {
        NAN_TO_INT => Some(0),
        NEGATIVE_SIZE | EMPTY_REDUCTION | FLOAT_TO_INT_OUT_OF_RANGE => Some(1),
        INDEX_OUT_OF_BOUNDS
        | SIZE_MISMATCH
        | INTEGER_DIVISION_BY_ZERO
        | INTEGER_REMAINDER_BY_ZERO
        | NEGATIVE_EXPONENT
        | IRREGULAR_ARRAY => Some(2),
        SLICE_OUT_OF_BOUNDS => Some(3),
        _ => None,
    }
}

/// The message of an error of `kind` with `values` (missing values read as 0).
pub fn message(kind: u32, values: &[i64]) -> String {
    let v = |k: usize| values.get(k).copied().unwrap_or(0);
    match kind {
        INDEX_OUT_OF_BOUNDS => format!("index {} out of bounds for an array of length {}", v(0), v(1)),
        SLICE_OUT_OF_BOUNDS => format!("slice {}:{} out of bounds for an array of length {}", v(0), v(1), v(2)),
        SIZE_MISMATCH => format!("size mismatch: expected {}, got {}", v(0), v(1)),
        INTEGER_DIVISION_BY_ZERO => format!("integer division by zero: {} / {}", v(0), v(1)),
        INTEGER_REMAINDER_BY_ZERO => format!("integer division by zero: {} % {}", v(0), v(1)),
        NEGATIVE_SIZE => format!("negative size: {}", v(0)),
        EMPTY_REDUCTION => {
            let name = match v(0) {
                EMPTY_ARGMAX => "argmax",
                EMPTY_ARGMIN => "argmin",
                EMPTY_MAXIMUM => "maximum",
                _ => "minimum",
            };
            format!("{name} of an empty array")
        }
        NAN_TO_INT => "cannot convert nan to i64".to_string(),
        FLOAT_TO_INT_OUT_OF_RANGE => {
            let mut text = String::new();
            write_f64(&mut text, f64::from_bits(v(0) as u64)).expect("writing to a String");
            format!("cannot convert {text} to i64: out of range")
        }
        NEGATIVE_EXPONENT => format!("negative exponent in integer power: {} ** {}", v(0), v(1)),
        IRREGULAR_ARRAY => format!("irregular array: elements of sizes {} and {}", v(0), v(1)),
        _ => format!("run-time error of unknown kind {kind}"),
    }
}
