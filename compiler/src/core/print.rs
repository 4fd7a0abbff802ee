//! The printer of core IR. Its text reads back with `core::parse`.
//!
//! The text form, by example:
//!
//! ```text
//! def f(x.0: f64, a.1: []f64) -> f64 =
//!   let t.2: f64 = mul(x.0, x.0)
//!   let m.3: []f64 = map(a.1) \(e.4: f64) ->
//!     let u.5: f64 = add(e.4, t.2)
//!     in u.5
//!   let s.6: f64 = sum(m.3)
//!   let r.7: f64 = loop (acc.8: f64) = s.6 for (i.9: i64) < 10 do
//!     let c.10: f64 = to_f64(i.9)
//!     let d.11: f64 = add(acc.8, c.10)
//!     in d.11
//!   in r.7
//!
//! test "f works" = f_test
//! ```
//!
//! - A variable prints as `name.id`: the name of its binder and its
//!   [`VarId`]. A variable used but bound nowhere in its function prints as
//!   `v.id`. A name that is not a plain identifier is quoted: `"a b".3`.
//! - Literals: f64 always has a `.` or an exponent (`1.0`, `-2.5`, `1e-7`,
//!   Rust's shortest round-trip form), or is `nan`, `inf`, `-inf`; i64 is
//!   `3`; bools are `true` and `false`.
//! - Every binder carries its type; lambda-like binders are parenthesised:
//!   `\(e.4: f64) ->`, `loop (acc.8: f64) = ...`, `for (i.9: i64) < n.1 do`.
//! - A block is its statements, one per line, then `in atom`; a nested
//!   block is indented two more spaces than the statement that holds it.
//!   Indentation is for the reader: the parser does not need it.
//! - Spans are not printed.
//!
//! The right-hand sides: `x.1` (an atom), `add(x.1, 2.0)` (a primitive, by
//! its [`Prim::name`](crate::prim::Prim::name)), `(a.1, b.2)`, `(a.1,)` and
//! `()` (tuples), `proj(t.3, 0)`, `[1.0, 2.0]: []f64` (an array literal and
//! its array type), `call g(x.1)`, `if c.1 then BLOCK else BLOCK`,
//! `loop (s.2: T) = init for (i.3: i64) < n do BLOCK`,
//! `loop (s.2: T) = init while BLOCK do BLOCK`,
//! `map(a.1, b.2) \(x.3: f64) (y.4: f64) -> BLOCK`,
//! `build(n.1) \(i.2: i64) -> BLOCK`,
//! `reduce(ne, a.1) \(acc.2: f64) (x.3: f64) -> BLOCK` (and `scan`), and
//! `grad(f, c.1)(x.2)`: a derivative operator by its
//! [`DerivOp::name`], the function and its captured arguments, then the
//! arguments.

use super::ir::{Atom, Binder, Block, Combine, DerivOp, Func, Loop, LoopKind, Program, Rhs, Type, VarId};
use crate::HashMap;
use std::fmt::{self, Write};

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::F64 => write!(f, "f64"),
            Type::I64 => write!(f, "i64"),
            Type::Bool => write!(f, "bool"),
            Type::Array(t) => write!(f, "[]{t}"),
            Type::Tuple(ts) => {
                write!(f, "(")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{t}")?;
                }
                if ts.len() == 1 {
                    write!(f, ",")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_func(self))
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_program(self))
    }
}

/// The text of a whole program: its functions, separated by blank lines,
/// then its tests.
pub fn print_program(p: &Program) -> String {
    let mut out = String::new();
    for (i, f) in p.funcs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&print_func(f));
    }
    if !p.funcs.is_empty() && !p.tests.is_empty() {
        out.push('\n');
    }
    for t in &p.tests {
        out.push_str("test ");
        write_string(&mut out, &t.name);
        out.push_str(" = ");
        write_name(&mut out, &t.func);
        out.push('\n');
    }
    out
}

/// The text of one function, ending with a newline.
pub fn print_func(f: &Func) -> String {
    let mut p = Printer {
        names: binder_names(f),
        out: String::new(),
    };
    p.out.push_str("def ");
    write_name(&mut p.out, &f.name);
    p.out.push('(');
    for (i, b) in f.params.iter().enumerate() {
        if i > 0 {
            p.out.push_str(", ");
        }
        p.binder(b);
    }
    let _ = writeln!(p.out, ") -> {} =", f.ret);
    p.block(&f.body, 2);
    p.out
}

/// The name of every variable bound in `f`, by id. Should an id be bound
/// twice (which the verifier rejects), the first binder names it: the
/// parameters, then the binders in [`Block::visit_binders`] order.
pub(crate) fn binder_names(f: &Func) -> HashMap<VarId, String> {
    let mut names = HashMap::default();
    for p in &f.params {
        names.entry(p.var).or_insert_with(|| p.name.clone());
    }
    f.body.visit_binders(&mut |b| {
        names.entry(b.var).or_insert_with(|| b.name.clone());
    });
    names
}

/// The name that stands for a variable bound nowhere in its function.
pub(crate) const UNBOUND_NAME: &str = "v";

/// `name.id`, with the name quoted when it is not a plain identifier.
pub(crate) fn var_text(name: &str, var: VarId) -> String {
    let mut out = String::new();
    write_name(&mut out, name);
    let _ = write!(out, ".{}", var.0);
    out
}

/// An f64 literal: Rust's shortest round-trip form, which always has a `.`
/// or an exponent, or `nan`, `inf`, `-inf`.
pub(crate) fn f64_text(x: f64) -> String {
    if x.is_nan() {
        "nan".to_string()
    } else if x == f64::INFINITY {
        "inf".to_string()
    } else if x == f64::NEG_INFINITY {
        "-inf".to_string()
    } else {
        format!("{x:?}")
    }
}

/// True for names that print without quotes: `[A-Za-z_][A-Za-z0-9_']*`.
pub(crate) fn is_plain_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '\'')
        }
        _ => false,
    }
}

fn write_name(out: &mut String, name: &str) {
    if is_plain_name(name) {
        out.push_str(name);
    } else {
        write_string(out, name);
    }
}

/// A double-quoted string with `\"`, `\\`, `\n`, `\t`, `\r` and
/// `\u{hex}` escapes for the other control characters.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Printer {
    names: HashMap<VarId, String>,
    out: String,
}

impl Printer {
    fn var(&mut self, v: VarId) {
        let name = self.names.get(&v).map_or(UNBOUND_NAME, String::as_str);
        write_name(&mut self.out, name);
        let _ = write!(self.out, ".{}", v.0);
    }

    fn atom(&mut self, a: &Atom) {
        match *a {
            Atom::Var(v) => self.var(v),
            Atom::F64(x) => self.out.push_str(&f64_text(x)),
            Atom::I64(n) => {
                let _ = write!(self.out, "{n}");
            }
            Atom::Bool(b) => {
                let _ = write!(self.out, "{b}");
            }
        }
    }

    fn atoms(&mut self, atoms: &[Atom]) {
        for (i, a) in atoms.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.atom(a);
        }
    }

    /// `name.id: type`
    fn binder(&mut self, b: &Binder) {
        write_name(&mut self.out, &b.name);
        let _ = write!(self.out, ".{}: {}", b.var.0, b.ty);
    }

    /// `\(x.1: f64) (y.2: f64) ->`
    fn lambda(&mut self, params: &[&Binder]) {
        self.out.push('\\');
        for (i, b) in params.iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            self.out.push('(');
            self.binder(b);
            self.out.push(')');
        }
        if params.is_empty() {
            self.out.push(' ');
        }
        self.out.push_str(" ->\n");
    }

    fn indent(&mut self, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    fn block(&mut self, b: &Block, indent: usize) {
        for s in &b.stmts {
            self.indent(indent);
            self.out.push_str("let ");
            self.binder(&s.binder);
            self.out.push_str(" = ");
            self.rhs(&s.rhs, indent);
        }
        self.indent(indent);
        self.out.push_str("in ");
        self.atom(&b.result);
        self.out.push('\n');
    }

    /// Prints a right-hand side that starts on the current line at a
    /// statement of indentation `indent`, through its final newline.
    fn rhs(&mut self, rhs: &Rhs, indent: usize) {
        let inner = indent + 2;
        match rhs {
            Rhs::Atom(a) => {
                self.atom(a);
                self.out.push('\n');
            }
            Rhs::Prim(p, args) => {
                self.out.push_str(p.name());
                self.out.push('(');
                self.atoms(args);
                self.out.push_str(")\n");
            }
            Rhs::Tuple(atoms) => {
                self.out.push('(');
                self.atoms(atoms);
                if atoms.len() == 1 {
                    self.out.push(',');
                }
                self.out.push_str(")\n");
            }
            Rhs::Proj(a, i) => {
                self.out.push_str("proj(");
                self.atom(a);
                let _ = writeln!(self.out, ", {i})");
            }
            Rhs::Array(atoms, elem) => {
                self.out.push('[');
                self.atoms(atoms);
                let _ = writeln!(self.out, "]: []{elem}");
            }
            Rhs::Call(name, args) => {
                self.out.push_str("call ");
                write_name(&mut self.out, name);
                self.out.push('(');
                self.atoms(args);
                self.out.push_str(")\n");
            }
            Rhs::If(c, then, els) => {
                self.out.push_str("if ");
                self.atom(c);
                self.out.push_str(" then\n");
                self.block(then, inner);
                self.indent(indent);
                self.out.push_str("else\n");
                self.block(els, inner);
            }
            Rhs::Loop(l) => self.loop_(l, indent),
            Rhs::Map { arrays, params, body } => {
                self.out.push_str("map(");
                self.atoms(arrays);
                self.out.push_str(") ");
                self.lambda(&params.iter().collect::<Vec<_>>());
                self.block(body, inner);
            }
            Rhs::Build { n, index, body } => {
                self.out.push_str("build(");
                self.atom(n);
                self.out.push_str(") ");
                self.lambda(&[index]);
                self.block(body, inner);
            }
            Rhs::Reduce(c) => self.combine("reduce", c, indent),
            Rhs::Scan(c) => self.combine("scan", c, indent),
            Rhs::Deriv {
                op,
                func,
                captured,
                args,
            } => self.deriv(*op, func, captured, args),
        }
    }

    fn loop_(&mut self, l: &Loop, indent: usize) {
        self.out.push_str("loop (");
        self.binder(&l.state);
        self.out.push_str(") = ");
        self.atom(&l.init);
        match &l.kind {
            LoopKind::For { n, index } => {
                self.out.push_str(" for (");
                self.binder(index);
                self.out.push_str(") < ");
                self.atom(n);
                self.out.push_str(" do\n");
            }
            LoopKind::While { cond } => {
                self.out.push_str(" while\n");
                self.block(cond, indent + 2);
                self.indent(indent);
                self.out.push_str("do\n");
            }
        }
        self.block(&l.body, indent + 2);
    }

    fn combine(&mut self, keyword: &str, c: &Combine, indent: usize) {
        self.out.push_str(keyword);
        self.out.push('(');
        self.atom(&c.ne);
        self.out.push_str(", ");
        self.atom(&c.array);
        self.out.push_str(") ");
        self.lambda(&[&c.acc, &c.elem]);
        self.block(&c.body, indent + 2);
    }

    fn deriv(&mut self, op: DerivOp, func: &str, captured: &[Atom], args: &[Atom]) {
        self.out.push_str(op.name());
        self.out.push('(');
        write_name(&mut self.out, func);
        for a in captured {
            self.out.push_str(", ");
            self.atom(a);
        }
        self.out.push_str(")(");
        self.atoms(args);
        self.out.push_str(")\n");
    }
}
