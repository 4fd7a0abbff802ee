//! The core function under construction: fresh variables, nested blocks,
//! and the captures of lifted lambdas.
//!
//! Functions being built form a stack: a lambda handed to a derivative
//! operator is lifted to a function of its own while its parent is still
//! open. A value of an enclosing function used inside a lifted one becomes a
//! captured parameter, in every function between the two.

use super::ty::{Size, Ty};
use crate::core::ir::{Atom, Binder, Block, Rhs, Stmt, VarId};
use crate::diagnostics::Span;
use crate::HashMap;

/// Identifies a function context; values remember the context they live in.
pub type CtxId = u32;

pub struct FnCtx {
    pub id: CtxId,
    next_var: u32,
    blocks: Vec<Vec<Stmt>>,
    /// Captured values: the atom in the parent context and the parameter here.
    pub captures: Vec<(Atom, Binder)>,
    capture_map: HashMap<(CtxId, VarId), VarId>,
    pub names: HashMap<VarId, String>,
}

impl FnCtx {
    pub fn new(id: CtxId) -> FnCtx {
        FnCtx {
            id,
            next_var: 0,
            blocks: vec![Vec::new()],
            captures: Vec::new(),
            capture_map: HashMap::default(),
            names: HashMap::default(),
        }
    }

    pub fn fresh(&mut self, name: &str, ty: &Ty) -> Binder {
        let var = VarId(self.next_var);
        self.next_var += 1;
        self.names.insert(var, name.to_string());
        // Function types never reach a binder: callers check first.
        let ty = ty.to_core().unwrap_or_else(crate::core::ir::Type::unit);
        Binder {
            var,
            name: name.to_string(),
            ty,
        }
    }

    pub fn emit(&mut self, name: &str, ty: &Ty, rhs: Rhs, span: Span) -> Atom {
        let ty = ty.to_core().unwrap_or_else(crate::core::ir::Type::unit);
        self.emit_core(name, ty, rhs, span)
    }

    pub fn emit_core(&mut self, name: &str, ty: crate::core::ir::Type, rhs: Rhs, span: Span) -> Atom {
        let var = VarId(self.next_var);
        self.next_var += 1;
        self.names.insert(var, name.to_string());
        let binder = Binder {
            var,
            name: name.to_string(),
            ty,
        };
        let var = binder.var;
        self.blocks
            .last_mut()
            .expect("a block is open")
            .push(Stmt { binder, rhs, span });
        Atom::Var(var)
    }

    pub fn open_block(&mut self) {
        self.blocks.push(Vec::new());
    }

    pub fn close_block(&mut self, result: Atom) -> Block {
        let stmts = self.blocks.pop().expect("a block is open");
        Block { stmts, result }
    }

    /// Gives a variable a better name for printing (a size variable `n`).
    pub fn rename(&mut self, v: VarId, name: &str) {
        self.names.insert(v, name.to_string());
        for block in &mut self.blocks {
            for stmt in block.iter_mut().filter(|s| s.binder.var == v) {
                stmt.binder.name = name.to_string();
            }
        }
    }

    pub fn var_name(&self, v: VarId) -> String {
        self.names.get(&v).cloned().unwrap_or_else(|| format!("v{}", v.0))
    }
}

/// The stack of open function contexts.
#[derive(Default)]
pub struct CtxStack {
    pub stack: Vec<FnCtx>,
    next_id: CtxId,
}

impl CtxStack {
    pub fn push(&mut self) -> CtxId {
        let id = self.next_id;
        self.next_id += 1;
        self.stack.push(FnCtx::new(id));
        id
    }

    pub fn pop(&mut self) -> FnCtx {
        self.stack.pop().expect("a context is open")
    }

    pub fn cur(&mut self) -> &mut FnCtx {
        self.stack.last_mut().expect("a context is open")
    }

    pub fn cur_ref(&self) -> &FnCtx {
        self.stack.last().expect("a context is open")
    }

    pub fn cur_id(&self) -> CtxId {
        self.cur_ref().id
    }

    /// The atom, valid in the current context, for an atom of context `owner`.
    pub fn localize_atom(&mut self, owner: CtxId, atom: Atom) -> Atom {
        match atom {
            Atom::Var(v) => {
                let level = self.stack.len() - 1;
                Atom::Var(self.localize_var(level, owner, v))
            }
            lit => lit,
        }
    }

    fn localize_var(&mut self, level: usize, owner: CtxId, v: VarId) -> VarId {
        if self.stack[level].id == owner {
            return v;
        }
        if let Some(&local) = self.stack[level].capture_map.get(&(owner, v)) {
            return local;
        }
        // A value from an enclosing function: capture it in the parent first.
        assert!(level > 0, "a value outlived the function that defined it");
        let outer = self.localize_var(level - 1, owner, v);
        let name = self.stack[level - 1].var_name(outer);
        let ctx = &mut self.stack[level];
        let var = VarId(ctx.next_var);
        ctx.next_var += 1;
        ctx.names.insert(var, name.clone());
        ctx.capture_map.insert((owner, v), var);
        // The type is filled in by the caller, which knows the value's type.
        ctx.captures.push((
            Atom::Var(outer),
            Binder {
                var,
                name,
                ty: crate::core::ir::Type::unit(),
            },
        ));
        var
    }

    /// Localizes a value's type: its variable sizes are captured too.
    pub fn localize_ty(&mut self, owner: CtxId, ty: &Ty) -> Ty {
        if owner == self.cur_id() {
            return ty.clone();
        }
        ty.map_sizes(&mut |s| match s {
            Size::Var(v) => {
                let level = self.stack.len() - 1;
                let local = self.localize_var(level, owner, v);
                self.set_capture_type(local, &Ty::I64);
                Size::Var(local)
            }
            s => s,
        })
    }

    /// Records the type of a captured parameter of the current context
    /// (and of the same capture in enclosing contexts).
    pub fn set_capture_type(&mut self, local: VarId, ty: &Ty) {
        let core = ty.to_core().unwrap_or_else(crate::core::ir::Type::unit);
        let mut level = self.stack.len() - 1;
        let mut var = local;
        loop {
            let ctx = &mut self.stack[level];
            let Some(entry) = ctx.captures.iter_mut().find(|(_, b)| b.var == var) else {
                return;
            };
            entry.1.ty = core.clone();
            match entry.0 {
                Atom::Var(outer) if level > 0 => {
                    var = outer;
                    level -= 1;
                }
                _ => return,
            }
        }
    }
}
