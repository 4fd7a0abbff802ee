//! Expands the derivative operators of a program (`Rhs::Deriv`) into calls
//! of the functions forward and reverse mode make, innermost first.
//!
//! For `op(g)(args)` the function `g` (whose first parameters are the
//! values it captures) is first expanded itself, then flattened (its calls
//! inlined) into `g$flat`, and differentiated with respect to all its
//! parameters: `g$flat$jvp` or `g$flat$vjp`. The operator then becomes a
//! few statements around a call of that function: zero tangents for the
//! captured values, a cotangent of 1.0 for `grad`, one call per basis
//! direction for the Jacobians. `hessian(g)` is `jacfwd(grad(g))`: forward
//! over reverse.

use super::{fwd, rev, AdError};
use crate::core::ir::{Atom, Binder, Block, DerivOp, Func, LoopKind, Program, Rhs, Stmt, Type, VarId};
use crate::diagnostics::Span;
use crate::prim::Prim;
use crate::HashSet;

/// Replaces every `Deriv` node of the program. The functions derivatives
/// need are added to the program.
pub fn expand_derivatives(program: &Program) -> Result<Program, AdError> {
    let mut state = Expander {
        program: program.clone(),
        done: HashSet::default(),
        active: Vec::new(),
    };
    let names: Vec<String> = program.funcs.iter().map(|f| f.name.clone()).collect();
    for name in names {
        state.expand_func(&name)?;
    }
    Ok(state.program)
}

struct Expander {
    program: Program,
    /// Functions with no `Deriv` left.
    done: HashSet<String>,
    active: Vec<String>,
}

impl Expander {
    fn func(&self, name: &str) -> Result<&Func, AdError> {
        self.program
            .func(name)
            .ok_or_else(|| AdError::new(format!("internal error: no function `{name}`"), None))
    }

    /// Expands the derivatives in `name` and in every function it uses.
    fn expand_func(&mut self, name: &str) -> Result<(), AdError> {
        if self.done.contains(name) {
            return Ok(());
        }
        if self.active.iter().any(|n| n == name) {
            return Err(AdError::new(
                format!("internal error: `{name}` depends on itself"),
                None,
            ));
        }
        self.active.push(name.to_string());
        let func = self.func(name)?.clone();
        // Callees and differentiated functions first: innermost first.
        for callee in func.body.used_functions() {
            self.expand_func(&callee)?;
        }
        let mut next = func.next_var();
        let body = self.expand_block(&func.body, &mut next)?;
        let slot = self
            .program
            .funcs
            .iter_mut()
            .find(|f| f.name == name)
            .expect("the function exists");
        slot.body = body;
        self.active.pop();
        self.done.insert(name.to_string());
        Ok(())
    }

    fn expand_block(&mut self, block: &Block, next: &mut u32) -> Result<Block, AdError> {
        let mut stmts = Vec::new();
        for s in &block.stmts {
            let rhs = match &s.rhs {
                Rhs::Deriv {
                    op,
                    func,
                    captured,
                    args,
                } => {
                    let mut e = Emit {
                        next,
                        stmts: &mut stmts,
                        span: s.span,
                    };
                    self.expand_deriv(&mut e, *op, func, captured, args, &s.binder)?;
                    continue;
                }
                Rhs::If(c, a, b) => Rhs::If(*c, self.expand_block(a, next)?, self.expand_block(b, next)?),
                Rhs::Loop(l) => {
                    let mut l = l.clone();
                    if let LoopKind::While { cond } = &l.kind {
                        l.kind = LoopKind::While {
                            cond: self.expand_block(cond, next)?,
                        };
                    }
                    l.body = self.expand_block(&l.body, next)?;
                    Rhs::Loop(l)
                }
                Rhs::Map { arrays, params, body } => Rhs::Map {
                    arrays: arrays.clone(),
                    params: params.clone(),
                    body: self.expand_block(body, next)?,
                },
                Rhs::Build { n, index, body } => Rhs::Build {
                    n: *n,
                    index: index.clone(),
                    body: self.expand_block(body, next)?,
                },
                Rhs::Reduce(c) => {
                    let mut c = c.clone();
                    c.body = self.expand_block(&c.body, next)?;
                    Rhs::Reduce(c)
                }
                Rhs::Scan(c) => {
                    let mut c = c.clone();
                    c.body = self.expand_block(&c.body, next)?;
                    Rhs::Scan(c)
                }
                Rhs::Atom(_) | Rhs::Prim(..) | Rhs::Tuple(_) | Rhs::Proj(..) | Rhs::Array(..) | Rhs::Call(..) => {
                    s.rhs.clone()
                }
            };
            stmts.push(Stmt {
                binder: s.binder.clone(),
                rhs,
                span: s.span,
            });
        }
        Ok(Block {
            stmts,
            result: block.result,
        })
    }

    /// `g` with its calls inlined, ready for differentiation.
    fn flat(&mut self, g: &str) -> Result<String, AdError> {
        let name = format!("{g}$flat");
        if self.program.func(&name).is_none() {
            self.expand_func(g)?;
            let g = self.func(g)?;
            let flat = crate::timings::time("ad: flatten", || crate::opt::inline_calls(&self.program, g));
            let mut flat = crate::opt::before_derivatives(&self.program, &flat);
            flat.name = name.clone();
            self.program.funcs.push(flat);
            self.done.insert(name.clone());
        }
        Ok(name)
    }

    fn jvp_of(&mut self, g: &str) -> Result<(String, Func), AdError> {
        let flat = self.flat(g)?;
        let name = fwd::jvp(&mut self.program, &flat)?;
        self.done.insert(name.clone());
        Ok((name.clone(), self.func(&flat)?.clone()))
    }

    fn vjp_of(&mut self, g: &str) -> Result<(String, Func), AdError> {
        let flat = self.flat(g)?;
        let name = rev::vjp(&mut self.program, &flat)?;
        self.done.insert(name.clone());
        Ok((name.clone(), self.func(&flat)?.clone()))
    }

    /// Emits the statements computing `op(g)(captured.., args..)` into
    /// `result`.
    fn expand_deriv(
        &mut self,
        e: &mut Emit,
        op: DerivOp,
        g: &str,
        captured: &[Atom],
        args: &[Atom],
        result: &Binder,
    ) -> Result<(), AdError> {
        let m = captured.len();
        match op {
            DerivOp::Grad | DerivOp::ValueAndGrad => {
                let (vjp, f) = self.vjp_of(g)?;
                let mut call_args = captured.to_vec();
                call_args.extend_from_slice(args);
                call_args.push(Atom::F64(1.0));
                let r = e.bind("r", vjp_type(&f), Rhs::Call(vjp, call_args));
                let grads = select_cotangents(e, &f, r, m, args.len());
                let value = if op == DerivOp::Grad {
                    Rhs::Atom(grads)
                } else {
                    let v = e.bind("v", f.ret.clone(), Rhs::Proj(r, 0));
                    Rhs::Tuple(vec![v, grads])
                };
                e.finish(result, value);
            }
            DerivOp::Vjp => {
                let (vjp, f) = self.vjp_of(g)?;
                let mut call_args = captured.to_vec();
                call_args.extend_from_slice(args);
                let r = e.bind("r", vjp_type(&f), Rhs::Call(vjp, call_args));
                let k = args.len() - 1;
                let cts = all_cotangents(e, &f, r);
                let fields: Vec<Atom> = (0..k)
                    .map(|i| e.bind("ct", f.params[m + i].ty.tangent(), Rhs::Proj(cts, m + i)))
                    .collect();
                let tys = (0..k).map(|i| f.params[m + i].ty.tangent()).collect();
                let grads = e.bind("cts", Type::Tuple(tys), Rhs::Tuple(fields));
                let v = e.bind("v", f.ret.clone(), Rhs::Proj(r, 0));
                e.finish(result, Rhs::Tuple(vec![v, grads]));
            }
            DerivOp::Jvp => {
                let (jvp, f) = self.jvp_of(g)?;
                let k = args.len() / 2;
                let mut call_args = captured.to_vec();
                call_args.extend_from_slice(&args[..k]);
                for (c, p) in captured.iter().zip(&f.params) {
                    call_args.push(e.bind("zt", p.ty.tangent(), Rhs::Prim(Prim::ZeroTangent, vec![*c])));
                }
                call_args.extend_from_slice(&args[k..]);
                e.finish(result, Rhs::Call(jvp, call_args));
            }
            DerivOp::JacFwd => {
                let (jvp, f) = self.jvp_of(g)?;
                let x = args[0];
                let vec = Type::array(Type::F64);
                let n = e.bind("n", Type::I64, Rhs::Prim(Prim::Length, vec![x]));
                let zeros: Vec<Atom> = captured
                    .iter()
                    .zip(&f.params)
                    .map(|(c, p)| e.bind("zt", p.ty.tangent(), Rhs::Prim(Prim::ZeroTangent, vec![*c])))
                    .collect();
                // Column j of the Jacobian is the tangent along the basis vector e_j.
                let j = e.binder("j", Type::I64);
                let body = e.block(|e| {
                    let basis = one_hot(e, n, Atom::Var(j.var));
                    let mut call_args = captured.to_vec();
                    call_args.push(x);
                    call_args.extend(zeros.iter().copied());
                    call_args.push(basis);
                    let r = e.bind(
                        "r",
                        Type::Tuple(vec![vec.clone(), vec.clone()]),
                        Rhs::Call(jvp.clone(), call_args),
                    );
                    e.bind("col", vec.clone(), Rhs::Proj(r, 1))
                });
                let cols = e.bind(
                    "cols",
                    Type::array(vec.clone()),
                    Rhs::Build {
                        n,
                        index: j.clone(),
                        body,
                    },
                );
                e.finish(result, Rhs::Prim(Prim::Transpose, vec![cols]));
            }
            DerivOp::JacRev => {
                let (vjp, f) = self.vjp_of(g)?;
                let flat = self.flat(g)?;
                let x = args[0];
                let vec = Type::array(Type::F64);
                let mut primal_args = captured.to_vec();
                primal_args.push(x);
                let y = e.bind("y", vec.clone(), Rhs::Call(flat, primal_args));
                let mlen = e.bind("m", Type::I64, Rhs::Prim(Prim::Length, vec![y]));
                // Row i of the Jacobian is the cotangent of the basis vector e_i.
                let i = e.binder("i", Type::I64);
                let body = e.block(|e| {
                    let basis = one_hot(e, mlen, Atom::Var(i.var));
                    let mut call_args = captured.to_vec();
                    call_args.push(x);
                    call_args.push(basis);
                    let r = e.bind("r", vjp_type(&f), Rhs::Call(vjp.clone(), call_args));
                    let cts = all_cotangents(e, &f, r);
                    e.bind("row", vec.clone(), Rhs::Proj(cts, m))
                });
                e.finish(
                    result,
                    Rhs::Build {
                        n: mlen,
                        index: i.clone(),
                        body,
                    },
                );
            }
            DerivOp::Hessian => {
                // hessian(g) = jacfwd(grad(g)): a function for grad(g), then jacfwd of it.
                let gradient = self.gradient_function(g, m)?;
                self.expand_deriv(e, DerivOp::JacFwd, &gradient, captured, args, result)?;
            }
        }
        Ok(())
    }

    /// A new function `g$grad(captured.., x) = grad(g)(x)`, expanded.
    fn gradient_function(&mut self, g: &str, m: usize) -> Result<String, AdError> {
        let name = format!("{g}$grad");
        if self.program.func(&name).is_none() {
            let f = self.func(g)?.clone();
            let params: Vec<Binder> = f.params.clone();
            let x = params[m].clone();
            let next = f.next_var();
            let out = Binder {
                var: VarId(next),
                name: "g".into(),
                ty: x.ty.clone(),
            };
            let captured = params[..m].iter().map(|p| Atom::Var(p.var)).collect();
            let stmt = Stmt {
                binder: out.clone(),
                rhs: Rhs::Deriv {
                    op: DerivOp::Grad,
                    func: g.to_string(),
                    captured,
                    args: vec![Atom::Var(x.var)],
                },
                span: f.span,
            };
            let body = Block {
                stmts: vec![stmt],
                result: Atom::Var(out.var),
            };
            self.program.funcs.push(Func {
                name: name.clone(),
                params,
                ret: x.ty.clone(),
                body,
                span: f.span,
            });
            self.expand_func(&name)?;
        }
        Ok(name)
    }
}

/// The result type of `f$vjp`: `(ret, (ct_p1, ..., ct_pk))`.
fn vjp_type(f: &Func) -> Type {
    let cts = Type::Tuple(f.params.iter().map(|p| p.ty.tangent()).collect());
    Type::Tuple(vec![f.ret.clone(), cts])
}

fn all_cotangents(e: &mut Emit, f: &Func, r: Atom) -> Atom {
    let Type::Tuple(fields) = vjp_type(f) else {
        unreachable!("a vjp returns a pair")
    };
    e.bind("cts", fields[1].clone(), Rhs::Proj(r, 1))
}

/// The gradient with respect to the `k` parameters after the `m` captured
/// ones: a single value when `k = 1`, else a tuple.
fn select_cotangents(e: &mut Emit, f: &Func, r: Atom, m: usize, k: usize) -> Atom {
    let cts = all_cotangents(e, f, r);
    let fields: Vec<Atom> = (0..k)
        .map(|i| e.bind("ct", f.params[m + i].ty.tangent(), Rhs::Proj(cts, m + i)))
        .collect();
    if k == 1 {
        return fields[0];
    }
    let tys = (0..k).map(|i| f.params[m + i].ty.tangent()).collect();
    e.bind("grads", Type::Tuple(tys), Rhs::Tuple(fields))
}

/// `build(n, \i -> if i == at then 1.0 else 0.0)`
fn one_hot(e: &mut Emit, n: Atom, at: Atom) -> Atom {
    let i = e.binder("i", Type::I64);
    let body = e.block(|e| {
        let hit = e.bind("hit", Type::Bool, Rhs::Prim(Prim::Eq, vec![Atom::Var(i.var), at]));
        e.bind(
            "e",
            Type::F64,
            Rhs::If(hit, Block::atom(Atom::F64(1.0)), Block::atom(Atom::F64(0.0))),
        )
    });
    e.bind(
        "basis",
        Type::array(Type::F64),
        Rhs::Build {
            n,
            index: i.clone(),
            body,
        },
    )
}

/// Emits statements with fresh variables into a block under construction.
struct Emit<'a> {
    next: &'a mut u32,
    stmts: &'a mut Vec<Stmt>,
    span: Span,
}

impl Emit<'_> {
    fn binder(&mut self, name: &str, ty: Type) -> Binder {
        let var = VarId(*self.next);
        *self.next += 1;
        Binder {
            var,
            name: name.to_string(),
            ty,
        }
    }

    fn bind(&mut self, name: &str, ty: Type, rhs: Rhs) -> Atom {
        let binder = self.binder(name, ty);
        let atom = Atom::Var(binder.var);
        self.stmts.push(Stmt {
            binder,
            rhs,
            span: self.span,
        });
        atom
    }

    /// The last statement, binding the original result variable.
    fn finish(&mut self, result: &Binder, rhs: Rhs) {
        self.stmts.push(Stmt {
            binder: result.clone(),
            rhs,
            span: self.span,
        });
    }

    fn block(&mut self, f: impl FnOnce(&mut Emit) -> Atom) -> Block {
        let mut inner = Vec::new();
        let mut e = Emit {
            next: self.next,
            stmts: &mut inner,
            span: self.span,
        };
        let result = f(&mut e);
        Block { stmts: inner, result }
    }
}
