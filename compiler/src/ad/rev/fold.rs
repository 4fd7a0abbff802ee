//! Reverse mode of `reduce` and `scan`. A `reduce` by `+` (on f64) has
//! the direct rule: every element's cotangent is the result's; one by
//! `max` or `min` gives it all to one element (or `ne`). Any other
//! operator is differentiated as the left fold it equals (the operator is
//! associative and `ne` its neutral element): the backward sweep computes
//! the prefix accumulators with a `scan`, then runs the body's backward
//! pass over the elements in reverse order (`loops.rs`). A `scan` already
//! has its accumulators and adds its own cotangents on the way. The
//! primitive `prod` is transposed as the fold `reduce(*, 1.0, a)` too
//! (`fold_cotangent`, which its rule in `prim/vjp.rs` calls).

use super::block::{Cts, Env, Rev};
use super::loops::Steps;
use crate::ad::AdError;
use crate::core::ir::Type;
use crate::prim::Prim;
use crate::unf::{Block, Lit, Op, Param, Slot, Term};

impl Rev {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transpose_reduce(
        &mut self,
        ne: Slot,
        array: Slot,
        body: &Block,
        level: usize,
        c: Slot,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(), AdError> {
        let (tne, ta) = (env.at(ne), env.at(array));
        if is_plus(body, level) {
            let n = self.prim(Prim::Length, &[ta])?;
            let ca = self.prim(Prim::Replicate, &[n, c])?;
            self.add(env, cts, array.index(), ca)?;
            return self.add(env, cts, ne.index(), c);
        }
        if let Some(arg) = extreme(body, level) {
            return self.transpose_extreme(arg, tne, ta, level, c, env, cts, (ne, array));
        }
        let scan = self.prefix_scan(tne, ta, body, env, level)?;
        let fold = self.reversed_fold(tne, ta, scan, None, body, level, c, env, cts)?;
        self.add_fold(env, cts, (ne, array), fold)
    }

    /// The cotangent of `a` in `reduce(op, ne, a)` (`op` a binary f64
    /// primitive, associative, `ne` its neutral element) whose result has
    /// cotangent `c`: the reverse mode of the left fold it equals, as for a
    /// `reduce` whose body is `op(acc, x)`.
    pub(super) fn fold_cotangent(&mut self, op: Prim, ne: Slot, a: Slot, c: Slot) -> Result<Slot, AdError> {
        let f64_param = |name: &str| Param {
            name: name.into(),
            ty: Type::F64,
        };
        // The body over an empty context: acc is %0, x is %1.
        let body = Block {
            params: vec![f64_param("acc"), f64_param("x")],
            ops: vec![Op {
                term: Term::Prim(op, vec![Slot(0), Slot(1)]),
                ty: Type::F64,
                name: "t".into(),
                span: self.b.span,
            }],
            result: Slot(2),
        };
        let env = Env::default();
        let scan = self.prefix_scan(ne, a, &body, &env, 0)?;
        let (_, ca) = self.reversed_fold(ne, a, scan, None, &body, 0, c, &env, &mut Cts::new())?;
        ca.ok_or_else(|| self.err("a fold without an array cotangent"))
    }

    /// The accumulators of the left fold of `ta` by `body` from `tne`,
    /// after each element: an inclusive scan.
    fn prefix_scan(&mut self, tne: Slot, ta: Slot, body: &Block, env: &Env, level: usize) -> Result<Slot, AdError> {
        let copy = self.copy_block(body, env, level)?;
        let ty = Type::array(self.b.ty(tne).clone());
        Ok(self.b.push(
            Term::Scan {
                ne: tne,
                array: ta,
                body: copy,
            },
            ty,
            "prefix",
        ))
    }

    /// `reduce(max, ne, a)` (or `min`, `arg` then `argmin`) has one
    /// nonzero partial: ties give the cotangent to the accumulator, so it
    /// goes to `ne` when the result is `ne`, and else to the first extreme
    /// element, `a[arg(a)]`, which leaves the left fold as the last strictly
    /// better value.
    #[allow(clippy::too_many_arguments)]
    fn transpose_extreme(
        &mut self,
        arg: Prim,
        tne: Slot,
        ta: Slot,
        level: usize,
        c: Slot,
        env: &Env,
        cts: &mut Cts,
        sources: (Slot, Slot),
    ) -> Result<(), AdError> {
        let r = env.slots[level];
        let at_ne = self.prim(Prim::Eq, &[r, tne])?;
        let za = self.prim(Prim::ZeroTangent, &[ta])?;
        let zero = self.b.lit(Lit::F64(0.0));
        self.b.open_branch();
        let both = self.b.tuple(&[c, za]);
        let to_ne = self.b.close(both);
        self.b.open_branch();
        let i = self.prim(arg, &[ta])?;
        let ca = self.prim(Prim::IndexAdd, &[za, i, c])?;
        let both = self.b.tuple(&[zero, ca]);
        let to_elem = self.b.close(both);
        let ty = Type::Tuple(vec![Type::F64, self.b.ty(za).clone()]);
        let sel = self.b.push(Term::If(at_ne, to_ne, to_elem), ty, "sel");
        let cne = self.proj(sel, 0)?;
        let ca = self.proj(sel, 1)?;
        self.add(env, cts, sources.0.index(), cne)?;
        self.add(env, cts, sources.1.index(), ca)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn transpose_scan(
        &mut self,
        ne: Slot,
        array: Slot,
        body: &Block,
        level: usize,
        c: Slot,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(), AdError> {
        let (tne, ta) = (env.at(ne), env.at(array));
        let carry0 = self.zero(tne)?;
        let scan = env.slots[level];
        let fold = self.reversed_fold(tne, ta, scan, Some(c), body, level, carry0, env, cts)?;
        self.add_fold(env, cts, (ne, array), fold)
    }

    /// Adds the cotangents a reversed fold gave to `ne` and the array
    /// (source slots `sources`).
    fn add_fold(
        &mut self,
        env: &Env,
        cts: &mut Cts,
        sources: (Slot, Slot),
        (carry, ca): (Slot, Option<Slot>),
    ) -> Result<(), AdError> {
        self.add(env, cts, sources.0.index(), carry)?;
        if let Some(ca) = ca {
            self.add(env, cts, sources.1.index(), ca)?;
        }
        Ok(())
    }

    /// The reversed fold over `ta` with accumulators `scan` (after each
    /// element): the cotangents of the accumulator before the first element
    /// and of the array.
    #[allow(clippy::too_many_arguments)]
    fn reversed_fold(
        &mut self,
        tne: Slot,
        ta: Slot,
        scan: Slot,
        ct_out: Option<Slot>,
        body: &Block,
        level: usize,
        carry0: Slot,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(Slot, Option<Slot>), AdError> {
        let ty = self.b.ty(tne).clone();
        let first = self.b.push(Term::Array(vec![tne], ty.clone()), Type::array(ty), "ne");
        let prev = self.prim(Prim::Concat, &[first, scan])?;
        let count = self.prim(Prim::Length, &[ta])?;
        let steps = Steps::Fold {
            prev,
            array: ta,
            ct_out,
        };
        self.reverse_steps(body, level, steps, count, carry0, env, cts)
    }
}

/// `Argmax` when the body is `max(acc, x)` on f64, `Argmin` for
/// `min(acc, x)`.
fn extreme(body: &Block, level: usize) -> Option<Prim> {
    let (acc, x) = (Slot(level as u32), Slot(level as u32 + 1));
    match body.ops.as_slice() {
        [op] if op.ty == Type::F64 && body.result == Slot(level as u32 + 2) => match &op.term {
            Term::Prim(Prim::Max, args) if args[..] == [acc, x] => Some(Prim::Argmax),
            Term::Prim(Prim::Min, args) if args[..] == [acc, x] => Some(Prim::Argmin),
            _ => None,
        },
        _ => None,
    }
}

/// True when the body is `acc + x` (or `x + acc`) on f64.
fn is_plus(body: &Block, level: usize) -> bool {
    let (acc, x) = (Slot(level as u32), Slot(level as u32 + 1));
    match body.ops.as_slice() {
        [op] => {
            op.ty == Type::F64
                && body.result == Slot(level as u32 + 2)
                && matches!(&op.term, Term::Prim(Prim::Add, args) if args[..] == [acc, x] || args[..] == [x, acc])
        }
        _ => false,
    }
}
