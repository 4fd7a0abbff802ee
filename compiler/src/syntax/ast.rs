//! The abstract syntax tree: what the parser produces, with a span on every node.
//!
//! The AST is untyped and keeps the surface sugar (operators, several `let`s
//! before one `in`, lambdas); `check` resolves names and lowers it to core IR.

use crate::diagnostics::Span;

/// A whole source file.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Def(Def),
    Import { path: String, span: Span },
    Test { name: String, body: Expr, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeExpr>,
    pub body: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeKind {
    F64,
    I64,
    Bool,
    /// `[size]elem`
    Array(SizeExpr, Box<TypeExpr>),
    /// `(a, b)`; `()` is unit. A one-element tuple is written `(a,)` and
    /// a parenthesised type `(a)` is just `a`.
    Tuple(Vec<TypeExpr>),
    /// `(a, b) -> r`, only allowed as a parameter type.
    Func(Vec<TypeExpr>, Box<TypeExpr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum SizeExpr {
    Const(i64),
    Var(Ident),
    Unknown,
}

/// Binding patterns of `let`, lambdas and loops.
#[derive(Clone, Debug, PartialEq)]
pub enum Pat {
    Var(Ident),
    Wild(Span),
    Tuple(Vec<Pat>, Span),
    /// `(p: T)`
    Typed(Box<Pat>, TypeExpr),
}

impl Pat {
    pub fn span(&self) -> Span {
        match self {
            Pat::Var(id) => id.span,
            Pat::Wild(s) | Pat::Tuple(_, s) => *s,
            Pat::Typed(p, t) => p.span().to(t.span),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `~=`: equal within a relative tolerance, for tests.
    Approx,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    MatMul,
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Approx => "~=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::MatMul => "@",
            BinOp::Pow => "**",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

/// One subscript of `a[...]`: an index or a slice with optional bounds.
#[derive(Clone, Debug, PartialEq)]
pub enum Subscript {
    Index(Expr),
    Slice(Option<Expr>, Option<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum LoopKind {
    /// `for i < n`
    For(Ident, Box<Expr>),
    /// `while cond`
    While(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Var(Ident),
    Tuple(Vec<Expr>),
    Array(Vec<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Unary(UnOp, Box<Expr>),
    Call(Box<Expr>, Vec<Expr>),
    Index(Box<Expr>, Vec<Subscript>),
    Proj(Box<Expr>, usize),
    /// `let p1 = e1 ... let pn = en in body`, kept as one node.
    Let(Vec<(Pat, Expr)>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Lambda(Vec<Pat>, Box<Expr>),
    Loop {
        pat: Pat,
        init: Box<Expr>,
        kind: LoopKind,
        body: Box<Expr>,
    },
    /// Stands where the parser recovered from an error.
    Error,
}
