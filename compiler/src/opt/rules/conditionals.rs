//! Conditionals with a known condition or equal branches.

use super::{atom, Env, Rewrite};
use crate::core::ir::{Atom, Rhs, Stmt};
use crate::prim::Prim;

// if true then a else b == a
pub fn if_true(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    match &s.rhs {
        Rhs::If(Atom::Bool(true), then, _) => Some(Rewrite::Block(then.clone())),
        _ => None,
    }
}

// if false then a else b == b
pub fn if_false(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    match &s.rhs {
        Rhs::If(Atom::Bool(false), _, els) => Some(Rewrite::Block(els.clone())),
        _ => None,
    }
}

// if c then x else x == x
pub fn if_same(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    match &s.rhs {
        Rhs::If(_, a, b) if a.stmts.is_empty() && b.stmts.is_empty() && a.result == b.result => atom(a.result),
        _ => None,
    }
}

// if c then true else false == c;  if c then false else true == not(c)
pub fn if_bool(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    match &s.rhs {
        Rhs::If(c, a, b) if a.stmts.is_empty() && b.stmts.is_empty() => match (a.result, b.result) {
            (Atom::Bool(true), Atom::Bool(false)) => atom(*c),
            (Atom::Bool(false), Atom::Bool(true)) => Some(Rewrite::Rhs(Rhs::Prim(Prim::Not, vec![*c]))),
            _ => None,
        },
        _ => None,
    }
}
