//! Traversals of core IR shared by the driver and the rules: the atoms a
//! right-hand side reads, use counts, substitution and renaming.

use crate::core::ir::{Atom, Binder, Block, Func, LoopKind, Rhs, Type, VarId};
use crate::HashMap;
use rustc_hash::FxHashMap;

/// Calls `f` on every atom that `rhs` reads itself, not those of its
/// nested blocks.
pub fn rhs_atoms(rhs: &Rhs, f: &mut dyn FnMut(&Atom)) {
    match rhs {
        Rhs::Atom(a) | Rhs::Proj(a, _) => f(a),
        Rhs::Prim(_, args) | Rhs::Tuple(args) | Rhs::Array(args, _) | Rhs::Call(_, args) => args.iter().for_each(f),
        Rhs::If(c, _, _) => f(c),
        Rhs::Loop(l) => {
            f(&l.init);
            match &l.kind {
                LoopKind::For { n, .. } => f(n),
                LoopKind::While { .. } => {}
            }
        }
        Rhs::Map { arrays, .. } => arrays.iter().for_each(f),
        Rhs::Build { n, .. } => f(n),
        Rhs::Reduce(c) | Rhs::Scan(c) => {
            f(&c.ne);
            f(&c.array);
        }
        Rhs::Deriv { captured, args, .. } => captured.iter().chain(args).for_each(f),
    }
}

/// [`rhs_atoms`], mutably.
pub fn rhs_atoms_mut(rhs: &mut Rhs, f: &mut dyn FnMut(&mut Atom)) {
    match rhs {
        Rhs::Atom(a) | Rhs::Proj(a, _) => f(a),
        Rhs::Prim(_, args) | Rhs::Tuple(args) | Rhs::Array(args, _) | Rhs::Call(_, args) => args.iter_mut().for_each(f),
        Rhs::If(c, _, _) => f(c),
        Rhs::Loop(l) => {
            f(&mut l.init);
            match &mut l.kind {
                LoopKind::For { n, .. } => f(n),
                LoopKind::While { .. } => {}
            }
        }
        Rhs::Map { arrays, .. } => arrays.iter_mut().for_each(f),
        Rhs::Build { n, .. } => f(n),
        Rhs::Reduce(c) | Rhs::Scan(c) => {
            f(&mut c.ne);
            f(&mut c.array);
        }
        Rhs::Deriv { captured, args, .. } => captured.iter_mut().chain(args.iter_mut()).for_each(f),
    }
}

/// The blocks nested in `rhs`, with the binders each one binds.
pub fn rhs_blocks_mut(rhs: &mut Rhs) -> Vec<(&mut Block, Vec<Binder>)> {
    match rhs {
        Rhs::Atom(_)
        | Rhs::Prim(..)
        | Rhs::Tuple(_)
        | Rhs::Proj(..)
        | Rhs::Array(..)
        | Rhs::Call(..)
        | Rhs::Deriv { .. } => Vec::new(),
        Rhs::If(_, a, b) => vec![(a, Vec::new()), (b, Vec::new())],
        Rhs::Loop(l) => {
            let state = l.state.clone();
            match &mut l.kind {
                LoopKind::For { index, .. } => vec![(&mut l.body, vec![state, index.clone()])],
                LoopKind::While { cond } => vec![(cond, vec![state.clone()]), (&mut l.body, vec![state])],
            }
        }
        Rhs::Map { params, body, .. } => vec![(body, params.clone())],
        Rhs::Build { index, body, .. } => vec![(body, vec![index.clone()])],
        Rhs::Reduce(c) | Rhs::Scan(c) => vec![(&mut c.body, vec![c.acc.clone(), c.elem.clone()])],
    }
}

/// The blocks nested in `rhs`.
pub fn rhs_blocks(rhs: &Rhs) -> Vec<&Block> {
    match rhs {
        Rhs::Atom(_)
        | Rhs::Prim(..)
        | Rhs::Tuple(_)
        | Rhs::Proj(..)
        | Rhs::Array(..)
        | Rhs::Call(..)
        | Rhs::Deriv { .. } => Vec::new(),
        Rhs::If(_, a, b) => vec![a, b],
        Rhs::Loop(l) => match &l.kind {
            LoopKind::For { .. } => vec![&l.body],
            LoopKind::While { cond } => vec![cond, &l.body],
        },
        Rhs::Map { body, .. } | Rhs::Build { body, .. } => vec![body],
        Rhs::Reduce(c) | Rhs::Scan(c) => vec![&c.body],
    }
}

/// True when evaluating `rhs` repeats its nested blocks (a lambda or a
/// loop body), false for `if` and for right-hand sides without blocks.
pub fn repeats(rhs: &Rhs) -> bool {
    match rhs {
        Rhs::Atom(_)
        | Rhs::Prim(..)
        | Rhs::Tuple(_)
        | Rhs::Proj(..)
        | Rhs::Array(..)
        | Rhs::Call(..)
        | Rhs::Deriv { .. }
        | Rhs::If(..) => false,
        Rhs::Loop(_) | Rhs::Map { .. } | Rhs::Build { .. } | Rhs::Reduce(_) | Rhs::Scan(_) => true,
    }
}

/// Calls `f` on every atom read anywhere in `rhs`, nested blocks included.
pub fn rhs_atoms_deep(rhs: &Rhs, f: &mut dyn FnMut(&Atom)) {
    rhs_atoms(rhs, f);
    for b in rhs_blocks(rhs) {
        block_atoms_deep(b, f);
    }
}

/// Calls `f` on every atom read anywhere in `block`, its result included.
pub fn block_atoms_deep(block: &Block, f: &mut dyn FnMut(&Atom)) {
    for s in &block.stmts {
        rhs_atoms_deep(&s.rhs, f);
    }
    f(&block.result);
}

/// How many times each variable is read in `func`, counted syntactically.
pub fn count_uses(func: &Func) -> FxHashMap<VarId, usize> {
    block_use_counts(&func.body)
}

/// How many times each variable is read in `block`, nested blocks
/// included.
pub fn block_use_counts(block: &Block) -> FxHashMap<VarId, usize> {
    let mut uses = FxHashMap::default();
    block_atoms_deep(block, &mut |a| {
        if let Atom::Var(v) = a {
            *uses.entry(*v).or_insert(0) += 1;
        }
    });
    uses
}

/// True when `v` is read anywhere in `block`.
pub fn block_uses(block: &Block, v: VarId) -> bool {
    let mut found = false;
    block_atoms_deep(block, &mut |a| found |= *a == Atom::Var(v));
    found
}

fn subst_atom(a: &mut Atom, map: &HashMap<VarId, Atom>) {
    if let Atom::Var(v) = a {
        if let Some(new) = map.get(v) {
            *a = *new;
        }
    }
}

/// A copy of `block` in which every binder is fresh (numbered from
/// `*next`) and the variables of `map` are replaced: the copy can sit
/// beside the original in one function. `map` gains the renaming.
pub fn rename_block(block: &Block, map: &mut HashMap<VarId, Atom>, next: &mut u32) -> Block {
    let mut out = block.clone();
    rename_in_place(&mut out, map, next);
    out
}

/// A fresh copy of `binder`, recorded in `map`.
pub fn rename_binder(b: &mut Binder, map: &mut HashMap<VarId, Atom>, next: &mut u32) {
    let new = VarId(*next);
    *next += 1;
    map.insert(b.var, Atom::Var(new));
    b.var = new;
}

fn rename_in_place(block: &mut Block, map: &mut HashMap<VarId, Atom>, next: &mut u32) {
    for s in &mut block.stmts {
        rhs_atoms_mut(&mut s.rhs, &mut |a| subst_atom(a, map));
        rename_nested(&mut s.rhs, map, next);
        rename_binder(&mut s.binder, map, next);
    }
    subst_atom(&mut block.result, map);
}

/// Renames the binders of the blocks nested in `rhs` (fresh from `*next`),
/// and the reads of them.
pub fn rename_nested(rhs: &mut Rhs, map: &mut HashMap<VarId, Atom>, next: &mut u32) {
    match rhs {
        Rhs::Atom(_)
        | Rhs::Prim(..)
        | Rhs::Tuple(_)
        | Rhs::Proj(..)
        | Rhs::Array(..)
        | Rhs::Call(..)
        | Rhs::Deriv { .. } => {}
        Rhs::If(_, a, b) => {
            rename_in_place(a, map, next);
            rename_in_place(b, map, next);
        }
        Rhs::Loop(l) => {
            rename_binder(&mut l.state, map, next);
            match &mut l.kind {
                LoopKind::For { index, .. } => rename_binder(index, map, next),
                LoopKind::While { cond } => rename_in_place(cond, map, next),
            }
            rename_in_place(&mut l.body, map, next);
        }
        Rhs::Map { params, body, .. } => {
            for p in params.iter_mut() {
                rename_binder(p, map, next);
            }
            rename_in_place(body, map, next);
        }
        Rhs::Build { index, body, .. } => {
            rename_binder(index, map, next);
            rename_in_place(body, map, next);
        }
        Rhs::Reduce(c) | Rhs::Scan(c) => {
            rename_binder(&mut c.acc, map, next);
            rename_binder(&mut c.elem, map, next);
            rename_in_place(&mut c.body, map, next);
        }
    }
}

/// True when some statement in `block`, nested ones included, satisfies
/// `pred`.
pub fn block_any(block: &Block, pred: &dyn Fn(&Rhs) -> bool) -> bool {
    block
        .stmts
        .iter()
        .any(|s| pred(&s.rhs) || rhs_blocks(&s.rhs).into_iter().any(|b| block_any(b, pred)))
}

/// A fresh binder numbered `*next`, its type recorded in `types`.
pub fn fresh_binder(next: &mut u32, types: &mut FxHashMap<VarId, Type>, name: &str, ty: Type) -> Binder {
    let b = new_binder(next, name, ty);
    types.insert(b.var, b.ty.clone());
    b
}

/// A binder of the next unused variable, for passes that keep no types.
pub fn new_binder(next: &mut u32, name: &str, ty: Type) -> Binder {
    let var = VarId(*next);
    *next += 1;
    Binder {
        var,
        name: name.to_string(),
        ty,
    }
}
