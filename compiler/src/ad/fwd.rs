//! Forward mode: `f$jvp` computes `f` and, alongside every value, its
//! tangent (the conventions are in `ad/mod.rs`).
//!
//! Naming: `x_tan` is the tangent of `x`; `x_pair` is the value of a
//! compound statement that computes `x` and its tangent together, and
//! `x_pair.0`, `x_pair.1` are bound back to `x` and `x_tan`; `d` is an
//! intermediate of a primitive's rule.
//!
//! The transformation is a structural recursion over blocks. Primal
//! statements are copied with their variables, so the primal half of
//! `f$jvp` reads like `f`; each is followed by the statements of its
//! tangent. Primitives look their rule up in the table (`prim/jvp.rs`).
//! The structured right-hand sides:
//! - tuples, projections and array literals pair up directly;
//! - `if` branches on the primal condition, each branch returning
//!   `(value, tangent)`;
//! - a loop carries `(state, tangent)`; a `while` condition sees only the
//!   primal state;
//! - `map` and `build` become one `map`/`build` whose body returns
//!   `(value, tangent)`, followed by two maps that project the pairs apart.
//!   One combinator rather than a primal map and a tangent map, because the
//!   tangent needs the primal intermediates (`exp(x)` for the tangent of
//!   `exp(x)`): one body computes each once. The unzipping maps are pure
//!   projections, which map fusion folds into the producer
//!   (`map(proj_k) . map(f) = map(proj_k . f)`) when only one half is used,
//!   and which cost nothing once arrays of pairs are laid out as pairs of
//!   arrays;
//! - `reduce` and `scan` combine `(value, tangent)` pairs with the paired
//!   operator `(a, da) (+) (b, db) = (a + b, d(+)(a, b)(da, db))`, which is
//!   associative when the operator is. The neutral element's tangent is
//!   taken to be zero: a neutral element is a constant of the operator, and
//!   only `(ne, 0)` is neutral for the paired operator (a parallel
//!   reduction may use it any number of times).
//!
//! Zero tangents are tracked symbolically (`Tan::Zero`) and materialised
//! (`0.0`, `zero_tangent(x)`) only where a value is needed: a tangent
//! parameter slot, a result, a branch or an element of a pair whose other
//! half is live. A combinator or loop whose result tangent is zero is copied
//! unchanged. A loop state (and a reduction's accumulator) carries only the
//! components of its tangent that can be non-zero: the live ones are found
//! by iterating the body's transformation to a fixed point, starting from
//! those of the initial state.

use super::AdError;
use crate::core::ir::{Atom, Binder, Block, Combine, Func, Loop, LoopKind, Program, Rhs, Stmt, Type, VarId};
use crate::diagnostics::Span;
use crate::prim::jvp::Emit;
use crate::prim::Prim;
use crate::HashMap;

/// Adds `{func}$jvp` to the program (if not already present) and returns
/// its name. The function takes the parameters of `func`, then one tangent
/// per parameter (of type `p.ty.tangent()`), and returns
/// `(result, tangent of the result)`. `func` must not contain `Call` or
/// `Deriv`: inline calls and expand derivatives first.
pub fn jvp(program: &mut Program, func: &str) -> Result<String, AdError> {
    let name = format!("{func}$jvp");
    if program.func(&name).is_some() {
        return Ok(name);
    }
    let f = program
        .func(func)
        .ok_or_else(|| AdError::new(format!("forward mode: there is no function `{func}`"), None))?;
    check_first_order(f, &f.body)?;
    let g = crate::timings::time("ad: forward", || Fwd::new(f).func(f, name.clone()))?;
    program.funcs.push(g);
    Ok(name)
}

/// Reports the first `Call` or `Deriv` in `b`.
fn check_first_order(f: &Func, b: &Block) -> Result<(), AdError> {
    for s in &b.stmts {
        match &s.rhs {
            Rhs::Call(g, _) => return Err(unsupported(f, s, &format!("a call of `{g}`"))),
            Rhs::Deriv { op, func, .. } => {
                return Err(unsupported(f, s, &format!("`{}({func})`", op.name())));
            }
            Rhs::Atom(_) | Rhs::Prim(..) | Rhs::Tuple(_) | Rhs::Proj(..) | Rhs::Array(..) => {}
            Rhs::If(_, a, b) => {
                check_first_order(f, a)?;
                check_first_order(f, b)?;
            }
            Rhs::Loop(l) => {
                match &l.kind {
                    LoopKind::For { .. } => {}
                    LoopKind::While { cond } => check_first_order(f, cond)?,
                }
                check_first_order(f, &l.body)?;
            }
            Rhs::Map { body, .. } | Rhs::Build { body, .. } => check_first_order(f, body)?,
            Rhs::Reduce(c) | Rhs::Scan(c) => check_first_order(f, &c.body)?,
        }
    }
    Ok(())
}

fn unsupported(f: &Func, s: &Stmt, what: &str) -> AdError {
    AdError::new(
        format!(
            "forward mode of `{}`: {what} must be inlined or expanded before differentiating",
            f.name
        ),
        Some(s.span),
    )
}

/// The tangent of a value during the transformation.
#[derive(Clone, Debug, PartialEq)]
enum Tan {
    /// Known to be zero; also the tangent of every value without f64.
    Zero,
    /// Held by an atom of the value's tangent type.
    Atom(Atom),
    /// A tuple's tangent, field by field, not (yet) built as a value.
    Tuple(Vec<Tan>),
}

impl Tan {
    fn tuple(ts: Vec<Tan>) -> Tan {
        if ts.iter().all(|t| *t == Tan::Zero) {
            Tan::Zero
        } else {
            Tan::Tuple(ts)
        }
    }
}

/// Which parts of a tangent can be non-zero: the live leaves a loop state
/// or an accumulator carries.
#[derive(Clone, Debug, PartialEq)]
enum Mask {
    Dead,
    Live,
    /// A tuple whose fields are not all dead.
    Tuple(Vec<Mask>),
}

impl Mask {
    fn of(t: &Tan) -> Mask {
        match t {
            Tan::Zero => Mask::Dead,
            Tan::Atom(_) => Mask::Live,
            Tan::Tuple(ts) => Mask::tuple(ts.iter().map(Mask::of).collect()),
        }
    }

    /// A tuple's mask: `Dead` or `Live` when all fields are, so that a
    /// fully live tuple carries its tangent as one value.
    fn tuple(ms: Vec<Mask>) -> Mask {
        if ms.iter().all(|m| *m == Mask::Dead) {
            Mask::Dead
        } else if ms.iter().all(|m| *m == Mask::Live) {
            Mask::Live
        } else {
            Mask::Tuple(ms)
        }
    }

    fn join(&self, other: &Mask) -> Mask {
        match (self, other) {
            (Mask::Dead, m) | (m, Mask::Dead) => m.clone(),
            (Mask::Live, _) | (_, Mask::Live) => Mask::Live,
            (Mask::Tuple(a), Mask::Tuple(b)) if a.len() == b.len() => {
                Mask::tuple(a.iter().zip(b).map(|(x, y)| x.join(y)).collect())
            }
            (Mask::Tuple(_), Mask::Tuple(_)) => Mask::Live,
        }
    }

    /// The paths to the live leaves, in order.
    fn leaves(&self) -> Vec<Vec<usize>> {
        fn go(m: &Mask, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            match m {
                Mask::Dead => {}
                Mask::Live => out.push(path.clone()),
                Mask::Tuple(ms) => {
                    for (i, m) in ms.iter().enumerate() {
                        path.push(i);
                        go(m, path, out);
                        path.pop();
                    }
                }
            }
        }
        let mut out = Vec::new();
        go(self, &mut Vec::new(), &mut out);
        out
    }

    /// The type of the carried tangent of a value of type `ty`: its one
    /// live leaf's tangent, or the tuple of its live leaves' tangents.
    fn carried_type(&self, ty: &Type) -> Type {
        let mut tys: Vec<Type> = self.leaves().iter().map(|p| type_at(ty, p).tangent()).collect();
        if tys.len() == 1 {
            tys.remove(0)
        } else {
            Type::Tuple(tys)
        }
    }
}

/// True when an array occurs in the type.
fn has_array(ty: &Type) -> bool {
    match ty {
        Type::F64 | Type::I64 | Type::Bool => false,
        Type::Array(_) => true,
        Type::Tuple(ts) => ts.iter().any(has_array),
    }
}

/// The type of the field of `ty` at `path`.
fn type_at(ty: &Type, path: &[usize]) -> Type {
    match path.split_first() {
        None => ty.clone(),
        Some((i, rest)) => match ty {
            Type::Tuple(ts) if *i < ts.len() => type_at(&ts[*i], rest),
            _ => Type::unit(),
        },
    }
}

/// The transformation of one function.
struct Fwd {
    /// The next fresh variable id.
    next: u32,
    /// The statements of the block being written.
    stmts: Vec<Stmt>,
    types: HashMap<VarId, Type>,
    tans: HashMap<VarId, Tan>,
    /// The span new statements get: that of the statement they come from.
    span: Span,
    /// The first internal error met while writing code through [`Emit`].
    error: Option<String>,
}

/// A primal value and its tangent: the result of a transformed block.
type Dual = (Atom, Tan);

impl Fwd {
    fn new(f: &Func) -> Fwd {
        let mut types = HashMap::default();
        for p in &f.params {
            types.insert(p.var, p.ty.clone());
        }
        f.body.visit_binders(&mut |b| {
            types.insert(b.var, b.ty.clone());
        });
        Fwd {
            next: f.next_var(),
            stmts: Vec::new(),
            types,
            tans: HashMap::default(),
            span: f.span,
            error: None,
        }
    }

    fn func(mut self, f: &Func, name: String) -> Result<Func, AdError> {
        let mut params = f.params.clone();
        for p in &f.params {
            let t = self.fresh(&format!("{}_tan", p.name), p.ty.tangent());
            let tan = if p.ty.has_f64() { Tan::Atom(t.atom()) } else { Tan::Zero };
            self.set(p, tan);
            params.push(t);
        }
        let (r, t) = self.block(&f.body)?;
        self.span = f.span;
        let t = self.materialise(&t, r);
        let ret = Type::Tuple(vec![f.ret.clone(), f.ret.tangent()]);
        let out = self.bind("jvp", ret.clone(), Rhs::Tuple(vec![r, t]));
        self.check()?;
        Ok(Func {
            name,
            params,
            ret,
            body: Block {
                stmts: std::mem::take(&mut self.stmts),
                result: out,
            },
            span: f.span,
        })
    }

    /// Turns an error recorded through [`Emit`] into an `AdError`.
    fn check(&mut self) -> Result<(), AdError> {
        match self.error.take() {
            Some(m) => Err(AdError::new(
                format!("internal error in forward mode: {m}"),
                Some(self.span),
            )),
            None => Ok(()),
        }
    }

    fn fail(&mut self, message: String) {
        self.error.get_or_insert(message);
    }

    fn fresh(&mut self, name: &str, ty: Type) -> Binder {
        let var = VarId(self.next);
        self.next += 1;
        self.types.insert(var, ty.clone());
        Binder {
            var,
            name: name.to_string(),
            ty,
        }
    }

    /// Appends `let binder = rhs`.
    fn push(&mut self, binder: Binder, rhs: Rhs) {
        self.types.insert(binder.var, binder.ty.clone());
        self.stmts.push(Stmt {
            binder,
            rhs,
            span: self.span,
        });
    }

    /// Appends `let name: ty = rhs` with a fresh variable.
    fn bind(&mut self, name: &str, ty: Type, rhs: Rhs) -> Atom {
        let b = self.fresh(name, ty);
        let a = b.atom();
        self.push(b, rhs);
        a
    }

    fn ty(&mut self, a: Atom) -> Type {
        match a {
            Atom::Var(v) => match self.types.get(&v) {
                Some(t) => t.clone(),
                None => {
                    self.fail(format!("no type for variable {}", v.0));
                    Type::unit()
                }
            },
            Atom::F64(_) => Type::F64,
            Atom::I64(_) => Type::I64,
            Atom::Bool(_) => Type::Bool,
        }
    }

    fn tan(&self, a: Atom) -> Tan {
        match a {
            Atom::Var(v) => self.tans.get(&v).cloned().unwrap_or(Tan::Zero),
            Atom::F64(_) | Atom::I64(_) | Atom::Bool(_) => Tan::Zero,
        }
    }

    fn set(&mut self, b: &Binder, t: Tan) {
        let t = if b.ty.has_f64() { t } else { Tan::Zero };
        self.tans.insert(b.var, t);
    }

    /// Runs `f` in a block of its own and returns the block.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Fwd) -> Result<(Atom, T), AdError>) -> Result<(Block, T), AdError> {
        let outer = std::mem::take(&mut self.stmts);
        let out = f(self);
        let stmts = std::mem::replace(&mut self.stmts, outer);
        let (result, t) = out?;
        Ok((Block { stmts, result }, t))
    }

    /// The block of the statements `f` writes and the atom it returns.
    fn scoped(&mut self, f: impl FnOnce(&mut Fwd) -> Atom) -> Block {
        let outer = std::mem::take(&mut self.stmts);
        let result = f(self);
        let stmts = std::mem::replace(&mut self.stmts, outer);
        Block { stmts, result }
    }

    /// Appends to a block made by [`Fwd::nested`] the statements of `f`,
    /// whose atom becomes the block's result.
    fn extend(&mut self, b: Block, f: impl FnOnce(&mut Fwd, Atom) -> Atom) -> Block {
        let outer = std::mem::replace(&mut self.stmts, b.stmts);
        let result = f(self, b.result);
        let stmts = std::mem::replace(&mut self.stmts, outer);
        Block { stmts, result }
    }

    /// The unit value `()`.
    fn unit(&mut self) -> Atom {
        self.bind("unit", Type::unit(), Rhs::Tuple(Vec::new()))
    }

    /// `root.i.j...` for `path = [i, j, ...]`.
    fn project(&mut self, root: Atom, path: &[usize]) -> Atom {
        let mut ty = self.ty(root);
        let mut a = root;
        for &i in path {
            ty = type_at(&ty, &[i]);
            a = self.bind("p", ty.clone(), Rhs::Proj(a, i));
        }
        a
    }

    /// The tangent `t` of the field at `path` of `root` as a value.
    fn materialise_at(&mut self, t: &Tan, root: Atom, path: &[usize]) -> Atom {
        let root_ty = self.ty(root);
        let ty = type_at(&root_ty, path);
        if !ty.has_f64() {
            return self.unit();
        }
        match (t, &ty) {
            (Tan::Atom(a), _) => *a,
            (Tan::Zero, Type::F64) => Atom::F64(0.0),
            // A tuple of scalars: a tuple of zeros, which later passes see
            // through.
            (Tan::Zero, Type::Tuple(ts)) if !has_array(&ty) => {
                let zeros = vec![Tan::Zero; ts.len()];
                self.materialise_at(&Tan::Tuple(zeros), root, path)
            }
            (Tan::Zero, _) => {
                let x = self.project(root, path);
                self.bind("zero", ty.tangent(), Rhs::Prim(Prim::ZeroTangent, vec![x]))
            }
            (Tan::Tuple(ts), _) => {
                let mut items = Vec::new();
                for (i, t) in ts.iter().enumerate() {
                    let mut p = path.to_vec();
                    p.push(i);
                    items.push(self.materialise_at(t, root, &p));
                }
                self.bind("tan", ty.tangent(), Rhs::Tuple(items))
            }
        }
    }

    /// The tangent `t` of `x` as a value.
    fn materialise(&mut self, t: &Tan, x: Atom) -> Atom {
        self.materialise_at(t, x, &[])
    }

    /// The tangent `t` of `x` as a value, `None` when it is zero.
    fn option(&mut self, t: &Tan, x: Atom) -> Option<Atom> {
        match t {
            Tan::Zero => None,
            Tan::Atom(a) => Some(*a),
            Tan::Tuple(_) => Some(self.materialise(t, x)),
        }
    }

    /// The part of tangent `t` (of a value of type `ty`) at `path`.
    fn tan_at(&mut self, t: &Tan, ty: &Type, path: &[usize]) -> Tan {
        match path.split_first() {
            None => t.clone(),
            Some((&i, rest)) => match t {
                Tan::Zero => Tan::Zero,
                Tan::Tuple(ts) => match ts.get(i) {
                    Some(ti) => self.tan_at(ti, &type_at(ty, &[i]), rest),
                    None => Tan::Zero,
                },
                Tan::Atom(a) => {
                    let field = type_at(ty, &[i]);
                    if !field.has_f64() {
                        return Tan::Zero;
                    }
                    let ai = self.bind("p_tan", field.tangent(), Rhs::Proj(*a, i));
                    self.tan_at(&Tan::Atom(ai), &field, rest)
                }
            },
        }
    }

    /// The live leaves of tangent `t` of `x`, packed as `mask` says.
    fn pack(&mut self, t: &Tan, x: Atom, mask: &Mask) -> Atom {
        let ty = self.ty(x);
        let mut items = Vec::new();
        for path in mask.leaves() {
            let leaf = self.tan_at(t, &ty, &path);
            items.push(self.materialise_at(&leaf, x, &path));
        }
        if items.len() == 1 {
            items[0]
        } else {
            self.bind("tan", mask.carried_type(&ty), Rhs::Tuple(items))
        }
    }

    /// The tangent of a value of type `ty` whose live leaves `carried`
    /// holds, packed as `mask` says.
    fn unpack(&mut self, carried: Atom, mask: &Mask, ty: &Type) -> Tan {
        let paths = mask.leaves();
        let leaves: Vec<Atom> = if paths.len() == 1 {
            vec![carried]
        } else {
            let mut out = Vec::new();
            for (k, p) in paths.iter().enumerate() {
                out.push(self.bind("c_tan", type_at(ty, p).tangent(), Rhs::Proj(carried, k)));
            }
            out
        };
        fn build(m: &Mask, leaves: &mut std::slice::Iter<'_, Atom>) -> Tan {
            match m {
                Mask::Dead => Tan::Zero,
                Mask::Live => leaves.next().map_or(Tan::Zero, |a| Tan::Atom(*a)),
                Mask::Tuple(ms) => Tan::tuple(ms.iter().map(|m| build(m, leaves)).collect()),
            }
        }
        build(mask, &mut leaves.iter())
    }

    /// Transforms the statements of `b` into the current block.
    fn block(&mut self, b: &Block) -> Result<Dual, AdError> {
        for s in &b.stmts {
            self.stmt(s)?;
        }
        Ok((b.result, self.tan(b.result)))
    }

    fn stmt(&mut self, s: &Stmt) -> Result<(), AdError> {
        self.span = s.span;
        let b = &s.binder;
        match &s.rhs {
            Rhs::Atom(a) => {
                self.stmts.push(s.clone());
                let t = self.tan(*a);
                self.set(b, t);
            }
            Rhs::Prim(p, args) => {
                self.stmts.push(s.clone());
                let mut tans = Vec::new();
                for a in args {
                    let t = self.tan(*a);
                    tans.push(self.option(&t, *a));
                }
                let start = self.stmts.len();
                let t = p
                    .jvp(self, args, b.atom(), &tans)
                    .map_err(|m| AdError::new(format!("internal error in forward mode: {m}"), Some(s.span)))?;
                self.check()?;
                let t = t.map_or(Tan::Zero, Tan::Atom);
                self.name_tangent(start, &t, b);
                self.set(b, t);
            }
            Rhs::Tuple(items) => {
                self.stmts.push(s.clone());
                let t = Tan::tuple(items.iter().map(|a| self.tan(*a)).collect());
                self.set(b, t);
            }
            Rhs::Proj(a, i) => {
                self.stmts.push(s.clone());
                let ty = self.ty(*a);
                let t = self.tan(*a);
                let start = self.stmts.len();
                let t = self.tan_at(&t, &ty, &[*i]);
                self.name_tangent(start, &t, b);
                self.set(b, t);
            }
            Rhs::Array(items, elem) => {
                self.stmts.push(s.clone());
                let ts: Vec<Tan> = items.iter().map(|a| self.tan(*a)).collect();
                if elem.has_f64() && ts.iter().any(|t| *t != Tan::Zero) {
                    let mut atoms = Vec::new();
                    for (t, a) in ts.iter().zip(items) {
                        atoms.push(self.materialise(t, *a));
                    }
                    let a = self.bind(
                        &format!("{}_tan", b.name),
                        b.ty.tangent(),
                        Rhs::Array(atoms, elem.tangent()),
                    );
                    self.set(b, Tan::Atom(a));
                } else {
                    self.set(b, Tan::Zero);
                }
            }
            Rhs::Call(..) | Rhs::Deriv { .. } => {
                return Err(AdError::new(
                    "forward mode: calls and derivative operators must be inlined or expanded first",
                    Some(s.span),
                ));
            }
            Rhs::If(c, then, els) => self.if_stmt(s, *c, then, els)?,
            Rhs::Loop(l) => self.loop_stmt(s, l)?,
            Rhs::Map { arrays, params, body } => self.map_stmt(s, arrays, params, body)?,
            Rhs::Build { n, index, body } => self.build_stmt(s, *n, index, body)?,
            Rhs::Reduce(c) => self.combine_stmt(s, c, false)?,
            Rhs::Scan(c) => self.combine_stmt(s, c, true)?,
        }
        Ok(())
    }

    /// Names the statement that computes the tangent `t` of `b`, if it is
    /// one of those from `start` on, `b_tan`.
    fn name_tangent(&mut self, start: usize, t: &Tan, b: &Binder) {
        if let Tan::Atom(Atom::Var(v)) = t {
            if let Some(s) = self.stmts[start..].iter_mut().rev().find(|s| s.binder.var == *v) {
                s.binder.name = format!("{}_tan", b.name);
            }
        }
    }

    /// Binds `b` to `pair.0` and a fresh `b_tan` to `pair.1`; returns the
    /// latter.
    fn unpair(&mut self, b: &Binder, pair: Atom) -> Atom {
        self.push(b.clone(), Rhs::Proj(pair, 0));
        self.bind(&format!("{}_tan", b.name), b.ty.tangent(), Rhs::Proj(pair, 1))
    }

    /// `b = if c then ...`: each branch returns `(value, tangent)`.
    fn if_stmt(&mut self, s: &Stmt, c: Atom, then: &Block, els: &Block) -> Result<(), AdError> {
        let b = &s.binder;
        let (then2, tt) = self.nested(|me| me.block(then))?;
        let (els2, et) = self.nested(|me| me.block(els))?;
        self.span = s.span;
        if tt == Tan::Zero && et == Tan::Zero {
            self.stmts.push(s.clone());
            self.set(b, Tan::Zero);
            return Ok(());
        }
        let pair_ty = Type::Tuple(vec![b.ty.clone(), b.ty.tangent()]);
        let pair_branch = |me: &mut Fwd, block: Block, t: Tan| {
            me.extend(block, |me, r| {
                let t = me.materialise(&t, r);
                me.bind("pair", pair_ty.clone(), Rhs::Tuple(vec![r, t]))
            })
        };
        let then3 = pair_branch(self, then2, tt);
        let els3 = pair_branch(self, els2, et);
        let pair = self.bind(&format!("{}_pair", b.name), pair_ty.clone(), Rhs::If(c, then3, els3));
        let t = self.unpair(b, pair);
        self.set(b, Tan::Atom(t));
        Ok(())
    }

    /// Transforms a lambda-like `body` whose parameters `params` (each
    /// bound in the body from the first field of a fresh pair parameter)
    /// have tangents carried as `mask` says. Returns the pair parameters
    /// and the body returning `(value, carried tangent)`, or, when the
    /// body's result tangent has live parts outside `mask`, `Err` of the
    /// grown mask.
    fn paired_body(
        &mut self,
        params: &[&Binder],
        ty: &Type,
        mask: &Mask,
        body: &Block,
    ) -> Result<Result<(Vec<Binder>, Block), Mask>, AdError> {
        let pair_ty = Type::Tuple(vec![ty.clone(), mask.carried_type(ty)]);
        let pairs: Vec<Binder> = params
            .iter()
            .map(|p| self.fresh(&format!("{}_pair", p.name), pair_ty.clone()))
            .collect();
        let (block, grown) = self.nested(|me| {
            for (p, pair) in params.iter().zip(&pairs) {
                me.push((*p).clone(), Rhs::Proj(pair.atom(), 0));
                let c = me.bind(
                    &format!("{}_tan", p.name),
                    mask.carried_type(ty),
                    Rhs::Proj(pair.atom(), 1),
                );
                let t = me.unpack(c, mask, ty);
                me.set(p, t);
            }
            let (r, t) = me.block(body)?;
            let grown = mask.join(&Mask::of(&t));
            if grown != *mask {
                return Ok((r, Some(grown)));
            }
            let c = me.pack(&t, r, mask);
            Ok((me.bind("pair", pair_ty.clone(), Rhs::Tuple(vec![r, c])), None))
        })?;
        Ok(match grown {
            Some(m) => Err(m),
            None => Ok((pairs, block)),
        })
    }

    /// [`Fwd::paired_body`] iterated until `mask` covers the live parts of
    /// the body's result tangent. `None` when the tangent is zero
    /// throughout.
    fn fixpoint(
        &mut self,
        params: &[&Binder],
        ty: &Type,
        mut mask: Mask,
        body: &Block,
    ) -> Result<Option<(Mask, Vec<Binder>, Block)>, AdError> {
        loop {
            if mask == Mask::Dead {
                // Dead throughout if the body keeps it dead.
                for p in params {
                    self.set(p, Tan::Zero);
                }
                let (_, t) = self.nested(|me| me.block(body))?;
                let live = Mask::of(&t);
                if live == Mask::Dead {
                    return Ok(None);
                }
                mask = live;
                continue;
            }
            match self.paired_body(params, ty, &mask, body)? {
                Ok((pairs, block)) => return Ok(Some((mask, pairs, block))),
                Err(grown) => mask = grown,
            }
        }
    }

    fn loop_stmt(&mut self, s: &Stmt, l: &Loop) -> Result<(), AdError> {
        let b = &s.binder;
        let ty = &l.state.ty;
        let init_tan = self.tan(l.init);
        let Some((mask, pairs, body)) = self.fixpoint(&[&l.state], ty, Mask::of(&init_tan), &l.body)? else {
            self.span = s.span;
            self.stmts.push(s.clone());
            self.set(b, Tan::Zero);
            return Ok(());
        };
        self.span = s.span;
        let state = pairs[0].clone();
        let init_c = self.pack(&init_tan, l.init, &mask);
        let init = self.bind(
            &format!("{}_init", l.state.name),
            state.ty.clone(),
            Rhs::Tuple(vec![l.init, init_c]),
        );
        let kind = match &l.kind {
            LoopKind::For { n, index } => LoopKind::For {
                n: *n,
                index: index.clone(),
            },
            LoopKind::While { cond } => {
                // The condition sees the primal state, under a name of its
                // own (the body binds the original one).
                let x = self.fresh(&l.state.name, ty.clone());
                let mut stmts = vec![Stmt {
                    binder: x.clone(),
                    rhs: Rhs::Proj(state.atom(), 0),
                    span: s.span,
                }];
                let renamed = rename_block(cond, l.state.var, x.atom());
                stmts.extend(renamed.stmts);
                LoopKind::While {
                    cond: Block {
                        stmts,
                        result: renamed.result,
                    },
                }
            }
        };
        let pair_ty = state.ty.clone();
        let out = self.bind(
            &format!("{}_pair", b.name),
            pair_ty,
            Rhs::Loop(Loop {
                state,
                init,
                kind,
                body,
            }),
        );
        self.push(b.clone(), Rhs::Proj(out, 0));
        let c = self.bind(&format!("{}_tan", b.name), mask.carried_type(ty), Rhs::Proj(out, 1));
        let t = self.unpack(c, &mask, ty);
        self.set(b, t);
        Ok(())
    }

    /// `map` and `build`: the transformed body returns `(value, tangent)`.
    /// Returns the body, or `None` when the result tangent is zero.
    fn pair_body(&mut self, body: &Block, elem: &Type) -> Result<Option<Block>, AdError> {
        let (block, t) = self.nested(|me| me.block(body))?;
        if t == Tan::Zero {
            return Ok(None);
        }
        let pair_ty = Type::Tuple(vec![elem.clone(), elem.tangent()]);
        Ok(Some(self.extend(block, |me, r| {
            let t = me.materialise(&t, r);
            me.bind("pair", pair_ty, Rhs::Tuple(vec![r, t]))
        })))
    }

    /// Binds `b` to the first fields of the array of pairs `pairs`, and
    /// returns the array of their second fields, made by `second` from each
    /// pair.
    fn unzip(&mut self, b: &Binder, pairs: Atom, second: impl FnOnce(&mut Fwd, Atom) -> Atom) -> Atom {
        let pair_ty = match self.ty(pairs) {
            Type::Array(t) => *t,
            t => {
                self.fail(format!("unzip of a {t}"));
                t
            }
        };
        let elem = b.ty.elem().cloned().unwrap_or_else(Type::unit);
        let p = self.fresh("p", pair_ty.clone());
        let first = self.scoped(|me| me.bind("x", elem, Rhs::Proj(p.atom(), 0)));
        self.push(
            b.clone(),
            Rhs::Map {
                arrays: vec![pairs],
                params: vec![p],
                body: first,
            },
        );
        let q = self.fresh("p", pair_ty);
        let snd = self.scoped(|me| second(me, q.atom()));
        let snd_ty = self.ty(snd.result);
        self.bind(
            &format!("{}_tan", b.name),
            Type::array(snd_ty),
            Rhs::Map {
                arrays: vec![pairs],
                params: vec![q],
                body: snd,
            },
        )
    }

    /// The second field of a pair whose type is `(T, T.tangent())`.
    fn second(&mut self, pair: Atom, elem: &Type) -> Atom {
        self.bind("t", elem.tangent(), Rhs::Proj(pair, 1))
    }

    fn map_stmt(&mut self, s: &Stmt, arrays: &[Atom], params: &[Binder], body: &Block) -> Result<(), AdError> {
        let b = &s.binder;
        let mut arrays2 = arrays.to_vec();
        let mut params2 = params.to_vec();
        for (a, p) in arrays.iter().zip(params) {
            let t = self.tan(*a);
            match self.option(&t, *a) {
                Some(ta) => {
                    let pt = self.fresh(&format!("{}_tan", p.name), p.ty.tangent());
                    arrays2.push(ta);
                    self.set(p, Tan::Atom(pt.atom()));
                    params2.push(pt);
                }
                None => self.set(p, Tan::Zero),
            }
        }
        let elem = b.ty.elem().cloned().unwrap_or_else(Type::unit);
        let Some(body2) = self.pair_body(body, &elem)? else {
            self.span = s.span;
            self.stmts.push(s.clone());
            self.set(b, Tan::Zero);
            return Ok(());
        };
        self.span = s.span;
        let pair_ty = Type::Tuple(vec![elem.clone(), elem.tangent()]);
        let pairs = self.bind(
            &format!("{}_pair", b.name),
            Type::array(pair_ty),
            Rhs::Map {
                arrays: arrays2,
                params: params2,
                body: body2,
            },
        );
        let t = self.unzip(b, pairs, |me, p| me.second(p, &elem));
        self.set(b, Tan::Atom(t));
        Ok(())
    }

    fn build_stmt(&mut self, s: &Stmt, n: Atom, index: &Binder, body: &Block) -> Result<(), AdError> {
        let b = &s.binder;
        let elem = b.ty.elem().cloned().unwrap_or_else(Type::unit);
        let Some(body2) = self.pair_body(body, &elem)? else {
            self.span = s.span;
            self.stmts.push(s.clone());
            self.set(b, Tan::Zero);
            return Ok(());
        };
        self.span = s.span;
        let pair_ty = Type::Tuple(vec![elem.clone(), elem.tangent()]);
        let pairs = self.bind(
            &format!("{}_pair", b.name),
            Type::array(pair_ty),
            Rhs::Build {
                n,
                index: index.clone(),
                body: body2,
            },
        );
        let t = self.unzip(b, pairs, |me, p| me.second(p, &elem));
        self.set(b, Tan::Atom(t));
        Ok(())
    }

    /// `reduce` (`scan = false`) and `scan` over `(value, tangent)` pairs.
    fn combine_stmt(&mut self, s: &Stmt, c: &Combine, scan: bool) -> Result<(), AdError> {
        let b = &s.binder;
        let ty = c.acc.ty.clone();
        let array_tan = self.tan(c.array);
        let elem_mask = if array_tan == Tan::Zero || !ty.has_f64() {
            Mask::Dead
        } else {
            Mask::Live
        };
        let Some((mask, pairs, body)) = self.fixpoint(&[&c.acc, &c.elem], &ty, elem_mask, &c.body)? else {
            self.span = s.span;
            self.stmts.push(s.clone());
            self.set(b, Tan::Zero);
            return Ok(());
        };
        self.span = s.span;
        let pair_ty = pairs[0].ty.clone();
        // The array of (element, carried tangent) pairs.
        let x = self.fresh(&c.elem.name, ty.clone());
        let mut arrays = vec![c.array];
        let mut params = vec![x.clone()];
        let elem_tan = match self.option(&array_tan, c.array) {
            Some(ta) => {
                let dx = self.fresh(&format!("{}_tan", c.elem.name), ty.tangent());
                arrays.push(ta);
                let t = Tan::Atom(dx.atom());
                params.push(dx);
                t
            }
            None => Tan::Zero,
        };
        let zip_body = self.scoped(|me| {
            let ct = me.pack(&elem_tan, x.atom(), &mask);
            me.bind("pair", pair_ty.clone(), Rhs::Tuple(vec![x.atom(), ct]))
        });
        let zipped = self.bind(
            &format!("{}_pairs", c.elem.name),
            Type::array(pair_ty.clone()),
            Rhs::Map {
                arrays,
                params,
                body: zip_body,
            },
        );
        // The neutral element's tangent is zero (see the module comment).
        let ne_c = self.pack(&Tan::Zero, c.ne, &mask);
        let ne = self.bind("ne_pair", pair_ty.clone(), Rhs::Tuple(vec![c.ne, ne_c]));
        let combine = Combine {
            ne,
            array: zipped,
            acc: pairs[0].clone(),
            elem: pairs[1].clone(),
            body,
        };
        if scan {
            let out = self.bind(&format!("{}_pairs", b.name), Type::array(pair_ty), Rhs::Scan(combine));
            let t = self.unzip(b, out, |me, p| {
                if mask == Mask::Live {
                    return me.bind("t", ty.tangent(), Rhs::Proj(p, 1));
                }
                let v = me.bind("x", ty.clone(), Rhs::Proj(p, 0));
                let c = me.bind("c", mask.carried_type(&ty), Rhs::Proj(p, 1));
                let t = me.unpack(c, &mask, &ty);
                me.materialise(&t, v)
            });
            self.set(b, Tan::Atom(t));
        } else {
            let out = self.bind(&format!("{}_pair", b.name), pair_ty, Rhs::Reduce(combine));
            self.push(b.clone(), Rhs::Proj(out, 0));
            let c = self.bind(&format!("{}_tan", b.name), mask.carried_type(&ty), Rhs::Proj(out, 1));
            let t = self.unpack(c, &mask, &ty);
            self.set(b, t);
        }
        Ok(())
    }
}

impl Emit for Fwd {
    fn type_of(&self, a: Atom) -> Type {
        match a {
            Atom::Var(v) => self.types.get(&v).cloned().unwrap_or_else(Type::unit),
            Atom::F64(_) => Type::F64,
            Atom::I64(_) => Type::I64,
            Atom::Bool(_) => Type::Bool,
        }
    }

    fn prim(&mut self, prim: Prim, args: &[Atom]) -> Atom {
        let tys: Vec<Type> = args.iter().map(|a| self.ty(*a)).collect();
        match prim.result_type(&tys) {
            Ok(ty) => self.bind("d", ty, Rhs::Prim(prim, args.to_vec())),
            Err(m) => {
                self.fail(m);
                Atom::F64(0.0)
            }
        }
    }

    fn tuple(&mut self, items: &[Atom]) -> Atom {
        let tys = items.iter().map(|a| self.ty(*a)).collect();
        self.bind("d", Type::Tuple(tys), Rhs::Tuple(items.to_vec()))
    }

    fn proj(&mut self, tuple: Atom, field: usize) -> Atom {
        match self.ty(tuple) {
            Type::Tuple(ts) if field < ts.len() => self.bind("d", ts[field].clone(), Rhs::Proj(tuple, field)),
            t => {
                self.fail(format!("field {field} of a {t}"));
                Atom::F64(0.0)
            }
        }
    }

    fn if_(
        &mut self,
        cond: Atom,
        then: &mut dyn FnMut(&mut dyn Emit) -> Atom,
        els: &mut dyn FnMut(&mut dyn Emit) -> Atom,
    ) -> Atom {
        let outer = std::mem::take(&mut self.stmts);
        let a = then(self);
        let a_stmts = std::mem::take(&mut self.stmts);
        let b = els(self);
        let b_stmts = std::mem::replace(&mut self.stmts, outer);
        let ty = self.ty(a);
        self.bind(
            "d",
            ty,
            Rhs::If(
                cond,
                Block {
                    stmts: a_stmts,
                    result: a,
                },
                Block {
                    stmts: b_stmts,
                    result: b,
                },
            ),
        )
    }

    fn map(&mut self, arrays: &[Atom], body: &mut dyn FnMut(&mut dyn Emit, &[Atom]) -> Atom) -> Atom {
        let mut params = Vec::new();
        for a in arrays {
            let elem = match self.ty(*a) {
                Type::Array(t) => *t,
                t => {
                    self.fail(format!("map over a {t}"));
                    t
                }
            };
            params.push(self.fresh("x", elem));
        }
        let xs: Vec<Atom> = params.iter().map(Binder::atom).collect();
        let outer = std::mem::take(&mut self.stmts);
        let r = body(self, &xs);
        let stmts = std::mem::replace(&mut self.stmts, outer);
        let ty = Type::array(self.ty(r));
        self.bind(
            "d",
            ty,
            Rhs::Map {
                arrays: arrays.to_vec(),
                params,
                body: Block { stmts, result: r },
            },
        )
    }

    fn reduce(&mut self, ne: Atom, array: Atom, body: &mut dyn FnMut(&mut dyn Emit, Atom, Atom) -> Atom) -> Atom {
        let ty = self.ty(ne);
        let acc = self.fresh("acc", ty.clone());
        let elem = self.fresh("x", ty.clone());
        let outer = std::mem::take(&mut self.stmts);
        let r = body(self, acc.atom(), elem.atom());
        let stmts = std::mem::replace(&mut self.stmts, outer);
        self.bind(
            "d",
            ty,
            Rhs::Reduce(Combine {
                ne,
                array,
                acc,
                elem,
                body: Block { stmts, result: r },
            }),
        )
    }
}

/// `b` with every use of `from` replaced by `to`.
fn rename_block(b: &Block, from: VarId, to: Atom) -> Block {
    let atom = |a: &Atom| if *a == Atom::Var(from) { to } else { *a };
    let atoms = |xs: &[Atom]| xs.iter().map(atom).collect::<Vec<_>>();
    let block = |b: &Block| rename_block(b, from, to);
    let stmts = b
        .stmts
        .iter()
        .map(|s| {
            let rhs = match &s.rhs {
                Rhs::Atom(a) => Rhs::Atom(atom(a)),
                Rhs::Prim(p, args) => Rhs::Prim(*p, atoms(args)),
                Rhs::Tuple(items) => Rhs::Tuple(atoms(items)),
                Rhs::Proj(a, i) => Rhs::Proj(atom(a), *i),
                Rhs::Array(items, t) => Rhs::Array(atoms(items), t.clone()),
                Rhs::Call(f, args) => Rhs::Call(f.clone(), atoms(args)),
                Rhs::If(c, x, y) => Rhs::If(atom(c), block(x), block(y)),
                Rhs::Loop(l) => Rhs::Loop(Loop {
                    state: l.state.clone(),
                    init: atom(&l.init),
                    kind: match &l.kind {
                        LoopKind::For { n, index } => LoopKind::For {
                            n: atom(n),
                            index: index.clone(),
                        },
                        LoopKind::While { cond } => LoopKind::While { cond: block(cond) },
                    },
                    body: block(&l.body),
                }),
                Rhs::Map { arrays, params, body } => Rhs::Map {
                    arrays: atoms(arrays),
                    params: params.clone(),
                    body: block(body),
                },
                Rhs::Build { n, index, body } => Rhs::Build {
                    n: atom(n),
                    index: index.clone(),
                    body: block(body),
                },
                Rhs::Reduce(c) => Rhs::Reduce(rename_combine(c, from, to)),
                Rhs::Scan(c) => Rhs::Scan(rename_combine(c, from, to)),
                Rhs::Deriv {
                    op,
                    func,
                    captured,
                    args,
                } => Rhs::Deriv {
                    op: *op,
                    func: func.clone(),
                    captured: atoms(captured),
                    args: atoms(args),
                },
            };
            Stmt {
                binder: s.binder.clone(),
                rhs,
                span: s.span,
            }
        })
        .collect();
    Block {
        stmts,
        result: atom(&b.result),
    }
}

fn rename_combine(c: &Combine, from: VarId, to: Atom) -> Combine {
    let atom = |a: Atom| if a == Atom::Var(from) { to } else { a };
    Combine {
        ne: atom(c.ne),
        array: atom(c.array),
        acc: c.acc.clone(),
        elem: c.elem.clone(),
        body: rename_block(&c.body, from, to),
    }
}
