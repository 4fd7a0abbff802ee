//! A builder of UNF blocks: it tracks the typed context, so the slot an op
//! will push is known before it is pushed, and nested blocks are opened and
//! closed around the slots their structured term gives them.

use super::{Block, Lit, Op, Param, Slot, Term, Type};
use crate::diagnostics::Span;
use crate::prim::Prim;

pub struct Builder {
    /// The type of every slot of the current context.
    types: Vec<Type>,
    /// The open blocks, innermost last.
    frames: Vec<Frame>,
    /// The span given to the ops pushed from now on.
    pub span: Span,
}

struct Frame {
    /// The context length before the block's parameters.
    outer: usize,
    params: Vec<Param>,
    ops: Vec<Op>,
}

impl Builder {
    /// A builder for a function body over the parameters `params`.
    pub fn new(params: &[Param]) -> Builder {
        Builder {
            types: params.iter().map(|p| p.ty.clone()).collect(),
            frames: vec![Frame {
                outer: params.len(),
                params: Vec::new(),
                ops: Vec::new(),
            }],
            span: Span::default(),
        }
    }

    /// The number of slots in the current context: the level of the next
    /// slot pushed.
    pub fn depth(&self) -> usize {
        self.types.len()
    }

    pub fn ty(&self, s: Slot) -> &Type {
        &self.types[s.index()]
    }

    /// Changes the declared type of a block parameter whose type is only
    /// known once the block is built (a loop state holding accumulators).
    pub fn set_param_type(&mut self, s: Slot, ty: Type) {
        self.types[s.index()] = ty.clone();
        for f in self.frames.iter_mut().rev() {
            if s.index() >= f.outer && s.index() < f.outer + f.params.len() {
                f.params[s.index() - f.outer].ty = ty;
                return;
            }
        }
    }

    /// Pushes an op of type `ty` and returns its slot.
    pub fn push(&mut self, term: Term, ty: Type, name: &str) -> Slot {
        let slot = Slot(self.types.len() as u32);
        self.types.push(ty.clone());
        let op = Op {
            term,
            ty,
            name: name.to_string(),
            span: self.span,
        };
        if let Some(f) = self.frames.last_mut() {
            f.ops.push(op);
        }
        slot
    }

    /// Pushes a primitive, typed by its rule.
    pub fn prim(&mut self, p: Prim, args: &[Slot]) -> Result<Slot, String> {
        let tys: Vec<Type> = args.iter().map(|s| self.ty(*s).clone()).collect();
        let ty = p.result_type(&tys)?;
        Ok(self.push(Term::Prim(p, args.to_vec()), ty, "t"))
    }

    pub fn lit(&mut self, lit: Lit) -> Slot {
        self.push(Term::Lit(lit), lit.ty(), "c")
    }

    pub fn tuple(&mut self, fields: &[Slot]) -> Slot {
        let ty = Type::Tuple(fields.iter().map(|s| self.ty(*s).clone()).collect());
        self.push(Term::Tuple(fields.to_vec()), ty, "tup")
    }

    /// The `i`-th field of a tuple slot; `None` when the slot is no tuple
    /// of that many fields.
    pub fn proj(&mut self, s: Slot, i: usize) -> Option<Slot> {
        let ty = match self.ty(s) {
            Type::Tuple(ts) => ts.get(i)?.clone(),
            _ => return None,
        };
        Some(self.push(Term::Proj(s, i), ty, "p"))
    }

    /// Opens a nested block whose parameters are pushed now; returns their
    /// slots.
    pub fn open(&mut self, params: Vec<Param>) -> Vec<Slot> {
        let outer = self.types.len();
        let slots = (0..params.len()).map(|k| Slot((outer + k) as u32)).collect();
        self.types.extend(params.iter().map(|p| p.ty.clone()));
        self.frames.push(Frame {
            outer,
            params,
            ops: Vec::new(),
        });
        slots
    }

    /// Closes the innermost block opened by [`Builder::open`].
    pub fn close(&mut self, result: Slot) -> Block {
        let f = self.frames.pop().expect("Builder::close without open");
        self.types.truncate(f.outer);
        Block {
            params: f.params,
            ops: f.ops,
            result,
        }
    }

    /// Opens a block without parameters, over the current context (an `if`
    /// branch); close it with [`Builder::close`].
    pub fn open_branch(&mut self) {
        self.open(Vec::new());
    }

    /// The function body.
    pub fn finish(mut self, result: Slot) -> Block {
        let f = self.frames.pop().expect("Builder::finish: unbalanced blocks");
        Block {
            params: Vec::new(),
            ops: f.ops,
            result,
        }
    }
}
