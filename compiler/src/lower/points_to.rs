//! What each pointer variable of a LIR function may point into: an
//! analysis shared by the passes that must tell buffers apart
//! (`fuse_loops`, `independent`).

use super::lir::{each_inst_deep, Expr, Func, Inst, Operand, Ty, Var};
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
