//! Reverse mode of `reduce` and `scan`. A `reduce` by `+` (on f64) has
//! the direct rule: every element's cotangent is the result's. Any other
//! operator is differentiated as the left fold it equals (the operator is
//! associative and `ne` its neutral element): the backward sweep computes
//! the prefix accumulators with a `scan`, then runs the body's backward
//! pass over the elements in reverse order (`loops.rs`). A `scan` already
//! has its accumulators and adds its own cotangents on the way.

use super::block::{Cts, Env, Rev};
use super::loops::Steps;
use crate::ad::AdError;
use crate::core::ir::Type;
use crate::prim::Prim;
use crate::unf::{Block, Slot, Term};

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
        let copy = self.copy_block(body, env, level)?;
        let ty = Type::array(self.b.ty(tne).clone());
        let scan = self.b.push(
            Term::Scan {
                ne: tne,
                array: ta,
                body: copy,
            },
            ty,
            "prefix",
        );
        self.transpose_fold(tne, ta, scan, None, body, level, c, env, cts, (ne, array))
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
        self.transpose_fold(tne, ta, scan, Some(c), body, level, carry0, env, cts, (ne, array))
    }

    /// The reversed fold over `ta` with accumulators `scan` (after each
    /// element); adds the cotangents of `ne` and the array (source slots
    /// `sources`).
    #[allow(clippy::too_many_arguments)]
    fn transpose_fold(
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
        sources: (Slot, Slot),
    ) -> Result<(), AdError> {
        let ty = self.b.ty(tne).clone();
        let first = self.b.push(Term::Array(vec![tne], ty.clone()), Type::array(ty), "ne");
        let prev = self.prim(Prim::Concat, &[first, scan])?;
        let count = self.prim(Prim::Length, &[ta])?;
        let steps = Steps::Fold {
            prev,
            array: ta,
            ct_out,
        };
        let (carry, ca) = self.reverse_steps(body, level, steps, count, carry0, env, cts)?;
        self.add(env, cts, sources.0.index(), carry)?;
        if let Some(ca) = ca {
            self.add(env, cts, sources.1.index(), ca)?;
        }
        Ok(())
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
