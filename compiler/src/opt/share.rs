//! Sharing a transcendental value of the index between builds:
//!
//! ```text
//! let a = build(n, \i -> ..; let t = pow(x, to_f64(i)); ..)
//! ..
//! let b = build(n, \j -> ..; let u = pow(x, to_f64(j)); ..)
//! ==
//! let p = build(n, \k -> pow(x, to_f64(k)))
//! let a = build(n, \i -> ..; let t = p[i]; ..)
//! ..
//! let b = build(n, \j -> ..; let u = p[j]; ..)
//! ```
//!
//! when two or more builds over the same `n`, side by side in one block,
//! compute the same transcendental primitive (one that never fails on
//! floats) of their index as a float and of values in scope before the
//! first of them. This is
//! what reverse mode makes of a build that computes such values: its
//! backward sweep builds them again for the cotangent (llsq's powers of
//! `t`), where JAX keeps the matrix of them. One read costs far less than
//! the primitive (the cost model counts 10 flops against 1), so the cost
//! falls; the new build cannot fail, and each value is the one the builds
//! computed, bit for bit.

use super::cost::transcendental;
use super::walk::{fresh_binder, rhs_blocks_mut};
use crate::core::ir::{Atom, Block, Func, Rhs, Stmt, Type, VarId};
use crate::prim::Prim;
use rustc_hash::{FxHashMap, FxHashSet};

/// Shares the transcendental values of the index between the builds of
/// every block of `f`. True when it changed something; the statements
/// left dead go with `dce`.
pub fn share_indexed_values(f: &mut Func) -> bool {
    let mut next = f.next_var();
    let mut types = FxHashMap::default();
    share_in(&mut f.body, &mut next, &mut types)
}

/// An operand of a shared primitive: a value in scope, or the index as a
/// float.
#[derive(Clone, Copy, PartialEq)]
enum Operand {
    Outer(Atom),
    IndexF64,
}

/// A primitive of operands, in builds over `n`.
#[derive(Clone, PartialEq)]
struct Key {
    n: Atom,
    prim: Prim,
    operands: Vec<Operand>,
}

/// Where a key's primitive is: the build's statement in the block, and the
/// primitive's statement in the build's body.
type Site = (usize, usize);

fn share_in(block: &mut Block, next: &mut u32, types: &mut FxHashMap<VarId, Type>) -> bool {
    let mut changed = false;
    for st in &mut block.stmts {
        for (inner, _) in rhs_blocks_mut(&mut st.rhs) {
            changed |= share_in(inner, next, types);
        }
    }
    // Few keys per block: a list compared by `==` (atoms hold floats).
    let mut sites: Vec<(Key, Vec<Site>)> = Vec::new();
    for (pos, st) in block.stmts.iter().enumerate() {
        let Rhs::Build { n, index, body } = &st.rhs else {
            continue;
        };
        let mut seen: Vec<Key> = Vec::new();
        for (k, inner) in body.stmts.iter().enumerate() {
            let Some(key) = key_of(inner, *n, index.var, body) else {
                continue;
            };
            // One site per build: a build computing it twice is CSE's.
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            match sites.iter_mut().find(|(k2, _)| *k2 == key) {
                Some((_, list)) => list.push((pos, k)),
                None => sites.push((key, vec![(pos, k)])),
            }
        }
    }
    // Shared builds go before the first site, in the order of the keys;
    // positions are adjusted as statements are inserted.
    let mut inserted: Vec<usize> = Vec::new();
    for (key, list) in &sites {
        let key = key.clone();
        if list.len() < 2 {
            continue;
        }
        let first = list[0].0;
        if !in_scope_at(block, first, &key) {
            continue;
        }
        let shift = |pos: usize, inserted: &[usize]| pos + inserted.iter().filter(|p| **p <= pos).count();
        let ty = match &block.stmts[shift(list[0].0, &inserted)].rhs {
            Rhs::Build { body, .. } => body.stmts[list[0].1].binder.ty.clone(),
            _ => unreachable!("a site is a build"),
        };
        let at = shift(first, &inserted);
        let span = block.stmts[at].span;
        let shared = fresh_binder(next, types, "shared", Type::array(ty.clone()));
        let index = fresh_binder(next, types, "k", Type::I64);
        let mut stmts = Vec::new();
        let operands: Vec<Atom> = key
            .operands
            .iter()
            .map(|o| match o {
                Operand::Outer(a) => *a,
                Operand::IndexF64 => {
                    let f = fresh_binder(next, types, "f", Type::F64);
                    let atom = f.atom();
                    stmts.push(Stmt {
                        binder: f,
                        rhs: Rhs::Prim(Prim::ToF64, vec![index.atom()]),
                        span,
                    });
                    atom
                }
            })
            .collect();
        let value = fresh_binder(next, types, "v", ty);
        let result = value.atom();
        stmts.push(Stmt {
            binder: value,
            rhs: Rhs::Prim(key.prim, operands),
            span,
        });
        let shared_atom = shared.atom();
        block.stmts.insert(
            at,
            Stmt {
                binder: shared,
                rhs: Rhs::Build {
                    n: key.n,
                    index,
                    body: Block { stmts, result },
                },
                span,
            },
        );
        inserted.push(first);
        for (pos, k) in list {
            let Rhs::Build { index, body, .. } = &mut block.stmts[shift(*pos, &inserted)].rhs else {
                unreachable!("a site is a build");
            };
            body.stmts[*k].rhs = Rhs::Prim(Prim::Index, vec![shared_atom, index.atom()]);
        }
        changed = true;
    }
    changed
}

/// The key of `st`, a statement of the body of a build over `n` with index
/// `i`, when it is a transcendental primitive of values in scope outside
/// the body, of `i` and of `to_f64(i)`.
fn key_of(st: &Stmt, n: Atom, i: VarId, body: &Block) -> Option<Key> {
    let Rhs::Prim(p, args) = &st.rhs else { return None };
    // On floats these give a value (perhaps NaN) and never fail, so the
    // shared build cannot fail before the builds would have.
    let total_on_floats = matches!(
        p,
        Prim::Pow | Prim::Exp | Prim::Log | Prim::Sin | Prim::Cos | Prim::Tan | Prim::Tanh | Prim::Sigmoid
    );
    if !transcendental(*p) || !total_on_floats || st.binder.ty != Type::F64 {
        return None;
    }
    let local = |v: &VarId| body.stmts.iter().find(|s| s.binder.var == *v);
    let mut operands = Vec::with_capacity(args.len());
    let mut indexed = false;
    for a in args {
        let operand = match a {
            // The index itself is an integer: not a float operand.
            Atom::Var(v) if *v == i => return None,
            Atom::Var(v) => match local(v) {
                None => Operand::Outer(*a),
                Some(s) => match &s.rhs {
                    Rhs::Prim(Prim::ToF64, x) if x[..] == [Atom::Var(i)] => Operand::IndexF64,
                    _ => return None,
                },
            },
            _ => Operand::Outer(*a),
        };
        indexed |= operand != Operand::Outer(*a);
        operands.push(operand);
    }
    // A value that does not vary with the index is hoisting's business.
    indexed.then_some(Key { n, prim: *p, operands })
}

/// True when the values the key reads (and `n`) are defined before the
/// statement at `pos` of `block`, or outside it.
fn in_scope_at(block: &Block, pos: usize, key: &Key) -> bool {
    let later: FxHashSet<VarId> = block.stmts[pos..].iter().map(|s| s.binder.var).collect();
    let outer = key.operands.iter().filter_map(|o| match o {
        Operand::Outer(a) => Some(a),
        _ => None,
    });
    outer
        .chain(std::iter::once(&key.n))
        .all(|a| !matches!(a, Atom::Var(v) if later.contains(v)))
}
