//! Loops that only check: a `for` loop whose body tests sizes and fails,
//! and computes nothing read after an iteration, runs its body once when
//! it runs at all. Each iteration would test the same values, once the
//! computations of the index that nothing reads are gone.
//!
//! The optimiser leaves such loops where it took a sum apart from the
//! checks of its rows (`opt/rules/rows.rs`, GMM's mean): the core IR reads
//! each row's length, which the flat arrays of the LIR hold once for all
//! rows.

use super::lir::{assignment_counts, read_counts, BinOp, Expr, Func, Inst, Operand, Var, VarInfo};
use crate::{HashMap, HashSet};

/// Replaces every loop of `func` that only checks by an `if` on its trip
/// count.
pub fn check_once(func: &mut Func) {
    let mut reads = read_counts(func);
    let assignments = assignment_counts(&func.body);
    let mut body = std::mem::take(&mut func.body);
    let mut new_vars = Vec::new();
    let first = func.vars.len();
    rewrite(&mut body, &mut reads, &assignments, &mut |name| {
        let var = Var((first + new_vars.len()) as u32);
        new_vars.push(VarInfo {
            name: name.to_string(),
            ty: super::lir::Ty::Bool,
        });
        var
    });
    func.vars.extend(new_vars);
    func.body = body;
}

fn rewrite(
    code: &mut Vec<Inst>,
    reads: &mut HashMap<Var, usize>,
    assignments: &HashMap<Var, usize>,
    fresh: &mut dyn FnMut(&str) -> Var,
) {
    for inst in code.iter_mut() {
        match inst {
            Inst::If { then, els, .. } => {
                rewrite(then, reads, assignments, fresh);
                rewrite(els, reads, assignments, fresh);
            }
            Inst::For { body, .. } => rewrite(body, reads, assignments, fresh),
            Inst::While { cond, body, .. } => {
                rewrite(cond, reads, assignments, fresh);
                rewrite(body, reads, assignments, fresh);
            }
            _ => {}
        }
    }
    let mut k = 0;
    while k < code.len() {
        let Inst::For {
            index,
            start,
            end,
            body,
            ..
        } = &mut code[k]
        else {
            k += 1;
            continue;
        };
        let (index, start, end) = (*index, *start, *end);
        let mut trial = body.clone();
        let mut trial_reads = reads.clone();
        drop_dead(&mut trial, &mut trial_reads);
        if !only_checks(&trial, index, &trial_reads, assignments) {
            k += 1;
            continue;
        }
        *reads = trial_reads;
        let runs = fresh("runs");
        // Read by the `if`: an enclosing loop's dead code must keep it.
        reads.insert(runs, 1);
        code[k] = Inst::If {
            cond: Operand::Var(runs),
            then: trial,
            els: Vec::new(),
        };
        code.insert(k, Inst::Set(runs, Expr::Binary(BinOp::ILt, start, end)));
        k += 2;
    }
}

/// Removes the `Set`s of `code` that nothing reads, until none is left,
/// keeping `reads` up to date.
fn drop_dead(code: &mut Vec<Inst>, reads: &mut HashMap<Var, usize>) {
    loop {
        let mut dropped = false;
        code.retain(|inst| match inst {
            Inst::Set(v, expr) if reads.get(v).copied().unwrap_or(0) == 0 => {
                for o in expr.operands() {
                    if let Operand::Var(x) = o {
                        if let Some(n) = reads.get_mut(&x) {
                            *n = n.saturating_sub(1);
                        }
                    }
                }
                dropped = true;
                false
            }
            _ => true,
        });
        for inst in code.iter_mut() {
            if let Inst::If { then, els, .. } = inst {
                drop_dead(then, reads);
                drop_dead(els, reads);
            }
        }
        if !dropped {
            return;
        }
    }
}

/// True when `code` reads neither `index` nor anything an earlier
/// iteration computed, computes nothing read elsewhere, and has no effect
/// but failing: `Set`s of scalars, `if`s and `fail`s.
fn only_checks(code: &[Inst], index: Var, reads: &HashMap<Var, usize>, assignments: &HashMap<Var, usize>) -> bool {
    let here = assignment_counts(code);
    let mut assigned = HashSet::default();
    let mut local_reads: HashMap<Var, usize> = HashMap::default();
    let mut checks = false;
    let ok = walk(code, &here, &mut assigned, &mut local_reads, &mut checks);
    ok && checks
        && !local_reads.contains_key(&index)
        && assigned.iter().all(|v| {
            // Assigned once, here, and read only here.
            assignments.get(v) == Some(&1)
                && reads.get(v).copied().unwrap_or(0) == local_reads.get(v).copied().unwrap_or(0)
        })
}

/// Walks `code`, a loop body whose assignments are `here`: false when it
/// holds anything but scalar `Set`s, `if`s and `fail`s, or reads a
/// variable of the body before the body sets it (a value an earlier
/// iteration computed).
fn walk(
    code: &[Inst],
    here: &HashMap<Var, usize>,
    assigned: &mut HashSet<Var>,
    reads: &mut HashMap<Var, usize>,
    checks: &mut bool,
) -> bool {
    let mut fresh = true;
    let mut read = |o: &Operand, assigned: &HashSet<Var>, reads: &mut HashMap<Var, usize>| {
        if let Operand::Var(v) = o {
            *reads.entry(*v).or_insert(0) += 1;
            fresh &= !here.contains_key(v) || assigned.contains(v);
        }
    };
    for inst in code {
        match inst {
            Inst::Set(v, expr) => {
                if matches!(expr, Expr::Load { .. } | Expr::Alloc { .. }) {
                    return false;
                }
                expr.operands().iter().for_each(|o| read(o, assigned, reads));
                assigned.insert(*v);
            }
            Inst::If { cond, then, els } => {
                read(cond, assigned, reads);
                if !walk(then, here, assigned, reads, checks) || !walk(els, here, assigned, reads, checks) {
                    return false;
                }
            }
            Inst::Fail { values, .. } => {
                values.iter().for_each(|o| read(o, assigned, reads));
                *checks = true;
            }
            _ => return false,
        }
    }
    fresh
}
