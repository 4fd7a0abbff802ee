//! Partial evaluation (placeholder until it lands).
