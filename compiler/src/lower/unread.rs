//! Drops arena buffers that are written and never read: their stores,
//! copies and writing kernels, the views into them, and their allocation.
//! Lowering leaves one behind when it moves a sum into the loop that wrote
//! the summed array (`Lowering::sum_in_producer`), when a matrix product
//! reads a transposed parameter in place (the array itself is then not
//! needed), or when a field of an array of tuples is never read (its rows
//! are still copied into it, through views).

use super::lir::{each_assignment, each_inst_deep, each_read, retain_deep, Expr, Func, Inst, Operand, Var};
use crate::{HashMap, HashSet};

/// Removes from `func` every buffer allocated in the arena whose only uses
/// are stores, copies and writing kernels into it or into views of it.
pub fn drop_unread_buffers(func: &mut Func) {
    let families = buffer_families(&func.body);
    if families.is_empty() {
        return;
    }
    let mut kept: HashSet<Var> = HashSet::default();
    for o in &func.results {
        if let Operand::Var(v) = o {
            if let Some(root) = families.get(v) {
                kept.insert(*root);
            }
        }
    }
    reads_of_families(&func.body, &families, &mut kept);
    let unread: HashSet<Var> = families
        .iter()
        .filter(|(_, root)| !kept.contains(root))
        .map(|(member, _)| *member)
        .collect();
    if !unread.is_empty() {
        drop_writes(&mut func.body, &unread);
    }
}

/// The buffers of the arena and the views into them, each mapped to its
/// buffer (the family's root): a root is set only by allocations, a view
/// only by offsets into one member of a family.
fn buffer_families(code: &[Inst]) -> HashMap<Var, Var> {
    let mut defs: HashMap<Var, Vec<&Expr>> = HashMap::default();
    each_inst_deep(code, &mut |inst| {
        if let Inst::Set(var, expr) = inst {
            defs.entry(*var).or_default().push(expr);
        }
    });
    let mut assignments: HashMap<Var, usize> = HashMap::default();
    each_assignment(code, &mut |var| *assignments.entry(var).or_insert(0) += 1);
    // Set by `Set`s alone: no call result, loop index or mark.
    let only_sets = |var: &Var, exprs: &Vec<&Expr>| assignments.get(var) == Some(&exprs.len());
    let mut families: HashMap<Var, Var> = defs
        .iter()
        .filter(|(var, exprs)| only_sets(var, exprs) && exprs.iter().all(|e| matches!(e, Expr::Alloc { .. })))
        .map(|(var, _)| (*var, *var))
        .collect();
    loop {
        let mut grew = false;
        for (var, exprs) in &defs {
            if families.contains_key(var) || !only_sets(var, exprs) {
                continue;
            }
            let roots: HashSet<Option<Var>> = exprs
                .iter()
                .map(|e| match e {
                    Expr::Offset {
                        base: Operand::Var(b), ..
                    } => families.get(b).copied(),
                    _ => None,
                })
                .collect();
            if let [Some(root)] = roots.into_iter().collect::<Vec<_>>()[..] {
                families.insert(*var, root);
                grew = true;
            }
        }
        if !grew {
            return families;
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

/// Adds to `kept` the root of every family that `code` reads other than
/// as the place a store, a copy or a writing kernel writes, or as the
/// base of a view of the same family.
fn reads_of_families(code: &[Inst], families: &HashMap<Var, Var>, kept: &mut HashSet<Var>) {
    let member = |o: &Operand| match o {
        Operand::Var(v) => families.get(v).copied(),
        _ => None,
    };
    for inst in code {
        // The operands this instruction writes through, or takes a view of
        // for a member of the same family: not reads.
        let mut written: Vec<Operand> = Vec::new();
        match inst {
            Inst::Store { base, .. } => written.push(*base),
            Inst::Copy { dst, .. } => written.push(*dst),
            Inst::Set(var, Expr::Offset { base, .. }) if families.contains_key(var) => {
                if member(base) == families.get(var).copied() {
                    written.push(*base);
                }
            }
            Inst::If { then, els, .. } => {
                reads_of_families(then, families, kept);
                reads_of_families(els, families, kept);
            }
            Inst::For { body, .. } => reads_of_families(body, families, kept),
            Inst::While { cond, body, .. } => {
                reads_of_families(cond, families, kept);
                reads_of_families(body, families, kept);
            }
            _ => {
                if let Some(out) = written_by_call(inst) {
                    written.push(out);
                }
            }
        }
        // Every other read, the nested blocks' left to the calls above.
        let mut reads: Vec<Var> = Vec::new();
        match inst {
            Inst::If { cond, .. } => reads.extend(var_of(cond)),
            Inst::For { start, end, .. } => reads.extend([start, end].into_iter().filter_map(var_of)),
            Inst::While { test, .. } => reads.extend(var_of(test)),
            _ => each_read(std::slice::from_ref(inst), &mut |v| reads.push(v)),
        }
        for w in &written {
            if let Some(at) = reads.iter().position(|r| Operand::Var(*r) == *w) {
                reads.swap_remove(at);
            }
        }
        kept.extend(reads.iter().filter_map(|r| families.get(r)));
    }
}

fn var_of(o: &Operand) -> Option<Var> {
    match o {
        Operand::Var(v) => Some(*v),
        _ => None,
    }
}

/// Removes the allocations and views of `unread` and the writes into them.
fn drop_writes(code: &mut Vec<Inst>, unread: &HashSet<Var>) {
    let dropped = |o: &Operand| matches!(o, Operand::Var(v) if unread.contains(v));
    retain_deep(code, &|inst| match inst {
        Inst::Set(var, Expr::Alloc { .. } | Expr::Offset { .. }) => !unread.contains(var),
        Inst::Store { base, .. } => !dropped(base),
        Inst::Copy { dst, .. } => !dropped(dst),
        call @ Inst::Call { .. } => !written_by_call(call).as_ref().is_some_and(dropped),
        _ => true,
    });
}
