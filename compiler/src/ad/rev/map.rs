//! Reverse mode of `map` and `build`. The backward sweep is a map over the
//! elements and their cotangents: each element recomputes the body's
//! primal values, transposes the body, and returns the cotangents of its
//! elements and of the outer values it read. The element cotangents form
//! the cotangents of the mapped arrays; those of outer values are summed
//! over the elements.

use super::block::{Cts, Env, Rev};
use crate::ad::AdError;
use crate::core::ir::Type;
use crate::prim::vjp::Emit;
use crate::prim::Prim;
use crate::unf::{Block, Param, Slot, Term};

impl Rev {
    pub(super) fn transpose_map(
        &mut self,
        arrays: &[Slot],
        body: &Block,
        level: usize,
        c: Slot,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(), AdError> {
        let k = arrays.len();
        let mut params = body.params.clone();
        params.push(Param {
            name: "ct".into(),
            ty: elem(self.b.ty(c))?,
        });
        let (mut child, slots) = self.open(env, level, params);
        // The element cotangent is no source slot: it sits above the
        // parameters, where the body's ops start, and is never looked up.
        child.slots.pop();
        child.active.pop();
        let inner = self.nested_backward(body, &mut child, level, slots[k])?;
        let mut targets = Vec::new();
        let mut fields = Vec::new();
        for (j, a) in arrays.iter().enumerate() {
            if let Some(ct) = inner.get(&(level + j)) {
                // An array mapped twice (`a * a`) gets the sum of its
                // element cotangents, added per element.
                match targets.iter().position(|(t, _)| *t == a.index()) {
                    Some(k) => fields[k] = self.prim(Prim::AddTangent, &[fields[k], *ct])?,
                    None => {
                        targets.push((a.index(), None));
                        fields.push(*ct);
                    }
                }
            }
        }
        for (&outer, &ct) in inner.range(..level) {
            targets.push((outer, Some(env.slots[outer])));
            fields.push(ct);
        }
        self.finish_elementwise(
            targets,
            fields,
            |rev, blk| {
                let mut arrays: Vec<Slot> = arrays.iter().map(|a| env.at(*a)).collect();
                arrays.push(c);
                let _ = rev;
                Term::Map { arrays, body: blk }
            },
            env,
            cts,
        )
    }

    pub(super) fn transpose_build(
        &mut self,
        n: Slot,
        body: &Block,
        level: usize,
        c: Slot,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(), AdError> {
        let (mut child, slots) = self.open(env, level, body.params.clone());
        let ci = self.prim(Prim::Index, &[c, slots[0]])?;
        let inner = self.nested_backward(body, &mut child, level, ci)?;
        let mut targets = Vec::new();
        let mut fields = Vec::new();
        for (&outer, &ct) in inner.range(..level) {
            targets.push((outer, Some(env.slots[outer])));
            fields.push(ct);
        }
        let n = env.at(n);
        self.finish_elementwise(targets, fields, |_, blk| Term::Build { n, body: blk }, env, cts)
    }

    /// Closes the open element block with the tuple of `fields`, pushes the
    /// term `make` builds around it, and adds each field's array to the
    /// cotangent of its target: as it is for a mapped array (`None`), summed
    /// over the elements for an outer value (its primal slot given).
    fn finish_elementwise(
        &mut self,
        targets: Vec<(usize, Option<Slot>)>,
        fields: Vec<Slot>,
        make: impl FnOnce(&mut Rev, Block) -> Term,
        env: &Env,
        cts: &mut Cts,
    ) -> Result<(), AdError> {
        let tuple = self.b.tuple(&fields);
        let ty = Type::array(self.b.ty(tuple).clone());
        let blk = self.b.close(tuple);
        if targets.is_empty() {
            return Ok(());
        }
        let term = make(self, blk);
        let all = self.b.push(term, ty, "cts");
        for (k, (target, primal)) in targets.into_iter().enumerate() {
            let field = self
                .map(&[all], &mut |e, ts| {
                    e.b.proj(ts[0], k).ok_or_else(|| "no field".to_string())
                })
                .map_err(|m| self.err(m))?;
            let ct = match primal {
                None => field,
                Some(p) => self.sum_outer(field, p).map_err(|m| self.err(m))?,
            };
            self.add(env, cts, target, ct)?;
        }
        Ok(())
    }
}

fn elem(t: &Type) -> Result<Type, AdError> {
    t.elem()
        .cloned()
        .ok_or_else(|| AdError::new(format!("the cotangent of a map is a {t}"), None))
}
