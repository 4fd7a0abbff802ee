//! The loop states whose array lengths never change.
//!
//! A state (or a field of a tuple state) keeps the length of its initial
//! value when every iteration gives back an array of that length: the state
//! itself, a `build` over the initial value's (or the state's) length, a
//! `map` of such an array, or an in-place update of one. By induction the
//! state then has the initial length in every iteration, and so has the
//! loop's result. Rules use this to see that `i < length(state)` for the
//! index of a `build` over the initial length.

use super::Env;
use crate::core::ir::{Atom, Block, Loop, Rhs, Type, VarId};
use crate::prim::Prim;
use rustc_hash::FxHashMap;

/// The parts of `l`'s state (`Some(k)` for field `k` of a tuple, `None`
/// for the whole state) that keep their initial length, with their
/// initial values.
pub fn invariant(l: &Loop, env: &Env) -> Vec<(Option<usize>, Atom)> {
    let body: FxHashMap<VarId, &Rhs> = l.body.stmts.iter().map(|s| (s.binder.var, &s.rhs)).collect();
    let check = Check {
        env,
        body: &body,
        state: l.state.var,
    };
    match &l.state.ty {
        Type::Array(_) => {
            let init = l.init;
            check
                .keeps(&l.body.result, None, &init, 0)
                .then_some(vec![(None, init)])
                .unwrap_or_default()
        }
        Type::Tuple(fields) => {
            let (Some(Rhs::Tuple(inits)), Some(Rhs::Tuple(results))) =
                (env.def(&l.init), def(&body, env, &l.body.result))
            else {
                return Vec::new();
            };
            (0..fields.len())
                .filter(|k| matches!(fields[*k], Type::Array(_)))
                .filter(|k| check.keeps(&results[*k], Some(*k), &inits[*k], 0))
                .map(|k| (Some(k), inits[k]))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The definition of `a`: a statement of the loop's body, or one in scope.
fn def<'a>(body: &FxHashMap<VarId, &'a Rhs>, env: &'a Env, a: &Atom) -> Option<&'a Rhs> {
    match a {
        Atom::Var(v) => body.get(v).copied().or_else(|| env.def(a)),
        _ => None,
    }
}

struct Check<'a, 'p> {
    env: &'a Env<'p>,
    body: &'a FxHashMap<VarId, &'a Rhs>,
    state: VarId,
}

impl Check<'_, '_> {
    /// True when `a` has the length of the state part `field` in every
    /// iteration where that part has the length of `init`.
    fn keeps(&self, a: &Atom, field: Option<usize>, init: &Atom, depth: usize) -> bool {
        if depth > 8 {
            return false;
        }
        if self.is_part(a, field) {
            return true;
        }
        match def(self.body, self.env, a) {
            Some(Rhs::Build { n, .. }) => match def(self.body, self.env, n) {
                Some(Rhs::Prim(Prim::Length, args)) => args[0] == *init || self.is_part(&args[0], field),
                _ => false,
            },
            Some(Rhs::Map { arrays, .. }) => self.keeps(&arrays[0], field, init, depth + 1),
            Some(Rhs::Prim(Prim::IndexSet | Prim::IndexAdd | Prim::SliceAdd | Prim::AddTangent, args)) => {
                self.keeps(&args[0], field, init, depth + 1)
            }
            Some(Rhs::If(_, then, els)) => {
                self.keeps_block(then, field, init, depth + 1) && self.keeps_block(els, field, init, depth + 1)
            }
            _ => false,
        }
    }

    /// The same for the result of a branch, whose statements are not in
    /// `body`: only results defined outside the branch qualify, or an
    /// update of one.
    fn keeps_block(&self, b: &Block, field: Option<usize>, init: &Atom, depth: usize) -> bool {
        match b.stmts.iter().find(|s| Atom::Var(s.binder.var) == b.result) {
            None => self.keeps(&b.result, field, init, depth),
            Some(s) => match &s.rhs {
                Rhs::Prim(Prim::IndexSet | Prim::IndexAdd | Prim::SliceAdd, args) => {
                    self.keeps(&args[0], field, init, depth)
                }
                _ => false,
            },
        }
    }

    /// True when `a` is the state part `field` itself.
    fn is_part(&self, a: &Atom, field: Option<usize>) -> bool {
        match field {
            None => *a == Atom::Var(self.state),
            Some(k) => {
                matches!(def(self.body, self.env, a), Some(Rhs::Proj(Atom::Var(s), j)) if *s == self.state && *j == k)
            }
        }
    }
}
