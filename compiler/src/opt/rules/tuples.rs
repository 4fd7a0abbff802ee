//! Tuples: projections of known tuples, and tuples rebuilt from their
//! projections.

use super::{atom, let_, splice, Env, Rewrite};
use crate::core::ir::{Atom, Rhs, Stmt, Type};
use crate::prim::Prim;

// proj((a0, .., an), i) == ai
pub fn proj_tuple(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    match &s.rhs {
        Rhs::Proj(t, i) => match env.def(t) {
            Some(Rhs::Tuple(fields)) => fields.get(*i).copied().and_then(atom),
            _ => None,
        },
        _ => None,
    }
}

// proj(zero_tangent(t), i) == zero_tangent(proj(t, i))
pub fn proj_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Proj(z, i) = &s.rhs else { return None };
    let (Prim::ZeroTangent, [t]) = env.prim_def(z)? else {
        return None;
    };
    let t = *t;
    let Type::Tuple(fields) = env.ty(&t) else { return None };
    let field = env.fresh("p", fields.get(*i)?.clone());
    let zero = env.fresh("z", s.binder.ty.clone());
    let result = zero.atom();
    let stmts = vec![
        let_(field.clone(), Rhs::Proj(t, *i), s),
        let_(zero, Rhs::Prim(Prim::ZeroTangent, vec![field.atom()]), s),
    ];
    splice(stmts, result)
}

// (proj(t, 0), .., proj(t, n-1)) == t   (t of a tuple type with n fields)
pub fn tuple_eta(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Tuple(fields) = &s.rhs else { return None };
    let mut whole: Option<Atom> = None;
    for (k, f) in fields.iter().enumerate() {
        match env.def(f) {
            Some(Rhs::Proj(t, i)) if *i == k && whole.is_none_or(|w| w == *t) => whole = Some(*t),
            _ => return None,
        }
    }
    let t = whole?;
    if env.ty(&t) == s.binder.ty {
        atom(t)
    } else {
        None
    }
}
