//! The unary form (placeholder until it lands).
