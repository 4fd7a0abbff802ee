//! Loops that run a known number of times.

use super::{atom, let_, splice, Env, Rewrite};
use crate::core::ir::{Atom, LoopKind, Rhs, Stmt};

// loop s = init for i < n do b == init   (n <= 0)
pub fn for_no_trip(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    match &s.rhs {
        Rhs::Loop(l) => match &l.kind {
            LoopKind::For { n: Atom::I64(n), .. } if *n <= 0 => atom(l.init),
            _ => None,
        },
        _ => None,
    }
}

// loop s = init for i < 1 do b == let s = init; let i = 0; b
pub fn for_one_trip(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    match &s.rhs {
        Rhs::Loop(l) => match &l.kind {
            LoopKind::For { n: Atom::I64(1), index } => {
                let mut stmts = vec![
                    let_(l.state.clone(), Rhs::Atom(l.init), s),
                    let_(index.clone(), Rhs::Atom(Atom::I64(0)), s),
                ];
                stmts.extend(l.body.stmts.iter().cloned());
                splice(stmts, l.body.result)
            }
            _ => None,
        },
        _ => None,
    }
}

// loop s = init while false do b == init
pub fn while_false(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    match &s.rhs {
        Rhs::Loop(l) => match &l.kind {
            LoopKind::While { cond } if cond.result == Atom::Bool(false) => atom(l.init),
            _ => None,
        },
        _ => None,
    }
}
