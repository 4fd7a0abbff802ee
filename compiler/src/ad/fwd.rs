//! Forward mode (placeholder until it lands).

use super::AdError;
use crate::core::ir::Program;

/// Adds `{func}$jvp` to the program and returns its name.
pub fn jvp(_program: &mut Program, func: &str) -> Result<String, AdError> {
    Err(AdError::new(
        format!("forward mode is not implemented yet (differentiating `{func}`)"),
        None,
    ))
}
