//! The reference interpreter of the core IR: the semantics every later stage
//! is tested against.
//!
//! It favours being obviously right over being fast: combinators run
//! sequentially in index order (`reduce` and `scan` are left folds from the
//! neutral element), and every array is a vector of boxed [`Value`]s.
//! Primitives are evaluated by [`Prim::eval`](crate::prim::Prim::eval).
//!
//! Each function call gets a frame: a vector of slots indexed by [`VarId`],
//! sized by [`Func::next_var`]. Loops iterate in place, so a long loop uses
//! no stack; only nested blocks and calls recurse, and core has no recursive
//! functions (a call chain deeper than [`MAX_CALL_DEPTH`] is an error).
//!
//! A run-time error carries the span of the innermost statement whose
//! evaluation failed.

use super::ir::{Atom, Block, Combine, Func, LoopKind, Program, Rhs, Stmt, VarId};
use super::value::Value;
use crate::diagnostics::Span;
use crate::opt::cost::Cost;
use crate::HashMap;
use std::cell::RefCell;
use std::fmt;

/// A run-time error: a message, and the span of the innermost statement
/// whose evaluation failed (none for an error in the call of the entry
/// function itself, such as a wrong number of arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct RunError {
    pub message: String,
    pub span: Option<Span>,
}

impl RunError {
    fn new(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            span: None,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunError {}

/// Calls deeper than this are an error: core programs do not recurse, so
/// only a malformed program gets there, and it should not overflow the stack.
pub const MAX_CALL_DEPTH: usize = 200;

/// Calls the function `func` of `program` with `args`.
pub fn run(program: &Program, func: &str, args: Vec<Value>) -> Result<Value, RunError> {
    Interpreter::new(program).call(func, args)
}

/// An interpreter for one program, for callers that run many calls (tests
/// and finite differences): the function table is built once.
pub struct Interpreter<'p> {
    program: &'p Program,
    /// Function name -> (index in `program.funcs`, frame size).
    funcs: HashMap<&'p str, (usize, usize)>,
    /// The cost of the calls so far, when counting (see `opt::cost`).
    cost: Option<RefCell<Cost>>,
}

impl<'p> Interpreter<'p> {
    pub fn new(program: &'p Program) -> Interpreter<'p> {
        let funcs = program
            .funcs
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.as_str(), (i, f.next_var() as usize)))
            .collect();
        Interpreter {
            program,
            funcs,
            cost: None,
        }
    }

    /// An interpreter that counts the cost of what it runs.
    pub fn with_cost(program: &'p Program) -> Interpreter<'p> {
        let mut interp = Interpreter::new(program);
        interp.cost = Some(RefCell::new(Cost::default()));
        interp
    }

    /// The cost of every call so far, when counting.
    pub fn cost(&self) -> Option<Cost> {
        self.cost.as_ref().map(|c| *c.borrow())
    }

    fn count(&self, f: impl FnOnce(&mut Cost)) {
        if let Some(c) = &self.cost {
            f(&mut c.borrow_mut());
        }
    }

    /// Calls the function `func` with `args`, checking their number and
    /// types against its parameters.
    pub fn call(&self, func: &str, args: Vec<Value>) -> Result<Value, RunError> {
        let (f, _) = self.lookup(func)?;
        check_arity(f, args.len())?;
        for (k, (param, arg)) in f.params.iter().zip(&args).enumerate() {
            if !arg.has_type(&param.ty) {
                let mut text = arg.to_string();
                if text.chars().count() > 40 {
                    text = text.chars().take(37).chain("...".chars()).collect();
                }
                return Err(RunError::new(format!(
                    "argument {} of `{}` should be of type {}, got `{}`",
                    k + 1,
                    func,
                    param.ty,
                    text
                )));
            }
        }
        self.call_func(func, args, 0)
    }

    fn lookup(&self, name: &str) -> Result<(&'p Func, usize), RunError> {
        match self.funcs.get(name) {
            Some(&(i, frame)) => Ok((&self.program.funcs[i], frame)),
            None => Err(RunError::new(format!("no function named `{name}`"))),
        }
    }

    fn call_func(&self, name: &str, args: Vec<Value>, depth: usize) -> Result<Value, RunError> {
        if depth >= MAX_CALL_DEPTH {
            return Err(RunError::new(format!(
                "calls nested more than {MAX_CALL_DEPTH} deep at `{name}` (recursion is not allowed)"
            )));
        }
        let (f, frame_size) = self.lookup(name)?;
        check_arity(f, args.len())?;
        let mut frame = Frame {
            slots: vec![None; frame_size],
            depth,
        };
        for (param, arg) in f.params.iter().zip(args) {
            frame.set(param.var, arg);
        }
        self.block(&f.body, &mut frame)
    }

    fn block(&self, block: &Block, frame: &mut Frame) -> Result<Value, RunError> {
        for stmt in &block.stmts {
            let value = self.stmt(stmt, frame).map_err(|mut e| {
                e.span.get_or_insert(stmt.span);
                e
            })?;
            frame.set(stmt.binder.var, value);
        }
        frame.atom(&block.result)
    }

    fn stmt(&self, stmt: &Stmt, frame: &mut Frame) -> Result<Value, RunError> {
        match &stmt.rhs {
            Rhs::Atom(a) => frame.atom(a),
            Rhs::Prim(p, args) => {
                let args = frame.atoms(args)?;
                let value = p.eval_typed(&args, &stmt.binder.ty).map_err(|e| RunError::new(e.0))?;
                self.count(|c| c.prim(*p, &args, &value));
                Ok(value)
            }
            Rhs::Tuple(fields) => Ok(Value::tuple(frame.atoms(fields)?)),
            Rhs::Proj(a, i) => match frame.atom(a)? {
                Value::Tuple(fields) if *i < fields.len() => Ok(fields[*i].clone()),
                v => Err(internal(format!("projection .{i} of a value of type {}", v.kind()))),
            },
            Rhs::Array(elems, _) => {
                let elems = frame.atoms(elems)?;
                self.count(|c| c.build(&elems));
                Ok(Value::array(elems))
            }
            Rhs::Call(name, args) => {
                let args = frame.atoms(args)?;
                self.call_func(name, args, frame.depth + 1)
            }
            Rhs::If(cond, then, els) => {
                self.count(Cost::branch);
                if frame.bool(cond)? {
                    self.block(then, frame)
                } else {
                    self.block(els, frame)
                }
            }
            Rhs::Loop(l) => {
                let mut state = frame.atom(&l.init)?;
                match &l.kind {
                    LoopKind::For { n, index } => {
                        // A negative count runs no iteration.
                        let n = frame.i64(n)?;
                        for i in 0..n.max(0) {
                            frame.set(l.state.var, state);
                            frame.set(index.var, Value::I64(i));
                            state = self.block(&l.body, frame)?;
                        }
                    }
                    LoopKind::While { cond } => loop {
                        frame.set(l.state.var, state.clone());
                        match self.block(cond, frame)? {
                            Value::Bool(true) => {}
                            Value::Bool(false) => break,
                            v => return Err(internal(format!("while condition of type {}", v.kind()))),
                        }
                        state = self.block(&l.body, frame)?;
                    },
                }
                Ok(state)
            }
            Rhs::Map { arrays, params, body } => {
                let arrays = arrays.iter().map(|a| frame.array(a)).collect::<Result<Vec<_>, _>>()?;
                if arrays.is_empty() || arrays.len() != params.len() {
                    return Err(internal(format!(
                        "map over {} arrays with {} parameters",
                        arrays.len(),
                        params.len()
                    )));
                }
                let n = arrays[0].len();
                if let Some(other) = arrays.iter().find(|a| a.len() != n) {
                    return Err(RunError::new(format!(
                        "size mismatch: expected {n}, got {}",
                        other.len()
                    )));
                }
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    for (param, array) in params.iter().zip(&arrays) {
                        frame.set(param.var, array[i].clone());
                    }
                    out.push(self.block(body, frame)?);
                }
                self.count(|c| c.map(&arrays, &out));
                regular(&out)?;
                Ok(Value::array(out))
            }
            Rhs::Build { n, index, body } => {
                let n = frame.i64(n)?;
                if n < 0 {
                    return Err(RunError::new(format!("negative size: {n}")));
                }
                let mut out = Value::try_vec(n as usize).map_err(RunError::new)?;
                for i in 0..n {
                    frame.set(index.var, Value::I64(i));
                    out.push(self.block(body, frame)?);
                }
                self.count(|c| c.build(&out));
                regular(&out)?;
                Ok(Value::array(out))
            }
            Rhs::Reduce(c) => {
                let (mut acc, array) = combine_operands(c, frame)?;
                for x in array.iter() {
                    acc = self.combine(c, acc, x.clone(), frame)?;
                }
                self.count(|cost| cost.reduce(&array));
                Ok(acc)
            }
            Rhs::Scan(c) => {
                let (mut acc, array) = combine_operands(c, frame)?;
                let mut out = Vec::with_capacity(array.len());
                for x in array.iter() {
                    acc = self.combine(c, acc, x.clone(), frame)?;
                    out.push(acc.clone());
                }
                self.count(|cost| cost.scan(&array, &out));
                Ok(Value::array(out))
            }
            Rhs::Deriv { .. } => Err(RunError::new("derivatives are not implemented yet")),
        }
    }

    fn combine(&self, c: &Combine, acc: Value, x: Value, frame: &mut Frame) -> Result<Value, RunError> {
        frame.set(c.acc.var, acc);
        frame.set(c.elem.var, x);
        self.block(&c.body, frame)
    }
}

fn combine_operands(c: &Combine, frame: &Frame) -> Result<(Value, ArrayRef), RunError> {
    Ok((frame.atom(&c.ne)?, frame.array(&c.array)?))
}

type ArrayRef = std::rc::Rc<Vec<Value>>;

fn check_arity(f: &Func, got: usize) -> Result<(), RunError> {
    if f.params.len() == got {
        Ok(())
    } else {
        let plural = if f.params.len() == 1 { "" } else { "s" };
        Err(RunError::new(format!(
            "`{}` takes {} argument{plural}, got {}",
            f.name,
            f.params.len(),
            got
        )))
    }
}

/// An error that a verified program cannot raise.
fn internal(message: String) -> RunError {
    RunError::new(format!("internal error: {message}"))
}

/// The variables of one function call.
struct Frame {
    slots: Vec<Option<Value>>,
    depth: usize,
}

impl Frame {
    fn set(&mut self, var: VarId, value: Value) {
        let i = var.0 as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(value);
    }

    fn atom(&self, atom: &Atom) -> Result<Value, RunError> {
        match atom {
            Atom::Var(v) => match self.slots.get(v.0 as usize) {
                Some(Some(value)) => Ok(value.clone()),
                _ => Err(internal(format!("variable %{} is unbound", v.0))),
            },
            Atom::F64(x) => Ok(Value::F64(*x)),
            Atom::I64(n) => Ok(Value::I64(*n)),
            Atom::Bool(b) => Ok(Value::Bool(*b)),
        }
    }

    fn atoms(&self, atoms: &[Atom]) -> Result<Vec<Value>, RunError> {
        atoms.iter().map(|a| self.atom(a)).collect()
    }

    fn i64(&self, atom: &Atom) -> Result<i64, RunError> {
        match self.atom(atom)? {
            Value::I64(n) => Ok(n),
            v => Err(internal(format!("expected an i64, got {}", v.kind()))),
        }
    }

    fn bool(&self, atom: &Atom) -> Result<bool, RunError> {
        match self.atom(atom)? {
            Value::Bool(b) => Ok(b),
            v => Err(internal(format!("expected a bool, got {}", v.kind()))),
        }
    }

    fn array(&self, atom: &Atom) -> Result<ArrayRef, RunError> {
        match self.atom(atom)? {
            Value::Array(a) => Ok(a),
            v => Err(internal(format!("expected an array, got {}", v.kind()))),
        }
    }
}

/// Checks that the elements of an array have the same sizes, as compiled
/// code does: arrays of arrays are regular.
fn regular(elems: &[Value]) -> Result<(), RunError> {
    match elems.split_first() {
        Some((first, rest)) if matches!(first, Value::Array(_) | Value::Tuple(_)) => rest
            .iter()
            .try_for_each(|e| crate::prim::same_sizes(first, e))
            .map_err(|e| RunError::new(e.0)),
        _ => Ok(()),
    }
}
