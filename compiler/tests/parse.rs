//! File tests for the parser: every `tests/parse/*.dl` file of the repository
//! is parsed, and its printed AST and rendered diagnostics are compared with
//! a snapshot in `tests/snapshots/`. Create or update snapshots by running
//! with `INSTA_UPDATE=always` and review the changes before committing.

use dl_compiler::diagnostics::{render, SourceMap, Span};
use dl_compiler::syntax::{self, ast::*};
use std::path::Path;

fn snapshot_text(name: &str, text: &str) -> String {
    let mut sources = SourceMap::new();
    let file = sources.add(name, text);
    let (module, diags) = syntax::parse(file, text);
    check_module_spans(text, &module);
    for d in &diags {
        for l in &d.labels {
            check_in_text(text, l.span);
        }
    }
    let mut out = syntax::print_module(&module);
    if !diags.is_empty() {
        out.push_str("\n---- diagnostics ----\n");
        out.push_str(&render(&sources, &diags));
    }
    out
}

#[test]
fn parse_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/parse");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dl"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 25, "tests/parse has only {} files", paths.len());
    // Every file is checked, and all failures are listed at the end.
    let mut failed = Vec::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            let has_errors = !syntax::parse(0, &text).1.is_empty();
            // The `err_` files, and only they, have syntax errors.
            assert_eq!(name.starts_with("err_"), has_errors, "{name}: errors");
            insta::with_settings!({
                snapshot_path => "../../tests/parse/snapshots",
                prepend_module_to_snapshot => false,
            }, {
                insta::assert_snapshot!(stem.as_str(), snapshot_text(&name, &text), &name);
            });
        });
        if outcome.is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
}

// ------------------------------------------------------------------ spans

fn check_in_text(text: &str, s: Span) {
    assert!(s.start <= s.end, "span {s:?} is reversed");
    assert!((s.end as usize) <= text.len(), "span {s:?} is past the end");
    assert!(text.is_char_boundary(s.start as usize), "span {s:?} splits a char");
    assert!(text.is_char_boundary(s.end as usize), "span {s:?} splits a char");
}

fn check_within(text: &str, outer: Span, inner: Span) {
    check_in_text(text, inner);
    assert!(
        outer.start <= inner.start && inner.end <= outer.end,
        "span {inner:?} ({:?}) is not within {outer:?} ({:?})",
        &text[inner.start as usize..inner.end as usize],
        &text[outer.start as usize..outer.end as usize],
    );
}

/// Every node's span lies within its parent's and within the text.
fn check_module_spans(text: &str, m: &Module) {
    for item in &m.items {
        match item {
            Item::Def(d) => {
                check_in_text(text, d.span);
                check_within(text, d.span, d.name.span);
                for p in &d.params {
                    check_within(text, d.span, p.name.span);
                    check_type(text, d.span, &p.ty);
                }
                if let Some(t) = &d.ret {
                    check_type(text, d.span, t);
                }
                check_expr(text, d.span, &d.body);
            }
            Item::Test { body, span, .. } => {
                check_in_text(text, *span);
                check_expr(text, *span, body);
            }
            Item::Import { span, .. } => check_in_text(text, *span),
        }
    }
}

fn check_type(text: &str, outer: Span, t: &TypeExpr) {
    check_within(text, outer, t.span);
    match &t.kind {
        TypeKind::F64 | TypeKind::I64 | TypeKind::Bool => {}
        TypeKind::Array(size, elem) => {
            if let SizeExpr::Var(id) = size {
                check_within(text, t.span, id.span);
            }
            check_type(text, t.span, elem);
        }
        TypeKind::Tuple(ts) => ts.iter().for_each(|e| check_type(text, t.span, e)),
        TypeKind::Func(ps, r) => {
            ps.iter().for_each(|e| check_type(text, t.span, e));
            check_type(text, t.span, r);
        }
    }
}

fn check_pat(text: &str, outer: Span, p: &Pat) {
    check_within(text, outer, p.span());
    match p {
        Pat::Var(_) | Pat::Wild(_) => {}
        Pat::Tuple(ps, s) => ps.iter().for_each(|q| check_pat(text, *s, q)),
        Pat::Typed(q, t) => {
            check_pat(text, p.span(), q);
            check_type(text, p.span(), t);
        }
    }
}

fn check_expr(text: &str, outer: Span, e: &Expr) {
    check_within(text, outer, e.span);
    let s = e.span;
    let sub = |x: &Expr| check_expr(text, s, x);
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Error => {}
        ExprKind::Var(id) => assert_eq!(id.span, s),
        ExprKind::Tuple(es) | ExprKind::Array(es) => es.iter().for_each(sub),
        ExprKind::Binary(_, a, b) => {
            sub(a);
            sub(b);
        }
        ExprKind::Unary(_, a) | ExprKind::Proj(a, _) => sub(a),
        ExprKind::Call(f, args) => {
            sub(f);
            args.iter().for_each(sub);
        }
        ExprKind::Index(a, subs) => {
            sub(a);
            for x in subs {
                match x {
                    Subscript::Index(i) => sub(i),
                    Subscript::Slice(lo, hi) => {
                        lo.iter().for_each(sub);
                        hi.iter().for_each(sub);
                    }
                }
            }
        }
        ExprKind::Let(binds, body) => {
            for (p, x) in binds {
                check_pat(text, s, p);
                sub(x);
            }
            sub(body);
        }
        ExprKind::If(c, a, b) => {
            sub(c);
            sub(a);
            sub(b);
        }
        ExprKind::Lambda(ps, body) => {
            ps.iter().for_each(|p| check_pat(text, s, p));
            sub(body);
        }
        ExprKind::Loop { pat, init, kind, body } => {
            check_pat(text, s, pat);
            sub(init);
            match kind {
                LoopKind::For(i, n) => {
                    check_within(text, s, i.span);
                    sub(n);
                }
                LoopKind::While(c) => sub(c),
            }
            sub(body);
        }
    }
}

/// The text a test expression's span covers.
fn covered(src: &str) -> String {
    let text = format!("test \"t\" = {src}");
    let (m, diags) = syntax::parse(0, &text);
    assert!(diags.is_empty(), "{diags:?}");
    let Item::Test { body, .. } = &m.items[0] else {
        panic!("not a test")
    };
    text[body.span.start as usize..body.span.end as usize].to_string()
}

#[test]
fn spans_cover_whole_expressions() {
    for src in [
        "1 + 2 * 3",
        "(a + b) * c",
        "a * (b + c)",
        "grad(f)(x)",
        "t.0.1",
        "-x ** 2.0",
        "-3",
        "a[i, 1:]",
        "let x = 1 let y = 2 in x + y",
        "\\(x: f64) y -> x + y",
        "loop (a, b) = (1, 2) for i < n do (b, a)",
        "loop x = 1.0 while x < 2.0 do x * 2.0",
        "if c then a else b",
        "(1, 2)",
        "(1,)",
        "()",
        "[1, [2]]",
        "!p && q",
    ] {
        assert_eq!(covered(src), src);
    }
    // A parenthesised expression is its inner expression.
    assert_eq!(covered("(a + b)"), "a + b");
}

#[test]
fn pattern_and_type_spans() {
    let text = "def f(x: [n](f64, i64)) = let (a, (b: f64)) = x in a";
    let (m, diags) = syntax::parse(0, text);
    assert!(diags.is_empty(), "{diags:?}");
    let Item::Def(d) = &m.items[0] else { panic!() };
    let slice = |s: Span| &text[s.start as usize..s.end as usize];
    assert_eq!(slice(d.params[0].ty.span), "[n](f64, i64)");
    assert_eq!(slice(d.span), text);
    let ExprKind::Let(binds, _) = &d.body.kind else {
        panic!()
    };
    assert_eq!(slice(binds[0].0.span()), "(a, (b: f64))");
}

// ------------------------------------------------------------------ limits

#[test]
fn deep_nesting_within_reason_parses() {
    let depth = 500;
    let text = format!("def f() = {}1{}", "(".repeat(depth), ")".repeat(depth));
    let (m, diags) = syntax::parse(0, &text);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(m.items.len(), 1);
    let text = format!("def f() = {}1{}", "[".repeat(depth), "]".repeat(depth));
    let (m, diags) = syntax::parse(0, &text);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(syntax::print_module(&m).matches("(array").count(), depth);
}

#[test]
fn absurd_nesting_is_reported_not_a_crash() {
    for text in [
        format!("def f() = {}1{}", "[".repeat(200_000), "]".repeat(200_000)),
        format!("def f() = {}1", "-x ** ".repeat(100_000)),
        format!("def f() = 1{}", " + 1".repeat(100_000)),
        format!("def f() = {}", "(".repeat(100_000)),
        format!("def f(x: {}f64) = x", "[1]".repeat(100_000)),
        format!("def f() = {}x", "\\x -> ".repeat(100_000)),
    ] {
        let (m, diags) = syntax::parse(0, &text);
        assert!(m.items.is_empty());
        assert!(!diags.is_empty());
    }
    let (m, diags) = syntax::parse(0, &format!("def f() = 1{}\ndef g() = 2", " + 1".repeat(5000)));
    assert_eq!(m.items.len(), 1, "the shallow item survives");
    assert!(diags[0].message.contains("nests too deeply"), "{}", diags[0].message);
}

#[test]
fn a_thousand_line_file_parses_without_diagnostics() {
    let mut text = String::new();
    for i in 0..250 {
        text.push_str(&format!(
            "def f{i}(x: [n]f64, w: [n][n]f64) -> f64 =\n  let y = w @ x + 1.0\n  let (a, b) = (y[0], y[1:])\n  in sum(map(\\v -> v * a ** 2.0, b)) + grad(\\z -> z * z)(a)\n"
        ));
    }
    assert_eq!(text.lines().count(), 1000);
    let (m, diags) = syntax::parse(0, &text);
    assert!(diags.is_empty());
    assert_eq!(m.items.len(), 250);
}

#[test]
fn parse_expr_reads_values() {
    let (e, diags) = syntax::parse_expr(0, "(3.0, [1, -2], -1e-3)");
    assert!(diags.is_empty());
    assert_eq!(syntax::print_expr(&e.unwrap()), "(tuple 3.0 (array 1 -2) -0.001)");
    let (e, diags) = syntax::parse_expr(0, "[1.0, 2.0");
    assert!(e.is_none());
    assert_eq!(diags[0].message, "unexpected end of file, expected `,` or `]`");
}
