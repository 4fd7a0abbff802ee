//! The AST as text: fully parenthesised s-expressions, for `dl ir --stage
//! ast` and the parser's snapshot tests.
//!
//! ```text
//! (def f ((x f64) (v [n]f64)) -> f64 (+ x (* (index v 0) (neg y))))
//! (let ((x 1) ((tuple a _) p)) (lambda (x (: y f64)) (call g x y)))
//! ```
//!
//! Operators print as their symbol (`+`, `**`, `~=`), unary minus and `!`
//! as `neg` and `not`; types print in their surface syntax (`[n][_]f64`,
//! `(f64, i64)`, `(f64,)`, `(f64) -> f64`); a missing slice bound prints as
//! `_`. A form that does not fit in 80 columns breaks over several lines,
//! one argument per line, indented by two.

use crate::syntax::ast::*;

const WIDTH: usize = 80;

/// Prints every item of a module, separated by blank lines.
pub fn print_module(m: &Module) -> String {
    let mut out = String::new();
    for (i, item) in m.items.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        layout(&item_sx(item), 0, &mut out);
        out.push('\n');
    }
    out
}

/// Prints one expression, without a trailing newline.
pub fn print_expr(e: &Expr) -> String {
    let mut out = String::new();
    layout(&expr_sx(e), 0, &mut out);
    out
}

/// Prints a type in surface syntax.
pub fn print_type(t: &TypeExpr) -> String {
    let mut out = String::new();
    type_text(t, &mut out);
    out
}

/// Prints a pattern.
pub fn print_pat(p: &Pat) -> String {
    let mut out = String::new();
    layout(&pat_sx(p), 0, &mut out);
    out
}

/// A printed form: an atom, or a list whose first `keep` elements stay on
/// the opening line when the list is broken over several lines.
enum Sx {
    Atom(String),
    List(usize, Vec<Sx>),
}

fn atom(s: impl Into<String>) -> Sx {
    Sx::Atom(s.into())
}

fn list(head: &str, rest: impl IntoIterator<Item = Sx>) -> Sx {
    let mut v = vec![atom(head)];
    v.extend(rest);
    Sx::List(1, v)
}

fn item_sx(item: &Item) -> Sx {
    match item {
        Item::Def(d) => {
            let params = Sx::List(
                0,
                d.params
                    .iter()
                    .map(|p| Sx::List(2, vec![atom(&p.name.name), atom(print_type(&p.ty))]))
                    .collect(),
            );
            let mut v = vec![atom("def"), atom(&d.name.name), params];
            if let Some(r) = &d.ret {
                v.push(atom("->"));
                v.push(atom(print_type(r)));
            }
            let keep = v.len();
            v.push(expr_sx(&d.body));
            Sx::List(keep, v)
        }
        Item::Import { path, .. } => list("import", [atom(format!("{path:?}"))]),
        Item::Test { name, body, .. } => Sx::List(2, vec![atom("test"), atom(format!("{name:?}")), expr_sx(body)]),
    }
}

fn expr_sx(e: &Expr) -> Sx {
    match &e.kind {
        ExprKind::Int(v) => atom(v.to_string()),
        ExprKind::Float(v) => atom(format!("{v:?}")),
        ExprKind::Bool(b) => atom(b.to_string()),
        ExprKind::Var(id) => atom(&id.name),
        ExprKind::Tuple(es) => list("tuple", es.iter().map(expr_sx)),
        ExprKind::Array(es) => list("array", es.iter().map(expr_sx)),
        ExprKind::Binary(op, a, b) => list(op.symbol(), [expr_sx(a), expr_sx(b)]),
        ExprKind::Unary(op, a) => {
            let name = match op {
                UnOp::Neg => "neg",
                UnOp::Not => "not",
            };
            list(name, [expr_sx(a)])
        }
        ExprKind::Call(f, args) => list("call", std::iter::once(expr_sx(f)).chain(args.iter().map(expr_sx))),
        ExprKind::Index(a, subs) => list(
            "index",
            std::iter::once(expr_sx(a)).chain(subs.iter().map(|s| match s {
                Subscript::Index(i) => expr_sx(i),
                Subscript::Slice(lo, hi) => {
                    let bound = |b: &Option<Expr>| b.as_ref().map_or_else(|| atom("_"), expr_sx);
                    list("slice", [bound(lo), bound(hi)])
                }
            })),
        ),
        ExprKind::Proj(t, i) => list("proj", [expr_sx(t), atom(i.to_string())]),
        ExprKind::Let(binds, body) => {
            let binds = Sx::List(
                0,
                binds
                    .iter()
                    .map(|(p, e)| Sx::List(1, vec![pat_sx(p), expr_sx(e)]))
                    .collect(),
            );
            Sx::List(2, vec![atom("let"), binds, expr_sx(body)])
        }
        ExprKind::If(c, a, b) => list("if", [expr_sx(c), expr_sx(a), expr_sx(b)]),
        ExprKind::Lambda(ps, body) => Sx::List(
            2,
            vec![
                atom("lambda"),
                Sx::List(0, ps.iter().map(pat_sx).collect()),
                expr_sx(body),
            ],
        ),
        ExprKind::Loop { pat, init, kind, body } => {
            let kind = match kind {
                LoopKind::For(i, n) => list("for", [atom(&i.name), expr_sx(n)]),
                LoopKind::While(c) => list("while", [expr_sx(c)]),
            };
            Sx::List(2, vec![atom("loop"), pat_sx(pat), expr_sx(init), kind, expr_sx(body)])
        }
        ExprKind::Error => Sx::List(1, vec![atom("error")]),
    }
}

fn pat_sx(p: &Pat) -> Sx {
    match p {
        Pat::Var(id) => atom(&id.name),
        Pat::Wild(_) => atom("_"),
        Pat::Tuple(ps, _) => list("tuple", ps.iter().map(pat_sx)),
        Pat::Typed(p, t) => list(":", [pat_sx(p), atom(print_type(t))]),
    }
}

fn type_text(t: &TypeExpr, out: &mut String) {
    match &t.kind {
        TypeKind::F64 => out.push_str("f64"),
        TypeKind::I64 => out.push_str("i64"),
        TypeKind::Bool => out.push_str("bool"),
        TypeKind::Array(size, elem) => {
            out.push('[');
            match size {
                SizeExpr::Const(n) => out.push_str(&n.to_string()),
                SizeExpr::Var(id) => out.push_str(&id.name),
                SizeExpr::Unknown => out.push('_'),
            }
            out.push(']');
            type_text(elem, out);
        }
        TypeKind::Tuple(ts) => {
            type_list(ts, out);
            if ts.len() == 1 {
                out.insert(out.len() - 1, ',');
            }
        }
        TypeKind::Func(ps, r) => {
            type_list(ps, out);
            out.push_str(" -> ");
            type_text(r, out);
        }
    }
}

fn type_list(ts: &[TypeExpr], out: &mut String) {
    out.push('(');
    for (i, t) in ts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        type_text(t, out);
    }
    out.push(')');
}

/// The width of a form printed on one line.
fn flat_width(sx: &Sx) -> usize {
    match sx {
        Sx::Atom(s) => s.chars().count(),
        Sx::List(_, v) => 1 + v.iter().map(flat_width).sum::<usize>() + v.len().saturating_sub(1) + 1,
    }
}

fn flat(sx: &Sx, out: &mut String) {
    match sx {
        Sx::Atom(s) => out.push_str(s),
        Sx::List(_, v) => {
            out.push('(');
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                flat(x, out);
            }
            out.push(')');
        }
    }
}

fn layout(sx: &Sx, indent: usize, out: &mut String) {
    let Sx::List(keep, v) = sx else {
        return flat(sx, out);
    };
    if indent + flat_width(sx) <= WIDTH || v.is_empty() {
        return flat(sx, out);
    }
    // The elements kept on the opening line; the rest go one per line,
    // under the first element for a plain list, two spaces in otherwise.
    let inner = if *keep == 0 { indent + 1 } else { indent + 2 };
    let keep = (*keep).clamp(1, v.len());
    out.push('(');
    let mut col = indent + 1;
    for (i, x) in v[..keep].iter().enumerate() {
        if i > 0 {
            out.push(' ');
            col += 1;
        }
        layout(x, col, out);
        col += flat_width(x);
    }
    for x in &v[keep..] {
        out.push('\n');
        out.push_str(&" ".repeat(inner));
        layout(x, inner, out);
    }
    out.push(')');
}
