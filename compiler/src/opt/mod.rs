//! Partial evaluation (placeholder until it lands).
use crate::core::ir::{Func, Program};
/// Placeholder: correct only for functions without calls.
pub fn inline_calls(program: &Program, func: &str) -> Func {
    program.func(func).cloned().expect("the function exists")
}
/// Placeholder: the identity.
pub fn optimize(program: &Program) -> Program {
    program.clone()
}
