//! Unary form to core IR: reintroduces variables. Every op becomes a
//! statement binding a fresh variable, except copies and literals, which
//! become the atom they stand for; so `to_core(from_core(f))` is `f` in
//! A-normal form again.

use super::{Block, Func, Lit, Param, Slot, Term};
use crate::core::ir::{self, Atom, Binder, Combine, Loop, LoopKind, Rhs, Stmt, VarId};

/// The core function `f` denotes.
pub fn to_core(f: &Func) -> ir::Func {
    let mut cx = Cx {
        atoms: Vec::new(),
        next: 0,
    };
    let params: Vec<Binder> = f.params.iter().map(|p| cx.bind(p)).collect();
    let body = cx.block(&f.body);
    ir::Func {
        name: f.name.clone(),
        params,
        ret: f.ret.clone(),
        body,
        span: f.span,
    }
}

struct Cx {
    /// The atom of every slot of the current context.
    atoms: Vec<Atom>,
    next: u32,
}

impl Cx {
    fn fresh(&mut self, name: &str, ty: &ir::Type) -> Binder {
        let var = VarId(self.next);
        self.next += 1;
        Binder {
            var,
            name: if name.is_empty() {
                "t".to_string()
            } else {
                name.to_string()
            },
            ty: ty.clone(),
        }
    }

    /// A fresh binder for a parameter, pushed on the context.
    fn bind(&mut self, p: &Param) -> Binder {
        let b = self.fresh(&p.name, &p.ty);
        self.atoms.push(b.atom());
        b
    }

    fn at(&self, s: Slot) -> Atom {
        self.atoms[s.index()]
    }

    fn all(&self, slots: &[Slot]) -> Vec<Atom> {
        slots.iter().map(|s| self.at(*s)).collect()
    }

    /// A block over the current context and the block's own parameters,
    /// which the caller has already bound.
    fn block(&mut self, b: &Block) -> ir::Block {
        let base = self.atoms.len();
        let mut stmts = Vec::new();
        for op in &b.ops {
            let rhs = match &op.term {
                Term::Var(s) => {
                    self.atoms.push(self.at(*s));
                    continue;
                }
                Term::Lit(lit) => {
                    self.atoms.push(match lit {
                        Lit::F64(x) => Atom::F64(*x),
                        Lit::I64(n) => Atom::I64(*n),
                        Lit::Bool(p) => Atom::Bool(*p),
                    });
                    continue;
                }
                Term::Prim(p, args) => Rhs::Prim(*p, self.all(args)),
                Term::Tuple(args) => Rhs::Tuple(self.all(args)),
                Term::Proj(s, i) => Rhs::Proj(self.at(*s), *i),
                Term::Array(args, ty) => Rhs::Array(self.all(args), ty.clone()),
                Term::If(c, a, e) => Rhs::If(self.at(*c), self.nested(a).1, self.nested(e).1),
                Term::Map { arrays, body } => {
                    let arrays = self.all(arrays);
                    let (params, body) = self.nested(body);
                    Rhs::Map { arrays, params, body }
                }
                Term::Build { n, body } => {
                    let n = self.at(*n);
                    let (mut params, body) = self.nested(body);
                    Rhs::Build {
                        n,
                        index: params.remove(0),
                        body,
                    }
                }
                Term::Reduce { ne, array, body } => Rhs::Reduce(self.combine(*ne, *array, body)),
                Term::Scan { ne, array, body } => Rhs::Scan(self.combine(*ne, *array, body)),
                Term::For { init, n, body } => {
                    let (init, n) = (self.at(*init), self.at(*n));
                    let (mut params, body) = self.nested(body);
                    let index = params.remove(1);
                    Rhs::Loop(Loop {
                        state: params.remove(0),
                        init,
                        kind: LoopKind::For { n, index },
                        body,
                    })
                }
                Term::While { init, cond, body } => {
                    let init = self.at(*init);
                    let (mut params, body) = self.nested(body);
                    let state = params.remove(0);
                    // The condition sees the same state variable as the body.
                    self.atoms.push(state.atom());
                    let cond = self.block(cond);
                    self.atoms.pop();
                    Rhs::Loop(Loop {
                        state,
                        init,
                        kind: LoopKind::While { cond },
                        body,
                    })
                }
            };
            let binder = self.fresh(&op.name, &op.ty);
            self.atoms.push(binder.atom());
            stmts.push(Stmt {
                binder,
                rhs,
                span: op.span,
            });
        }
        let result = self.at(b.result);
        self.atoms.truncate(base);
        ir::Block { stmts, result }
    }

    /// A nested block with fresh binders for its parameters.
    fn nested(&mut self, b: &Block) -> (Vec<Binder>, ir::Block) {
        let base = self.atoms.len();
        let params: Vec<Binder> = b.params.iter().map(|p| self.bind(p)).collect();
        let body = self.block(b);
        self.atoms.truncate(base);
        (params, body)
    }

    fn combine(&mut self, ne: Slot, array: Slot, body: &Block) -> Combine {
        let (ne, array) = (self.at(ne), self.at(array));
        let (mut params, body) = self.nested(body);
        let elem = params.remove(1);
        Combine {
            ne,
            array,
            acc: params.remove(0),
            elem,
            body,
        }
    }
}
