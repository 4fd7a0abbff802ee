//! The loop IR (LIR): explicit loops, explicit buffers, mutable scalar
//! variables. Lowered from optimised core IR (`lower::from_core`), compiled
//! by `codegen`.
//!
//! # Values
//!
//! A LIR variable holds a scalar or a pointer; there are no arrays or tuples
//! as values. A core value of type `T` is a list of *components*
//! ([`components`]):
//! - `f64`, `i64`, `bool`: one scalar;
//! - a tuple: the components of its fields, in order;
//! - `[n]E`: the length `n` (an `I64`), then the components of `E` where
//!   every scalar leaf has become a [`Ty::Ptr`] to a buffer holding that
//!   leaf for every element: arrays of tuples are stored as tuples of
//!   arrays, and nested arrays are regular and stored flat, row-major.
//!
//! So `[n][m]f64` is `(n, m, p)` with `p` pointing at `n*m` f64s, and
//! `[n](f64, [m]i64)` is `(n, p0, m, p1)` with `n` f64s at `p0` and `n*m`
//! i64s at `p1`. Every buffer is contiguous; a row `a[i]` or a slice
//! `a[lo:hi]` is a view: the same buffer pointers moved by an offset.
//! Buffers hold f64 and i64 in 8 bytes and bool in 1 byte.
//!
//! # Functions
//!
//! A [`Func`] is one entry point, with every call inlined. It receives its
//! parameters' components in order and ends by producing its result's
//! components. Generated code gets them through the entry ABI: `fn(ctx:
//! ptr, args: ptr, results: ptr) -> i32`, where `args` and `results` are
//! arrays of 8-byte slots (f64 by bits, bool as 0 or 1, pointers as
//! addresses) and the status is 0, or 1 after a run-time error. Result
//! buffers are allocated with `dl_result_alloc` (never arena memory, never a
//! view of a parameter), one buffer per result pointer, so the caller owns
//! and frees each of them once.
//!
//! # Semantics
//!
//! Variables are function-wide and mutable (`Set` may assign a variable
//! again); each has one type. Every variable is set before it is read on
//! every path (the verifier checks this conservatively). Instructions run in
//! order; `Fail` reports a run-time error through the runtime and returns
//! status 1 from the entry point, wherever it is.

use crate::core::ir::Type;
use crate::diagnostics::Span;
use crate::HashMap;
use std::fmt;

/// The type of a LIR variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    F64,
    I64,
    Bool,
    /// The address of a buffer's first element (or of any element: views).
    Ptr,
}

impl Ty {
    /// Bytes per element in a buffer of this type.
    pub fn size(self) -> i64 {
        match self {
            Ty::F64 | Ty::I64 | Ty::Ptr => 8,
            Ty::Bool => 1,
        }
    }
}

/// A variable of a [`Func`]: an index into [`Func::vars`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(pub u32);

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operand {
    Var(Var),
    F64(f64),
    I64(i64),
    Bool(bool),
}

/// The name and type of a variable; the name is for printing only.
#[derive(Clone, Debug, PartialEq)]
pub struct VarInfo {
    pub name: String,
    pub ty: Ty,
}

/// One entry point.
#[derive(Clone, Debug, PartialEq)]
pub struct Func {
    pub name: String,
    pub vars: Vec<VarInfo>,
    /// The components of the parameters, in order.
    pub params: Vec<Var>,
    /// The core types of the parameters and of the result: they say how
    /// components group into values ([`components`]).
    pub param_types: Vec<Type>,
    pub result_type: Type,
    pub body: Vec<Inst>,
    /// The components of the result, evaluated after `body`.
    pub results: Vec<Operand>,
    /// Source locations of run-time errors: `Fail::loc` indexes this.
    pub locations: Vec<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Inst {
    /// `var = expr`.
    Set(Var, Expr),
    /// `base[index] = value`, elements of type `ty`.
    Store {
        ty: Ty,
        base: Operand,
        index: Operand,
        value: Operand,
    },
    /// Copies `n` elements of type `ty` from `src` to `dst` (may overlap).
    Copy {
        ty: Ty,
        dst: Operand,
        src: Operand,
        n: Operand,
    },
    If {
        cond: Operand,
        then: Vec<Inst>,
        els: Vec<Inst>,
    },
    /// `for index in start..end { body }`; `index` is an `I64` variable
    /// that the body does not assign.
    For {
        index: Var,
        start: Operand,
        end: Operand,
        body: Vec<Inst>,
        hint: LoopHint,
    },
    /// `loop { cond; if !test { break }; body }`.
    While {
        cond: Vec<Inst>,
        test: Operand,
        body: Vec<Inst>,
    },
    /// A call of a runtime function of the ABI that takes no context
    /// (mathematics, linear algebra, whole-buffer kernels, result
    /// allocation). `I64` operands passed where the ABI wants an `i32` are
    /// narrowed.
    Call {
        func: &'static str,
        args: Vec<Operand>,
        result: Option<Var>,
    },
    /// Saves the arena's top into an `I64` variable.
    ArenaMark(Var),
    /// Frees the arena memory allocated since the mark.
    ArenaRelease(Operand),
    /// Raises run-time error `kind` (docs/runtime-abi.md) at
    /// `locations[loc]` with up to three `I64` values, and returns status 1.
    Fail { kind: u32, loc: u32, values: Vec<Operand> },
}

/// How a `For` loop may be compiled. The lowering only sets a flag when the
/// body fits it; code generation may still compile the loop plainly.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LoopHint {
    /// The body is straight-line code (`Set`, `Store`, and `Call`s of the
    /// pure scalar maths functions) whose loads
    /// and stores at `index` are of one element type, and whose variables
    /// assigned across iterations are the `reductions`: iterations may run
    /// two at a time in SIMD lanes, with a scalar remainder.
    pub vector: bool,
    /// Iterations are independent apart from the `reductions` and the body
    /// does not allocate: chunks of them may run on the thread pool.
    pub parallel: bool,
    /// Iterations touch disjoint memory apart from what each allocates, and
    /// pass no variables to one another but the `reductions`
    /// (`independent`): chunks of them may run on the thread pool, each
    /// with an arena of its own. Set on loops without the other hints,
    /// whose bodies may be any code (so that the reductions may be updated
    /// anywhere in them, but are read only by their updates).
    pub independent: bool,
    /// Accumulators `acc = acc op x` (`op` associative and commutative:
    /// `FAdd`, `FMul`, `FMin`, `FMax`, `IAdd`, `IMul`, `IMin`, `IMax`) that
    /// may be split into several partial accumulators and combined at the
    /// end.
    pub reductions: Vec<(Var, BinOp)>,
    /// Of an `independent` loop: buffers the body only adds into, each
    /// element as `x = load B[j]; t = fadd x, y; store B[j] = t` with `y`
    /// not read from `B` (the scatter of a cotangent into the rows that
    /// data picks): chunks may each add into a zeroed copy of their own,
    /// added into `B` in chunk order at the end.
    pub summed: Vec<SummedBuffer>,
}

/// A buffer of [`LoopHint::summed`]: the variable the body reaches it
/// through, which points at the start of its allocation, and the size of
/// that allocation in bytes, `bytes * scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct SummedBuffer {
    pub buffer: Var,
    pub bytes: Operand,
    pub scale: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Atom(Operand),
    Unary(UnOp, Operand),
    Binary(BinOp, Operand, Operand),
    /// `if cond { a } else { b }`, both evaluated.
    Select(Operand, Operand, Operand),
    /// `base[index]`, elements of type `ty`.
    Load {
        ty: Ty,
        base: Operand,
        index: Operand,
    },
    /// The address of `base[index]`, elements of type `ty`: a view.
    Offset {
        ty: Ty,
        base: Operand,
        index: Operand,
    },
    /// A fresh arena buffer of `n` elements of type `ty` (uninitialised).
    Alloc {
        ty: Ty,
        n: Operand,
    },
}

/// Scalar operations; the semantics are those of the interpreter
/// (`prim::eval`): NaN-propagating `FMin`/`FMax` that order -0 below +0,
/// wrapping integer arithmetic, `IDiv`/`IRem` truncating (the lowering
/// checks the divisor for zero first; `i64::MIN / -1` wraps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    FAdd,
    FSub,
    FMul,
    FDiv,
    FMin,
    FMax,
    IAdd,
    ISub,
    IMul,
    /// The product of two sizes, `i64::MAX` when it does not fit or a size
    /// is negative ([`size_mul`]): an allocation of that size fails instead
    /// of wrapping to a small buffer that the code after it would overrun.
    SizeMul,
    IDiv,
    IRem,
    IMin,
    IMax,
    FEq,
    FNe,
    FLt,
    FLe,
    FGt,
    FGe,
    IEq,
    INe,
    ILt,
    ILe,
    IGt,
    IGe,
    /// On bools: `And`, `Or`, `BEq` (also xor's complement), `BNe`.
    And,
    Or,
    BEq,
    BNe,
}

/// [`BinOp::SizeMul`]: `a * b`, or `i64::MAX` when that does not fit or
/// an operand is negative.
pub fn size_mul(a: i64, b: i64) -> i64 {
    if a < 0 || b < 0 {
        return i64::MAX;
    }
    // Both non-negative: a product that does not fit saturates upwards.
    a.saturating_mul(b)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    FNeg,
    FAbs,
    FSqrt,
    FFloor,
    FCeil,
    /// -1.0, 0.0 or 1.0 (NaN stays NaN; the sign of zero is kept).
    FSign,
    INeg,
    IAbs,
    ISign,
    Not,
    /// i64 to f64, rounding to nearest.
    IToF,
    /// f64 to i64, truncating; the lowering checks NaN and range first.
    FToI,
    /// bool to i64 (0 or 1).
    BToI,
}

impl Expr {
    /// The operands the expression reads, in order.
    pub fn operands(&self) -> Vec<Operand> {
        match self {
            Expr::Atom(a) | Expr::Unary(_, a) | Expr::Alloc { n: a, .. } => vec![*a],
            Expr::Binary(_, a, b) => vec![*a, *b],
            Expr::Select(c, a, b) => vec![*c, *a, *b],
            Expr::Load { base, index, .. } | Expr::Offset { base, index, .. } => vec![*base, *index],
        }
    }

    /// The operands the expression reads, to rewrite them.
    pub fn operands_mut(&mut self) -> Vec<&mut Operand> {
        match self {
            Expr::Atom(a) | Expr::Unary(_, a) | Expr::Alloc { n: a, .. } => vec![a],
            Expr::Binary(_, a, b) => vec![a, b],
            Expr::Select(c, a, b) => vec![c, a, b],
            Expr::Load { base, index, .. } | Expr::Offset { base, index, .. } => vec![base, index],
        }
    }
}

/// The constant `c` when `expr` is `index + c` (or `index - c`, giving
/// `-c`): a shifted loop index, which vector loops may load at.
pub fn index_shift(expr: &Expr, index: Var) -> Option<i64> {
    match expr {
        Expr::Binary(BinOp::IAdd, Operand::Var(i), Operand::I64(c)) if *i == index => Some(*c),
        Expr::Binary(BinOp::ISub, Operand::Var(i), Operand::I64(c)) if *i == index => c.checked_neg(),
        _ => None,
    }
}

/// Calls `f` on every instruction of `code`, nested blocks included (an
/// `If`, `For` or `While` before the instructions inside it).
pub fn each_inst_deep<'c>(code: &'c [Inst], f: &mut dyn FnMut(&'c Inst)) {
    for inst in code {
        f(inst);
        match inst {
            Inst::If { then, els, .. } => {
                each_inst_deep(then, f);
                each_inst_deep(els, f);
            }
            Inst::For { body, .. } => each_inst_deep(body, f),
            Inst::While { cond, body, .. } => {
                each_inst_deep(cond, f);
                each_inst_deep(body, f);
            }
            _ => {}
        }
    }
}

/// Keeps the instructions of `code` (nested blocks included) that `keep`
/// accepts: `Vec::retain` at every depth.
pub fn retain_deep(code: &mut Vec<Inst>, keep: &dyn Fn(&Inst) -> bool) {
    code.retain(|inst| keep(inst));
    for inst in code.iter_mut() {
        match inst {
            Inst::If { then, els, .. } => {
                retain_deep(then, keep);
                retain_deep(els, keep);
            }
            Inst::For { body, .. } => retain_deep(body, keep),
            Inst::While { cond, body, .. } => {
                retain_deep(cond, keep);
                retain_deep(body, keep);
            }
            _ => {}
        }
    }
}

/// Calls `f` on each variable `code` sets (nested blocks included), once
/// per instruction that sets it: `Set`, `ArenaMark`, a `Call`'s result and
/// a `For`'s index.
pub fn each_assignment(code: &[Inst], f: &mut dyn FnMut(Var)) {
    for inst in code {
        match inst {
            Inst::Set(v, _) | Inst::ArenaMark(v) => f(*v),
            Inst::Call { result, .. } => result.iter().for_each(|v| f(*v)),
            Inst::If { then, els, .. } => {
                each_assignment(then, f);
                each_assignment(els, f);
            }
            Inst::For { index, body, .. } => {
                f(*index);
                each_assignment(body, f);
            }
            Inst::While { cond, body, .. } => {
                each_assignment(cond, f);
                each_assignment(body, f);
            }
            Inst::Store { .. } | Inst::Copy { .. } | Inst::ArenaRelease(_) | Inst::Fail { .. } => {}
        }
    }
}

/// How often each variable is read in `func`, its results included.
pub fn read_counts(func: &Func) -> HashMap<Var, usize> {
    let mut reads = HashMap::default();
    each_read(&func.body, &mut |v| *reads.entry(v).or_insert(0) += 1);
    for o in &func.results {
        if let Operand::Var(v) = o {
            *reads.entry(*v).or_insert(0) += 1;
        }
    }
    reads
}

/// How often each variable is assigned in `code`.
pub fn assignment_counts(code: &[Inst]) -> HashMap<Var, usize> {
    let mut assignments = HashMap::default();
    each_assignment(code, &mut |v| *assignments.entry(v).or_insert(0) += 1);
    assignments
}

/// Calls `f` on each variable `code` reads, once per read.
pub fn each_read(code: &[Inst], f: &mut dyn FnMut(Var)) {
    let read = |o: &Operand, f: &mut dyn FnMut(Var)| {
        if let Operand::Var(v) = o {
            f(*v);
        }
    };
    for inst in code {
        match inst {
            Inst::Set(_, expr) => expr.operands().iter().for_each(|o| read(o, f)),
            Inst::Store { base, index, value, .. } => [base, index, value].into_iter().for_each(|o| read(o, f)),
            Inst::Copy { dst, src, n, .. } => [dst, src, n].into_iter().for_each(|o| read(o, f)),
            Inst::Call { args, .. } => args.iter().for_each(|o| read(o, f)),
            Inst::ArenaRelease(mark) => read(mark, f),
            Inst::Fail { values, .. } => values.iter().for_each(|o| read(o, f)),
            Inst::ArenaMark(_) => {}
            Inst::If { cond, then, els } => {
                each_read(then, f);
                each_read(els, f);
                read(cond, f);
            }
            Inst::For { start, end, body, .. } => {
                each_read(body, f);
                [start, end].into_iter().for_each(|o| read(o, f));
            }
            Inst::While { cond, test, body } => {
                each_read(cond, f);
                each_read(body, f);
                read(test, f);
            }
        }
    }
}

/// The component types of a core value of type `ty` (see the module
/// documentation).
pub fn components(ty: &Type) -> Vec<Ty> {
    fn go(ty: &Type, in_array: bool, out: &mut Vec<Ty>) {
        let leaf = |scalar: Ty| if in_array { Ty::Ptr } else { scalar };
        match ty {
            Type::F64 => out.push(leaf(Ty::F64)),
            Type::I64 => out.push(leaf(Ty::I64)),
            Type::Bool => out.push(leaf(Ty::Bool)),
            Type::Tuple(fields) => fields.iter().for_each(|f| go(f, in_array, out)),
            Type::Array(elem) => {
                out.push(Ty::I64);
                go(elem, true, out);
            }
        }
    }
    let mut out = Vec::new();
    go(ty, false, &mut out);
    out
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::F64 => "f64",
            Ty::I64 => "i64",
            Ty::Bool => "bool",
            Ty::Ptr => "ptr",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_tuples_are_tuples_of_flat_buffers() {
        let ty = Type::array(Type::Tuple(vec![Type::F64, Type::array(Type::I64)]));
        assert_eq!(components(&ty), vec![Ty::I64, Ty::Ptr, Ty::I64, Ty::Ptr]);
        let matrix = Type::array(Type::array(Type::F64));
        assert_eq!(components(&matrix), vec![Ty::I64, Ty::I64, Ty::Ptr]);
        assert_eq!(components(&Type::unit()), vec![]);
    }
}
