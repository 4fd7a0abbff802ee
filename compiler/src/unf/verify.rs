//! The verifier of the unary form: every slot reference is in range (below
//! the op that makes it), every op's declared type is its term's type, and
//! every block's parameters are the slots its structured term provides.

use super::{Block, Func, Slot, Term, Type};

/// Checks `f`; the error names the first problem found and its op.
pub fn verify(f: &Func) -> Result<(), String> {
    let mut v = Verifier {
        types: f.params.iter().map(|p| p.ty.clone()).collect(),
    };
    let ty = v.block(&f.body).map_err(|m| format!("in `{}`: {m}", f.name))?;
    if ty != f.ret {
        return Err(format!(
            "in `{}`: the body has type {ty}, but the function returns {}",
            f.name, f.ret
        ));
    }
    Ok(())
}

struct Verifier {
    /// The types of the slots of the current context.
    types: Vec<Type>,
}

impl Verifier {
    fn slot(&self, s: Slot) -> Result<Type, String> {
        self.types
            .get(s.index())
            .cloned()
            .ok_or_else(|| format!("{s} is out of range (the context has {} slots)", self.types.len()))
    }

    fn slots(&self, ss: &[Slot]) -> Result<Vec<Type>, String> {
        ss.iter().map(|s| self.slot(*s)).collect()
    }

    /// The type of a block whose parameters must have types `params`.
    fn nested(&mut self, b: &Block, params: &[Type]) -> Result<Type, String> {
        let got: Vec<Type> = b.params.iter().map(|p| p.ty.clone()).collect();
        if got != params {
            let show = |ts: &[Type]| ts.iter().map(Type::to_string).collect::<Vec<_>>().join(", ");
            return Err(format!(
                "a block takes ({}) but is given ({})",
                show(&got),
                show(params)
            ));
        }
        let base = self.types.len();
        self.types.extend(got);
        let ty = self.block(b);
        self.types.truncate(base);
        ty
    }

    fn block(&mut self, b: &Block) -> Result<Type, String> {
        let base = self.types.len();
        for op in &b.ops {
            let level = self.types.len();
            let ty = self.term(&op.term).map_err(|m| format!("%{level}: {m}"))?;
            if ty != op.ty {
                return Err(format!("%{level} is declared {} but its term has type {ty}", op.ty));
            }
            self.types.push(ty);
        }
        let ty = self.slot(b.result).map_err(|m| format!("block result: {m}"));
        self.types.truncate(base);
        ty
    }

    fn term(&mut self, t: &Term) -> Result<Type, String> {
        let want = |what: &str, ty: &Type, expected: &Type| {
            if ty == expected {
                Ok(())
            } else {
                Err(format!("{what} has type {ty}, expected {expected}"))
            }
        };
        let elem = |ty: Type| match ty {
            Type::Array(t) => Ok(*t),
            other => Err(format!("expected an array, got {other}")),
        };
        match t {
            Term::Var(s) => self.slot(*s),
            Term::Lit(l) => Ok(l.ty()),
            Term::Prim(p, args) => p.result_type(&self.slots(args)?),
            Term::Tuple(args) => Ok(Type::Tuple(self.slots(args)?)),
            Term::Proj(s, i) => match self.slot(*s)? {
                Type::Tuple(ts) if *i < ts.len() => Ok(ts[*i].clone()),
                other => Err(format!("no field {i} in {other}")),
            },
            Term::Array(args, ty) => {
                for a in self.slots(args)? {
                    want("an element", &a, ty)?;
                }
                Ok(Type::array(ty.clone()))
            }
            Term::If(c, a, b) => {
                want("the condition", &self.slot(*c)?, &Type::Bool)?;
                let ta = self.nested(a, &[])?;
                let tb = self.nested(b, &[])?;
                want("the else branch", &tb, &ta)?;
                Ok(ta)
            }
            Term::Map { arrays, body } => {
                let elems = self
                    .slots(arrays)?
                    .into_iter()
                    .map(elem)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Type::array(self.nested(body, &elems)?))
            }
            Term::Build { n, body } => {
                want("the size", &self.slot(*n)?, &Type::I64)?;
                Ok(Type::array(self.nested(body, &[Type::I64])?))
            }
            Term::Reduce { ne, array, body } | Term::Scan { ne, array, body } => {
                let acc = self.slot(*ne)?;
                let x = elem(self.slot(*array)?)?;
                let r = self.nested(body, &[acc.clone(), x])?;
                want("the operator's result", &r, &acc)?;
                Ok(match t {
                    Term::Scan { .. } => Type::array(acc),
                    _ => acc,
                })
            }
            Term::For { init, n, body } => {
                let s = self.slot(*init)?;
                want("the count", &self.slot(*n)?, &Type::I64)?;
                let r = self.nested(body, &[s.clone(), Type::I64])?;
                want("the loop body", &r, &s)?;
                Ok(s)
            }
            Term::While { init, cond, body } => {
                let s = self.slot(*init)?;
                let c = self.nested(cond, std::slice::from_ref(&s))?;
                want("the condition", &c, &Type::Bool)?;
                let r = self.nested(body, std::slice::from_ref(&s))?;
                want("the loop body", &r, &s)?;
                Ok(s)
            }
        }
    }
}
