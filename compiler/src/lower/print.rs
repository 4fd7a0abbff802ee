//! The text form of a LIR function, for `dl ir --stage lir` and snapshots.
//!
//! By example:
//!
//! ```text
//! func f(a.0: i64, a_1.1: ptr) -> f64 {
//!   acc.2: f64 = 0.0
//!   for i.3 in 0..a.0 [vector parallel reduce(acc.2 fadd)] {
//!     x.4: f64 = load.f64 a_1.1[i.3]
//!     acc.2 = fadd acc.2, x.4
//!   }
//! } -> (acc.2)
//! locations:
//!   @0 1:10..25
//! ```
//!
//! - A variable prints as `name.index`; its type follows its first `Set`.
//! - Instructions: `v = EXPR`, `store.T base[index] = value`,
//!   `copy.T dst <- src, n`, `if c { } else { }`,
//!   `for i in start..end [hints] { }`, `while { cond } test t { body }`,
//!   `r = call name(args)`, `mark m`, `release m`,
//!   `fail KIND @LOC (values)`.
//! - Expressions: an operand, `OP a` or `OP a, b` (operations in lower case),
//!   `select c, a, b`, `load.T base[index]`, `offset.T base[index]`,
//!   `alloc.T n`.
//! - Locations print as `file:start..end` byte offsets.

use super::lir::{BinOp, Expr, Func, Inst, Operand, UnOp, Var};
use crate::HashSet;
use std::fmt::Write;

/// The text form of `func`.
pub fn print(func: &Func) -> String {
    let mut p = Printer {
        func,
        out: String::new(),
        typed: HashSet::default(),
    };
    let params: Vec<String> = func
        .params
        .iter()
        .map(|v| {
            p.typed.insert(*v);
            format!("{}: {}", p.var(*v), func.vars[v.0 as usize].ty)
        })
        .collect();
    let _ = writeln!(
        p.out,
        "func {}({}) -> {} {{",
        func.name,
        params.join(", "),
        func.result_type
    );
    p.block(&func.body, 1);
    let results: Vec<String> = func.results.iter().map(|o| p.operand(*o)).collect();
    let _ = writeln!(p.out, "}} -> ({})", results.join(", "));
    if !func.locations.is_empty() {
        p.out.push_str("locations:\n");
        for (k, span) in func.locations.iter().enumerate() {
            let _ = writeln!(p.out, "  @{k} {}:{}..{}", span.file, span.start, span.end);
        }
    }
    p.out
}

struct Printer<'f> {
    func: &'f Func,
    out: String,
    /// Variables whose type has been printed.
    typed: HashSet<Var>,
}

impl Printer<'_> {
    fn var(&self, v: Var) -> String {
        match self.func.vars.get(v.0 as usize) {
            Some(info) => format!("{}.{}", info.name, v.0),
            None => format!("v.{}", v.0),
        }
    }

    /// A variable being set: with its type the first time.
    fn target(&mut self, v: Var) -> String {
        if self.typed.insert(v) {
            let ty = self
                .func
                .vars
                .get(v.0 as usize)
                .map(|i| i.ty.to_string())
                .unwrap_or_default();
            format!("{}: {ty}", self.var(v))
        } else {
            self.var(v)
        }
    }

    fn operand(&self, o: Operand) -> String {
        match o {
            Operand::Var(v) => self.var(v),
            Operand::F64(x) => {
                let mut s = String::new();
                let _ = crate::core::value::write_f64(&mut s, x);
                s
            }
            Operand::I64(n) => n.to_string(),
            Operand::Bool(b) => b.to_string(),
        }
    }

    fn expr(&self, e: &Expr) -> String {
        match e {
            Expr::Atom(a) => self.operand(*a),
            Expr::Unary(op, a) => format!("{} {}", unop_name(*op), self.operand(*a)),
            Expr::Binary(op, a, b) => format!("{} {}, {}", binop_name(*op), self.operand(*a), self.operand(*b)),
            Expr::Select(c, a, b) => format!(
                "select {}, {}, {}",
                self.operand(*c),
                self.operand(*a),
                self.operand(*b)
            ),
            Expr::Load { ty, base, index } => format!("load.{ty} {}[{}]", self.operand(*base), self.operand(*index)),
            Expr::Offset { ty, base, index } => {
                format!("offset.{ty} {}[{}]", self.operand(*base), self.operand(*index))
            }
            Expr::Alloc { ty, n } => format!("alloc.{ty} {}", self.operand(*n)),
        }
    }

    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn block(&mut self, code: &[Inst], depth: usize) {
        for inst in code {
            self.inst(inst, depth);
        }
    }

    fn inst(&mut self, inst: &Inst, depth: usize) {
        match inst {
            Inst::Set(v, e) => {
                let text = format!("{} = {}", self.target(*v), self.expr(e));
                self.line(depth, &text);
            }
            Inst::Store { ty, base, index, value } => {
                let text = format!(
                    "store.{ty} {}[{}] = {}",
                    self.operand(*base),
                    self.operand(*index),
                    self.operand(*value)
                );
                self.line(depth, &text);
            }
            Inst::Copy { ty, dst, src, n } => {
                let text = format!(
                    "copy.{ty} {} <- {}, {}",
                    self.operand(*dst),
                    self.operand(*src),
                    self.operand(*n)
                );
                self.line(depth, &text);
            }
            Inst::If { cond, then, els } => {
                let text = format!("if {} {{", self.operand(*cond));
                self.line(depth, &text);
                self.block(then, depth + 1);
                if els.is_empty() {
                    self.line(depth, "}");
                } else {
                    self.line(depth, "} else {");
                    self.block(els, depth + 1);
                    self.line(depth, "}");
                }
            }
            Inst::For {
                index,
                start,
                end,
                body,
                hint,
            } => {
                self.typed.insert(*index);
                let mut flags = Vec::new();
                if hint.vector {
                    flags.push("vector".to_string());
                }
                if hint.parallel {
                    flags.push("parallel".to_string());
                }
                if hint.independent {
                    flags.push("independent".to_string());
                }
                for (acc, op) in &hint.reductions {
                    flags.push(format!("reduce({} {})", self.var(*acc), binop_name(*op)));
                }
                for summed in &hint.summed {
                    flags.push(format!("sum_into({})", self.var(summed.buffer)));
                }
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", flags.join(" "))
                };
                let text = format!(
                    "for {} in {}..{}{flags} {{",
                    self.var(*index),
                    self.operand(*start),
                    self.operand(*end)
                );
                self.line(depth, &text);
                self.block(body, depth + 1);
                self.line(depth, "}");
            }
            Inst::While { cond, test, body } => {
                self.line(depth, "while {");
                self.block(cond, depth + 1);
                let text = format!("}} test {} {{", self.operand(*test));
                self.line(depth, &text);
                self.block(body, depth + 1);
                self.line(depth, "}");
            }
            Inst::Call { func, args, result } => {
                let args: Vec<String> = args.iter().map(|a| self.operand(*a)).collect();
                let call = format!("call {func}({})", args.join(", "));
                let text = match result {
                    Some(v) => format!("{} = {call}", self.target(*v)),
                    None => call,
                };
                self.line(depth, &text);
            }
            Inst::ArenaMark(v) => {
                let text = format!("mark {}", self.target(*v));
                self.line(depth, &text);
            }
            Inst::ArenaRelease(m) => {
                let text = format!("release {}", self.operand(*m));
                self.line(depth, &text);
            }
            Inst::Fail { kind, loc, values } => {
                let values: Vec<String> = values.iter().map(|a| self.operand(*a)).collect();
                let text = format!("fail {kind} @{loc} ({})", values.join(", "));
                self.line(depth, &text);
            }
        }
    }
}

pub fn binop_name(op: BinOp) -> &'static str {
    use BinOp::*;
    match op {
        FAdd => "fadd",
        FSub => "fsub",
        FMul => "fmul",
        FDiv => "fdiv",
        FMin => "fmin",
        FMax => "fmax",
        IAdd => "iadd",
        ISub => "isub",
        IMul => "imul",
        SizeMul => "size_mul",
        IDiv => "idiv",
        IRem => "irem",
        IMin => "imin",
        IMax => "imax",
        FEq => "feq",
        FNe => "fne",
        FLt => "flt",
        FLe => "fle",
        FGt => "fgt",
        FGe => "fge",
        IEq => "ieq",
        INe => "ine",
        ILt => "ilt",
        ILe => "ile",
        IGt => "igt",
        IGe => "ige",
        And => "and",
        Or => "or",
        BEq => "beq",
        BNe => "bne",
    }
}

pub fn unop_name(op: UnOp) -> &'static str {
    use UnOp::*;
    match op {
        FNeg => "fneg",
        FAbs => "fabs",
        FSqrt => "fsqrt",
        FFloor => "ffloor",
        FCeil => "fceil",
        FSign => "fsign",
        INeg => "ineg",
        IAbs => "iabs",
        ISign => "isign",
        Not => "not",
        IToF => "itof",
        FToI => "ftoi",
        BToI => "btoi",
    }
}
