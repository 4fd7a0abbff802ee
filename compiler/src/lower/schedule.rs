//! The order in which lowering takes a block's statements, chosen so that
//! more updates can be in place.
//!
//! An update writes an array in place when nothing read later may point
//! into it, and "read later" is per core variable. Two orders hide
//! updates that are free:
//!
//! - **Projections early.** `let p = proj(t, 1)` read after an update of
//!   `t`'s field 0 keeps all of `t` live, field 0 included (reverse mode's
//!   loops carry tuples of cotangents and take their fields apart at
//!   several places of the body). Projections cost no code: each is placed
//!   right after its tuple's definition (at the block's start for a tuple
//!   from outside), so that only the fields read later stay live.
//! - **A row read after its update.** Reverse mode gives
//!   `let u = index_set(x, i, v)` followed by `let r = index(x, i)` (the
//!   transpose of taking a row out of a matrix: its cotangent row is read,
//!   then zeroed). In that order the update copies all of `x` to change
//!   one row. Reads of `x` at the same index move just above the update,
//!   and reads of the row that are live across the update are named, for
//!   the lowering to copy the row out of `x` instead of viewing it. Both
//!   operations check `i` against the length of `x`, so a moved read fails
//!   exactly when the update would; it reports the update's location, so
//!   that the error is the same.

use crate::{HashMap, HashSet};

use crate::core::ir::{Atom, Block, Rhs, Stmt, VarId};
use crate::diagnostics::Span;
use crate::prim::Prim;

use super::from_core::reads_of;

/// A block's statements in the order to lower them.
pub struct Schedule<'b> {
    pub stmts: Vec<&'b Stmt>,
    /// The location that a moved read of a row reports.
    pub spans: HashMap<VarId, Span>,
    /// Reads of a row that are live across an update of its matrix: to be
    /// copied out of the matrix, not viewed, when the update can then be
    /// in place.
    pub copied_rows: HashSet<VarId>,
}

/// The order to lower `block`'s statements in.
pub fn schedule(block: &Block) -> Schedule<'_> {
    let mut schedule = Schedule {
        stmts: projections_early(block),
        spans: HashMap::default(),
        copied_rows: HashSet::default(),
    };
    rows_before_updates(&mut schedule, &block.result);
    schedule
}

/// The statements with each projection right after the definition of its
/// tuple, in their order otherwise.
fn projections_early(block: &Block) -> Vec<&Stmt> {
    let defined: HashSet<VarId> = block.stmts.iter().map(|s| s.binder.var).collect();
    let mut projections: HashMap<VarId, Vec<&Stmt>> = HashMap::default();
    let mut first = Vec::new();
    for stmt in &block.stmts {
        match stmt.rhs {
            Rhs::Proj(Atom::Var(t), _) if defined.contains(&t) => projections.entry(t).or_default().push(stmt),
            Rhs::Proj(Atom::Var(_), _) => first.push(stmt),
            _ => {}
        }
    }
    if projections.is_empty() && first.is_empty() {
        return block.stmts.iter().collect();
    }
    fn place<'b>(stmt: &'b Stmt, projections: &mut HashMap<VarId, Vec<&'b Stmt>>, out: &mut Vec<&'b Stmt>) {
        out.push(stmt);
        for p in projections.remove(&stmt.binder.var).unwrap_or_default() {
            place(p, projections, out);
        }
    }
    let mut out = Vec::with_capacity(block.stmts.len());
    for stmt in first {
        place(stmt, &mut projections, &mut out);
    }
    for stmt in &block.stmts {
        if !matches!(stmt.rhs, Rhs::Proj(Atom::Var(_), _)) {
            place(stmt, &mut projections, &mut out);
        }
    }
    out
}

/// Moves reads of a row above the updates of that row, and names the
/// reads live across an update.
fn rows_before_updates(schedule: &mut Schedule, result: &Atom) {
    let stmts = &mut schedule.stmts;
    let mut k = 0;
    while k < stmts.len() {
        let update: &Stmt = stmts[k];
        let Rhs::Prim(Prim::IndexSet | Prim::IndexAdd, args) = &update.rhs else {
            k += 1;
            continue;
        };
        let (matrix, index) = (&args[0], &args[1]);
        if !matches!(matrix, Atom::Var(_)) {
            k += 1;
            continue;
        }
        let reads_row = |s: &Stmt| matches!(&s.rhs, Rhs::Prim(Prim::Index, a) if a[0] == *matrix && a[1] == *index);
        let span = update.span;
        let mut m = k + 1;
        while m < stmts.len() {
            if reads_row(stmts[m]) {
                let read = stmts.remove(m);
                schedule.spans.insert(read.binder.var, span);
                schedule.copied_rows.insert(read.binder.var);
                stmts.insert(k, read);
                k += 1;
            }
            m += 1;
        }
        if stmts[..k]
            .iter()
            .any(|s| reads_row(s) && !schedule.copied_rows.contains(&s.binder.var))
        {
            let mut live = HashSet::default();
            stmts[k + 1..].iter().for_each(|s| reads_of(&s.rhs, &mut live));
            if let Atom::Var(v) = result {
                live.insert(*v);
            }
            for s in &stmts[..k] {
                if reads_row(s) && live.contains(&s.binder.var) {
                    schedule.copied_rows.insert(s.binder.var);
                }
            }
        }
        k += 1;
    }
}
