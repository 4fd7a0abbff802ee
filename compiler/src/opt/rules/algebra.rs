//! Scalar algebra: constant folding, identities of 0 and 1, symbolic zero
//! tangents and their sums.
//!
//! Exactness: every rule here is exact under IEEE 754 except that some
//! identify `0.0` with `-0.0` (`x + 0.0 == x`), and the symbolic-zero
//! rules, which follow the derivative convention that a zero tangent
//! annihilates any factor, inf and NaN included (see RULES.md).

use super::{atom, let_, splice, Env, Rewrite};
use crate::core::ir::{Atom, Block, Loop, LoopKind, Rhs, Stmt, Type};
use crate::core::value::Value;
use crate::opt::walk::rhs_atoms_deep;
use crate::prim::Prim;
use crate::HashMap;

fn is_lit(a: &Atom, x: f64) -> bool {
    match a {
        Atom::F64(y) => *y == x,
        Atom::I64(n) => *n as f64 == x,
        Atom::Var(_) | Atom::Bool(_) => false,
    }
}

fn binary(s: &Stmt, prim: Prim) -> Option<(Atom, Atom)> {
    match &s.rhs {
        Rhs::Prim(p, args) if *p == prim && args.len() == 2 => Some((args[0], args[1])),
        _ => None,
    }
}

fn unary(s: &Stmt, prim: Prim) -> Option<Atom> {
    match &s.rhs {
        Rhs::Prim(p, args) if *p == prim && args.len() == 1 => Some(args[0]),
        _ => None,
    }
}

fn literal(v: &Value) -> Option<Atom> {
    match v {
        Value::F64(x) => Some(Atom::F64(*x)),
        Value::I64(n) => Some(Atom::I64(*n)),
        Value::Bool(b) => Some(Atom::Bool(*b)),
        Value::Array(_) | Value::Tuple(_) => None,
    }
}

fn value(a: &Atom) -> Option<Value> {
    match a {
        Atom::F64(x) => Some(Value::F64(*x)),
        Atom::I64(n) => Some(Value::I64(*n)),
        Atom::Bool(b) => Some(Value::Bool(*b)),
        Atom::Var(_) => None,
    }
}

// p(c1, .., cn) == c   (literal arguments, a scalar result, no error)
pub fn const_fold(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    let Rhs::Prim(p, args) = &s.rhs else { return None };
    if *p == Prim::ZeroTangent || args.is_empty() {
        return None;
    }
    // Only a scalar result becomes a literal: an array result (`iota(n)`,
    // `replicate(n, x)`) is not computed here, where a large literal size
    // would cost the memory of the whole array, or more than there is.
    if !matches!(s.binder.ty, Type::F64 | Type::I64 | Type::Bool) {
        return None;
    }
    let values: Vec<Value> = args.iter().map(value).collect::<Option<_>>()?;
    let result = p.eval_typed(&values, &s.binder.ty).ok()?;
    literal(&result).and_then(atom)
}

// zero_tangent(x) == ()   (x without f64 in its type)
pub fn zero_tangent_nondiff(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let x = unary(s, Prim::ZeroTangent)?;
    if env.ty(&x).has_f64() {
        None
    } else {
        Some(Rewrite::Rhs(Rhs::Tuple(Vec::new())))
    }
}

// zero_tangent(x: f64) == 0.0   (second phase: the symbolic zero ends)
pub fn zero_tangent_f64(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let x = unary(s, Prim::ZeroTangent)?;
    (env.ty(&x) == Type::F64).then_some(())?;
    atom(Atom::F64(0.0))
}

/// A zero to add: the literal 0 of an integer, or an f64 zero.
fn additive_zero(env: &Env, a: &Atom) -> bool {
    is_lit(a, 0.0) || (env.ty(a) == Type::F64 && env.is_symbolic_zero(a))
}

// x + 0 == x;  0 + x == x   (f64: up to the sign of zero)
pub fn add_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::Add)?;
    if additive_zero(env, &b) {
        atom(a)
    } else if additive_zero(env, &a) {
        atom(b)
    } else {
        None
    }
}

// x - 0 == x
pub fn sub_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::Sub)?;
    additive_zero(env, &b).then_some(())?;
    atom(a)
}

// 0 - x == neg(x)   (f64: up to the sign of zero)
pub fn zero_sub(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::Sub)?;
    additive_zero(env, &a).then_some(())?;
    Some(Rewrite::Rhs(Rhs::Prim(Prim::Neg, vec![b])))
}

// x * 1 == x;  1 * x == x
pub fn mul_one(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::Mul)?;
    if is_lit(&b, 1.0) {
        atom(a)
    } else if is_lit(&a, 1.0) {
        atom(b)
    } else {
        None
    }
}

// pow(x, 1.0) == x   (exact for every x, NaN and infinities included)
pub fn pow_one(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::Pow)?;
    (is_lit(&b, 1.0) && env.ty(&a) == crate::core::ir::Type::F64).then_some(())?;
    atom(a)
}

// x * 0 == 0;  0 * x == 0   (i64 only: on f64, inf * 0.0 is NaN)
pub fn mul_zero_i64(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::Mul)?;
    (a == Atom::I64(0) || b == Atom::I64(0)).then_some(())?;
    atom(Atom::I64(0))
}

// x * z == z;  z * x == z   (z a symbolic zero tangent)
pub fn mul_symbolic_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::Mul)?;
    if env.is_symbolic_zero(&b) {
        atom(b)
    } else if env.is_symbolic_zero(&a) {
        atom(a)
    } else {
        None
    }
}

// x / 1 == x
pub fn div_one(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::Div)?;
    is_lit(&b, 1.0).then_some(())?;
    atom(a)
}

// z / x == z   (z a symbolic zero tangent)
pub fn div_symbolic_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, _) = binary(s, Prim::Div)?;
    env.is_symbolic_zero(&a).then_some(())?;
    atom(a)
}

// neg(neg(x)) == x
pub fn neg_neg(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let x = unary(s, Prim::Neg)?;
    match env.prim_def(&x) {
        Some((Prim::Neg, [y])) => atom(*y),
        _ => None,
    }
}

// neg(z) == z   (z a symbolic zero tangent)
pub fn neg_symbolic_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let x = unary(s, Prim::Neg)?;
    env.is_symbolic_zero(&x).then_some(())?;
    atom(x)
}

// not(not(b)) == b
pub fn not_not(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let x = unary(s, Prim::Not)?;
    match env.prim_def(&x) {
        Some((Prim::Not, [y])) => atom(*y),
        _ => None,
    }
}

// b && true == b;  b && false == false;  b || false == b;  b || true == true
pub fn and_or_literal(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    let Rhs::Prim(p @ (Prim::And | Prim::Or), args) = &s.rhs else {
        return None;
    };
    let unit = *p == Prim::And; // the neutral element
    let (lit, other) = match (args[0], args[1]) {
        (Atom::Bool(l), o) | (o, Atom::Bool(l)) => (l, o),
        _ => return None,
    };
    if lit == unit {
        atom(other)
    } else {
        atom(Atom::Bool(lit))
    }
}

// to_f64(x: f64) == x;  to_i64(x: i64) == x
pub fn convert_same(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Prim(p @ (Prim::ToF64 | Prim::ToI64), args) = &s.rhs else {
        return None;
    };
    let same = match p {
        Prim::ToF64 => Type::F64,
        _ => Type::I64,
    };
    (env.ty(&args[0]) == same).then_some(())?;
    atom(args[0])
}

// size_eq(n, n) == n
pub fn size_eq_same(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::SizeEq)?;
    (a == b).then_some(())?;
    atom(a)
}

// check_index(i, n) == i   (i the index of an enclosing build or for loop over n)
pub fn check_index_in_range(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (i, n) = binary(s, Prim::CheckIndex)?;
    env.index_in_range(&i, &n).then_some(())?;
    atom(i)
}

// add_tangent(x, 0) == x;  add_tangent(0, x) == x
pub fn add_tangent_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::AddTangent)?;
    // A zero of arrays of another length than `x` makes the original fail;
    // the rewrite then succeeds, which RULES.md allows.
    if env.is_zero(&b) {
        atom(a)
    } else if env.is_zero(&a) {
        atom(b)
    } else {
        None
    }
}

// add_tangent(acc, index_add(0, i, v)) == index_add(acc, i, v);  add_tangent(index_add(0, i, v), acc) == index_add(acc, i, v)
pub fn add_tangent_onehot(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::AddTangent)?;
    // What reverse mode emits for `a[i]` read in a loop body: adding a
    // one-hot array into the accumulated cotangent, O(length) per
    // iteration where the update itself is O(1). As in `add_tangent_zero`,
    // a zero of another length makes the original fail, not the rewrite.
    let onehot = |x: &Atom| match env.prim_def(x) {
        Some((Prim::IndexAdd, [z, i, v])) if env.is_zero(z) => Some((*i, *v)),
        _ => None,
    };
    let (acc, (i, v)) = match (onehot(&b), onehot(&a)) {
        (Some(iv), _) => (a, iv),
        (None, Some(iv)) => (b, iv),
        (None, None) => return None,
    };
    Some(Rewrite::Rhs(Rhs::Prim(Prim::IndexAdd, vec![acc, i, v])))
}

// add_tangent(x, index_add(y, i, v)) == index_add(add_tangent(x, y), i, v), likewise slice_add and either order
//   (the update read only here)
pub fn add_tangent_update(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::AddTangent)?;
    // A chain of updates of a zero, added to an accumulator, becomes the
    // same updates of the accumulator: in place, without the zero.
    let update = |x: &Atom| match env.prim_def(x) {
        Some((p @ (Prim::IndexAdd | Prim::SliceAdd), [y, i, v])) if env.linear(x) => Some((p, *y, *i, *v)),
        _ => None,
    };
    let (acc, (p, y, i, v)) = match (update(&b), update(&a)) {
        (Some(u), _) => (a, u),
        (None, Some(u)) => (b, u),
        (None, None) => return None,
    };
    let sum = env.fresh("t", s.binder.ty.clone());
    let out = env.fresh("t", s.binder.ty.clone());
    let result = out.atom();
    splice(
        vec![
            let_(sum.clone(), Rhs::Prim(Prim::AddTangent, vec![acc, y]), s),
            let_(out, Rhs::Prim(p, vec![sum.atom(), i, v]), s),
        ],
        result,
    )
}

// add_tangent(x, loop s = 0 for j < n do index_add(s, i, v)) == loop s = x for j < n do index_add(s, i, v), either order
//   (the loop read only there; its body passes the state only through updates)
pub fn add_tangent_loop(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::AddTangent)?;
    // What reverse mode makes of `a[i]` read in the body of a loop inside
    // another loop's body: the inner loop adds its terms into a zero array,
    // which is then added whole to the outer accumulator, O(length) per
    // outer iteration and a write of the whole accumulator. Started from
    // the accumulator, the inner loop updates it in place.
    let zero_updates = |x: &Atom| match env.def(x) {
        Some(Rhs::Loop(l))
            if matches!(l.kind, LoopKind::For { .. }) && env.linear(x) && env.is_zero(&l.init) && updates_only(l) =>
        {
            Some(l.clone())
        }
        _ => None,
    };
    let (acc, l, inner) = match (zero_updates(&b), zero_updates(&a)) {
        (Some(l), _) => (a, l, b),
        (None, Some(l)) => (b, l, a),
        (None, None) => return None,
    };
    // A fresh copy, with the original's checks: the original dies.
    env.consume(&inner);
    let mut renamed = HashMap::default();
    let state = env.rename_binder(&l.state, &mut renamed);
    let LoopKind::For { n, index } = &l.kind else {
        return None;
    };
    let index = env.rename_binder(index, &mut renamed);
    let body = env.rename(&l.body, &mut renamed);
    Some(Rewrite::Rhs(Rhs::Loop(Loop {
        state,
        init: acc,
        kind: LoopKind::For { n: *n, index },
        body,
    })))
}

/// True when the body of `l` reads its state only as the array that a
/// chain of `index_add` and `slice_add` updates, whose last is the result:
/// the loop then adds the same terms to whatever array it starts from.
fn updates_only(l: &Loop) -> bool {
    let mut current = Atom::Var(l.state.var);
    for stmt in &l.body.stmts {
        let mut reads = 0;
        rhs_atoms_deep(&stmt.rhs, &mut |a| reads += usize::from(*a == current));
        match &stmt.rhs {
            Rhs::Prim(Prim::IndexAdd | Prim::SliceAdd, args) if args[0] == current && reads == 1 => {
                current = Atom::Var(stmt.binder.var);
            }
            _ if reads == 0 => {}
            _ => return false,
        }
    }
    l.body.result == current
}

// add_tangent(x: f64, y) == add(x, y)
pub fn add_tangent_f64(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::AddTangent)?;
    (env.ty(&a) == Type::F64).then_some(())?;
    Some(Rewrite::Rhs(Rhs::Prim(Prim::Add, vec![a, b])))
}

// add_tangent(a, a) == map(\x -> add_tangent(x, x), a)   (a an array)
pub fn add_tangent_twice(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::AddTangent)?;
    // Reverse mode's cotangent of an array read twice (`dot(r, r)`): as a
    // map it fuses with the map that makes `a`, which the sum did not.
    let elem = match env.ty(&a) {
        Type::Array(elem) if a == b => *elem,
        _ => return None,
    };
    let x = env.fresh("x", elem.clone());
    let y = env.fresh("t", elem);
    let body = Block {
        result: y.atom(),
        stmts: vec![let_(y, Rhs::Prim(Prim::AddTangent, vec![x.atom(), x.atom()]), s)],
    };
    Some(Rewrite::Rhs(Rhs::Map {
        arrays: vec![a],
        params: vec![x],
        body,
    }))
}

// add_tangent((a0, .., an), (b0, .., bn)) == (add_tangent(a0, b0), .., add_tangent(an, bn))
pub fn add_tangent_tuple(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, b) = binary(s, Prim::AddTangent)?;
    let (Some(Rhs::Tuple(xs)), Some(Rhs::Tuple(ys))) = (env.def(&a), env.def(&b)) else {
        return None;
    };
    let (xs, ys) = (xs.clone(), ys.clone());
    let Type::Tuple(tys) = s.binder.ty.clone() else {
        return None;
    };
    let mut stmts = Vec::new();
    let mut fields = Vec::new();
    for ((x, y), ty) in xs.iter().zip(&ys).zip(tys) {
        let sum = env.fresh("t", ty);
        fields.push(sum.atom());
        stmts.push(let_(sum, Rhs::Prim(Prim::AddTangent, vec![*x, *y]), s));
    }
    let tuple = env.fresh("t", s.binder.ty.clone());
    let result = tuple.atom();
    stmts.push(let_(tuple, Rhs::Tuple(fields), s));
    splice(stmts, result)
}

// sum(zero_tangent(a)) == 0.0
pub fn sum_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let a = unary(s, Prim::Sum)?;
    (s.binder.ty == Type::F64 && env.is_symbolic_zero(&a)).then_some(())?;
    atom(Atom::F64(0.0))
}

// index(zero_tangent(a), i) == zero_tangent(index(a, i))
pub fn index_zero(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (z, i) = binary(s, Prim::Index)?;
    let (Prim::ZeroTangent, [a]) = env.prim_def(&z)? else {
        return None;
    };
    let a = *a;
    let elem = env.ty(&a).elem()?.clone();
    let x = env.fresh("x", elem);
    let zero = env.fresh("z", s.binder.ty.clone());
    let result = zero.atom();
    let stmts = vec![
        let_(x.clone(), Rhs::Prim(Prim::Index, vec![a, i]), s),
        let_(zero, Rhs::Prim(Prim::ZeroTangent, vec![x.atom()]), s),
    ];
    splice(stmts, result)
}
