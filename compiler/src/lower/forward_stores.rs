//! Loads of what the same iteration just stored: in a loop body, `x = load
//! b[i]` after `store b[i] = v` becomes `x = v` when `b` is an arena buffer
//! that only stores and loads reach (no view, copy or call has it), and no
//! other store into `b` comes between.
//!
//! Fusing a loop that writes a temporary row with the loop that reads it
//! (`fuse_loops.rs`) leaves such pairs: GMM's backward sweep writes the two
//! fields of each point's cotangents into rows that the same iteration adds
//! into its sums. Once the loads are gone the rows are written and never
//! read, and `unread.rs` drops them with their allocations.

use super::lir::{each_inst_deep, Expr, Func, Inst, Operand, Var};
use crate::{HashMap, HashSet};

/// Forwards stored values to the loads of the same element in every loop
/// body of `func`; true when it forwarded one.
pub fn forward_stores(func: &mut Func) -> bool {
    let private = private_buffers(&func.body);
    if private.is_empty() {
        return false;
    }
    let mut changed = false;
    forward_in(&mut func.body, &private, &mut changed);
    changed
}

/// The arena buffers set once, by an allocation, and used only as the
/// base of stores and loads.
fn private_buffers(code: &[Inst]) -> HashSet<Var> {
    let mut allocated: HashMap<Var, usize> = HashMap::default();
    let mut other_use: HashSet<Var> = HashSet::default();
    let mut sets: HashMap<Var, usize> = HashMap::default();
    each_inst_deep(code, &mut |inst| {
        let mut used = |o: &Operand| {
            if let Operand::Var(v) = o {
                other_use.insert(*v);
            }
        };
        match inst {
            Inst::Set(v, expr) => {
                *sets.entry(*v).or_insert(0) += 1;
                match expr {
                    Expr::Alloc { n, .. } => {
                        *allocated.entry(*v).or_insert(0) += 1;
                        used(n);
                    }
                    Expr::Load { index, .. } => used(index),
                    other => other.operands().iter().for_each(&mut used),
                }
            }
            Inst::Store { index, value, .. } => {
                used(index);
                used(value);
            }
            Inst::Copy { dst, src, n, .. } => [dst, src, n].into_iter().for_each(used),
            Inst::Call { args, result, .. } => {
                args.iter().for_each(used);
                if let Some(r) = result {
                    *sets.entry(*r).or_insert(0) += 1;
                }
            }
            Inst::If { cond, .. } => used(cond),
            Inst::For { start, end, .. } => [start, end].into_iter().for_each(used),
            Inst::While { test, .. } => used(test),
            Inst::ArenaRelease(m) => used(m),
            Inst::Fail { values, .. } => values.iter().for_each(used),
            Inst::ArenaMark(v) => *sets.entry(*v).or_insert(0) += 1,
        }
    });
    allocated
        .into_iter()
        .filter(|(v, n)| *n == 1 && sets.get(v) == Some(&1) && !other_use.contains(v))
        .map(|(v, _)| v)
        .collect()
}

fn forward_in(code: &mut [Inst], private: &HashSet<Var>, changed: &mut bool) {
    for inst in code.iter_mut() {
        match inst {
            Inst::If { then, els, .. } => {
                forward_in(then, private, changed);
                forward_in(els, private, changed);
            }
            Inst::For { body, .. } => {
                forward_in(body, private, changed);
                forward_straight(body, private, changed);
            }
            Inst::While { cond, body, .. } => {
                forward_in(cond, private, changed);
                forward_in(body, private, changed);
            }
            _ => {}
        }
    }
}

/// Forwards within the straight-line instructions of one loop body: the
/// last value stored at each element of a private buffer, forgotten at any
/// instruction that holds other code or sets what the element's index
/// reads.
fn forward_straight(body: &mut [Inst], private: &HashSet<Var>, changed: &mut bool) {
    let mut stored: HashMap<(Var, OperandKey), (Operand, super::lir::Ty)> = HashMap::default();
    for inst in body.iter_mut() {
        match inst {
            Inst::Store {
                ty,
                base: Operand::Var(b),
                index,
                value,
            } if private.contains(b) => {
                // Another element of the buffer may be this one.
                stored.retain(|(buffer, _), _| buffer != b);
                if key(index) != OperandKey::Other {
                    stored.insert((*b, key(index)), (*value, *ty));
                }
            }
            Inst::Set(
                x,
                Expr::Load {
                    ty,
                    base: Operand::Var(b),
                    index,
                },
            ) => {
                let x = *x;
                let forwarded = match stored.get(&(*b, key(index))) {
                    Some((value, stored_ty)) if stored_ty == ty => Some(*value),
                    _ => None,
                };
                if let Some(value) = forwarded {
                    *inst = Inst::Set(x, Expr::Atom(value));
                    *changed = true;
                }
                forget_set(&mut stored, x);
            }
            Inst::Set(x, _) => {
                let x = *x;
                forget_set(&mut stored, x);
            }
            Inst::Store { .. } | Inst::Fail { .. } | Inst::ArenaRelease(_) | Inst::Copy { .. } => {}
            _ => stored.clear(),
        }
    }
}

/// Drops what an assignment to `x` makes stale: the elements of the buffer
/// `x` or whose index is `x`, and the values `x` was.
fn forget_set(stored: &mut HashMap<(Var, OperandKey), (Operand, super::lir::Ty)>, x: Var) {
    stored.retain(|(buffer, index), (value, _)| {
        *buffer != x && *index != OperandKey::Var(x) && *value != Operand::Var(x)
    });
}

/// An index operand, hashable.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum OperandKey {
    Var(Var),
    I64(i64),
    Other,
}

fn key(o: &Operand) -> OperandKey {
    match o {
        Operand::Var(v) => OperandKey::Var(*v),
        Operand::I64(n) => OperandKey::I64(*n),
        _ => OperandKey::Other,
    }
}
