//! Loads of what the same iteration just stored or loaded, and stores the
//! same iteration overwrites: in a loop body, `x = load b[i]` after `store
//! b[i] = v` (or `v = load b[i]`) becomes `x = v` when no store between
//! them may write the same memory, and `store b[i] = v` goes when a later
//! `store b[i] = w` follows with no load between them that may read it. A pointer variable is one
//! buffer position while it is not assigned; whether two may meet is the
//! points-to analysis's answer (`points_to.rs`).
//!
//! Fusing a loop that writes a temporary row with the loop that reads it
//! (`fuse_loops.rs`) leaves such pairs: GMM's backward sweep writes the two
//! fields of each point's cotangents into rows that the same iteration adds
//! into its sums. Once the loads are gone the rows are written and never
//! read, and `unread.rs` drops them with their allocations. Reverse mode's
//! element-wise loops leave the others: ODE's backward step scales a
//! cotangent in place and adds to it in the same iteration (store, load,
//! store).

use super::lir::{Expr, Func, Inst, Operand, Var};
use super::points_to::{copied, copies_through, may_alias, points_to, PointsTo};
use crate::HashMap;

/// Forwards stored values to the loads of the same element, and drops
/// overwritten stores, in every loop body of `func`; true when it changed
/// something.
pub fn forward_stores(func: &mut Func) -> bool {
    let roots = points_to(func);
    let mut changed = false;
    forward_in(&mut func.body, &roots, &mut changed);
    changed
}

fn forward_in(code: &mut [Inst], roots: &PointsTo, changed: &mut bool) {
    for k in 0..code.len() {
        let (before, rest) = code.split_at_mut(k);
        match &mut rest[0] {
            Inst::If { then, els, .. } => {
                forward_in(then, roots, changed);
                forward_in(els, roots, changed);
            }
            Inst::For { body, .. } => {
                forward_in(body, roots, changed);
                let same = Buffers {
                    roots,
                    copies: copies_through(before, &[body]),
                };
                forward_straight(body, &same, changed);
                drop_overwritten(body, &same, changed);
            }
            Inst::While { cond, body, .. } => {
                forward_in(cond, roots, changed);
                forward_in(body, roots, changed);
            }
            _ => {}
        }
    }
}

/// What tells the buffers of one loop body apart: the points-to analysis,
/// and the pointer variables that hold another's value all through the
/// loop (an accumulator's name for the buffer it adds into), each mapped
/// to that other variable.
struct Buffers<'a> {
    roots: &'a PointsTo,
    copies: HashMap<Var, Var>,
}

impl Buffers<'_> {
    /// The variable that names `v`'s buffer for the whole loop.
    fn name(&self, v: Var) -> Var {
        copied(&self.copies, v)
    }

    /// Whether the buffers that `a` and `b` point at may share memory.
    fn may_alias(&self, a: Var, b: Var) -> bool {
        let (a, b) = (self.name(a), self.name(b));
        a == b || may_alias(self.roots, a, b)
    }
}

/// Forwards within the straight-line instructions of one loop body: the
/// last value stored at each element, forgotten at a store that may write
/// over it, at any instruction that holds other code or may write memory,
/// and when what the element's index reads is set.
fn forward_straight(body: &mut [Inst], same: &Buffers, changed: &mut bool) {
    let mut stored: HashMap<(Var, OperandKey), (Operand, super::lir::Ty)> = HashMap::default();
    for inst in body.iter_mut() {
        match inst {
            Inst::Store {
                ty,
                base: Operand::Var(b),
                index,
                value,
            } => {
                // Another element of the buffer, or of one it meets, may
                // be this one.
                stored.retain(|(buffer, _), _| !same.may_alias(*buffer, *b));
                if key(index) != OperandKey::Other {
                    stored.insert((same.name(*b), key(index)), (*value, *ty));
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
                let forwarded = match stored.get(&(same.name(*b), key(index))) {
                    Some((value, stored_ty)) if stored_ty == ty => Some(*value),
                    _ => None,
                };
                let (element, ty) = ((same.name(*b), key(index)), *ty);
                if let Some(value) = forwarded {
                    *inst = Inst::Set(x, Expr::Atom(value));
                    *changed = true;
                }
                forget_set(&mut stored, x);
                // A second load of the element reads what this one did.
                if element.1 != OperandKey::Other && element.0 != x && element.1 != OperandKey::Var(x) {
                    stored.entry(element).or_insert((Operand::Var(x), ty));
                }
            }
            Inst::Set(x, _) => {
                let x = *x;
                forget_set(&mut stored, x);
            }
            Inst::Fail { .. } | Inst::ArenaRelease(_) => {}
            _ => stored.clear(),
        }
    }
}

/// Drops the stores of one loop body's straight-line instructions that a
/// later store of the same iteration writes over, with no load between
/// them that may read the element (nor any instruction that holds other
/// code or reads memory otherwise, nor an assignment of the index).
fn drop_overwritten(body: &mut Vec<Inst>, same: &Buffers, changed: &mut bool) {
    // The stores not yet read, by element: their positions in `body`.
    let mut pending: HashMap<(Var, OperandKey), usize> = HashMap::default();
    let mut dead = Vec::new();
    for (at, inst) in body.iter().enumerate() {
        match inst {
            Inst::Store {
                base: Operand::Var(b),
                index,
                ..
            } => {
                let element = (same.name(*b), key(index));
                if element.1 == OperandKey::Other {
                    continue;
                }
                if let Some(earlier) = pending.insert(element, at) {
                    dead.push(earlier);
                }
            }
            Inst::Set(x, expr) => {
                if let Expr::Load {
                    base: Operand::Var(b), ..
                } = expr
                {
                    pending.retain(|(buffer, _), _| !same.may_alias(*buffer, *b));
                } else if matches!(expr, Expr::Load { .. }) {
                    pending.clear();
                }
                pending.retain(|(buffer, index), _| buffer != x && *index != OperandKey::Var(*x));
            }
            _ => pending.clear(),
        }
    }
    if dead.is_empty() {
        return;
    }
    *changed = true;
    dead.sort_unstable();
    for at in dead.into_iter().rev() {
        body.remove(at);
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
