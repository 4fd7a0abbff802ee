//! The unary form (UNF): a variable-free IR in which every term maps a typed
//! context, a stack of slots, to the same context with one more slot on top.
//!
//! This is the intermediate language of reverse mode (Huot & Shaikhha,
//! arXiv 2212.09801). A slot is named by its de Bruijn *level*: its position
//! from the bottom of the context, so the function's first parameter is
//! `%0`. A level stays valid in every term that extends the context, so a
//! nested body refers to the slots of its surroundings by the same numbers.
//!
//! - [`Op`]: a term `Γ -> Γ·A`. Operands are slot references, so an operand
//!   is an implicit copy of its slot (the paper's `var_i` followed by the
//!   operation); [`Term::Var`] is the explicit copy.
//! - [`Block`]: sequencing. Its ops run in order, op `k` pushing slot
//!   `|Γ| + k`; then every slot it pushed is dropped except its `result`,
//!   which is pushed: again a term `Γ -> Γ·A`.
//! - The structured terms carry blocks over an extended context: a `map`
//!   body sees `Γ·x1..xk`, a `build` body `Γ·i`, `reduce`/`scan` bodies
//!   `Γ·acc·x`, a `for` body `Γ·state·i`, a `while` condition and body
//!   `Γ·state`, where `Γ` is the context below the structured op itself.
//!
//! Invariants (checked by [`verify`]): every slot reference is below the
//! slot being defined; every op's declared type is the type of its term.
//!
//! Passes: [`from_core`] (core to UNF, call-by-value order), [`to_core`]
//! (back to core, reintroducing variables), [`print`] and [`verify`].

pub mod build;
pub mod from_core;
pub mod print;
pub mod to_core;
pub mod verify;

pub use crate::core::ir::Type;
use crate::diagnostics::Span;
use crate::prim::Prim;

/// A slot of the context, by de Bruijn level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u32);

impl Slot {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A literal constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lit {
    F64(f64),
    I64(i64),
    Bool(bool),
}

impl Lit {
    pub fn ty(self) -> Type {
        match self {
            Lit::F64(_) => Type::F64,
            Lit::I64(_) => Type::I64,
            Lit::Bool(_) => Type::Bool,
        }
    }
}

/// One term `Γ -> Γ·ty`: it pushes one slot of type `ty`. `name` is a hint
/// for printing and for the variable `to_core` gives it; `span` is the
/// source expression, reported by run-time errors.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub term: Term,
    pub ty: Type,
    pub name: String,
    pub span: Span,
}

/// A sequence of ops, then the slot it evaluates to; see the module docs.
/// `params` are the slots the enclosing structured term pushes before the
/// block runs (a `map` element, a loop state), empty for a function body and
/// the branches of an `if`.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub params: Vec<Param>,
    pub ops: Vec<Op>,
    pub result: Slot,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    /// Copies a slot.
    Var(Slot),
    Lit(Lit),
    /// A primitive of the table in `prim`, applied to slots.
    Prim(Prim, Vec<Slot>),
    Tuple(Vec<Slot>),
    /// The `i`-th field of a tuple.
    Proj(Slot, usize),
    /// An array literal and its element type.
    Array(Vec<Slot>, Type),
    /// Both blocks run over the context of the `if`.
    If(Slot, Block, Block),
    /// The body sees one slot per array, holding that array's element.
    Map {
        arrays: Vec<Slot>,
        body: Block,
    },
    /// The body sees the index.
    Build {
        n: Slot,
        body: Block,
    },
    /// The body sees the accumulator, then the element.
    Reduce {
        ne: Slot,
        array: Slot,
        body: Block,
    },
    /// Inclusive prefix scan; the body as for `Reduce`.
    Scan {
        ne: Slot,
        array: Slot,
        body: Block,
    },
    /// `n` iterations; the body sees the state, then the index.
    For {
        init: Slot,
        n: Slot,
        body: Block,
    },
    /// The condition and the body see the state.
    While {
        init: Slot,
        cond: Block,
        body: Block,
    },
}

/// A function: its parameters are the slots `%0..%k` of its body's context.
#[derive(Clone, Debug, PartialEq)]
pub struct Func {
    pub name: String,
    pub params: Vec<Param>,
    pub ret: Type,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub ty: Type,
}

impl Term {
    /// The slots the term reads directly (not those its blocks read).
    pub fn operands(&self) -> Vec<Slot> {
        match self {
            Term::Var(s) | Term::Proj(s, _) => vec![*s],
            Term::Lit(_) => Vec::new(),
            Term::Prim(_, args) | Term::Tuple(args) | Term::Array(args, _) => args.clone(),
            Term::If(c, _, _) => vec![*c],
            Term::Map { arrays, .. } => arrays.clone(),
            Term::Build { n, .. } => vec![*n],
            Term::Reduce { ne, array, .. } | Term::Scan { ne, array, .. } => vec![*ne, *array],
            Term::For { init, n, .. } => vec![*init, *n],
            Term::While { init, .. } => vec![*init],
        }
    }
}
