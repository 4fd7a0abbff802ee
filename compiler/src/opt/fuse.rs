//! Fusion of the sums of one array's elements into one loop:
//!
//! ```text
//! let b = build(n, \i -> body)
//! let r1 = reduce(add_tangent, ne1, map(\t -> proj(t, k1), b))
//! let r2 = reduce(add_tangent, ne2, map(\t -> proj(t, k2), b))
//! ==
//! let l = loop acc = (ne1, ne2) for i < n do
//!   body; (add_tangent(proj(acc, 0), proj(r, k1)), add_tangent(proj(acc, 1), proj(r, k2)))
//! let r1 = proj(l, 0)
//! let r2 = proj(l, 1)
//! ```
//!
//! when `b` is read by these sums only (a sum may also reduce `b` itself).
//! This is what reverse mode of a `map` makes of the cotangents of the
//! variables its body captures: an array of per-element cotangents, each
//! as large as the captured value, summed afterwards. The loop runs the
//! body once per element, as the build did, and adds into accumulators
//! that lowering updates in place; the rules then turn
//! `add_tangent(acc, index_add(zero, j, v))` into `index_add(acc, j, v)`.
//! When the body's result is an `if` (or a tuple or projection of one)
//! read only there, the additions go into its branches, so that each
//! branch adds its own one-hot terms.
//!
//! No element is computed twice and no array of elements is made, so the
//! cost never grows; the sums are reassociated only as the `onehot_scatter`
//! rule does (RULES.md). Components of the elements that no sum reads die.

use super::walk::{block_use_counts, count_uses, fresh_binder, rhs_atoms_deep, rhs_blocks_mut};
use crate::core::ir::{Atom, Binder, Block, Func, Loop, LoopKind, Rhs, Stmt, Type, VarId};
use crate::diagnostics::Span;
use crate::prim::Prim;
use crate::HashMap;
use rustc_hash::FxHashMap;

/// Fuses one group of sums of one array in `f`, the outermost first. True
/// when it changed something; dead code is left for `dce`.
pub fn fuse_reductions(f: &mut Func) -> bool {
    let mut types = FxHashMap::default();
    for p in &f.params {
        types.insert(p.var, p.ty.clone());
    }
    f.body.visit_binders(&mut |b| {
        types.insert(b.var, b.ty.clone());
    });
    let mut fuser = Fuser {
        uses: count_uses(f),
        types,
        next: f.next_var(),
    };
    // One group at a time: the rules may then make new sums of what the
    // fusion left (an outer fusion drops the reads of a cotangent that only
    // the outer array held, and `rows.rs` then sums it), which should fuse
    // with the other sums of the same array.
    fuser.fuse_in(&mut f.body)
}

struct Fuser {
    uses: FxHashMap<VarId, usize>,
    types: FxHashMap<VarId, Type>,
    next: u32,
}

/// A sum of `b`'s elements: the reduce at `reduce` in the block, over the
/// components at `path` of the elements, through the map at `map` if any.
struct Sum {
    path: Vec<usize>,
    reduce: usize,
    map: Option<usize>,
    ne: Atom,
}

impl Fuser {
    fn uses(&self, a: &Atom) -> usize {
        match a {
            Atom::Var(v) => self.uses.get(v).copied().unwrap_or(0),
            _ => 0,
        }
    }

    fn fresh(&mut self, name: &str, ty: Type) -> Binder {
        fresh_binder(&mut self.next, &mut self.types, name, ty)
    }

    fn ty(&self, a: &Atom) -> Type {
        match a {
            Atom::Var(v) => self.types.get(v).cloned().unwrap_or_else(Type::unit),
            Atom::F64(_) => Type::F64,
            Atom::I64(_) => Type::I64,
            Atom::Bool(_) => Type::Bool,
        }
    }

    /// Fuses the groups of `block` or, when it has none, those of the
    /// blocks nested in it. Outer groups first, and not the groups inside
    /// them in the same call: fusing one drops the fields of its elements
    /// that no sum reads, and the rules may then make an inner array's
    /// reads all sums.
    fn fuse_in(&mut self, block: &mut Block) -> bool {
        let mut fused = false;
        let mut counts = None;
        let mut i = 0;
        while i < block.stmts.len() {
            if !self.fusable(block, i) {
                i += 1;
                continue;
            }
            let before = counts.take().unwrap_or_else(|| block_use_counts(block));
            if !self.fuse_at(block, i) {
                counts = Some(before);
                i += 1;
                continue;
            }
            fused = true;
            // A fusion changes what reads what, within this block only.
            let after = block_use_counts(block);
            for (v, n) in &before {
                *self.uses.entry(*v).or_insert(0) -= n;
            }
            for (v, n) in &after {
                *self.uses.entry(*v).or_insert(0) += n;
            }
            counts = Some(after);
        }
        if fused {
            return true;
        }
        for s in &mut block.stmts {
            for (b, _) in rhs_blocks_mut(&mut s.rhs) {
                fused |= self.fuse_in(b);
            }
        }
        fused
    }

    /// The sums of the array bound at `block.stmts[at]`, when they are all
    /// its reads.
    fn sums(&self, block: &Block, at: usize) -> Option<Vec<Sum>> {
        let b = block.stmts[at].binder.atom();
        let mut sums = Vec::new();
        let mut reads = 0;
        for (k, s) in block.stmts.iter().enumerate().skip(at + 1) {
            match &s.rhs {
                Rhs::Reduce(c) if c.array == b && is_add_tangent_reduce(c) => {
                    reads += 1;
                    sums.push(Sum {
                        path: Vec::new(),
                        reduce: k,
                        map: None,
                        ne: c.ne,
                    });
                }
                Rhs::Map { arrays, params, body } if arrays[..] == [b] => {
                    reads += 1;
                    let [p] = body.stmts.as_slice() else { return None };
                    let Rhs::Proj(x, field) = p.rhs else { return None };
                    if x != params[0].atom() || body.result != p.binder.atom() || self.uses(&s.binder.atom()) != 1 {
                        return None;
                    }
                    let m = s.binder.atom();
                    let reduce = block
                        .stmts
                        .iter()
                        .enumerate()
                        .skip(k + 1)
                        .find_map(|(r, st)| match &st.rhs {
                            Rhs::Reduce(c) if c.array == m && is_add_tangent_reduce(c) => Some((r, c.ne)),
                            _ => None,
                        });
                    let (reduce, ne) = reduce?;
                    sums.push(Sum {
                        path: vec![field],
                        reduce,
                        map: Some(k),
                        ne,
                    });
                }
                _ => {}
            }
        }
        (!sums.is_empty() && reads == self.uses(&b)).then_some(sums)
    }

    /// True when `block.stmts[at]` makes an array that only sums read.
    fn fusable(&self, block: &Block, at: usize) -> bool {
        matches!(block.stmts[at].rhs, Rhs::Build { .. } | Rhs::Map { .. }) && self.sums(block, at).is_some()
    }

    fn fuse_at(&mut self, block: &mut Block, at: usize) -> bool {
        if !matches!(block.stmts[at].rhs, Rhs::Build { .. } | Rhs::Map { .. }) {
            return false;
        }
        let Some(sums) = self.sums(block, at) else { return false };
        let span = block.stmts[at].span;
        let mut before = Vec::new();
        // Each accumulator starts at its sum's neutral element, which has
        // to be available before the loop: a zero defined later is made
        // again there.
        let later: HashMap<VarId, &Stmt> = block.stmts[at..].iter().map(|s| (s.binder.var, s)).collect();
        let mut inits = Vec::new();
        let mut hoisted = Vec::new();
        for sum in &sums {
            match sum.ne {
                Atom::Var(v) if later.contains_key(&v) => {
                    if let Rhs::Prim(Prim::ZeroTangent, args) = &later[&v].rhs {
                        if !args.iter().any(|a| matches!(a, Atom::Var(x) if later.contains_key(x))) {
                            let z = self.fresh("t", self.ty(&sum.ne));
                            inits.push(z.atom());
                            before.push(stmt(z, Rhs::Prim(Prim::ZeroTangent, args.clone()), span));
                            continue;
                        }
                    }
                    // Otherwise the statements that make it move before
                    // the loop, when none reads the array being summed.
                    let Some(chain) = hoistable(block, at, v) else {
                        return false;
                    };
                    hoisted.extend(chain);
                    inits.push(sum.ne);
                }
                ne => inits.push(ne),
            }
        }
        hoisted.sort_unstable();
        hoisted.dedup();
        before.splice(0..0, hoisted.iter().map(|&k| block.stmts[k].clone()));
        let tys: Vec<Type> = sums.iter().map(|s| self.ty(&s.ne)).collect();
        let state_ty = Type::Tuple(tys.clone());
        let init = self.fresh("init", state_ty.clone());
        before.push(stmt(init.clone(), Rhs::Tuple(inits), span));
        let producer = block.stmts[at].clone();
        let (n, index, mut body) = match producer.rhs {
            Rhs::Build { n, index, body } => (n, index, body),
            Rhs::Map { arrays, params, body } => {
                // A map is a build over its arrays' common length.
                let len = self.fresh("n", Type::I64);
                before.push(stmt(len.clone(), Rhs::Prim(Prim::Length, vec![arrays[0]]), span));
                for a in &arrays[1..] {
                    let other = self.fresh("n", Type::I64);
                    before.push(stmt(other.clone(), Rhs::Prim(Prim::Length, vec![*a]), span));
                    let same = self.fresh("n", Type::I64);
                    before.push(stmt(
                        same,
                        Rhs::Prim(Prim::SizeEq, vec![len.atom(), other.atom()]),
                        span,
                    ));
                }
                let index = self.fresh("i", Type::I64);
                let mut stmts: Vec<Stmt> = arrays
                    .iter()
                    .zip(params)
                    .map(|(a, p)| stmt(p, Rhs::Prim(Prim::Index, vec![*a, index.atom()]), span))
                    .collect();
                stmts.extend(body.stmts);
                (
                    len.atom(),
                    index,
                    Block {
                        stmts,
                        result: body.result,
                    },
                )
            }
            _ => return false,
        };
        let state = self.fresh("acc", state_ty.clone());
        let mut targets = Vec::new();
        let mut projections = Vec::new();
        for (j, (sum, ty)) in sums.iter().zip(&tys).enumerate() {
            let acc = self.fresh("acc", ty.clone());
            targets.push((sum.path.clone(), acc.atom()));
            projections.push(stmt(acc, Rhs::Proj(state.atom(), j), span));
        }
        projections.append(&mut body.stmts);
        body.stmts = projections;
        let result = body.result;
        let totals = self.accumulate(&mut body.stmts, result, &targets, span);
        let out = self.fresh("acc", state_ty);
        body.stmts.push(stmt(out.clone(), Rhs::Tuple(totals), span));
        body.result = out.atom();
        let lp = self.fresh("l", init.ty.clone());
        let fused = Rhs::Loop(Loop {
            state,
            init: init.atom(),
            kind: LoopKind::For { n, index },
            body,
        });
        before.push(stmt(lp.clone(), fused, span));
        for (j, sum) in sums.iter().enumerate() {
            block.stmts[sum.reduce].rhs = Rhs::Proj(lp.atom(), j);
        }
        let maps: Vec<usize> = sums.iter().filter_map(|s| s.map).collect();
        let old = std::mem::take(&mut block.stmts);
        for (k, s) in old.into_iter().enumerate() {
            if k == at {
                block.stmts.append(&mut before);
            } else if !maps.contains(&k) && !hoisted.contains(&k) {
                block.stmts.push(s);
            }
        }
        true
    }

    /// Adds the components of `r` at each target's path into the target's
    /// accumulator, with statements appended to `stmts` (where `r` is
    /// defined or in scope); the sums, in the order of `targets`. An `if`,
    /// tuple or projection that only this reads is entered, so that the
    /// additions happen where the components are made.
    fn accumulate(&mut self, stmts: &mut Vec<Stmt>, r: Atom, targets: &[(Vec<usize>, Atom)], span: Span) -> Vec<Atom> {
        let local = match r {
            Atom::Var(v) if self.uses(&r) == 1 => stmts.iter().position(|s| s.binder.var == v),
            _ => None,
        };
        if let Some(pos) = local {
            match stmts[pos].rhs.clone() {
                Rhs::Tuple(fields) if targets.iter().all(|(p, _)| !p.is_empty()) => {
                    let mut totals = vec![Atom::Bool(false); targets.len()];
                    let mut done = vec![false; targets.len()];
                    for (j, (path, _)) in targets.iter().enumerate() {
                        if done[j] {
                            continue;
                        }
                        // The targets within the same field go together,
                        // so that an `if` there is entered once.
                        let group: Vec<usize> = (j..targets.len())
                            .filter(|&t| !done[t] && targets[t].0[0] == path[0])
                            .collect();
                        let inner: Vec<(Vec<usize>, Atom)> = group
                            .iter()
                            .map(|&t| (targets[t].0[1..].to_vec(), targets[t].1))
                            .collect();
                        let sums = self.accumulate(stmts, fields[path[0]], &inner, span);
                        for (&t, s) in group.iter().zip(sums) {
                            totals[t] = s;
                            done[t] = true;
                        }
                    }
                    return totals;
                }
                Rhs::Proj(y, k) if self.uses(&y) == 1 => {
                    let inner: Vec<(Vec<usize>, Atom)> = targets
                        .iter()
                        .map(|(p, acc)| (std::iter::once(k).chain(p.iter().copied()).collect(), *acc))
                        .collect();
                    return self.accumulate(stmts, y, &inner, span);
                }
                Rhs::If(c, mut a, mut b) => {
                    let tys: Vec<Type> = targets.iter().map(|(_, acc)| self.ty(acc)).collect();
                    for branch in [&mut a, &mut b] {
                        let sums = self.accumulate(&mut branch.stmts, branch.result, targets, span);
                        let t = self.fresh("acc", Type::Tuple(tys.clone()));
                        branch.stmts.push(stmt(t.clone(), Rhs::Tuple(sums), span));
                        branch.result = t.atom();
                    }
                    // The `if` becomes the one that accumulates; what read
                    // its old value is dead now.
                    let t = self.fresh("acc", Type::Tuple(tys.clone()));
                    stmts[pos] = stmt(t.clone(), Rhs::If(c, a, b), span);
                    return (0..targets.len())
                        .map(|j| {
                            let p = self.fresh("acc", tys[j].clone());
                            stmts.push(stmt(p.clone(), Rhs::Proj(t.atom(), j), span));
                            p.atom()
                        })
                        .collect();
                }
                _ => {}
            }
        }
        targets
            .iter()
            .map(|(path, acc)| {
                let mut x = r;
                for &k in path {
                    let Type::Tuple(fields) = self.ty(&x) else {
                        unreachable!("a sum's path follows the element's tuple type")
                    };
                    let p = self.fresh("p", fields[k].clone());
                    stmts.push(stmt(p.clone(), Rhs::Proj(x, k), span));
                    x = p.atom();
                }
                let t = self.fresh("acc", self.ty(acc));
                stmts.push(stmt(t.clone(), Rhs::Prim(Prim::AddTangent, vec![*acc, x]), span));
                t.atom()
            })
            .collect()
    }
}

/// The positions of the statements after `block.stmts[at]` that make `v`
/// (its definition and what that reads, in order), when none of them is
/// or reads that statement's array: they may then move before it.
fn hoistable(block: &Block, at: usize, v: VarId) -> Option<Vec<usize>> {
    let position: HashMap<VarId, usize> = block.stmts[at..]
        .iter()
        .enumerate()
        .map(|(k, s)| (s.binder.var, at + k))
        .collect();
    let mut chain = Vec::new();
    let mut todo = vec![v];
    while let Some(x) = todo.pop() {
        let Some(&k) = position.get(&x) else { continue };
        if k == at {
            return None;
        }
        if chain.contains(&k) {
            continue;
        }
        chain.push(k);
        rhs_atoms_deep(&block.stmts[k].rhs, &mut |a| {
            if let Atom::Var(y) = a {
                todo.push(*y);
            }
        });
    }
    chain.sort_unstable();
    Some(chain)
}

fn stmt(binder: Binder, rhs: Rhs, span: Span) -> Stmt {
    Stmt { binder, rhs, span }
}

/// True when `c` sums with `add_tangent`.
pub fn is_add_tangent_reduce(c: &crate::core::ir::Combine) -> bool {
    let [op] = c.body.stmts.as_slice() else { return false };
    let Rhs::Prim(Prim::AddTangent, xs) = &op.rhs else {
        return false;
    };
    let (acc, elem) = (c.acc.atom(), c.elem.atom());
    c.body.result == op.binder.atom() && (xs[..] == [acc, elem] || xs[..] == [elem, acc])
}
