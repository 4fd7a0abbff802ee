//! Drops arena buffers that are written and never read: their stores,
//! copies and writing kernels, and their allocation. Lowering leaves one
//! behind when it moves a sum into the loop that wrote the summed array
//! (`Lowering::sum_in_producer`), or a matrix product reads a transposed
//! parameter in place: the array itself is then not needed.

use super::from_core::reads;
use super::lir::{each_assignment, retain_deep, Expr, Func, Inst, Operand, Var};
use std::collections::{HashMap, HashSet};

/// Removes from `func` every buffer allocated in the arena whose only uses
/// are stores and copies into it.
pub fn drop_unread_buffers(func: &mut Func) {
    let mut allocated = Vec::new();
    arena_buffers(&func.body, &mut allocated);
    let mut assignments = HashMap::new();
    each_assignment(&func.body, &mut |var| *assignments.entry(var).or_insert(0) += 1);
    let unread: HashSet<Var> = allocated
        .into_iter()
        .filter(|&buf| {
            assignments.get(&buf) == Some(&1) && !func.results.contains(&Operand::Var(buf)) && !read(&func.body, buf)
        })
        .collect();
    if !unread.is_empty() {
        drop_writes(&mut func.body, &unread);
    }
}

/// The variables set by an arena allocation.
fn arena_buffers(code: &[Inst], out: &mut Vec<Var>) {
    for inst in code {
        match inst {
            Inst::Set(var, Expr::Alloc { .. }) => out.push(*var),
            Inst::If { then, els, .. } => {
                arena_buffers(then, out);
                arena_buffers(els, out);
            }
            Inst::For { body, .. } => arena_buffers(body, out),
            Inst::While { cond, body, .. } => {
                arena_buffers(cond, out);
                arena_buffers(body, out);
            }
            _ => {}
        }
    }
}

/// The runtime kernels whose one effect is to write the buffer at the
/// argument given: a call of one whose output is never read may go.
const WRITES_ONLY: [(&str, usize); 2] = [("dl_transpose", 3), ("dl_gemm", 9)];

/// The buffer a call of a [`WRITES_ONLY`] kernel writes.
fn written_by_call(inst: &Inst) -> Option<Operand> {
    let Inst::Call {
        func,
        args,
        result: None,
    } = inst
    else {
        return None;
    };
    let (_, at) = WRITES_ONLY.iter().find(|(name, _)| name == func)?;
    args.get(*at).copied()
}

/// True when `buf` is read other than as the place a store, a copy or a
/// writing kernel writes.
fn read(code: &[Inst], buf: Var) -> bool {
    let is = |o: &Operand| *o == Operand::Var(buf);
    code.iter().any(|inst| match inst {
        Inst::Store { base, index, value, .. } if is(base) => is(index) || is(value),
        Inst::Copy { dst, src, n, .. } if is(dst) => is(src) || is(n),
        Inst::Call { args, .. } if written_by_call(inst).as_ref().is_some_and(is) => {
            args.iter().filter(|a| is(a)).count() > 1
        }
        Inst::If { cond, then, els } => is(cond) || read(then, buf) || read(els, buf),
        Inst::For { start, end, body, .. } => is(start) || is(end) || read(body, buf),
        Inst::While { cond, test, body } => read(cond, buf) || is(test) || read(body, buf),
        other => reads(std::slice::from_ref(other), buf),
    })
}

/// Removes the allocations of `unread` and the stores and copies into them.
fn drop_writes(code: &mut Vec<Inst>, unread: &HashSet<Var>) {
    let dropped = |o: &Operand| matches!(o, Operand::Var(v) if unread.contains(v));
    retain_deep(code, &|inst| match inst {
        Inst::Set(var, Expr::Alloc { .. }) => !unread.contains(var),
        Inst::Store { base, .. } => !dropped(base),
        Inst::Copy { dst, .. } => !dropped(dst),
        call @ Inst::Call { .. } => !written_by_call(call).as_ref().is_some_and(dropped),
        _ => true,
    });
}
