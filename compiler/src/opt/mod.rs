//! Partial evaluation of core IR: a catalogue of rewrite rules run to a
//! fixpoint.
//!
//! [`optimize`] inlines every call ([`inline_calls`]), then repeats passes
//! over each function until none changes anything (or [`Options::max_iterations`]
//! passes have run, a safety net). A pass walks the function once, in
//! order, and at each statement tries the rules of [`rules::CATALOGUE`]
//! after simplifying the statement's nested blocks; along the way it
//! propagates copies (`let x = y`) and shares common subexpressions. Then
//! dead statements are removed. Rules, their invariants and the reason the
//! fixpoint terminates are in `RULES.md` beside this file.
//!
//! Optimisation runs in two phases. In the first, `zero_tangent(x)` of an
//! f64 stays a *symbolic zero* that annihilates products (`mul(x, z) = z`,
//! as JAX's symbolic zeros); in the second it becomes the literal `0.0`, on
//! which only the rules exact under IEEE 754 apply.

pub mod cost;
mod cse;
mod dead_state;
pub(crate) mod fuse;
mod inline;
mod lengths;
pub mod rules;
mod seed;
mod share;
pub(crate) mod walk;

pub use inline::inline_calls;

use crate::core::ir::{Atom, Binder, Block, Func, Loop, LoopKind, Program, Rhs, Stmt, Type, VarId};
use crate::core::print::print_func;
use crate::core::verify::verify_func;
use crate::prim::Prim;
use crate::timings;
use crate::{HashMap, HashSet};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use walk::{block_any, count_uses, repeats, rhs_atoms_deep, rhs_atoms_mut, rhs_blocks_mut};

/// How to run the optimiser.
#[derive(Clone, Debug)]
pub struct Options {
    /// Inline every call first.
    pub inline: bool,
    /// Verify the function after every rule (each rule then runs as a pass
    /// of its own, which is slower): for tests.
    pub verify_each_rule: bool,
    /// The most passes per phase: a safety net, the rules terminate anyway.
    pub max_iterations: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            inline: true,
            verify_each_rule: false,
            max_iterations: 50,
        }
    }
}

/// The two phases of optimisation (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `zero_tangent` of an f64 is a symbolic zero.
    Symbolic,
    /// `zero_tangent` of an f64 is the literal `0.0`.
    Final,
}

/// Optimises every function of `program`.
pub fn optimize(program: &Program) -> Program {
    match optimize_with(program, &Options::default()) {
        Ok(p) => p,
        Err(message) => unreachable!("the optimiser verifies only when asked: {message}"),
    }
}

/// Optimises one function of `program` (whose other functions are the
/// ones it calls).
pub fn optimize_func(program: &Program, func: &Func) -> Func {
    match optimize_func_with(program, func, &Options::default()) {
        Ok(f) => f,
        Err(message) => unreachable!("the optimiser verifies only when asked: {message}"),
    }
}

/// [`optimize`] with options. The error, only with
/// [`Options::verify_each_rule`], names the rule after which a function no
/// longer verifies, with the verifier's messages and the function.
pub fn optimize_with(program: &Program, options: &Options) -> Result<Program, String> {
    let funcs = program
        .funcs
        .iter()
        .map(|f| optimize_func_with(program, f, options))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Program {
        funcs,
        tests: program.tests.clone(),
    })
}

/// [`optimize_func`] with options.
pub fn optimize_func_with(program: &Program, func: &Func, options: &Options) -> Result<Func, String> {
    let mut f = if options.inline {
        timings::time("opt: inline", || inline_calls(program, func))
    } else {
        func.clone()
    };
    check(program, &f, "inline", options)?;
    // Combinators whose bodies rules copied whole, checks included.
    let mut consumed = HashSet::default();
    for phase in [Phase::Symbolic, Phase::Final] {
        let active: Vec<&rules::Rule> = rules::CATALOGUE.iter().filter(|r| r.phases.contains(&phase)).collect();
        for _ in 0..options.max_iterations {
            let mut changed = false;
            if options.verify_each_rule {
                for rule in &active {
                    changed |= pass(program, &mut f, phase, std::slice::from_ref(rule), false, &mut consumed);
                    check(program, &f, rule.name, options)?;
                }
                changed |= pass(program, &mut f, phase, &[], true, &mut consumed);
                check(program, &f, "cse", options)?;
            } else {
                changed |= pass(program, &mut f, phase, &active, true, &mut consumed);
            }
            changed |= timings::time("opt: dce", || dce(&mut f, &consumed));
            check(program, &f, "dce", options)?;
            if phase == Phase::Final && timings::time("opt: share", || share::share_indexed_values(&mut f)) {
                changed = true;
                dce(&mut f, &consumed);
                check(program, &f, "share_indexed_values", options)?;
            }
            if phase == Phase::Final && timings::time("opt: seed", || seed::seed_accumulators(&mut f)) {
                changed = true;
                dce(&mut f, &consumed);
                check(program, &f, "seed_accumulators", options)?;
            }
            if timings::time("opt: dead state", || dead_state::drop_dead_components(&mut f)) {
                changed = true;
                dce(&mut f, &consumed);
                check(program, &f, "drop_dead_components", options)?;
            }
            // Last, once nothing else changes: after the symbolic phase, so
            // that the one-hot rules first make element-wise arrays of the
            // sums they can, and after the rules that make sums of their
            // own (`rows.rs`), so that all the sums of one array fuse
            // into one loop.
            if phase == Phase::Final && !changed && timings::time("opt: fuse", || fuse::fuse_reductions(&mut f)) {
                changed = true;
                dce(&mut f, &consumed);
                check(program, &f, "fuse_reductions", options)?;
            }
            if !changed {
                break;
            }
        }
    }
    Ok(f)
}

/// The rules run on a function before it is differentiated: they turn a
/// `build` that replaces a few rows of an array into updates of those
/// rows, whose derivatives move a row instead of transposing a branch per
/// element.
const BEFORE_DERIVATIVES: &[&str] = &["length_of", "build_identity", "build_update"];

/// Prepares a function for differentiation: [`BEFORE_DERIVATIVES`] to a
/// fixpoint, without the rest of the optimiser, whose rewrites are for the
/// derivative that comes out.
pub fn before_derivatives(program: &Program, func: &Func) -> Func {
    let rules: Vec<&rules::Rule> = rules::CATALOGUE
        .iter()
        .filter(|r| BEFORE_DERIVATIVES.contains(&r.name))
        .collect();
    let mut f = func.clone();
    let mut consumed = HashSet::default();
    for _ in 0..Options::default().max_iterations {
        let changed = pass(program, &mut f, Phase::Symbolic, &rules, true, &mut consumed);
        if !(dce(&mut f, &consumed) || changed) {
            break;
        }
    }
    f
}

fn check(program: &Program, f: &Func, rule: &str, options: &Options) -> Result<(), String> {
    if !options.verify_each_rule {
        return Ok(());
    }
    timings::time("verify", || verify_func(program, f)).map_err(|errors| {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "after rule `{rule}`, `{}` does not verify:\n{}\n{}",
            f.name,
            errors.join("\n"),
            print_func(f)
        )
    })
}

/// One pass of `rules` (with copy propagation, and with common
/// subexpressions shared when `cse`) over `f`. True when it changed `f`.
fn pass(
    program: &Program,
    f: &mut Func,
    phase: Phase,
    rules: &[&rules::Rule],
    cse: bool,
    consumed: &mut HashSet<VarId>,
) -> bool {
    let _timer = timings::Timer::start("opt: rules");
    let mut env = Env {
        program,
        phase,
        types: FxHashMap::default(),
        defs: FxHashMap::default(),
        uses: count_uses(f),
        index_bounds: FxHashMap::default(),
        innermost: None,
        loop_index: None,
        state_lengths: FxHashMap::default(),
        depth: 0,
        next: f.next_var(),
        subst: FxHashMap::default(),
        available: cse::Available::default(),
        consumed: HashSet::default(),
        changed: false,
    };
    for p in &f.params {
        env.types.insert(p.var, p.ty.clone());
    }
    let body = std::mem::replace(&mut f.body, Block::atom(Atom::Bool(false)));
    f.body = env.walk_block(body, rules, cse);
    consumed.extend(env.consumed);
    env.changed
}

/// What a rule replaces a statement with.
pub enum Rewrite {
    /// A new right-hand side for the same binder.
    Rhs(Rhs),
    /// Statements (with fresh binders) spliced in place of the statement,
    /// and the atom its binder now stands for.
    Block(Block),
}

/// What a rule knows at a statement: the definitions, types and use counts
/// of the variables in scope, and a supply of fresh variables.
pub struct Env<'p> {
    pub program: &'p Program,
    pub phase: Phase,
    types: FxHashMap<VarId, Type>,
    /// The right-hand side of each statement seen, and the depth of
    /// repetition (nested lambdas and loops) it is at.
    defs: FxHashMap<VarId, (Rhs, usize)>,
    uses: FxHashMap<VarId, usize>,
    /// Indices of enclosing `build`s and `for` loops, with their trip
    /// counts: such an index `i` satisfies `0 <= i < n`.
    index_bounds: FxHashMap<VarId, Atom>,
    /// The index of the innermost enclosing `build` or `for` loop, when the
    /// statement is in its body itself (not in an `if` or another
    /// combinator inside it).
    innermost: Option<VarId>,
    /// The same, also inside an `if` in that body.
    loop_index: Option<VarId>,
    /// Loop states (a field of a tuple state, or the whole state) that keep
    /// the length of their initial value in every iteration, with that
    /// initial value.
    state_lengths: FxHashMap<(VarId, Option<usize>), Atom>,
    depth: usize,
    next: u32,
    /// Copies propagated so far: each variable stands for the atom.
    subst: FxHashMap<VarId, Atom>,
    /// Common subexpressions in scope.
    available: cse::Available,
    /// Combinators read once whose body a rule copied to that read for
    /// every element, checks included: dead, they may go with their checks.
    consumed: HashSet<VarId>,
    changed: bool,
}

impl Env<'_> {
    /// The type of an atom.
    pub fn ty(&self, a: &Atom) -> Type {
        match a {
            Atom::Var(v) => self.types.get(v).cloned().unwrap_or_else(Type::unit),
            Atom::F64(_) => Type::F64,
            Atom::I64(_) => Type::I64,
            Atom::Bool(_) => Type::Bool,
        }
    }

    /// The right-hand side that defines `a`, if `a` is a variable bound by
    /// a statement in scope.
    pub fn def(&self, a: &Atom) -> Option<&Rhs> {
        match a {
            Atom::Var(v) => self.defs.get(v).map(|(rhs, _)| rhs),
            Atom::F64(_) | Atom::I64(_) | Atom::Bool(_) => None,
        }
    }

    /// The primitive and arguments that define `a`.
    pub fn prim_def(&self, a: &Atom) -> Option<(Prim, &[Atom])> {
        match self.def(a) {
            Some(Rhs::Prim(p, args)) => Some((*p, args)),
            _ => None,
        }
    }

    /// How many times `a` is read in the function.
    pub fn uses(&self, a: &Atom) -> usize {
        match a {
            Atom::Var(v) => self.uses.get(v).copied().unwrap_or(0),
            Atom::F64(_) | Atom::I64(_) | Atom::Bool(_) => 0,
        }
    }

    /// True when `a` is a variable read once, here, and defined at the
    /// current depth of repetition: copying its definition to the use does
    /// not repeat its work, and the definition then dies.
    pub fn linear(&self, a: &Atom) -> bool {
        match a {
            Atom::Var(v) => self.uses(a) == 1 && self.defs.get(v).is_some_and(|(_, d)| *d == self.depth),
            Atom::F64(_) | Atom::I64(_) | Atom::Bool(_) => false,
        }
    }

    /// Records that a rule copied the body of `a`'s combinator to its one
    /// read, for the same elements: its checks now run there.
    pub fn consume(&mut self, a: &Atom) {
        if let Atom::Var(v) = a {
            self.consumed.insert(*v);
        }
    }

    /// True when `a`, an array of `n` elements, is read once, at `j`, the
    /// index of the `build` or `for` loop over `n` whose body holds the
    /// read, and that combinator sits beside `a`'s definition: each
    /// element is then read once, in its own iteration.
    pub fn once_per_index(&self, a: &Atom, j: &Atom, n: &Atom) -> bool {
        let (Atom::Var(v), Atom::Var(i)) = (a, j) else {
            return false;
        };
        self.uses(a) == 1
            && self.innermost == Some(*i)
            && self.index_bounds.get(i) == Some(n)
            && self.defs.get(v).is_some_and(|(_, d)| *d + 1 == self.depth)
    }

    /// True when `a` is read once, at `j`, in the body of the `build` or
    /// `for` loop beside its definition (or in an `if` there), where `j`
    /// is the loop's index plus or minus a constant: no element is then
    /// read twice, since the iterations read distinct elements.
    pub fn read_once_per_iteration(&self, a: &Atom, j: &Atom) -> bool {
        let Atom::Var(v) = a else {
            return false;
        };
        let Some(i) = self.loop_index else {
            return false;
        };
        let shifted = match (j, self.prim_def(j)) {
            (Atom::Var(x), _) if *x == i => true,
            (_, Some((Prim::Add | Prim::Sub, [Atom::Var(x), Atom::I64(_)]))) => *x == i,
            _ => false,
        };
        shifted && self.uses(a) == 1 && self.defs.get(v).is_some_and(|(_, d)| *d + 1 == self.depth)
    }

    /// A map in scope that applies `p` alone to each element of `a`.
    pub fn unary_map(&self, p: Prim, a: &Atom) -> Option<Atom> {
        self.available.unary_map(p, a).map(Atom::Var)
    }

    /// True when `a` is a symbolic zero: a zero tangent, or a tuple of
    /// them.
    pub fn is_symbolic_zero(&self, a: &Atom) -> bool {
        match self.def(a) {
            Some(Rhs::Prim(Prim::ZeroTangent, _)) => true,
            Some(Rhs::Tuple(fields)) => fields.iter().all(|f| self.is_zero(f)),
            _ => false,
        }
    }

    /// True when `a` is zero as a tangent: a symbolic zero, the literal
    /// `0.0`, or `()`.
    pub fn is_zero(&self, a: &Atom) -> bool {
        matches!(a, Atom::F64(x) if *x == 0.0) || self.ty(a) == Type::unit() || self.is_symbolic_zero(a)
    }

    /// A fresh binder.
    pub fn fresh(&mut self, name: &str, ty: Type) -> Binder {
        walk::fresh_binder(&mut self.next, &mut self.types, name, ty)
    }

    /// A copy of `block` with fresh binders and the variables of `map`
    /// replaced.
    pub fn rename(&mut self, block: &Block, map: &mut HashMap<VarId, Atom>) -> Block {
        walk::rename_block(block, map, &mut self.next)
    }

    /// A fresh copy of a lambda's binder, recorded in `map`.
    pub fn rename_binder(&mut self, b: &Binder, map: &mut HashMap<VarId, Atom>) -> Binder {
        let mut b = b.clone();
        walk::rename_binder(&mut b, map, &mut self.next);
        self.types.insert(b.var, b.ty.clone());
        b
    }

    fn add_uses(&mut self, rhs: &Rhs, delta: isize) {
        let uses = &mut self.uses;
        rhs_atoms_deep(rhs, &mut |a| {
            if let Atom::Var(v) = a {
                let n = uses.entry(*v).or_insert(0);
                *n = n.saturating_add_signed(delta);
            }
        });
    }

    /// `x` now stands for `a`: its uses become uses of `a`.
    fn alias(&mut self, x: VarId, a: Atom) {
        if let Atom::Var(v) = a {
            let moved = self.uses.get(&x).copied().unwrap_or(0);
            *self.uses.entry(v).or_insert(0) += moved;
        }
        self.subst.insert(x, a);
        self.changed = true;
    }

    fn subst_atom(&self, a: &mut Atom) {
        if let Atom::Var(v) = a {
            if let Some(new) = self.subst.get(v) {
                *a = *new;
            }
        }
    }

    fn walk_block(&mut self, block: Block, rules: &[&rules::Rule], cse: bool) -> Block {
        let mut out = Vec::with_capacity(block.stmts.len());
        let mut queue: VecDeque<Stmt> = block.stmts.into();
        'stmts: while let Some(mut stmt) = queue.pop_front() {
            rhs_atoms_mut(&mut stmt.rhs, &mut |a| self.subst_atom(a));
            self.walk_nested(&mut stmt.rhs, rules, cse);
            self.types.insert(stmt.binder.var, stmt.binder.ty.clone());
            // A rule may rewrite the statement again and again; each
            // rewrite makes it smaller, the bound is a safety net.
            for _ in 0..64 {
                let Some(rewrite) = rules.iter().find_map(|r| (r.apply)(&stmt, self)) else {
                    break;
                };
                self.changed = true;
                self.add_uses(&stmt.rhs, -1);
                match rewrite {
                    Rewrite::Rhs(rhs) => {
                        self.add_uses(&rhs, 1);
                        stmt.rhs = rhs;
                    }
                    Rewrite::Block(block) => {
                        let tail = Stmt {
                            binder: stmt.binder,
                            rhs: Rhs::Atom(block.result),
                            span: stmt.span,
                        };
                        self.add_uses(&tail.rhs, 1);
                        queue.push_front(tail);
                        for s in block.stmts.into_iter().rev() {
                            self.add_uses(&s.rhs, 1);
                            queue.push_front(s);
                        }
                        continue 'stmts;
                    }
                }
            }
            // copy propagation: `let x = a; e` == `e[a/x]`
            if let Rhs::Atom(a) = stmt.rhs {
                self.add_uses(&stmt.rhs, -1);
                self.alias(stmt.binder.var, a);
                continue;
            }
            // common subexpressions: `let x = e; let y = e` == `let x = e; let y = x`
            if cse {
                if let Some(v) = self.available.share(&stmt.rhs, stmt.binder.var, &self.defs) {
                    self.add_uses(&stmt.rhs, -1);
                    self.alias(stmt.binder.var, Atom::Var(v));
                    continue;
                }
            }
            self.available.add_unary_map(&stmt.rhs, stmt.binder.var);
            self.defs.insert(stmt.binder.var, (stmt.rhs.clone(), self.depth));
            out.push(stmt);
        }
        let mut result = block.result;
        self.subst_atom(&mut result);
        Block { stmts: out, result }
    }

    /// An array in scope known to have the length of `a`, when `a` is (a
    /// field of) a loop's state whose length never changes: its initial
    /// value.
    pub fn same_length(&self, a: &Atom) -> Option<Atom> {
        let Atom::Var(v) = a else { return None };
        match self.def(a) {
            Some(Rhs::Proj(Atom::Var(state), k)) => self.state_lengths.get(&(*state, Some(*k))).copied(),
            _ => self.state_lengths.get(&(*v, None)).copied(),
        }
    }

    /// True when `n` is known to be the length of the array `a`.
    pub fn is_length_of(&self, n: &Atom, a: &Atom) -> bool {
        match (self.prim_def(n), self.def(a)) {
            (Some((Prim::Length, [b])), _) if b == a || self.same_length(a) == Some(*b) => true,
            (Some((Prim::Length, [b])), Some(Rhs::Map { arrays, .. })) => arrays[0] == *b,
            (_, Some(Rhs::Build { n: m, .. })) => m == n,
            _ => false,
        }
    }

    /// True when `i` is known to lie in `0..n`: it is the index of an
    /// enclosing `build` or `for` loop over `n`.
    pub fn index_in_range(&self, i: &Atom, n: &Atom) -> bool {
        match i {
            Atom::Var(v) => self.index_bounds.get(v) == Some(n),
            _ => false,
        }
    }

    fn walk_nested(&mut self, rhs: &mut Rhs, rules: &[&rules::Rule], cse: bool) {
        let deeper = usize::from(repeats(rhs));
        let bounded = match &*rhs {
            Rhs::Build { n, index, .. }
            | Rhs::Loop(Loop {
                kind: LoopKind::For { n, index },
                ..
            }) => Some((index.var, *n)),
            _ => None,
        };
        if let Some((i, n)) = bounded {
            self.index_bounds.insert(i, n);
        }
        if let Rhs::Loop(l) = &*rhs {
            for (field, init) in lengths::invariant(l, self) {
                self.state_lengths.insert((l.state.var, field), init);
            }
        }
        let outer = self.innermost;
        self.innermost = bounded.map(|(i, _)| i);
        let outer_loop_index = self.loop_index;
        if !matches!(rhs, Rhs::If(..)) {
            self.loop_index = self.innermost;
        }
        for (block, binders) in rhs_blocks_mut(rhs) {
            for b in binders {
                self.types.insert(b.var, b.ty);
            }
            self.depth += deeper;
            let mark = self.available.mark();
            let taken = std::mem::replace(block, Block::atom(Atom::Bool(false)));
            *block = self.walk_block(taken, rules, cse);
            self.available.release(mark);
            self.depth -= deeper;
        }
        self.innermost = outer;
        self.loop_index = outer_loop_index;
    }
}

/// Dead code elimination: `let x = e; b` == `b` when `x` is not read in
/// `b`, unless `e` is or contains a `size_eq` check or a call (see
/// RULES.md) and is not one of the `consumed` combinators (see
/// [`Env::consume`]). True when it removed something.
pub fn dce(f: &mut Func, consumed: &HashSet<VarId>) -> bool {
    let mut uses = count_uses(f);
    dce_block(&mut f.body, &mut uses, consumed)
}

fn dce_block(block: &mut Block, uses: &mut FxHashMap<VarId, usize>, consumed: &HashSet<VarId>) -> bool {
    let mut changed = false;
    let mut kept = Vec::with_capacity(block.stmts.len());
    for mut s in std::mem::take(&mut block.stmts).into_iter().rev() {
        let var = s.binder.var;
        if uses.get(&var).copied().unwrap_or(0) == 0 && (removable(&s.rhs) || consumed.contains(&var)) {
            rhs_atoms_deep(&s.rhs, &mut |a| {
                if let Atom::Var(v) = a {
                    if let Some(n) = uses.get_mut(v) {
                        *n = n.saturating_sub(1);
                    }
                }
            });
            changed = true;
            continue;
        }
        for (b, _) in rhs_blocks_mut(&mut s.rhs) {
            changed |= dce_block(b, uses, consumed);
        }
        kept.push(s);
    }
    kept.reverse();
    block.stmts = kept;
    changed
}

/// True when an unused statement may go. A bounds check left by a rule
/// stays beside the value it guards, but goes with a dead block around it.
fn removable(rhs: &Rhs) -> bool {
    let keep = |r: &Rhs| matches!(r, Rhs::Prim(Prim::SizeEq, _) | Rhs::Call(..));
    let bounds_check = matches!(rhs, Rhs::Prim(Prim::CheckIndex | Prim::CheckSlice, _));
    !bounds_check && !keep(rhs) && !walk::rhs_blocks(rhs).into_iter().any(|b| block_any(b, &keep))
}
