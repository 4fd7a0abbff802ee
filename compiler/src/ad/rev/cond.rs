//! Reverse mode of `if`: the backward sweep branches again on the saved
//! condition, so only the taken branch is transposed. Each branch
//! recomputes its primal values, transposes itself, and returns the
//! cotangents of the outer values that either branch reads (a zero where
//! it does not contribute), so both branches have one type.

use super::block::{free_active, Cts, Env, Rev};
use crate::ad::AdError;
use crate::unf::{Block, Slot, Term};
use std::collections::BTreeSet;

impl Rev {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transpose_if(
        &mut self,
        cond: Slot,
        a: &Block,
        b: &Block,
        level: usize,
        c: Slot,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(), AdError> {
        let mut outer = BTreeSet::new();
        free_active(a, level, env, &mut outer);
        free_active(b, level, env, &mut outer);
        if outer.is_empty() {
            return Ok(());
        }
        let outer: Vec<usize> = outer.into_iter().collect();
        let ta = self.branch_backward(a, &outer, level, c, env)?;
        let tb = self.branch_backward(b, &outer, level, c, env)?;
        let ty = ta_type(self, &ta);
        let all = self.b.push(Term::If(env.at(cond), ta, tb), ty, "cts");
        for (k, o) in outer.iter().enumerate() {
            let ct = self.proj(all, k)?;
            self.add(env, cts, *o, ct)?;
        }
        Ok(())
    }

    /// One branch's backward block, returning the tuple of the cotangents
    /// of `outer`.
    fn branch_backward(
        &mut self,
        blk: &Block,
        outer: &[usize],
        level: usize,
        c: Slot,
        env: &Env,
    ) -> Result<Block, AdError> {
        let (mut child, _) = self.open(env, level, Vec::new());
        let inner = self.nested_backward(blk, &mut child, level, c)?;
        let mut fields = Vec::new();
        for o in outer {
            fields.push(match inner.get(o) {
                Some(ct) => *ct,
                None => self.zero(env.slots[*o])?,
            });
        }
        let t = self.b.tuple(&fields);
        Ok(self.b.close(t))
    }
}

/// The type of a closed branch: that of its result op.
fn ta_type(rev: &Rev, blk: &Block) -> crate::core::ir::Type {
    blk.ops
        .last()
        .map(|op| op.ty.clone())
        .unwrap_or_else(|| rev.b.ty(blk.result).clone())
}
