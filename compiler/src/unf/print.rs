//! The text form of the unary form. Slots print as `%level`; names are
//! hints and do not print, so the text shows exactly the de Bruijn
//! structure. A structured term prints its blocks indented, each with the
//! slots it pushes before its ops (`\(%6: f64) ->`).
//!
//! ```text
//! def f(%0: f64, %1: []f64) -> []f64 =
//!   let %2: []f64 = map(%1) \(%2: f64) ->
//!     let %3: f64 = mul(%2, %0)
//!     in %3
//!   in %2
//! ```

use super::{Block, Func, Lit, Slot, Term};
use crate::core::print::f64_text;
use std::fmt::{self, Write};

/// The text of `f`, ending with a newline.
pub fn print_func(f: &Func) -> String {
    let mut p = Printer { out: String::new() };
    let _ = write!(p.out, "def {}(", f.name);
    for (k, param) in f.params.iter().enumerate() {
        if k > 0 {
            p.out.push_str(", ");
        }
        let _ = write!(p.out, "%{k}: {}", param.ty);
    }
    let _ = writeln!(p.out, ") -> {} =", f.ret);
    p.block(&f.body, f.params.len(), 2);
    p.out
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_func(self))
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

struct Printer {
    out: String,
}

fn list(slots: &[Slot]) -> String {
    slots.iter().map(Slot::to_string).collect::<Vec<_>>().join(", ")
}

impl Printer {
    fn indent(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    /// The ops and result of `b`; `depth` is the level of its first op.
    fn block(&mut self, b: &Block, depth: usize, ind: usize) {
        for (k, op) in b.ops.iter().enumerate() {
            let level = depth + k;
            self.indent(ind);
            let _ = write!(self.out, "let %{level}: {} = ", op.ty);
            self.term(&op.term, level, ind);
        }
        self.indent(ind);
        let _ = writeln!(self.out, "in {}", b.result);
    }

    /// A nested block: its parameters after `\`, then its ops on the
    /// following lines. `level` is the level of the structured op, where
    /// the block's parameters start.
    fn nested(&mut self, head: &str, b: &Block, level: usize, ind: usize) {
        self.out.push_str(head);
        if !b.params.is_empty() {
            self.out.push_str(" \\");
            for (k, p) in b.params.iter().enumerate() {
                let _ = write!(self.out, "(%{}: {}) ", level + k, p.ty);
            }
            self.out.push_str("->");
        }
        self.out.push('\n');
        self.block(b, level + b.params.len(), ind + 2);
    }

    fn term(&mut self, t: &Term, level: usize, ind: usize) {
        match t {
            Term::Var(s) => {
                let _ = writeln!(self.out, "{s}");
            }
            Term::Lit(Lit::F64(x)) => {
                let _ = writeln!(self.out, "{}", f64_text(*x));
            }
            Term::Lit(Lit::I64(n)) => {
                let _ = writeln!(self.out, "{n}");
            }
            Term::Lit(Lit::Bool(p)) => {
                let _ = writeln!(self.out, "{p}");
            }
            Term::Prim(p, args) => {
                let _ = writeln!(self.out, "{}({})", p.name(), list(args));
            }
            Term::Tuple(args) => {
                let _ = writeln!(self.out, "({})", list(args));
            }
            Term::Proj(s, i) => {
                let _ = writeln!(self.out, "{s}.{i}");
            }
            Term::Array(args, ty) => {
                let _ = writeln!(self.out, "[{}]: []{ty}", list(args));
            }
            Term::If(c, a, b) => {
                self.nested(&format!("if {c} then"), a, level, ind);
                self.indent(ind);
                self.nested("else", b, level, ind);
            }
            Term::Map { arrays, body } => self.nested(&format!("map({})", list(arrays)), body, level, ind),
            Term::Build { n, body } => self.nested(&format!("build({n})"), body, level, ind),
            Term::Reduce { ne, array, body } => self.nested(&format!("reduce({ne}, {array})"), body, level, ind),
            Term::Scan { ne, array, body } => self.nested(&format!("scan({ne}, {array})"), body, level, ind),
            Term::For { init, n, body } => self.nested(&format!("loop({init}) for {n} do"), body, level, ind),
            Term::While { init, cond, body } => {
                self.nested(&format!("loop({init}) while"), cond, level, ind);
                self.indent(ind);
                self.nested("do", body, level, ind);
            }
        }
    }
}
