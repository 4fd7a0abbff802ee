//! Reverse mode (placeholder until it lands).

use super::AdError;
use crate::core::ir::Program;

/// Adds `{func}$vjp` to the program and returns its name.
pub fn vjp(_program: &mut Program, func: &str) -> Result<String, AdError> {
    Err(AdError::new(
        format!("reverse mode is not implemented yet (differentiating `{func}`)"),
        None,
    ))
}
