//! Types as the checker sees them: core types plus array sizes and function
//! types.
//!
//! A size is a literal, an `i64` variable of the core function being built
//! (sizes are values), or unknown. Two sizes are statically equal when they
//! are the same literal or the same variable; otherwise equality is checked
//! at run time.

use crate::core::ir::{Type, VarId};
use crate::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    Const(i64),
    Var(VarId),
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    F64,
    I64,
    Bool,
    Array(Size, Box<Ty>),
    Tuple(Vec<Ty>),
    /// Only the type of a function-typed parameter; never a core value.
    Func(Vec<Ty>, Box<Ty>),
}

/// The outcome of comparing two sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeCmp {
    Equal,
    Different,
    /// Not known until run time.
    Unknown,
}

pub fn compare_sizes(a: Size, b: Size) -> SizeCmp {
    match (a, b) {
        (Size::Const(x), Size::Const(y)) if x == y => SizeCmp::Equal,
        (Size::Const(_), Size::Const(_)) => SizeCmp::Different,
        (Size::Var(x), Size::Var(y)) if x == y => SizeCmp::Equal,
        _ => SizeCmp::Unknown,
    }
}

impl Ty {
    pub fn array(size: Size, elem: Ty) -> Ty {
        Ty::Array(size, Box::new(elem))
    }

    pub fn unit() -> Ty {
        Ty::Tuple(Vec::new())
    }

    /// The core type, or `None` for a type that contains a function.
    pub fn to_core(&self) -> Option<Type> {
        Some(match self {
            Ty::F64 => Type::F64,
            Ty::I64 => Type::I64,
            Ty::Bool => Type::Bool,
            Ty::Array(_, t) => Type::array(t.to_core()?),
            Ty::Tuple(ts) => Type::Tuple(ts.iter().map(Ty::to_core).collect::<Option<_>>()?),
            Ty::Func(..) => return None,
        })
    }

    /// The type with every size forgotten, for a core type.
    pub fn from_core(t: &Type) -> Ty {
        match t {
            Type::F64 => Ty::F64,
            Type::I64 => Ty::I64,
            Type::Bool => Ty::Bool,
            Type::Array(e) => Ty::array(Size::Unknown, Ty::from_core(e)),
            Type::Tuple(ts) => Ty::Tuple(ts.iter().map(Ty::from_core).collect()),
        }
    }

    /// For a loop whose body returned `result` from a state of this type:
    /// the state type to try again with, when the body changed sizes (at
    /// first the sizes both agree on, then none), or `None` to keep this one.
    pub fn widen_state(&self, result: &Ty, attempt: usize) -> Option<Ty> {
        let agreed = self.join(result);
        if agreed == *self || attempt >= 2 {
            return None;
        }
        Some(if attempt == 0 {
            agreed
        } else {
            self.map_sizes(&mut |_| Size::Unknown)
        })
    }

    /// The element type of an array type (the type itself otherwise).
    pub fn elem_or_self(&self) -> Ty {
        match self {
            Ty::Array(_, e) => (**e).clone(),
            t => t.clone(),
        }
    }

    pub fn is_scalar(&self) -> bool {
        matches!(self, Ty::F64 | Ty::I64 | Ty::Bool)
    }

    pub fn is_differentiable(&self) -> bool {
        match self {
            Ty::F64 => true,
            Ty::I64 | Ty::Bool | Ty::Func(..) => false,
            Ty::Array(_, t) => t.is_differentiable(),
            Ty::Tuple(ts) => ts.iter().all(Ty::is_differentiable),
        }
    }

    /// The innermost element type of nested arrays.
    pub fn scalar_elem(&self) -> &Ty {
        match self {
            Ty::Array(_, t) => t.scalar_elem(),
            t => t,
        }
    }

    /// Same shape of constructors, sizes ignored.
    pub fn same_structure(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::F64, Ty::F64) | (Ty::I64, Ty::I64) | (Ty::Bool, Ty::Bool) => true,
            (Ty::Array(_, a), Ty::Array(_, b)) => a.same_structure(b),
            (Ty::Tuple(a), Ty::Tuple(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_structure(y)),
            (Ty::Func(pa, ra), Ty::Func(pb, rb)) => {
                pa.len() == pb.len() && pa.iter().zip(pb).all(|(x, y)| x.same_structure(y)) && ra.same_structure(rb)
            }
            _ => false,
        }
    }

    /// The first pair of sizes that are statically different, if any.
    pub fn size_conflict(&self, other: &Ty) -> Option<(Size, Size)> {
        match (self, other) {
            (Ty::Array(n, a), Ty::Array(m, b)) => {
                if compare_sizes(*n, *m) == SizeCmp::Different {
                    Some((*n, *m))
                } else {
                    a.size_conflict(b)
                }
            }
            (Ty::Tuple(a), Ty::Tuple(b)) => a.iter().zip(b).find_map(|(x, y)| x.size_conflict(y)),
            _ => None,
        }
    }

    /// Keeps the sizes both types agree on and forgets the others.
    pub fn join(&self, other: &Ty) -> Ty {
        match (self, other) {
            (Ty::Array(n, a), Ty::Array(m, b)) => {
                let size = if compare_sizes(*n, *m) == SizeCmp::Equal {
                    *n
                } else {
                    Size::Unknown
                };
                Ty::array(size, a.join(b))
            }
            (Ty::Tuple(a), Ty::Tuple(b)) => Ty::Tuple(a.iter().zip(b).map(|(x, y)| x.join(y)).collect()),
            _ => self.clone(),
        }
    }

    /// The type with every variable size forgotten (literal sizes stay).
    pub fn forget_var_sizes(&self) -> Ty {
        self.map_sizes(&mut |s| match s {
            Size::Var(_) => Size::Unknown,
            s => s,
        })
    }

    pub fn map_sizes(&self, f: &mut dyn FnMut(Size) -> Size) -> Ty {
        match self {
            Ty::F64 | Ty::I64 | Ty::Bool => self.clone(),
            Ty::Array(n, t) => Ty::array(f(*n), t.map_sizes(f)),
            Ty::Tuple(ts) => Ty::Tuple(ts.iter().map(|t| t.map_sizes(f)).collect()),
            Ty::Func(ps, r) => Ty::Func(ps.iter().map(|t| t.map_sizes(f)).collect(), Box::new(r.map_sizes(f))),
        }
    }

    /// Replaces variable sizes by `subst` (unknown when absent).
    pub fn substitute(&self, subst: &HashMap<VarId, Size>) -> Ty {
        self.map_sizes(&mut |s| match s {
            Size::Var(v) => subst.get(&v).copied().unwrap_or(Size::Unknown),
            s => s,
        })
    }

    /// Visits every variable size.
    pub fn size_vars(&self, out: &mut Vec<VarId>) {
        self.map_sizes(&mut |s| {
            if let Size::Var(v) = s {
                out.push(v);
            }
            s
        });
    }

    /// Renders the type for messages; `name` names variable sizes.
    pub fn display(&self, name: &dyn Fn(VarId) -> String) -> String {
        match self {
            Ty::F64 => "f64".into(),
            Ty::I64 => "i64".into(),
            Ty::Bool => "bool".into(),
            Ty::Array(n, t) => format!("[{}]{}", display_size(*n, name), t.display(name)),
            Ty::Tuple(ts) => {
                let parts: Vec<String> = ts.iter().map(|t| t.display(name)).collect();
                if parts.len() == 1 {
                    format!("({},)", parts[0])
                } else {
                    format!("({})", parts.join(", "))
                }
            }
            Ty::Func(ps, r) => {
                let parts: Vec<String> = ps.iter().map(|t| t.display(name)).collect();
                format!("({}) -> {}", parts.join(", "), r.display(name))
            }
        }
    }
}

pub fn display_size(s: Size, name: &dyn Fn(VarId) -> String) -> String {
    match s {
        Size::Const(c) => c.to_string(),
        Size::Var(v) => name(v),
        Size::Unknown => "_".into(),
    }
}
