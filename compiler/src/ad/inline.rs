//! Inlines every call of a function, transitively, so that a derivative
//! transformation sees one self-contained body.
//!
//! A call `let r = call g(a, b)` becomes `let p = a; let q = b`, the body of
//! `g` with its variables renumbered after the caller's, and `let r = res`.
//! The copies are left for partial evaluation to remove.

use crate::core::ir::{Atom, Binder, Block, Func, LoopKind, Program, Rhs, Stmt, VarId};
use std::collections::HashMap;

/// `func` with every call inlined. Calls of unknown functions are kept.
pub fn inline_calls(program: &Program, func: &str) -> Func {
    let mut cache = HashMap::new();
    inlined(program, func, &mut cache).unwrap_or_else(|| Func {
        name: func.to_string(),
        params: Vec::new(),
        ret: crate::core::ir::Type::unit(),
        body: Block::atom(Atom::Bool(false)),
        span: Default::default(),
    })
}

fn inlined(program: &Program, name: &str, cache: &mut HashMap<String, Func>) -> Option<Func> {
    if let Some(f) = cache.get(name) {
        return Some(f.clone());
    }
    let mut f = program.func(name)?.clone();
    let mut next = f.next_var();
    f.body = inline_block(program, &f.body, &mut next, cache);
    cache.insert(name.to_string(), f.clone());
    Some(f)
}

fn inline_block(program: &Program, block: &Block, next: &mut u32, cache: &mut HashMap<String, Func>) -> Block {
    let mut stmts = Vec::new();
    for s in &block.stmts {
        let rhs = match &s.rhs {
            Rhs::Call(g, args) => {
                let Some(callee) = inlined(program, g, cache) else {
                    stmts.push(s.clone());
                    continue;
                };
                let offset = *next;
                *next += callee.next_var();
                let renamed = |v: VarId| VarId(v.0 + offset);
                for (p, a) in callee.params.iter().zip(args) {
                    let binder = Binder {
                        var: renamed(p.var),
                        name: p.name.clone(),
                        ty: p.ty.clone(),
                    };
                    stmts.push(Stmt {
                        binder,
                        rhs: Rhs::Atom(*a),
                        span: s.span,
                    });
                }
                let body = rename_block(&callee.body, &renamed);
                stmts.extend(body.stmts);
                stmts.push(Stmt {
                    binder: s.binder.clone(),
                    rhs: Rhs::Atom(body.result),
                    span: s.span,
                });
                continue;
            }
            Rhs::If(c, a, b) => Rhs::If(
                *c,
                inline_block(program, a, next, cache),
                inline_block(program, b, next, cache),
            ),
            Rhs::Loop(l) => {
                let mut l = l.clone();
                if let LoopKind::While { cond } = &l.kind {
                    l.kind = LoopKind::While {
                        cond: inline_block(program, cond, next, cache),
                    };
                }
                l.body = inline_block(program, &l.body, next, cache);
                Rhs::Loop(l)
            }
            Rhs::Map { arrays, params, body } => Rhs::Map {
                arrays: arrays.clone(),
                params: params.clone(),
                body: inline_block(program, body, next, cache),
            },
            Rhs::Build { n, index, body } => Rhs::Build {
                n: *n,
                index: index.clone(),
                body: inline_block(program, body, next, cache),
            },
            Rhs::Reduce(c) => {
                let mut c = c.clone();
                c.body = inline_block(program, &c.body, next, cache);
                Rhs::Reduce(c)
            }
            Rhs::Scan(c) => {
                let mut c = c.clone();
                c.body = inline_block(program, &c.body, next, cache);
                Rhs::Scan(c)
            }
            Rhs::Atom(_) | Rhs::Prim(..) | Rhs::Tuple(_) | Rhs::Proj(..) | Rhs::Array(..) | Rhs::Deriv { .. } => {
                s.rhs.clone()
            }
        };
        stmts.push(Stmt {
            binder: s.binder.clone(),
            rhs,
            span: s.span,
        });
    }
    Block {
        stmts,
        result: block.result,
    }
}

/// The block with every variable renumbered by `f`.
fn rename_block(block: &Block, f: &dyn Fn(VarId) -> VarId) -> Block {
    let atom = |a: &Atom| match a {
        Atom::Var(v) => Atom::Var(f(*v)),
        lit => *lit,
    };
    let atoms = |xs: &[Atom]| xs.iter().map(atom).collect::<Vec<_>>();
    let binder = |b: &Binder| Binder {
        var: f(b.var),
        name: b.name.clone(),
        ty: b.ty.clone(),
    };
    let stmts = block
        .stmts
        .iter()
        .map(|s| {
            let rhs = match &s.rhs {
                Rhs::Atom(a) => Rhs::Atom(atom(a)),
                Rhs::Prim(p, args) => Rhs::Prim(*p, atoms(args)),
                Rhs::Tuple(args) => Rhs::Tuple(atoms(args)),
                Rhs::Proj(a, i) => Rhs::Proj(atom(a), *i),
                Rhs::Array(args, t) => Rhs::Array(atoms(args), t.clone()),
                Rhs::Call(g, args) => Rhs::Call(g.clone(), atoms(args)),
                Rhs::If(c, a, b) => Rhs::If(atom(c), rename_block(a, f), rename_block(b, f)),
                Rhs::Loop(l) => {
                    let kind = match &l.kind {
                        LoopKind::For { n, index } => LoopKind::For {
                            n: atom(n),
                            index: binder(index),
                        },
                        LoopKind::While { cond } => LoopKind::While {
                            cond: rename_block(cond, f),
                        },
                    };
                    Rhs::Loop(crate::core::ir::Loop {
                        state: binder(&l.state),
                        init: atom(&l.init),
                        kind,
                        body: rename_block(&l.body, f),
                    })
                }
                Rhs::Map { arrays, params, body } => Rhs::Map {
                    arrays: atoms(arrays),
                    params: params.iter().map(binder).collect(),
                    body: rename_block(body, f),
                },
                Rhs::Build { n, index, body } => Rhs::Build {
                    n: atom(n),
                    index: binder(index),
                    body: rename_block(body, f),
                },
                Rhs::Reduce(c) | Rhs::Scan(c) => {
                    let c2 = crate::core::ir::Combine {
                        ne: atom(&c.ne),
                        array: atom(&c.array),
                        acc: binder(&c.acc),
                        elem: binder(&c.elem),
                        body: rename_block(&c.body, f),
                    };
                    if matches!(s.rhs, Rhs::Reduce(_)) {
                        Rhs::Reduce(c2)
                    } else {
                        Rhs::Scan(c2)
                    }
                }
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
                binder: binder(&s.binder),
                rhs,
                span: s.span,
            }
        })
        .collect();
    Block {
        stmts,
        result: atom(&block.result),
    }
}
