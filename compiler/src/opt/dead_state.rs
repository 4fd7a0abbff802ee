//! Dead components of a loop's state:
//!
//! ```text
//! let l = loop (a, b) = init for i < n do (f(a), g(a, b))
//! .. proj(l, 0) .. (and no other read of l)
//! ==
//! let l2 = loop a = proj(init, 0) for i < n do f(a)
//! let l = (l2, proj(init, 1))
//! ```
//!
//! A component is dead when nothing after the loop reads it and no live
//! component is computed from it; its place in the loop's value is then
//! filled by its initial value, which nothing reads either. Reverse mode
//! carries a cotangent for every array a loop body captures, wanted or not
//! (the data of a training loop, say), and a loop copies each component of
//! its state once per iteration unless it is updated in place: a dead
//! component costs its size per iteration. The `loop_component` rule does
//! the same for a loop read by one projection; this pass needs the whole
//! function to know every read.

use super::removable;
use super::walk::{new_binder, rhs_atoms_deep, rhs_blocks_mut};
use crate::core::ir::{Atom, Binder, Block, Func, Loop, LoopKind, Rhs, Stmt, Type, VarId};
use crate::HashSet;
use std::collections::BTreeSet;

/// Drops the dead components of every `for` loop of `f`. True when it
/// changed something.
pub fn drop_dead_components(f: &mut Func) -> bool {
    let mut next = f.next_var();
    drop_in(&mut f.body, &mut next)
}

fn drop_in(block: &mut Block, next: &mut u32) -> bool {
    let mut changed = false;
    for s in &mut block.stmts {
        for (b, _) in rhs_blocks_mut(&mut s.rhs) {
            changed |= drop_in(b, next);
        }
    }
    let mut at = 0;
    while at < block.stmts.len() {
        if let Some(stmts) = drop_at(block, at, next) {
            let len = stmts.len();
            block.stmts.splice(at..=at, stmts);
            at += len;
            changed = true;
        } else {
            at += 1;
        }
    }
    changed
}

/// The fields of `l` read after `block.stmts[at]`, or `None` when `l` is
/// read whole somewhere.
fn fields_read(block: &Block, at: usize, l: VarId) -> Option<BTreeSet<usize>> {
    let mut fields = BTreeSet::new();
    let mut whole = false;
    let mut whole_read = |a: &Atom| whole |= *a == Atom::Var(l);
    for s in &block.stmts[at + 1..] {
        match &s.rhs {
            Rhs::Proj(Atom::Var(v), k) if *v == l => {
                fields.insert(*k);
            }
            rhs => rhs_atoms_deep(rhs, &mut whole_read),
        }
    }
    whole_read(&block.result);
    (!whole).then_some(fields)
}

fn drop_at(block: &Block, at: usize, next: &mut u32) -> Option<Vec<Stmt>> {
    let s = &block.stmts[at];
    let Rhs::Loop(lp) = &s.rhs else { return None };
    let LoopKind::For { .. } = &lp.kind else { return None };
    let Type::Tuple(tys) = &lp.state.ty else { return None };
    let mut live = fields_read(block, at, s.binder.var)?;
    if live.len() == tys.len() {
        return None;
    }
    let fields = lp.body.stmts.iter().find_map(|st| match &st.rhs {
        Rhs::Tuple(fs) if st.binder.atom() == lp.body.result => Some(fs.clone()),
        _ => None,
    })?;
    let state = lp.state.var;
    // The live components and what they need, to a fixpoint: a component
    // read by the computation of a live one is live.
    let needed = loop {
        let mut needed: HashSet<VarId> = HashSet::default();
        let need = |a: &Atom, needed: &mut HashSet<VarId>| {
            if let Atom::Var(v) = a {
                needed.insert(*v);
            }
        };
        for &k in &live {
            need(&fields[k], &mut needed);
        }
        let mut reads = BTreeSet::new();
        let mut whole = false;
        for st in lp.body.stmts.iter().rev() {
            if !needed.contains(&st.binder.var) && removable(&st.rhs) {
                continue;
            }
            needed.insert(st.binder.var);
            match &st.rhs {
                Rhs::Proj(Atom::Var(v), k) if *v == state => {
                    reads.insert(*k);
                }
                rhs => rhs_atoms_deep(rhs, &mut |a| {
                    whole |= *a == Atom::Var(state);
                    need(a, &mut needed);
                }),
            }
        }
        if whole || fields.contains(&Atom::Var(state)) {
            return None;
        }
        if reads.is_subset(&live) {
            break needed;
        }
        live.extend(reads);
    };
    if live.len() == tys.len() {
        return None;
    }
    let mut fresh = |name: &str, ty: Type| new_binder(next, name, ty);
    let span = s.span;
    let stmt = |binder: Binder, rhs: Rhs| Stmt { binder, rhs, span };
    let live: Vec<usize> = live.into_iter().collect();
    // One live component is the state itself, not a tuple of one.
    let single = live.len() == 1;
    let new_ty = match live.as_slice() {
        [k] => tys[*k].clone(),
        _ => Type::Tuple(live.iter().map(|&k| tys[k].clone()).collect()),
    };
    let new_state = fresh(&lp.state.name, new_ty.clone());
    let mut out = Vec::new();
    let mut inits = Vec::new();
    for (k, ty) in tys.iter().enumerate() {
        let p = fresh("init", ty.clone());
        inits.push(p.atom());
        out.push(stmt(p, Rhs::Proj(lp.init, k)));
    }
    let init = if single {
        inits[live[0]]
    } else {
        let init = fresh("init", new_ty.clone());
        out.push(stmt(init.clone(), Rhs::Tuple(live.iter().map(|&k| inits[k]).collect())));
        init.atom()
    };
    let mut body = Vec::new();
    for st in &lp.body.stmts {
        if !needed.contains(&st.binder.var) {
            continue;
        }
        let mut st = st.clone();
        if let Rhs::Proj(Atom::Var(v), k) = &st.rhs {
            if *v == state {
                let pos = live.iter().position(|j| j == k)?;
                st.rhs = if single {
                    Rhs::Atom(new_state.atom())
                } else {
                    Rhs::Proj(new_state.atom(), pos)
                };
            }
        }
        body.push(st);
    }
    let result = if single {
        fields[live[0]]
    } else {
        let result = fresh("s", new_ty.clone());
        body.push(stmt(
            result.clone(),
            Rhs::Tuple(live.iter().map(|&k| fields[k]).collect()),
        ));
        result.atom()
    };
    let kind = lp.kind.clone();
    let l2 = fresh("l", new_ty);
    out.push(stmt(
        l2.clone(),
        Rhs::Loop(Loop {
            state: new_state,
            init,
            kind,
            body: Block { stmts: body, result },
        }),
    ));
    // Dead fields keep their initial value: nothing reads it.
    let mut value = Vec::new();
    for (k, ty) in tys.iter().enumerate() {
        match live.iter().position(|&j| j == k) {
            Some(_) if single => value.push(l2.atom()),
            Some(pos) => {
                let p = fresh("p", ty.clone());
                value.push(p.atom());
                out.push(stmt(p, Rhs::Proj(l2.atom(), pos)));
            }
            None => value.push(inits[k]),
        }
    }
    out.push(stmt(s.binder.clone(), Rhs::Tuple(value)));
    Some(out)
}
