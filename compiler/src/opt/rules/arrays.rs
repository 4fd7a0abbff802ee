//! Arrays: lengths, indexing into arrays whose elements are known, fusion
//! of combinators, and the sums of one-hot contributions that reverse mode
//! emits.
//!
//! A rule that copies the body of a combinator to its use requires the
//! combinator's result to be *linear* there ([`Env::linear`]: read once, at
//! the same depth of repetition), so that the combinator dies and no work
//! is repeated; a body with no statement is free to copy.

use super::{atom, let_, splice, Env, Rewrite};
use crate::core::ir::{Atom, Block, LoopKind, Rhs, Stmt, Type, VarId};
use crate::opt::cost::transcendental;
use crate::opt::fuse::is_add_tangent_reduce;
use crate::opt::walk::block_uses;
use crate::prim::Prim;
use crate::HashMap;

fn binary(s: &Stmt, prim: Prim) -> Option<(Atom, Atom)> {
    match &s.rhs {
        Rhs::Prim(p, args) if *p == prim && args.len() == 2 => Some((args[0], args[1])),
        _ => None,
    }
}

fn length(a: Atom) -> Option<Rewrite> {
    Some(Rewrite::Rhs(Rhs::Prim(Prim::Length, vec![a])))
}

// length(map(f, a, ..)) == length(a);  length(build(n, f)) == n;  length(iota(n)) == n; ..
// length(s) == length(init)   (s a loop state that keeps its initial length, see `opt/lengths.rs`)
pub fn length_of(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Prim(Prim::Length, args) = &s.rhs else {
        return None;
    };
    if let Some(init) = env.same_length(&args[0]) {
        return length(init);
    }
    match env.def(&args[0])? {
        Rhs::Map { arrays, .. } => length(arrays[0]),
        Rhs::Build { n, .. } => atom(*n),
        Rhs::Scan(c) => length(c.array),
        Rhs::Array(items, _) => atom(Atom::I64(items.len() as i64)),
        Rhs::Prim(p, xs) => match p {
            Prim::Iota | Prim::Replicate => atom(xs[0]),
            Prim::Reverse
            | Prim::ZeroTangent
            | Prim::AddTangent
            | Prim::IndexAdd
            | Prim::SliceAdd
            | Prim::StopGradient
            | Prim::Outer
            | Prim::Matmul
            | Prim::Matvec => length(xs[0]),
            Prim::Slice => Some(Rewrite::Rhs(Rhs::Prim(Prim::Sub, vec![xs[2], xs[1]]))),
            _ => None,
        },
        _ => None,
    }
}

// index(build(n, \i -> e), j) == e[check_index(j, n)/i]
//   (the build read only there, at the same depth or at the index j of a loop over n beside it)
pub fn index_build(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (b, j) = binary(s, Prim::Index)?;
    let Some(Rhs::Build { n, index, body }) = env.def(&b) else {
        return None;
    };
    let (n, index, body) = (*n, index.clone(), body.clone());
    // Read at its own index by a loop over the same elements, the build
    // computes each element in that element's iteration instead, checks
    // included: no work repeats, and the array goes.
    if env.once_per_index(&b, &j, &n) {
        env.consume(&b);
    } else if !(env.linear(&b) || body.stmts.is_empty()) {
        return None;
    }
    // The index is still checked: the rewrite must not hide an error.
    let checked = env.fresh("j", Type::I64);
    let mut map = HashMap::from_iter([(index.var, checked.atom())]);
    let body = env.rename(&body, &mut map);
    let mut stmts = vec![let_(checked, Rhs::Prim(Prim::CheckIndex, vec![j, n]), s)];
    stmts.extend(body.stmts);
    splice(stmts, body.result)
}

// map(\x .. -> ..; let t = p(x); .., a, ..) == map(\x .. y -> ..; let t = y; .., a, .., m)
//   (m = map(\z -> p(z), a) in scope and read elsewhere, p transcendental)
pub fn map_reuse(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Map { arrays, params, body } = &s.rhs else {
        return None;
    };
    // Reverse mode recomputes p(x) for the derivative of a map p over a
    // (sigmoid'(x) = s(1 - s)) where the forward map's elements are there.
    let (pos, m) = body.stmts.iter().enumerate().find_map(|(pos, st)| match &st.rhs {
        Rhs::Prim(p, args) if args.len() == 1 && transcendental(*p) => {
            let k = params.iter().position(|x| x.atom() == args[0])?;
            let m = env.unary_map(*p, &arrays[k])?;
            // A map no one else reads would rather fuse into this one.
            (m != s.binder.atom() && env.uses(&m) > 0).then_some((pos, m))
        }
        _ => None,
    })?;
    let y = env.fresh("y", body.stmts[pos].binder.ty.clone());
    let mut body = body.clone();
    body.stmts[pos].rhs = Rhs::Atom(y.atom());
    let (mut arrays, mut params) = (arrays.clone(), params.clone());
    arrays.push(m);
    params.push(y);
    Some(Rewrite::Rhs(Rhs::Map { arrays, params, body }))
}

// index(map(\x y -> e, a, b), j) == e[a[j]/x, b[j]/y]
//   (the map read only there, at the same depth, or in the loop beside it
//   at that loop's index shifted by a constant when e cannot fail)
pub fn index_map(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (m, j) = binary(s, Prim::Index)?;
    let Some(Rhs::Map { arrays, params, body }) = env.def(&m) else {
        return None;
    };
    // Read once per iteration of the loop beside it, the map computes each
    // element read where it is read, and no other: those it skips cannot
    // fail, so no error is lost.
    let per_iteration = env.read_once_per_iteration(&m, &j) && cannot_fail(body);
    if !(env.linear(&m) || body.stmts.is_empty() || per_iteration) {
        return None;
    }
    let (arrays, params, body) = (arrays.clone(), params.clone(), body.clone());
    let mut map = HashMap::default();
    let mut stmts = Vec::new();
    for (a, p) in arrays.iter().zip(&params) {
        let x = env.rename_binder(p, &mut map);
        stmts.push(let_(x, Rhs::Prim(Prim::Index, vec![*a, j]), s));
    }
    let body = env.rename(&body, &mut map);
    stmts.extend(body.stmts);
    splice(stmts, body.result)
}

// build(n, \i -> a[i]) == a   (n the length of a)
pub fn build_identity(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Build { n, index, body } = &s.rhs else {
        return None;
    };
    let [read] = body.stmts.as_slice() else {
        return None;
    };
    match &read.rhs {
        Rhs::Prim(Prim::Index, args)
            if args[1] == Atom::Var(index.var)
                && body.result == Atom::Var(read.binder.var)
                && env.is_length_of(n, &args[0]) =>
        {
            atom(args[0])
        }
        _ => None,
    }
}

// build(n, \i -> if i == e then x else r) == index_set(build(n, \i -> r), e, x)   when 0 <= e < n,
//                                          == build(n, \i -> r)                      otherwise
//   (e and x independent of i; r total, for it is now computed at e too, and overwritten)
pub fn build_update(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Build { n, index, body } = &s.rhs else {
        return None;
    };
    if let Type::Array(elem) = &s.binder.ty {
        if holds_array(elem) {
            return build_row_updates(s, env);
        }
    }
    let (e, then, rest) = index_test(body, index.var)?;
    if !total_at(rest, index.var, n, env) {
        return None;
    }
    let (n, ty) = (*n, s.binder.ty.clone());
    let others = env.fresh("b", ty.clone());
    let build = Rhs::Build {
        n,
        index: index.clone(),
        body: rest.clone(),
    };
    let mut stmts = vec![let_(others.clone(), build, s)];
    let (set, result) = set_in_range(env, s, others.atom(), e, n, then, ty);
    stmts.extend(set);
    splice(stmts, result)
}

/// Statements that give `index_set(a, e, x)` when `0 <= e < n` and `a`
/// otherwise, where `then` computes `x` (run only in range), and the atom
/// they give. The test goes when `e` is an enclosing index over `n`.
fn set_in_range(env: &mut Env, s: &Stmt, a: Atom, e: Atom, n: Atom, then: &Block, ty: Type) -> (Vec<Stmt>, Atom) {
    let updated = env.fresh("u", ty.clone());
    let mut set_stmts = then.stmts.clone();
    set_stmts.push(let_(
        updated.clone(),
        Rhs::Prim(Prim::IndexSet, vec![a, e, then.result]),
        s,
    ));
    if env.index_in_range(&e, &n) {
        return (set_stmts, updated.atom());
    }
    let (low, high, inside) = (
        env.fresh("lo", Type::Bool),
        env.fresh("hi", Type::Bool),
        env.fresh("inb", Type::Bool),
    );
    let out = env.fresh("r", ty);
    let result = out.atom();
    let stmts = vec![
        let_(low.clone(), Rhs::Prim(Prim::Le, vec![Atom::I64(0), e]), s),
        let_(high.clone(), Rhs::Prim(Prim::Lt, vec![e, n]), s),
        let_(inside.clone(), Rhs::Prim(Prim::And, vec![low.atom(), high.atom()]), s),
        let_(
            out,
            Rhs::If(
                inside.atom(),
                Block {
                    stmts: set_stmts,
                    result: updated.atom(),
                },
                Block::atom(a),
            ),
            s,
        ),
    ];
    (stmts, result)
}

/// When `body` is `let c = (i == e); if c then x else r` (either operand
/// order), with `x` reading neither `i` nor `c` and `r` not reading `c`:
/// `e`, `x` and `r`.
fn index_test(body: &Block, i: VarId) -> Option<(Atom, &Block, &Block)> {
    let [test, branch] = body.stmts.as_slice() else {
        return None;
    };
    let index = Atom::Var(i);
    let e = match &test.rhs {
        Rhs::Prim(Prim::Eq, args) if args[0] == index && args[1] != index => args[1],
        Rhs::Prim(Prim::Eq, args) if args[1] == index && args[0] != index => args[0],
        _ => return None,
    };
    let Rhs::If(cond, then, rest) = &branch.rhs else {
        return None;
    };
    let c = test.binder.var;
    let fits = *cond == Atom::Var(c)
        && body.result == Atom::Var(branch.binder.var)
        && !block_uses(then, i)
        && !block_uses(then, c)
        && !block_uses(rest, c);
    fits.then_some((e, then, rest))
}

/// True when a value of type `t` holds an array, so has sizes.
fn holds_array(t: &Type) -> bool {
    match t {
        Type::Array(_) => true,
        Type::Tuple(ts) => ts.iter().any(holds_array),
        Type::F64 | Type::I64 | Type::Bool => false,
    }
}

/// The updates of a `build` over the rows of `a`: its body tests
/// `i == e1`, `i == e2`, .. in turn and gives `x1`, `x2`, .., else `a[i]`.
/// The tests' values and the branches' blocks, and `a`.
fn update_chain(body: &Block, i: VarId) -> Option<(Vec<(Atom, Block)>, Atom)> {
    let mut updates = Vec::new();
    let mut block = body;
    loop {
        match block.stmts.as_slice() {
            [_, _] => {
                let (e, then, rest) = index_test(block, i)?;
                updates.push((e, then.clone()));
                block = rest;
            }
            [read] => {
                return match &read.rhs {
                    Rhs::Prim(Prim::Index, args)
                        if args[1] == Atom::Var(i)
                            && block.result == Atom::Var(read.binder.var)
                            && !updates.is_empty() =>
                    {
                        Some((updates, args[0]))
                    }
                    _ => None,
                };
            }
            _ => return None,
        }
    }
}

/// `build_update` for arrays of arrays, whose rows have sizes: a chain
/// `build(n, \i -> if i == e1 then x1 else .. if i == ek then xk else a[i])`
/// with `n` the length of `a` is `a` with rows `ek`, .., `e1` set (those in
/// range; the first test wins) when `n > k`. Some row of `a` is then an
/// element too, so the build is regular exactly when every `xj` has the
/// sizes of `a`'s rows, as `index_set` checks. With `n <= k` every row may
/// be replaced and the `xj` need only agree with each other: the build
/// stays, its tests turned into `i != ej` (which this rule leaves alone).
fn build_row_updates(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Build { n, index, body } = &s.rhs else {
        return None;
    };
    let n = *n;
    let (updates, a) = update_chain(body, index.var)?;
    if !env.is_length_of(&n, &a) {
        return None;
    }
    let ty = s.binder.ty.clone();
    let mut set_stmts = Vec::new();
    let mut current = a;
    for (e, then) in updates.iter().rev() {
        let (set, next) = set_in_range(env, s, current, *e, n, then, ty.clone());
        set_stmts.extend(set);
        current = next;
    }
    // The build itself, for `n <= k`, renamed apart and with its tests
    // negated.
    let mut map = HashMap::default();
    let fallback_index = env.rename_binder(index, &mut map);
    let mut fallback_body = env.rename(body, &mut map);
    negate_chain(&mut fallback_body);
    let fallback = env.fresh("b", ty.clone());
    let fallback_result = fallback.atom();
    let many = env.fresh("many", Type::Bool);
    let out = env.fresh("r", ty);
    let result = out.atom();
    splice(
        vec![
            let_(
                many.clone(),
                Rhs::Prim(Prim::Lt, vec![Atom::I64(updates.len() as i64), n]),
                s,
            ),
            let_(
                out,
                Rhs::If(
                    many.atom(),
                    Block {
                        stmts: set_stmts,
                        result: current,
                    },
                    Block {
                        stmts: vec![let_(
                            fallback,
                            Rhs::Build {
                                n,
                                index: fallback_index,
                                body: fallback_body,
                            },
                            s,
                        )],
                        result: fallback_result,
                    },
                ),
                s,
            ),
        ],
        result,
    )
}

/// Turns the chain of `update_chain` into the same chain with `i != e`
/// tests and the branches swapped.
fn negate_chain(block: &mut Block) {
    let [test, branch] = block.stmts.as_mut_slice() else {
        return;
    };
    if let Rhs::Prim(p @ Prim::Eq, _) = &mut test.rhs {
        *p = Prim::Ne;
    }
    if let Rhs::If(_, then, rest) = &mut branch.rhs {
        std::mem::swap(then, rest);
        negate_chain(then);
    }
}

/// True when `block`, in a `build` over `n` with index `i`, cannot fail
/// for any `i` in `0..n`: arithmetic, comparisons, tuples, branches, and
/// reads at `i` of arrays of length `n`.
fn total_at(block: &Block, i: VarId, n: &Atom, env: &Env) -> bool {
    block.stmts.iter().all(|st| match &st.rhs {
        Rhs::Atom(_) | Rhs::Tuple(_) | Rhs::Proj(..) => true,
        Rhs::Prim(Prim::Index, args) => args[1] == Atom::Var(i) && env.is_length_of(n, &args[0]),
        Rhs::Prim(p, _) => {
            matches!(
                p,
                Prim::Eq | Prim::Ne | Prim::Lt | Prim::Le | Prim::Gt | Prim::Ge | Prim::And | Prim::Or | Prim::Not
            ) || (st.binder.ty == Type::F64 && float_total(*p))
        }
        Rhs::If(_, a, b) => total_at(a, i, n, env) && total_at(b, i, n, env),
        _ => false,
    })
}

/// True when a block is float arithmetic and elementary functions alone,
/// which give a value (perhaps NaN or infinite) and never fail.
fn cannot_fail(body: &Block) -> bool {
    body.stmts.iter().all(|st| {
        st.binder.ty == Type::F64
            && match &st.rhs {
                Rhs::Atom(_) => true,
                Rhs::Prim(p, _) => float_total(*p),
                _ => false,
            }
    })
}

/// True when `p` on floats gives a value (perhaps NaN or infinite) and
/// never fails.
fn float_total(p: Prim) -> bool {
    matches!(
        p,
        Prim::Add
            | Prim::Sub
            | Prim::Mul
            | Prim::Div
            | Prim::Neg
            | Prim::Abs
            | Prim::Min
            | Prim::Max
            | Prim::Sqrt
            | Prim::Exp
            | Prim::Log
            | Prim::Sin
            | Prim::Cos
            | Prim::Tanh
            | Prim::Sigmoid
    )
}

// index(iota(n), j) == check_index(j, n)
pub fn index_iota(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, j) = binary(s, Prim::Index)?;
    let n = match env.prim_def(&a) {
        Some((Prim::Iota, [n])) => *n,
        _ => return None,
    };
    let checked = env.fresh("j", Type::I64);
    let result = checked.atom();
    splice(vec![let_(checked, Rhs::Prim(Prim::CheckIndex, vec![j, n]), s)], result)
}

// index(replicate(n, x), j) == x   (after check_index(j, n))
pub fn index_replicate(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, j) = binary(s, Prim::Index)?;
    let (n, x) = match env.prim_def(&a) {
        Some((Prim::Replicate, [n, x])) => (*n, *x),
        _ => return None,
    };
    let checked = env.fresh("j", Type::I64);
    splice(vec![let_(checked, Rhs::Prim(Prim::CheckIndex, vec![j, n]), s)], x)
}

// index([x0, .., xn], k) == xk   (k a literal in range)
pub fn index_array(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let (a, k) = binary(s, Prim::Index)?;
    let (Some(Rhs::Array(items, _)), Atom::I64(k)) = (env.def(&a), k) else {
        return None;
    };
    let item = usize::try_from(k).ok().and_then(|k| items.get(k).copied())?;
    atom(item)
}

// map(\x y -> y, a, b) == b
pub fn map_identity(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    let Rhs::Map { arrays, params, body } = &s.rhs else {
        return None;
    };
    if !body.stmts.is_empty() {
        return None;
    }
    let k = params.iter().position(|p| body.result == p.atom())?;
    atom(arrays[k])
}

// map(\x -> f, map(\y -> g, a)) == map(\y -> let x = g in f, a)
pub fn map_fusion(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Map { arrays, params, body } = &s.rhs else {
        return None;
    };
    let k = arrays
        .iter()
        .position(|a| env.linear(a) && matches!(env.def(a), Some(Rhs::Map { .. })))?;
    let Some(Rhs::Map {
        arrays: inner_arrays,
        params: inner_params,
        body: inner_body,
    }) = env.def(&arrays[k]).cloned()
    else {
        return None;
    };
    env.consume(&arrays[k]);
    let mut map = HashMap::default();
    let fresh_params: Vec<_> = inner_params.iter().map(|p| env.rename_binder(p, &mut map)).collect();
    let inner_body = env.rename(&inner_body, &mut map);
    let mut new_arrays = arrays.clone();
    new_arrays.remove(k);
    new_arrays.extend(inner_arrays);
    let mut new_params = params.clone();
    let x = new_params.remove(k);
    new_params.extend(fresh_params);
    let mut stmts = inner_body.stmts;
    stmts.push(let_(x, Rhs::Atom(inner_body.result), s));
    stmts.extend(body.stmts.iter().cloned());
    Some(Rewrite::Rhs(Rhs::Map {
        arrays: new_arrays,
        params: new_params,
        body: Block {
            stmts,
            result: body.result,
        },
    }))
}

// map(\x y -> f, build(n, \i -> g), b) == build(n, \i -> let x = g; let y = b[i] in f)
pub fn map_of_build(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Map { arrays, params, body } = &s.rhs else {
        return None;
    };
    let k = arrays
        .iter()
        .position(|a| env.linear(a) && matches!(env.def(a), Some(Rhs::Build { .. })))?;
    let Some(Rhs::Build {
        n,
        index,
        body: inner_body,
    }) = env.def(&arrays[k]).cloned()
    else {
        return None;
    };
    env.consume(&arrays[k]);
    let mut map = HashMap::default();
    let i = env.rename_binder(&index, &mut map);
    let inner_body = env.rename(&inner_body, &mut map);
    let mut stmts = inner_body.stmts;
    for (j, (a, p)) in arrays.iter().zip(params).enumerate() {
        let rhs = if j == k {
            Rhs::Atom(inner_body.result)
        } else {
            Rhs::Prim(Prim::Index, vec![*a, i.atom()])
        };
        stmts.push(let_(p.clone(), rhs, s));
    }
    stmts.extend(body.stmts.iter().cloned());
    Some(Rewrite::Rhs(Rhs::Build {
        n,
        index: i,
        body: Block {
            stmts,
            result: body.result,
        },
    }))
}

// slice(build(n, \i -> e), lo, hi) == build(hi - lo, \j -> e[j + lo/i])   (after check_slice(lo, hi, n))
pub fn slice_build(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Prim(Prim::Slice, args) = &s.rhs else {
        return None;
    };
    let (b, lo, hi) = (args[0], args[1], args[2]);
    if !env.linear(&b) {
        return None;
    }
    let Some(Rhs::Build { n, index, body }) = env.def(&b).cloned() else {
        return None;
    };
    // The bounds are still checked: the rewrite must not hide an error.
    let checked = env.fresh("lo", Type::I64);
    let lo_checked = checked.atom();
    let check = let_(checked, Rhs::Prim(Prim::CheckSlice, vec![lo, hi, n]), s);
    let len = env.fresh("len", Type::I64);
    let j = env.fresh("j", Type::I64);
    let mut map = HashMap::default();
    let i = env.rename_binder(&index, &mut map);
    let body = env.rename(&body, &mut map);
    let mut stmts = vec![let_(i, Rhs::Prim(Prim::Add, vec![j.atom(), lo_checked]), s)];
    stmts.extend(body.stmts);
    let out = env.fresh("s", s.binder.ty.clone());
    let result = out.atom();
    let build = Rhs::Build {
        n: len.atom(),
        index: j,
        body: Block {
            stmts,
            result: body.result,
        },
    };
    splice(
        vec![
            check,
            let_(len, Rhs::Prim(Prim::Sub, vec![hi, lo_checked]), s),
            let_(out, build, s),
        ],
        result,
    )
}

/// When `block` ends in `let r = index_add(z, i, v) in r` with `i` the
/// given index, `z` satisfying `zero` and `r` read nowhere else: `block`
/// without that statement, and `v`.
fn onehot_body(block: &Block, index: Atom, zero: &dyn Fn(&Atom) -> bool, env: &Env) -> Option<(Block, Atom)> {
    let (last, rest) = block.stmts.split_last()?;
    let Rhs::Prim(Prim::IndexAdd, args) = &last.rhs else {
        return None;
    };
    let (z, i, v) = (args[0], args[1], args[2]);
    if block.result != last.binder.atom() || i != index || !zero(&z) || env.uses(&block.result) != 1 {
        return None;
    }
    let rest = Block {
        stmts: rest.to_vec(),
        result: v,
    };
    Some((rest, v))
}

/// The array `a` when `z` is `zero_tangent(a)` and `n` is `length(a)`.
fn zero_of_length(env: &Env, z: &Atom, n: &Atom) -> Option<Atom> {
    let (Prim::ZeroTangent, [a]) = env.prim_def(z)? else {
        return None;
    };
    match env.prim_def(n) {
        Some((Prim::Length, [b])) if b == a => Some(*a),
        _ => None,
    }
}

// reduce(add_tangent, zero_tangent(a), build(length(a), \i -> index_add(zero_tangent(a), i, v))) == build(length(a), \i -> v)
pub fn onehot_reduce(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Reduce(c) = &s.rhs else { return None };
    // The operator is add_tangent(acc, x) or add_tangent(x, acc).
    let [op] = c.body.stmts.as_slice() else { return None };
    let Rhs::Prim(Prim::AddTangent, xs) = &op.rhs else {
        return None;
    };
    let (acc, elem) = (c.acc.atom(), c.elem.atom());
    if c.body.result != op.binder.atom() || !(xs[..] == [acc, elem] || xs[..] == [elem, acc]) {
        return None;
    }
    if !env.linear(&c.array) {
        return None;
    }
    let Some(Rhs::Build { n, index, body }) = env.def(&c.array) else {
        return None;
    };
    let a = zero_of_length(env, &c.ne, n)?;
    let same_zero = |z: &Atom| matches!(env.prim_def(z), Some((Prim::ZeroTangent, [b])) if *b == a);
    let (rest, _) = onehot_body(body, index.atom(), &same_zero, env)?;
    let (n, index) = (*n, index.clone());
    let mut map = HashMap::default();
    let i = env.rename_binder(&index, &mut map);
    let body = env.rename(&rest, &mut map);
    env.consume(&c.array);
    Some(Rewrite::Rhs(Rhs::Build { n, index: i, body }))
}

// loop acc = zero_tangent(a) for i < length(a) do index_add(acc, i, v) == build(length(a), \i -> v)   (acc not in v)
pub fn onehot_loop(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Loop(l) = &s.rhs else { return None };
    let LoopKind::For { n, index } = &l.kind else {
        return None;
    };
    zero_of_length(env, &l.init, n)?;
    let acc = l.state.atom();
    let (rest, _) = onehot_body(&l.body, index.atom(), &|z| *z == acc, env)?;
    if super::super::walk::block_uses(&rest, l.state.var) {
        return None;
    }
    // The loop dies, so its binders move to the build as they are.
    Some(Rewrite::Rhs(Rhs::Build {
        n: *n,
        index: index.clone(),
        body: rest,
    }))
}

// map(\x y -> f, a, a) == map(\x -> f[x/y], a)
pub fn map_same_array(s: &Stmt, _: &mut Env) -> Option<Rewrite> {
    let Rhs::Map { arrays, params, body } = &s.rhs else {
        return None;
    };
    let (i, j) = (0..arrays.len())
        .flat_map(|j| (0..j).map(move |i| (i, j)))
        .find(|&(i, j)| arrays[i] == arrays[j])?;
    let (mut arrays, mut params) = (arrays.clone(), params.clone());
    arrays.remove(j);
    let y = params.remove(j);
    let mut stmts = vec![let_(y, Rhs::Atom(params[i].atom()), s)];
    stmts.extend(body.stmts.iter().cloned());
    Some(Rewrite::Rhs(Rhs::Map {
        arrays,
        params,
        body: Block {
            stmts,
            result: body.result,
        },
    }))
}

/// The definition of `x`: a statement of `block`, or one in scope.
fn def_in<'a>(block: &'a Block, x: &Atom, env: &'a Env) -> Option<&'a Rhs> {
    let Atom::Var(v) = x else { return None };
    match block.stmts.iter().find(|s| s.binder.var == *v) {
        Some(s) => Some(&s.rhs),
        None => env.def(x),
    }
}

/// Collects the one-hot contributions `(j, v)` of `x`, a sum
/// (`add_tangent`, `index_add`) of `index_add(zero_tangent(a), j, v)` and
/// `zero_tangent(a)` terms defined in `block` or in scope, in order.
fn onehot_terms(block: &Block, x: &Atom, a: &Atom, env: &Env, out: &mut Vec<(Atom, Atom)>) -> Option<()> {
    let is_zero = |z: &Atom| matches!(def_in(block, z, env), Some(Rhs::Prim(Prim::ZeroTangent, b)) if b[..] == [*a]);
    if is_zero(x) {
        return Some(());
    }
    match def_in(block, x, env)? {
        Rhs::Prim(Prim::AddTangent, xs) => {
            let (l, r) = (xs[0], xs[1]);
            onehot_terms(block, &l, a, env, out)?;
            onehot_terms(block, &r, a, env, out)
        }
        // index_add(x, j, v) == x + index_add(zero_tangent(a), j, v)
        Rhs::Prim(Prim::IndexAdd, xs) => {
            let (x, j, v) = (xs[0], xs[1], xs[2]);
            onehot_terms(block, &x, a, env, out)?;
            out.push((j, v));
            Some(())
        }
        _ => None,
    }
}

// reduce(add_tangent, zero_tangent(a), build(m, \i -> index_add(zero_tangent(a), j1, v1) + .. + index_add(zero_tangent(a), jk, vk)))
//   == loop acc = zero_tangent(a) for i < m do index_add(..index_add(acc, j1, v1).., jk, vk)
//   == build(length(a), \i -> v1 + .. + vk)   when m is length(a) and every jk is i
pub fn onehot_scatter(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Reduce(c) = &s.rhs else { return None };
    if !is_add_tangent_reduce(c) || !env.linear(&c.array) {
        return None;
    }
    let a = match env.prim_def(&c.ne) {
        Some((Prim::ZeroTangent, [a])) => *a,
        _ => return None,
    };
    // A map over arrays is a build reading them at its index, over the
    // length of the first.
    let mut prefix = Vec::new();
    let (n, index, body) = match env.def(&c.array) {
        Some(Rhs::Build { n, index, body }) => {
            let mut terms = Vec::new();
            onehot_terms(body, &body.result, &a, env, &mut terms)?;
            (*n, index.clone(), body.clone())
        }
        Some(Rhs::Map { arrays, params, body }) => {
            let mut terms = Vec::new();
            onehot_terms(body, &body.result, &a, env, &mut terms)?;
            let (arrays, params, body) = (arrays.clone(), params.clone(), body.clone());
            let len = env.fresh("n", Type::I64);
            prefix.push(let_(len.clone(), Rhs::Prim(Prim::Length, vec![arrays[0]]), s));
            let index = env.fresh("i", Type::I64);
            let mut stmts: Vec<Stmt> = arrays
                .iter()
                .zip(&params)
                .map(|(x, p)| let_(p.clone(), Rhs::Prim(Prim::Index, vec![*x, index.atom()]), s))
                .collect();
            stmts.extend(body.stmts);
            let body = Block {
                stmts,
                result: body.result,
            };
            (len.atom(), index, body)
        }
        _ => return None,
    };
    let mut terms = Vec::new();
    onehot_terms(&body, &body.result, &a, env, &mut terms)?;
    let elementwise =
        !terms.is_empty() && terms.iter().all(|(j, _)| *j == index.atom()) && zero_of_length(env, &c.ne, &n).is_some();
    let mut map = HashMap::default();
    let i = env.rename_binder(&index, &mut map);
    let mut body = env.rename(&body, &mut map);
    let terms: Vec<(Atom, Atom)> = terms
        .iter()
        .map(|(j, v)| {
            let f = |x: &Atom| match x {
                Atom::Var(var) => map.get(var).copied().unwrap_or(*x),
                _ => *x,
            };
            (f(j), f(v))
        })
        .collect();
    if elementwise {
        // Each element gets its own contributions only: their sum.
        let elem = env.ty(&c.ne).elem().cloned()?;
        let mut sum = terms[0].1;
        for (_, v) in &terms[1..] {
            let t = env.fresh("t", elem.clone());
            body.stmts
                .push(let_(t.clone(), Rhs::Prim(Prim::AddTangent, vec![sum, *v]), s));
            sum = t.atom();
        }
        body.result = sum;
        env.consume(&c.array);
        return Some(Rewrite::Rhs(Rhs::Build { n, index: i, body }));
    }
    // A scatter: every contribution updates the accumulator in place.
    let ty = env.ty(&c.ne);
    let state = env.fresh("acc", ty.clone());
    let mut acc = state.atom();
    for (j, v) in terms {
        let t = env.fresh("acc", ty.clone());
        body.stmts
            .push(let_(t.clone(), Rhs::Prim(Prim::IndexAdd, vec![acc, j, v]), s));
        acc = t.atom();
    }
    body.result = acc;
    env.consume(&c.array);
    let lp = Rhs::Loop(crate::core::ir::Loop {
        state,
        init: c.ne,
        kind: LoopKind::For { n, index: i },
        body,
    });
    if prefix.is_empty() {
        return Some(Rewrite::Rhs(lp));
    }
    let out = env.fresh("r", ty);
    let result = out.atom();
    prefix.push(let_(out, lp, s));
    splice(prefix, result)
}

// map(\x y -> f, a, replicate(n, v)) == map(\x -> f[v/y], a)   (after size_eq(n, length(a)))
pub fn map_replicate(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Map { arrays, params, body } = &s.rhs else {
        return None;
    };
    let replicated = |a: &Atom| match env.prim_def(a) {
        Some((Prim::Replicate, [n, v])) => Some((*n, *v)),
        _ => None,
    };
    let k = arrays.iter().position(|a| replicated(a).is_some())?;
    let other = *arrays.iter().find(|a| replicated(a).is_none())?;
    let (n, v) = replicated(&arrays[k])?;
    let (mut arrays, mut params) = (arrays.clone(), params.clone());
    arrays.remove(k);
    let y = params.remove(k);
    let mut stmts = vec![let_(y, Rhs::Atom(v), s)];
    stmts.extend(body.stmts.iter().cloned());
    // The lengths still have to agree, as the map checked.
    let len = env.fresh("n", Type::I64);
    let checked = env.fresh("n", Type::I64);
    let out = env.fresh("m", s.binder.ty.clone());
    let result = out.atom();
    let map = Rhs::Map {
        arrays,
        params,
        body: Block {
            stmts,
            result: body.result,
        },
    };
    splice(
        vec![
            let_(len.clone(), Rhs::Prim(Prim::Length, vec![other]), s),
            let_(checked, Rhs::Prim(Prim::SizeEq, vec![n, len.atom()]), s),
            let_(out, map, s),
        ],
        result,
    )
}

// map(\t -> proj(t, k), map(\xs -> b; (e0, .., en), as)) == map(\xs -> ek, as)   (ek a parameter or a projection of one; equal fields project the first)
pub fn map_proj_field(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Map { arrays, params, body } = &s.rhs else {
        return None;
    };
    let ([m], [t], [p]) = (arrays.as_slice(), params.as_slice(), body.stmts.as_slice()) else {
        return None;
    };
    let Rhs::Proj(x, k) = &p.rhs else { return None };
    if *x != t.atom() || body.result != p.binder.atom() {
        return None;
    }
    let Some(Rhs::Map {
        arrays: inner_arrays,
        params: inner_params,
        body: inner_body,
    }) = env.def(m)
    else {
        return None;
    };
    let Atom::Var(tv) = inner_body.result else { return None };
    let Some(Rhs::Tuple(fields)) = inner_body.stmts.iter().find(|st| st.binder.var == tv).map(|st| &st.rhs) else {
        return None;
    };
    let field = *fields.get(*k)?;
    // Equal fields: project the first, so that equal projections share.
    let first = fields.iter().position(|f| *f == field)?;
    if first < *k {
        let mut p = p.clone();
        p.rhs = Rhs::Proj(*x, first);
        return Some(Rewrite::Rhs(Rhs::Map {
            arrays: arrays.clone(),
            params: params.clone(),
            body: Block {
                stmts: vec![p],
                result: body.result,
            },
        }));
    }
    // The field must be a parameter or a projection of one: the new map
    // computes at most that projection, so the producer is not repeated.
    let is_param = |a: &Atom| inner_params.iter().any(|b| b.atom() == *a);
    let projected = match inner_body.stmts.iter().find(|st| Atom::Var(st.binder.var) == field) {
        Some(st) => match &st.rhs {
            Rhs::Proj(q, j) if is_param(q) => Some((st.binder.clone(), *q, *j)),
            _ => return None,
        },
        None if is_param(&field) => None,
        None => return None,
    };
    let (inner_arrays, inner_params) = (inner_arrays.clone(), inner_params.clone());
    let mut map = HashMap::default();
    let new_params: Vec<_> = inner_params.iter().map(|b| env.rename_binder(b, &mut map)).collect();
    let renamed = |a: Atom, map: &HashMap<crate::core::ir::VarId, Atom>| match a {
        Atom::Var(v) => map.get(&v).copied().unwrap_or(a),
        _ => a,
    };
    let body = match projected {
        None => Block {
            stmts: Vec::new(),
            result: renamed(field, &map),
        },
        Some((binder, q, j)) => {
            let y = env.fresh(&binder.name, binder.ty.clone());
            let result = y.atom();
            Block {
                stmts: vec![let_(y, Rhs::Proj(renamed(q, &map), j), s)],
                result,
            }
        }
    };
    Some(Rewrite::Rhs(Rhs::Map {
        arrays: inner_arrays,
        params: new_params,
        body,
    }))
}
