//! Accumulators started from the array they are added to:
//!
//! ```text
//! let l = loop (a, b) = init for i < n do (index_add(a, j, v), g(b))
//! let r = proj(l, 0)
//! let t = add_tangent(x, r)
//! ==
//! let init2 = (add_tangent(x, proj(init, 0)), proj(init, 1))
//! let l = loop (a, b) = init2 for i < n do (index_add(a, j, v), g(b))
//! let r = proj(l, 0)
//! let t = r
//! ```
//!
//! when component 0 of the state is only ever updated by `index_add` or
//! `slice_add` (so the loop adds the same terms to whatever it starts
//! from), `r` is read only by the sum, and `x` is known before the loop.
//! Reverse mode makes such sums wherever a loop's body reads an array the
//! function also reads elsewhere: each of ODE's four stages scatters its
//! parameter cotangent into a zero array beside another accumulator, and
//! the four arrays are then added up. Started from the running sum, each
//! loop adds into it in place: no zero array, and no pass to add it.
//!
//! The `add_tangent_loop` rule does this for a loop whose state is the
//! accumulator alone; with other components, the loop's other projections
//! come before the sum, so the whole block must be seen.

use super::walk::{count_uses, new_binder, rhs_atoms_deep, rhs_blocks_mut};
use crate::core::ir::{Atom, Binder, Block, Func, LoopKind, Rhs, Stmt, Type, VarId};
use crate::prim::Prim;
use crate::HashSet;
use rustc_hash::FxHashMap;

/// Starts each such accumulator of `f` from the array added to it. True
/// when it changed something.
pub fn seed_accumulators(f: &mut Func) -> bool {
    let mut next = f.next_var();
    let mut changed = false;
    // One rewrite at a time: each changes what the next may see.
    loop {
        let uses = count_uses(f);
        if !seed_in(&mut f.body, &uses, &mut next) {
            return changed;
        }
        changed = true;
    }
}

type Uses = FxHashMap<VarId, usize>;

fn seed_in(block: &mut Block, uses: &Uses, next: &mut u32) -> bool {
    for s in &mut block.stmts {
        for (b, _) in rhs_blocks_mut(&mut s.rhs) {
            if seed_in(b, uses, next) {
                return true;
            }
        }
    }
    (0..block.stmts.len()).any(|at| seed_at(block, at, uses, next))
}

/// Applies the rewrite to the sum at `block.stmts[at]`, if it fits.
fn seed_at(block: &mut Block, at: usize, uses: &Uses, next: &mut u32) -> bool {
    let Rhs::Prim(Prim::AddTangent, args) = &block.stmts[at].rhs else {
        return false;
    };
    let position = |v: VarId| block.stmts.iter().position(|s| s.binder.var == v);
    // The loop's field, read only here, and the other addend.
    let field = |a: &Atom| -> Option<(VarId, usize, usize)> {
        let Atom::Var(r) = a else { return None };
        if uses.get(r) != Some(&1) {
            return None;
        }
        let p = position(*r)?;
        let Rhs::Proj(Atom::Var(l), k) = &block.stmts[p].rhs else {
            return None;
        };
        Some((*l, *k, p))
    };
    // Either addend may be the loop's field; the first that fits.
    let candidates = [(field(&args[1]), args[0]), (field(&args[0]), args[1])];
    let Some(Seed { k, x, at_loop, hoist }) = candidates.into_iter().find_map(|(f, x)| fits(block, f?, x, &position))
    else {
        return false;
    };
    let Rhs::Loop(lp) = &block.stmts[at_loop].rhs else {
        return false;
    };
    let Type::Tuple(fields) = &lp.state.ty else {
        return false;
    };
    let span = block.stmts[at_loop].span;
    let init = lp.init;
    let state_ty = lp.state.ty.clone();
    let field_tys = fields.clone();
    let mut fresh = |name: &str, ty: Type| new_binder(next, name, ty);
    let stmt = |binder: Binder, rhs: Rhs| Stmt { binder, rhs, span };
    let mut before = Vec::new();
    let mut inits = Vec::new();
    for (j, ty) in field_tys.iter().enumerate() {
        let p = fresh("init", ty.clone());
        inits.push(p.atom());
        before.push(stmt(p, Rhs::Proj(init, j)));
    }
    let seeded = fresh("init", field_tys[k].clone());
    before.push(stmt(seeded.clone(), Rhs::Prim(Prim::AddTangent, vec![x, inits[k]])));
    inits[k] = seeded.atom();
    let new_init = fresh("init", state_ty);
    before.push(stmt(new_init.clone(), Rhs::Tuple(inits)));
    let sum = block.stmts[at].clone();
    let r = if args[1] == x { args[0] } else { args[1] };
    block.stmts[at] = Stmt {
        rhs: Rhs::Atom(r),
        ..sum
    };
    if let Rhs::Loop(lp) = &mut block.stmts[at_loop].rhs {
        lp.init = new_init.atom();
    }
    if let Some(p) = hoist {
        before.insert(0, block.stmts.remove(p));
    }
    block.stmts.splice(at_loop..at_loop, before);
    true
}

/// A sum the rewrite applies to: field `k` of the loop at `at_loop` plus
/// `x`, known before the loop once the projection at `hoist` (if any)
/// moves above it.
struct Seed {
    k: usize,
    x: Atom,
    at_loop: usize,
    hoist: Option<usize>,
}

/// Whether the sum of field `k` of loop `l` and `x` fits the rewrite.
fn fits(
    block: &Block,
    (l, k, _): (VarId, usize, usize),
    x: Atom,
    position: &dyn Fn(VarId) -> Option<usize>,
) -> Option<Seed> {
    let at_loop = position(l)?;
    let Rhs::Loop(lp) = &block.stmts[at_loop].rhs else {
        return None;
    };
    let Type::Tuple(fields) = &lp.state.ty else {
        return None;
    };
    if !matches!(lp.kind, LoopKind::For { .. })
        || fields.len() <= k
        || !field_read_once(block, l, k)
        || !accumulates_only(&lp.body, lp.state.var, k)
    {
        return None;
    }
    // `x` known before the loop, or a field of a value that is (not of the
    // loop itself): then that projection moves up.
    let hoist = match x {
        Atom::Var(v) => match position(v) {
            Some(p) if p > at_loop => {
                let Rhs::Proj(Atom::Var(u), _) = &block.stmts[p].rhs else {
                    return None;
                };
                if position(*u).is_some_and(|q| q >= at_loop) {
                    return None;
                }
                Some(p)
            }
            _ => None,
        },
        _ => None,
    };
    Some(Seed { k, x, at_loop, hoist })
}

/// True when `block` reads field `k` of `l` once, by a projection, and
/// reads `l` itself only through projections.
fn field_read_once(block: &Block, l: VarId, k: usize) -> bool {
    let mut count = 0;
    let mut whole = false;
    for s in &block.stmts {
        match &s.rhs {
            Rhs::Proj(Atom::Var(v), j) if *v == l => count += usize::from(*j == k),
            rhs => rhs_atoms_deep(rhs, &mut |a| whole |= *a == Atom::Var(l)),
        }
    }
    !whole && block.result != Atom::Var(l) && count == 1
}

/// True when a loop body reads field `k` of its state only to update it
/// with `index_add` or `slice_add`, each value of it read once, and gives
/// the last one back as field `k` of its result (through `if`s too): the
/// loop then adds the same terms to whatever field `k` starts from.
fn accumulates_only(body: &Block, state: VarId, k: usize) -> bool {
    let mut current: HashSet<VarId> = HashSet::default();
    for s in &body.stmts {
        if let Rhs::Proj(Atom::Var(v), j) = &s.rhs {
            if *v == state && *j == k {
                current.insert(s.binder.var);
            }
        }
    }
    // The state itself is read only by projections.
    let mut whole = false;
    for s in &body.stmts {
        match &s.rhs {
            Rhs::Proj(Atom::Var(v), _) if *v == state => {}
            rhs => rhs_atoms_deep(rhs, &mut |a| whole |= *a == Atom::Var(state)),
        }
    }
    let mut consumed = HashSet::default();
    !whole && body.result != Atom::Var(state) && flows(body, k, &mut current, &mut HashSet::default(), &mut consumed)
}

/// Follows the accumulator's values (`current`) through `block`: true when
/// each is read once, by an update (whose result is the next value) or as
/// field `k` of a tuple (`tuples`), never again once read (`consumed`), and
/// the block's result is such a tuple.
fn flows(
    block: &Block,
    k: usize,
    current: &mut HashSet<VarId>,
    tuples: &mut HashSet<VarId>,
    consumed: &mut HashSet<VarId>,
) -> bool {
    let is = |a: &Atom, set: &HashSet<VarId>| matches!(a, Atom::Var(v) if set.contains(v));
    for s in &block.stmts {
        let mut reads_current = 0;
        let mut reads_other = false;
        rhs_atoms_deep(&s.rhs, &mut |a| {
            reads_current += usize::from(is(a, current));
            reads_other |= is(a, tuples) || is(a, consumed);
        });
        if reads_other {
            return false;
        }
        if reads_current == 0 {
            continue;
        }
        let mut consume = |a: &Atom, current: &mut HashSet<VarId>| {
            if let Atom::Var(v) = a {
                current.remove(v);
                consumed.insert(*v);
            }
        };
        match &s.rhs {
            Rhs::Prim(Prim::IndexAdd | Prim::SliceAdd, args) if reads_current == 1 && is(&args[0], current) => {
                consume(&args[0], current);
                current.insert(s.binder.var);
            }
            Rhs::Tuple(fields) if reads_current == 1 && fields.get(k).is_some_and(|f| is(f, current)) => {
                consume(&fields[k], current);
                tuples.insert(s.binder.var);
            }
            Rhs::If(_, then, els) => {
                // Each branch starts from the values before the `if`.
                let (mut c1, mut t1, mut d1) = (current.clone(), HashSet::default(), consumed.clone());
                let (mut c2, mut t2, mut d2) = (current.clone(), HashSet::default(), consumed.clone());
                if !flows(then, k, &mut c1, &mut t1, &mut d1) || !flows(els, k, &mut c2, &mut t2, &mut d2) {
                    return false;
                }
                // Values either branch read are gone after the `if`.
                current.retain(|v| c1.contains(v) && c2.contains(v));
                consumed.extend(d1);
                consumed.extend(d2);
                tuples.insert(s.binder.var);
            }
            _ => return false,
        }
    }
    is(&block.result, tuples)
}
