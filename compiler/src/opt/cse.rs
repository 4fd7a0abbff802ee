//! Common subexpressions: the right-hand sides in scope while the
//! optimiser walks a function, so that `let x = e; ...; let y = e` becomes
//! `let y = x`, and the maps that apply one primitive to each element of
//! an array, which rules look up ([`super::Env::unary_map`]).
//!
//! Two right-hand sides share when they print alike (`Debug`): the same
//! primitive on the same atoms (a commutative one in either order, floats
//! compared as printed: `0.0` and `-0.0` differ, every NaN is one), or
//! combinators equal up to the names of their binders. A combinator's key
//! is the text of its whole body, so it is made only when a second
//! combinator of the same [`Shape`] is in scope: making it for every
//! combinator at every level of nesting cost time quadratic in the depth.

use super::walk;
use crate::core::ir::{Atom, LoopKind, Rhs, VarId};
use crate::diagnostics::Span;
use crate::prim::Prim;
use crate::HashMap;
use rustc_hash::FxHashMap;

/// An atom compared as it prints.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum AtomKey {
    Var(u32),
    /// The bits, every NaN's the same.
    F64(u64),
    I64(i64),
    Bool(bool),
}

fn atom_key(a: &Atom) -> AtomKey {
    match a {
        Atom::Var(v) => AtomKey::Var(v.0),
        Atom::F64(x) if x.is_nan() => AtomKey::F64(f64::NAN.to_bits()),
        Atom::F64(x) => AtomKey::F64(x.to_bits()),
        Atom::I64(n) => AtomKey::I64(*n),
        Atom::Bool(b) => AtomKey::Bool(*b),
    }
}

fn atom_keys(atoms: &[Atom]) -> Vec<AtomKey> {
    atoms.iter().map(atom_key).collect()
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Prim(Prim, Vec<AtomKey>),
    Tuple(Vec<AtomKey>),
    Proj(AtomKey, usize),
    /// A map applying the primitive alone to each element of the array.
    UnaryMap(Prim, AtomKey),
    /// A combinator's text, its binders numbered afresh from one base.
    Combinator(String),
}

/// What a combinator's key determines and is cheap to read: its kind, the
/// atoms it reads from outside, and the lengths of its blocks. Equal keys
/// have equal shapes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Shape {
    kind: u8,
    atoms: Vec<AtomKey>,
    lengths: Vec<usize>,
}

/// The key of a primitive, tuple or projection: these are pure and cheap
/// to compare. The operands of a commutative primitive are put in order,
/// so `mul(x, y)` and `mul(y, x)` share.
fn small_key(rhs: &Rhs) -> Option<Key> {
    match rhs {
        Rhs::Prim(p, args) if commutative(*p) && args.len() == 2 => {
            let mut keys = atom_keys(args);
            keys.sort();
            Some(Key::Prim(*p, keys))
        }
        Rhs::Prim(p, args) => Some(Key::Prim(*p, atom_keys(args))),
        Rhs::Tuple(items) => Some(Key::Tuple(atom_keys(items))),
        Rhs::Proj(a, i) => Some(Key::Proj(atom_key(a), *i)),
        _ => None,
    }
}

/// The shape of a combinator that may share, or `None` for a right-hand
/// side that is no such combinator.
fn shape(rhs: &Rhs) -> Option<Shape> {
    let (kind, atoms, lengths) = match rhs {
        Rhs::Map { arrays, params, body } => (0, atom_keys(arrays), vec![params.len(), body.stmts.len()]),
        Rhs::Build { n, body, .. } => (1, vec![atom_key(n)], vec![body.stmts.len()]),
        Rhs::Reduce(c) => (2, atom_keys(&[c.ne, c.array]), vec![c.body.stmts.len()]),
        Rhs::If(c, a, b) => (3, vec![atom_key(c)], vec![a.stmts.len(), b.stmts.len()]),
        Rhs::Atom(_)
        | Rhs::Prim(..)
        | Rhs::Tuple(_)
        | Rhs::Proj(..)
        | Rhs::Array(..)
        | Rhs::Call(..)
        | Rhs::Loop(_)
        | Rhs::Scan(_)
        | Rhs::Deriv { .. } => return None,
    };
    Some(Shape { kind, atoms, lengths })
}

/// A combinator's key: equal up to the names of its binders.
fn combinator_key(rhs: &Rhs) -> Key {
    let mut canonical = rhs.clone();
    walk::rename_nested(&mut canonical, &mut HashMap::default(), &mut (1 << 30));
    forget_names_and_spans(&mut canonical);
    Key::Combinator(format!("{canonical:?}"))
}

/// Blanks what the text of `rhs` holds beside its meaning: the printing
/// names of the binders inside it and the source spans of its statements.
/// Two transposed maps from different places in the source are the same
/// map, as two primitives are whatever their spans ([`small_key`]).
fn forget_names_and_spans(rhs: &mut Rhs) {
    match rhs {
        Rhs::Map { params, .. } => params.iter_mut().for_each(|p| p.name.clear()),
        Rhs::Build { index, .. } => index.name.clear(),
        Rhs::Reduce(c) | Rhs::Scan(c) => {
            c.acc.name.clear();
            c.elem.name.clear();
        }
        Rhs::Loop(l) => {
            l.state.name.clear();
            if let LoopKind::For { index, .. } = &mut l.kind {
                index.name.clear();
            }
        }
        _ => {}
    }
    for (block, _) in walk::rhs_blocks_mut(rhs) {
        for stmt in &mut block.stmts {
            stmt.binder.name.clear();
            stmt.span = Span::default();
            forget_names_and_spans(&mut stmt.rhs);
        }
    }
}

/// True when `p(a, b) == p(b, a)`, bit for bit (IEEE addition and
/// multiplication are commutative; `min`/`max` treat NaN and signed zeros
/// symmetrically).
fn commutative(p: Prim) -> bool {
    // `size_eq(a, b)` passes only when `a == b`, and then its value is
    // that size whichever order: a second check in the other order is the
    // same check (only the wording of a failure differs, and the first
    // failure ends the run).
    matches!(
        p,
        Prim::Add
            | Prim::Mul
            | Prim::Min
            | Prim::Max
            | Prim::Eq
            | Prim::Ne
            | Prim::And
            | Prim::Or
            | Prim::AddTangent
            | Prim::SizeEq
    )
}

/// What a scope added, undone when it ends.
enum Logged {
    Key(Key),
    Combinator(Key, Shape),
    Pending(Shape),
}

/// The right-hand sides in scope, by key.
#[derive(Default)]
pub struct Available {
    keys: FxHashMap<Key, VarId>,
    log: Vec<Logged>,
    /// The one combinator of a shape in scope whose key is not made yet,
    /// with its place in the log.
    pending: FxHashMap<Shape, (VarId, usize)>,
    /// How many combinators of each shape have their key in `keys`.
    made: FxHashMap<Shape, usize>,
}

impl Available {
    /// Where the current scope starts.
    pub fn mark(&self) -> usize {
        self.log.len()
    }

    /// Ends the scope that started at `mark`.
    pub fn release(&mut self, mark: usize) {
        for entry in self.log.drain(mark..) {
            match entry {
                Logged::Key(key) => {
                    self.keys.remove(&key);
                }
                Logged::Combinator(key, shape) => {
                    self.keys.remove(&key);
                    if let Some(n) = self.made.get_mut(&shape) {
                        *n -= 1;
                    }
                }
                Logged::Pending(shape) => {
                    self.pending.remove(&shape);
                }
            }
        }
    }

    /// The variable already bound to the value of `rhs`, or `None` after
    /// recording that `var` is. `defs` holds the right-hand side of every
    /// variable in scope.
    pub fn share(&mut self, rhs: &Rhs, var: VarId, defs: &FxHashMap<VarId, (Rhs, usize)>) -> Option<VarId> {
        if let Some(key) = small_key(rhs) {
            if let Some(&v) = self.keys.get(&key) {
                return Some(v);
            }
            self.keys.insert(key.clone(), var);
            self.log.push(Logged::Key(key));
            return None;
        }
        let shape = shape(rhs)?;
        // A second combinator of this shape: the first one's key is due.
        if let Some((first, at)) = self.pending.remove(&shape) {
            let key = combinator_key(&defs[&first].0);
            self.keys.insert(key.clone(), first);
            self.log[at] = Logged::Combinator(key, shape.clone());
            *self.made.entry(shape.clone()).or_insert(0) += 1;
        }
        if self.made.get(&shape).copied().unwrap_or(0) == 0 {
            self.pending.insert(shape.clone(), (var, self.log.len()));
            self.log.push(Logged::Pending(shape));
            return None;
        }
        let key = combinator_key(rhs);
        if let Some(&v) = self.keys.get(&key) {
            return Some(v);
        }
        self.keys.insert(key.clone(), var);
        self.log.push(Logged::Combinator(key, shape.clone()));
        *self.made.entry(shape).or_insert(0) += 1;
        None
    }

    /// Records `var` as a map applying one primitive to each element of an
    /// array, when `rhs` is one.
    pub fn add_unary_map(&mut self, rhs: &Rhs, var: VarId) {
        let Rhs::Map { arrays, params, body } = rhs else {
            return;
        };
        let ([a], [y], [st]) = (arrays.as_slice(), params.as_slice(), body.stmts.as_slice()) else {
            return;
        };
        if let Rhs::Prim(p, args) = &st.rhs {
            if args[..] == [y.atom()] && body.result == st.binder.atom() {
                let key = Key::UnaryMap(*p, atom_key(a));
                self.keys.insert(key.clone(), var);
                self.log.push(Logged::Key(key));
            }
        }
    }

    /// A map in scope that applies `p` alone to each element of `a`.
    pub fn unary_map(&self, p: Prim, a: &Atom) -> Option<VarId> {
        self.keys.get(&Key::UnaryMap(p, atom_key(a))).copied()
    }
}
