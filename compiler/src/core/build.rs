//! A small builder of core IR functions, for tests and for passes that
//! write new code: it hands out fresh variables and collects statements.
//!
//! ```
//! use dl_compiler::core::build::FuncBuilder;
//! use dl_compiler::core::ir::{Rhs, Type};
//! use dl_compiler::prim::Prim;
//!
//! // def sum_sq(a: []f64) -> f64 = sum(map(\x -> x * x, a))
//! let mut b = FuncBuilder::new("sum_sq");
//! let a = b.param("a", Type::array(Type::F64));
//! let x = b.binder("x", Type::F64);
//! let body = b.block(|b| b.prim("sq", Prim::Mul, &[x.atom(), x.atom()]));
//! let sq = b.bind(
//!     "sq",
//!     Type::array(Type::F64),
//!     Rhs::Map { arrays: vec![a], params: vec![x], body },
//! );
//! let s = b.prim("s", Prim::Sum, &[sq]);
//! let f = b.finish(Type::F64, s);
//! assert_eq!(f.params.len(), 1);
//! ```

use super::ir::{Atom, Binder, Block, Func, Rhs, Stmt, Type, VarId};
use crate::diagnostics::Span;
use crate::prim::Prim;
use crate::HashMap;

pub struct FuncBuilder {
    name: String,
    params: Vec<Binder>,
    next: u32,
    /// The statements of the blocks being built, innermost last.
    blocks: Vec<Vec<Stmt>>,
    types: HashMap<VarId, Type>,
}

impl Binder {
    /// The binder's variable as an operand.
    pub fn atom(&self) -> Atom {
        Atom::Var(self.var)
    }
}

impl FuncBuilder {
    pub fn new(name: impl Into<String>) -> FuncBuilder {
        FuncBuilder {
            name: name.into(),
            params: Vec::new(),
            next: 0,
            blocks: vec![Vec::new()],
            types: HashMap::default(),
        }
    }

    /// Continues numbering variables after those of `f`, for a pass that
    /// adds code to it.
    pub fn after(f: &Func) -> FuncBuilder {
        let mut b = FuncBuilder::new(f.name.clone());
        b.next = f.next_var();
        b
    }

    /// A fresh variable id.
    pub fn fresh(&mut self) -> VarId {
        let v = VarId(self.next);
        self.next += 1;
        v
    }

    /// A fresh binder, not yet bound anywhere: for lambda and loop
    /// parameters.
    pub fn binder(&mut self, name: &str, ty: Type) -> Binder {
        let var = self.fresh();
        self.types.insert(var, ty.clone());
        Binder {
            var,
            name: name.to_string(),
            ty,
        }
    }

    /// Adds a parameter to the function.
    pub fn param(&mut self, name: &str, ty: Type) -> Atom {
        let b = self.binder(name, ty);
        let atom = b.atom();
        self.params.push(b);
        atom
    }

    /// Appends `let name: ty = rhs` to the current block.
    pub fn bind(&mut self, name: &str, ty: Type, rhs: Rhs) -> Atom {
        let binder = self.binder(name, ty);
        let atom = binder.atom();
        self.push(Stmt {
            binder,
            rhs,
            span: Span::default(),
        });
        atom
    }

    /// Appends a statement whose binder is already made.
    pub fn push(&mut self, stmt: Stmt) {
        self.types.insert(stmt.binder.var, stmt.binder.ty.clone());
        if let Some(block) = self.blocks.last_mut() {
            block.push(stmt);
        }
    }

    /// Appends `let name = prim(args)`, with the type the primitive's rule
    /// gives.
    ///
    /// # Panics
    ///
    /// If an argument is a variable this builder did not make, or the rule
    /// rejects the argument types.
    pub fn prim(&mut self, name: &str, prim: Prim, args: &[Atom]) -> Atom {
        let tys: Vec<Type> = args
            .iter()
            .map(|a| {
                self.type_of(*a)
                    .unwrap_or_else(|| panic!("FuncBuilder::prim: unknown variable in {a:?}"))
            })
            .collect();
        let ty = prim
            .result_type(&tys)
            .unwrap_or_else(|m| panic!("FuncBuilder::prim: {m}"));
        self.bind(name, ty, Rhs::Prim(prim, args.to_vec()))
    }

    /// The type of an atom, if it is a literal or a variable this builder
    /// made.
    pub fn type_of(&self, a: Atom) -> Option<Type> {
        match a {
            Atom::Var(v) => self.types.get(&v).cloned(),
            Atom::F64(_) => Some(Type::F64),
            Atom::I64(_) => Some(Type::I64),
            Atom::Bool(_) => Some(Type::Bool),
        }
    }

    /// A nested block: the statements `f` binds, then the atom it returns.
    pub fn block(&mut self, f: impl FnOnce(&mut FuncBuilder) -> Atom) -> Block {
        self.blocks.push(Vec::new());
        let result = f(self);
        let stmts = self.blocks.pop().unwrap_or_default();
        Block { stmts, result }
    }

    /// The function, with the statements bound outside any nested block as
    /// its body.
    pub fn finish(mut self, ret: Type, result: Atom) -> Func {
        let stmts = self.blocks.pop().unwrap_or_default();
        Func {
            name: self.name,
            params: self.params,
            ret,
            body: Block { stmts, result },
            span: Span::default(),
        }
    }
}
