//! Which `for` loops of a loop's body may have their tapes kept by the
//! forward sweep of the loop around them.
//!
//! The forward sweep of a loop records its states in one array of
//! iterations. To keep an inner loop's tape too, every iteration of the
//! outer loop must give the inner loop the same trip count and a state of
//! the same sizes: arrays stay regular. This file proves that statically,
//! from two facts about each slot of the outer body:
//! - *fixed value*: the same in every outer iteration (defined outside the
//!   body, a literal, the length of a fixed-shape array, pure arithmetic on
//!   fixed values);
//! - *fixed shape*: the same sizes in every outer iteration (scalars, the
//!   outer state itself, since recording it already needs its sizes fixed,
//!   elements of fixed-shape arrays, primitives, `map`s and `build`s of
//!   fixed shapes and values, and an `if` of fixed-shape branches whose
//!   condition has a fixed value: two branches of fixed but different
//!   sizes under a changing condition are not).
//!
//! An inner loop qualifies when its trip count has a fixed value and its
//! initial state a fixed shape: then so have the states its tape records.
//! Its final state, the body's last result, need not (a last step may cut
//! the state), so the outer loop records the states alone and the
//! backward sweep computes the final state again from the last of them.
//!
//! A loop failing the proof keeps the old scheme: the backward sweep of
//! the outer loop recomputes it, recording its states then.

use crate::prim::Prim;
use crate::unf::{Block, Slot, Term, Type};

/// True when values of `ty` hold no array, so their sizes cannot change.
fn scalar(ty: &Type) -> bool {
    match ty {
        Type::F64 | Type::I64 | Type::Bool => true,
        Type::Array(_) => false,
        Type::Tuple(ts) => ts.iter().all(scalar),
    }
}

/// The facts about the slots of one block: a loop body, or a block
/// nested in one.
struct Facts<'p> {
    /// The level of the body's first parameter: slots below are outside.
    base: usize,
    /// The facts of the body around this one, for the slots below `base`;
    /// none for the outermost body, outside which everything is fixed.
    parent: Option<&'p Facts<'p>>,
    /// The level of the block's result.
    result: usize,
    /// Per slot from `base`: its type, fixed value, fixed shape.
    ty: Vec<Type>,
    value: Vec<bool>,
    shape: Vec<bool>,
}

impl<'p> Facts<'p> {
    /// The facts of `body`, whose parameters start at level `base`. The
    /// parameters have fixed sizes and changing values: a loop's state
    /// (recording it already needs its sizes fixed) and index, the
    /// elements of arrays of fixed sizes, a build's index. With `loops`,
    /// collects the `for` ops at the top of `body` that the loop around
    /// may record.
    fn of(body: &Block, base: usize, parent: Option<&'p Facts<'p>>, mut loops: Option<&mut Vec<usize>>) -> Facts<'p> {
        let mut facts = Facts {
            base,
            parent,
            result: body.result.index(),
            ty: Vec::new(),
            value: Vec::new(),
            shape: Vec::new(),
        };
        for p in &body.params {
            facts.push(&p.ty, false, true);
        }
        for op in &body.ops {
            let at = facts.base + facts.ty.len();
            let (value, shape) = match &op.term {
                Term::Lit(_) => (true, true),
                Term::Var(s) | Term::Proj(s, _) => (facts.value(s.index()), facts.shape(s.index())),
                Term::Tuple(args) | Term::Array(args, _) => (
                    args.iter().all(|a| facts.value(a.index())),
                    args.iter().all(|a| facts.shape(a.index())),
                ),
                Term::Prim(p, args) => {
                    let args: Vec<usize> = args.iter().map(|a| a.index()).collect();
                    (facts.prim_value(*p, &args), facts.prim_shape(*p, &args))
                }
                // As long as the arrays mapped over, of the elements the
                // body gives (whose sizes then follow from fixed values).
                Term::Map { arrays, body } => (
                    false,
                    arrays.iter().all(|a| facts.shape(a.index())) && facts.result_shape(body, at),
                ),
                Term::Build { n, body } => (false, facts.value(n.index()) && facts.result_shape(body, at)),
                // The same branch in every iteration: each branch's sizes
                // fixed is not enough when the two differ.
                Term::If(c, a, b) => {
                    let (a, b) = (
                        Facts::of(a, at, Some(&facts), None),
                        Facts::of(b, at, Some(&facts), None),
                    );
                    let same_branch = facts.value(c.index());
                    (
                        same_branch && a.gives_fixed_value() && b.gives_fixed_value(),
                        same_branch && a.gives_fixed_shape() && b.gives_fixed_shape(),
                    )
                }
                Term::For { init, n, .. } => {
                    if let Some(loops) = loops.as_deref_mut() {
                        if facts.recordable(*init, *n) {
                            loops.push(at);
                        }
                    }
                    (false, false)
                }
                Term::Reduce { .. } | Term::Scan { .. } | Term::While { .. } => (false, false),
            };
            facts.push(&op.ty, value, shape);
        }
        facts
    }

    /// Whether the `for` op at level `at` has the same trip count and
    /// initial state sizes in every iteration of this body. Its states then
    /// have those sizes too (recording them needs it anyway); its final
    /// state, the last body result, may not, so it is not recorded.
    fn recordable(&self, init: Slot, n: Slot) -> bool {
        self.value(n.index()) && self.shape(init.index())
    }

    /// Whether `body` (a nested block whose parameters start at `at`, the
    /// elements of fixed-shape arrays or an index) gives a result of fixed
    /// sizes.
    fn result_shape(&self, body: &Block, at: usize) -> bool {
        Facts::of(body, at, Some(self), None).gives_fixed_shape()
    }

    fn gives_fixed_shape(&self) -> bool {
        self.shape(self.result)
    }

    fn gives_fixed_value(&self) -> bool {
        self.value(self.result)
    }

    fn value(&self, s: usize) -> bool {
        if s < self.base {
            self.parent.is_none_or(|p| p.value(s))
        } else {
            self.value[s - self.base]
        }
    }

    fn shape(&self, s: usize) -> bool {
        if s < self.base {
            self.parent.is_none_or(|p| p.shape(s))
        } else {
            self.shape[s - self.base]
        }
    }

    fn is_int(&self, s: usize) -> bool {
        if s < self.base {
            self.parent.is_some_and(|p| p.is_int(s))
        } else {
            matches!(self.ty[s - self.base], Type::I64 | Type::Bool)
        }
    }

    /// A primitive's sizes follow from its operands' sizes and the values
    /// of its integer and boolean operands (no primitive sizes its result
    /// by the contents of a float array). An element of an array, and an
    /// array with one element or slice replaced or added to, have the
    /// sizes of the array's elements, whatever the index.
    fn prim_shape(&self, p: Prim, args: &[usize]) -> bool {
        match p {
            Prim::Index | Prim::IndexSet | Prim::IndexAdd | Prim::SliceAdd => self.shape(args[0]),
            _ => args
                .iter()
                .all(|&a| if self.is_int(a) { self.value(a) } else { self.shape(a) }),
        }
    }

    fn prim_value(&self, p: Prim, args: &[usize]) -> bool {
        match p {
            Prim::Length => self.shape(args[0]),
            _ => args.iter().all(|&a| self.value(a)),
        }
    }

    fn push(&mut self, ty: &Type, value: bool, shape: bool) {
        let shape = shape || scalar(ty);
        self.ty.push(ty.clone());
        self.value.push(value);
        self.shape.push(shape);
    }
}

/// The levels of the `for` ops at the top of `body` (the body of a loop
/// whose op is at source level `level`) whose trip count and initial
/// state sizes are the same in every iteration of that loop.
pub(super) fn recordable_loops(body: &Block, level: usize) -> Vec<usize> {
    let mut loops = Vec::new();
    Facts::of(body, level, None, Some(&mut loops));
    loops
}
