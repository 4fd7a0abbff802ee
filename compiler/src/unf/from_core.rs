//! Core IR to unary form: sequentialises a function in call-by-value order;
//! every variable becomes the slot its statement pushes, and every literal
//! operand a slot pushed just before its use.

use super::build::Builder;
use super::{Block, Func, Lit, Param, Slot, Term};
use crate::ad::AdError;
use crate::core::ir::{self, Atom, Binder, Combine, LoopKind, Rhs, VarId};
use crate::HashMap;

/// The unary form of `f`. `f` must have no `call` and no derivative
/// operator: those are named in the error.
pub fn from_core(f: &ir::Func) -> Result<Func, AdError> {
    let params: Vec<Param> = f.params.iter().map(param).collect();
    let mut cx = Cx {
        b: Builder::new(&params),
        env: HashMap::default(),
        func: &f.name,
    };
    for (k, p) in f.params.iter().enumerate() {
        cx.env.insert(p.var, Slot(k as u32));
    }
    let result = cx.stmts(&f.body)?;
    Ok(Func {
        name: f.name.clone(),
        params,
        ret: f.ret.clone(),
        body: cx.b.finish(result),
        span: f.span,
    })
}

fn param(b: &Binder) -> Param {
    Param {
        name: b.name.clone(),
        ty: b.ty.clone(),
    }
}

struct Cx<'f> {
    b: Builder,
    /// The slot of every variable in scope (variables are unique in a
    /// function, so nothing is ever shadowed).
    env: HashMap<VarId, Slot>,
    func: &'f str,
}

impl Cx<'_> {
    fn atom(&mut self, a: &Atom) -> Result<Slot, AdError> {
        match a {
            Atom::Var(v) => self
                .env
                .get(v)
                .copied()
                .ok_or_else(|| AdError::new(format!("in `{}`: variable {} is not in scope", self.func, v.0), None)),
            Atom::F64(x) => Ok(self.b.lit(Lit::F64(*x))),
            Atom::I64(n) => Ok(self.b.lit(Lit::I64(*n))),
            Atom::Bool(p) => Ok(self.b.lit(Lit::Bool(*p))),
        }
    }

    fn atoms(&mut self, atoms: &[Atom]) -> Result<Vec<Slot>, AdError> {
        atoms.iter().map(|a| self.atom(a)).collect()
    }

    /// The statements of `block` in the current frame; returns the result.
    fn stmts(&mut self, block: &ir::Block) -> Result<Slot, AdError> {
        for s in &block.stmts {
            self.b.span = s.span;
            let term = self.rhs(&s.rhs, s)?;
            let slot = self.b.push(term, s.binder.ty.clone(), &s.binder.name);
            self.env.insert(s.binder.var, slot);
        }
        self.atom(&block.result)
    }

    /// A nested block over the current context and `params`.
    fn nested(&mut self, params: &[&Binder], block: &ir::Block) -> Result<Block, AdError> {
        let slots = self.b.open(params.iter().map(|p| param(p)).collect());
        for (p, s) in params.iter().zip(slots) {
            self.env.insert(p.var, s);
        }
        let result = self.stmts(block)?;
        Ok(self.b.close(result))
    }

    fn rhs(&mut self, rhs: &Rhs, s: &ir::Stmt) -> Result<Term, AdError> {
        Ok(match rhs {
            Rhs::Atom(Atom::Var(v)) => Term::Var(self.atom(&Atom::Var(*v))?),
            Rhs::Atom(Atom::F64(x)) => Term::Lit(Lit::F64(*x)),
            Rhs::Atom(Atom::I64(n)) => Term::Lit(Lit::I64(*n)),
            Rhs::Atom(Atom::Bool(p)) => Term::Lit(Lit::Bool(*p)),
            Rhs::Prim(p, args) => Term::Prim(*p, self.atoms(args)?),
            Rhs::Tuple(args) => Term::Tuple(self.atoms(args)?),
            Rhs::Proj(a, i) => Term::Proj(self.atom(a)?, *i),
            Rhs::Array(args, ty) => Term::Array(self.atoms(args)?, ty.clone()),
            Rhs::Call(name, _) => {
                return Err(AdError::new(
                    format!(
                        "in `{}`: the call of `{name}` must be inlined before the unary form",
                        self.func
                    ),
                    Some(s.span),
                ))
            }
            Rhs::Deriv { op, func, .. } => {
                return Err(AdError::new(
                    format!(
                        "in `{}`: `{}({func})` must be expanded before the unary form",
                        self.func,
                        op.name()
                    ),
                    Some(s.span),
                ))
            }
            Rhs::If(c, a, b) => {
                let c = self.atom(c)?;
                let a = self.nested(&[], a)?;
                let b = self.nested(&[], b)?;
                Term::If(c, a, b)
            }
            Rhs::Map { arrays, params, body } => {
                let arrays = self.atoms(arrays)?;
                let params: Vec<&Binder> = params.iter().collect();
                Term::Map {
                    arrays,
                    body: self.nested(&params, body)?,
                }
            }
            Rhs::Build { n, index, body } => {
                let n = self.atom(n)?;
                Term::Build {
                    n,
                    body: self.nested(&[index], body)?,
                }
            }
            Rhs::Reduce(c) => {
                let (ne, array, body) = self.combine(c)?;
                Term::Reduce { ne, array, body }
            }
            Rhs::Scan(c) => {
                let (ne, array, body) = self.combine(c)?;
                Term::Scan { ne, array, body }
            }
            Rhs::Loop(l) => {
                let init = self.atom(&l.init)?;
                match &l.kind {
                    LoopKind::For { n, index } => {
                        let n = self.atom(n)?;
                        Term::For {
                            init,
                            n,
                            body: self.nested(&[&l.state, index], &l.body)?,
                        }
                    }
                    LoopKind::While { cond } => Term::While {
                        init,
                        cond: self.nested(&[&l.state], cond)?,
                        body: self.nested(&[&l.state], &l.body)?,
                    },
                }
            }
        })
    }

    fn combine(&mut self, c: &Combine) -> Result<(Slot, Slot, Block), AdError> {
        let ne = self.atom(&c.ne)?;
        let array = self.atom(&c.array)?;
        let body = self.nested(&[&c.acc, &c.elem], &c.body)?;
        Ok((ne, array, body))
    }
}
