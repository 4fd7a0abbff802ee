//! Fusion of two `for` loops of one block over the same trip count that
//! read one array at their index:
//!
//! ```text
//! let l1 = loop s1 = init1 for i1 < n do b1
//! ..
//! let l2 = loop s2 = init2 for i2 < n do b2
//! ==
//! let l = loop s = (init1, init2) for i1 < n do
//!   let s1 = proj(s, 0); b1; let s2 = proj(s, 1); let i2 = i1; b2; (r1, r2)
//! let l1 = proj(l, 0)
//! let l2 = proj(l, 1)
//! ```
//!
//! ..
//!
//! (the fused loop at the first loop's place when the second reads
//! nothing bound in `..`, else at the second's when nothing there reads
//! `l1`), when both bodies read `a[i]` for one array `a` from outside
//! them. Reverse mode makes such pairs: the sums over
//! the rows of a matrix of per-row cotangents into the cotangents of two
//! captured values (GMM's mean and the diagonal of its Q). Fused, the two
//! reads of a row share one, and the rules can then compute each row in
//! its iteration (`index_map`, `index_build`) instead of storing the
//! matrix and reading it twice. The work is the same; a loop goes.

use super::walk::{fresh_binder, rhs_atoms_deep, rhs_blocks_mut};
use crate::core::ir::{Atom, Binder, Block, Func, Loop, LoopKind, Rhs, Stmt, Type, VarId};
use crate::prim::Prim;
use crate::HashSet;
use rustc_hash::FxHashMap;

/// Fuses every such pair of loops in `f`. True when it changed something.
pub fn fuse_sibling_loops(f: &mut Func) -> bool {
    let mut types = FxHashMap::default();
    f.body.visit_binders(&mut |b| {
        types.insert(b.var, b.ty.clone());
    });
    let mut next = f.next_var();
    let mut changed = false;
    while fuse_in(&mut f.body, &mut next, &mut types) {
        changed = true;
    }
    changed
}

/// Fuses one pair in `block` or a block nested in it.
fn fuse_in(block: &mut Block, next: &mut u32, types: &mut FxHashMap<VarId, Type>) -> bool {
    for s in &mut block.stmts {
        for (b, _) in rhs_blocks_mut(&mut s.rhs) {
            if fuse_in(b, next, types) {
                return true;
            }
        }
    }
    for q in 0..block.stmts.len() {
        for p in (0..q).rev() {
            if let Some(at) = placement(block, p, q) {
                fuse(block, p, q, at, next, types);
                return true;
            }
        }
    }
    false
}

/// A `for` loop's trip count, index and body.
fn for_loop(s: &Stmt) -> Option<(&Loop, &Atom, &Binder)> {
    match &s.rhs {
        Rhs::Loop(l) => match &l.kind {
            LoopKind::For { n, index } => Some((l, n, index)),
            LoopKind::While { .. } => None,
        },
        _ => None,
    }
}

/// The arrays that the top level of `body` reads at `index`.
fn read_at(body: &Block, index: &Binder) -> Vec<Atom> {
    body.stmts
        .iter()
        .filter_map(|s| match &s.rhs {
            Rhs::Prim(Prim::Index, args) if args[1] == index.atom() => Some(args[0]),
            _ => None,
        })
        .collect()
}

/// Where the fused loop of the loops at `p` and `q` can go: at `p` when
/// the second loop reads nothing bound between them, at `q` when nothing
/// from `p` on reads the first loop's result.
fn placement(block: &Block, p: usize, q: usize) -> Option<usize> {
    let (Some((l1, n1, i1)), Some((l2, n2, i2))) = (for_loop(&block.stmts[p]), for_loop(&block.stmts[q])) else {
        return None;
    };
    // An array read at the index by both (from outside them, since
    // neither sees the other's binders).
    let shared = read_at(&l2.body, i2);
    if n1 != n2 || !read_at(&l1.body, i1).iter().any(|a| shared.contains(a)) {
        return None;
    }
    let reads = |s: &Stmt, vars: &HashSet<VarId>| {
        let mut found = false;
        rhs_atoms_deep(&s.rhs, &mut |a| found |= matches!(a, Atom::Var(v) if vars.contains(v)));
        found
    };
    let between: HashSet<VarId> = block.stmts[p + 1..q].iter().map(|s| s.binder.var).collect();
    if !reads(&block.stmts[q], &between) {
        return Some(p);
    }
    let first = HashSet::from_iter([block.stmts[p].binder.var]);
    (!block.stmts[p + 1..=q].iter().any(|s| reads(s, &first))).then_some(q)
}

/// Replaces the loops at `p` and `q` by one loop at `at` (one of them).
fn fuse(block: &mut Block, p: usize, q: usize, at: usize, next: &mut u32, types: &mut FxHashMap<VarId, Type>) {
    let second = block.stmts.remove(q);
    let first = block.stmts.remove(p);
    let at = if at == p { p } else { q - 1 };
    let (Rhs::Loop(l1), Rhs::Loop(l2)) = (first.rhs, second.rhs) else {
        unreachable!("placement checked both loops");
    };
    let (LoopKind::For { n, index: i1 }, LoopKind::For { index: i2, .. }) = (l1.kind, l2.kind) else {
        unreachable!("placement checked both for loops");
    };
    let span = second.span;
    let stmt = |binder: Binder, rhs: Rhs| Stmt { binder, rhs, span };
    let state_ty = Type::Tuple(vec![l1.state.ty.clone(), l2.state.ty.clone()]);
    let init = fresh_binder(next, types, "init", state_ty.clone());
    let state = fresh_binder(next, types, "s", state_ty.clone());
    let mut stmts = vec![stmt(l1.state.clone(), Rhs::Proj(state.atom(), 0))];
    stmts.extend(l1.body.stmts);
    stmts.push(stmt(l2.state.clone(), Rhs::Proj(state.atom(), 1)));
    stmts.push(stmt(i2, Rhs::Atom(i1.atom())));
    stmts.extend(l2.body.stmts);
    let result = fresh_binder(next, types, "r", state_ty.clone());
    stmts.push(stmt(result.clone(), Rhs::Tuple(vec![l1.body.result, l2.body.result])));
    let fused = fresh_binder(next, types, "l", state_ty);
    let lp = Rhs::Loop(Loop {
        state,
        init: init.atom(),
        kind: LoopKind::For { n, index: i1 },
        body: Block {
            stmts,
            result: result.atom(),
        },
    });
    let replacement = vec![
        stmt(init, Rhs::Tuple(vec![l1.init, l2.init])),
        stmt(fused.clone(), lp),
        stmt(first.binder, Rhs::Proj(fused.atom(), 0)),
        stmt(second.binder, Rhs::Proj(fused.atom(), 1)),
    ];
    block.stmts.splice(at..at, replacement);
}
