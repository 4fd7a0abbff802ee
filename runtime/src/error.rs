//! Run-time errors: the table of error kinds, their messages, and the error
//! state of a context.
//!
//! Generated code checks a condition, calls `dl_raise` with a kind and up to
//! three values, and returns status 1. The first error of a call wins; later
//! ones (from the same thread or from parallel kernels) are ignored. The
//! message is formatted once, when the error is recorded, from the template
//! of its kind in [`ERROR_KINDS`]; the interpreter formats its own messages
//! of these kinds with [`message`] too, so the two always use the same words.

use std::ffi::{c_char, CString};
use std::fmt::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// How a value of `dl_raise` (`a`, `b` or `c`) is shown in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A signed integer.
    I64,
    /// The bits of an f64, shown as the interpreter shows floats
    /// ([`write_f64`]).
    F64Bits,
    /// The name of a reduction: 0 argmax, 1 argmin, 2 maximum, 3 minimum.
    Reduction,
}

/// One kind of run-time error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorKind {
    /// The number generated code passes to `dl_raise`.
    pub code: i32,
    pub name: &'static str,
    /// The names of the values `a`, `b`, `c` in order (fewer when the kind
    /// has fewer), with how each is shown.
    pub values: &'static [(&'static str, ValueKind)],
    /// The message; `{name}` stands for the value of that name.
    pub template: &'static str,
}

use ValueKind::{F64Bits, Reduction, I64};

/// Every kind of run-time error, indexed by its code.
pub const ERROR_KINDS: &[ErrorKind] = &[
    ErrorKind {
        code: 0,
        name: "index out of bounds",
        values: &[("i", I64), ("n", I64)],
        template: "index {i} out of bounds for an array of length {n}",
    },
    ErrorKind {
        code: 1,
        name: "slice out of bounds",
        values: &[("lo", I64), ("hi", I64), ("n", I64)],
        template: "slice {lo}:{hi} out of bounds for an array of length {n}",
    },
    ErrorKind {
        code: 2,
        name: "size mismatch",
        values: &[("expected", I64), ("actual", I64)],
        template: "size mismatch: expected {expected}, got {actual}",
    },
    ErrorKind {
        code: 3,
        name: "integer division by zero",
        values: &[("a", I64), ("b", I64)],
        template: "integer division by zero: {a} / {b}",
    },
    ErrorKind {
        code: 4,
        name: "integer remainder by zero",
        values: &[("a", I64), ("b", I64)],
        template: "integer division by zero: {a} % {b}",
    },
    ErrorKind {
        code: 5,
        name: "negative size",
        values: &[("n", I64)],
        template: "negative size: {n}",
    },
    ErrorKind {
        code: 6,
        name: "empty reduction",
        values: &[("reduction", Reduction)],
        template: "{reduction} of an empty array",
    },
    ErrorKind {
        code: 7,
        name: "nan to int",
        values: &[("x", F64Bits)],
        template: "cannot convert nan to i64",
    },
    ErrorKind {
        code: 8,
        name: "float to int out of range",
        values: &[("x", F64Bits)],
        template: "cannot convert {x} to i64: out of range",
    },
    ErrorKind {
        code: 9,
        name: "negative exponent",
        values: &[("base", I64), ("exp", I64)],
        template: "negative exponent in integer power: {base} ** {exp}",
    },
    ErrorKind {
        code: 10,
        name: "irregular array",
        values: &[("expected", I64), ("actual", I64)],
        template: "irregular array: elements of sizes {expected} and {actual}",
    },
    ErrorKind {
        code: 11,
        name: "out of memory",
        values: &[("bytes", I64)],
        template: "out of memory: cannot allocate {bytes} bytes",
    },
];

/// The codes of [`ERROR_KINDS`] by name, for code that raises them.
pub mod kind {
    pub const INDEX_OUT_OF_BOUNDS: i32 = 0;
    pub const SLICE_OUT_OF_BOUNDS: i32 = 1;
    pub const SIZE_MISMATCH: i32 = 2;
    pub const INTEGER_DIVISION_BY_ZERO: i32 = 3;
    pub const INTEGER_REMAINDER_BY_ZERO: i32 = 4;
    pub const NEGATIVE_SIZE: i32 = 5;
    pub const EMPTY_REDUCTION: i32 = 6;
    pub const NAN_TO_INT: i32 = 7;
    pub const FLOAT_TO_INT_OUT_OF_RANGE: i32 = 8;
    pub const NEGATIVE_EXPONENT: i32 = 9;
    pub const IRREGULAR_ARRAY: i32 = 10;
    pub const OUT_OF_MEMORY: i32 = 11;
}

/// The reductions of kind 6, by the value `a`.
pub const REDUCTIONS: [&str; 4] = ["argmax", "argmin", "maximum", "minimum"];

/// The kind with code `code`.
pub fn error_kind(code: i32) -> Option<&'static ErrorKind> {
    usize::try_from(code).ok().and_then(|i| ERROR_KINDS.get(i))
}

/// The message of an error of kind `code` with values `a`, `b`, `c`, exactly
/// as the template of its kind says. An unknown kind gets a message that
/// names its number.
pub fn message(code: i32, a: i64, b: i64, c: i64) -> String {
    let Some(kind) = error_kind(code) else {
        return format!("unknown run-time error (kind {code})");
    };
    let values = [a, b, c];
    let mut out = String::with_capacity(kind.template.len() + 16);
    let mut rest = kind.template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = &after[..close];
        match kind.values.iter().position(|(n, _)| *n == name) {
            Some(i) => write_value(&mut out, kind.values[i].1, values[i]),
            None => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn write_value(out: &mut String, kind: ValueKind, v: i64) {
    // Writing to a String cannot fail.
    let _ = match kind {
        ValueKind::I64 => write!(out, "{v}"),
        ValueKind::F64Bits => write_f64(out, f64::from_bits(v as u64)),
        ValueKind::Reduction => match usize::try_from(v).ok().and_then(|i| REDUCTIONS.get(i)) {
            Some(name) => out.write_str(name),
            None => write!(out, "reduction {v}"),
        },
    };
}

/// Writes a float the way dl shows floats: the shortest text that reads back
/// to the same value, always with a `.` or an exponent (`1.0`, `0.1`,
/// `1e-7`, `1e20`, `-0.0`), and `nan`, `inf`, `-inf`.
pub fn write_f64(f: &mut impl fmt::Write, x: f64) -> fmt::Result {
    if x.is_nan() {
        f.write_str("nan")
    } else if x.is_infinite() {
        f.write_str(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        // `{:?}` is the shortest round-trip form.
        let mut text = String::new();
        write!(text, "{x:?}")?;
        f.write_str(&text)?;
        if !text.contains(['.', 'e', 'E']) {
            f.write_str(".0")?;
        }
        Ok(())
    }
}

/// A recorded error.
struct Recorded {
    loc: i32,
    message: CString,
}

/// The error state of a context: empty, or the first error raised since the
/// last clear. Safe to raise from several threads at once.
#[derive(Default)]
pub struct ErrorState {
    /// Set once an error is recorded; a fast check for `dl_has_error`.
    raised: AtomicBool,
    first: Mutex<Option<Recorded>>,
}

impl ErrorState {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Recorded>> {
        // Nothing panics while the lock is held, so it is never poisoned;
        // should it be, the data is still a valid `Option`.
        self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an error unless one is recorded already.
    pub fn raise(&self, kind: i32, loc: i32, a: i64, b: i64, c: i64) {
        if self.raised.load(Ordering::Acquire) {
            return;
        }
        // Formatted outside the lock; a message holds no NUL (the templates
        // have none and numbers print none), the fallback is for safety.
        let text = message(kind, a, b, c);
        let message = CString::new(text).unwrap_or_default();
        let mut first = self.lock();
        if first.is_none() {
            *first = Some(Recorded { loc, message });
            self.raised.store(true, Ordering::Release);
        }
    }

    pub fn has_error(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// The location number of the error, or -1 when there is none.
    pub fn loc(&self) -> i32 {
        self.lock().as_ref().map_or(-1, |r| r.loc)
    }

    /// The message of the error (empty when there is none), as an owned
    /// string.
    pub fn message(&self) -> Option<String> {
        self.lock().as_ref().map(|r| r.message.to_string_lossy().into_owned())
    }

    /// The message as a NUL-terminated string that stays valid until the
    /// error is cleared or the state dropped; an empty string when there is
    /// no error.
    pub fn message_ptr(&self) -> *const c_char {
        match self.lock().as_ref() {
            // The CString's heap buffer does not move while the record lives,
            // and the record lives until `clear` or drop.
            Some(r) => r.message.as_ptr(),
            None => c"".as_ptr(),
        }
    }

    pub fn clear(&self) {
        let mut first = self.lock();
        *first = None;
        self.raised.store(false, Ordering::Release);
    }

    /// Moves the error of `other`, if any, here (where none is recorded
    /// yet), and clears `other`.
    pub fn take_from(&self, other: &ErrorState) {
        let Some(taken) = other.lock().take() else {
            return;
        };
        other.raised.store(false, Ordering::Release);
        let mut first = self.lock();
        if first.is_none() {
            *first = Some(taken);
            self.raised.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_indices() {
        for (i, k) in ERROR_KINDS.iter().enumerate() {
            assert_eq!(k.code as usize, i);
            assert!(k.values.len() <= 3);
        }
    }

    #[test]
    fn every_placeholder_names_a_value() {
        for k in ERROR_KINDS {
            let text = message(k.code, 1, 2, 3);
            assert!(!text.contains('{'), "{text}");
        }
    }
}
