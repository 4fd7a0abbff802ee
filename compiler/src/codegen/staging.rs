//! Staging a vector loop's elementary functions: which calls of `exp`,
//! `log`, `tanh` and `sigmoid` in the body of a loop that runs in lanes
//! may be computed a block of iterations at a time by the runtime's
//! whole-buffer kernels (`dl_vexp`...), which use the widest vectors the
//! processor has, where generated code has two lanes.
//!
//! The body splits in two around the staged calls ([`stage`]): `before`
//! computes their arguments, whose values code generation stores for a
//! block of iterations; the kernels then compute the calls for the whole
//! block; `after` is the rest of the body, with the calls' results read
//! back. A call whose argument needs another call stays inline in `after`.

use crate::lower::lir::{Expr, Inst, Operand, Var};
use crate::{HashMap, HashSet};

/// A loop body split around its staged calls.
pub(super) struct Staging {
    /// The staged calls: result, argument, and the runtime kernel that
    /// computes a buffer of them, in body order.
    pub calls: Vec<(Var, Operand, &'static str)>,
    /// The body's `Set`s that the staged calls' arguments need, in order.
    pub before: Vec<Inst>,
    /// The body less what only the staged calls' arguments need; the
    /// staged calls stay in it, to be read back rather than computed.
    pub after: Vec<Inst>,
}

/// The runtime's whole-buffer kernel for an elementary function.
pub(super) fn buffer_kernel(func: &str) -> Option<&'static str> {
    match func {
        "dl_exp" => Some("dl_vexp"),
        "dl_log" => Some("dl_vlog"),
        "dl_tanh" => Some("dl_vtanh"),
        "dl_sigmoid" => Some("dl_vsigmoid"),
        _ => None,
    }
}

/// The split of `body` (the straight-line body of a vector loop, whose
/// `reductions` are updated as `acc = acc op x`), or `None` when no call
/// can be staged.
pub(super) fn stage(body: &[Inst], reductions: &HashSet<Var>) -> Option<Staging> {
    // Where each variable of the body is set; a body that sets one twice
    // is left alone.
    let mut defined_at: HashMap<Var, usize> = HashMap::default();
    for (k, inst) in body.iter().enumerate() {
        let var = match inst {
            Inst::Set(var, _) if !reductions.contains(var) => var,
            Inst::Call { result: Some(var), .. } => var,
            _ => continue,
        };
        if defined_at.insert(*var, k).is_some() {
            return None;
        }
    }
    // The arguments are computed for a whole block before any store of
    // the block: a load after a store in the body might read what it
    // stored (each buffer is accessed at one index, so iterations do not
    // see each other's stores).
    let first_store = body
        .iter()
        .position(|inst| matches!(inst, Inst::Store { .. }))
        .unwrap_or(body.len());
    let mut calls = Vec::new();
    let mut needed: HashSet<usize> = HashSet::default();
    for inst in body {
        let Inst::Call {
            func,
            args,
            result: Some(result),
        } = inst
        else {
            continue;
        };
        let (Some(kernel), [arg]) = (buffer_kernel(func), &args[..]) else {
            continue;
        };
        let Some(slice) = argument_slice(body, &defined_at, *arg) else {
            continue;
        };
        let loads_after_a_store = slice
            .iter()
            .any(|&k| k > first_store && matches!(body[k], Inst::Set(_, Expr::Load { .. })));
        if !loads_after_a_store {
            needed.extend(slice);
            calls.push((*result, *arg, kernel));
        }
    }
    if calls.is_empty() {
        return None;
    }
    let before = body
        .iter()
        .enumerate()
        .filter(|(k, _)| needed.contains(k))
        .map(|(_, inst)| inst.clone())
        .collect();
    let staged: HashSet<Var> = calls.iter().map(|(result, ..)| *result).collect();
    Some(Staging {
        calls,
        before,
        after: without_dead_sets(body, &staged, reductions),
    })
}

/// The instructions of `body` that compute `arg`, or `None` when one of
/// them is a call (which would have to be staged first).
fn argument_slice(body: &[Inst], defined_at: &HashMap<Var, usize>, arg: Operand) -> Option<HashSet<usize>> {
    let mut slice = HashSet::default();
    let mut pending: Vec<Var> = match arg {
        Operand::Var(v) => vec![v],
        _ => vec![],
    };
    while let Some(v) = pending.pop() {
        let Some(&k) = defined_at.get(&v) else {
            continue; // an invariant
        };
        if !slice.insert(k) {
            continue;
        }
        let Inst::Set(_, expr) = &body[k] else {
            return None;
        };
        pending.extend(expr_reads(expr));
    }
    Some(slice)
}

fn expr_reads(expr: &Expr) -> impl Iterator<Item = Var> {
    expr.operands().into_iter().filter_map(|o| match o {
        Operand::Var(v) => Some(v),
        _ => None,
    })
}

/// `body` without the `Set`s whose values nothing reads once the `staged`
/// calls' arguments are no longer computed.
fn without_dead_sets(body: &[Inst], staged: &HashSet<Var>, reductions: &HashSet<Var>) -> Vec<Inst> {
    let mut live: HashSet<Var> = HashSet::default();
    let mut keep = vec![true; body.len()];
    for (k, inst) in body.iter().enumerate().rev() {
        let reads: Vec<Operand> = match inst {
            Inst::Set(var, expr) => {
                if !reductions.contains(var) && !live.contains(var) {
                    keep[k] = false;
                    continue;
                }
                expr.operands()
            }
            Inst::Call { result: Some(var), .. } if staged.contains(var) => vec![],
            Inst::Call { args, .. } => args.clone(),
            Inst::Store { base, index, value, .. } => vec![*base, *index, *value],
            _ => unreachable!("a vector loop's body is straight-line code"),
        };
        live.extend(reads.into_iter().filter_map(|o| match o {
            Operand::Var(v) => Some(v),
            _ => None,
        }));
    }
    body.iter()
        .zip(keep)
        .filter(|(_, kept)| *kept)
        .map(|(inst, _)| inst.clone())
        .collect()
}
