//! Reverse mode of `for` and `while` loops, and the reversed iteration
//! they share with `reduce` and `scan`.
//!
//! The forward sweep keeps the state every iteration starts from (the
//! `scanl` of the fold rule) in an array allocated once for all the
//! iterations and written in place (`index_set`): the loop carries
//! `(state, states)`. A `while` loop first runs counting its iterations,
//! then records like a `for` loop of that many; the tape of a loop is
//! `(states, trip count)`. The backward sweep is a `for` loop over the
//! recorded iterations in reverse order; each iteration recomputes the
//! body's primal values from its recorded state and transposes the body,
//! carrying the state's cotangent and the cotangents of the outer values
//! the body reads. Memory is O(iterations x state); checkpointing would
//! replace the recorded states by recomputation from a few of them. The
//! forward sweep also records the states of the inner `for` loops that
//! `nest.rs` allows, so that the backward sweep replays them instead of
//! running them again (all but their last step).

use super::block::{free_active, Cts, Env, Record, Rev};
use super::nest::recordable_loops;
use crate::ad::AdError;
use crate::core::ir::Type;
use crate::prim::Prim;
use crate::unf::{Block, Lit, Param, Slot, Term};
use std::collections::BTreeSet;

/// Where the reversed iterations find the values a body's parameters had.
pub(super) enum Steps {
    /// A loop: `states[i]` is the state iteration `i` started from;
    /// `indexed` when the body also sees `i` (a `for` loop). Each of
    /// `inner` is an inner loop the forward sweep recorded: its source
    /// level and its states in each iteration.
    Loop {
        states: Slot,
        indexed: bool,
        inner: Vec<(usize, Slot)>,
    },
    /// A fold (`reduce`, `scan`): `prev[i]` is the accumulator before
    /// element `i` of `array`; a scan's own cotangent `ct_out[i]` joins the
    /// accumulator's after element `i`.
    Fold {
        prev: Slot,
        array: Slot,
        ct_out: Option<Slot>,
    },
}

fn param(name: &str, ty: Type) -> Param {
    Param { name: name.into(), ty }
}

impl Rev {
    /// The forward sweep of `for`: the final state and the tape.
    pub(super) fn record_for(
        &mut self,
        init: Slot,
        n: Slot,
        body: &Block,
        env: &Env,
        level: usize,
        nested: bool,
    ) -> Result<(Slot, Slot), AdError> {
        let zero = self.b.lit(Lit::I64(0));
        let count = self.prim(Prim::Max, &[env.at(n), zero])?;
        self.record_steps(env.at(init), count, body, true, env, level, nested)
    }

    /// The forward sweep of `while`: the final state and the tape. The
    /// trip count is unknown until the loop ends, so the loop runs once
    /// counting its iterations, then again recording its states into an
    /// array of that length: twice the work of the loop, and no copying
    /// of a growing record.
    pub(super) fn record_while(
        &mut self,
        init: Slot,
        cond: &Block,
        body: &Block,
        env: &Env,
        level: usize,
        nested: bool,
    ) -> Result<(Slot, Slot), AdError> {
        let zero = self.b.lit(Lit::I64(0));
        let init0 = self.b.tuple(&[env.at(init), zero]);
        let pty = self.b.ty(init0).clone();
        let mut blocks = Vec::new();
        for (k, blk) in [cond, body].into_iter().enumerate() {
            let ps = self.b.open(vec![param("run", pty.clone())]);
            let s = self.proj(ps[0], 0)?;
            let mut child = env.prefix(level);
            child.push(s, self.b.ty(s).has_f64());
            let r = self.forward(blk, &mut child, Record::Nothing)?;
            blocks.push(if k == 0 {
                self.b.close(r)
            } else {
                let trips = self.proj(ps[0], 1)?;
                let one = self.b.lit(Lit::I64(1));
                let trips = self.prim(Prim::Add, &[trips, one])?;
                let t = self.b.tuple(&[r, trips]);
                self.b.close(t)
            });
        }
        let body_run = blocks.pop().expect("two blocks");
        let cond_run = blocks.pop().expect("two blocks");
        let run = self.b.push(
            Term::While {
                init: init0,
                cond: cond_run,
                body: body_run,
            },
            pty,
            "run",
        );
        let fin = self.proj(run, 0)?;
        let count = self.proj(run, 1)?;
        let (_, tape) = self.record_steps(env.at(init), count, body, false, env, level, nested)?;
        Ok((fin, tape))
    }

    /// `count` iterations of `body` from `init` (the body also sees the
    /// iteration's index when `indexed`), recording the state each one
    /// starts from into an array allocated once. When `nested`, the states
    /// of the loops of the body that [`recordable_loops`] allows are
    /// recorded too, each iteration's into one more array, so that the
    /// backward sweep need not run them again ([`Rev::replay_loop`]).
    /// Returns the final state and the tape `(states, count, states per
    /// inner loop...)`.
    #[allow(clippy::too_many_arguments)]
    fn record_steps(
        &mut self,
        init: Slot,
        count: Slot,
        body: &Block,
        indexed: bool,
        env: &Env,
        level: usize,
        nested: bool,
    ) -> Result<(Slot, Slot), AdError> {
        let inner = if nested {
            recordable_loops(body, level)
        } else {
            Vec::new()
        };
        let buf = self.prim(Prim::Replicate, &[count, init])?;
        let mut fields = vec![init, buf];
        // The inner records start empty; the first iteration, which knows
        // their element sizes, allocates them.
        for &l in &inner {
            let elem = Type::array(body.ops[l - level - body.params.len()].ty.clone());
            let empty = self
                .b
                .push(Term::Array(Vec::new(), elem.clone()), Type::array(elem), "tape");
            fields.push(empty);
        }
        let pair0 = self.b.tuple(&fields);
        let pty = self.b.ty(pair0).clone();
        let ps = self.b.open(vec![param("rec", pty.clone()), param("i", Type::I64)]);
        let s = self.proj(ps[0], 0)?;
        let mut child = env.prefix(level);
        child.push(s, self.b.ty(s).has_f64());
        if indexed {
            child.push(ps[1], false);
        }
        // The state goes on the record before the body runs: its last
        // read is then the body's, which may update it in place.
        let states = self.proj(ps[0], 1)?;
        let states = self.prim(Prim::IndexSet, &[states, ps[1], s])?;
        let r = self.forward(body, &mut child, Record::Only(&inner))?;
        let mut next = vec![r, states];
        if !inner.is_empty() {
            let zero = self.b.lit(Lit::I64(0));
            let first = self.prim(Prim::Eq, &[ps[1], zero])?;
            for (k, l) in inner.iter().enumerate() {
                let states = self.proj(child.tapes[l].slot, 0)?;
                let record = self.proj(ps[0], 2 + k)?;
                let record = self.allocate_once(first, count, states, record)?;
                next.push(self.prim(Prim::IndexSet, &[record, ps[1], states])?);
            }
        }
        let t = self.b.tuple(&next);
        let blk = self.b.close(t);
        let lp = self.b.push(
            Term::For {
                init: pair0,
                n: count,
                body: blk,
            },
            pty,
            "rec",
        );
        let fin = self.proj(lp, 0)?;
        let mut tape = vec![self.proj(lp, 1)?, count];
        for f in 2..fields.len() {
            tape.push(self.proj(lp, f)?);
        }
        let tape = self.b.tuple(&tape);
        Ok((fin, tape))
    }

    /// The final state and tape of a `for` loop (at source level `level`,
    /// of type `ty`) whose states `states` the enclosing loop's forward
    /// sweep recorded: the final state is the body's last step again, from
    /// the last recorded state, or the initial state when the loop ran no
    /// iteration. Only the states have sizes the record could prove fixed.
    pub(super) fn replay_loop(
        &mut self,
        states: Slot,
        init: Slot,
        body: &Block,
        env: &Env,
        level: usize,
        ty: &Type,
    ) -> Result<(Slot, Slot), AdError> {
        let count = self.prim(Prim::Length, &[states])?;
        let zero = self.b.lit(Lit::I64(0));
        let ran = self.prim(Prim::Gt, &[count, zero])?;
        self.b.open_branch();
        let one = self.b.lit(Lit::I64(1));
        let last = self.prim(Prim::Sub, &[count, one])?;
        let s = self.prim(Prim::Index, &[states, last])?;
        let mut child = env.prefix(level);
        child.push(s, self.b.ty(s).has_f64());
        child.push(last, false);
        let r = self.forward(body, &mut child, Record::Nothing)?;
        let stepped = self.b.close(r);
        self.b.open_branch();
        let unrun = self.b.close(env.at(init));
        let fin = self.b.push(Term::If(ran, stepped, unrun), ty.clone(), "fin");
        let tape = self.b.tuple(&[states, count]);
        Ok((fin, tape))
    }

    /// `record` on every iteration but the first, which replaces it by an
    /// array of `count` copies of `value`.
    fn allocate_once(&mut self, first: Slot, count: Slot, value: Slot, record: Slot) -> Result<Slot, AdError> {
        let ty = self.b.ty(record).clone();
        self.b.open_branch();
        let fresh = self.prim(Prim::Replicate, &[count, value])?;
        let fresh = self.b.close(fresh);
        self.b.open_branch();
        let kept = self.b.close(record);
        Ok(self.b.push(Term::If(first, fresh, kept), ty, "record"))
    }

    /// The backward sweep of a loop whose final state has cotangent `c`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transpose_loop(
        &mut self,
        init: Slot,
        body: &Block,
        indexed: bool,
        level: usize,
        c: Slot,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(), AdError> {
        let tape = *env
            .tapes
            .get(&level)
            .ok_or_else(|| self.err("a loop's states were not recorded"))?;
        let states = self.proj(tape.slot, 0)?;
        let count = self.proj(tape.slot, 1)?;
        let mut inner = Vec::new();
        if tape.nested {
            for (k, l) in recordable_loops(body, level).into_iter().enumerate() {
                inner.push((l, self.proj(tape.slot, 2 + k)?));
            }
        }
        let steps = Steps::Loop { states, indexed, inner };
        let (carry, _) = self.reverse_steps(body, level, steps, count, c, env, cts)?;
        self.add(env, cts, init.index(), carry)
    }

    /// The reversed iterations `count - 1` down to 0 of `body` (whose
    /// parameters are at source level `level`), starting from the
    /// cotangent `carry0` of the last result. Adds the cotangents of outer
    /// values to `cts`; returns the cotangent of the first iteration's
    /// first parameter and, for a fold, that of the array.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn reverse_steps(
        &mut self,
        body: &Block,
        level: usize,
        steps: Steps,
        count: Slot,
        carry0: Slot,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(Slot, Option<Slot>), AdError> {
        let mut outer = BTreeSet::new();
        free_active(body, level, env, &mut outer);
        let outer: Vec<usize> = outer.into_iter().collect();
        let mut fields = vec![carry0];
        if let Steps::Fold { array, .. } = steps {
            fields.push(self.zero(array)?);
        }
        let off = fields.len();
        for o in &outer {
            fields.push(self.zero(env.slots[*o])?);
        }
        let init = self.b.tuple(&fields);
        let sty = self.b.ty(init).clone();

        // The last iteration's index, once for all the reversed iterations.
        let one = self.b.lit(Lit::I64(1));
        let last = self.prim(Prim::Sub, &[count, one])?;
        let ps = self.b.open(vec![param("cts", sty.clone()), param("j", Type::I64)]);
        let (bs, j) = (ps[0], ps[1]);
        let i = self.prim(Prim::Sub, &[last, j])?;
        let carry = self.proj(bs, 0)?;
        let mut child = env.prefix(level);
        let fold = matches!(steps, Steps::Fold { .. });
        let c = match steps {
            Steps::Loop { states, indexed, inner } => {
                let s = self.prim(Prim::Index, &[states, i])?;
                child.push(s, self.b.ty(s).has_f64());
                if indexed {
                    child.push(i, false);
                }
                for (l, states) in inner {
                    let states = self.prim(Prim::Index, &[states, i])?;
                    child.replay.insert(l, states);
                }
                carry
            }
            Steps::Fold { prev, array, ct_out } => {
                let acc = self.prim(Prim::Index, &[prev, i])?;
                let x = self.prim(Prim::Index, &[array, i])?;
                child.push(acc, self.b.ty(acc).has_f64());
                child.push(x, self.b.ty(x).has_f64());
                match ct_out {
                    Some(out) => {
                        let ci = self.prim(Prim::Index, &[out, i])?;
                        self.prim(Prim::AddTangent, &[carry, ci])?
                    }
                    None => carry,
                }
            }
        };
        let first = child.slots[level];
        let inner = self.nested_backward(body, &mut child, level, c)?;
        let mut next = vec![match inner.get(&level) {
            Some(ct) => *ct,
            None => self.zero(first)?,
        }];
        if fold {
            let cta = self.proj(bs, 1)?;
            next.push(match inner.get(&(level + 1)) {
                Some(cx) => self.prim(Prim::IndexAdd, &[cta, i, *cx])?,
                None => cta,
            });
        }
        for (k, o) in outer.iter().enumerate() {
            let acc = self.proj(bs, off + k)?;
            next.push(match inner.get(o) {
                Some(ct) => self.prim(Prim::AddTangent, &[acc, *ct])?,
                None => acc,
            });
        }
        let t = self.b.tuple(&next);
        let blk = self.b.close(t);
        let res = self.b.push(
            Term::For {
                init,
                n: count,
                body: blk,
            },
            sty,
            "back",
        );
        let carry = self.proj(res, 0)?;
        let cta = if fold { Some(self.proj(res, 1)?) } else { None };
        for (k, o) in outer.iter().enumerate() {
            let ct = self.proj(res, off + k)?;
            self.add(env, cts, *o, ct)?;
        }
        Ok((carry, cta))
    }
}
