//! Partial evaluation (placeholder until it lands).
use crate::core::ir::Program;
/// Placeholder: the identity.
pub fn optimize(program: &Program) -> Program {
    program.clone()
}
