//! Lowering of optimised core IR to LIR: one entry point, with every call
//! inlined. Entry point: [`lower`].
//!
//! A core value becomes its list of components (`lir::components`): scalars
//! are operands, arrays are a length and buffer pointers (`marshal::layout`
//! says which component is what). Rows and slices are views into the same
//! buffers; combinators become `For` loops that write fresh buffers.
//!
//! Arrays are kept in a canonical form: the element sizes of an empty array
//! are 0, as they would be for the interpreter's value (which has no
//! elements to have sizes), so structural equality compares components.
//!
//! Every check of the interpreter is a test and a `Fail` whose location is
//! the span of the innermost core statement being lowered, as the
//! interpreter reports it. Arrays of arrays must be regular: the lowering
//! checks it where they are built (error kind 10).
//!
//! Memory: a combinator whose body allocates marks the arena at the start of
//! each iteration and releases it once the iteration's result is copied out,
//! and loops keep their array state in buffers they own (see
//! `Lowering::loop_state`), so the arena does not grow with the iteration
//! count.

use super::failure::{self, EMPTY_ARGMAX, EMPTY_ARGMIN, EMPTY_MAXIMUM, EMPTY_MINIMUM};
use super::lir::{
    components, each_assignment, index_shift, retain_deep, BinOp, Expr, Func, Inst, LoopHint, Operand, Ty, UnOp, Var,
    VarInfo,
};
use super::marshal::{element_layout, layout, Slot};
use super::schedule::schedule;
use super::verify::{binop_types, unop_types};
use crate::core::ir::{self, Atom, Block, LoopKind, Program, Rhs, Stmt, Type, VarId};
use crate::diagnostics::Span;
use crate::prim::Prim;
use crate::{HashMap, HashSet};
use std::fmt;

/// A program the lowering cannot handle (a bug of an earlier pass, or
/// recursion, which core programs do not have).
#[derive(Clone, Debug, PartialEq)]
pub struct LowerError(pub String);

impl fmt::Display for LowerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LowerError {}

type R<T> = Result<T, LowerError>;

fn bug<T>(message: impl Into<String>) -> R<T> {
    Err(LowerError(message.into()))
}

/// The longest dot product computed by an inline loop rather than the
/// runtime's `dl_dot` ([`Lowering::dot`]).
const INLINE_DOT_MAX: i64 = 64;

/// Calls nested deeper than this are taken for recursion.
const MAX_INLINE_DEPTH: usize = 200;

/// Lowers the function `entry` of `program`, inlining every call.
pub fn lower(program: &Program, entry: &str) -> R<Func> {
    let func = program
        .func(entry)
        .ok_or_else(|| LowerError(format!("no function named `{entry}`")))?;
    let mut l = Lowering {
        program,
        vars: Vec::new(),
        locations: Vec::new(),
        location_ids: HashMap::default(),
        code: Vec::new(),
        span: func.span,
        depth: 0,
        owned: HashSet::default(),
        fresh: HashSet::default(),
        state_vars: HashSet::default(),
        live_after: HashSet::default(),
        live_outer: HashSet::default(),
        aliases: HashMap::default(),
        in_bounds: HashMap::default(),
        equal_sizes: Vec::new(),
        reassigned: HashSet::default(),
        nonempty_sizes: Vec::new(),
        products: HashMap::default(),
        transposed: HashMap::default(),
        copied_rows: HashSet::default(),
        zero_filled: HashSet::default(),
    };
    let mut env = Env::default();
    let mut params = Vec::new();
    for p in &func.params {
        let mut comps = Vec::new();
        let names = component_names(&p.name, &p.ty);
        for (ty, name) in components(&p.ty).into_iter().zip(names) {
            let var = l.var(&name, ty);
            params.push(var);
            comps.push(Operand::Var(var));
        }
        env.insert(p.var, Val::new(p.ty.clone(), comps));
    }
    let result = l.block(&mut env, &func.body)?;
    let results = l.copy_out(&result);
    let mut lowered = Func {
        name: func.name.clone(),
        vars: l.vars,
        params,
        param_types: func.params.iter().map(|p| p.ty.clone()).collect(),
        result_type: func.ret.clone(),
        body: l.code,
        results,
        locations: l.locations,
    };
    super::unread::drop_unread_buffers(&mut lowered);
    super::check_once::check_once(&mut lowered);
    super::fuse_loops::fuse_loops(&mut lowered);
    super::fuse_skewed::fuse_skewed(&mut lowered);
    if super::forward_stores::forward_stores(&mut lowered) {
        super::unread::drop_unread_buffers(&mut lowered);
    }
    super::independent::mark_independent(&mut lowered);
    Ok(lowered)
}

/// Names for the variables of a value's components: `a_len` for a length,
/// `a` for its (first) buffer or scalar, numbered after the first.
fn component_names(name: &str, ty: &Type) -> Vec<String> {
    let (mut lens, mut others) = (0, 0);
    layout(ty)
        .iter()
        .map(|slot| {
            let (count, suffix) = match slot {
                Slot::Len => (&mut lens, "_len"),
                Slot::Scalar(_) | Slot::Buffer { .. } => (&mut others, ""),
            };
            *count += 1;
            match *count {
                1 => format!("{name}{suffix}"),
                k => format!("{name}{suffix}{k}"),
            }
        })
        .collect()
}

/// A lowered core value: its type and components.
#[derive(Clone, Debug)]
struct Val {
    ty: Type,
    comps: Vec<Operand>,
}

impl Val {
    fn new(ty: Type, comps: Vec<Operand>) -> Val {
        Val { ty, comps }
    }

    fn scalar(ty: Type, op: Operand) -> Val {
        Val { ty, comps: vec![op] }
    }

    fn op(&self) -> Operand {
        self.comps[0]
    }

    fn len(&self) -> Operand {
        self.comps[0]
    }

    /// The element components of an array (after its length).
    fn parts(&self) -> &[Operand] {
        &self.comps[1..]
    }

    fn elem(&self) -> R<&Type> {
        match self.ty.elem() {
            Some(t) => Ok(t),
            None => bug(format!("an array expected, got a {}", self.ty)),
        }
    }
}

type Env = HashMap<VarId, Val>;

struct Lowering<'p> {
    program: &'p Program,
    vars: Vec<VarInfo>,
    locations: Vec<Span>,
    location_ids: HashMap<Span, u32>,
    /// The instructions of the block being written.
    code: Vec<Inst>,
    /// The span of the statement being lowered: run-time errors report it.
    span: Span,
    depth: usize,
    /// The buffers of the innermost loop's state, which the loop owns and
    /// which statements of its body (not of nested combinators) may update
    /// in place.
    owned: HashSet<Var>,
    /// Buffers allocated by the block being lowered itself (not by a
    /// repeated block inside it): no one else holds them, so they may be
    /// updated in place as the loop's own buffers are.
    fresh: HashSet<Var>,
    /// Core variables read after the statement being lowered.
    live_after: HashSet<VarId>,
    /// Core variables read after the block being lowered.
    live_outer: HashSet<VarId>,
    /// For a pointer variable, the variables it may have been derived from
    /// (views, copies of pointers), so aliases of an owned buffer are seen.
    aliases: HashMap<Var, HashSet<Var>>,
    /// The variables of loop states, which an `if` that gives one of them
    /// from both branches passes on as it is.
    state_vars: HashSet<Var>,
    /// `i -> (k, n)` where `k <= i < n` with `k >= 0` holds wherever `i`
    /// is read: `i` is the index of a loop from `k` to `n` that nothing in
    /// the loop sets, or such an index less a constant up to its start.
    /// Indexing an array of length `n` by `i` needs no check.
    in_bounds: HashMap<Var, (i64, Operand)>,
    /// Pairs of sizes that a size check earlier in the code being written
    /// (or in a block around it) found equal. A block's checks are
    /// forgotten when it ends.
    equal_sizes: Vec<(Operand, Operand)>,
    /// Variables set more than once (loop states, results of `if`): no
    /// size check speaks for them once they are set again, so none is
    /// used for them at all.
    reassigned: HashSet<Var>,
    /// `(n, s, len)`: `s` is `len` unless `n` is 0 (the element sizes of an
    /// array of `n` elements, 0 when it is empty). In a loop below `n`,
    /// `s` is `len`.
    nonempty_sizes: Vec<(Operand, Var, Operand)>,
    /// `c -> args` for the buffer `c` a `dl_gemm` call with `args` wrote:
    /// the transpose of the product is the product of the transposes,
    /// swapped.
    products: HashMap<Var, Vec<Operand>>,
    /// `out -> a` for the buffer `out` of `transpose(a)` (an alias of
    /// `a`'s buffer, so that no update in place writes `a` while `out`
    /// lives): a matrix product reads `a` with a transposed flag instead,
    /// and a transpose of `out` is `a` itself.
    transposed: HashMap<Var, Val>,
    /// The reads of a row that [`schedule`] found live across an update
    /// of their matrix, in the block being lowered: copied out of the
    /// matrix when its buffers are the loop's or the block's own (which an
    /// update in place needs; the copy is wasted when the matrix is read
    /// again later anyway).
    copied_rows: HashSet<VarId>,
    /// The buffers of zero tangents that nothing has written since (an
    /// update in place forgets them): a copy of one is a loop of zero
    /// stores.
    zero_filled: HashSet<Var>,
}

/// Integer and boolean operations on constants, folded as the evaluator
/// would compute them (floats are left alone: folding must not change bits).
fn fold_binary(op: BinOp, a: Operand, b: Operand) -> Option<Operand> {
    use BinOp::*;
    use Operand::{Bool as B, I64 as I};
    Some(match (op, a, b) {
        (IAdd, I(x), I(y)) => I(x.wrapping_add(y)),
        (ISub, I(x), I(y)) => I(x.wrapping_sub(y)),
        (IMul, I(x), I(y)) => I(x.wrapping_mul(y)),
        (SizeMul, I(x), I(y)) => I(super::lir::size_mul(x, y)),
        (SizeMul, x, I(1)) | (SizeMul, I(1), x) => x,
        (SizeMul, _, I(0)) | (SizeMul, I(0), _) => I(0),
        (IMin, I(x), I(y)) => I(x.min(y)),
        (IMax, I(x), I(y)) => I(x.max(y)),
        (IEq, I(x), I(y)) => B(x == y),
        (INe, I(x), I(y)) => B(x != y),
        (ILt, I(x), I(y)) => B(x < y),
        (ILe, I(x), I(y)) => B(x <= y),
        (IGt, I(x), I(y)) => B(x > y),
        (IGe, I(x), I(y)) => B(x >= y),
        (IAdd, x, I(0)) | (IAdd, I(0), x) | (ISub, x, I(0)) => x,
        (IMul, x, I(1)) | (IMul, I(1), x) => x,
        (IMul, _, I(0)) | (IMul, I(0), _) => I(0),
        (And, B(true), x) | (And, x, B(true)) => x,
        (And, B(false), _) | (And, _, B(false)) => B(false),
        (Or, B(false), x) | (Or, x, B(false)) => x,
        (Or, B(true), _) | (Or, _, B(true)) => B(true),
        (IEq | ILe | IGe, Operand::Var(x), Operand::Var(y)) if x == y => B(true),
        (INe | ILt | IGt, Operand::Var(x), Operand::Var(y)) if x == y => B(false),
        _ => return None,
    })
}

impl Lowering<'_> {
    // ---- Variables, instructions and control flow ----

    fn var(&mut self, name: &str, ty: Ty) -> Var {
        self.vars.push(VarInfo {
            name: name.to_string(),
            ty,
        });
        Var(self.vars.len() as u32 - 1)
    }

    fn ty(&self, op: Operand) -> Ty {
        match op {
            Operand::Var(v) => self.vars[v.0 as usize].ty,
            Operand::F64(_) => Ty::F64,
            Operand::I64(_) => Ty::I64,
            Operand::Bool(_) => Ty::Bool,
        }
    }

    fn emit(&mut self, inst: Inst) {
        if let Inst::Set(var, _) = &inst {
            if self
                .equal_sizes
                .iter()
                .any(|(a, b)| *a == Operand::Var(*var) || *b == Operand::Var(*var))
            {
                self.reassigned.insert(*var);
            }
        }
        self.code.push(inst);
    }

    /// A fresh variable set to `expr`.
    fn set(&mut self, name: &str, ty: Ty, expr: Expr) -> Operand {
        let var = self.var(name, ty);
        self.emit(Inst::Set(var, expr));
        Operand::Var(var)
    }

    fn binary(&mut self, op: BinOp, a: Operand, b: Operand) -> Operand {
        if let Some(folded) = fold_binary(op, a, b) {
            return folded;
        }
        // A loop index against a constant below its start.
        if let (Operand::Var(i), Operand::I64(c)) = (a, b) {
            if self.in_bounds.get(&i).is_some_and(|&(low, _)| c < low) {
                match op {
                    BinOp::IEq | BinOp::ILt | BinOp::ILe => return Operand::Bool(false),
                    BinOp::INe | BinOp::IGt | BinOp::IGe => return Operand::Bool(true),
                    _ => {}
                }
            }
        }
        let t = self.set("t", binop_types(op).1, Expr::Binary(op, a, b));
        // A loop index less a constant up to the loop's start stays in
        // bounds (`x[i - 1]` in a loop from 1).
        let less = match (op, a, b) {
            (BinOp::ISub, Operand::Var(i), Operand::I64(c)) => Some((i, c)),
            (BinOp::IAdd, Operand::Var(i), Operand::I64(c)) => Some((i, c.wrapping_neg())),
            _ => None,
        };
        if let (Some((i, c)), Operand::Var(t)) = (less, t) {
            if let Some(&(low, end)) = self.in_bounds.get(&i) {
                if (0..=low).contains(&c) {
                    self.in_bounds.insert(t, (low - c, end));
                }
            }
        }
        t
    }

    fn unary(&mut self, op: UnOp, a: Operand) -> Operand {
        match (op, a) {
            (UnOp::Not, Operand::Bool(b)) => Operand::Bool(!b),
            (UnOp::INeg, Operand::I64(n)) => Operand::I64(n.wrapping_neg()),
            _ => self.set("t", unop_types(op).1, Expr::Unary(op, a)),
        }
    }

    fn select(&mut self, cond: Operand, a: Operand, b: Operand) -> Operand {
        match cond {
            Operand::Bool(true) => a,
            Operand::Bool(false) => b,
            _ if a == b => a,
            _ => {
                let ty = self.ty(a);
                let r = self.set("t", ty, Expr::Select(cond, a, b));
                self.note_alias(r, a);
                self.note_alias(r, b);
                r
            }
        }
    }

    fn load(&mut self, ty: Ty, base: Operand, index: Operand) -> Operand {
        self.set("x", ty, Expr::Load { ty, base, index })
    }

    fn offset(&mut self, ty: Ty, base: Operand, index: Operand) -> Operand {
        if index == Operand::I64(0) {
            return base;
        }
        let p = self.set("p", Ty::Ptr, Expr::Offset { ty, base, index });
        self.note_alias(p, base);
        p
    }

    /// Records that `dst` may point into what `src` points into.
    fn note_alias(&mut self, dst: Operand, src: Operand) {
        let (Operand::Var(d), Operand::Var(s)) = (dst, src) else {
            return;
        };
        if self.ty(src) != Ty::Ptr || d == s {
            return;
        }
        let roots = self.roots(s);
        self.aliases.entry(d).or_default().extend(roots);
    }

    /// `var` and the variables it may be derived from.
    fn roots(&self, var: Var) -> HashSet<Var> {
        let mut out: HashSet<Var> = self.aliases.get(&var).cloned().unwrap_or_default();
        out.insert(var);
        out
    }

    fn alloc(&mut self, ty: Ty, n: Operand) -> Operand {
        let buf = self.set("buf", Ty::Ptr, Expr::Alloc { ty, n });
        if let Operand::Var(v) = buf {
            self.fresh.insert(v);
        }
        buf
    }

    fn store(&mut self, ty: Ty, base: Operand, index: Operand, value: Operand) {
        self.emit(Inst::Store { ty, base, index, value });
    }

    fn copy(&mut self, ty: Ty, dst: Operand, src: Operand, n: Operand) {
        if n == Operand::I64(0) {
            return;
        }
        if ty == Ty::F64 && matches!(src, Operand::Var(v) if self.zero_filled.contains(&v)) {
            // A loop of stores, not a call: it fuses with its neighbours
            // (an accumulator's zero start, reverse mode's, each step).
            self.for_(Operand::I64(0), n, |l, k| l.store(ty, dst, k, Operand::F64(0.0)));
            self.set_vector_hint();
            return;
        }
        self.emit(Inst::Copy { ty, dst, src, n });
    }

    fn call(&mut self, func: &'static str, args: Vec<Operand>, result: Option<Ty>) -> Option<Operand> {
        let var = result.map(|ty| self.var("r", ty));
        self.emit(Inst::Call {
            func,
            args,
            result: var,
        });
        var.map(Operand::Var)
    }

    fn call_value(&mut self, func: &'static str, args: Vec<Operand>, ty: Ty) -> Operand {
        self.call(func, args, Some(ty)).expect("a result")
    }

    /// Runs `f` with a fresh instruction list and returns what it wrote.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> (Vec<Inst>, T) {
        let outer = std::mem::take(&mut self.code);
        let facts = self.equal_sizes.len();
        let value = f(self);
        self.equal_sizes.truncate(facts);
        let inner = std::mem::replace(&mut self.code, outer);
        (inner, value)
    }

    fn if_(&mut self, cond: Operand, then: Vec<Inst>, els: Vec<Inst>) {
        match cond {
            Operand::Bool(true) => self.code.extend(then),
            Operand::Bool(false) => self.code.extend(els),
            _ if then.is_empty() && els.is_empty() => {}
            _ => self.emit(Inst::If { cond, then, els }),
        }
    }

    /// `for i in start..end { body(i) }`, with no hint (the `set_*_hint`
    /// functions add one to the loop just emitted).
    fn for_<T>(&mut self, start: Operand, end: Operand, body: impl FnOnce(&mut Self, Operand) -> T) -> T {
        let index = self.var("i", Ty::I64);
        if let Operand::I64(k @ 0..) = start {
            self.index_below(index, k, end);
        }
        let (body, value) = self.nested(|l| {
            l.nonempty_facts(end);
            body(l, Operand::Var(index))
        });
        debug_assert!(!sets(&body, end), "a loop's end changes inside it");
        self.emit(Inst::For {
            index,
            start,
            end,
            body,
            hint: LoopHint::default(),
        });
        value
    }

    /// In the body of a loop below `end` (so `end > 0`), the element sizes
    /// of arrays of `end` elements are those of their elements: adds them
    /// to the equal sizes, unless `end` or a size may have been set again.
    fn nonempty_facts(&mut self, end: Operand) {
        let settled = |l: &Self, o: &Operand| match o {
            Operand::Var(v) => !l.reassigned.contains(v) && !l.state_vars.contains(v),
            _ => true,
        };
        if !settled(self, &end) {
            return;
        }
        let facts: Vec<(Operand, Operand)> = self
            .nonempty_sizes
            .iter()
            .filter(|(n, s, len)| *n == end && settled(self, &Operand::Var(*s)) && settled(self, len))
            .map(|(_, s, len)| (Operand::Var(*s), *len))
            .collect();
        self.equal_sizes.extend(facts);
    }

    /// Records that the loop index `index` runs from `start >= 0` below
    /// `end`: indexing an array of length `end` by it needs no bounds
    /// check. Lowering never sets a loop's end inside the loop (a core size
    /// is evaluated once).
    fn index_below(&mut self, index: Var, start: i64, end: Operand) {
        self.in_bounds.insert(index, (start, end));
    }

    /// Fresh variables for a value of type `ty`.
    fn vars_for(&mut self, name: &str, ty: &Type) -> Vec<Var> {
        let names = component_names(name, ty);
        components(ty)
            .into_iter()
            .zip(names)
            .map(|(t, name)| self.var(&name, t))
            .collect()
    }

    /// `dst := src`, all at once: a source that is another destination is
    /// read before it is overwritten.
    fn assign(&mut self, dst: &[Var], src: &[Operand]) {
        let clobbered = src.iter().enumerate().any(|(k, s)| match s {
            Operand::Var(v) => dst.iter().enumerate().any(|(j, d)| d == v && j != k),
            _ => false,
        });
        let src: Vec<Operand> = if clobbered {
            src.iter()
                .map(|s| {
                    let ty = self.ty(*s);
                    self.set("tmp", ty, Expr::Atom(*s))
                })
                .collect()
        } else {
            src.to_vec()
        };
        for (d, s) in dst.iter().zip(src) {
            if s != Operand::Var(*d) {
                self.note_alias(Operand::Var(*d), s);
                self.emit(Inst::Set(*d, Expr::Atom(s)));
            }
        }
    }

    // ---- Run-time errors ----

    fn location(&mut self) -> u32 {
        let span = self.span;
        if let Some(&id) = self.location_ids.get(&span) {
            return id;
        }
        let id = self.locations.len() as u32;
        self.locations.push(span);
        self.location_ids.insert(span, id);
        id
    }

    /// Raises error `kind` when `bad` holds.
    fn fail_if(&mut self, bad: Operand, kind: u32, values: Vec<Operand>) {
        if bad == Operand::Bool(false) {
            return;
        }
        let loc = self.location();
        self.if_(bad, vec![Inst::Fail { kind, loc, values }], Vec::new());
    }

    fn check_size(&mut self, n: Operand) {
        let bad = self.binary(BinOp::ILt, n, Operand::I64(0));
        self.fail_if(bad, failure::NEGATIVE_SIZE, vec![n]);
    }

    fn check_same_size(&mut self, expected: Operand, actual: Operand) {
        if self.known_equal(expected, actual) {
            return;
        }
        let bad = self.binary(BinOp::INe, expected, actual);
        self.fail_if(bad, failure::SIZE_MISMATCH, vec![expected, actual]);
        self.equal_sizes.push((expected, actual));
    }

    /// True when sizes `a` and `b` are the same operand or a chain of size
    /// checks that hold here makes them equal.
    fn known_equal(&self, a: Operand, b: Operand) -> bool {
        let usable = |o: &Operand| !matches!(o, Operand::Var(v) if self.reassigned.contains(v));
        if a == b {
            return true;
        }
        if !usable(&a) || !usable(&b) {
            return false;
        }
        let mut reached = vec![a];
        let mut k = 0;
        while k < reached.len() {
            let x = reached[k];
            k += 1;
            for (p, q) in &self.equal_sizes {
                let other = if *p == x {
                    *q
                } else if *q == x {
                    *p
                } else {
                    continue;
                };
                if other == b {
                    return true;
                }
                if usable(&other) && !reached.contains(&other) {
                    reached.push(other);
                }
            }
        }
        false
    }

    /// `0 <= i < n`.
    fn in_bounds(&mut self, i: Operand, n: Operand) -> Operand {
        let low = self.binary(BinOp::IGe, i, Operand::I64(0));
        let high = self.binary(BinOp::ILt, i, n);
        self.binary(BinOp::And, low, high)
    }

    fn check_index(&mut self, i: Operand, n: Operand) {
        if matches!(i, Operand::Var(v) if self.in_bounds.get(&v).is_some_and(|&(_, end)| self.known_equal(end, n))) {
            return;
        }
        let ok = self.in_bounds(i, n);
        let bad = self.unary(UnOp::Not, ok);
        self.fail_if(bad, failure::INDEX_OUT_OF_BOUNDS, vec![i, n]);
    }

    fn check_slice(&mut self, lo: Operand, hi: Operand, n: Operand) {
        let a = self.binary(BinOp::IGe, lo, Operand::I64(0));
        let b = self.binary(BinOp::ILe, lo, hi);
        let c = self.binary(BinOp::ILe, hi, n);
        let ab = self.binary(BinOp::And, a, b);
        let ok = self.binary(BinOp::And, ab, c);
        let bad = self.unary(UnOp::Not, ok);
        self.fail_if(bad, failure::SLICE_OUT_OF_BOUNDS, vec![lo, hi, n]);
    }

    // ---- Arrays ----

    /// The product of the lengths at `dims` of `parts`.
    fn count(&mut self, parts: &[Operand], dims: &[usize]) -> Operand {
        let mut n = Operand::I64(1);
        for d in dims {
            n = self.binary(BinOp::IMul, n, parts[*d]);
        }
        n
    }

    /// Element `i` of the array `a` (not checked): scalars are loaded,
    /// nested arrays are views.
    fn element(&mut self, a: &Val, i: Operand) -> R<Val> {
        let elem = a.elem()?.clone();
        let parts = a.parts().to_vec();
        let mut comps = Vec::new();
        for (j, slot) in element_layout(&elem).iter().enumerate() {
            comps.push(match slot {
                Slot::Len => parts[j],
                Slot::Buffer { elem: ty, dims } if dims.is_empty() => self.load(*ty, parts[j], i),
                Slot::Buffer { elem: ty, dims } => {
                    let stride = self.count(&parts, dims);
                    let at = self.binary(BinOp::IMul, i, stride);
                    self.offset(*ty, parts[j], at)
                }
                Slot::Scalar(_) => return bug("a scalar slot inside an array"),
            });
        }
        Ok(Val::new(elem, comps))
    }

    /// Writes `value` as element `i` of the array parts `out` (whose
    /// element sizes are `value`'s).
    fn store_element(&mut self, elem: &Type, out: &[Operand], i: Operand, value: &Val) {
        for (j, slot) in element_layout(elem).iter().enumerate() {
            match slot {
                Slot::Len | Slot::Scalar(_) => {}
                Slot::Buffer { elem: ty, dims } if dims.is_empty() => self.store(*ty, out[j], i, value.comps[j]),
                Slot::Buffer { elem: ty, dims } => self.copy_element_part(*ty, dims, out, j, i, value.comps[j]),
            }
        }
    }

    /// Copies `part`, the sized part `j` of element `i`, to its place in
    /// `out`, whose sizes give its dimensions `dims`.
    fn copy_element_part(&mut self, ty: Ty, dims: &[usize], out: &[Operand], j: usize, i: Operand, part: Operand) {
        let stride = self.count(out, dims);
        let at = self.binary(BinOp::IMul, i, stride);
        let dst = self.offset(ty, out[j], at);
        self.copy(ty, dst, part, stride);
    }

    /// Fresh buffers for `n` elements of type `elem` whose sizes are those
    /// of the element parts `sizes`: the parts of the new array.
    fn alloc_parts(&mut self, elem: &Type, n: Operand, sizes: &[Operand]) -> Vec<Operand> {
        let mut parts = Vec::new();
        for (j, slot) in element_layout(elem).iter().enumerate() {
            parts.push(match slot {
                Slot::Len => sizes[j],
                Slot::Buffer { elem: ty, dims } => {
                    let stride = self.count(sizes, dims);
                    let total = self.binary(BinOp::SizeMul, n, stride);
                    self.alloc(*ty, total)
                }
                Slot::Scalar(_) => Operand::I64(0),
            });
        }
        parts
    }

    /// The element sizes of an array of `n` elements: 0 when it is empty
    /// (the canonical form).
    fn canonical(&mut self, elem: &Type, n: Operand, parts: &[Operand]) -> Vec<Operand> {
        let empty = self.binary(BinOp::IEq, n, Operand::I64(0));
        let mut out = parts.to_vec();
        for (j, slot) in element_layout(elem).iter().enumerate() {
            if *slot == Slot::Len {
                out[j] = self.select(empty, Operand::I64(0), parts[j]);
                if let Operand::Var(s) = out[j] {
                    self.nonempty_sizes.push((n, s, parts[j]));
                }
            }
        }
        out
    }

    /// Checks that `actual`'s element sizes are `expected`'s (kind 10).
    fn check_regular(&mut self, elem: &Type, expected: &[Operand], actual: &[Operand]) {
        for (j, slot) in element_layout(elem).iter().enumerate() {
            if *slot == Slot::Len {
                let bad = self.binary(BinOp::INe, expected[j], actual[j]);
                self.fail_if(bad, failure::IRREGULAR_ARRAY, vec![expected[j], actual[j]]);
            }
        }
    }

    /// The number of elements of each buffer of a value.
    fn buffer_counts(&mut self, v: &Val) -> Vec<Option<(Ty, Operand)>> {
        let comps = v.comps.clone();
        layout(&v.ty)
            .iter()
            .map(|slot| match slot {
                Slot::Buffer { elem, dims } => Some((*elem, self.count(&comps, dims))),
                _ => None,
            })
            .collect()
    }

    /// A copy of `v` in fresh arena buffers.
    fn copy_value(&mut self, v: &Val) -> Val {
        let counts = self.buffer_counts(v);
        let mut comps = v.comps.clone();
        for (j, c) in counts.into_iter().enumerate() {
            if let Some((ty, n)) = c {
                let buf = self.alloc(ty, n);
                self.copy(ty, buf, v.comps[j], n);
                comps[j] = buf;
            }
        }
        Val::new(v.ty.clone(), comps)
    }

    /// The result components: buffers in result memory. A buffer the
    /// function allocated once, at its top level, and of exactly the
    /// result's size is allocated in result memory from the start
    /// ([`Lowering::allocate_as_result`]); others are copied there at the
    /// end.
    fn copy_out(&mut self, v: &Val) -> Vec<Operand> {
        let counts = self.buffer_counts(v);
        let mut comps = v.comps.clone();
        for (j, c) in counts.into_iter().enumerate() {
            if let Some((ty, n)) = c {
                let shared = comps[..j].contains(&comps[j]);
                if let (Operand::Var(buf), false) = (comps[j], shared) {
                    if self.allocate_as_result(buf, ty, n) {
                        continue;
                    }
                }
                let bytes = self.binary(BinOp::SizeMul, n, Operand::I64(ty.size()));
                let buf = self.call_value("dl_result_alloc", vec![bytes], Ty::Ptr);
                self.copy(ty, buf, v.comps[j], n);
                comps[j] = buf;
            }
        }
        comps
    }

    /// Turns the top-level `buf = alloc(n)` of the function into
    /// `buf = dl_result_alloc(n * size)`, when that is the one place that
    /// sets `buf`: the result is then computed where it is returned, not
    /// copied there. Generated code frees such a buffer if the function
    /// fails after allocating it.
    fn allocate_as_result(&mut self, buf: Var, ty: Ty, n: Operand) -> bool {
        // The allocation's own count: `n` may be set after it.
        let found = self.code.iter().enumerate().find_map(|(at, inst)| match inst {
            Inst::Set(v, Expr::Alloc { ty: t, n: m })
                if *v == buf && *t == ty && same_top_level_value(&self.code, *m, n, 4) =>
            {
                Some((at, *m))
            }
            _ => None,
        });
        let Some((at, n)) = found else { return false };
        if assignments(&self.code, buf) != 1 {
            return false;
        }
        let (mut bytes_code, bytes) = self.nested(|l| l.binary(BinOp::SizeMul, n, Operand::I64(ty.size())));
        bytes_code.push(Inst::Call {
            func: "dl_result_alloc",
            args: vec![bytes],
            result: Some(buf),
        });
        self.code.splice(at..=at, bytes_code);
        true
    }

    /// An array of `n` elements of type `elem`, element `i` computed by
    /// `body` for `i` from `start` (0, or 1 when the caller computes the
    /// first element apart; only for elements without sizes) (which may allocate: the arena is released after each element
    /// is copied out, unless `keeps_memory`, when values of one iteration
    /// live on in the next). Element sizes come from the first element;
    /// the others must match them. Where the element sizes are known before
    /// the loop and each element's buffers are fresh arena buffers of the
    /// body, the body writes its element in place instead
    /// ([`Lowering::element_windows`]).
    fn fill_array(
        &mut self,
        elem: &Type,
        n: Operand,
        start: i64,
        keeps_memory: bool,
        body: impl FnOnce(&mut Self, Operand) -> R<Val>,
    ) -> R<Val> {
        self.fill_array_into(elem, n, start, keeps_memory, None, body)
    }

    /// [`Lowering::fill_array`], writing into the buffers `into` when given
    /// (elements without sizes only: see [`Lowering::map_in_place`]).
    fn fill_array_into(
        &mut self,
        elem: &Type,
        n: Operand,
        start: i64,
        keeps_memory: bool,
        into: Option<Vec<Operand>>,
        body: impl FnOnce(&mut Self, Operand) -> R<Val>,
    ) -> R<Val> {
        let slots = element_layout(elem);
        let sized = slots.contains(&Slot::Len);
        debug_assert!(
            start == 0 || !sized,
            "the first element of a sized array is not left out"
        );
        let out: Vec<Operand> = if sized {
            // Sizes and buffers are known once the first element is.
            slots
                .iter()
                .map(|slot| match slot {
                    Slot::Len => Operand::Var(self.var("size", Ty::I64)),
                    Slot::Buffer { .. } => Operand::Var(self.var("out", Ty::Ptr)),
                    Slot::Scalar(_) => Operand::I64(0),
                })
                .collect()
        } else {
            match into {
                Some(buffers) => buffers,
                None => self.alloc_parts(elem, n, &[]),
            }
        };
        let mark = self.var("mark", Ty::I64);
        let index = self.var("i", Ty::I64);
        let i = Operand::Var(index);
        self.index_below(index, start, n);
        let (mut code, value) = self.nested(|l| body(l, i));
        debug_assert!(!sets(&code, n), "an array's length changes while it is filled");
        let value = value?;
        let windows = if sized && !keeps_memory {
            element_windows(&slots, &code, &value, index)
        } else {
            None
        };
        let mut inner = Vec::new();
        match &windows {
            Some(windows) => {
                // Every element has the sizes the body gives them, known
                // now: the result's buffers come before the loop, and each
                // element's buffers are views of its place in them.
                let empty = self.binary(BinOp::IEq, n, Operand::I64(0));
                let mut offsets = Vec::new();
                for (j, slot) in slots.iter().enumerate() {
                    let Operand::Var(var) = out[j] else { continue };
                    match slot {
                        Slot::Len => {
                            let size = self.select(empty, Operand::I64(0), value.comps[j]);
                            self.emit(Inst::Set(var, Expr::Atom(size)));
                        }
                        Slot::Buffer { elem: ty, dims } => {
                            let stride = self.count(&value.comps, dims);
                            // Negative sizes fail in the body, before any use.
                            let stride = self.binary(BinOp::IMax, stride, Operand::I64(0));
                            let total = self.binary(BinOp::SizeMul, n, stride);
                            self.emit(Inst::Set(var, Expr::Alloc { ty: *ty, n: total }));
                            if let Some(buffer) = windows[j] {
                                offsets.push((buffer, *ty, out[j], stride));
                            }
                        }
                        Slot::Scalar(_) => {}
                    }
                }
                let (prologue, ()) = self.nested(|l| {
                    for (buffer, ty, base, stride) in offsets {
                        let at = l.binary(BinOp::IMul, i, stride);
                        place_buffer(&mut code, buffer, Expr::Offset { ty, base, index: at });
                    }
                });
                inner.extend(prologue);
            }
            None if sized => {
                for (j, slot) in slots.iter().enumerate() {
                    let Operand::Var(var) = out[j] else { continue };
                    let zero = match slot {
                        Slot::Buffer { elem: ty, .. } => Expr::Alloc {
                            ty: *ty,
                            n: Operand::I64(0),
                        },
                        _ => Expr::Atom(Operand::I64(0)),
                    };
                    self.emit(Inst::Set(var, zero));
                }
            }
            None => {}
        }
        let allocates = !keeps_memory && allocates(&code);
        if allocates {
            inner.push(Inst::ArenaMark(mark));
        }
        inner.extend(code);
        let (rest, ()) = self.nested(|l| {
            if sized && windows.is_none() {
                let first = l.binary(BinOp::IEq, i, Operand::I64(0));
                let (then, ()) = l.nested(|l| {
                    for (j, slot) in slots.iter().enumerate() {
                        let Operand::Var(var) = out[j] else { continue };
                        match slot {
                            Slot::Len => l.emit(Inst::Set(var, Expr::Atom(value.comps[j]))),
                            Slot::Buffer { elem: ty, dims } => {
                                let stride = l.count(&value.comps, dims);
                                let total = l.binary(BinOp::SizeMul, n, stride);
                                l.emit(Inst::Set(var, Expr::Alloc { ty: *ty, n: total }));
                            }
                            Slot::Scalar(_) => {}
                        }
                    }
                });
                let (els, ()) = l.nested(|l| l.check_regular(elem, &out, &value.comps));
                l.if_(first, then, els);
            }
            match &windows {
                Some(windows) => l.store_scalar_parts(elem, &out, i, &value, windows),
                None => l.store_element(elem, &out, i, &value),
            }
            if allocates {
                // Without windows, the first element's memory lies below
                // the output buffers.
                if sized && windows.is_none() {
                    let later = l.binary(BinOp::IGt, i, Operand::I64(0));
                    l.if_(later, vec![Inst::ArenaRelease(Operand::Var(mark))], Vec::new());
                } else {
                    l.emit(Inst::ArenaRelease(Operand::Var(mark)));
                }
            }
        });
        inner.extend(rest);
        self.emit(Inst::For {
            index,
            start: Operand::I64(start),
            end: n,
            body: inner,
            hint: LoopHint::default(),
        });
        // A loop from 1 is hinted once its caller has put element 0 before
        // it (hinting may fuse it with the loop before).
        if start == 0 {
            self.set_vector_hint();
        }
        let mut comps = vec![n];
        comps.extend(out);
        Ok(Val::new(Type::array(elem.clone()), comps))
    }

    /// A build whose body tests `i == 0` ([`tests_first`]), as element 0
    /// apart and a loop from 1, where the test folds to false: that loop
    /// has no such branch, and `i - 1` in it needs no bounds check, so it
    /// can vectorise (the boundary of a stencil or a recurrence). Element
    /// 0 still comes first, so a failing call reports what the
    /// interpreter does.
    fn build_first_apart(&mut self, env: &mut Env, elem: &Type, n: Operand, index: VarId, body: &Block) -> R<Val> {
        let array = self.fill_array(elem, n, 1, false, |l, i| {
            env.insert(index, Val::scalar(Type::I64, i));
            l.sub_block(env, body)
        })?;
        let Some(rest @ Inst::For { .. }) = self.code.pop() else {
            return bug("a build without its loop");
        };
        let (mut code, value) = self.nested(|l| {
            env.insert(index, Val::scalar(Type::I64, Operand::I64(0)));
            let value = l.sub_block(env, body)?;
            l.store_element(elem, &array.comps[1..], Operand::I64(0), &value);
            Ok(())
        });
        value?;
        if allocates(&code) {
            let mark = self.var("mark", Ty::I64);
            code.insert(0, Inst::ArenaMark(mark));
            code.push(Inst::ArenaRelease(Operand::Var(mark)));
        }
        let nonempty = self.binary(BinOp::IGt, n, Operand::I64(0));
        self.if_(nonempty, code, Vec::new());
        self.emit(rest);
        self.set_vector_hint();
        Ok(array)
    }

    /// [`Lowering::store_element`] for the parts of an element that are not
    /// already in place (`windows`): its scalars, and the second place of a
    /// buffer it holds twice.
    fn store_scalar_parts(&mut self, elem: &Type, out: &[Operand], i: Operand, value: &Val, windows: &[Option<Var>]) {
        for (j, slot) in element_layout(elem).iter().enumerate() {
            match slot {
                Slot::Buffer { elem: ty, dims } if windows[j].is_none() => {
                    if dims.is_empty() {
                        self.store(*ty, out[j], i, value.comps[j]);
                    } else {
                        // A buffer the element holds twice: its window is
                        // the first place, this one a copy of it.
                        self.copy_element_part(*ty, dims, out, j, i, value.comps[j]);
                    }
                }
                _ => {}
            }
        }
    }

    // ---- Blocks and statements ----

    fn atom(&self, env: &Env, atom: &Atom) -> R<Val> {
        Ok(match atom {
            Atom::Var(v) => match env.get(v) {
                Some(val) => val.clone(),
                None => return bug(format!("variable %{} is unbound", v.0)),
            },
            Atom::F64(x) => Val::scalar(Type::F64, Operand::F64(*x)),
            Atom::I64(n) => Val::scalar(Type::I64, Operand::I64(*n)),
            Atom::Bool(b) => Val::scalar(Type::Bool, Operand::Bool(*b)),
        })
    }

    fn block(&mut self, env: &mut Env, block: &Block) -> R<Val> {
        let outer = self.span;
        let order = schedule(block);
        // Variables are numbered per function, and inlined blocks nest:
        // each block names its own reads.
        let outer_rows = std::mem::replace(&mut self.copied_rows, order.copied_rows);
        let live = live_after_each(&order.stmts, &block.result, &self.live_outer);
        for (k, stmt) in order.stmts.into_iter().enumerate() {
            self.span = order.spans.get(&stmt.binder.var).copied().unwrap_or(stmt.span);
            if let Some(l) = live.get(k) {
                self.live_after.clone_from(l);
            }
            let value = self.stmt(env, stmt)?;
            if components(&value.ty).len() != value.comps.len() {
                return bug(format!("statement of {} lowered to the wrong components", value.ty));
            }
            env.insert(stmt.binder.var, value);
        }
        self.copied_rows = outer_rows;
        self.span = outer;
        self.atom(env, &block.result)
    }

    /// A nested block, after which the span is the statement's again. A
    /// branch of an `if` continues its statement; other blocks run many
    /// times, so nothing outside them may be updated in place.
    fn sub_block(&mut self, env: &mut Env, block: &Block) -> R<Val> {
        self.scoped(|l| {
            l.owned.clear();
            l.fresh.clear();
            l.block(env, block)
        })
    }

    fn branch(&mut self, env: &mut Env, block: &Block) -> R<Val> {
        self.branch_and_fresh(env, block).0
    }

    /// [`Lowering::branch`], and the buffers fresh at its end.
    fn branch_and_fresh(&mut self, env: &mut Env, block: &Block) -> (R<Val>, HashSet<Var>) {
        self.scoped(|l| {
            l.live_outer = l.live_after.clone();
            let value = l.block(env, block);
            (value, l.fresh.clone())
        })
    }

    /// The branch of an `if` whose condition is known: it runs as part of
    /// this block, so the buffers it allocates and gives back are this
    /// block's to update in place (a loop's record allocated on its first
    /// iteration, then filled).
    fn taken_branch(&mut self, env: &mut Env, block: &Block) -> R<Val> {
        let (value, fresh) = self.branch_and_fresh(env, block);
        let value = value?;
        for c in &value.comps {
            if let Operand::Var(v) = c {
                if fresh.contains(v) {
                    self.fresh.insert(*v);
                }
            }
        }
        Ok(value)
    }

    /// Runs `f`, then restores the span and the in-place state.
    fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let span = self.span;
        let owned = self.owned.clone();
        let fresh = self.fresh.clone();
        let live_after = self.live_after.clone();
        let live_outer = self.live_outer.clone();
        let value = f(self);
        self.span = span;
        self.owned = owned;
        self.fresh = fresh;
        self.live_after = live_after;
        self.live_outer = live_outer;
        value
    }

    /// True when the buffers of `a` belong to the innermost loop's state or
    /// were allocated by this block, and nothing read later, nor the
    /// statement's `others` operands, may point into them: an update of
    /// `a` may then write them in place.
    fn updatable(&self, env: &Env, a: &Val, others: &[Val]) -> bool {
        let Some(buffers) = self.own_buffers(a) else {
            return false;
        };
        let touches = |v: &Val| {
            v.comps.iter().any(|c| match c {
                Operand::Var(var) => !self.roots(*var).is_disjoint(&buffers),
                _ => false,
            })
        };
        !others.iter().any(touches) && !self.live_after.iter().filter_map(|x| env.get(x)).any(touches)
    }

    /// The buffers of `a` when it has some and all belong to the innermost
    /// loop's state or were allocated by this block.
    fn own_buffers(&self, a: &Val) -> Option<HashSet<Var>> {
        let mut buffers = HashSet::default();
        for (slot, c) in layout(&a.ty).iter().zip(&a.comps) {
            if let Slot::Buffer { .. } = slot {
                match c {
                    Operand::Var(v) if self.owned.contains(v) || self.fresh.contains(v) => buffers.insert(*v),
                    _ => return None,
                };
            }
        }
        (!buffers.is_empty()).then_some(buffers)
    }

    /// Forgets what the lowering knows of the contents of `v`'s buffers,
    /// which an update in place is about to overwrite: that one holds the
    /// transpose of a matrix ([`Lowering::transposed`]), a product's
    /// result ([`Lowering::products`]) or zeros ([`Lowering::zero_filled`]).
    fn forget_contents(&mut self, v: &Val) {
        for c in &v.comps {
            if let Operand::Var(buffer) = c {
                for root in self.roots(*buffer) {
                    self.transposed.remove(&root);
                    self.products.remove(&root);
                    self.zero_filled.remove(&root);
                }
            }
        }
    }

    /// Which of a map's `arrays` the map may write its result into, as
    /// `x = map(f, x)` does in place when `x` is not read again: one whose
    /// elements are of the result's type and without sizes (so each is a
    /// plain element of each buffer), which [`Lowering::updatable`] allows
    /// with the other arrays and the body's free variables as the
    /// statement's other operands. Iteration `i` reads element `i` of the
    /// array before it stores element `i` of the result, and nothing else
    /// of it, so the overwrite changes nothing it reads.
    fn map_in_place(
        &self,
        env: &Env,
        arrays: &[Val],
        params: &[ir::Binder],
        body: &Block,
        elem: &Type,
    ) -> Option<usize> {
        if self.owned.is_empty() && self.fresh.is_empty() {
            return None;
        }
        let plain = element_layout(elem)
            .iter()
            .all(|slot| matches!(slot, Slot::Buffer { dims, .. } if dims.is_empty()));
        if !plain {
            return None;
        }
        let mut reads = HashSet::default();
        block_reads(body, &mut reads);
        for p in params {
            reads.remove(&p.var);
        }
        let free: Vec<Val> = reads.iter().filter_map(|v| env.get(v).cloned()).collect();
        (0..arrays.len())
            .filter(|&k| arrays[k].ty.elem() == Some(elem))
            .find(|&k| {
                let others: Vec<Val> = (arrays.iter().enumerate())
                    .filter(|&(j, _)| j != k)
                    .map(|(_, a)| a.clone())
                    .chain(free.iter().cloned())
                    .collect();
                self.updatable(env, &arrays[k], &others)
            })
    }

    fn stmt(&mut self, env: &mut Env, stmt: &Stmt) -> R<Val> {
        let ty = stmt.binder.ty.clone();
        match &stmt.rhs {
            Rhs::Atom(a) => self.atom(env, a),
            Rhs::Prim(p, args) => {
                let mut args = args.iter().map(|a| self.atom(env, a)).collect::<R<Vec<_>>>()?;
                if *p == Prim::Transpose {
                    if let Some(v) = self.transposed_product(env, &args[0], &ty) {
                        return Ok(v);
                    }
                }
                let mut in_place = false;
                if matches!(p, Prim::IndexAdd | Prim::IndexSet | Prim::SliceAdd | Prim::AddTangent)
                    && !(self.owned.is_empty() && self.fresh.is_empty())
                {
                    in_place = self.updatable(env, &args[0], &args[1..]);
                    // a + b is b + a, bit for bit: update whichever is free.
                    if !in_place && *p == Prim::AddTangent && self.updatable(env, &args[1], &args[..1]) {
                        args.swap(0, 1);
                        in_place = true;
                    }
                }
                if in_place {
                    self.forget_contents(&args[0]);
                }
                let value = self.prim(*p, &args, &ty, in_place)?;
                // A row read across an update of its matrix ([`schedule`]):
                // a copy of the row leaves the matrix free to update.
                let copied = self.copied_rows.contains(&stmt.binder.var);
                if *p == Prim::Index && copied && self.own_buffers(&args[0]).is_some() {
                    return Ok(self.copy_value(&value));
                }
                Ok(value)
            }
            Rhs::Tuple(fields) => {
                let mut comps = Vec::new();
                for f in fields {
                    comps.extend(self.atom(env, f)?.comps);
                }
                Ok(Val::new(ty, comps))
            }
            Rhs::Proj(a, i) => {
                let v = self.atom(env, a)?;
                let Type::Tuple(fields) = &v.ty else {
                    return bug("projection of a non-tuple");
                };
                let start: usize = fields[..*i].iter().map(|f| components(f).len()).sum();
                let n = components(&fields[*i]).len();
                Ok(Val::new(ty, v.comps[start..start + n].to_vec()))
            }
            Rhs::Array(elems, elem) => {
                let elems = elems.iter().map(|a| self.atom(env, a)).collect::<R<Vec<_>>>()?;
                self.array_literal(&elems, elem)
            }
            Rhs::Call(name, args) => {
                let args = args.iter().map(|a| self.atom(env, a)).collect::<R<Vec<_>>>()?;
                self.inline(name, args)
            }
            Rhs::If(cond, then, els) => {
                let cond = self.atom(env, cond)?.op();
                if let Operand::Bool(b) = cond {
                    return self.taken_branch(env, if b { then } else { els });
                }
                let result = self.vars_for("if", &ty);
                let (mut then_code, a) = self.nested(|l| l.branch(env, then));
                let a = a?;
                let (mut els_code, b) = self.nested(|l| l.branch(env, els));
                let b = b?;
                // A component of a loop's state that both branches give
                // unchanged (a buffer updated in place or passed through,
                // its lengths) needs no variable of its own: the loop then
                // sees its own buffer as the next state, and its lengths
                // stay invariant. Nor does a length both give, set before.
                let mut comps = Vec::new();
                let (mut dst, mut from_a, mut from_b) = (Vec::new(), Vec::new(), Vec::new());
                for ((v, x), y) in result.iter().zip(&a.comps).zip(&b.comps) {
                    let same_length = self.ty(*x) == Ty::I64 && !sets(&then_code, *x) && !sets(&els_code, *x);
                    if x == y && (same_length || matches!(x, Operand::Var(s) if self.state_vars.contains(s))) {
                        comps.push(*x);
                    } else {
                        comps.push(Operand::Var(*v));
                        dst.push(*v);
                        from_a.push(*x);
                        from_b.push(*y);
                    }
                }
                if speculable(&then_code)
                    && speculable(&els_code)
                    && dst.iter().all(|d| self.ty(Operand::Var(*d)) != Ty::Ptr)
                {
                    // Both branches are a few safe operations: compute both
                    // and select, so the loop around can vectorise.
                    self.code.extend(then_code);
                    self.code.extend(els_code);
                    for ((d, a), b) in dst.iter().zip(from_a).zip(from_b) {
                        self.emit(Inst::Set(*d, Expr::Select(cond, a, b)));
                    }
                    return Ok(Val::new(ty, comps));
                }
                then_code.extend(self.nested(|l| l.assign(&dst, &from_a)).0);
                els_code.extend(self.nested(|l| l.assign(&dst, &from_b)).0);
                self.emit(Inst::If {
                    cond,
                    then: then_code,
                    els: els_code,
                });
                Ok(Val::new(ty, comps))
            }
            Rhs::Loop(l) => self.lower_loop(env, l),
            Rhs::Map { arrays, params, body } => {
                let arrays = arrays.iter().map(|a| self.atom(env, a)).collect::<R<Vec<_>>>()?;
                if arrays.is_empty() || arrays.len() != params.len() {
                    return bug("a map's arrays and parameters differ in number");
                }
                if let [array] = &arrays[..] {
                    if let Some(view) = field_of_elements(&params[0], body).and_then(|k| field_view(array, k, &ty)) {
                        return Ok(view);
                    }
                }
                let n = arrays[0].len();
                for a in &arrays[1..] {
                    self.check_same_size(n, a.len());
                }
                let elem = ty
                    .elem()
                    .cloned()
                    .ok_or_else(|| LowerError("map of a non-array".into()))?;
                let into = self.map_in_place(env, &arrays, params, body, &elem).map(|k| {
                    self.forget_contents(&arrays[k]);
                    arrays[k].comps[1..].to_vec()
                });
                self.fill_array_into(&elem, n, 0, false, into, |l, i| {
                    for (p, a) in params.iter().zip(&arrays) {
                        let x = l.element(a, i)?;
                        env.insert(p.var, x);
                    }
                    l.sub_block(env, body)
                })
            }
            Rhs::Build { n, index, body } => {
                let n = self.atom(env, n)?.op();
                self.check_size(n);
                let elem = ty
                    .elem()
                    .cloned()
                    .ok_or_else(|| LowerError("build of a non-array".into()))?;
                if tests_first(body, index.var) && !element_layout(&elem).contains(&Slot::Len) {
                    return self.build_first_apart(env, &elem, n, index.var, body);
                }
                self.fill_array(&elem, n, 0, false, |l, i| {
                    env.insert(index.var, Val::scalar(Type::I64, i));
                    l.sub_block(env, body)
                })
            }
            Rhs::Reduce(c) => {
                let ne = self.atom(env, &c.ne)?;
                let array = self.atom(env, &c.array)?;
                let acc = self.loop_state("acc", &ne, &HashSet::default());
                let result = self.fixing_lengths(&acc, &ne, env, |l, env, value| {
                    let next = l.for_(Operand::I64(0), array.len(), |l, i| {
                        let x = l.element(&array, i)?;
                        env.insert(c.acc.var, value.clone());
                        env.insert(c.elem.var, x);
                        l.iteration(&acc, None, |l| l.loop_body(&acc, env, &c.body))
                    })?;
                    Ok(vec![next])
                })?;
                self.set_reduction_hint(&acc);
                Ok(result)
            }
            Rhs::Scan(c) => {
                let ne = self.atom(env, &c.ne)?;
                let array = self.atom(env, &c.array)?;
                let acc = self.plain_state("acc", &ne);
                let elem = ty
                    .elem()
                    .cloned()
                    .ok_or_else(|| LowerError("scan to a non-array".into()))?;
                self.fill_array(&elem, array.len(), 0, true, |l, i| {
                    let x = l.element(&array, i)?;
                    env.insert(c.acc.var, acc.value());
                    env.insert(c.elem.var, x);
                    let next = l.sub_block(env, &c.body)?;
                    l.update_state(&acc, &next);
                    Ok(acc.value())
                })
            }
            Rhs::Deriv { .. } => bug("a derivative operator survived to lowering"),
        }
    }

    fn inline(&mut self, name: &str, args: Vec<Val>) -> R<Val> {
        let Some(func) = self.program.func(name) else {
            return bug(format!("call of an unknown function `{name}`"));
        };
        if self.depth >= MAX_INLINE_DEPTH || func.params.len() != args.len() {
            return bug(format!("cannot inline `{name}` (recursion or wrong arity)"));
        }
        let mut env = Env::default();
        for (p, a) in func.params.iter().zip(args) {
            env.insert(p.var, Val::new(p.ty.clone(), a.comps));
        }
        self.depth += 1;
        let result = self.sub_block(&mut env, &func.body);
        self.depth -= 1;
        result
    }

    fn array_literal(&mut self, elems: &[Val], elem: &Type) -> R<Val> {
        let n = Operand::I64(elems.len() as i64);
        let parts = match elems.first() {
            None => {
                let zeros = vec![Operand::I64(0); components(elem).len()];
                self.alloc_parts(elem, n, &zeros)
            }
            Some(first) => {
                for e in &elems[1..] {
                    self.check_regular(elem, &first.comps, &e.comps);
                }
                let parts = self.alloc_parts(elem, n, &first.comps);
                for (k, e) in elems.iter().enumerate() {
                    self.store_element(elem, &parts, Operand::I64(k as i64), e);
                }
                parts
            }
        };
        let mut comps = vec![n];
        comps.extend(parts);
        Ok(Val::new(Type::array(elem.clone()), comps))
    }

    // ---- Loops ----

    /// The components of `init` (the initial state of loop `l`) that are
    /// buffers this block allocated, that nothing read after the loop or
    /// inside it (but through the state) and no other component points
    /// into: the loop may take them as its state's buffers, uncopied.
    /// Reverse mode's record of a loop's states is such a buffer.
    fn adoptable_buffers(&self, env: &Env, init: &Val, l: &ir::Loop) -> HashSet<usize> {
        let mut read = HashSet::default();
        let mut note = |a: &Atom| {
            if let Atom::Var(v) = a {
                read.insert(*v);
            }
        };
        crate::opt::walk::block_atoms_deep(&l.body, &mut note);
        if let LoopKind::While { cond } = &l.kind {
            crate::opt::walk::block_atoms_deep(cond, &mut note);
        }
        let slots = layout(&init.ty);
        let buffer_roots: Vec<(usize, HashSet<Var>)> = slots
            .iter()
            .zip(&init.comps)
            .enumerate()
            .filter_map(|(j, (slot, c))| match (slot, c) {
                (Slot::Buffer { .. }, Operand::Var(v)) => Some((j, self.roots(*v))),
                _ => None,
            })
            .collect();
        let touches = |v: &Val, roots: &HashSet<Var>| {
            v.comps
                .iter()
                .any(|c| matches!(c, Operand::Var(w) if !self.roots(*w).is_disjoint(roots)))
        };
        buffer_roots
            .iter()
            .filter(|(j, roots)| {
                let Operand::Var(v) = init.comps[*j] else { return false };
                (self.fresh.contains(&v) || self.owned.contains(&v))
                    && !buffer_roots
                        .iter()
                        .any(|(k, other)| k != j && !other.is_disjoint(roots))
                    && !self
                        .live_after
                        .iter()
                        .chain(self.live_outer.iter())
                        .chain(read.iter())
                        .filter_map(|x| env.get(x))
                        .any(|val| touches(val, roots))
            })
            .map(|(j, _)| *j)
            .collect()
    }

    /// Variables holding a loop's state, set to `init`; the state's
    /// buffers are copies the loop owns (see [`Lowering::advance`]), or the
    /// `adopted` components of `init` themselves.
    fn loop_state(&mut self, name: &str, init: &Val, adopted: &HashSet<usize>) -> State {
        let vars = self.vars_for(name, &init.ty);
        let counts = self.buffer_counts(init);
        let mut comps = init.comps.clone();
        let mut buffers = Vec::new();
        for (j, c) in counts.into_iter().enumerate() {
            let Some((elem, n)) = c else { continue };
            if !adopted.contains(&j) {
                let copy = self.alloc(elem, n);
                self.copy(elem, copy, init.comps[j], n);
                comps[j] = copy;
            } else if let Operand::Var(v) = init.comps[j] {
                // The loop writes it through its state's variables.
                self.zero_filled.remove(&v);
            }
            let cap = self.var("cap", Ty::I64);
            self.emit(Inst::Set(cap, Expr::Atom(n)));
            let spare = self.var("spare", Ty::Ptr);
            self.emit(Inst::Set(
                spare,
                Expr::Alloc {
                    ty: elem,
                    n: Operand::I64(0),
                },
            ));
            let spare_cap = self.var("spare_cap", Ty::I64);
            self.emit(Inst::Set(spare_cap, Expr::Atom(Operand::I64(0))));
            buffers.push(StateBuffer {
                slot: j,
                elem,
                cap,
                spare,
                spare_cap,
            });
        }
        for (v, c) in vars.iter().zip(&comps) {
            self.emit(Inst::Set(*v, Expr::Atom(*c)));
        }
        self.state_vars.extend(vars.iter().copied());
        State {
            ty: init.ty.clone(),
            vars,
            buffers,
        }
    }

    /// A state whose variables simply take each iteration's value (its
    /// memory is not reclaimed per iteration).
    fn plain_state(&mut self, name: &str, init: &Val) -> State {
        let vars = self.vars_for(name, &init.ty);
        self.assign(&vars, &init.comps);
        State {
            ty: init.ty.clone(),
            vars,
            buffers: Vec::new(),
        }
    }

    fn update_state(&mut self, state: &State, next: &Val) {
        self.assign(&state.vars, &next.comps);
    }

    /// The body of a loop over `state`: its statements may update the
    /// state's buffers in place.
    fn loop_body(&mut self, state: &State, env: &mut Env, body: &Block) -> R<Val> {
        self.scoped(|l| {
            l.owned = state.buffers.iter().map(|b| state.vars[b.slot]).collect();
            l.fresh.clear();
            l.live_outer.clear();
            l.block(env, body)
        })
    }

    /// One iteration: `body` computes the next state, which `advance`
    /// moves into the state's buffers. When the iteration allocates, the
    /// arena is marked first (at `mark`, or at its start) and released once
    /// the state is copied out.
    fn iteration(&mut self, state: &State, mark: Option<Var>, body: impl FnOnce(&mut Self) -> R<Val>) -> R<Val> {
        let (code, next) = self.nested(body);
        let next = next?;
        self.finish_iteration(state, mark, code, next.clone(), false);
        Ok(next)
    }

    /// Iteration 0 of a loop lowered apart: as [`Lowering::iteration`],
    /// but a buffer it allocates and gives as the next state becomes the
    /// state's buffer as it is, instead of a copy into the spare; the
    /// arena then keeps that one iteration's memory. Reverse mode
    /// allocates the records of inner loops so.
    fn first_iteration(&mut self, state: &State, body: impl FnOnce(&mut Self) -> R<Val>) -> R<Val> {
        let (code, next) = self.nested(body);
        let next = next?;
        self.finish_iteration(state, None, code, next.clone(), true);
        Ok(next)
    }

    /// A loop over `state`, which started as `init`, as `write` writes
    /// it: `write` is given the state's value, lowers the loop's
    /// iterations over it with [`Lowering::iteration`], and returns the
    /// next state of each iteration it lowered. It first runs as if the
    /// state's array lengths kept their initial values: those every
    /// iteration gives back unchanged are invariants, so bounds checks
    /// against them and size checks between them fold away, and loops
    /// over them vectorise. The others are dropped from the assumption
    /// and the loop written again (with `env` as it was), until the
    /// assumption holds. Returns the state's value after the loop.
    fn fixing_lengths(
        &mut self,
        state: &State,
        init: &Val,
        env: &mut Env,
        mut write: impl FnMut(&mut Self, &mut Env, &Val) -> R<Vec<Val>>,
    ) -> R<Val> {
        let mut pinned: Vec<usize> = layout(&state.ty)
            .iter()
            .enumerate()
            .filter(|(_, slot)| matches!(slot, Slot::Len))
            .map(|(j, _)| j)
            .collect();
        let saved = env.clone();
        loop {
            let mut value = state.value();
            for &j in &pinned {
                value.comps[j] = init.comps[j];
            }
            let (code, nexts) = self.nested(|l| write(l, env, &value));
            let nexts = nexts?;
            let before = pinned.len();
            pinned
                .retain(|&j| nexts.iter().all(|next| next.comps[j] == value.comps[j]) && !sets(&code, value.comps[j]));
            if pinned.len() == before {
                // The pinned lengths are their initial values throughout:
                // the iterations' assignments of them are dead, and would
                // keep the loop from being a vector loop.
                let dead: HashSet<Var> = pinned.iter().map(|&j| state.vars[j]).collect();
                let mut code = code;
                retain_deep(&mut code, &|inst| !matches!(inst, Inst::Set(v, _) if dead.contains(v)));
                self.code.extend(code);
                // A loop whose state is only updated in place, element by
                // element (reverse mode's scatter into a cotangent), may
                // now be a vector loop.
                self.set_vector_hint();
                return Ok(value);
            }
            env.clone_from(&saved);
        }
    }

    /// The rest of [`Lowering::iteration`], once the body is lowered.
    fn finish_iteration(&mut self, state: &State, mark: Option<Var>, code: Vec<Inst>, next: Val, adopt: bool) {
        let adopted = if adopt {
            adoptable_allocations(&code, state, &next)
        } else {
            Vec::new()
        };
        let mark = match mark {
            // The arena keeps the memory of an iteration whose buffers the
            // state adopts.
            _ if !adopted.is_empty() => None,
            Some(m) => Some(m),
            None if allocates(&code) => {
                let m = self.var("mark", Ty::I64);
                self.emit(Inst::ArenaMark(m));
                Some(m)
            }
            None => None,
        };
        self.code.extend(code);
        self.advance(state, &next, mark, &adopted);
    }

    /// Makes `next` the state. A buffer the body passed through (updated in
    /// place or not) stays; others are copied into the spare buffer, which
    /// grows when too small, and the two swap. The arena is released to
    /// `mark` unless a buffer had to grow (above the mark).
    /// `adopted` are the state buffers whose next value, a buffer the
    /// iteration allocated, becomes theirs uncopied.
    fn advance(&mut self, state: &State, next: &Val, mark: Option<Var>, adopted: &[usize]) {
        use BinOp::*;
        let slots = layout(&state.ty);
        let mut comps = next.comps.clone();
        let mut moves = Vec::new();
        let mut caps = Vec::new();
        for b in &state.buffers {
            let cur = state.vars[b.slot];
            if next.comps[b.slot] == Operand::Var(cur) {
                continue;
            }
            let dims = match &slots[b.slot] {
                Slot::Buffer { dims, .. } => dims.clone(),
                _ => Vec::new(),
            };
            let need = self.count(&next.comps, &dims);
            if adopted.contains(&b.slot) {
                caps.push((b.cap, need));
            } else {
                moves.push((b, need));
            }
        }
        let mut fits = Operand::Bool(true);
        for (b, need) in &moves {
            let ok = self.binary(ILe, *need, Operand::Var(b.spare_cap));
            fits = self.binary(And, fits, ok);
        }
        let (grow, ()) = self.nested(|l| {
            for (b, need) in &moves {
                let small = l.binary(IGt, *need, Operand::Var(b.spare_cap));
                let (then, ()) = l.nested(|l| {
                    let double = l.binary(SizeMul, Operand::Var(b.spare_cap), Operand::I64(2));
                    let cap = l.binary(IMax, *need, double);
                    l.emit(Inst::Set(b.spare_cap, Expr::Atom(cap)));
                    l.emit(Inst::Set(b.spare, Expr::Alloc { ty: b.elem, n: cap }));
                });
                l.if_(small, then, Vec::new());
            }
        });
        self.if_(fits, Vec::new(), grow);
        for (b, need) in &moves {
            self.copy(b.elem, Operand::Var(b.spare), next.comps[b.slot], *need);
            comps[b.slot] = Operand::Var(b.spare);
        }
        if let Some(m) = mark {
            self.if_(fits, vec![Inst::ArenaRelease(Operand::Var(m))], Vec::new());
        }
        // The new state; the old buffers become the spares.
        let mut dst = state.vars.clone();
        let mut src = comps;
        for (b, _) in &moves {
            dst.extend([b.spare, b.cap, b.spare_cap]);
            src.extend([
                Operand::Var(state.vars[b.slot]),
                Operand::Var(b.spare_cap),
                Operand::Var(b.cap),
            ]);
        }
        for (cap, need) in caps {
            dst.push(cap);
            src.push(need);
        }
        self.assign(&dst, &src);
    }

    fn lower_loop(&mut self, env: &mut Env, l: &ir::Loop) -> R<Val> {
        let init = self.atom(env, &l.init)?;
        let adopted = self.adoptable_buffers(env, &init, l);
        let state = self.loop_state(&l.state.name, &init, &adopted);
        match &l.kind {
            LoopKind::For { n, index } => {
                let n = self.atom(env, n)?.op();
                let first_apart = tests_first(&l.body, index.var);
                let start = self.code.len();
                let value = self.fixing_lengths(&state, &init, env, |lw, env, value| {
                    let iteration = |lw: &mut Self, env: &mut Env, i: Operand| {
                        env.insert(l.state.var, value.clone());
                        env.insert(index.var, Val::scalar(Type::I64, i));
                        let body = |lw: &mut Self| lw.loop_body(&state, env, &l.body);
                        // Iteration 0 lowered apart runs once, not in a loop.
                        if i == Operand::I64(0) {
                            lw.first_iteration(&state, body)
                        } else {
                            lw.iteration(&state, None, body)
                        }
                    };
                    let mut nexts = Vec::new();
                    let mut start = Operand::I64(0);
                    if first_apart {
                        // Iteration 0 apart: in the loop from 1, the
                        // body's test of `i == 0` folds to false. The loop
                        // is lowered with `env` as it was before.
                        let before = env.clone();
                        let (first, next) = lw.nested(|lw| iteration(lw, env, Operand::I64(0)));
                        nexts.push(next?);
                        env.clone_from(&before);
                        let nonempty = lw.binary(BinOp::IGt, n, Operand::I64(0));
                        lw.if_(nonempty, first, Vec::new());
                        start = Operand::I64(1);
                    }
                    nexts.push(lw.for_(start, n, |lw, i| iteration(lw, env, i))?);
                    Ok(nexts)
                })?;
                // An adopted buffer that the loop only updated in place is
                // still its initial variable's: an enclosing loop whose
                // state it is then sees its own buffer come back, and
                // neither copies nor swaps it.
                let mut value = value;
                let code = &self.code[start..];
                for &j in &adopted {
                    if value.comps[j] == Operand::Var(state.vars[j])
                        && !sets(code, value.comps[j])
                        && !sets(code, init.comps[j])
                    {
                        value.comps[j] = init.comps[j];
                    }
                }
                return Ok(value);
            }
            LoopKind::While { cond } => {
                env.insert(l.state.var, state.value());
                let (cond_code, test) = self.nested(|lw| lw.sub_block(env, cond));
                let test = test?.op();
                let (body_code, next) = self.nested(|lw| lw.loop_body(&state, env, &l.body));
                let next = next?;
                // The condition's memory is released with the body's.
                let mark = (allocates(&cond_code) || allocates(&body_code)).then(|| self.var("mark", Ty::I64));
                let cond = mark.iter().map(|m| Inst::ArenaMark(*m)).chain(cond_code).collect();
                let (body, r) = self.nested(|lw| lw.iteration(&state, mark, |_| Ok(next)));
                r?;
                let body = body_code.into_iter().chain(body).collect();
                self.emit(Inst::While { cond, test, body });
            }
        }
        Ok(state.value())
    }

    // ---- Primitives ----

    /// A primitive; `in_place` says an update primitive may write its
    /// first operand's buffers.
    fn prim(&mut self, p: Prim, args: &[Val], ty: &Type, in_place: bool) -> R<Val> {
        use BinOp::*;
        let arg = |k: usize| -> R<&Val> {
            args.get(k)
                .ok_or_else(|| LowerError(format!("`{}` lacks argument {k}", p.name())))
        };
        let is_f64 = |k: usize| args.get(k).is_some_and(|a| a.ty == Type::F64);
        let scalar = |op: Operand| Ok(Val::scalar(ty.clone(), op));
        match p {
            Prim::Add | Prim::Sub | Prim::Mul | Prim::Min | Prim::Max => {
                let (a, b) = (arg(0)?.op(), arg(1)?.op());
                let op = match (p, is_f64(0)) {
                    (Prim::Add, true) => FAdd,
                    (Prim::Add, false) => IAdd,
                    (Prim::Sub, true) => FSub,
                    (Prim::Sub, false) => ISub,
                    (Prim::Mul, true) => FMul,
                    (Prim::Mul, false) => IMul,
                    (Prim::Min, true) => FMin,
                    (Prim::Min, false) => IMin,
                    (_, true) => FMax,
                    (_, false) => IMax,
                };
                let r = self.binary(op, a, b);
                scalar(r)
            }
            Prim::Div | Prim::Rem => {
                let (a, b) = (arg(0)?.op(), arg(1)?.op());
                if is_f64(0) {
                    let r = if p == Prim::Div {
                        self.binary(FDiv, a, b)
                    } else {
                        self.call_value("dl_fmod", vec![a, b], Ty::F64)
                    };
                    return scalar(r);
                }
                let zero = self.binary(IEq, b, Operand::I64(0));
                let (kind, op) = if p == Prim::Div {
                    (failure::INTEGER_DIVISION_BY_ZERO, IDiv)
                } else {
                    (failure::INTEGER_REMAINDER_BY_ZERO, IRem)
                };
                self.fail_if(zero, kind, vec![a, b]);
                let r = self.set("q", Ty::I64, Expr::Binary(op, a, b));
                scalar(r)
            }
            Prim::Pow => {
                let (a, b) = (arg(0)?.op(), arg(1)?.op());
                if is_f64(0) {
                    let r = self.call_value("dl_pow", vec![a, b], Ty::F64);
                    return scalar(r);
                }
                let negative = self.binary(ILt, b, Operand::I64(0));
                self.fail_if(negative, failure::NEGATIVE_EXPONENT, vec![a, b]);
                let r = self.call_value("dl_ipow", vec![a, b], Ty::I64);
                scalar(r)
            }
            Prim::Atan2 => {
                let r = self.call_value("dl_atan2", vec![arg(0)?.op(), arg(1)?.op()], Ty::F64);
                scalar(r)
            }
            Prim::Neg | Prim::Abs | Prim::Sign => {
                let op = match (p, is_f64(0)) {
                    (Prim::Neg, true) => UnOp::FNeg,
                    (Prim::Neg, false) => UnOp::INeg,
                    (Prim::Abs, true) => UnOp::FAbs,
                    (Prim::Abs, false) => UnOp::IAbs,
                    (_, true) => UnOp::FSign,
                    (_, false) => UnOp::ISign,
                };
                let r = self.unary(op, arg(0)?.op());
                scalar(r)
            }
            Prim::Sqrt | Prim::Floor | Prim::Ceil => {
                let op = match p {
                    Prim::Sqrt => UnOp::FSqrt,
                    Prim::Floor => UnOp::FFloor,
                    _ => UnOp::FCeil,
                };
                let r = self.unary(op, arg(0)?.op());
                scalar(r)
            }
            Prim::Exp
            | Prim::Log
            | Prim::Log1p
            | Prim::Expm1
            | Prim::Sin
            | Prim::Cos
            | Prim::Tan
            | Prim::Tanh
            | Prim::Sigmoid
            | Prim::Erf
            | Prim::Lgamma => {
                let name = match p {
                    Prim::Exp => "dl_exp",
                    Prim::Log => "dl_log",
                    Prim::Log1p => "dl_log1p",
                    Prim::Expm1 => "dl_expm1",
                    Prim::Sin => "dl_sin",
                    Prim::Cos => "dl_cos",
                    Prim::Tan => "dl_tan",
                    Prim::Tanh => "dl_tanh",
                    Prim::Sigmoid => "dl_sigmoid",
                    Prim::Erf => "dl_erf",
                    _ => "dl_lgamma",
                };
                let r = self.call_value(name, vec![arg(0)?.op()], Ty::F64);
                scalar(r)
            }
            Prim::Polygamma => {
                let r = self.call_value("dl_polygamma", vec![arg(0)?.op(), arg(1)?.op()], Ty::F64);
                scalar(r)
            }
            Prim::ToF64 => {
                let a = arg(0)?.op();
                if is_f64(0) {
                    return scalar(a);
                }
                let r = self.unary(UnOp::IToF, a);
                scalar(r)
            }
            Prim::ToI64 => {
                let a = arg(0)?.op();
                if !is_f64(0) {
                    return scalar(a);
                }
                let r = self.float_to_int(a);
                scalar(r)
            }
            Prim::Eq | Prim::Ne => {
                let same = self.equal(arg(0)?, arg(1)?, false);
                let r = if p == Prim::Eq {
                    same
                } else {
                    self.unary(UnOp::Not, same)
                };
                scalar(r)
            }
            Prim::ApproxEq => {
                let r = self.equal(arg(0)?, arg(1)?, true);
                scalar(r)
            }
            Prim::Lt | Prim::Le | Prim::Gt | Prim::Ge => {
                let (mut a, mut b) = (arg(0)?.op(), arg(1)?.op());
                let float = is_f64(0);
                if arg(0)?.ty == Type::Bool {
                    a = self.unary(UnOp::BToI, a);
                    b = self.unary(UnOp::BToI, b);
                }
                let op = match (p, float) {
                    (Prim::Lt, true) => FLt,
                    (Prim::Lt, false) => ILt,
                    (Prim::Le, true) => FLe,
                    (Prim::Le, false) => ILe,
                    (Prim::Gt, true) => FGt,
                    (Prim::Gt, false) => IGt,
                    (_, true) => FGe,
                    (_, false) => IGe,
                };
                let r = self.binary(op, a, b);
                scalar(r)
            }
            Prim::And | Prim::Or => {
                let op = if p == Prim::And { And } else { Or };
                let r = self.binary(op, arg(0)?.op(), arg(1)?.op());
                scalar(r)
            }
            Prim::Not => {
                let r = self.unary(UnOp::Not, arg(0)?.op());
                scalar(r)
            }
            Prim::StopGradient => Ok(arg(0)?.clone()),
            Prim::Length => scalar(arg(0)?.len()),
            Prim::Iota => {
                let n = arg(0)?.op();
                self.check_size(n);
                let buf = self.alloc(Ty::I64, n);
                self.for_(Operand::I64(0), n, |l, i| l.store(Ty::I64, buf, i, i));
                self.set_vector_hint();
                Ok(Val::new(ty.clone(), vec![n, buf]))
            }
            Prim::Replicate => {
                let (n, v) = (arg(0)?.op(), arg(1)?.clone());
                self.check_size(n);
                let sizes = self.canonical(&v.ty, n, &v.comps);
                let parts = self.alloc_parts(&v.ty, n, &sizes);
                self.for_(Operand::I64(0), n, |l, i| l.store_element(&v.ty, &parts, i, &v));
                self.set_vector_hint();
                let mut comps = vec![n];
                comps.extend(parts);
                Ok(Val::new(ty.clone(), comps))
            }
            Prim::Index => {
                let (a, i) = (arg(0)?, arg(1)?.op());
                self.check_index(i, a.len());
                self.element(a, i)
            }
            Prim::Slice => {
                let (a, lo, hi) = (arg(0)?, arg(1)?.op(), arg(2)?.op());
                self.check_slice(lo, hi, a.len());
                let n = self.binary(ISub, hi, lo);
                self.slice(a, lo, n)
            }
            Prim::CheckIndex => {
                let (i, n) = (arg(0)?.op(), arg(1)?.op());
                self.check_index(i, n);
                scalar(i)
            }
            Prim::CheckSlice => {
                let (lo, hi, n) = (arg(0)?.op(), arg(1)?.op(), arg(2)?.op());
                self.check_slice(lo, hi, n);
                scalar(lo)
            }
            Prim::SizeEq => {
                let (actual, expected) = (arg(0)?.op(), arg(1)?.op());
                self.check_same_size(expected, actual);
                scalar(actual)
            }
            Prim::Concat => self.concat(arg(0)?, arg(1)?),
            Prim::Reverse => {
                let a = arg(0)?.clone();
                let elem = a.elem()?.clone();
                let n = a.len();
                let parts = self.alloc_parts(&elem, n, a.parts());
                self.for_(Operand::I64(0), n, |l, i| -> R<()> {
                    let x = l.element(&a, i)?;
                    let last = l.binary(ISub, n, Operand::I64(1));
                    let j = l.binary(ISub, last, i);
                    l.store_element(&elem, &parts, j, &x);
                    Ok(())
                })?;
                let mut comps = vec![n];
                comps.extend(parts);
                Ok(Val::new(ty.clone(), comps))
            }
            Prim::Flatten => {
                let a = arg(0)?;
                let total = self.binary(IMul, a.comps[0], a.comps[1]);
                let mut comps = vec![total];
                comps.extend_from_slice(&a.comps[2..]);
                Ok(Val::new(ty.clone(), comps))
            }
            Prim::Unflatten => {
                let (n, m, a) = (arg(0)?.op(), arg(1)?.op(), arg(2)?);
                self.unflatten_check(n, m, a.len());
                let m = {
                    let empty = self.binary(IEq, n, Operand::I64(0));
                    self.select(empty, Operand::I64(0), m)
                };
                let mut comps = vec![n, m];
                comps.extend_from_slice(a.parts());
                Ok(Val::new(ty.clone(), comps))
            }
            Prim::Transpose => self.transpose(arg(0)?, ty),
            Prim::ScatterAdd => {
                let (n, idx, vals) = (arg(0)?.op(), arg(1)?, arg(2)?);
                self.check_size(n);
                self.check_same_size(idx.len(), vals.len());
                let out = self.zeros(n);
                let (ip, vp) = (idx.comps[1], vals.comps[1]);
                self.for_(Operand::I64(0), idx.len(), |l, k| {
                    let i = l.load(Ty::I64, ip, k);
                    l.check_index(i, n);
                    let v = l.load(Ty::F64, vp, k);
                    let old = l.load(Ty::F64, out, i);
                    let new = l.binary(FAdd, old, v);
                    l.store(Ty::F64, out, i, new);
                });
                Ok(Val::new(ty.clone(), vec![n, out]))
            }
            Prim::Sum | Prim::Prod | Prim::Maximum | Prim::Minimum => self.fold(p, arg(0)?, ty),
            Prim::Argmax | Prim::Argmin => self.arg_extreme(p, arg(0)?),
            Prim::Dot => {
                let (a, b) = (arg(0)?, arg(1)?);
                self.check_same_size(a.len(), b.len());
                scalar(self.dot(a.len(), a.comps[1], b.comps[1]))
            }
            Prim::Matmul => {
                let (a, b) = (arg(0)?, arg(1)?);
                let (n, k, pa) = (a.comps[0], a.comps[1], a.comps[2]);
                let (k2, m, pb) = (b.comps[0], b.comps[1], b.comps[2]);
                let nonempty = self.binary(IGt, n, Operand::I64(0));
                let differ = self.binary(INe, k, k2);
                let bad = self.binary(And, nonempty, differ);
                self.fail_if(bad, failure::SIZE_MISMATCH, vec![k, k2]);
                let m = self.select(nonempty, m, Operand::I64(0));
                let total = self.binary(SizeMul, n, m);
                let c = self.alloc(Ty::F64, total);
                let ldc = self.binary(IMax, m, Operand::I64(1));
                // A transposed parameter is read in place, transposed by
                // the kernel: its rows are the product's columns.
                let (ta, pa, lda) = match self.transposed_source(pa) {
                    Some(source) => (1, source.comps[2], self.binary(IMax, n, Operand::I64(1))),
                    None => (0, pa, self.binary(IMax, k, Operand::I64(1))),
                };
                let (tb, pb, ldb) = match self.transposed_source(pb) {
                    Some(source) => (1, source.comps[2], self.binary(IMax, k, Operand::I64(1))),
                    None => (0, pb, ldc),
                };
                let args = vec![Operand::I64(ta), Operand::I64(tb), n, m, k, pa, lda, pb, ldb, c, ldc];
                if let Operand::Var(cv) = c {
                    self.products.insert(cv, args.clone());
                }
                self.call("dl_gemm", args, None);
                Ok(Val::new(ty.clone(), vec![n, m, c]))
            }
            Prim::Matvec => {
                let (a, v) = (arg(0)?, arg(1)?);
                let (n, k, pa) = (a.comps[0], a.comps[1], a.comps[2]);
                let nonempty = self.binary(IGt, n, Operand::I64(0));
                let differ = self.binary(INe, k, v.len());
                let bad = self.binary(And, nonempty, differ);
                self.fail_if(bad, failure::SIZE_MISMATCH, vec![k, v.len()]);
                let y = self.alloc(Ty::F64, n);
                let lda = self.binary(IMax, k, Operand::I64(1));
                self.call("dl_gemv", vec![Operand::I64(0), n, k, pa, lda, v.comps[1], y], None);
                Ok(Val::new(ty.clone(), vec![n, y]))
            }
            Prim::Vecmat => {
                let (v, a) = (arg(0)?, arg(1)?);
                let (n, k, pa) = (a.comps[0], a.comps[1], a.comps[2]);
                self.check_same_size(v.len(), n);
                let y = self.alloc(Ty::F64, k);
                let lda = self.binary(IMax, k, Operand::I64(1));
                self.call("dl_gemv", vec![Operand::I64(1), n, k, pa, lda, v.comps[1], y], None);
                Ok(Val::new(ty.clone(), vec![k, y]))
            }
            Prim::Outer => {
                let (x, y) = (arg(0)?, arg(1)?);
                let (n, m) = (x.len(), y.len());
                let total = self.binary(SizeMul, n, m);
                let c = self.alloc(Ty::F64, total);
                self.call("dl_outer", vec![n, m, x.comps[1], y.comps[1], c], None);
                let empty = self.binary(IEq, n, Operand::I64(0));
                let m = self.select(empty, Operand::I64(0), m);
                Ok(Val::new(ty.clone(), vec![n, m, c]))
            }
            Prim::ZeroTangent => {
                let v = arg(0)?;
                let mut at = 0;
                let mut comps = Vec::new();
                self.zero_tangent(&v.ty, ty, &v.comps, &mut at, &mut Vec::new(), &mut comps)?;
                Ok(Val::new(ty.clone(), comps))
            }
            Prim::AddTangent => {
                let (a, b) = (arg(0)?, arg(1)?);
                self.add_tangent(a, b, in_place)
            }
            Prim::IndexAdd => {
                let (a, i, v) = (arg(0)?, arg(1)?.op(), arg(2)?);
                self.check_index(i, a.len());
                let elem = a.elem()?.clone();
                self.check_sizes_equal(&elem, a.parts(), &v.comps);
                let out = if in_place { a.clone() } else { self.copy_value(a) };
                self.add_at(&out, i, Operand::I64(1), v)?;
                Ok(out)
            }
            Prim::IndexSet => {
                let (a, i, v) = (arg(0)?, arg(1)?.op(), arg(2)?);
                self.check_index(i, a.len());
                let elem = a.elem()?.clone();
                self.check_regular(&elem, a.parts(), &v.comps);
                let out = if in_place { a.clone() } else { self.copy_value(a) };
                self.store_element(&elem, out.parts(), i, v);
                Ok(out)
            }
            Prim::SliceAdd => {
                let (a, i, v) = (arg(0)?, arg(1)?.op(), arg(2)?);
                let (n, vn) = (a.len(), v.len());
                let low = self.binary(IGe, i, Operand::I64(0));
                let room = self.binary(ISub, n, vn);
                let high = self.binary(ILe, i, room);
                let fits = self.binary(And, low, high);
                let bad = self.unary(UnOp::Not, fits);
                let hi = self.binary(IAdd, i, vn);
                self.fail_if(bad, failure::SLICE_OUT_OF_BOUNDS, vec![i, hi, n]);
                let elem = a.elem()?.clone();
                let (check, ()) = self.nested(|l| l.check_sizes_equal(&elem, a.parts(), v.parts()));
                let nonempty = self.binary(IGt, vn, Operand::I64(0));
                self.if_(nonempty, check, Vec::new());
                let out = if in_place { a.clone() } else { self.copy_value(a) };
                let v_elems = Val::new(v.ty.clone(), v.comps.clone());
                self.add_at(&out, i, vn, &v_elems)?;
                Ok(out)
            }
        }
    }

    /// Checks that element parts `b` have the sizes of `a` (kind 2, in the
    /// interpreter's order: outer sizes first).
    fn check_sizes_equal(&mut self, elem: &Type, a: &[Operand], b: &[Operand]) {
        for (j, slot) in element_layout(elem).iter().enumerate() {
            if *slot == Slot::Len {
                self.check_same_size(a[j], b[j]);
            }
        }
    }

    /// A view of `n` elements of `a` from `lo`.
    fn slice(&mut self, a: &Val, lo: Operand, n: Operand) -> R<Val> {
        let elem = a.elem()?.clone();
        let parts = a.parts().to_vec();
        let mut comps = vec![n];
        for (j, slot) in element_layout(&elem).iter().enumerate() {
            comps.push(match slot {
                Slot::Len => parts[j],
                Slot::Buffer { elem: ty, dims } => {
                    let stride = self.count(&parts, dims);
                    let at = self.binary(BinOp::IMul, lo, stride);
                    self.offset(*ty, parts[j], at)
                }
                Slot::Scalar(_) => return bug("a scalar slot inside an array"),
            });
        }
        let sizes = self.canonical(&elem, n, &comps[1..]);
        comps.truncate(1);
        comps.extend(sizes);
        Ok(Val::new(a.ty.clone(), comps))
    }

    fn concat(&mut self, a: &Val, b: &Val) -> R<Val> {
        use BinOp::*;
        let elem = a.elem()?.clone();
        let (na, nb) = (a.len(), b.len());
        let slots = element_layout(&elem);
        let a_nonempty = self.binary(IGt, na, Operand::I64(0));
        let sized = slots.contains(&Slot::Len);
        let mut sizes = a.parts().to_vec();
        if sized {
            let b_nonempty = self.binary(IGt, nb, Operand::I64(0));
            let both = self.binary(And, a_nonempty, b_nonempty);
            let (check, ()) = self.nested(|l| l.check_regular(&elem, a.parts(), b.parts()));
            self.if_(both, check, Vec::new());
            for (j, slot) in slots.iter().enumerate() {
                if *slot == Slot::Len {
                    sizes[j] = self.select(a_nonempty, a.parts()[j], b.parts()[j]);
                }
            }
        }
        let n = self.binary(IAdd, na, nb);
        let parts = self.alloc_parts(&elem, n, &sizes);
        for (j, slot) in slots.iter().enumerate() {
            if let Slot::Buffer { elem: ty, dims } = slot {
                let stride = self.count(&sizes, dims);
                let a_count = self.binary(IMul, na, stride);
                let b_count = self.binary(IMul, nb, stride);
                self.copy(*ty, parts[j], a.parts()[j], a_count);
                let dst = self.offset(*ty, parts[j], a_count);
                self.copy(*ty, dst, b.parts()[j], b_count);
            }
        }
        let mut comps = vec![n];
        comps.extend(parts);
        Ok(Val::new(a.ty.clone(), comps))
    }

    fn unflatten_check(&mut self, n: Operand, m: Operand, len: Operand) {
        use BinOp::*;
        self.check_size(n);
        self.check_size(m);
        // n * m == len without overflow; a division only where m != 0.
        let fits = self.var("fits", Ty::Bool);
        let (by_zero, ()) = self.nested(|l| {
            let e = l.binary(IEq, len, Operand::I64(0));
            l.emit(Inst::Set(fits, Expr::Atom(e)));
        });
        let (by_m, ()) = self.nested(|l| {
            let rem = l.set("rem", Ty::I64, Expr::Binary(IRem, len, m));
            let quot = l.set("quot", Ty::I64, Expr::Binary(IDiv, len, m));
            let exact = l.binary(IEq, rem, Operand::I64(0));
            let rows = l.binary(IEq, quot, n);
            let both = l.binary(And, exact, rows);
            l.emit(Inst::Set(fits, Expr::Atom(both)));
        });
        let m_zero = self.binary(IEq, m, Operand::I64(0));
        self.emit(Inst::If {
            cond: m_zero,
            then: by_zero,
            els: by_m,
        });
        let bad = self.unary(UnOp::Not, Operand::Var(fits));
        let expected = self.binary(SizeMul, n, m);
        self.fail_if(bad, failure::SIZE_MISMATCH, vec![expected, len]);
    }

    /// The matrix whose transpose has its elements in `buffer`
    /// ([`Lowering::transposed`]).
    fn transposed_source(&self, buffer: Operand) -> Option<Val> {
        match buffer {
            Operand::Var(v) => self.transposed.get(&v).cloned(),
            _ => None,
        }
    }

    /// `transpose(a @ b)` as `transpose(b) @ transpose(a)`: the matrix
    /// product just computed into `c`, when only scalar code ran since and
    /// nothing reads `c` later, is computed again with its operands
    /// swapped and their transposed flags flipped, straight into the
    /// transposed layout (the first product's call then goes with its
    /// unread buffer).
    fn transposed_product(&mut self, env: &Env, c: &Val, ty: &Type) -> Option<Val> {
        let Operand::Var(cv) = *c.comps.get(2)? else {
            return None;
        };
        let args = self.products.get(&cv)?.clone();
        let call = Inst::Call {
            func: "dl_gemm",
            args: args.clone(),
            result: None,
        };
        let at = self.code.iter().rposition(|inst| *inst == call)?;
        let roots = self.roots(cv);
        let touches = |v: &Val| {
            v.comps
                .iter()
                .any(|o| matches!(o, Operand::Var(w) if !self.roots(*w).is_disjoint(&roots)))
        };
        // Only scalar arithmetic since the product: nothing has written
        // its operands (which the second product reads again) or `c`.
        let scalar_only = self.code[at + 1..].iter().all(|inst| {
            matches!(
                inst,
                Inst::Set(_, Expr::Atom(_) | Expr::Unary(..) | Expr::Binary(..) | Expr::Select(..))
            )
        });
        if !scalar_only
            || self
                .live_after
                .iter()
                .chain(self.live_outer.iter())
                .filter_map(|x| env.get(x))
                .any(touches)
        {
            return None;
        }
        let [Operand::I64(ta), Operand::I64(tb), n, m, k, pa, lda, pb, ldb, _, _] = args[..] else {
            return None;
        };
        // The transpose of an n x m product is m x n (0 x 0 when m is 0).
        let empty = self.binary(BinOp::IEq, m, Operand::I64(0));
        let n_out = self.select(empty, Operand::I64(0), n);
        let total = self.binary(BinOp::SizeMul, m, n_out);
        let out = self.alloc(Ty::F64, total);
        let ldo = self.binary(BinOp::IMax, n_out, Operand::I64(1));
        let swapped = vec![
            Operand::I64(1 - tb),
            Operand::I64(1 - ta),
            m,
            n_out,
            k,
            pb,
            ldb,
            pa,
            lda,
            out,
            ldo,
        ];
        if let Operand::Var(o) = out {
            self.products.insert(o, swapped.clone());
        }
        self.call("dl_gemm", swapped, None);
        Some(Val::new(ty.clone(), vec![m, n_out, out]))
    }

    fn transpose(&mut self, a: &Val, ty: &Type) -> R<Val> {
        use BinOp::*;
        let (n, m) = (a.comps[0], a.comps[1]);
        let row = a.elem()?.clone();
        let elem = row
            .elem()
            .cloned()
            .ok_or_else(|| LowerError("transpose of a non-matrix".into()))?;
        let empty = self.binary(IEq, m, Operand::I64(0));
        let n_out = self.select(empty, Operand::I64(0), n);
        let total = self.binary(SizeMul, n, m);
        if elem == Type::F64 {
            if let Some(source) = self.transposed_source(a.comps[2]) {
                return Ok(source);
            }
            let out = self.alloc(Ty::F64, total);
            self.call("dl_transpose", vec![n, m, a.comps[2], out], None);
            if let Operand::Var(o) = out {
                // While the transpose lives, so must `a`'s elements: no
                // update in place may write them.
                self.note_alias(out, a.comps[2]);
                self.transposed.insert(o, a.clone());
            }
            return Ok(Val::new(ty.clone(), vec![m, n_out, out]));
        }
        // Any element type: element (i, j) moves to (j, i) of the flat view.
        let flat = {
            let mut comps = vec![total];
            comps.extend_from_slice(&a.comps[2..]);
            Val::new(Type::array(elem.clone()), comps)
        };
        let parts = self.alloc_parts(&elem, total, &a.comps[2..]);
        self.for_(Operand::I64(0), n, |l, i| -> R<()> {
            l.for_(Operand::I64(0), m, |l, j| -> R<()> {
                let row_start = l.binary(IMul, i, m);
                let src = l.binary(IAdd, row_start, j);
                let x = l.element(&flat, src)?;
                let col_start = l.binary(IMul, j, n);
                let dst = l.binary(IAdd, col_start, i);
                l.store_element(&elem, &parts, dst, &x);
                Ok(())
            })
        })?;
        let mut comps = vec![m, n_out];
        comps.extend(parts);
        Ok(Val::new(ty.clone(), comps))
    }

    /// `n` f64 zeros.
    fn zeros(&mut self, n: Operand) -> Operand {
        let buf = self.alloc(Ty::F64, n);
        self.for_(Operand::I64(0), n, |l, k| l.store(Ty::F64, buf, k, Operand::F64(0.0)));
        self.set_vector_hint();
        buf
    }

    /// `x` truncated to an i64, or the interpreter's error for NaN and
    /// values out of range.
    fn float_to_int(&mut self, x: Operand) -> Operand {
        use BinOp::*;
        // trunc(x) is in [-2^63, 2^63) exactly when x is (no f64 lies
        // strictly between -2^63 - 1 and -2^63); NaN fails both tests.
        let low = self.binary(FGe, x, Operand::F64(-9_223_372_036_854_775_808.0));
        let high = self.binary(FLt, x, Operand::F64(9_223_372_036_854_775_808.0));
        let ok = self.binary(And, low, high);
        let loc = self.location();
        let (fail, ()) = self.nested(|l| {
            // The error's value is x's bits, which go through memory.
            let scratch = l.alloc(Ty::F64, Operand::I64(1));
            l.store(Ty::F64, scratch, Operand::I64(0), x);
            let bits = l.load(Ty::I64, scratch, Operand::I64(0));
            let nan = l.binary(FNe, x, x);
            let fail = |kind| Inst::Fail {
                kind,
                loc,
                values: vec![bits],
            };
            l.emit(Inst::If {
                cond: nan,
                then: vec![fail(failure::NAN_TO_INT)],
                els: vec![fail(failure::FLOAT_TO_INT_OUT_OF_RANGE)],
            });
        });
        self.if_(ok, Vec::new(), fail);
        self.unary(UnOp::FToI, x)
    }

    /// Structural equality (IEEE on floats), or `approx_eq` when `approx`.
    fn equal(&mut self, a: &Val, b: &Val, approx: bool) -> Operand {
        let slots = layout(&a.ty);
        if let [Slot::Scalar(ty)] = slots[..] {
            return self.scalar_equal(ty, a.comps[0], b.comps[0], approx);
        }
        let same = self.var("same", Ty::Bool);
        self.emit(Inst::Set(same, Expr::Atom(Operand::Bool(false))));
        // Sizes first: buffers are compared only when they have one size.
        let mut sizes_equal = Operand::Bool(true);
        for (j, slot) in slots.iter().enumerate() {
            if *slot == Slot::Len {
                let e = self.binary(BinOp::IEq, a.comps[j], b.comps[j]);
                sizes_equal = self.binary(BinOp::And, sizes_equal, e);
            }
        }
        let (compare, ()) = self.nested(|l| {
            let mut scalars = Operand::Bool(true);
            for (j, slot) in slots.iter().enumerate() {
                if let Slot::Scalar(ty) = slot {
                    let e = l.scalar_equal(*ty, a.comps[j], b.comps[j], approx);
                    scalars = l.binary(BinOp::And, scalars, e);
                }
            }
            l.emit(Inst::Set(same, Expr::Atom(scalars)));
            for (j, slot) in slots.iter().enumerate() {
                if let Slot::Buffer { elem, dims } = slot {
                    let n = l.count(&a.comps, dims);
                    let (pa, pb, elem) = (a.comps[j], b.comps[j], *elem);
                    l.for_(Operand::I64(0), n, |l, k| {
                        let x = l.load(elem, pa, k);
                        let y = l.load(elem, pb, k);
                        let e = l.scalar_equal(elem, x, y, approx);
                        let both = l.binary(BinOp::And, Operand::Var(same), e);
                        l.emit(Inst::Set(same, Expr::Atom(both)));
                    });
                }
            }
        });
        self.if_(sizes_equal, compare, Vec::new());
        Operand::Var(same)
    }

    fn scalar_equal(&mut self, ty: Ty, x: Operand, y: Operand, approx: bool) -> Operand {
        use BinOp::*;
        match ty {
            Ty::F64 if approx => {
                // x == y, both NaN, or both finite and |x - y| <= 1e-9 max(|x|, |y|).
                let eq = self.binary(FEq, x, y);
                let x_nan = self.binary(FNe, x, x);
                let y_nan = self.binary(FNe, y, y);
                let nans = self.binary(And, x_nan, y_nan);
                let ax = self.unary(UnOp::FAbs, x);
                let ay = self.unary(UnOp::FAbs, y);
                let x_finite = self.binary(FLt, ax, Operand::F64(f64::INFINITY));
                let y_finite = self.binary(FLt, ay, Operand::F64(f64::INFINITY));
                let finite = self.binary(And, x_finite, y_finite);
                let diff = self.binary(FSub, x, y);
                let dist = self.unary(UnOp::FAbs, diff);
                let scale = self.binary(FMax, ax, ay);
                let bound = self.binary(FMul, Operand::F64(crate::prim::APPROX_EQ_TOLERANCE), scale);
                let near = self.binary(FLe, dist, bound);
                let close = self.binary(And, finite, near);
                let either = self.binary(Or, eq, nans);
                self.binary(Or, either, close)
            }
            Ty::F64 => self.binary(FEq, x, y),
            Ty::I64 => self.binary(IEq, x, y),
            Ty::Bool => self.binary(BEq, x, y),
            Ty::Ptr => Operand::Bool(false),
        }
    }

    fn fold(&mut self, p: Prim, a: &Val, ty: &Type) -> R<Val> {
        use BinOp::*;
        let float = *ty == Type::F64;
        let (n, buf) = (a.len(), a.comps[1]);
        let elem = if float { Ty::F64 } else { Ty::I64 };
        let op = match (p, float) {
            (Prim::Sum, true) => FAdd,
            (Prim::Sum, false) => IAdd,
            (Prim::Prod, true) => FMul,
            (Prim::Prod, false) => IMul,
            (Prim::Maximum, true) => FMax,
            (Prim::Maximum, false) => IMax,
            (_, true) => FMin,
            (_, false) => IMin,
        };
        if p == Prim::Sum && float {
            if let Some(sum) = self.sum_in_producer(n, buf) {
                return Ok(Val::scalar(ty.clone(), sum));
            }
        }
        let acc = self.var("acc", elem);
        if float && matches!(p, Prim::Maximum | Prim::Minimum) {
            // A fold from -inf (inf), as the interpreter's.
            let start = if p == Prim::Maximum {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            self.emit(Inst::Set(acc, Expr::Atom(Operand::F64(start))));
            self.for_(Operand::I64(0), n, |l, k| {
                let x = l.load(elem, buf, k);
                l.emit(Inst::Set(acc, Expr::Binary(op, Operand::Var(acc), x)));
            });
        } else {
            // A fold from the first element (so sum([-0.0]) is -0.0); empty
            // sums and products are 0 and 1, empty integer extremes an error.
            let empty = self.binary(IEq, n, Operand::I64(0));
            let (on_empty, ()) = self.nested(|l| match p {
                Prim::Sum | Prim::Prod => {
                    let v = match (p == Prim::Sum, float) {
                        (true, true) => Operand::F64(0.0),
                        (true, false) => Operand::I64(0),
                        (false, true) => Operand::F64(1.0),
                        (false, false) => Operand::I64(1),
                    };
                    l.emit(Inst::Set(acc, Expr::Atom(v)));
                }
                _ => {
                    let which = if p == Prim::Maximum {
                        EMPTY_MAXIMUM
                    } else {
                        EMPTY_MINIMUM
                    };
                    let loc = l.location();
                    l.emit(Inst::Fail {
                        kind: failure::EMPTY_REDUCTION,
                        loc,
                        values: vec![Operand::I64(which)],
                    });
                }
            });
            let (on_elements, ()) = self.nested(|l| {
                l.emit(Inst::Set(
                    acc,
                    Expr::Load {
                        ty: elem,
                        base: buf,
                        index: Operand::I64(0),
                    },
                ));
                l.for_(Operand::I64(1), n, |l, k| {
                    let x = l.load(elem, buf, k);
                    l.emit(Inst::Set(acc, Expr::Binary(op, Operand::Var(acc), x)));
                });
                l.set_reduction(acc, op);
            });
            self.emit(Inst::If {
                cond: empty,
                then: on_empty,
                els: on_elements,
            });
            return Ok(Val::scalar(ty.clone(), Operand::Var(acc)));
        }
        self.set_reduction(acc, op);
        Ok(Val::scalar(ty.clone(), Operand::Var(acc)))
    }

    /// The dot product of the f64 buffers `x` and `y` of `n` elements: a
    /// reduction loop up to [`INLINE_DOT_MAX`] elements (a row of a small
    /// matrix: a call would cost more than the products), the runtime's
    /// kernel above (wider vectors, threads). Both start from 0.0, as the
    /// interpreter's fold does.
    fn dot(&mut self, n: Operand, x: Operand, y: Operand) -> Operand {
        let acc = self.var("acc", Ty::F64);
        let short = self.binary(BinOp::ILe, n, Operand::I64(INLINE_DOT_MAX));
        let (inline, ()) = self.nested(|l| {
            l.emit(Inst::Set(acc, Expr::Atom(Operand::F64(0.0))));
            l.for_(Operand::I64(0), n, |l, k| {
                let (a, b) = (l.load(Ty::F64, x, k), l.load(Ty::F64, y, k));
                let product = l.binary(BinOp::FMul, a, b);
                l.emit(Inst::Set(acc, Expr::Binary(BinOp::FAdd, Operand::Var(acc), product)));
            });
            l.set_reduction(acc, BinOp::FAdd);
            // At most 64 iterations: never worth threads, nor a kernel.
            if let Some(Inst::For { hint, .. }) = l.code.last_mut() {
                hint.parallel = false;
            }
        });
        let call = vec![Inst::Call {
            func: "dl_dot",
            args: vec![n, x, y],
            result: Some(acc),
        }];
        self.emit(Inst::If {
            cond: short,
            then: inline,
            els: call,
        });
        Operand::Var(acc)
    }

    /// The sum of the f64 buffer `buf` of `n` elements, added up in the
    /// loop that just wrote it (the last instruction, storing element `i`
    /// at iteration `i` of `0..n`): no second pass over the buffer. The
    /// accumulator starts at -0.0, so the sum of the elements in order is
    /// the fold from the first one, bit for bit; an empty sum is 0.0.
    fn sum_in_producer(&mut self, n: Operand, buf: Operand) -> Option<Operand> {
        let Operand::Var(buf_var) = buf else { return None };
        let Some(Inst::For {
            index,
            start: Operand::I64(0),
            end,
            body,
            ..
        }) = self.code.last()
        else {
            return None;
        };
        let index = *index;
        let stores: Vec<Operand> = body
            .iter()
            .filter_map(|inst| match inst {
                Inst::Store {
                    ty: Ty::F64,
                    base,
                    index: Operand::Var(i),
                    value,
                } if *base == buf && *i == index => Some(*value),
                _ => None,
            })
            .collect();
        let (&[value], true) = (&stores[..], *end == n) else {
            return None;
        };
        if stores_into(body, buf_var) != 1 {
            return None;
        }
        let Some(Inst::For { mut body, hint, .. }) = self.code.pop() else {
            return None;
        };
        let acc = self.var("acc", Ty::F64);
        body.push(Inst::Set(acc, Expr::Binary(BinOp::FAdd, Operand::Var(acc), value)));
        self.emit(Inst::Set(acc, Expr::Atom(Operand::F64(-0.0))));
        self.emit(Inst::For {
            index,
            start: Operand::I64(0),
            end: n,
            body,
            hint,
        });
        self.set_reduction(acc, BinOp::FAdd);
        let empty = self.binary(BinOp::IEq, n, Operand::I64(0));
        Some(self.select(empty, Operand::F64(0.0), Operand::Var(acc)))
    }

    fn arg_extreme(&mut self, p: Prim, a: &Val) -> R<Val> {
        use BinOp::*;
        let float = a.elem()? == &Type::F64;
        let elem = if float { Ty::F64 } else { Ty::I64 };
        let (n, buf) = (a.len(), a.comps[1]);
        let empty = self.binary(IEq, n, Operand::I64(0));
        let which = if p == Prim::Argmax { EMPTY_ARGMAX } else { EMPTY_ARGMIN };
        self.fail_if(empty, failure::EMPTY_REDUCTION, vec![Operand::I64(which)]);
        let best = self.var("best", Ty::I64);
        let best_x = self.var("best_x", elem);
        let done = self.var("done", Ty::Bool);
        self.emit(Inst::Set(best, Expr::Atom(Operand::I64(0))));
        self.emit(Inst::Set(
            best_x,
            Expr::Load {
                ty: elem,
                base: buf,
                index: Operand::I64(0),
            },
        ));
        // The first NaN wins: nothing after it is taken.
        let first_nan = if float {
            self.binary(FNe, Operand::Var(best_x), Operand::Var(best_x))
        } else {
            Operand::Bool(false)
        };
        self.emit(Inst::Set(done, Expr::Atom(first_nan)));
        let beats = match (p, float) {
            (Prim::Argmax, true) => FGt,
            (Prim::Argmax, false) => IGt,
            (_, true) => FLt,
            (_, false) => ILt,
        };
        self.for_(Operand::I64(1), n, |l, k| {
            let x = l.load(elem, buf, k);
            let better = l.binary(beats, x, Operand::Var(best_x));
            let nan = if float {
                l.binary(FNe, x, x)
            } else {
                Operand::Bool(false)
            };
            let wins = l.binary(Or, nan, better);
            let open = l.unary(UnOp::Not, Operand::Var(done));
            let take = l.binary(And, open, wins);
            let b = l.select(take, k, Operand::Var(best));
            l.emit(Inst::Set(best, Expr::Atom(b)));
            let bx = l.select(take, x, Operand::Var(best_x));
            l.emit(Inst::Set(best_x, Expr::Atom(bx)));
            let d = l.binary(Or, Operand::Var(done), nan);
            l.emit(Inst::Set(done, Expr::Atom(d)));
        });
        Ok(Val::scalar(Type::I64, Operand::Var(best)))
    }

    /// The zero tangent (of type `tangent`) of a value of type `ty` whose
    /// components are `comps[*at..]`; `sizes` are the lengths of the
    /// enclosing arrays.
    fn zero_tangent(
        &mut self,
        ty: &Type,
        tangent: &Type,
        comps: &[Operand],
        at: &mut usize,
        sizes: &mut Vec<Operand>,
        out: &mut Vec<Operand>,
    ) -> R<()> {
        match (ty, tangent) {
            (_, Type::Tuple(fields)) if fields.is_empty() => {
                *at += components(ty).len();
                Ok(())
            }
            (Type::F64, Type::F64) => {
                *at += 1;
                if sizes.is_empty() {
                    out.push(Operand::F64(0.0));
                } else {
                    let mut n = Operand::I64(1);
                    for s in sizes.clone() {
                        n = self.binary(BinOp::IMul, n, s);
                    }
                    let buf = self.zeros(n);
                    // Only updates in place write a zero tangent (unlike
                    // the zeros a scatter adds into).
                    if let Operand::Var(v) = buf {
                        self.zero_filled.insert(v);
                    }
                    out.push(buf);
                }
                Ok(())
            }
            (Type::Tuple(ts), Type::Tuple(us)) if ts.len() == us.len() => {
                for (t, u) in ts.iter().zip(us) {
                    self.zero_tangent(t, u, comps, at, sizes, out)?;
                }
                Ok(())
            }
            (Type::Array(t), Type::Array(u)) => {
                let len = comps[*at];
                *at += 1;
                out.push(len);
                sizes.push(len);
                self.zero_tangent(t, u, comps, at, sizes, out)?;
                sizes.pop();
                Ok(())
            }
            _ => bug(format!("zero_tangent of a {ty} as a {tangent}")),
        }
    }

    /// The element-wise sum of two tangents of one type.
    fn add_tangent(&mut self, a: &Val, b: &Val, in_place: bool) -> R<Val> {
        let slots = layout(&a.ty);
        for (j, slot) in slots.iter().enumerate() {
            if *slot == Slot::Len {
                self.check_same_size(a.comps[j], b.comps[j]);
            }
        }
        let mut comps = a.comps.clone();
        for (j, slot) in slots.iter().enumerate() {
            match slot {
                Slot::Scalar(_) => comps[j] = self.binary(BinOp::FAdd, a.comps[j], b.comps[j]),
                Slot::Len => {}
                Slot::Buffer { dims, .. } => {
                    let n = self.count(&a.comps, dims);
                    let out = if in_place { a.comps[j] } else { self.alloc(Ty::F64, n) };
                    let (pa, pb) = (a.comps[j], b.comps[j]);
                    self.for_(Operand::I64(0), n, |l, k| {
                        let x = l.load(Ty::F64, pa, k);
                        let y = l.load(Ty::F64, pb, k);
                        let s = l.binary(BinOp::FAdd, x, y);
                        l.store(Ty::F64, out, k, s);
                    });
                    self.set_vector_hint();
                    comps[j] = out;
                }
            }
        }
        Ok(Val::new(a.ty.clone(), comps))
    }

    /// Adds, in place, the `count` elements of `v` (a single element when
    /// `count` is the constant 1 and `v` is not an array of them) to the
    /// elements of the owned array `out` from `at`.
    fn add_at(&mut self, out: &Val, at: Operand, count: Operand, v: &Val) -> R<()> {
        let elem = out.elem()?.clone();
        let single = count == Operand::I64(1) && v.ty == elem;
        // The components of the elements added, as parts of an array.
        let v_parts: Vec<Operand> = if single { v.comps.clone() } else { v.parts().to_vec() };
        for (j, slot) in element_layout(&elem).iter().enumerate() {
            let Slot::Buffer { elem: ty, dims } = slot else {
                continue;
            };
            if single && dims.is_empty() {
                // At the index itself, so that a loop of such additions
                // can be a vector loop.
                let base = out.parts()[j];
                let old = self.load(Ty::F64, base, at);
                let new = self.binary(BinOp::FAdd, old, v_parts[j]);
                self.store(Ty::F64, base, at, new);
                continue;
            }
            let stride = self.count(out.parts(), dims);
            let start = self.binary(BinOp::IMul, at, stride);
            let dst = self.offset(*ty, out.parts()[j], start);
            let n = self.binary(BinOp::IMul, count, stride);
            let src = v_parts[j];
            self.for_(Operand::I64(0), n, |l, k| {
                let old = l.load(Ty::F64, dst, k);
                let x = l.load(Ty::F64, src, k);
                let new = l.binary(BinOp::FAdd, old, x);
                l.store(Ty::F64, dst, k, new);
            });
            self.set_vector_hint();
        }
        Ok(())
    }

    // ---- Loop hints ----

    /// Marks the `For` just emitted as a vector and parallel loop when its
    /// body fits `LoopHint`'s definition (see [`fits_vector`]).
    fn set_vector_hint(&mut self) {
        self.hint_last_loop(Vec::new());
    }

    /// Marks the `For` just emitted as a vector and parallel reduction into
    /// `acc` by `op`, when its body fits.
    fn set_reduction(&mut self, acc: Var, op: BinOp) {
        self.hint_last_loop(vec![(acc, op)]);
    }

    fn hint_last_loop(&mut self, new: Vec<(Var, BinOp)>) {
        let Some(Inst::For { index, body, hint, .. }) = self.code.last() else {
            return;
        };
        // A loop fused before keeps its reductions beside the new ones.
        let mut reductions = if hint.vector {
            hint.reductions.clone()
        } else {
            Vec::new()
        };
        reductions.extend(new);
        if !fits_vector(body, *index, &reductions) || !self.shifted_loads_unwritten(body, *index) {
            return;
        }
        if let Some(Inst::For { hint, .. }) = self.code.last_mut() {
            *hint = LoopHint {
                vector: true,
                parallel: true,
                reductions,
                independent: false,
                summed: Vec::new(),
            };
        }
        self.fuse_with_producer();
    }

    /// Fuses the vector loop just emitted into the vector loop over the
    /// same range (or one that size checks made equal) that wrote, just
    /// before, the buffer it reads at its index (`t = map(f, x); acc += t`,
    /// the accumulation of a cotangent): the value is used where it is
    /// computed instead of being read back. The producer's only store
    /// stays (a later pass drops it when nothing else reads the buffer).
    /// Only plain instructions that neither read what the producer writes
    /// nor write what it reads may stand between the two loops.
    fn fuse_with_producer(&mut self) {
        let Some(Inst::For {
            index: consumer_index,
            start,
            end,
            body: consumer,
            hint,
        }) = self.code.last()
        else {
            return;
        };
        if !hint.vector || !hint.reductions.is_empty() {
            return;
        }
        let last = self.code.len() - 1;
        let Some(k) = (0..last).rev().find(|&k| !movable(&self.code[k])) else {
            return;
        };
        let Inst::For {
            index,
            start: producer_start,
            end: producer_end,
            body: producer,
            hint: producer_hint,
        } = &self.code[k]
        else {
            return;
        };
        // The same range, or ranges that size checks made equal. The
        // producer may then move past the checks (`movable`): a vector
        // body cannot fail, and what it stores is not seen when a check
        // fails.
        if !self.known_equal(*producer_start, *start) || !self.known_equal(*producer_end, *end) || !producer_hint.vector
        {
            return;
        }
        let stores: Vec<(Operand, Operand, Operand)> = producer
            .iter()
            .filter_map(|inst| match inst {
                Inst::Store { base, index, value, .. } => Some((*base, *index, *value)),
                _ => None,
            })
            .collect();
        let [(Operand::Var(buf), at, value)] = stores[..] else {
            return;
        };
        let at_index = |o: &Operand, i: Var| *o == Operand::Var(i);
        if !at_index(&at, *index) {
            return;
        }
        // The consumer reads the buffer only at its index, and writes
        // nothing the producer touches.
        let consumer_reads_elsewhere = consumer.iter().any(|inst| match inst {
            Inst::Set(_, Expr::Load { base, index: i, .. }) if *base == Operand::Var(buf) => {
                !at_index(i, *consumer_index)
            }
            Inst::Set(_, Expr::Load { .. }) => false,
            other => reads(std::slice::from_ref(other), buf),
        });
        let mut producer_memory = self.roots(buf);
        for inst in producer {
            if let Inst::Set(
                _,
                Expr::Load {
                    base: Operand::Var(b), ..
                },
            ) = inst
            {
                producer_memory.extend(self.roots(*b));
            }
        }
        let consumer_writes_producer_memory = consumer.iter().any(|inst| match inst {
            Inst::Store {
                base: Operand::Var(b), ..
            } => !self.roots(*b).is_disjoint(&producer_memory),
            _ => false,
        });
        if consumer_reads_elsewhere || consumer_writes_producer_memory {
            return;
        }
        // What stands between them neither reads the buffer or anything
        // the producer sets, nor sets anything the producer reads.
        let mut producer_sets = vec![buf];
        each_assignment(producer, &mut |v| producer_sets.push(v));
        // Nor does the consumer read a variable the producer sets: it
        // would see this iteration's value, not the last one's.
        if producer_sets[1..].iter().any(|v| reads(consumer, *v)) {
            return;
        }
        let written = self.roots(buf);
        for inst in &self.code[k + 1..last] {
            let mut sets = Vec::new();
            each_assignment(std::slice::from_ref(inst), &mut |v| sets.push(v));
            let reads_producer = producer_sets.iter().any(|v| reads(std::slice::from_ref(inst), *v));
            let reads_written = sets
                .iter()
                .any(|v| self.ty(Operand::Var(*v)) == Ty::Ptr && !self.roots(*v).is_disjoint(&written))
                || loaded_from(inst).iter().any(|b| !self.roots(*b).is_disjoint(&written));
            if reads_producer || reads_written || sets.iter().any(|v| reads(producer, *v)) {
                return;
            }
        }
        let mut fused = producer.clone();
        for inst in consumer {
            let mut inst = inst.clone();
            rename(&mut inst, *consumer_index, Operand::Var(*index));
            if let Inst::Set(x, Expr::Load { base, .. }) = &inst {
                if *base == Operand::Var(buf) {
                    inst = Inst::Set(*x, Expr::Atom(value));
                }
            }
            fused.push(inst);
        }
        let reductions = producer_hint.reductions.clone();
        if !fits_vector(&fused, *index, &reductions) || !self.shifted_loads_unwritten(&fused, *index) {
            return;
        }
        let fused = Inst::For {
            index: *index,
            start: *start,
            end: *end,
            body: fused,
            hint: LoopHint {
                vector: true,
                parallel: true,
                reductions,
                independent: false,
                summed: Vec::new(),
            },
        };
        self.code[last] = fused;
        self.code.remove(k);
    }

    /// True when every buffer the loop body writes is read and written at
    /// one index only, the loop's index or that index shifted by one
    /// constant: each iteration then touches its own element of it, and
    /// no iteration reads what another writes.
    fn shifted_loads_unwritten(&self, body: &[Inst], index: Var) -> bool {
        let shifts: HashMap<Var, i64> = body
            .iter()
            .filter_map(|inst| match inst {
                Inst::Set(t, expr) => index_shift(expr, index).map(|c| (*t, c)),
                _ => None,
            })
            .collect();
        let shift_of = |i: &Operand| match i {
            Operand::Var(v) if *v == index => Some(0),
            Operand::Var(v) => shifts.get(v).copied(),
            _ => None,
        };
        let roots = |base: &Operand| match base {
            Operand::Var(v) => self.roots(*v),
            _ => HashSet::default(),
        };
        let mut accesses: Vec<(HashSet<Var>, Option<i64>)> = Vec::new();
        let mut written = HashSet::default();
        for inst in body {
            match inst {
                Inst::Set(_, Expr::Load { base, index: i, .. }) => accesses.push((roots(base), shift_of(i))),
                Inst::Store { base, index: i, .. } => {
                    let r = roots(base);
                    written.extend(r.iter().copied());
                    accesses.push((r, shift_of(i)));
                }
                _ => {}
            }
        }
        let mut shift_of_written: HashMap<Var, i64> = HashMap::default();
        accesses.iter().all(|(r, shift)| {
            r.iter().filter(|v| written.contains(v)).all(|v| match shift {
                None => false,
                Some(c) => *shift_of_written.entry(*v).or_insert(*c) == *c,
            })
        })
    }

    /// Marks the `For` of a core `reduce` just emitted as a reduction when
    /// its accumulator is one scalar updated as `acc = acc op x`.
    fn set_reduction_hint(&mut self, acc: &State) {
        let [acc] = acc.vars[..] else { return };
        let Some(Inst::For { body, .. }) = self.code.last_mut() else {
            return;
        };
        // `t = acc op x; acc = t` becomes `acc = acc op x`.
        let n = body.len();
        if n < 2 {
            return;
        }
        let (Inst::Set(t, Expr::Binary(op, a, b)), Inst::Set(dst, Expr::Atom(Operand::Var(src)))) =
            (&body[n - 2], &body[n - 1])
        else {
            return;
        };
        let (op, t) = (*op, *t);
        let x = match (*a, *b) {
            (Operand::Var(v), x) if v == acc => x,
            (x, Operand::Var(v)) if v == acc && commutes(op) => x,
            _ => return,
        };
        if *dst != acc || *src != t || !REDUCTION_OPS.contains(&op) || reads(&body[..n - 2], t) {
            return;
        }
        body.truncate(n - 2);
        body.push(Inst::Set(acc, Expr::Binary(op, Operand::Var(acc), x)));
        self.set_reduction(acc, op);
    }
}

/// The operations `LoopHint::reductions` allows.
const REDUCTION_OPS: [BinOp; 8] = [
    BinOp::FAdd,
    BinOp::FMul,
    BinOp::FMin,
    BinOp::FMax,
    BinOp::IAdd,
    BinOp::IMul,
    BinOp::IMin,
    BinOp::IMax,
];

/// True when `a op b` and `b op a` are the same bits.
fn commutes(op: BinOp) -> bool {
    REDUCTION_OPS.contains(&op)
}

/// True when a `For` body fits `LoopHint::vector` and `parallel`: only
/// `Set`, `Store` and calls of scalar maths functions, no allocation,
/// stores at `index` and loads at `index` or at a shifted index (`index`
/// plus or minus a constant, set in the body), of one element type, and
/// every variable it sets is either one of the `reductions` (`acc = acc op
/// x`) or set before it is read in the body (a temporary of one iteration)
/// and set once. (A shifted load must not read memory the loop writes:
/// lowering checks that with what it knows of aliases.)
pub fn fits_vector(body: &[Inst], index: Var, reductions: &[(Var, BinOp)]) -> bool {
    let mut elem: Option<Ty> = None;
    let mut same_elem = |ty: Ty| *elem.get_or_insert(ty) == ty;
    let mut local: Vec<Var> = Vec::new();
    let mut shifted: Vec<Var> = Vec::new();
    let at_index = |op: &Operand| *op == Operand::Var(index);
    for (k, inst) in body.iter().enumerate() {
        match inst {
            Inst::Set(var, expr) => {
                if let Some((_, op)) = reductions.iter().find(|(acc, _)| acc == var) {
                    let Expr::Binary(o, Operand::Var(a), x) = expr else {
                        return false;
                    };
                    if o != op || a != var || *x == Operand::Var(*var) {
                        return false;
                    }
                    continue;
                }
                match expr {
                    Expr::Alloc { .. } | Expr::Offset { .. } => return false,
                    Expr::Load { ty, index: i, .. } => {
                        let shifted_index = matches!(i, Operand::Var(t) if shifted.contains(t));
                        if !(at_index(i) || shifted_index) || !same_elem(*ty) {
                            return false;
                        }
                    }
                    _ if index_shift(expr, index).is_some() => {
                        if local.contains(var) || reads(&body[..k], *var) || reads_other_than_loads(body, *var) {
                            return false;
                        }
                        shifted.push(*var);
                        local.push(*var);
                        continue;
                    }
                    Expr::Atom(_) | Expr::Unary(..) | Expr::Binary(..) | Expr::Select(..) => {}
                }
                if *var == index || local.contains(var) || reads(&body[..=k], *var) {
                    return false;
                }
                local.push(*var);
            }
            Inst::Call {
                func,
                result: Some(var),
                ..
            } if super::abi::is_scalar_math(func) => {
                if *var == index || local.contains(var) || reads(&body[..k], *var) {
                    return false;
                }
                local.push(*var);
            }
            Inst::Store { ty, index: i, .. } => {
                let shifted_index = matches!(i, Operand::Var(t) if shifted.contains(t));
                if !(at_index(i) || shifted_index) || !same_elem(*ty) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    // A reduction variable is read only by its own update.
    reductions.iter().all(|(acc, _)| {
        body.iter().all(|inst| match inst {
            Inst::Set(v, _) if v == acc => true,
            other => !reads(std::slice::from_ref(other), *acc),
        })
    })
}

/// True when `var` is read other than as the index of a load or a store
/// in `code`.
fn reads_other_than_loads(code: &[Inst], var: Var) -> bool {
    let at = Operand::Var(var);
    code.iter().any(|inst| match inst {
        Inst::Set(_, Expr::Load { base, .. }) => *base == at,
        Inst::Store { base, value, .. } => *base == at || *value == at,
        other => reads(std::slice::from_ref(other), var),
    })
}

/// True when the code reads `var`.
pub fn reads(code: &[Inst], var: Var) -> bool {
    let op = |o: &Operand| *o == Operand::Var(var);
    let expr = |e: &Expr| match e {
        Expr::Atom(a) | Expr::Unary(_, a) | Expr::Alloc { n: a, .. } => op(a),
        Expr::Binary(_, a, b) | Expr::Load { base: a, index: b, .. } | Expr::Offset { base: a, index: b, .. } => {
            op(a) || op(b)
        }
        Expr::Select(c, a, b) => op(c) || op(a) || op(b),
    };
    code.iter().any(|inst| match inst {
        Inst::Set(_, e) => expr(e),
        Inst::Store { base, index, value, .. } => op(base) || op(index) || op(value),
        Inst::Copy { dst, src, n, .. } => op(dst) || op(src) || op(n),
        Inst::If { cond, then, els } => op(cond) || reads(then, var) || reads(els, var),
        Inst::For { start, end, body, .. } => op(start) || op(end) || reads(body, var),
        Inst::While { cond, test, body } => reads(cond, var) || op(test) || reads(body, var),
        Inst::Call { args, .. } => args.iter().any(op),
        Inst::ArenaMark(_) => false,
        Inst::ArenaRelease(m) => op(m),
        Inst::Fail { values, .. } => values.iter().any(op),
    })
}

/// The variables of a loop's state.
struct State {
    ty: Type,
    vars: Vec<Var>,
    /// The buffers the loop owns, one per buffer component.
    buffers: Vec<StateBuffer>,
}

/// A buffer of a loop's state (`vars[slot]`), its capacity in elements,
/// and a spare buffer that the next state is copied into.
struct StateBuffer {
    slot: usize,
    elem: Ty,
    cap: Var,
    spare: Var,
    spare_cap: Var,
}

impl State {
    fn value(&self) -> Val {
        Val::new(self.ty.clone(), self.vars.iter().map(|v| Operand::Var(*v)).collect())
    }
}

/// The buffer slots of a loop's state whose next value `next` is a buffer
/// that `code`, one iteration, allocates at its top level and sets nowhere
/// else, given to that slot alone.
fn adoptable_allocations(code: &[Inst], state: &State, next: &Val) -> Vec<usize> {
    let allocated: HashSet<Var> = code
        .iter()
        .filter_map(|inst| match inst {
            Inst::Set(v, Expr::Alloc { .. }) => Some(*v),
            _ => None,
        })
        .collect();
    state
        .buffers
        .iter()
        .map(|b| b.slot)
        .filter(|&j| match next.comps[j] {
            Operand::Var(v) => {
                allocated.contains(&v)
                    && assignments(code, v) == 1
                    && next.comps.iter().filter(|c| **c == Operand::Var(v)).count() == 1
            }
            _ => false,
        })
        .collect()
}

/// True when a build or loop body over `index` tests `index == 0` among its
/// statements (not inside a nested block).
fn tests_first(body: &Block, index: VarId) -> bool {
    body.stmts.iter().any(|stmt| match &stmt.rhs {
        Rhs::Prim(Prim::Eq, args) => {
            matches!(&args[..], [Atom::Var(i), Atom::I64(0)] | [Atom::I64(0), Atom::Var(i)] if *i == index)
        }
        _ => false,
    })
}

/// True when `inst` may stand between a producer loop and the loop fused
/// into it ([`Lowering::fuse_with_producer`]): a plain assignment, or a
/// check that fails.
fn movable(inst: &Inst) -> bool {
    match inst {
        Inst::Set(..) => true,
        Inst::If { then, els, .. } => then
            .iter()
            .chain(els)
            .all(|i| matches!(i, Inst::Set(..) | Inst::Fail { .. })),
        _ => false,
    }
}

/// The buffers an instruction (and the blocks in it) loads from.
fn loaded_from(inst: &Inst) -> Vec<Var> {
    match inst {
        Inst::Set(
            _,
            Expr::Load {
                base: Operand::Var(b), ..
            },
        ) => vec![*b],
        Inst::If { then, els, .. } => then.iter().chain(els).flat_map(loaded_from).collect(),
        _ => Vec::new(),
    }
}

/// Replaces reads of `var` in a straight-line instruction by `by`.
fn rename(inst: &mut Inst, var: Var, by: Operand) {
    let swap = |o: &mut Operand| {
        if *o == Operand::Var(var) {
            *o = by;
        }
    };
    match inst {
        Inst::Set(_, expr) => match expr {
            Expr::Atom(a) | Expr::Unary(_, a) | Expr::Alloc { n: a, .. } => swap(a),
            Expr::Binary(_, a, b) | Expr::Load { base: a, index: b, .. } | Expr::Offset { base: a, index: b, .. } => {
                swap(a);
                swap(b);
            }
            Expr::Select(c, a, b) => {
                swap(c);
                swap(a);
                swap(b);
            }
        },
        Inst::Store { base, index, value, .. } => {
            swap(base);
            swap(index);
            swap(value);
        }
        Inst::Call { args, .. } => args.iter_mut().for_each(swap),
        _ => {}
    }
}

/// The most instructions a branch may have for an `if` to compute both
/// branches and select: more would cost more than the branch it saves.
const SPECULATED_BRANCH: usize = 4;

/// True when `code` is a few operations that cannot fail, trap or touch
/// memory, so that running it when its branch is not taken is harmless.
fn speculable(code: &[Inst]) -> bool {
    code.len() <= SPECULATED_BRANCH
        && code.iter().all(|inst| match inst {
            Inst::Set(_, Expr::Atom(_) | Expr::Select(..)) => true,
            Inst::Set(_, Expr::Unary(op, _)) => *op != UnOp::FToI,
            Inst::Set(_, Expr::Binary(op, _, _)) => !matches!(op, BinOp::IDiv | BinOp::IRem),
            _ => false,
        })
}

/// True when the code allocates arena memory.
fn allocates(code: &[Inst]) -> bool {
    code.iter().any(|inst| match inst {
        Inst::Set(_, Expr::Alloc { .. }) => true,
        Inst::If { then, els, .. } => allocates(then) || allocates(els),
        Inst::For { body, .. } => allocates(body),
        Inst::While { cond, body, .. } => allocates(cond) || allocates(body),
        _ => false,
    })
}

/// For each statement of `block`, the variables read after it: by later
/// statements, the block's result, or after the block (`outer`).
fn live_after_each(stmts: &[&Stmt], result: &Atom, outer: &HashSet<VarId>) -> Vec<HashSet<VarId>> {
    let mut live = outer.clone();
    if let Atom::Var(v) = result {
        live.insert(*v);
    }
    let mut out = vec![HashSet::default(); stmts.len()];
    for (k, stmt) in stmts.iter().enumerate().rev() {
        out[k] = live.clone();
        reads_of(&stmt.rhs, &mut live);
    }
    out
}

/// Adds the variables `rhs` reads, nested blocks included.
pub(super) fn reads_of(rhs: &Rhs, out: &mut HashSet<VarId>) {
    fn atom(a: &Atom, out: &mut HashSet<VarId>) {
        if let Atom::Var(v) = a {
            out.insert(*v);
        }
    }
    match rhs {
        Rhs::Atom(a) | Rhs::Proj(a, _) => atom(a, out),
        Rhs::Prim(_, args) | Rhs::Tuple(args) | Rhs::Array(args, _) | Rhs::Call(_, args) => {
            args.iter().for_each(|a| atom(a, out))
        }
        Rhs::If(c, a, b) => {
            atom(c, out);
            block_reads(a, out);
            block_reads(b, out);
        }
        Rhs::Loop(l) => {
            atom(&l.init, out);
            match &l.kind {
                LoopKind::For { n, .. } => atom(n, out),
                LoopKind::While { cond } => block_reads(cond, out),
            }
            block_reads(&l.body, out);
        }
        Rhs::Map { arrays, body, .. } => {
            arrays.iter().for_each(|a| atom(a, out));
            block_reads(body, out);
        }
        Rhs::Build { n, body, .. } => {
            atom(n, out);
            block_reads(body, out);
        }
        Rhs::Reduce(c) | Rhs::Scan(c) => {
            atom(&c.ne, out);
            atom(&c.array, out);
            block_reads(&c.body, out);
        }
        Rhs::Deriv { captured, args, .. } => captured.iter().chain(args).for_each(|a| atom(a, out)),
    }
}

fn block_reads(block: &Block, out: &mut HashSet<VarId>) {
    for stmt in &block.stmts {
        reads_of(&stmt.rhs, out);
    }
    if let Atom::Var(v) = block.result {
        out.insert(v);
    }
}

/// For an element `value` computed by `code` in iteration `index` of a
/// loop, the buffers the body can write in place of its copy into the
/// result: one per array part (`None` for scalar parts). Only when every
/// element size is the same in every iteration (a constant or a variable
/// the body does not set) and every array part is a buffer the body
/// allocates once, at its top level, of exactly the part's size (`None`
/// for the second part that holds the same buffer: it gets a copy). Then
/// the allocation can become a view of the element's place in the result
/// ([`place_buffer`]): the body owns the buffer, so nothing else reads or
/// writes it.
fn element_windows(slots: &[Slot], code: &[Inst], value: &Val, index: Var) -> Option<Vec<Option<Var>>> {
    let invariant = |op: Operand| match op {
        Operand::Var(v) => v != index && assignments(code, v) == 0,
        _ => true,
    };
    let mut windows = Vec::with_capacity(slots.len());
    for (j, slot) in slots.iter().enumerate() {
        windows.push(match slot {
            Slot::Len => {
                if !invariant(value.comps[j]) {
                    return None;
                }
                None
            }
            Slot::Buffer { dims, .. } if dims.is_empty() => None,
            Slot::Buffer { elem, dims } => {
                let Operand::Var(buffer) = value.comps[j] else { return None };
                // One dimension: the allocation's size is that length.
                let [d] = dims[..] else { return None };
                let allocated = code.iter().any(|inst| {
                    matches!(inst, Inst::Set(v, Expr::Alloc { ty, n }) if *v == buffer && ty == elem && *n == value.comps[d])
                });
                if !allocated || assignments(code, buffer) != 1 {
                    return None;
                }
                // A buffer that is two parts of the element (a tuple of
                // the same array twice) is the first one's window and is
                // copied to the second's place.
                (!windows.contains(&Some(buffer))).then_some(buffer)
            }
            Slot::Scalar(_) => None,
        });
    }
    windows.iter().any(Option::is_some).then_some(windows)
}

/// Replaces the top-level allocation of `buffer` in `code` by `expr`.
fn place_buffer(code: &mut [Inst], buffer: Var, expr: Expr) {
    for inst in code.iter_mut() {
        if let Inst::Set(v, rhs @ Expr::Alloc { .. }) = inst {
            if *v == buffer {
                *rhs = expr;
                return;
            }
        }
    }
}

/// True when operands `a` and `b` hold the same value: equal, or
/// variables each set once in `code`, at its top level, by the same
/// operation of operands that hold the same values (looking `depth` sets
/// deep). The sizes a function computes twice, as `n * m` for a buffer and
/// again for its result, compare equal.
fn same_top_level_value(code: &[Inst], a: Operand, b: Operand, depth: usize) -> bool {
    if a == b {
        // A variable set again may hold another value at each read.
        return !matches!(a, Operand::Var(v) if assignments(code, v) > 1);
    }
    let (Operand::Var(x), Operand::Var(y)) = (a, b) else {
        return false;
    };
    if depth == 0 || assignments(code, x) != 1 || assignments(code, y) != 1 {
        return false;
    }
    let set_by = |var: Var| {
        code.iter().find_map(|inst| match inst {
            Inst::Set(v, expr) if *v == var => Some(expr),
            _ => None,
        })
    };
    match (set_by(x), set_by(y)) {
        (Some(Expr::Atom(p)), Some(Expr::Atom(q))) => same_top_level_value(code, *p, *q, depth - 1),
        (Some(Expr::Binary(op, p1, p2)), Some(Expr::Binary(oq, q1, q2))) => {
            // A size product equals the wrapping one wherever the code
            // runs on: when it saturates, the allocation it sizes fails.
            let product = |op: &BinOp| matches!(op, BinOp::IMul | BinOp::SizeMul);
            (op == oq || (product(op) && product(oq)))
                && same_top_level_value(code, *p1, *q1, depth - 1)
                && same_top_level_value(code, *p2, *q2, depth - 1)
        }
        _ => false,
    }
}

/// How many instructions of `code` (nested ones included) set `var`.
fn assignments(code: &[Inst], var: Var) -> usize {
    let mut count = 0;
    each_assignment(code, &mut |v| count += usize::from(v == var));
    count
}

/// The field a `map` over one array of tuples projects out of every
/// element (`map(\t -> proj(t, k), a)`), or `None`.
fn field_of_elements(param: &ir::Binder, body: &Block) -> Option<usize> {
    let [stmt] = &body.stmts[..] else { return None };
    match (&stmt.rhs, &body.result) {
        (Rhs::Proj(Atom::Var(t), k), Atom::Var(r)) if *t == param.var && *r == stmt.binder.var => Some(*k),
        _ => None,
    }
}

/// `map(\t -> proj(t, field), array)` without a loop: an array of tuples
/// keeps each field in buffers of its own, so the result is the array's
/// length and that field's components, shared with `array`.
fn field_view(array: &Val, field: usize, ty: &Type) -> Option<Val> {
    let Some(Type::Tuple(fields)) = array.ty.elem() else {
        return None;
    };
    // Each field's components within the array, after its length.
    let width = |f: &Type| layout(&Type::array(f.clone())).len() - 1;
    let start = 1 + fields[..field].iter().map(width).sum::<usize>();
    let mut comps = vec![array.comps[0]];
    comps.extend_from_slice(array.comps.get(start..start + width(fields.get(field)?))?);
    Some(Val::new(ty.clone(), comps))
}

/// True when `op` is a variable that some instruction of `code` sets.
fn sets(code: &[Inst], op: Operand) -> bool {
    matches!(op, Operand::Var(v) if assignments(code, v) > 0)
}

/// How many stores and copies of `code` (nested ones included) write
/// through `buf`.
fn stores_into(code: &[Inst], buf: Var) -> usize {
    code.iter()
        .map(|inst| match inst {
            Inst::Store { base, .. } | Inst::Copy { dst: base, .. } => usize::from(*base == Operand::Var(buf)),
            Inst::If { then, els, .. } => stores_into(then, buf) + stores_into(els, buf),
            Inst::For { body, .. } => stores_into(body, buf),
            Inst::While { cond, body, .. } => stores_into(cond, buf) + stores_into(body, buf),
            _ => 0,
        })
        .sum()
}
