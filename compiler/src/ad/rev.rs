//! Reverse mode, composed: core -> unary form ([`from_core`]) -> the
//! reverse transformation on the unary form ([`reverse`]) -> core
//! ([`to_core`]). The result is `{f}$vjp` (conventions in `ad`).
//!
//! The transformation on the unary form is functorial: the reversed
//! function runs the body forward, then walks its ops backwards, applying
//! each op's transposed Jacobian to its result's cotangent. Cotangents
//! live at fixed positions: a static map from each source slot to the
//! target slot that holds its cotangent so far; a copy of a slot (an
//! operand reference) transposes to adding into that position
//! (`add_tangent`), a dropped slot to a zero, so after `to_core` the
//! cotangents are SSA chains of additions.
//!
//! Files: `block.rs` (the forward and backward sweeps, simple terms),
//! `map.rs` (`map`, `build`), `cond.rs` (`if`), `fold.rs` (`reduce`,
//! `scan`), `loops.rs` (`for`, `while`), `nest.rs` (which inner loops an outer
//! loop's forward sweep records).
//!
//! Naming: in the code, `c` is the cotangent of the op being transposed;
//! `cts` maps source levels to their cotangents; `env` maps source levels
//! to the target slots holding their primal values.

mod block;
mod cond;
mod fold;
mod loops;
mod map;
mod nest;

use super::AdError;
use crate::core::ir::Program;
use crate::unf::{self, from_core::from_core, to_core::to_core};

/// Adds `{func}$vjp` to the program (once) and returns its name.
pub fn vjp(program: &mut Program, func: &str) -> Result<String, AdError> {
    let name = format!("{func}$vjp");
    if program.func(&name).is_some() {
        return Ok(name);
    }
    let f = program
        .func(func)
        .ok_or_else(|| AdError::new(format!("no function `{func}` to differentiate"), None))?;
    let u = crate::timings::time("ad: to unary form", || from_core(f))?;
    let r = crate::timings::time("ad: reverse", || reverse(&u))?;
    program
        .funcs
        .push(crate::timings::time("ad: from unary form", || to_core(&r)));
    Ok(name)
}

/// The reverse-mode derivative of a unary-form function: `{f}$vjp`, taking
/// the parameters of `f` and the cotangent of its result, returning the
/// result and one cotangent per parameter.
pub fn reverse(f: &unf::Func) -> Result<unf::Func, AdError> {
    block::reverse_func(f)
}
