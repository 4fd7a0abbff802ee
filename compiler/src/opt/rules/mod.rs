//! The rule catalogue, grouped by theme, one file per theme. Each rule is a
//! function from a statement (and what [`Env`] knows about the variables in
//! scope) to a [`Rewrite`], or `None` when it does not apply; each follows
//! a one-line comment stating the identity it applies. `RULES.md` lists
//! them with the invariants they keep.
//!
//! Copy propagation, common subexpressions and dead code are not here:
//! the driver does them while it walks (see `opt/mod.rs`).

mod algebra;
mod arrays;
mod conditionals;
mod dead;
mod loops;
mod rows;
mod tuples;

use super::{Env, Phase, Rewrite};
use crate::core::ir::{Atom, Binder, Block, Rhs, Stmt};

/// A named rewrite rule and the phases it runs in.
pub struct Rule {
    pub name: &'static str,
    pub phases: &'static [Phase],
    pub apply: fn(&Stmt, &mut Env) -> Option<Rewrite>,
}

const BOTH: &[Phase] = &[Phase::Symbolic, Phase::Final];
const FINAL: &[Phase] = &[Phase::Final];

macro_rules! catalogue {
    ($($module:ident :: $name:ident $(@ $phases:ident)?,)*) => {
        /// Every rule, in the order they are tried at a statement.
        pub const CATALOGUE: &[Rule] = &[$(Rule {
            name: stringify!($name),
            phases: catalogue!(@phases $($phases)?),
            apply: $module::$name,
        },)*];
    };
    (@phases) => { BOTH };
    (@phases $p:ident) => { $p };
}

catalogue! {
    // conditionals
    conditionals::if_true,
    conditionals::if_false,
    conditionals::if_same,
    conditionals::if_bool,
    // loops
    loops::for_no_trip,
    loops::for_one_trip,
    loops::while_false,
    // dead parts
    dead::map_unused_array,
    dead::loop_component,
    dead::if_component,
    // tuples
    tuples::proj_tuple,
    tuples::proj_zero,
    tuples::tuple_eta,
    // algebra
    algebra::const_fold,
    algebra::zero_tangent_nondiff,
    algebra::zero_tangent_f64 @ FINAL,
    algebra::add_zero,
    algebra::sub_zero,
    algebra::zero_sub,
    algebra::mul_one,
    algebra::pow_one,
    algebra::mul_zero_i64,
    algebra::mul_symbolic_zero,
    algebra::div_one,
    algebra::div_symbolic_zero,
    algebra::neg_neg,
    algebra::neg_symbolic_zero,
    algebra::not_not,
    algebra::and_or_literal,
    algebra::convert_same,
    algebra::size_eq_same,
    algebra::check_index_in_range,
    algebra::add_tangent_zero,
    algebra::add_tangent_onehot,
    algebra::add_tangent_update,
    algebra::add_tangent_loop,
    algebra::add_tangent_f64,
    algebra::add_tangent_twice,
    algebra::add_tangent_tuple,
    algebra::sum_zero,
    algebra::index_zero,
    // arrays
    arrays::length_of,
    arrays::index_build,
    arrays::build_identity,
    arrays::build_update,
    arrays::index_map,
    arrays::index_iota,
    arrays::index_replicate,
    arrays::index_array,
    arrays::map_identity,
    arrays::map_fusion,
    arrays::map_same_array,
    arrays::map_replicate,
    arrays::map_reuse,
    arrays::map_proj_field,
    arrays::map_of_build,
    arrays::slice_build,
    arrays::onehot_reduce,
    arrays::onehot_scatter,
    arrays::onehot_loop,
    // sums of rows
    rows::sum_rows_loop,
    rows::sum_rows_of_sum,
    rows::sum_rows_of_product,
}

/// `let binder = rhs`, at the span of the statement being rewritten.
fn let_(binder: Binder, rhs: Rhs, at: &Stmt) -> Stmt {
    Stmt {
        binder,
        rhs,
        span: at.span,
    }
}

/// A block rewrite: `stmts`, then the binder stands for `result`.
fn splice(stmts: Vec<Stmt>, result: Atom) -> Option<Rewrite> {
    Some(Rewrite::Block(Block { stmts, result }))
}

fn atom(a: Atom) -> Option<Rewrite> {
    Some(Rewrite::Rhs(Rhs::Atom(a)))
}
