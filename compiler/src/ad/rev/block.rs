//! The two sweeps of reverse mode over a block, and the transposition of
//! the simple terms (copies, primitives, tuples, array literals). The
//! structured terms have their own files.

use crate::ad::AdError;
use crate::core::ir::Type;
use crate::prim::vjp::{ElemFn, Emit};
use crate::prim::Prim;
use crate::unf::build::Builder;
use crate::unf::{Block, Func, Param, Slot, Term};
use crate::HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// The cotangent accumulated so far for each source level.
pub(super) type Cts = BTreeMap<usize, Slot>;

/// What the target knows about the source slots in scope.
#[derive(Clone, Default)]
pub(super) struct Env {
    /// The target slot holding each source slot's primal value.
    pub slots: Vec<Slot>,
    /// Whether a source slot can have a nonzero cotangent: it holds f64s
    /// and is neither a literal nor a primitive of inactive slots.
    pub active: Vec<bool>,
    /// The tapes recorded by the forward sweep of a loop, by the loop's
    /// source level.
    pub tapes: HashMap<usize, Tape>,
    /// The loops of this block whose states the forward sweep of the loop
    /// around it recorded, by source level.
    pub replay: HashMap<usize, Slot>,
}

/// What the forward sweep of a loop keeps for its backward sweep: a tuple
/// `(states, trip count, ...)`, followed, when `nested`, by the records of
/// the loops of its body that [`super::nest::recordable_loops`] names.
#[derive(Clone, Copy)]
pub(super) struct Tape {
    pub slot: Slot,
    pub nested: bool,
}

/// Which loops a forward sweep records the tapes of.
#[derive(Clone, Copy)]
pub(super) enum Record<'a> {
    /// None: the primal computation only.
    Nothing,
    /// Every loop, each keeping the tapes of the loops its body allows.
    Loops,
    /// The loops at these source levels, each keeping its states only.
    Only(&'a [usize]),
}

impl Record<'_> {
    fn at(self, level: usize) -> bool {
        match self {
            Record::Nothing => false,
            Record::Loops => true,
            Record::Only(levels) => levels.contains(&level),
        }
    }
}

impl Env {
    /// The part of the environment below `level`, without tapes: the
    /// context of a block nested in the op at `level`.
    pub fn prefix(&self, level: usize) -> Env {
        Env {
            slots: self.slots[..level].to_vec(),
            active: self.active[..level].to_vec(),
            tapes: HashMap::default(),
            replay: HashMap::default(),
        }
    }

    pub fn push(&mut self, slot: Slot, active: bool) {
        self.slots.push(slot);
        self.active.push(active);
    }

    pub fn at(&self, s: Slot) -> Slot {
        self.slots[s.index()]
    }
}

/// The state of the transformation: the target being built.
pub(super) struct Rev {
    pub b: Builder,
    pub func: String,
}

pub(super) fn reverse_func(f: &Func) -> Result<Func, AdError> {
    let mut params = f.params.clone();
    params.push(Param {
        name: "ct".into(),
        ty: f.ret.tangent(),
    });
    let mut rev = Rev {
        b: Builder::new(&params),
        func: f.name.clone(),
    };
    let k = f.params.len();
    let mut env = Env::default();
    for (i, p) in f.params.iter().enumerate() {
        env.push(Slot(i as u32), p.ty.has_f64());
    }
    let result = rev.forward(&f.body, &mut env, Record::Loops)?;
    let mut cts = Cts::new();
    rev.seed(&env, &mut cts, f.body.result, Slot(k as u32));
    rev.backward(&f.body, k, &env, &mut cts)?;
    let mut grads = Vec::new();
    for i in 0..k {
        let g = match cts.get(&i) {
            Some(g) => *g,
            None => rev.zero(Slot(i as u32))?,
        };
        grads.push(g);
    }
    let grads = rev.b.tuple(&grads);
    let out = rev.b.tuple(&[result, grads]);
    let ret = rev.b.ty(out).clone();
    Ok(Func {
        name: format!("{}$vjp", f.name),
        params,
        ret,
        body: rev.b.finish(out),
        span: f.span,
    })
}

/// The active source slots below `below` that `block` reads, nested blocks
/// included: the values whose cotangents a nested backward sweep adds to.
pub(super) fn free_active(block: &Block, below: usize, env: &Env, out: &mut BTreeSet<usize>) {
    for op in &block.ops {
        for s in op.term.operands() {
            if s.index() < below && env.active[s.index()] {
                out.insert(s.index());
            }
        }
        match &op.term {
            Term::Var(_) | Term::Lit(_) | Term::Prim(..) | Term::Tuple(_) | Term::Proj(..) | Term::Array(..) => {}
            Term::If(_, a, b) => {
                free_active(a, below, env, out);
                free_active(b, below, env, out);
            }
            Term::Map { body, .. }
            | Term::Build { body, .. }
            | Term::Reduce { body, .. }
            | Term::Scan { body, .. }
            | Term::For { body, .. } => free_active(body, below, env, out),
            Term::While { cond, body, .. } => {
                free_active(cond, below, env, out);
                free_active(body, below, env, out);
            }
        }
    }
    if block.result.index() < below && env.active[block.result.index()] {
        out.insert(block.result.index());
    }
}

impl Rev {
    pub fn err(&self, m: impl std::fmt::Display) -> AdError {
        AdError::new(format!("reverse mode of `{}`: {m}", self.func), None)
    }

    pub fn prim(&mut self, p: Prim, args: &[Slot]) -> Result<Slot, AdError> {
        self.b.prim(p, args).map_err(|m| self.err(m))
    }

    pub fn proj(&mut self, s: Slot, i: usize) -> Result<Slot, AdError> {
        self.b
            .proj(s, i)
            .ok_or_else(|| self.err(format!("no field {i} in {s}")))
    }

    /// The zero cotangent of the value in target slot `primal`.
    pub fn zero(&mut self, primal: Slot) -> Result<Slot, AdError> {
        self.prim(Prim::ZeroTangent, &[primal])
    }

    /// Adds the contribution `c` to the cotangent of source slot `level`.
    pub fn add(&mut self, env: &Env, cts: &mut Cts, level: usize, c: Slot) -> Result<(), AdError> {
        if !env.active[level] {
            return Ok(());
        }
        let sum = match cts.get(&level) {
            Some(old) => self.prim(Prim::AddTangent, &[*old, c])?,
            None => c,
        };
        cts.insert(level, sum);
        Ok(())
    }

    /// Starts the backward sweep of a block: its result has cotangent `c`.
    pub fn seed(&mut self, env: &Env, cts: &mut Cts, result: Slot, c: Slot) {
        // Seeding cannot fail: the first contribution needs no addition.
        let _ = self.add(env, cts, result.index(), c);
    }

    /// Opens a nested target block with `params` over the source context
    /// below `level`; returns the child environment with the parameters
    /// bound to the source levels `level..`.
    pub fn open(&mut self, env: &Env, level: usize, params: Vec<Param>) -> (Env, Vec<Slot>) {
        let mut child = env.prefix(level);
        let actives: Vec<bool> = params.iter().map(|p| p.ty.has_f64()).collect();
        let slots = self.b.open(params);
        for (s, a) in slots.iter().zip(actives) {
            child.push(*s, a);
        }
        (child, slots)
    }

    /// Copies a nested source block to the target (the primal computation
    /// only), over the context below `level`.
    pub fn copy_block(&mut self, blk: &Block, env: &Env, level: usize) -> Result<Block, AdError> {
        let (mut child, _) = self.open(env, level, blk.params.clone());
        let r = self.forward(blk, &mut child, Record::Nothing)?;
        Ok(self.b.close(r))
    }

    /// The forward sweep: emits the primal ops of `blk`, whose parameters
    /// are already in `env`, extending `env`; returns the result's slot.
    /// The loops `record` names keep their tapes for the backward sweep.
    pub fn forward(&mut self, blk: &Block, env: &mut Env, record: Record) -> Result<Slot, AdError> {
        for op in &blk.ops {
            let level = env.slots.len();
            self.b.span = op.span;
            let at = |s: &Slot| env.at(*s);
            let term = match &op.term {
                Term::Var(s) => Term::Var(at(s)),
                Term::Lit(l) => Term::Lit(*l),
                Term::Prim(p, args) => Term::Prim(*p, args.iter().map(at).collect()),
                Term::Tuple(args) => Term::Tuple(args.iter().map(at).collect()),
                Term::Proj(s, i) => Term::Proj(at(s), *i),
                Term::Array(args, ty) => Term::Array(args.iter().map(at).collect(), ty.clone()),
                Term::If(c, a, b) => {
                    let c = at(c);
                    let a = self.copy_block(a, env, level)?;
                    let b = self.copy_block(b, env, level)?;
                    Term::If(c, a, b)
                }
                Term::Map { arrays, body } => {
                    let arrays = arrays.iter().map(at).collect();
                    Term::Map {
                        arrays,
                        body: self.copy_block(body, env, level)?,
                    }
                }
                Term::Build { n, body } => {
                    let n = at(n);
                    Term::Build {
                        n,
                        body: self.copy_block(body, env, level)?,
                    }
                }
                Term::Reduce { ne, array, body } => {
                    let (ne, array) = (at(ne), at(array));
                    Term::Reduce {
                        ne,
                        array,
                        body: self.copy_block(body, env, level)?,
                    }
                }
                Term::Scan { ne, array, body } => {
                    let (ne, array) = (at(ne), at(array));
                    Term::Scan {
                        ne,
                        array,
                        body: self.copy_block(body, env, level)?,
                    }
                }
                Term::For { init, n, body } => {
                    if let Some(&states) = env.replay.get(&level) {
                        let (fin, slot) = self.replay_loop(states, *init, body, env, level, &op.ty)?;
                        env.tapes.insert(level, Tape { slot, nested: false });
                        env.push(fin, op.ty.has_f64());
                        continue;
                    }
                    if record.at(level) {
                        let nested = matches!(record, Record::Loops);
                        let (fin, slot) = self.record_for(*init, *n, body, env, level, nested)?;
                        env.tapes.insert(level, Tape { slot, nested });
                        env.push(fin, op.ty.has_f64());
                        continue;
                    }
                    let (init, n) = (at(init), at(n));
                    Term::For {
                        init,
                        n,
                        body: self.copy_block(body, env, level)?,
                    }
                }
                Term::While { init, cond, body } => {
                    if record.at(level) {
                        let nested = matches!(record, Record::Loops);
                        let (fin, slot) = self.record_while(*init, cond, body, env, level, nested)?;
                        env.tapes.insert(level, Tape { slot, nested });
                        env.push(fin, op.ty.has_f64());
                        continue;
                    }
                    let init = at(init);
                    Term::While {
                        init,
                        cond: self.copy_block(cond, env, level)?,
                        body: self.copy_block(body, env, level)?,
                    }
                }
            };
            // A literal is a constant, and so is a primitive of constants.
            let active = op.ty.has_f64()
                && match &op.term {
                    Term::Lit(_) => false,
                    Term::Prim(_, args) => args.iter().any(|s| env.active[s.index()]),
                    _ => true,
                };
            let slot = self.b.push(term, op.ty.clone(), &op.name);
            env.push(slot, active);
        }
        Ok(env.at(blk.result))
    }

    /// The backward sweep over the ops of `blk`, the first of which is at
    /// source level `base`: transposes every op whose result has a
    /// cotangent, adding to the cotangents of what it read.
    pub fn backward(&mut self, blk: &Block, base: usize, env: &Env, cts: &mut Cts) -> Result<(), AdError> {
        for (k, op) in blk.ops.iter().enumerate().rev() {
            let level = base + k;
            let Some(c) = cts.remove(&level) else { continue };
            self.b.span = op.span;
            self.transpose(&op.term, level, c, env, cts)?;
        }
        Ok(())
    }

    fn transpose(&mut self, term: &Term, level: usize, c: Slot, env: &Env, cts: &mut Cts) -> Result<(), AdError> {
        match term {
            Term::Var(s) => self.add(env, cts, s.index(), c),
            Term::Lit(_) => Ok(()),
            Term::Prim(p, args) => {
                let targs: Vec<Slot> = args.iter().map(|s| env.at(*s)).collect();
                let wanted: Vec<bool> = args.iter().map(|s| env.active[s.index()]).collect();
                let contributions = p
                    .vjp(self, &targs, env.slots[level], c, &wanted)
                    .map_err(|m| self.err(m))?;
                for (s, ct) in args.iter().zip(contributions) {
                    if let Some(ct) = ct {
                        self.add(env, cts, s.index(), ct)?;
                    }
                }
                Ok(())
            }
            Term::Tuple(args) => {
                for (k, s) in args.iter().enumerate() {
                    if env.active[s.index()] {
                        let ck = self.proj(c, k)?;
                        self.add(env, cts, s.index(), ck)?;
                    }
                }
                Ok(())
            }
            Term::Proj(s, i) => {
                if !env.active[s.index()] {
                    return Ok(());
                }
                // The tuple's cotangent: `c` in field i, zeros elsewhere.
                let tuple = env.at(*s);
                let n = match self.b.ty(tuple) {
                    Type::Tuple(ts) => ts.len(),
                    other => return Err(self.err(format!("projection from {other}"))),
                };
                let mut fields = Vec::with_capacity(n);
                for j in 0..n {
                    if j == *i {
                        fields.push(c);
                    } else {
                        let pj = self.proj(tuple, j)?;
                        fields.push(self.zero(pj)?);
                    }
                }
                let ct = self.b.tuple(&fields);
                self.add(env, cts, s.index(), ct)
            }
            Term::Array(args, _) => {
                for (k, s) in args.iter().enumerate() {
                    if env.active[s.index()] {
                        let i = self.i64(k as i64);
                        let ck = self.prim(Prim::Index, &[c, i])?;
                        self.add(env, cts, s.index(), ck)?;
                    }
                }
                Ok(())
            }
            Term::If(cond, a, b) => self.transpose_if(*cond, a, b, level, c, env, cts),
            Term::Map { arrays, body } => self.transpose_map(arrays, body, level, c, env, cts),
            Term::Build { n, body } => self.transpose_build(*n, body, level, c, env, cts),
            Term::Reduce { ne, array, body } => self.transpose_reduce(*ne, *array, body, level, c, env, cts),
            Term::Scan { ne, array, body } => self.transpose_scan(*ne, *array, body, level, c, env, cts),
            Term::For { init, body, .. } => self.transpose_loop(*init, body, true, level, c, env, cts),
            Term::While { init, body, .. } => self.transpose_loop(*init, body, false, level, c, env, cts),
        }
    }

    /// The backward sweep of a nested block whose parameters are bound in
    /// `child` (from source level `level`) and whose result has cotangent
    /// `c`: recomputes the block's primal values, then transposes it.
    /// Returns the cotangents of its parameters and of the outer slots.
    pub fn nested_backward(&mut self, blk: &Block, child: &mut Env, level: usize, c: Slot) -> Result<Cts, AdError> {
        let mut cts = Cts::new();
        self.forward(blk, child, Record::Loops)?;
        self.seed(child, &mut cts, blk.result, c);
        self.backward(blk, level + blk.params.len(), child, &mut cts)?;
        Ok(cts)
    }
}

impl Emit for Rev {
    type H = Slot;

    fn ty(&self, h: Slot) -> Type {
        self.b.ty(h).clone()
    }

    fn prim(&mut self, p: Prim, args: &[Slot]) -> Result<Slot, String> {
        self.b.prim(p, args)
    }

    fn f64(&mut self, x: f64) -> Slot {
        self.b.lit(crate::unf::Lit::F64(x))
    }

    fn i64(&mut self, n: i64) -> Slot {
        self.b.lit(crate::unf::Lit::I64(n))
    }

    fn select(&mut self, cond: Slot, a: Slot, b: Slot) -> Slot {
        let ty = self.b.ty(a).clone();
        self.b.open_branch();
        let ta = self.b.close(a);
        self.b.open_branch();
        let tb = self.b.close(b);
        self.b.push(Term::If(cond, ta, tb), ty, "sel")
    }

    fn map(&mut self, arrays: &[Slot], body: &mut ElemFn<'_, Self>) -> Result<Slot, String> {
        let mut params = Vec::new();
        for a in arrays {
            match self.b.ty(*a) {
                Type::Array(t) => params.push(Param {
                    name: "x".into(),
                    ty: (**t).clone(),
                }),
                other => return Err(format!("map over a {other}")),
            }
        }
        let xs = self.b.open(params);
        let r = body(self, &xs)?;
        let ty = Type::array(self.b.ty(r).clone());
        let blk = self.b.close(r);
        Ok(self.b.push(
            Term::Map {
                arrays: arrays.to_vec(),
                body: blk,
            },
            ty,
            "m",
        ))
    }

    fn fold_cotangent(&mut self, op: Prim, ne: Slot, a: Slot, c: Slot) -> Result<Slot, String> {
        Rev::fold_cotangent(self, op, ne, a, c).map_err(|e| e.message)
    }

    fn sum_outer(&mut self, a: Slot, elem: Slot) -> Result<Slot, String> {
        if *self.b.ty(elem) == Type::F64 {
            return self.b.prim(Prim::Sum, &[a]);
        }
        let ne = self.b.prim(Prim::ZeroTangent, &[elem])?;
        let t = self.b.ty(ne).clone();
        let xy = self.b.open(vec![
            Param {
                name: "x".into(),
                ty: t.clone(),
            },
            Param {
                name: "y".into(),
                ty: t.clone(),
            },
        ]);
        let s = self.b.prim(Prim::AddTangent, &[xy[0], xy[1]])?;
        let body = self.b.close(s);
        Ok(self.b.push(Term::Reduce { ne, array: a, body }, t, "r"))
    }
}
