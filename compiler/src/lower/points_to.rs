//! What each pointer variable of a LIR function may point into: an
//! analysis shared by the passes that must tell buffers apart
//! (`fuse_loops`, `fuse_skewed`, `forward_stores`, `independent`), and
//! the pointer copies that name one buffer while some loops run.

use super::lir::{each_assignment, each_inst_deep, Expr, Func, Inst, Operand, Ty, Var};
use crate::{HashMap, HashSet};

/// Where a pointer may point: the allocations (arena or result memory,
/// named by the variable they first go to) it may point into.
pub type PointsTo = HashMap<Var, HashSet<Var>>;

/// Stands for every parameter's memory: callers may pass one buffer twice.
pub const PARAMETERS: Var = Var(u32::MAX);
/// Stands for memory of unknown origin: may be any buffer.
pub const ANYWHERE: Var = Var(u32::MAX - 1);

/// What each pointer variable may point into, over the whole function
/// regardless of order: an allocation points into itself, a parameter
/// into [`PARAMETERS`], a copy, view or selection of pointers into what
/// they point into, anything else [`ANYWHERE`]. Memory the arena hands
/// out again after a release is not live under an older pointer (nothing
/// reads memory allocated after a mark once the mark is released), so
/// two pointers with no allocation in common never meet.
pub fn points_to(func: &Func) -> PointsTo {
    // Each assignment of a pointer: an expression, or a call's result
    // (`true` for fresh result memory).
    let mut defs: Vec<(Var, Result<&Expr, bool>)> = Vec::new();
    each_inst_deep(&func.body, &mut |inst| match inst {
        Inst::Set(var, expr) if func.vars[var.0 as usize].ty == Ty::Ptr => defs.push((*var, Ok(expr))),
        Inst::Call {
            func: name,
            result: Some(var),
            ..
        } if func.vars[var.0 as usize].ty == Ty::Ptr => defs.push((*var, Err(*name == "dl_result_alloc"))),
        _ => {}
    });
    let mut sites: PointsTo = func
        .params
        .iter()
        .map(|p| (*p, HashSet::from_iter([PARAMETERS])))
        .collect();
    loop {
        let mut grew = false;
        for (var, def) in &defs {
            let from: HashSet<Var> = match def {
                Err(true) | Ok(Expr::Alloc { .. }) => HashSet::from_iter([*var]),
                Ok(Expr::Atom(o) | Expr::Offset { base: o, .. }) => pointed(&sites, o),
                Ok(Expr::Select(_, a, b)) => pointed(&sites, a).union(&pointed(&sites, b)).copied().collect(),
                Err(false) | Ok(_) => HashSet::from_iter([ANYWHERE]),
            };
            let entry = sites.entry(*var).or_default();
            let before = entry.len();
            entry.extend(from);
            grew |= entry.len() > before;
        }
        if !grew {
            return sites;
        }
    }
}

pub fn pointed(sites: &PointsTo, o: &Operand) -> HashSet<Var> {
    match o {
        Operand::Var(v) => sites.get(v).cloned().unwrap_or_default(),
        _ => HashSet::from_iter([ANYWHERE]),
    }
}

/// Whether the buffers that `a` and `b` point at may share memory: unless
/// both point only into known allocations, none in common.
pub fn may_alias(roots: &PointsTo, a: Var, b: Var) -> bool {
    if a == b {
        return true;
    }
    match (roots.get(&a), roots.get(&b)) {
        (Some(x), Some(y)) => x.contains(&ANYWHERE) || y.contains(&ANYWHERE) || !x.is_disjoint(y),
        _ => true,
    }
}

/// The copies `v = w` of pointers in `before` (the code of a block before
/// some loops) after which neither `v` nor `w` is assigned again, there or
/// in the code `during` (the loops): `v` is `w` while the loops run. Maps
/// each such `v` to its `w`.
pub fn copies_through(before: &[Inst], during: &[&[Inst]]) -> HashMap<Var, Var> {
    let mut assigned_during: HashSet<Var> = HashSet::default();
    for code in during {
        each_assignment(code, &mut |v| {
            assigned_during.insert(v);
        });
    }
    let mut copies = HashMap::default();
    for (at, inst) in before.iter().enumerate() {
        let Inst::Set(v, Expr::Atom(Operand::Var(w))) = inst else {
            continue;
        };
        let mut again = assigned_during.contains(v) || assigned_during.contains(w) || v == w;
        each_assignment(&before[at + 1..], &mut |x| again |= x == *v || x == *w);
        if !again {
            copies.insert(*v, *w);
        }
    }
    copies
}

/// The variable whose buffer `v` names, through `copies`
/// ([`copies_through`]).
pub fn copied(copies: &HashMap<Var, Var>, mut v: Var) -> Var {
    // Copies of copies, a few deep; a cycle cannot arise (each copy is of
    // a variable set before it), but stop anyway.
    for _ in 0..8 {
        match copies.get(&v) {
            Some(w) => v = *w,
            None => break,
        }
    }
    v
}
