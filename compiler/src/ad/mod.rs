//! Automatic differentiation: forward mode (`fwd`), reverse mode through
//! the unary form (`rev`), and the expansion of the derivative operators of
//! the language into calls of the functions they produce.
//!
//! Conventions shared by both modes (`Type::tangent` gives the types):
//! - `f$jvp(x1..xk, t1..tk) -> (f(x), tangent of the result)`: one tangent
//!   parameter per parameter, of type `p.ty.tangent()` (`()` for a
//!   parameter without f64 in it);
//! - `f$vjp(x1..xk, ct) -> (f(x), (ct_x1, ..., ct_xk))`: the cotangent of
//!   the result in, one cotangent per parameter out.
//!
//! Both transformations take a function without `Call` and `Deriv` nodes:
//! calls are inlined first and derivative operators are expanded innermost
//! first.

pub mod check;
mod expand;
pub mod fwd;
pub mod rev;

pub use expand::expand_derivatives;

use crate::diagnostics::Span;

/// A function that cannot be differentiated (a missing rule, say).
#[derive(Clone, Debug, PartialEq)]
pub struct AdError {
    pub message: String,
    pub span: Option<Span>,
}

impl AdError {
    pub fn new(message: impl Into<String>, span: Option<Span>) -> AdError {
        AdError {
            message: message.into(),
            span,
        }
    }
}

impl std::fmt::Display for AdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AdError {}
