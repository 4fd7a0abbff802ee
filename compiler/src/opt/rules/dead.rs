//! Parts of a loop or a map whose values nobody reads: what reverse mode
//! leaves behind when a backward sweep does not need the primal values it
//! recorded (a body linear in its state, say). The driver removes dead
//! statements; these rules remove dead parts of live ones.

use super::{let_, splice, Env, Rewrite};
use crate::core::ir::{Atom, Block, LoopKind, Rhs, Stmt, Type, VarId};
use crate::opt::walk::{block_uses, rhs_atoms_deep};
use crate::prim::Prim;
use crate::{HashMap, HashSet};

// map(\x y -> f, a, b) == map(\y -> f, b)   (x not read by f; after size_eq(length(a), length(b)))
pub fn map_unused_array(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Map { arrays, params, body } = &s.rhs else {
        return None;
    };
    // A map returning one of its elements is `map_identity`'s.
    if arrays.len() < 2 || (body.stmts.is_empty() && params.iter().any(|p| p.atom() == body.result)) {
        return None;
    }
    let k = params.iter().position(|p| !block_uses(body, p.var))?;
    let (mut arrays, mut params) = (arrays.clone(), params.clone());
    let dropped = arrays.remove(k);
    params.remove(k);
    let mut stmts = Vec::new();
    // The lengths still have to agree, as the map checked, with its
    // message: the first array's length is the expected one.
    if !arrays.contains(&dropped) {
        let (expected, actual) = if k == 0 {
            (dropped, arrays[0])
        } else {
            (arrays[0], dropped)
        };
        let la = env.fresh("n", Type::I64);
        let lb = env.fresh("n", Type::I64);
        let checked = env.fresh("n", Type::I64);
        stmts.push(let_(la.clone(), Rhs::Prim(Prim::Length, vec![actual]), s));
        stmts.push(let_(lb.clone(), Rhs::Prim(Prim::Length, vec![expected]), s));
        stmts.push(let_(checked, Rhs::Prim(Prim::SizeEq, vec![la.atom(), lb.atom()]), s));
    }
    let out = env.fresh("m", s.binder.ty.clone());
    let result = out.atom();
    stmts.push(let_(
        out,
        Rhs::Map {
            arrays,
            params,
            body: body.clone(),
        },
        s,
    ));
    splice(stmts, result)
}

// proj(loop x = init for i < n do (.., e_k, ..), k) == loop y = proj(init, k) for i < n do e_k[y/proj(x, k)]
//   (the loop read only here; e_k reads x only through proj(x, k))
pub fn loop_component(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Proj(x, k) = &s.rhs else { return None };
    let k = *k;
    if env.uses(x) != 1 {
        return None;
    }
    let Some(Rhs::Loop(l)) = env.def(x) else {
        return None;
    };
    let LoopKind::For { n, index } = &l.kind else {
        return None;
    };
    let Type::Tuple(tys) = &l.state.ty else {
        return None;
    };
    if tys.len() < 2 || k >= tys.len() {
        return None;
    }
    let fields = l.body.stmts.iter().find_map(|st| match &st.rhs {
        Rhs::Tuple(fs) if st.binder.atom() == l.body.result => Some(fs.clone()),
        _ => None,
    })?;
    let (l, n, index, ty) = (l.clone(), *n, index.clone(), tys[k].clone());
    let state = l.state.var;
    let result = fields[k];
    // The statements e_k needs, found backwards from it.
    let mut needed: HashSet<VarId> = HashSet::default();
    match result {
        Atom::Var(v) if v == state => return None,
        Atom::Var(v) => {
            needed.insert(v);
        }
        _ => {}
    }
    let y = env.fresh("s", ty);
    let mut kept = Vec::new();
    for st in l.body.stmts.iter().rev() {
        if !needed.contains(&st.binder.var) {
            continue;
        }
        if let Rhs::Proj(Atom::Var(v), j) = &st.rhs {
            if *v == state {
                if *j != k {
                    return None;
                }
                kept.push(let_(st.binder.clone(), Rhs::Atom(y.atom()), st));
                continue;
            }
        }
        let mut reads_state = false;
        rhs_atoms_deep(&st.rhs, &mut |a| {
            if let Atom::Var(v) = a {
                reads_state |= *v == state;
                needed.insert(*v);
            }
        });
        if reads_state {
            return None;
        }
        kept.push(st.clone());
    }
    kept.reverse();
    let mut map = HashMap::default();
    let index = env.rename_binder(&index, &mut map);
    let body = env.rename(&Block { stmts: kept, result }, &mut map);
    let init = env.fresh("init", y.ty.clone());
    let out = env.fresh(&s.binder.name, s.binder.ty.clone());
    let lp = crate::core::ir::Loop {
        state: y,
        init: init.atom(),
        kind: LoopKind::For { n, index },
        body,
    };
    splice(
        vec![let_(init, Rhs::Proj(l.init, k), s), let_(out.clone(), Rhs::Loop(lp), s)],
        out.atom(),
    )
}

// proj(if c then a else b, k) == if c then proj(a, k) else proj(b, k)   (the if read only here)
//   Each branch then computes its k-th field alone: reverse mode replays
//   a loop's last iteration for its final value, an `if` of the whole
//   state, and the fields nobody reads go with what made them.
pub fn if_component(s: &Stmt, env: &mut Env) -> Option<Rewrite> {
    let Rhs::Proj(x, k) = &s.rhs else { return None };
    if !env.linear(x) {
        return None;
    }
    let Some(Rhs::If(c, then, els)) = env.def(x) else {
        return None;
    };
    let (c, then, els, k) = (*c, then.clone(), els.clone(), *k);
    let mut project = |block: &Block| {
        let mut block = env.rename(block, &mut HashMap::default());
        let field = env.fresh(&s.binder.name, s.binder.ty.clone());
        let result = field.atom();
        block.stmts.push(let_(field, Rhs::Proj(block.result, k), s));
        block.result = result;
        block
    };
    let (then, els) = (project(&then), project(&els));
    // The copies run the branches' checks; the `if` itself is dead.
    env.consume(x);
    Some(Rewrite::Rhs(Rhs::If(c, then, els)))
}
