//! Fuses an element-wise loop with the loop after it that starts one index
//! lower, by running the second one iteration behind the first:
//! `for i in k+1..n { A }` then `for j in k..n { B }` becomes
//! `for i in k+1..n { A; B[j := i - 1] }` then `if n > k { B[j := n - 1] }`.
//!
//! Reverse mode leaves such pairs around every read at `i - 1`: its
//! transpose adds into element `i - 1` (lowering peels element 0 off, so
//! the loop starts at 1), and the loop after it reads the finished sums
//! from element 0 on. ODE's backward step is four of them, each a scatter
//! followed by the loop that adds its sums into the cotangents.
//! `fuse_loops` wants equal ranges, and could not join them anyway:
//! element `j` of the sums is final only once iteration `j + 1` has run.
//!
//! When it is sound: every element that both loops touch, one of them
//! storing, is reached through the same buffer variable (or a copy of it)
//! at the index shifted by a constant, `A` at `i + a` and `B` at `j + b`,
//! with `a == b - 1`: both touch it in the same fused iteration, `A`'s part
//! first (in lanes too). (`a > b - 1` would be sound as well, `A` being
//! done with the element before `B` starts, but in lanes `B` would load
//! across two of `A`'s recent stores, which the processor cannot forward:
//! measured slower than two loops.) Other pairs must be of buffers that no
//! allocation reaches both of. The rest is as in `fuse_loops`: vector
//! loops without reductions, the same end, only movable instructions
//! between them, no variable passed from one body to the other, and `B`
//! reads its index only to index. Chunks of the fused loop may run at
//! once when those of both loops could: each element both touch is touched
//! in one iteration.
//!
//! Where `A` has `i - 1` already, `B` indexes by it, so that
//! `forward_stores` sees one element and gives `B`'s load of a sum the
//! value `A` stored (and drops `A`'s store when `B` overwrites it).

use super::from_core::fits_vector;
use super::fuse_loops::{
    accesses, checked_equal, each_block_inner_first, fusable_loop, loop_parts, movable, read_elsewhere, Assigned,
    LoopParts, Reads,
};
use super::lir::{
    assignment_counts, each_assignment, each_read, index_shift, read_counts, BinOp, Expr, Func, Inst, LoopHint,
    Operand, Ty, Var, VarInfo,
};
use super::points_to::{copied, copies_through, may_alias, points_to, PointsTo};
use crate::{HashMap, HashSet};

/// Fuses each loop of `func` with a following loop that starts one lower.
pub fn fuse_skewed(func: &mut Func) {
    let once: HashSet<Var> = assignment_counts(&func.body)
        .into_iter()
        .filter(|&(_, n)| n == 1)
        .map(|(v, _)| v)
        .collect();
    let facts = Facts {
        roots: points_to(func),
        once,
        reads: read_counts(func),
    };
    let mut body = std::mem::take(&mut func.body);
    let vars = &mut func.vars;
    each_block_inner_first(&mut body, &mut |code| fuse_in_block(code, &facts, vars));
    func.body = body;
}

/// What the pass knows of the whole function before it changes it. The
/// variables it adds are read only in what it builds, which it does not
/// fuse again.
struct Facts {
    roots: PointsTo,
    /// The variables assigned exactly once.
    once: HashSet<Var>,
    reads: Reads,
}

fn fuse_in_block(code: &mut Vec<Inst>, facts: &Facts, vars: &mut Vec<VarInfo>) {
    let mut first = 0;
    while first < code.len() {
        if !fusable_loop(&code[first]) {
            first += 1;
            continue;
        }
        let Some(second) = (first + 1..code.len()).find(|&k| !movable(&code[k])) else {
            break;
        };
        let fits = fusable_loop(&code[second]) && skew_fits(code, first, second, facts);
        let Some((fused, tail)) = fits.then(|| fuse(&code[first], &code[second], vars)).flatten() else {
            first += 1;
            continue;
        };
        code.remove(second);
        let moved: Vec<Inst> = code.drain(first + 1..second).collect();
        code[first] = fused;
        let after = first + 1;
        let tail_len = tail.len();
        code.splice(after..after, tail);
        let count = moved.len();
        code.splice(first..first, moved);
        first += count + 1 + tail_len;
    }
}

/// Whether the loops at `first` and `second` of `code` may run as one,
/// the second an iteration behind.
fn skew_fits(code: &[Inst], first: usize, second: usize, facts: &Facts) -> bool {
    let (Some(p), Some(q)) = (loop_parts(&code[first]), loop_parts(&code[second])) else {
        return false;
    };
    let (i, j, a, b) = (p.index, q.index, p.body, q.body);
    if !p.hint.reductions.is_empty() || !q.hint.reductions.is_empty() {
        return false;
    }
    let (Operand::I64(a0), Operand::I64(b0)) = (p.start, q.start) else {
        return false;
    };
    if b0.checked_add(1) != Some(*a0) || !index_only(b, j) {
        return false;
    }
    let sets = Assigned::of(code, first, second);
    // The same end, which neither the first loop nor what moves changes.
    if !sets.unchanged(p.end) || !(p.end == q.end || checked_equal(code, second, p.end, q.end, &facts.once)) {
        return false;
    }
    if sets.clash(code, first, second)
        || read_elsewhere(&code[first], &code[second], &sets.first, &sets.second, &facts.reads)
    {
        return false;
    }
    let (a_access, b_access) = (accesses(a), accesses(b));
    let mut types = a_access.iter().chain(&b_access).map(|x| x.ty);
    if let Some(ty) = types.next() {
        if types.any(|t| t != ty) {
            return false;
        }
    }
    let copies = copies_through(&code[..first], &[&code[first..=second]]);
    for x in &a_access {
        for y in b_access.iter().filter(|y| x.store || y.store) {
            let (Operand::Var(bx), Operand::Var(by)) = (x.base, y.base) else {
                return false;
            };
            if !may_alias(&facts.roots, bx, by) {
                continue;
            }
            let same = copied(&copies, bx) == copied(&copies, by);
            let (Some(oa), Some(ob)) = (offset(a, i, &x.index), offset(b, j, &y.index)) else {
                return false;
            };
            // The same element in the same fused iteration: a load at an
            // element that the other body stored at a neighbour's place in
            // lanes would wait for two stores to complete.
            if !same || ob.checked_sub(1) != Some(oa) {
                return false;
            }
        }
    }
    true
}

/// True when `body` reads `index` only as the index of a load or a store,
/// or to shift it by a constant.
fn index_only(body: &[Inst], index: Var) -> bool {
    let at = Operand::Var(index);
    body.iter().all(|inst| match inst {
        Inst::Set(_, Expr::Load { base, .. }) => *base != at,
        Inst::Set(_, expr) if index_shift(expr, index).is_some() => true,
        Inst::Store { base, value, .. } => *base != at && *value != at,
        other => {
            let mut read = false;
            each_read(std::slice::from_ref(other), &mut |v| read |= v == index);
            !read
        }
    })
}

/// The constant that the index operand `at` of an access in `body` adds to
/// the loop's `index`, if it is one.
fn offset(body: &[Inst], index: Var, at: &Operand) -> Option<i64> {
    let Operand::Var(v) = at else {
        return None;
    };
    if *v == index {
        return Some(0);
    }
    body.iter().find_map(|inst| match inst {
        Inst::Set(t, expr) if t == v => index_shift(expr, index),
        _ => None,
    })
}

/// The fused loop, and the code after it that runs `b`'s last iteration.
fn fuse(a: &Inst, b: &Inst, vars: &mut Vec<VarInfo>) -> Option<(Inst, Vec<Inst>)> {
    let LoopParts {
        index: i,
        start,
        end,
        body: a_body,
        hint: a_hint,
    } = loop_parts(a)?;
    let LoopParts {
        index: j,
        start: b_start,
        body: b_body,
        hint: b_hint,
        ..
    } = loop_parts(b)?;
    let mut fresh = |like: Var| {
        let info = vars[like.0 as usize].clone();
        vars.push(info);
        Var(vars.len() as u32 - 1)
    };
    // `b`'s iteration `i - 1`: its index and its shifts of it move down by
    // one. Where `a` already has `i - 1`, `b` reads it too, so that an
    // element both reach is one index variable (`forward_stores`).
    let mut body = a_body.to_vec();
    let existing = a_body.iter().find_map(|inst| match inst {
        Inst::Set(t, expr) if index_shift(expr, i) == Some(-1) => Some(*t),
        _ => None,
    });
    let behind = match existing {
        Some(t) => t,
        None => {
            let t = fresh(j);
            body.push(Inst::Set(
                t,
                Expr::Binary(BinOp::ISub, Operand::Var(i), Operand::I64(1)),
            ));
            t
        }
    };
    for inst in b_body {
        let mut inst = inst.clone();
        match &mut inst {
            Inst::Set(_, expr) => match index_shift(expr, j) {
                Some(c) => *expr = shifted(i, c.checked_sub(1)?)?,
                None => expr.operands_mut().into_iter().for_each(|o| swap(o, j, behind)),
            },
            Inst::Store { base, index, value, .. } => {
                [base, index, value].into_iter().for_each(|o| swap(o, j, behind));
            }
            _ => return None,
        }
        body.push(inst);
    }
    if !fits_vector(&body, i, &[]) {
        return None;
    }
    // The last iteration, `end - 1`, with variables of its own: those of a
    // vector loop's body are lanes in code generation.
    let mut renamed: HashMap<Var, Var> = HashMap::default();
    renamed.insert(j, fresh(j));
    each_assignment(b_body, &mut |v| {
        renamed.entry(v).or_insert_with(|| fresh(v));
    });
    let last = renamed[&j];
    let mut then = vec![Inst::Set(last, Expr::Binary(BinOp::ISub, *end, Operand::I64(1)))];
    for inst in b_body {
        let mut inst = inst.clone();
        let mut rename = |o: &mut Operand| {
            if let Operand::Var(v) = o {
                if let Some(r) = renamed.get(v) {
                    *o = Operand::Var(*r);
                }
            }
        };
        match &mut inst {
            Inst::Set(v, expr) => {
                *v = renamed[v];
                expr.operands_mut().into_iter().for_each(&mut rename);
            }
            Inst::Store { base, index, value, .. } => [base, index, value].into_iter().for_each(&mut rename),
            _ => return None,
        }
        then.push(inst);
    }
    let runs = vars.len() as u32;
    vars.push(VarInfo {
        name: "t".to_string(),
        ty: Ty::Bool,
    });
    let runs = Var(runs);
    let tail = vec![
        Inst::Set(runs, Expr::Binary(BinOp::IGt, *end, *b_start)),
        Inst::If {
            cond: Operand::Var(runs),
            then,
            els: Vec::new(),
        },
    ];
    let fused = Inst::For {
        index: i,
        start: *start,
        end: *end,
        body,
        hint: LoopHint {
            vector: true,
            // Each element both bodies touch is touched in one iteration.
            parallel: a_hint.parallel && b_hint.parallel,
            ..LoopHint::default()
        },
    };
    Some((fused, tail))
}

/// `index + by` as an expression that `index_shift` reads back.
fn shifted(index: Var, by: i64) -> Option<Expr> {
    Some(if by >= 0 {
        Expr::Binary(BinOp::IAdd, Operand::Var(index), Operand::I64(by))
    } else {
        Expr::Binary(BinOp::ISub, Operand::Var(index), Operand::I64(by.checked_neg()?))
    })
}

fn swap(o: &mut Operand, from: Var, to: Var) {
    if *o == Operand::Var(from) {
        *o = Operand::Var(to);
    }
}
