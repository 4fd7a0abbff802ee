//! Marks the loops whose iterations may run at once (`LoopHint::independent`),
//! so that code generation may hand chunks of them to the thread pool, each
//! chunk allocating from an arena of its own.
//!
//! Those are the loops of a `build` over rows whose body does real work (the
//! components of a mixture, the observations of a bundle adjustment), and
//! the backward sweeps of such builds, which add into row `i` of their
//! accumulators only. Element-wise loops have `parallel` already; this pass
//! looks at the loops without any hint.
//!
//! A loop over `i` is independent when, in its body (nested code included):
//! - every variable it assigns is assigned before it is read, in every
//!   iteration, and read nowhere after the loop: nothing flows from one
//!   iteration to the next;
//! - every write goes to memory the body allocated (`points_to` names the
//!   allocation), or to row `i` of a buffer `R` that the loop does not
//!   reassign: `R[i]`, or `p[j]` where `p` is `R` offset by `i * s` and `j`
//!   the index of a loop from 0 (or more) to at most `s`;
//! - any two accesses of the memory it does not allocate, one of them a
//!   write, that may meet are both to row `i` of the same buffer variable,
//!   with the same stride and element type: so iterations touch disjoint
//!   rows;
//! - it calls only runtime functions, which write at most through one
//!   pointer argument, and that into memory the body allocated;
//! - it does not both raise errors and hold a `while` loop: threads may run
//!   iterations that an error would have kept from running, which must
//!   end.
//!
//! One kind of variable may pass from one iteration to the next: an
//! accumulator, which the body only updates as `acc = acc op x` (`op` one
//! of [`SPLITTABLE`]) and reads nowhere else, such as the sum over the
//! points of a least-squares fit whose terms each take an inner loop. It
//! becomes one of the loop's `reductions`: each chunk sums its own part,
//! and the parts are combined in chunk order.
//!
//! And one kind of shared buffer may be written at any index: one that the
//! body only adds into (`x = load B[j]; t = fadd x, y; store B[j] = t`, and
//! no other access of its memory), as reverse mode scatters a cotangent
//! into the rows of the cameras and points that each observation names. It
//! becomes one of the loop's `summed` buffers: each chunk adds into a
//! zeroed copy of its own, and the copies are added into `B` in chunk
//! order.

use super::lir::{
    assignment_counts, each_assignment, each_inst_deep, each_read, read_counts, BinOp, Expr, Func, Inst, LoopHint,
    Operand, SummedBuffer, Ty, Var,
};
use super::points_to::{points_to, PointsTo, ANYWHERE};
use crate::{HashMap, HashSet};
use std::borrow::Cow;

/// Sets `independent` on every loop of `func` without hints whose
/// iterations may run at once.
pub fn mark_independent(func: &mut Func) {
    let facts = Facts::of(func);
    let mut body = std::mem::take(&mut func.body);
    mark_in(&mut body, &facts);
    func.body = body;
}

/// What the pass knows of the whole function.
struct Facts {
    sites: PointsTo,
    /// How often each variable is read (the results included).
    reads: HashMap<Var, usize>,
    /// How often each variable is assigned.
    assignments: HashMap<Var, usize>,
    /// The expression of each variable assigned once, by a `Set`.
    defs: HashMap<Var, Expr>,
    /// The size of each allocation made once, as [`SummedBuffer`] gives
    /// it: bytes `n * scale`, `n` a constant or a variable assigned once.
    allocations: HashMap<Var, (Operand, i64)>,
}

impl Facts {
    fn of(func: &Func) -> Facts {
        let reads = read_counts(func);
        let assignments = assignment_counts(&func.body);
        let mut defs = HashMap::default();
        let mut allocations = HashMap::default();
        let once = |o: &Operand| match o {
            Operand::Var(v) => assignments.get(v) == Some(&1),
            _ => true,
        };
        each_inst_deep(&func.body, &mut |inst| match inst {
            Inst::Set(v, expr) if assignments.get(v) == Some(&1) => {
                if let Expr::Alloc { ty, n } = expr {
                    if once(n) {
                        allocations.insert(*v, (*n, ty.size()));
                    }
                }
                defs.insert(*v, expr.clone());
            }
            Inst::Call {
                func: "dl_result_alloc",
                args,
                result: Some(v),
            } if assignments.get(v) == Some(&1) && once(&args[0]) => {
                allocations.insert(*v, (args[0], 1));
            }
            _ => {}
        });
        Facts {
            sites: points_to(func),
            reads,
            assignments,
            defs,
            allocations,
        }
    }
}

fn mark_in(code: &mut [Inst], facts: &Facts) {
    for inst in code {
        match inst {
            Inst::For { index, body, hint, .. } => {
                if *hint == LoopHint::default() {
                    let updated = update_in_place(body, facts);
                    let marked = independent(*index, &updated, facts);
                    let rewritten = match updated {
                        Cow::Owned(rewritten) => Some(rewritten),
                        Cow::Borrowed(_) => None,
                    };
                    if let Some(marked) = marked {
                        *hint = marked;
                        if let Some(rewritten) = rewritten {
                            *body = rewritten;
                        }
                    }
                }
                mark_in(body, facts);
            }
            Inst::If { then, els, .. } => {
                mark_in(then, facts);
                mark_in(els, facts);
            }
            Inst::While { cond, body, .. } => {
                mark_in(cond, facts);
                mark_in(body, facts);
            }
            _ => {}
        }
    }
}

/// The loop body with `t = s op x; ...; s = t` at its top, the way a
/// loop's state comes out of lowering, rewritten into `s = s op x; ...`,
/// so that [`accumulators`] sees `s` (the body itself when there is
/// nothing to rewrite). Only where `t` is read by the copy alone, and `s`
/// is neither read nor assigned in between (it now changes earlier).
fn update_in_place<'b>(body: &'b [Inst], facts: &Facts) -> Cow<'b, [Inst]> {
    // A copy only for a body that has something to rewrite.
    let mut body = Cow::Borrowed(body);
    let mut k = 0;
    while k < body.len() {
        let Inst::Set(acc, Expr::Atom(Operand::Var(t))) = body[k] else {
            k += 1;
            continue;
        };
        let once = |v: &Var| facts.assignments.get(v) == Some(&1) && facts.reads.get(v) == Some(&1);
        let def = body[..k]
            .iter()
            .rposition(|inst| matches!(inst, Inst::Set(v, _) if *v == t));
        let Some(d) = def.filter(|_| once(&t)) else {
            k += 1;
            continue;
        };
        let Inst::Set(_, Expr::Binary(op, a, b)) = body[d] else {
            k += 1;
            continue;
        };
        let mut touched_between = false;
        each_read(&body[d + 1..k], &mut |v| touched_between |= v == acc);
        each_assignment(&body[d + 1..k], &mut |v| touched_between |= v == acc);
        if !SPLITTABLE.contains(&op) || (a != Operand::Var(acc) && b != Operand::Var(acc)) || touched_between {
            k += 1;
            continue;
        }
        let rewritten = body.to_mut();
        rewritten[d] = Inst::Set(acc, Expr::Binary(op, a, b));
        rewritten.remove(k);
    }
    body
}

/// One access of memory in a loop's body.
#[derive(Clone, Copy)]
struct Access {
    base: Operand,
    /// The element index; `None` for a whole-buffer access (a copy, a
    /// call), whose extent is unknown.
    index: Option<Operand>,
    ty: Ty,
    write: bool,
}

/// Which row of which buffer an access touches: `base[i * stride ..][..stride]`.
#[derive(Clone, Copy, PartialEq)]
struct Row {
    base: Var,
    stride: Operand,
    ty: Ty,
}

/// The facts about one loop's body.
struct Body<'f> {
    index: Var,
    facts: &'f Facts,
    /// The variables the body assigns.
    assigned: HashSet<Var>,
    /// The allocations of the body (named as `points_to` names them) that
    /// only the body makes.
    private: HashSet<Var>,
    /// The ranges of the body's own loops, by index variable.
    ranges: HashMap<Var, (Operand, Operand)>,
}

/// The loop's hint when its iterations may run at once: `independent`,
/// with its reductions (its accumulators) and summed buffers; `None` when
/// they may not.
fn independent(index: Var, body: &[Inst], facts: &Facts) -> Option<LoopHint> {
    let reductions = accumulators(body);
    let is_accumulator = |v: &Var| reductions.iter().any(|(acc, _)| acc == v);
    let assigned_here = assignment_counts(body);
    let mut read_here: HashMap<Var, usize> = HashMap::default();
    each_read(body, &mut |v| *read_here.entry(v).or_insert(0) += 1);
    // Nothing else the body assigns is read after it.
    let read_outside = |v: &Var| facts.reads.get(v).copied().unwrap_or(0) > read_here.get(v).copied().unwrap_or(0);
    if assigned_here.keys().any(|v| !is_accumulator(v) && read_outside(v)) {
        return None;
    }
    let passed_on: HashSet<Var> = assigned_here.keys().copied().filter(|v| !is_accumulator(v)).collect();
    if !set_before_read(body, &passed_on, &mut HashSet::from_iter([index])) {
        return None;
    }
    // Run in order, the loop stops at the first iteration that fails; on
    // threads, later ones may run first, and a `while` among them might
    // never end. Every other loop of LIR ends.
    if fails_and_may_not_end(body) {
        return None;
    }
    let assigned: HashSet<Var> = assigned_here.keys().copied().collect();
    let mut private = HashSet::default();
    let mut ranges = HashMap::default();
    let mut repeated = HashSet::default();
    each_inst_deep(body, &mut |inst| match inst {
        Inst::Set(v, Expr::Alloc { .. }) if facts.assignments.get(v) == assigned_here.get(v) => {
            private.insert(*v);
        }
        Inst::For {
            index: j, start, end, ..
        } if ranges.insert(*j, (*start, *end)).is_some() => {
            repeated.insert(*j);
        }
        _ => {}
    });
    for j in repeated {
        ranges.remove(&j);
    }
    let body_facts = Body {
        index,
        facts,
        assigned,
        private,
        ranges,
    };
    let accesses = accesses(body)?;
    let mut summed = body_facts.summed_buffers(body, &accesses);
    // A buffer whose iterations add into their own rows needs no copies.
    summed.retain(|b| {
        let site = HashSet::from_iter([body_facts.original(b.buffer)]);
        let reaching: Vec<Access> = accesses
            .iter()
            .filter(|a| meet(&body_facts.sites(&a.base), &site))
            .copied()
            .collect();
        !body_facts.disjoint(&reaching)
    });
    let summed_sites: HashSet<Var> = summed.iter().map(|b| body_facts.original(b.buffer)).collect();
    let shared: Vec<Access> = accesses
        .into_iter()
        .filter(|a| !meet(&body_facts.sites(&a.base), &summed_sites))
        .collect();
    body_facts.disjoint(&shared).then_some(LoopHint {
        independent: true,
        reductions,
        summed,
        ..LoopHint::default()
    })
}

/// The operators of the accumulators that chunks may split: associative
/// and commutative up to rounding, with an identity to start a chunk from.
/// (A minimum or a maximum would also do but for NaN and the sign of
/// zero, which the order of a loop decides.)
pub const SPLITTABLE: [BinOp; 4] = [BinOp::FAdd, BinOp::FMul, BinOp::IAdd, BinOp::IMul];

/// The accumulators of a loop body, in the order of their variables:
/// every variable that the body assigns only as `acc = acc op x` or `acc =
/// x op acc`, with one `op` of [`SPLITTABLE`] and `x` not `acc`, and reads
/// nowhere else.
pub fn accumulators(body: &[Inst]) -> Vec<(Var, BinOp)> {
    let mut updates: HashMap<Var, (BinOp, usize)> = HashMap::default();
    let mut spoilt = HashSet::default();
    each_inst_deep(body, &mut |inst| {
        if let Inst::Set(v, Expr::Binary(op, a, b)) = inst {
            let acc = Operand::Var(*v);
            if SPLITTABLE.contains(op) && ((*a == acc) != (*b == acc)) {
                let entry = updates.entry(*v).or_insert((*op, 0));
                if entry.0 == *op {
                    entry.1 += 1;
                    return;
                }
            }
        }
        // The instruction's own assignment: `each_inst_deep` visits the
        // code nested in it next.
        match inst {
            Inst::Set(v, _) | Inst::ArenaMark(v) | Inst::Call { result: Some(v), .. } | Inst::For { index: v, .. } => {
                spoilt.insert(*v);
            }
            _ => {}
        }
    });
    let reads = {
        let mut reads: HashMap<Var, usize> = HashMap::default();
        each_read(body, &mut |v| *reads.entry(v).or_insert(0) += 1);
        reads
    };
    let mut found: Vec<(Var, BinOp)> = updates
        .into_iter()
        .filter(|(v, (_, count))| !spoilt.contains(v) && reads.get(v) == Some(count))
        .map(|(v, (op, _))| (v, op))
        .collect();
    found.sort_by_key(|(v, _)| v.0);
    found
}

impl Body<'_> {
    /// True when no two iterations can touch the same memory, one of them
    /// writing it.
    fn disjoint(&self, accesses: &[Access]) -> bool {
        let shared: Vec<(&Access, HashSet<Var>)> = accesses
            .iter()
            .filter(|a| !self.is_private(&a.base))
            .map(|a| (a, self.sites(&a.base)))
            .collect();
        for (k, (a, a_sites)) in shared.iter().enumerate() {
            if a.write && self.row(a).is_none() {
                return false;
            }
            for (b, b_sites) in &shared[k + 1..] {
                if !(a.write || b.write) || !meet(a_sites, b_sites) {
                    continue;
                }
                match (self.row(a), self.row(b)) {
                    (Some(x), Some(y)) if x == y => {}
                    _ => return false,
                }
            }
        }
        true
    }

    /// The buffers the body only adds into ([`LoopHint::summed`]): `B`, a
    /// variable the loop does not assign that copies an allocation of
    /// known size and points nowhere else, when every access of that
    /// allocation in the body is a load or store of an [`add_updates`]
    /// update through `B` or a view of it.
    fn summed_buffers(&self, body: &[Inst], accesses: &[Access]) -> Vec<SummedBuffer> {
        let updates = add_updates(body, self.facts);
        let mut candidates: HashMap<Var, Vec<Var>> = HashMap::default();
        for q in updates.keys() {
            if let Some(b) = self.invariant_root(*q) {
                candidates.entry(b).or_default().push(*q);
            }
        }
        let mut summed = Vec::new();
        for (buffer, bases) in candidates {
            let site = self.original(buffer);
            let Some(&(bytes, scale)) = self.facts.allocations.get(&site) else {
                continue;
            };
            let sites = HashSet::from_iter([site]);
            if self.sites(&Operand::Var(buffer)) != sites {
                continue;
            }
            // Every access that may reach the allocation is one of the
            // updates' through one of `bases`.
            let mut counts: HashMap<Var, usize> = HashMap::default();
            let mut only_updates = true;
            for a in accesses.iter().filter(|a| meet(&self.sites(&a.base), &sites)) {
                match a.base {
                    Operand::Var(q) if bases.contains(&q) && a.index.is_some() => *counts.entry(q).or_default() += 1,
                    _ => only_updates = false,
                }
            }
            if only_updates && bases.iter().all(|q| counts.get(q) == Some(&(2 * updates[q]))) {
                summed.push(SummedBuffer { buffer, bytes, scale });
            }
        }
        summed.sort_by_key(|b| b.buffer.0);
        summed
    }

    /// The first variable the loop does not assign on the way from `q`
    /// through copies and views (`q = B`, `q = B + k`).
    fn invariant_root(&self, mut q: Var) -> Option<Var> {
        loop {
            if !self.assigned.contains(&q) {
                return Some(q);
            }
            match self.facts.defs.get(&q)? {
                Expr::Atom(Operand::Var(w))
                | Expr::Offset {
                    base: Operand::Var(w), ..
                } => q = *w,
                _ => return None,
            }
        }
    }

    fn sites(&self, o: &Operand) -> HashSet<Var> {
        match o {
            Operand::Var(v) => self
                .facts
                .sites
                .get(v)
                .cloned()
                .unwrap_or_else(|| HashSet::from_iter([ANYWHERE])),
            _ => HashSet::from_iter([ANYWHERE]),
        }
    }

    /// True when `p` points only into memory the body allocates, fresh in
    /// every iteration.
    fn is_private(&self, p: &Operand) -> bool {
        let sites = self.sites(p);
        !sites.is_empty() && sites.iter().all(|s| self.private.contains(s))
    }

    fn invariant(&self, o: &Operand) -> bool {
        match o {
            Operand::Var(v) => *v != self.index && !self.assigned.contains(v),
            _ => true,
        }
    }

    /// The variable that `v` copies (through variables set once), or `v`:
    /// a loop's state variable set to the buffer it adopted is that
    /// buffer.
    fn original(&self, mut v: Var) -> Var {
        while let Some(Expr::Atom(Operand::Var(w))) = self.facts.defs.get(&v) {
            v = *w;
        }
        v
    }

    /// The row of iteration `index` that `access` stays within, if it
    /// provably does.
    fn row(&self, access: &Access) -> Option<Row> {
        let (Operand::Var(base), Some(at)) = (access.base, access.index) else {
            return None;
        };
        // `R[i]`: a row of one element.
        let original = self.original(base);
        if at == Operand::Var(self.index) && self.invariant(&Operand::Var(original)) {
            return Some(Row {
                base: original,
                stride: Operand::I64(1),
                ty: access.ty,
            });
        }
        // `p[j]`, `p = R + i * s`, `j` in `c..m` with `0 <= c` and `m <= s`.
        let Some(Expr::Offset {
            ty,
            base: Operand::Var(row_base),
            index: Operand::Var(offset),
        }) = self.facts.defs.get(&base)
        else {
            return None;
        };
        let Some(Expr::Binary(BinOp::IMul, a, b)) = self.facts.defs.get(offset) else {
            return None;
        };
        let stride = match (*a, *b) {
            (Operand::Var(i), s) | (s, Operand::Var(i)) if i == self.index && self.invariant(&s) => s,
            _ => return None,
        };
        let row_base = self.original(*row_base);
        if *ty != access.ty || !self.invariant(&Operand::Var(row_base)) {
            return None;
        }
        let Operand::Var(j) = at else {
            return None;
        };
        let (start, end) = self.ranges.get(&j)?;
        let from_zero = matches!(start, Operand::I64(c) if *c >= 0);
        (from_zero && self.at_most(end, &stride)).then_some(Row {
            base: row_base,
            stride,
            ty: *ty,
        })
    }

    /// True when `m <= s` whatever their values: the same operand, or `s`
    /// is `max(m, 0)` (`s` is invariant in the loop; `m` must be too).
    fn at_most(&self, m: &Operand, s: &Operand) -> bool {
        if m == s {
            return true;
        }
        if !self.invariant(m) {
            return false;
        }
        let Operand::Var(s) = s else {
            return false;
        };
        matches!(
            self.facts.defs.get(s),
            Some(Expr::Binary(BinOp::IMax, a, b))
                if (a == m && *b == Operand::I64(0)) || (b == m && *a == Operand::I64(0))
        )
    }
}

/// The updates `x = load q[j]; ...; t = fadd x, y; ...; store q[j] = t`
/// (or `fadd y, x`) in `code`, counted by the buffer variable `q`: `f64`
/// elements, `x` and `t` each assigned once and read once, and only `Set`s
/// between the load and the store, none of them a load through `q` or an
/// assignment of `q` or `j`. So `y` never holds what the update reads, the
/// store writes the element the load read, and nothing else touches it in
/// between.
fn add_updates(code: &[Inst], facts: &Facts) -> HashMap<Var, usize> {
    fn block(code: &[Inst], facts: &Facts, out: &mut HashMap<Var, usize>) {
        let once = |v: &Var| facts.assignments.get(v) == Some(&1) && facts.reads.get(v) == Some(&1);
        for (k, inst) in code.iter().enumerate() {
            match inst {
                Inst::If { then, els, .. } => {
                    block(then, facts, out);
                    block(els, facts, out);
                }
                Inst::For { body, .. } => block(body, facts, out),
                Inst::While { cond, body, .. } => {
                    block(cond, facts, out);
                    block(body, facts, out);
                }
                &Inst::Set(
                    x,
                    Expr::Load {
                        ty: Ty::F64,
                        base: Operand::Var(q),
                        index,
                    },
                ) if once(&x) => {
                    let mut sum = None;
                    for later in &code[k + 1..] {
                        match later {
                            Inst::Set(_, Expr::Load { base, .. }) if *base == Operand::Var(q) => break,
                            // The store must reach the element the load read.
                            Inst::Set(v, _) if *v == q || Operand::Var(*v) == index => break,
                            &Inst::Set(t, Expr::Binary(BinOp::FAdd, a, b))
                                if (a == Operand::Var(x)) != (b == Operand::Var(x)) && once(&t) =>
                            {
                                sum = Some(t);
                            }
                            Inst::Set(..) => {}
                            &Inst::Store {
                                ty: Ty::F64,
                                base,
                                index: at,
                                value,
                            } if base == Operand::Var(q)
                                && at == index
                                && sum.is_some_and(|t| value == Operand::Var(t)) =>
                            {
                                *out.entry(q).or_default() += 1;
                                break;
                            }
                            _ => break,
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = HashMap::default();
    block(code, facts, &mut out);
    out
}

/// True when `code` may raise an error and holds a `while` loop.
fn fails_and_may_not_end(code: &[Inst]) -> bool {
    let (mut fails, mut whiles) = (false, false);
    each_inst_deep(code, &mut |inst| match inst {
        Inst::Fail { .. } => fails = true,
        Inst::While { .. } => whiles = true,
        _ => {}
    });
    fails && whiles
}

/// True when memory reached through the sites `a` may be reached through
/// the sites `b`.
fn meet(a: &HashSet<Var>, b: &HashSet<Var>) -> bool {
    a.contains(&ANYWHERE) || b.contains(&ANYWHERE) || !a.is_disjoint(b)
}

/// The memory accesses of `code`, nested ones included; `None` when it
/// calls a function whose writes are not known.
fn accesses(code: &[Inst]) -> Option<Vec<Access>> {
    let mut out = Vec::new();
    let mut known = true;
    each_inst_deep(code, &mut |inst| match inst {
        Inst::Set(_, Expr::Load { ty, base, index }) => out.push(Access {
            base: *base,
            index: Some(*index),
            ty: *ty,
            write: false,
        }),
        Inst::Store { ty, base, index, .. } => out.push(Access {
            base: *base,
            index: Some(*index),
            ty: *ty,
            write: true,
        }),
        Inst::Copy { ty, dst, src, .. } => {
            for (base, write) in [(*dst, true), (*src, false)] {
                out.push(Access {
                    base,
                    index: None,
                    ty: *ty,
                    write,
                });
            }
        }
        Inst::Call { func, args, .. } => {
            let Some(f) = super::abi::runtime_fn(func).filter(|_| *func != "dl_result_alloc") else {
                known = false;
                return;
            };
            let written = written_argument(func);
            for (k, (arg, ty)) in args.iter().zip(f.params).enumerate() {
                if *ty == super::abi::AbiTy::Ptr {
                    out.push(Access {
                        base: *arg,
                        index: None,
                        ty: Ty::F64,
                        write: written == Some(k),
                    });
                }
            }
        }
        _ => {}
    });
    known.then_some(out)
}

/// The pointer argument a runtime function writes through (the others it
/// only reads).
fn written_argument(func: &str) -> Option<usize> {
    match func {
        "dl_vexp" | "dl_vlog" | "dl_vtanh" | "dl_vsigmoid" | "dl_vsin" | "dl_vcos" => Some(2),
        "dl_gemm" => Some(9),
        "dl_gemv" => Some(6),
        "dl_outer" => Some(4),
        "dl_transpose" => Some(3),
        _ => None,
    }
}

/// True when, each time `code` runs with the variables `set` assigned,
/// it reads none of `tracked` before assigning it. Assignments in a branch
/// count after the `if` when both branches make them; those in a loop
/// never do (it may not run).
fn set_before_read(code: &[Inst], tracked: &HashSet<Var>, set: &mut HashSet<Var>) -> bool {
    let ready = |o: &Operand, set: &HashSet<Var>| match o {
        Operand::Var(v) => !tracked.contains(v) || set.contains(v),
        _ => true,
    };
    for inst in code {
        match inst {
            Inst::If { cond, then, els } => {
                if !ready(cond, set) {
                    return false;
                }
                let (mut a, mut b) = (set.clone(), set.clone());
                if !set_before_read(then, tracked, &mut a) || !set_before_read(els, tracked, &mut b) {
                    return false;
                }
                set.extend(a.intersection(&b).copied());
            }
            Inst::For {
                index,
                start,
                end,
                body,
                ..
            } => {
                if !ready(start, set) || !ready(end, set) {
                    return false;
                }
                let mut inner = set.clone();
                inner.insert(*index);
                if !set_before_read(body, tracked, &mut inner) {
                    return false;
                }
            }
            Inst::While { cond, test, body } => {
                let mut inner = set.clone();
                if !set_before_read(cond, tracked, &mut inner)
                    || !ready(test, &inner)
                    || !set_before_read(body, tracked, &mut inner)
                {
                    return false;
                }
            }
            other => {
                let mut fine = true;
                each_read(std::slice::from_ref(other), &mut |v| {
                    fine &= !tracked.contains(&v) || set.contains(&v);
                });
                if !fine {
                    return false;
                }
                each_assignment(std::slice::from_ref(other), &mut |v| {
                    set.insert(v);
                });
            }
        }
    }
    true
}
