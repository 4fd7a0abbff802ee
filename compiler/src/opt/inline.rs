//! Inlining of calls: `inline_calls` replaces every `call` in a function by
//! the body of the callee, transitively, with the callee's variables
//! renamed apart. Automatic differentiation runs it before transforming a
//! function; partial evaluation runs it first, so that the rules see
//! through function boundaries.

use super::walk::rename_block;
use crate::core::ir::{Block, Func, LoopKind, Program, Rhs, Stmt};
use crate::HashMap;

/// `func` with every `call` inlined, transitively. Derivative operators
/// are left alone. Core programs do not recurse (the verifier checks it),
/// so this terminates; a call of a function that `program` does not have is
/// left as it is, for the verifier to report.
pub fn inline_calls(program: &Program, func: &Func) -> Func {
    let mut next = func.next_var();
    let mut out = func.clone();
    out.body = inline_block(program, &func.body, &mut next, 0);
    out
}

/// Calls nested deeper than this are left alone: only a recursive (and
/// so malformed) program gets there.
const MAX_DEPTH: usize = 200;

fn inline_block(program: &Program, block: &Block, next: &mut u32, depth: usize) -> Block {
    let mut stmts = Vec::with_capacity(block.stmts.len());
    for s in &block.stmts {
        match &s.rhs {
            Rhs::Call(name, args) if depth < MAX_DEPTH => match program.func(name) {
                Some(callee) => {
                    // The callee's parameters become its arguments, then its
                    // body (with its own calls inlined) is copied with fresh
                    // variables.
                    let mut map: HashMap<_, _> =
                        callee.params.iter().map(|p| p.var).zip(args.iter().copied()).collect();
                    let body = rename_block(&callee.body, &mut map, next);
                    let body = inline_block(program, &body, next, depth + 1);
                    stmts.extend(body.stmts);
                    stmts.push(Stmt {
                        binder: s.binder.clone(),
                        rhs: Rhs::Atom(body.result),
                        span: s.span,
                    });
                }
                None => stmts.push(s.clone()),
            },
            _ => {
                let mut s = s.clone();
                inline_nested(program, &mut s.rhs, next, depth);
                stmts.push(s);
            }
        }
    }
    Block {
        stmts,
        result: block.result,
    }
}

fn inline_nested(program: &Program, rhs: &mut Rhs, next: &mut u32, depth: usize) {
    let mut go = |b: &mut Block| *b = inline_block(program, b, next, depth);
    match rhs {
        Rhs::Atom(_)
        | Rhs::Prim(..)
        | Rhs::Tuple(_)
        | Rhs::Proj(..)
        | Rhs::Array(..)
        | Rhs::Call(..)
        | Rhs::Deriv { .. } => {}
        Rhs::If(_, a, b) => {
            go(a);
            go(b);
        }
        Rhs::Loop(l) => {
            if let LoopKind::While { cond } = &mut l.kind {
                go(cond);
            }
            go(&mut l.body);
        }
        Rhs::Map { body, .. } | Rhs::Build { body, .. } => go(body),
        Rhs::Reduce(c) | Rhs::Scan(c) => go(&mut c.body),
    }
}
