//! The reference semantics of every primitive.

/// A run-time error raised by a primitive (out of bounds, size mismatch,
/// division by zero). The interpreter adds the source location.
#[derive(Clone, Debug, PartialEq)]
pub struct PrimError(pub String);
