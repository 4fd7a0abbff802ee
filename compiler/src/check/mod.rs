//! Name resolution, types and sizes: AST to core IR.
//!
//! The checker is an elaborator: it walks the AST with an environment of
//! values and emits core IR as it goes. Function values (lambdas, named
//! functions, derivative operators) are static: applying one elaborates its
//! body at the call site, which is how every lambda and function-typed
//! parameter is specialised away. A first-order definition becomes one core
//! function; a lambda handed to a derivative operator is lifted to a core
//! function of its own, with the values it captures as extra parameters.
//!
//! Errors do not stop the checker: a failed expression yields
//! [`Val::Error`], which silences the errors that would follow from it, so
//! one run reports every independent problem.
//!
//! The entry point is [`check`].

/// Unwraps an `Option`, or makes the enclosing elaboration return
/// [`Val::Error`] (the error was reported where the `None` came from).
macro_rules! or_error {
    ($e:expr) => {
        match $e {
            Some(x) => x,
            None => return Val::Error,
        }
    };
}

mod apply;
mod builtins;
mod ctx;
mod defs;
mod deriv;
mod expr;
mod ops;
mod ty;

use crate::core::ir::{Atom, DerivOp, Program};
use crate::diagnostics::{Diagnostic, Span};
use crate::syntax::ast::{self, Expr, Pat};
use crate::{HashMap, HashSet};
use ctx::{CtxId, CtxStack};
use std::rc::Rc;
pub use ty::{Size, Ty};

/// One parsed source file handed to the checker.
pub struct SourceModule<'a> {
    pub file: u32,
    pub module: &'a ast::Module,
}

/// Checks a program made of several files (the prelude, the main file and
/// its imports) and lowers it to core IR. Only the tests of `main_file` are
/// kept. The program is `None` when there are errors.
pub fn check(modules: &[SourceModule], main_file: u32) -> (Option<Program>, Vec<Diagnostic>) {
    let mut elab = Elab::new();
    elab.collect(modules);
    let defs: Vec<&ast::Def> = elab.defs.values().copied().collect();
    let mut ordered: Vec<&ast::Def> = defs;
    ordered.sort_by_key(|d| d.span);
    for def in ordered {
        if !elab.is_higher_order(def) {
            elab.ensure_def(def.name.name.as_str(), def.span);
        }
    }
    for m in modules.iter().filter(|m| m.file == main_file) {
        for item in &m.module.items {
            if let ast::Item::Test { name, body, span } = item {
                elab.check_test(name, body, *span);
            }
        }
    }
    let mut diags = std::mem::take(&mut elab.diags);
    dedup(&mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }
    let mut program = Program {
        funcs: elab.funcs,
        tests: elab.tests,
    };
    program.funcs.sort_by(|a, b| a.name.cmp(&b.name));
    (Some(program), diags)
}

/// Removes repeated diagnostics (a higher-order function inlined twice
/// reports its errors once), keeping the order.
fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = HashSet::default();
    diags.retain(|d| seen.insert((d.message.clone(), d.labels.first().map(|l| l.span))));
}

/// A value during elaboration.
#[derive(Clone, Debug)]
pub enum Val<'a> {
    /// A first-order value: a core atom of context `ctx`, with its type.
    Atom { atom: Atom, ty: Ty, ctx: CtxId },
    /// A function known at compile time.
    Fn(Rc<FnVal<'a>>),
    /// The result of an expression that had an error (already reported).
    Error,
}

#[derive(Debug)]
pub enum FnVal<'a> {
    /// A top-level definition.
    Def(String),
    /// A builtin function such as `exp` or `map`.
    Builtin(&'static str),
    Lambda {
        params: &'a [Pat],
        body: &'a Expr,
        env: Env<'a>,
        span: Span,
    },
    /// A derivative operator applied to a function.
    Deriv(DerivOp, Rc<FnVal<'a>>, Span),
    /// A function passed for a parameter declared with a function type:
    /// its uses are checked against the declaration.
    Declared { name: String, ty: Ty, inner: Rc<FnVal<'a>> },
}

/// A persistent environment of local names, cheap to capture.
#[derive(Clone, Debug, Default)]
pub struct Env<'a>(Option<Rc<EnvNode<'a>>>);

#[derive(Debug)]
pub struct EnvNode<'a> {
    name: String,
    val: Val<'a>,
    next: Env<'a>,
}

impl<'a> Env<'a> {
    pub fn bind(&self, name: &str, val: Val<'a>) -> Env<'a> {
        Env(Some(Rc::new(EnvNode {
            name: name.to_string(),
            val,
            next: self.clone(),
        })))
    }

    pub fn lookup(&self, name: &str) -> Option<&Val<'a>> {
        let mut cur = &self.0;
        while let Some(node) = cur {
            if node.name == name {
                return Some(&node.val);
            }
            cur = &node.next.0;
        }
        None
    }

    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = &self.0;
        while let Some(node) = cur {
            out.push(node.name.clone());
            cur = &node.next.0;
        }
        out
    }
}

/// The signature of a checked first-order definition. Its sizes are
/// variables of the definition's own core function, substituted at calls.
#[derive(Clone, Debug)]
pub struct Sig {
    pub params: Vec<Ty>,
    pub ret: Ty,
    pub names: HashMap<crate::core::ir::VarId, String>,
}

enum SigState {
    InProgress,
    Done(Option<Sig>),
}

pub struct Elab<'a> {
    defs: HashMap<String, &'a ast::Def>,
    sigs: HashMap<String, SigState>,
    /// Definitions being checked or inlined, innermost last (for recursion).
    active: Vec<String>,
    funcs: Vec<crate::core::ir::Func>,
    tests: Vec<crate::core::ir::Test>,
    diags: Vec<Diagnostic>,
    ctx: CtxStack,
    lifted: u32,
}
