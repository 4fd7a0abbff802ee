//! The core IR: typed, first-order, A-normal form.
//!
//! Every intermediate value is bound to a variable by a [`Stmt`]; operands are
//! [`Atom`]s (a variable or a literal). There are no closures: lambdas are
//! either inlined as the body [`Block`] of a combinator (`map`, `build`,
//! `reduce`, `scan`, loops) or lifted to a top-level [`Func`]. Sizes are
//! values: an array's type has no length, and `length(a)` reads it.

use crate::diagnostics::Span;
use crate::prim::Prim;

/// A variable, unique within its function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    F64,
    I64,
    Bool,
    /// An array of any length: sizes are values, not types.
    Array(Box<Type>),
    /// `()` is the empty tuple.
    Tuple(Vec<Type>),
}

impl Type {
    pub fn array(elem: Type) -> Type {
        Type::Array(Box::new(elem))
    }

    pub fn unit() -> Type {
        Type::Tuple(Vec::new())
    }

    /// The element type of an array type.
    pub fn elem(&self) -> Option<&Type> {
        match self {
            Type::Array(t) => Some(t),
            _ => None,
        }
    }

    /// True when some f64 occurs in the type.
    pub fn has_f64(&self) -> bool {
        match self {
            Type::F64 => true,
            Type::I64 | Type::Bool => false,
            Type::Array(t) => t.has_f64(),
            Type::Tuple(ts) => ts.iter().any(Type::has_f64),
        }
    }

    /// The type of tangents and cotangents of values of this type: the
    /// same shape with every part that holds no f64 replaced by `()`.
    pub fn tangent(&self) -> Type {
        if !self.has_f64() {
            return Type::unit();
        }
        match self {
            Type::F64 => Type::F64,
            Type::I64 | Type::Bool => Type::unit(),
            Type::Array(t) => Type::array(t.tangent()),
            Type::Tuple(ts) => Type::Tuple(ts.iter().map(Type::tangent).collect()),
        }
    }

    /// True when the type contains only f64s (and arrays and tuples of
    /// them): the types that have a derivative.
    pub fn is_differentiable(&self) -> bool {
        match self {
            Type::F64 => true,
            Type::I64 | Type::Bool => false,
            Type::Array(t) => t.is_differentiable(),
            Type::Tuple(ts) => ts.iter().all(Type::is_differentiable),
        }
    }
}

/// A variable together with its type and a name for printing.
#[derive(Clone, Debug, PartialEq)]
pub struct Binder {
    pub var: VarId,
    pub name: String,
    pub ty: Type,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Atom {
    Var(VarId),
    F64(f64),
    I64(i64),
    Bool(bool),
}

/// A sequence of bindings followed by the atom it evaluates to.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub result: Atom,
}

/// `let binder = rhs`. The span is the source expression the statement came
/// from; run-time errors raised by this statement report it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub binder: Binder,
    pub rhs: Rhs,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Rhs {
    Atom(Atom),
    /// A primitive of the table in `prim`.
    Prim(Prim, Vec<Atom>),
    Tuple(Vec<Atom>),
    /// The `i`-th field of a tuple.
    Proj(Atom, usize),
    /// An array literal; the element type is kept so `[]` has a type.
    Array(Vec<Atom>, Type),
    /// A call of a top-level function.
    Call(String, Vec<Atom>),
    If(Atom, Block, Block),
    Loop(Loop),
    /// `map(\x y -> body, xs, ys)`: all arrays have the same length.
    Map {
        arrays: Vec<Atom>,
        params: Vec<Binder>,
        body: Block,
    },
    /// `build(n, \i -> body)`
    Build {
        n: Atom,
        index: Binder,
        body: Block,
    },
    /// `reduce(\acc x -> body, ne, array)`, `op` associative.
    Reduce(Combine),
    /// Inclusive prefix scan with an associative operator.
    Scan(Combine),
    /// A derivative operator applied to a top-level function: the first
    /// `captured.len()` parameters of `func` are held constant, and the
    /// derivative is taken with respect to the others, at `args`.
    Deriv {
        op: DerivOp,
        func: String,
        captured: Vec<Atom>,
        args: Vec<Atom>,
    },
}

/// The operator and operands of `reduce` and `scan`.
#[derive(Clone, Debug, PartialEq)]
pub struct Combine {
    pub ne: Atom,
    pub array: Atom,
    pub acc: Binder,
    pub elem: Binder,
    pub body: Block,
}

/// `loop state = init (for i < n | while cond) do body`
#[derive(Clone, Debug, PartialEq)]
pub struct Loop {
    pub state: Binder,
    pub init: Atom,
    pub kind: LoopKind,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LoopKind {
    For {
        n: Atom,
        index: Binder,
    },
    /// The condition sees the state.
    While {
        cond: Block,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DerivOp {
    Grad,
    ValueAndGrad,
    Jvp,
    Vjp,
    JacFwd,
    JacRev,
    Hessian,
}

impl DerivOp {
    pub const ALL: [DerivOp; 7] = [
        DerivOp::Grad,
        DerivOp::ValueAndGrad,
        DerivOp::Jvp,
        DerivOp::Vjp,
        DerivOp::JacFwd,
        DerivOp::JacRev,
        DerivOp::Hessian,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DerivOp::Grad => "grad",
            DerivOp::ValueAndGrad => "value_and_grad",
            DerivOp::Jvp => "jvp",
            DerivOp::Vjp => "vjp",
            DerivOp::JacFwd => "jacfwd",
            DerivOp::JacRev => "jacrev",
            DerivOp::Hessian => "hessian",
        }
    }

    pub fn from_name(name: &str) -> Option<DerivOp> {
        DerivOp::ALL.into_iter().find(|op| op.name() == name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Func {
    pub name: String,
    pub params: Vec<Binder>,
    pub ret: Type,
    pub body: Block,
    pub span: Span,
}

/// A `test "name" = expr` declaration: `func` takes no argument and returns
/// a bool.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub name: String,
    pub func: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    pub funcs: Vec<Func>,
    pub tests: Vec<Test>,
}

impl Program {
    pub fn func(&self, name: &str) -> Option<&Func> {
        self.funcs.iter().find(|f| f.name == name)
    }
}

impl Func {
    /// One more than the largest variable id used, for passes that create
    /// fresh variables.
    pub fn next_var(&self) -> u32 {
        let mut max = 0;
        for p in &self.params {
            max = max.max(p.var.0.saturating_add(1));
        }
        self.body
            .visit_binders(&mut |b| max = max.max(b.var.0.saturating_add(1)));
        max
    }
}

impl Block {
    pub fn atom(result: Atom) -> Block {
        Block {
            stmts: Vec::new(),
            result,
        }
    }

    /// The functions the block calls or differentiates, nested blocks
    /// included, in order of appearance.
    pub fn used_functions(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_used(&mut out);
        out
    }

    fn collect_used(&self, out: &mut Vec<String>) {
        for s in &self.stmts {
            match &s.rhs {
                Rhs::Call(f, _) | Rhs::Deriv { func: f, .. } => out.push(f.clone()),
                Rhs::If(_, a, b) => {
                    a.collect_used(out);
                    b.collect_used(out);
                }
                Rhs::Loop(l) => {
                    if let LoopKind::While { cond } = &l.kind {
                        cond.collect_used(out);
                    }
                    l.body.collect_used(out);
                }
                Rhs::Map { body, .. } | Rhs::Build { body, .. } => body.collect_used(out),
                Rhs::Reduce(c) | Rhs::Scan(c) => c.body.collect_used(out),
                Rhs::Atom(_) | Rhs::Prim(..) | Rhs::Tuple(_) | Rhs::Proj(..) | Rhs::Array(..) => {}
            }
        }
    }

    /// Calls `f` on every binder in the block, nested blocks included.
    pub fn visit_binders(&self, f: &mut dyn FnMut(&Binder)) {
        for s in &self.stmts {
            f(&s.binder);
            match &s.rhs {
                Rhs::Atom(_)
                | Rhs::Prim(..)
                | Rhs::Tuple(_)
                | Rhs::Proj(..)
                | Rhs::Array(..)
                | Rhs::Call(..)
                | Rhs::Deriv { .. } => {}
                Rhs::If(_, a, b) => {
                    a.visit_binders(f);
                    b.visit_binders(f);
                }
                Rhs::Loop(l) => {
                    f(&l.state);
                    match &l.kind {
                        LoopKind::For { index, .. } => f(index),
                        LoopKind::While { cond } => cond.visit_binders(f),
                    }
                    l.body.visit_binders(f);
                }
                Rhs::Map { params, body, .. } => {
                    params.iter().for_each(&mut *f);
                    body.visit_binders(f);
                }
                Rhs::Build { index, body, .. } => {
                    f(index);
                    body.visit_binders(f);
                }
                Rhs::Reduce(c) | Rhs::Scan(c) => {
                    f(&c.acc);
                    f(&c.elem);
                    c.body.visit_binders(f);
                }
            }
        }
    }
}
