//! Sums of the rows of an array, taken through what made the rows.
//!
//! Reverse mode sums the cotangents of a row that a `map` over the rows of
//! a matrix reads (GMM's mean in `map(\x -> x - mu, xs)`): a loop adds the
//! cotangent of each row into one row of an accumulator. When those
//! cotangents come from a matrix product, the sum of its rows is the
//! product of the sum of the left factor's rows: a vector-matrix product
//! in place of a matrix product (`sum_i (A B)[i] == (sum_i A[i]) B`).
//! These rules reassociate sums, as `onehot_scatter` does (RULES.md). On
//! a matrix of no row or one row the vector-matrix product costs more than
//! the matrix product it replaces; from two rows on, less.

use super::{let_, splice, Env, Rewrite};
use crate::core::ir::{Atom, Block, Combine, Loop, LoopKind, Rhs, Stmt, Type};
use crate::opt::fuse::is_add_tangent_reduce;
use crate::opt::walk::{block_any, rhs_atoms_deep, rhs_blocks};
use crate::prim::Prim;
use crate::HashMap;

// loop acc = init for i < length(m) do (c; index_add(acc, j, neg?(m[i]))) ==
//   loop e = () for i < length(m) do (c; e);
//   let s = neg?(reduce(add_tangent, zero, m))
//   in if length(m) > 0 then index_add(init, j, s) else init
//   (j and m defined outside the loop; the statements c, such as the size
//   checks of each row, hold no bounds check, which the dead loop of
//   checks would lose, and read neither acc nor the row but for its
//   length, which is the same for every row; zero is replicate(row length, 0.0)
//   when that length is known without m, else zero_tangent(init[j]) and
//   the sum goes inside the `if`)
pub fn sum_rows_loop(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Loop(l) = &s.rhs else { return None };
    let LoopKind::For { n, index } = &l.kind else {
        return None;
    };
    let (acc, i) = (l.state.atom(), index.atom());
    let (last, rest) = l.body.stmts.split_last()?;
    let Rhs::Prim(Prim::IndexAdd, args) = &last.rhs else {
        return None;
    };
    let [target, j, added] = args[..] else { return None };
    if target != acc || l.body.result != last.binder.atom() {
        return None;
    }
    let def_in_body = |a: &Atom| rest.iter().find(|c| Atom::Var(c.binder.var) == *a);
    // The added row, `index(m, i)`, or a map negating it.
    let (row, negated) = match &def_in_body(&added)?.rhs {
        Rhs::Prim(Prim::Index, _) => (added, false),
        Rhs::Map { arrays, params, body } => {
            let ([x], [p], [st]) = (arrays.as_slice(), params.as_slice(), body.stmts.as_slice()) else {
                return None;
            };
            let negates = matches!(&st.rhs, Rhs::Prim(Prim::Neg, a) if a[..] == [p.atom()]);
            (negates && body.result == st.binder.atom()).then_some((*x, true))?
        }
        _ => return None,
    };
    let Rhs::Prim(Prim::Index, ix) = &def_in_body(&row)?.rhs else {
        return None;
    };
    let [m, at] = ix[..] else { return None };
    let outside = |a: &Atom| def_in_body(a).is_none() && *a != i && *a != acc;
    if at != i || !outside(&m) || !outside(&j) || !rows_are(env, n, &m) {
        return None;
    }
    // What stays in the loop reads neither the state nor the added row,
    // but for the row's length, which is the same for every row of `m`.
    let gone = [added, row];
    let mut stmts = Vec::new();
    let mut row_len = None;
    let mut kept = Vec::new();
    for c in rest.iter().filter(|c| !gone.contains(&c.binder.atom())) {
        let mut c = c.clone();
        if matches!(&c.rhs, Rhs::Prim(Prim::Length, a) if a[..] == [row]) {
            if row_len.is_none() {
                row_len = Some(row_length(env, s, m, &mut stmts)?);
            }
            c.rhs = Rhs::Atom(row_len?);
        }
        let mut reads_gone = false;
        rhs_atoms_deep(&c.rhs, &mut |a| reads_gone |= *a == acc || gone.contains(a));
        // The loop of checks is read by nothing: dead code elimination
        // keeps it for its size checks, but would drop a bounds check.
        if reads_gone || bounds_check(&c.rhs) {
            return None;
        }
        kept.push(c);
    }
    let ty = s.binder.ty.clone();
    let row_ty = ty.elem()?.clone();
    // The checks run in a loop of their own, which returns nothing.
    if !kept.is_empty() {
        let unit = env.fresh("e", Type::unit());
        let unit_atom = unit.atom();
        stmts.push(let_(unit, Rhs::Tuple(Vec::new()), s));
        let mut renamed = HashMap::default();
        let mut state = env.rename_binder(&l.state, &mut renamed);
        state.ty = Type::unit();
        let index = env.rename_binder(index, &mut renamed);
        let state_atom = state.atom();
        let mut body = env.rename(
            &Block {
                stmts: kept,
                result: acc,
            },
            &mut renamed,
        );
        body.result = state_atom;
        let checks = env.fresh("e", Type::unit());
        let kind = LoopKind::For { n: *n, index };
        stmts.push(let_(
            checks,
            Rhs::Loop(Loop {
                state,
                init: unit_atom,
                kind,
                body,
            }),
            s,
        ));
    }
    // The sum starts from zeros as long as the rows: where `m`'s row length
    // is known without `m`, before the test of `n`, so that the sums of
    // `m`'s terms sit beside the arrays they sum (for `fuse_reductions`).
    let u = l.init;
    let row_len = match row_len {
        Some(len) => Some(len),
        None => row_length(env, s, m, &mut stmts),
    };
    let mut outside = None;
    if let Some(len) = row_len {
        let zero = env.fresh("z", row_ty.clone());
        let zero_atom = zero.atom();
        stmts.push(let_(zero, Rhs::Prim(Prim::Replicate, vec![len, Atom::F64(0.0)]), s));
        let mut sum = row_sum(env, s, zero_atom, m, &row_ty, &mut stmts);
        if negated {
            sum = negation(env, s, sum, &row_ty, &mut stmts);
        }
        outside = Some(sum);
    }
    let ran = env.fresh("c", Type::Bool);
    let ran_atom = ran.atom();
    stmts.push(let_(ran, Rhs::Prim(Prim::Gt, vec![*n, Atom::I64(0)]), s));
    let mut then = Vec::new();
    let sum = match outside {
        Some(sum) => sum,
        None => {
            // When the loop ran, its first update checked that row j exists.
            let first = env.fresh("x", row_ty.clone());
            let first_atom = first.atom();
            then.push(let_(first, Rhs::Prim(Prim::Index, vec![u, j]), s));
            let zero = env.fresh("z", row_ty.clone());
            let zero_atom = zero.atom();
            then.push(let_(zero, Rhs::Prim(Prim::ZeroTangent, vec![first_atom]), s));
            let sum = row_sum(env, s, zero_atom, m, &row_ty, &mut then);
            if negated {
                negation(env, s, sum, &row_ty, &mut then)
            } else {
                sum
            }
        }
    };
    let sum_in = env.fresh("acc", ty.clone());
    let sum_in_atom = sum_in.atom();
    then.push(let_(sum_in, Rhs::Prim(Prim::IndexAdd, vec![u, j, sum]), s));
    let result = env.fresh("r", ty);
    let result_atom = result.atom();
    let then = Block {
        stmts: then,
        result: sum_in_atom,
    };
    stmts.push(let_(result, Rhs::If(ran_atom, then, Block::atom(u)), s));
    splice(stmts, result_atom)
}

/// True when `n` is known to be the number of rows of `m`: `length(a)`
/// for the array `a` whose rows `m`'s come from through maps, matrix
/// products and sums of tangents (which all keep the number of rows).
fn rows_are(env: &Env, n: &Atom, m: &Atom) -> bool {
    let mut a = *m;
    for _ in 0..64 {
        if env.is_length_of(n, &a) {
            return true;
        }
        a = match env.def(&a) {
            Some(Rhs::Map { arrays, .. }) => arrays[0],
            Some(Rhs::Prim(Prim::Matmul | Prim::AddTangent, args)) => args[0],
            _ => return false,
        };
    }
    false
}

/// The length of every row of `m`, computed by statements pushed onto
/// `stmts` without reading `m`: `m` a matrix product, or a sum of tangents
/// (which has its terms' shape) whose first term is one. A product's rows
/// are as long as its right factor's (none when that factor is empty).
fn row_length(env: &mut Env, s: &Stmt, m: Atom, stmts: &mut Vec<Stmt>) -> Option<Atom> {
    let mut a = m;
    let b = loop {
        a = match env.prim_def(&a)? {
            (Prim::AddTangent, [p, _]) => *p,
            (Prim::Matmul, [_, b]) => break *b,
            _ => return None,
        };
    };
    let some_atom = nonempty(env, s, b, stmts);
    let first = env.fresh("x", env.ty(&b).elem()?.clone());
    let first_atom = first.atom();
    let len = env.fresh("n", Type::I64);
    let len_atom = len.atom();
    let then = Block {
        stmts: vec![
            let_(first, Rhs::Prim(Prim::Index, vec![b, Atom::I64(0)]), s),
            let_(len, Rhs::Prim(Prim::Length, vec![first_atom]), s),
        ],
        result: len_atom,
    };
    let cols = env.fresh("n", Type::I64);
    let cols_atom = cols.atom();
    stmts.push(let_(cols, Rhs::If(some_atom, then, Block::atom(Atom::I64(0))), s));
    Some(cols_atom)
}

/// The zero it starts from and the arguments of `p`, when `s` sums from
/// zero the rows of `p(a, b)`, which nothing else reads.
fn sum_of_binary(s: &Stmt, env: &Env, p: Prim) -> Option<(Atom, Atom, Atom)> {
    let Rhs::Reduce(c) = &s.rhs else { return None };
    if !is_add_tangent_reduce(c) || !zeros(env, &c.ne) || !env.linear(&c.array) {
        return None;
    }
    match env.prim_def(&c.array)? {
        (q, [a, b]) if q == p => Some((c.ne, *a, *b)),
        _ => None,
    }
}

/// Pushes `n = length(x)` and `c = n > 0` onto `stmts`: the atom `c`.
fn nonempty(env: &mut Env, s: &Stmt, x: Atom, stmts: &mut Vec<Stmt>) -> Atom {
    let n = env.fresh("n", Type::I64);
    let n_atom = n.atom();
    stmts.push(let_(n, Rhs::Prim(Prim::Length, vec![x]), s));
    let c = env.fresh("c", Type::Bool);
    let c_atom = c.atom();
    stmts.push(let_(c, Rhs::Prim(Prim::Gt, vec![n_atom, Atom::I64(0)]), s));
    c_atom
}

/// True when `z` is zero: a zero tangent or `replicate(n, 0.0)`.
fn zeros(env: &Env, z: &Atom) -> bool {
    env.is_zero(z) || matches!(env.prim_def(z), Some((Prim::Replicate, [_, Atom::F64(x)])) if *x == 0.0)
}

/// Pushes `map(neg, x)` onto `stmts`.
fn negation(env: &mut Env, s: &Stmt, x: Atom, ty: &Type, stmts: &mut Vec<Stmt>) -> Atom {
    let p = env.fresh("x", Type::F64);
    let y = env.fresh("t", Type::F64);
    let y_atom = y.atom();
    let body = Block {
        stmts: vec![let_(y, Rhs::Prim(Prim::Neg, vec![p.atom()]), s)],
        result: y_atom,
    };
    let m = env.fresh("m", ty.clone());
    let m_atom = m.atom();
    stmts.push(let_(
        m,
        Rhs::Map {
            arrays: vec![x],
            params: vec![p],
            body,
        },
        s,
    ));
    m_atom
}

/// Pushes `reduce(add_tangent, zero, m)` onto `stmts`: the sum of the
/// rows of `m`, of type `row_ty`.
fn row_sum(env: &mut Env, s: &Stmt, zero: Atom, m: Atom, row_ty: &Type, stmts: &mut Vec<Stmt>) -> Atom {
    let acc = env.fresh("x", row_ty.clone());
    let elem = env.fresh("y", row_ty.clone());
    let sum = env.fresh("t", row_ty.clone());
    let sum_atom = sum.atom();
    let body = Block {
        stmts: vec![let_(sum, Rhs::Prim(Prim::AddTangent, vec![acc.atom(), elem.atom()]), s)],
        result: sum_atom,
    };
    let r = env.fresh("r", row_ty.clone());
    let r_atom = r.atom();
    let combine = Combine {
        ne: zero,
        array: m,
        acc,
        elem,
        body,
    };
    stmts.push(let_(r, Rhs::Reduce(combine), s));
    r_atom
}

// reduce(add_tangent, 0, add_tangent(a, b)) == add_tangent(reduce(add_tangent, 0, a), reduce(add_tangent, 0, b))
//   (after size_eq(length(a), length(b)); a or b a matrix product)
pub fn sum_rows_of_sum(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (zero, a, b) = sum_of_binary(s, env, Prim::AddTangent)?;
    // Only for a product's sake: two sums cost more than one otherwise.
    if ![a, b]
        .iter()
        .any(|x| matches!(env.prim_def(x), Some((Prim::Matmul, _))))
    {
        return None;
    }
    let row_ty = s.binder.ty.clone();
    let mut stmts = Vec::new();
    // The sum of tangents failed on terms of different numbers of rows;
    // rows of different lengths fail in the sums below.
    let mut rows = Vec::new();
    for x in [a, b] {
        let n = env.fresh("n", Type::I64);
        rows.push(n.atom());
        stmts.push(let_(n, Rhs::Prim(Prim::Length, vec![x]), s));
    }
    // In this order, its failure reads as the sum's would.
    rows.reverse();
    let same = env.fresh("n", Type::I64);
    stmts.push(let_(same, Rhs::Prim(Prim::SizeEq, rows), s));
    let ra = row_sum(env, s, zero, a, &row_ty, &mut stmts);
    let rb = row_sum(env, s, zero, b, &row_ty, &mut stmts);
    let t = env.fresh("t", row_ty);
    let result = t.atom();
    stmts.push(let_(t, Rhs::Prim(Prim::AddTangent, vec![ra, rb]), s));
    splice(stmts, result)
}

// reduce(add_tangent, 0, matmul(a, b)) ==
//   if length(a) > 0 then add_tangent(0, vecmat(reduce(add_tangent, replicate(length(b), 0.0), a), b)) else 0
pub fn sum_rows_of_product(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (ne, a, b) = sum_of_binary(s, env, Prim::Matmul)?;
    let row_ty = Type::array(Type::F64);
    let ty = s.binder.ty.clone();
    let mut stmts = Vec::new();
    let some_atom = nonempty(env, s, a, &mut stmts);
    // With rows, the neutral element is added, so that one of the wrong
    // length still fails; without, it is the sum.
    let mut then = Vec::new();
    let k = env.fresh("n", Type::I64);
    let k_atom = k.atom();
    then.push(let_(k, Rhs::Prim(Prim::Length, vec![b]), s));
    let zero = env.fresh("z", row_ty.clone());
    let zero_atom = zero.atom();
    then.push(let_(zero, Rhs::Prim(Prim::Replicate, vec![k_atom, Atom::F64(0.0)]), s));
    let ra = row_sum(env, s, zero_atom, a, &row_ty, &mut then);
    let product = env.fresh("t", ty.clone());
    let product_atom = product.atom();
    then.push(let_(product, Rhs::Prim(Prim::Vecmat, vec![ra, b]), s));
    let sum = env.fresh("t", ty.clone());
    let sum_atom = sum.atom();
    then.push(let_(sum, Rhs::Prim(Prim::AddTangent, vec![ne, product_atom]), s));
    let then = Block {
        stmts: then,
        result: sum_atom,
    };
    let result = env.fresh("r", ty);
    let result_atom = result.atom();
    stmts.push(let_(result, Rhs::If(some_atom, then, Block::atom(ne)), s));
    splice(stmts, result_atom)
}

/// True when `rhs` is or holds a bounds check.
fn bounds_check(rhs: &Rhs) -> bool {
    let check = |r: &Rhs| matches!(r, Rhs::Prim(Prim::CheckIndex | Prim::CheckSlice, _));
    check(rhs) || rhs_blocks(rhs).into_iter().any(|b| block_any(b, &check))
}
