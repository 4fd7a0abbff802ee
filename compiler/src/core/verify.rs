//! The verifier of core IR: scoping and types. Tests run it after every
//! pass that produces core IR.
//!
//! A program is well formed when
//! - no two functions share a name, and no function calls itself, directly
//!   or through others (by `call` or a derivative operator);
//! - in each function, every variable is used in the scope of its binder:
//!   a block's binders are visible in the rest of that block only, and the
//!   binders of a lambda or a loop inside its body only (a `while`
//!   condition sees the state, and a `for` loop's count does not);
//! - no variable is bound twice in a function;
//! - every statement's binder has the type of its right-hand side, and the
//!   body has the function's result type;
//! - every test names a function that takes nothing and returns bool.
//!
//! The verifier reports every error it finds, each naming the function and
//! the statement (`let x.3`) it is in. After an error, it carries on with the
//! declared types, so one mistake gives one error.

use super::ir::{Atom, Binder, Block, Combine, DerivOp, Func, Loop, LoopKind, Program, Rhs, Type, VarId};
use super::print::{binder_names, var_text, UNBOUND_NAME};
use crate::{HashMap, HashSet};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The function the error is in; `None` for an error about a test.
    pub func: Option<String>,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.func {
            Some(func) => write!(f, "in `{func}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies every function and test of `p`.
pub fn verify_program(p: &Program) -> Result<(), Vec<VerifyError>> {
    let mut errors = Vec::new();
    let mut seen = HashSet::default();
    for f in &p.funcs {
        if !seen.insert(f.name.as_str()) {
            errors.push(VerifyError {
                func: Some(f.name.clone()),
                message: format!("function `{}` is defined twice", f.name),
            });
        }
    }
    for f in &p.funcs {
        if let Err(es) = verify_func(p, f) {
            errors.extend(es);
        }
    }
    check_recursion(p, &mut errors);
    for t in &p.tests {
        let message = match p.func(&t.func) {
            None => Some(format!("no function `{}`", t.func)),
            Some(f) if !f.params.is_empty() || f.ret != Type::Bool => Some(format!(
                "`{}` must take no arguments and return bool, but has type ({}) -> {}",
                f.name,
                f.params.iter().map(|b| b.ty.to_string()).collect::<Vec<_>>().join(", "),
                f.ret
            )),
            Some(_) => None,
        };
        if let Some(message) = message {
            errors.push(VerifyError {
                func: None,
                message: format!("test {:?}: {message}", t.name),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Verifies one function of `p`; `p` gives the functions it calls.
pub fn verify_func(p: &Program, f: &Func) -> Result<(), Vec<VerifyError>> {
    let mut v = Verifier {
        prog: p,
        func: f,
        names: binder_names(f),
        scope: HashMap::default(),
        undo: Vec::new(),
        bound: HashSet::default(),
        errors: Vec::new(),
    };
    for b in &f.params {
        v.bind(b, "parameter");
    }
    if let Some(ty) = v.block(&f.body, "the body") {
        if ty != f.ret {
            v.error(format!("the body has type {ty}, but the function returns {}", f.ret));
        }
    }
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors)
    }
}

/// The argument types and the result type of a derivative operator applied
/// to a function whose non-captured parameters have types `params` and
/// whose result has type `ret`: the rules of the language reference.
///
/// - `grad`: `ret` is f64; the result is the tuple of the parameter types,
///   or the one parameter type when there is one.
/// - `value_and_grad`: as `grad`; the result is `(f64, grad)`.
/// - `jvp`: the arguments are the primals then tangents of the same types;
///   the result is `(ret, ret)`.
/// - `vjp`: the arguments are the primals then a cotangent of type `ret`;
///   the result is `(ret, (params...))`, a tuple even for one parameter.
/// - `jacfwd`, `jacrev`: `[]f64 -> []f64` gives `[]f64 -> [][]f64`.
/// - `hessian`: `[]f64 -> f64` gives `[]f64 -> [][]f64`.
///
/// Every differentiated parameter must be differentiable.
pub fn deriv_signature(op: DerivOp, params: &[Type], ret: &Type) -> Result<(Vec<Type>, Type), String> {
    if let Some(t) = params.iter().find(|t| !t.is_differentiable()) {
        return Err(format!(
            "`{}` differentiates a parameter of type {t}, which has no derivative",
            op.name()
        ));
    }
    let vec = Type::array(Type::F64);
    let mat = Type::array(vec.clone());
    let grads = || {
        if params.len() == 1 {
            params[0].clone()
        } else {
            Type::Tuple(params.to_vec())
        }
    };
    let scalar_ret = || {
        if *ret == Type::F64 {
            Ok(())
        } else {
            Err(format!("`{}` needs a function that returns f64, not {ret}", op.name()))
        }
    };
    let vector_fn = |want_ret: &Type, ret_text: &str| {
        if params == [vec.clone()] && ret == want_ret {
            Ok(())
        } else {
            let ps: Vec<String> = params.iter().map(Type::to_string).collect();
            Err(format!(
                "`{}` needs a function of type ([]f64) -> {ret_text}, not ({}) -> {ret}",
                op.name(),
                ps.join(", ")
            ))
        }
    };
    match op {
        DerivOp::Grad => {
            scalar_ret()?;
            Ok((params.to_vec(), grads()))
        }
        DerivOp::ValueAndGrad => {
            scalar_ret()?;
            Ok((params.to_vec(), Type::Tuple(vec![Type::F64, grads()])))
        }
        DerivOp::Jvp => {
            let args = params.iter().chain(params).cloned().collect();
            Ok((args, Type::Tuple(vec![ret.clone(), ret.clone()])))
        }
        DerivOp::Vjp => {
            let mut args = params.to_vec();
            args.push(ret.clone());
            let result = Type::Tuple(vec![ret.clone(), Type::Tuple(params.to_vec())]);
            Ok((args, result))
        }
        DerivOp::JacFwd | DerivOp::JacRev => {
            vector_fn(&vec, "[]f64")?;
            Ok((vec![vec.clone()], mat))
        }
        DerivOp::Hessian => {
            vector_fn(&Type::F64, "f64")?;
            Ok((vec![vec.clone()], mat))
        }
    }
}

struct Verifier<'a> {
    prog: &'a Program,
    func: &'a Func,
    /// The names variables print with.
    names: HashMap<VarId, String>,
    /// The variables in scope and their types.
    scope: HashMap<VarId, Type>,
    /// What each binding replaced, to restore when its scope ends.
    undo: Vec<(VarId, Option<Type>)>,
    /// Every variable bound so far in the function.
    bound: HashSet<VarId>,
    errors: Vec<VerifyError>,
}

impl Verifier<'_> {
    fn error(&mut self, message: String) {
        self.errors.push(VerifyError {
            func: Some(self.func.name.clone()),
            message,
        });
    }

    fn var(&self, v: VarId) -> String {
        var_text(self.names.get(&v).map_or(UNBOUND_NAME, String::as_str), v)
    }

    /// Brings `b` into scope; `ctx` says where it is bound.
    fn bind(&mut self, b: &Binder, ctx: &str) {
        if !self.bound.insert(b.var) {
            let var = var_text(&b.name, b.var);
            self.error(format!("{ctx}: `{var}` is bound twice"));
        }
        let old = self.scope.insert(b.var, b.ty.clone());
        self.undo.push((b.var, old));
    }

    /// Ends the scopes opened since `mark`.
    fn restore(&mut self, mark: usize) {
        while self.undo.len() > mark {
            if let Some((v, old)) = self.undo.pop() {
                match old {
                    Some(t) => self.scope.insert(v, t),
                    None => self.scope.remove(&v),
                };
            }
        }
    }

    /// Checks that a binder whose type is fixed by the construct that binds
    /// it has that type.
    fn expect_binder(&mut self, ctx: &str, what: &str, b: &Binder, want: &Type) {
        if b.ty != *want {
            let var = var_text(&b.name, b.var);
            self.error(format!("{ctx}: {what} `{var}` has type {}, expected {want}", b.ty));
        }
    }

    /// Reports `what` unless its type `got` (if known) is `want`.
    fn expect(&mut self, ctx: &str, what: &str, got: &Option<Type>, want: &Type) {
        if let Some(got) = got {
            if got != want {
                self.error(format!("{ctx}: {what} has type {got}, expected {want}"));
            }
        }
    }

    fn atom(&mut self, a: &Atom, ctx: &str) -> Option<Type> {
        match a {
            Atom::Var(v) => match self.scope.get(v) {
                Some(t) => Some(t.clone()),
                None => {
                    let var = self.var(*v);
                    let why = if self.names.contains_key(v) {
                        "is used outside the scope of its binder"
                    } else {
                        "is not bound"
                    };
                    self.error(format!("{ctx}: `{var}` {why}"));
                    None
                }
            },
            Atom::F64(_) => Some(Type::F64),
            Atom::I64(_) => Some(Type::I64),
            Atom::Bool(_) => Some(Type::Bool),
        }
    }

    /// The types of all of `atoms`, if all are known.
    fn atoms(&mut self, atoms: &[Atom], ctx: &str) -> Option<Vec<Type>> {
        let tys: Vec<Option<Type>> = atoms.iter().map(|a| self.atom(a, ctx)).collect();
        tys.into_iter().collect()
    }

    /// Checks a block in a scope of its own and returns its type.
    fn block(&mut self, b: &Block, ctx: &str) -> Option<Type> {
        let mark = self.undo.len();
        for s in &b.stmts {
            let stmt_ctx = format!("`let {}`", var_text(&s.binder.name, s.binder.var));
            if let Some(ty) = self.rhs(&s.rhs, &stmt_ctx) {
                if ty != s.binder.ty {
                    self.error(format!(
                        "{stmt_ctx}: the binder has type {}, but the right-hand side has type {ty}",
                        s.binder.ty
                    ));
                }
            }
            self.bind(&s.binder, &stmt_ctx);
        }
        let ty = self.atom(&b.result, ctx);
        self.restore(mark);
        ty
    }

    /// Checks a lambda-like body with `params` in scope.
    fn body(&mut self, params: &[&Binder], body: &Block, ctx: &str) -> Option<Type> {
        let mark = self.undo.len();
        for p in params {
            self.bind(p, ctx);
        }
        let ty = self.block(body, ctx);
        self.restore(mark);
        ty
    }

    /// The type of a right-hand side, or `None` after an error.
    fn rhs(&mut self, rhs: &Rhs, ctx: &str) -> Option<Type> {
        match rhs {
            Rhs::Atom(a) => self.atom(a, ctx),
            Rhs::Prim(p, args) => {
                let tys = self.atoms(args, ctx)?;
                match p.result_type(&tys) {
                    Ok(t) => Some(t),
                    Err(m) => {
                        self.error(format!("{ctx}: {m}"));
                        None
                    }
                }
            }
            Rhs::Tuple(atoms) => Some(Type::Tuple(self.atoms(atoms, ctx)?)),
            Rhs::Proj(a, i) => match self.atom(a, ctx)? {
                Type::Tuple(ts) if *i < ts.len() => Some(ts[*i].clone()),
                t => {
                    self.error(format!("{ctx}: `proj` of field {i} of a value of type {t}"));
                    None
                }
            },
            Rhs::Array(atoms, elem) => {
                for (k, a) in atoms.iter().enumerate() {
                    let t = self.atom(a, ctx);
                    self.expect(ctx, &format!("array element {k}"), &t, elem);
                }
                Some(Type::array(elem.clone()))
            }
            Rhs::Call(name, args) => self.call(name, args, ctx),
            Rhs::If(c, then, els) => {
                let t = self.atom(c, ctx);
                self.expect(ctx, "the condition of `if`", &t, &Type::Bool);
                let a = self.block(then, ctx);
                let b = self.block(els, ctx);
                match (a, b) {
                    (Some(a), Some(b)) if a != b => {
                        self.error(format!("{ctx}: the branches of `if` have types {a} and {b}"));
                        None
                    }
                    (Some(a), Some(_)) => Some(a),
                    _ => None,
                }
            }
            Rhs::Loop(l) => self.loop_(l, ctx),
            Rhs::Map { arrays, params, body } => {
                let tys: Vec<Option<Type>> = arrays.iter().map(|a| self.atom(a, ctx)).collect();
                if arrays.is_empty() {
                    self.error(format!("{ctx}: `map` needs at least one array"));
                } else if arrays.len() != params.len() {
                    self.error(format!(
                        "{ctx}: `map` over {} arrays has {} parameters",
                        arrays.len(),
                        params.len()
                    ));
                } else {
                    for (k, (t, p)) in tys.iter().zip(params).enumerate() {
                        match t {
                            Some(Type::Array(e)) => self.expect_binder(ctx, "the `map` parameter", p, e),
                            Some(t) => {
                                self.error(format!("{ctx}: `map` operand {k} has type {t}, which is not an array"))
                            }
                            None => {}
                        }
                    }
                }
                let ps: Vec<&Binder> = params.iter().collect();
                Some(Type::array(self.body(&ps, body, ctx)?))
            }
            Rhs::Build { n, index, body } => {
                let t = self.atom(n, ctx);
                self.expect(ctx, "the length of `build`", &t, &Type::I64);
                self.expect_binder(ctx, "the index", index, &Type::I64);
                Some(Type::array(self.body(&[index], body, ctx)?))
            }
            Rhs::Reduce(c) => self.combine("reduce", c, ctx),
            Rhs::Scan(c) => self.combine("scan", c, ctx).map(Type::array),
            Rhs::Deriv {
                op,
                func,
                captured,
                args,
            } => self.deriv(*op, func, captured, args, ctx),
        }
    }

    fn call(&mut self, name: &str, args: &[Atom], ctx: &str) -> Option<Type> {
        let tys: Vec<Option<Type>> = args.iter().map(|a| self.atom(a, ctx)).collect();
        let prog = self.prog;
        let Some(callee) = prog.func(name) else {
            self.error(format!("{ctx}: call of unknown function `{name}`"));
            return None;
        };
        if args.len() != callee.params.len() {
            self.error(format!(
                "{ctx}: `{name}` takes {} arguments, got {}",
                callee.params.len(),
                args.len()
            ));
            return Some(callee.ret.clone());
        }
        for (k, (t, p)) in tys.iter().zip(&callee.params).enumerate() {
            self.expect(ctx, &format!("argument {k} of `{name}`"), t, &p.ty);
        }
        Some(callee.ret.clone())
    }

    fn loop_(&mut self, l: &Loop, ctx: &str) -> Option<Type> {
        let init = self.atom(&l.init, ctx);
        self.expect(ctx, "the initial state of `loop`", &init, &l.state.ty);
        let mark = self.undo.len();
        match &l.kind {
            LoopKind::For { n, index } => {
                let t = self.atom(n, ctx);
                self.expect(ctx, "the trip count of `loop`", &t, &Type::I64);
                self.expect_binder(ctx, "the index", index, &Type::I64);
                self.bind(&l.state, ctx);
                self.bind(index, ctx);
            }
            LoopKind::While { cond } => {
                self.bind(&l.state, ctx);
                let t = self.block(cond, ctx);
                self.expect(ctx, "the condition of `while`", &t, &Type::Bool);
            }
        }
        let body = self.block(&l.body, ctx);
        self.expect(ctx, "the body of `loop`", &body, &l.state.ty);
        self.restore(mark);
        Some(l.state.ty.clone())
    }

    /// The element type of a `reduce` or `scan`.
    fn combine(&mut self, what: &str, c: &Combine, ctx: &str) -> Option<Type> {
        let ne = self.atom(&c.ne, ctx);
        let elem = match self.atom(&c.array, ctx) {
            Some(Type::Array(e)) => Some(*e),
            Some(t) => {
                self.error(format!("{ctx}: `{what}` of a value of type {t}, which is not an array"));
                None
            }
            None => None,
        };
        let body = self.body(&[&c.acc, &c.elem], &c.body, ctx);
        let elem = elem?;
        self.expect(ctx, &format!("the neutral element of `{what}`"), &ne, &elem);
        self.expect_binder(ctx, &format!("the accumulator of `{what}`"), &c.acc, &elem);
        self.expect_binder(ctx, &format!("the element of `{what}`"), &c.elem, &elem);
        self.expect(ctx, &format!("the body of `{what}`"), &body, &elem);
        Some(elem)
    }

    fn deriv(&mut self, op: DerivOp, name: &str, captured: &[Atom], args: &[Atom], ctx: &str) -> Option<Type> {
        let cap_tys: Vec<Option<Type>> = captured.iter().map(|a| self.atom(a, ctx)).collect();
        let arg_tys: Vec<Option<Type>> = args.iter().map(|a| self.atom(a, ctx)).collect();
        let prog = self.prog;
        let op_name = op.name();
        let Some(callee) = prog.func(name) else {
            self.error(format!("{ctx}: `{op_name}` of unknown function `{name}`"));
            return None;
        };
        if captured.len() > callee.params.len() {
            self.error(format!(
                "{ctx}: `{op_name}` captures {} arguments, but `{name}` takes {}",
                captured.len(),
                callee.params.len()
            ));
            return None;
        }
        for (k, (t, p)) in cap_tys.iter().zip(&callee.params).enumerate() {
            self.expect(ctx, &format!("captured argument {k} of `{name}`"), t, &p.ty);
        }
        let params: Vec<Type> = callee.params[captured.len()..].iter().map(|b| b.ty.clone()).collect();
        let (want, result) = match deriv_signature(op, &params, &callee.ret) {
            Ok(sig) => sig,
            Err(m) => {
                self.error(format!("{ctx}: {m}"));
                return None;
            }
        };
        if args.len() != want.len() {
            self.error(format!(
                "{ctx}: `{op_name}({name})` takes {} arguments, got {}",
                want.len(),
                args.len()
            ));
            return Some(result);
        }
        for (k, (t, w)) in arg_tys.iter().zip(&want).enumerate() {
            self.expect(ctx, &format!("argument {k} of `{op_name}({name})`"), t, w);
        }
        Some(result)
    }
}

/// Reports every function that reaches itself through calls and
/// derivative operators.
fn check_recursion(p: &Program, errors: &mut Vec<VerifyError>) {
    let mut graph: HashMap<&str, Vec<&str>> = HashMap::default();
    for f in &p.funcs {
        let mut out = Vec::new();
        callees(&f.body, &mut out);
        graph.entry(f.name.as_str()).or_default().extend(out);
    }
    // Depth-first search; a back edge closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    fn visit<'a>(
        f: &'a str,
        graph: &HashMap<&'a str, Vec<&'a str>>,
        marks: &mut HashMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
        errors: &mut Vec<VerifyError>,
    ) {
        marks.insert(f, Mark::Active);
        path.push(f);
        for &g in graph.get(f).map(Vec::as_slice).unwrap_or(&[]) {
            match marks.get(g) {
                Some(Mark::Active) => {
                    let start = path.iter().position(|&h| h == g).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[start..].to_vec();
                    cycle.push(g);
                    errors.push(VerifyError {
                        func: Some(g.to_string()),
                        message: format!("`{g}` calls itself ({}); recursion is not allowed", cycle.join(" -> ")),
                    });
                }
                Some(Mark::Done) => {}
                None if graph.contains_key(g) => visit(g, graph, marks, path, errors),
                None => {}
            }
        }
        path.pop();
        marks.insert(f, Mark::Done);
    }
    let mut marks = HashMap::default();
    for f in &p.funcs {
        if !marks.contains_key(f.name.as_str()) {
            visit(&f.name, &graph, &mut marks, &mut Vec::new(), errors);
        }
    }
}

/// The functions a block calls or differentiates.
fn callees<'a>(b: &'a Block, out: &mut Vec<&'a str>) {
    for s in &b.stmts {
        match &s.rhs {
            Rhs::Call(name, _) | Rhs::Deriv { func: name, .. } => out.push(name),
            Rhs::Atom(_) | Rhs::Prim(..) | Rhs::Tuple(_) | Rhs::Proj(..) | Rhs::Array(..) => {}
            Rhs::If(_, a, b) => {
                callees(a, out);
                callees(b, out);
            }
            Rhs::Loop(l) => {
                match &l.kind {
                    LoopKind::For { .. } => {}
                    LoopKind::While { cond } => callees(cond, out),
                }
                callees(&l.body, out);
            }
            Rhs::Map { body, .. } | Rhs::Build { body, .. } => callees(body, out),
            Rhs::Reduce(c) | Rhs::Scan(c) => callees(&c.body, out),
        }
    }
}
