//! Fuses neighbouring element-wise loops into one: `for i in a..b { A }`
//! followed by `for j in a..b { B }` becomes `for i in a..b { A; B[i/j] }`
//! when iteration `k` of `B` needs nothing of `A` but iteration `k`.
//!
//! Reverse mode leaves many such neighbours: each primitive's transpose is
//! a loop of its own, over the same length, reading what the loop before
//! wrote at the same index. One loop instead of several saves a pass over
//! the arrays, the loop's overhead, and for short arrays (a recurrence's
//! state, a layer's gates) most of the cost.
//!
//! Only `vector` loops are fused (straight-line bodies), with the same
//! range (one operand, or two that a size check made equal) and the same
//! `parallel` flag, without calls (whose staging wants the body's stores
//! last) and with no reductions but sums and products of floats (code
//! generation has lanes for no others, and a faster path for minima and
//! maxima alone), and only across allocations, views, scalar arithmetic and
//! size checks, which move above the first loop. Accumulators of both
//! loops stay accumulators of the fused one.
//! Two accesses of the two bodies, one of them a store, must either touch
//! buffers that no allocation reaches both of (`points_to`) or be of the
//! same buffer variable at the loop's own index. The fused body must still
//! fit lanes (`fits_vector`).

use super::from_core::fits_vector;
use super::lir::{
    assignment_counts, each_assignment, each_read, read_counts, BinOp, Expr, Func, Inst, LoopHint, Operand, Ty, Var,
};
use super::points_to::{may_alias, points_to, PointsTo};
use crate::{HashMap, HashSet};

/// Fuses the neighbouring element-wise loops of every block of `func`.
pub fn fuse_loops(func: &mut Func) {
    let roots = points_to(func);
    let mut reads = read_counts(func);
    let assignments = assignment_counts(&func.body);
    let once: HashSet<Var> = assignments
        .into_iter()
        .filter(|&(_, n)| n == 1)
        .map(|(v, _)| v)
        .collect();
    let facts = Facts { roots, once };
    let mut body = std::mem::take(&mut func.body);
    each_block_inner_first(&mut body, &mut |code| fuse_in_block(code, &facts, &mut reads));
    func.body = body;
}

/// How often each variable is read in the whole function.
pub(super) type Reads = HashMap<Var, usize>;

/// What the pass knows of the whole function.
struct Facts {
    roots: PointsTo,
    /// The variables assigned exactly once.
    once: HashSet<Var>,
}

/// Calls `f` on every block of `code`, inner blocks before the block
/// that holds them, `code` last.
pub(super) fn each_block_inner_first(code: &mut Vec<Inst>, f: &mut dyn FnMut(&mut Vec<Inst>)) {
    for inst in code.iter_mut() {
        match inst {
            Inst::If { then, els, .. } => {
                each_block_inner_first(then, f);
                each_block_inner_first(els, f);
            }
            Inst::For { body, .. } => each_block_inner_first(body, f),
            Inst::While { cond, body, .. } => {
                each_block_inner_first(cond, f);
                each_block_inner_first(body, f);
            }
            _ => {}
        }
    }
    f(code);
}

fn fuse_in_block(code: &mut Vec<Inst>, facts: &Facts, reads: &mut Reads) {
    let mut first = 0;
    while first < code.len() {
        if !fusable_loop(&code[first]) {
            first += 1;
            continue;
        }
        // The next loop, past instructions that may move above this one.
        let Some(second) = (first + 1..code.len()).find(|&k| !movable(&code[k])) else {
            break;
        };
        if !fusable_loop(&code[second]) || !fits(code, first, second, facts, reads) {
            first += 1;
            continue;
        }
        let (
            Inst::For { index, body, hint, .. },
            Inst::For {
                index: j,
                body: b,
                hint: b_hint,
                ..
            },
        ) = (&code[first], &code[second])
        else {
            unreachable!("checked to be loops")
        };
        let (index, second_index) = (*index, *j);
        let mut fused = body.clone();
        let mut second_body = b.clone();
        rename(&mut second_body, second_index, index);
        fused.extend(second_body);
        let mut reductions = hint.reductions.clone();
        reductions.extend(b_hint.reductions.iter().copied());
        // Each body may be fine in lanes and the two together not (a
        // variable both set).
        if !fits_vector(&fused, index, &reductions) {
            first += 1;
            continue;
        }
        code.remove(second);
        let moved: Vec<Inst> = code.drain(first + 1..second).collect();
        let Inst::For { body, hint, .. } = &mut code[first] else {
            unreachable!("checked to be a loop")
        };
        *body = fused;
        hint.reductions = reductions;
        let renamed = reads.remove(&second_index).unwrap_or(0);
        *reads.entry(index).or_insert(0) += renamed;
        let count = moved.len();
        code.splice(first..first, moved);
        // The fused loop may take the next one in too.
        first += count;
    }
}

/// A loop this pass may fuse: straight-line, in lanes, without calls.
pub(super) fn fusable_loop(inst: &Inst) -> bool {
    match inst {
        Inst::For { body, hint, .. } => {
            hint.vector && body.iter().all(|i| matches!(i, Inst::Set(..) | Inst::Store { .. }))
        }
        _ => false,
    }
}

/// An instruction that may move above a loop it does not depend on: an
/// allocation, a view, scalar arithmetic, or a check that fails the call (the
/// loop cannot fail, and what it stores is lost with the call).
pub(super) fn movable(inst: &Inst) -> bool {
    match inst {
        Inst::Set(_, expr) => matches!(
            expr,
            Expr::Alloc { .. }
                | Expr::Offset { .. }
                | Expr::Atom(_)
                | Expr::Unary(..)
                | Expr::Binary(..)
                | Expr::Select(..)
        ),
        Inst::If { then, els, .. } => els.is_empty() && matches!(then[..], [Inst::Fail { .. }]),
        _ => false,
    }
}

/// Whether the loops at `first` and `second` of `code`, with only
/// movable instructions between them, may run as one.
fn fits(code: &[Inst], first: usize, second: usize, facts: &Facts, reads: &Reads) -> bool {
    let roots = &facts.roots;
    let (Some(p), Some(q)) = (loop_parts(&code[first]), loop_parts(&code[second])) else {
        return false;
    };
    let (i, j, a, b) = (p.index, q.index, p.body, q.body);
    if p.hint.parallel != q.hint.parallel {
        return false;
    }
    let sets = Assigned::of(code, first, second);
    // The same range: the same operand, not set between the loops or by
    // the first, or two that a size check made equal.
    let same =
        |x: &Operand, y: &Operand| sets.unchanged(x) && (x == y || checked_equal(code, second, x, y, &facts.once));
    if !same(p.start, q.start) || !same(p.end, q.end) {
        return false;
    }
    let clash = sets.clash(code, first, second);
    let (a_sets, b_sets) = (&sets.first, &sets.second);
    // An accumulator's value is its loop's result, read after it.
    let accumulators: HashSet<Var> = p
        .hint
        .reductions
        .iter()
        .chain(&q.hint.reductions)
        .map(|(v, _)| *v)
        .collect();
    let (a_locals, b_locals) = (a_sets - &accumulators, b_sets - &accumulators);
    if clash || read_elsewhere(&code[first], &code[second], &a_locals, &b_locals, reads) {
        return false;
    }
    // Sums and products only: code generation runs integer reductions in
    // no lanes, and minima and maxima in a faster path of their own.
    let mut merged = p.hint.reductions.iter().chain(&q.hint.reductions);
    if !merged.all(|(_, op)| matches!(op, BinOp::FAdd | BinOp::FMul)) {
        return false;
    }
    let (a_access, b_access) = (accesses(a), accesses(b));
    // One element type in lanes.
    let mut types = a_access.iter().chain(&b_access).map(|x| x.ty);
    if let Some(ty) = types.next() {
        if types.any(|t| t != ty) {
            return false;
        }
    }
    let apart = |x: &Access, y: &Access| match (x.base, y.base) {
        (Operand::Var(bx), Operand::Var(by)) => !may_alias(roots, bx, by),
        _ => false,
    };
    a_access.iter().all(|x| {
        b_access.iter().all(|y| {
            !(x.store || y.store)
                || apart(x, y)
                || (x.base == y.base && x.index == Operand::Var(i) && y.index == Operand::Var(j))
        })
    })
}

/// The parts of a `For` loop, borrowed.
pub(super) struct LoopParts<'a> {
    pub index: Var,
    pub start: &'a Operand,
    pub end: &'a Operand,
    pub body: &'a [Inst],
    pub hint: &'a LoopHint,
}

/// The parts of `inst` when it is a loop.
pub(super) fn loop_parts(inst: &Inst) -> Option<LoopParts<'_>> {
    match inst {
        Inst::For {
            index,
            start,
            end,
            body,
            hint,
        } => Some(LoopParts {
            index: *index,
            start,
            end,
            body,
            hint,
        }),
        _ => None,
    }
}

/// The variables that two loops of a block (each with its index) and the
/// code between them assign.
pub(super) struct Assigned {
    pub first: HashSet<Var>,
    pub second: HashSet<Var>,
    pub between: HashSet<Var>,
}

impl Assigned {
    /// Of the loops at `first` and `second` of `code`.
    pub fn of(code: &[Inst], first: usize, second: usize) -> Assigned {
        let sets = |index: Option<Var>, code: &[Inst]| {
            let mut set: HashSet<Var> = index.into_iter().collect();
            each_assignment(code, &mut |v| {
                set.insert(v);
            });
            set
        };
        let (Some(a), Some(b)) = (loop_parts(&code[first]), loop_parts(&code[second])) else {
            unreachable!("two loops")
        };
        Assigned {
            first: sets(Some(a.index), a.body),
            second: sets(Some(b.index), b.body),
            between: sets(None, &code[first + 1..second]),
        }
    }

    /// Whether `o` is the same before the first loop and at the second.
    pub fn unchanged(&self, o: &Operand) -> bool {
        match o {
            Operand::Var(v) => !self.between.contains(v) && !self.first.contains(v),
            _ => true,
        }
    }

    /// Whether the loops at `first` and `second` of `code` cannot run as
    /// one for their variables: what moves above the first loop needs it or
    /// is needed by it, or a body reads the other's variables (the second
    /// would see this iteration's value, not the last one).
    pub fn clash(&self, code: &[Inst], first: usize, second: usize) -> bool {
        let (Some(LoopParts { body: a, .. }), Some(LoopParts { body: b, .. })) =
            (loop_parts(&code[first]), loop_parts(&code[second]))
        else {
            return true;
        };
        let mut clash = false;
        each_read(&code[first + 1..second], &mut |v| clash |= self.first.contains(&v));
        each_read(a, &mut |v| clash |= self.between.contains(&v));
        each_read(b, &mut |v| clash |= self.first.contains(&v));
        each_read(a, &mut |v| clash |= self.second.contains(&v));
        clash
    }
}

/// Whether a size check of `code` before `end` (`t = x != y; if t { fail }`,
/// either order) makes the variables `x` and `y` equal when the loop at
/// `end` runs: each is set once in the function (by a `Set`, never
/// again), so the check compared the values the loops read.
pub(super) fn checked_equal(code: &[Inst], end: usize, x: &Operand, y: &Operand, once: &HashSet<Var>) -> bool {
    let (Operand::Var(x), Operand::Var(y)) = (*x, *y) else {
        return false;
    };
    if !once.contains(&x) || !once.contains(&y) {
        return false;
    }
    // Each test, where it is computed: the operands must not change from
    // there on. (Lowered code sets a variable before it reads it, which the
    // verifier checks; this scan does not lean on it.)
    let mut tests: HashMap<Var, (Var, Var, usize)> = HashMap::default();
    code[..end].iter().enumerate().any(|(k, inst)| match inst {
        Inst::Set(t, Expr::Binary(BinOp::INe, Operand::Var(a), Operand::Var(b))) if once.contains(t) => {
            tests.insert(*t, (*a, *b, k));
            false
        }
        Inst::If {
            cond: Operand::Var(t),
            then,
            els,
        } if els.is_empty() && matches!(then[..], [Inst::Fail { .. }]) => {
            let Some(&(a, b, at)) = tests.get(t) else {
                return false;
            };
            let mut set_after = false;
            each_assignment(&code[at..=end], &mut |v| set_after |= v == x || v == y);
            ((a, b) == (x, y) || (a, b) == (y, x)) && !set_after
        }
        _ => false,
    })
}

/// Whether a variable of `a_sets` or `b_sets` is read anywhere in the
/// function outside the loops `a` and `b`.
pub(super) fn read_elsewhere(a: &Inst, b: &Inst, a_sets: &HashSet<Var>, b_sets: &HashSet<Var>, reads: &Reads) -> bool {
    let mut inside: Reads = HashMap::default();
    each_read(std::slice::from_ref(a), &mut |v| *inside.entry(v).or_insert(0) += 1);
    each_read(std::slice::from_ref(b), &mut |v| *inside.entry(v).or_insert(0) += 1);
    a_sets
        .iter()
        .chain(b_sets)
        .any(|v| reads.get(v).copied().unwrap_or(0) > inside.get(v).copied().unwrap_or(0))
}

/// One load or store of a loop body.
pub(super) struct Access {
    pub base: Operand,
    pub index: Operand,
    pub ty: Ty,
    pub store: bool,
}

pub(super) fn accesses(body: &[Inst]) -> Vec<Access> {
    body.iter()
        .filter_map(|inst| match inst {
            Inst::Set(_, Expr::Load { ty, base, index }) => Some(Access {
                base: *base,
                index: *index,
                ty: *ty,
                store: false,
            }),
            Inst::Store { ty, base, index, .. } => Some(Access {
                base: *base,
                index: *index,
                ty: *ty,
                store: true,
            }),
            _ => None,
        })
        .collect()
}

/// Replaces every read of `from` in `code` by `to`.
fn rename(code: &mut [Inst], from: Var, to: Var) {
    let swap = |o: &mut Operand| {
        if *o == Operand::Var(from) {
            *o = Operand::Var(to);
        }
    };
    for inst in code {
        match inst {
            Inst::Set(_, expr) => expr.operands_mut().into_iter().for_each(swap),
            Inst::Store { base, index, value, .. } => [base, index, value].into_iter().for_each(swap),
            _ => unreachable!("fused bodies are straight-line sets and stores"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ir::Type;
    use crate::core::value::Value;
    use crate::lower::eval::eval;
    use crate::lower::lir::{BinOp, LoopHint, VarInfo};

    /// `f(a: [n]f64) -> [n]f64`: the first loop writes `2 a[i]` to `buf`,
    /// then `view` is `buf` from element `shift` on, and the second loop
    /// writes `view[i] + 1` (`None`: `buf[i] + 1`) to `out`, both
    /// over the first `n - 1` elements; the last ones are set to 0.
    fn two_loops(shift: Option<i64>) -> Func {
        let vars = var_infos(
            &[
                "n", "a", "buf", "out", "m", "view", "i", "x", "y", "j", "u", "w", "bytes",
            ],
            &[I, P, P, P, I, P, I, F, F, I, F, F, I],
        );
        let [n, a, buf, out, m, view, i, x, y, j, u, w, bytes] = std::array::from_fn(|k| Var(k as u32));
        let v = Operand::Var;
        let hint = LoopHint {
            vector: true,
            ..LoopHint::default()
        };
        let read = if shift.is_some() { view } else { buf };
        let view_expr = match shift {
            Some(k) => Expr::Offset {
                ty: Ty::F64,
                base: v(buf),
                index: Operand::I64(k),
            },
            None => Expr::Atom(v(buf)),
        };
        let body = vec![
            Inst::Set(bytes, Expr::Binary(BinOp::IMul, v(n), Operand::I64(8))),
            Inst::Call {
                func: "dl_result_alloc",
                args: vec![v(bytes)],
                result: Some(out),
            },
            Inst::Set(m, Expr::Binary(BinOp::ISub, v(n), Operand::I64(1))),
            Inst::Set(buf, Expr::Alloc { ty: Ty::F64, n: v(n) }),
            Inst::Store {
                ty: Ty::F64,
                base: v(buf),
                index: v(m),
                value: Operand::F64(0.0),
            },
            Inst::For {
                index: i,
                start: Operand::I64(0),
                end: v(m),
                body: doubling(a, buf, i, x, y),
                hint: hint.clone(),
            },
            Inst::Set(view, view_expr),
            Inst::For {
                index: j,
                start: Operand::I64(0),
                end: v(m),
                body: vec![
                    Inst::Set(
                        u,
                        Expr::Load {
                            ty: Ty::F64,
                            base: v(read),
                            index: v(j),
                        },
                    ),
                    Inst::Set(w, Expr::Binary(BinOp::FAdd, v(u), Operand::F64(1.0))),
                    Inst::Store {
                        ty: Ty::F64,
                        base: v(out),
                        index: v(j),
                        value: v(w),
                    },
                ],
                hint,
            },
            Inst::Store {
                ty: Ty::F64,
                base: v(out),
                index: v(m),
                value: Operand::F64(0.0),
            },
        ];
        Func {
            name: "f".to_string(),
            vars,
            params: vec![n, a],
            param_types: vec![Type::array(Type::F64)],
            result_type: Type::array(Type::F64),
            body,
            results: vec![v(n), v(out)],
            locations: Vec::new(),
        }
    }

    /// `x = a[i]; y = 2 x; buf[i] = y`.
    fn doubling(a: Var, buf: Var, i: Var, x: Var, y: Var) -> Vec<Inst> {
        let v = Operand::Var;
        vec![
            Inst::Set(
                x,
                Expr::Load {
                    ty: Ty::F64,
                    base: v(a),
                    index: v(i),
                },
            ),
            Inst::Set(y, Expr::Binary(BinOp::FMul, v(x), Operand::F64(2.0))),
            Inst::Store {
                ty: Ty::F64,
                base: v(buf),
                index: v(i),
                value: v(y),
            },
        ]
    }

    /// The variables of a function, named and typed in order.
    fn var_infos(names: &[&str], types: &[Ty]) -> Vec<VarInfo> {
        names
            .iter()
            .zip(types)
            .map(|(name, ty)| VarInfo {
                name: name.to_string(),
                ty: *ty,
            })
            .collect()
    }

    /// A new variable of `func`.
    fn add_var(func: &mut Func, name: &str, ty: Ty) -> Var {
        func.vars.push(VarInfo {
            name: name.to_string(),
            ty,
        });
        Var(func.vars.len() as u32 - 1)
    }

    const I: Ty = Ty::I64;
    const P: Ty = Ty::Ptr;
    const F: Ty = Ty::F64;

    fn loops(func: &Func) -> usize {
        func.body.iter().filter(|inst| matches!(inst, Inst::For { .. })).count()
    }

    /// Runs `func` before and after fusion, which must give the same
    /// value; returns the number of loops left.
    fn fused_loops(mut func: Func) -> usize {
        let arg = Value::array((0..5).map(|k| Value::F64(k as f64 - 1.5)).collect());
        let before = eval(&func, std::slice::from_ref(&arg)).expect("runs");
        fuse_loops(&mut func);
        assert_eq!(eval(&func, &[arg]).expect("runs after fusion"), before);
        loops(&func)
    }

    #[test]
    fn loops_that_meet_at_their_index_fuse() {
        assert_eq!(fused_loops(two_loops(None)), 1);
    }

    /// [`two_loops`] with the second loop's end computed again as `n - 1`
    /// into a variable of its own, checked equal to the first's if
    /// `checked`.
    fn two_ends(checked: bool) -> Func {
        let mut func = two_loops(None);
        let (again, differ) = (
            add_var(&mut func, "again", Ty::I64),
            add_var(&mut func, "differ", Ty::Bool),
        );
        let (n, m) = (Var(0), Var(4));
        let Some(second) = func.body.iter().rposition(|inst| matches!(inst, Inst::For { .. })) else {
            panic!("two loops")
        };
        let Inst::For { end, .. } = &mut func.body[second] else {
            unreachable!()
        };
        *end = Operand::Var(again);
        let mut between = vec![Inst::Set(
            again,
            Expr::Binary(BinOp::ISub, Operand::Var(n), Operand::I64(1)),
        )];
        if checked {
            between.push(Inst::Set(
                differ,
                Expr::Binary(BinOp::INe, Operand::Var(again), Operand::Var(m)),
            ));
            between.push(Inst::If {
                cond: Operand::Var(differ),
                then: vec![Inst::Fail {
                    kind: 2,
                    loc: 0,
                    values: vec![Operand::Var(again), Operand::Var(m)],
                }],
                els: Vec::new(),
            });
        }
        func.body.splice(second..second, between);
        func
    }

    /// Ends that a size check made equal are the same range.
    #[test]
    fn loops_whose_ends_a_check_made_equal_fuse() {
        assert_eq!(fused_loops(two_ends(true)), 1);
        assert_eq!(fused_loops(two_ends(false)), 2);
    }

    /// `f(a: [n]f64) -> f64`: a loop writes `2 a[i]` to `buf`, then a
    /// loop reduces `buf` with `op` (the accumulator read afterwards).
    fn map_then_reduce(op: BinOp) -> Func {
        let vars = var_infos(
            &["n", "a", "buf", "i", "x", "y", "acc", "j", "u"],
            &[I, P, P, I, F, F, F, I, F],
        );
        let [n, a, buf, i, x, y, acc, j, u] = std::array::from_fn(|k| Var(k as u32));
        let v = Operand::Var;
        let plain = LoopHint {
            vector: true,
            ..LoopHint::default()
        };
        let reducing = LoopHint {
            vector: true,
            reductions: vec![(acc, op)],
            ..LoopHint::default()
        };
        let body = vec![
            Inst::Set(buf, Expr::Alloc { ty: Ty::F64, n: v(n) }),
            Inst::For {
                index: i,
                start: Operand::I64(0),
                end: v(n),
                body: doubling(a, buf, i, x, y),
                hint: plain,
            },
            Inst::Set(acc, Expr::Atom(Operand::F64(0.0))),
            Inst::For {
                index: j,
                start: Operand::I64(0),
                end: v(n),
                body: vec![
                    Inst::Set(
                        u,
                        Expr::Load {
                            ty: Ty::F64,
                            base: v(buf),
                            index: v(j),
                        },
                    ),
                    Inst::Set(acc, Expr::Binary(op, v(acc), v(u))),
                ],
                hint: reducing,
            },
        ];
        Func {
            name: "f".to_string(),
            vars,
            params: vec![n, a],
            param_types: vec![Type::array(Type::F64)],
            result_type: Type::F64,
            body,
            results: vec![v(acc)],
            locations: Vec::new(),
        }
    }

    /// A sum of what the loop before wrote is added up in that loop, and
    /// stays a reduction; a maximum stays apart (it has a path of its own).
    #[test]
    fn a_reduction_joins_the_loop_it_reads() {
        let mut func = map_then_reduce(BinOp::FAdd);
        assert_eq!(fused_loops(func.clone()), 1);
        fuse_loops(&mut func);
        let Some(Inst::For { hint, .. }) = func.body.iter().find(|inst| matches!(inst, Inst::For { .. })) else {
            panic!("a loop")
        };
        assert_eq!(hint.reductions.len(), 1);
        assert_eq!(fused_loops(map_then_reduce(BinOp::FMax)), 2);
        // A loop that scales by the sum needs the whole sum first.
        let mut func = map_then_reduce(BinOp::FAdd);
        let (k, w, z) = (
            add_var(&mut func, "k", I),
            add_var(&mut func, "w", F),
            add_var(&mut func, "z", F),
        );
        let (n, buf, acc) = (Var(0), Var(2), Var(6));
        func.body.push(Inst::For {
            index: k,
            start: Operand::I64(0),
            end: Operand::Var(n),
            body: vec![
                Inst::Set(
                    w,
                    Expr::Load {
                        ty: Ty::F64,
                        base: Operand::Var(buf),
                        index: Operand::Var(k),
                    },
                ),
                Inst::Set(z, Expr::Binary(BinOp::FMul, Operand::Var(w), Operand::Var(acc))),
                Inst::Store {
                    ty: Ty::F64,
                    base: Operand::Var(buf),
                    index: Operand::Var(k),
                    value: Operand::Var(z),
                },
            ],
            hint: LoopHint {
                vector: true,
                ..LoopHint::default()
            },
        });
        assert_eq!(fused_loops(func), 2);
    }

    /// Element `i + 1` of the first loop's buffer, read through a view,
    /// is written in the iteration after the one that reads it.
    #[test]
    fn a_read_through_a_shifted_view_keeps_the_loops_apart() {
        assert_eq!(fused_loops(two_loops(Some(1))), 2);
        // Even with no shift: a view is another variable than its buffer.
        assert_eq!(fused_loops(two_loops(Some(0))), 2);
    }
}
