//! The parser never panics and its output always makes sense, whatever the
//! input: random bytes, random token sequences, and random mutations of the
//! valid programs under `tests/parse`. Deterministic: a fixed seed, an
//! inline xorshift generator.

use dl_compiler::diagnostics::Span;
use dl_compiler::syntax::{self, ast::*};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// xorshift64*: small, fast and good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const TOKENS: &[&str] = &[
    "def",
    "let",
    "in",
    "if",
    "then",
    "else",
    "loop",
    "for",
    "while",
    "do",
    "import",
    "test",
    "true",
    "false",
    "x",
    "f",
    "y'",
    "_",
    "0",
    "42",
    "1.5",
    "1e-3",
    "\"s\"",
    ".0",
    ".1",
    "||",
    "&&",
    "==",
    "!=",
    "~=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "@",
    "**",
    "!",
    "=",
    "->",
    "\\",
    ",",
    ":",
    "(",
    ")",
    "[",
    "]",
    "f64",
    "i64",
    "bool",
    "--",
    "\n",
    "$",
    "é",
    "9999999999999999999999",
];

/// Characters that start no token: outside strings and comments, any of
/// them must produce a diagnostic.
fn surely_bad(text: &str) -> bool {
    let fine = |c: char| c.is_ascii_alphanumeric() || " \t\r\n\x0c_'|&=!~<>+-*/%@\\,:()[].".contains(c);
    !text.contains("--") && !text.contains('"') && text.chars().any(|c| !fine(c))
}

fn random_bytes(rng: &mut Rng) -> String {
    let len = rng.below(64);
    let bytes: Vec<u8> = (0..len)
        .map(|_| match rng.below(3) {
            // Mostly printable ASCII, where the tokens are.
            0 | 1 => 32 + rng.below(95) as u8,
            _ => rng.next() as u8,
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn token_soup(rng: &mut Rng) -> String {
    let len = rng.below(40);
    let mut s = String::new();
    for _ in 0..len {
        s.push_str(rng.pick::<&str>(TOKENS));
        s.push(' ');
    }
    s
}

/// One to four mutations of a window of a valid program.
fn mutation(rng: &mut Rng, corpus: &[Vec<u8>]) -> String {
    let file = rng.pick(corpus);
    let start = rng.below(file.len());
    let len = 1 + rng.below(400.min(file.len() - start));
    let mut b = file[start..start + len].to_vec();
    // Mostly whole items: start at a `def` now and then.
    if rng.below(2) == 0 {
        if let Some(p) = file.windows(4).position(|w| w == b"def ") {
            let from = p + rng.below(file.len() - p);
            let from = file[from..]
                .windows(4)
                .position(|w| w == b"def ")
                .map_or(p, |q| from + q);
            b = file[from..(from + 400).min(file.len())].to_vec();
        }
    }
    for _ in 0..1 + rng.below(4) {
        let n = b.len().max(1);
        let (i, j) = {
            let i = rng.below(n);
            (i, (i + 1 + rng.below(8)).min(b.len()))
        };
        match rng.below(6) {
            0 if i < j => {
                b.drain(i..j);
            }
            1 if i < j => {
                let dup = b[i..j].to_vec();
                b.splice(j..j, dup);
            }
            2 => {
                let k = rng.below(n);
                if i < b.len() && k < b.len() {
                    b.swap(i, k);
                }
            }
            3 | 4 => {
                let t = format!(" {} ", rng.pick(TOKENS));
                let at = i.min(b.len());
                b.splice(at..at, t.bytes());
            }
            _ => {
                if i < b.len() {
                    b[i] = rng.next() as u8;
                }
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ------------------------------------------------------------------ checks

struct Checker<'a> {
    text: &'a str,
    file: u32,
    errors: usize,
}

impl Checker<'_> {
    fn span(&self, s: Span) {
        assert_eq!(s.file, self.file, "span {s:?} names the wrong file");
        assert!(s.start <= s.end, "span {s:?} is reversed");
        assert!((s.end as usize) <= self.text.len(), "span {s:?} is past the end");
        assert!(self.text.is_char_boundary(s.start as usize), "span {s:?} splits a char");
        assert!(self.text.is_char_boundary(s.end as usize), "span {s:?} splits a char");
    }

    fn ty(&mut self, t: &TypeExpr) {
        self.span(t.span);
        match &t.kind {
            TypeKind::Array(_, e) => self.ty(e),
            TypeKind::Tuple(ts) => ts.iter().for_each(|t| self.ty(t)),
            TypeKind::Func(ps, r) => {
                ps.iter().for_each(|t| self.ty(t));
                self.ty(r);
            }
            TypeKind::F64 | TypeKind::I64 | TypeKind::Bool => {}
        }
    }

    fn pat(&mut self, p: &Pat) {
        self.span(p.span());
        match p {
            Pat::Tuple(ps, _) => ps.iter().for_each(|p| self.pat(p)),
            Pat::Typed(p, t) => {
                self.pat(p);
                self.ty(t);
            }
            Pat::Var(_) | Pat::Wild(_) => {}
        }
    }

    fn expr(&mut self, e: &Expr) {
        self.span(e.span);
        match &e.kind {
            ExprKind::Error => self.errors += 1,
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Var(_) => {}
            ExprKind::Tuple(es) | ExprKind::Array(es) => es.iter().for_each(|e| self.expr(e)),
            ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Unary(_, a) | ExprKind::Proj(a, _) => self.expr(a),
            ExprKind::Call(f, args) => {
                self.expr(f);
                args.iter().for_each(|e| self.expr(e));
            }
            ExprKind::Index(a, subs) => {
                self.expr(a);
                for s in subs {
                    match s {
                        Subscript::Index(i) => self.expr(i),
                        Subscript::Slice(lo, hi) => {
                            lo.iter().chain(hi.iter()).for_each(|e| self.expr(e));
                        }
                    }
                }
            }
            ExprKind::Let(binds, body) => {
                for (p, e) in binds {
                    self.pat(p);
                    self.expr(e);
                }
                self.expr(body);
            }
            ExprKind::If(c, a, b) => {
                self.expr(c);
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Lambda(ps, body) => {
                ps.iter().for_each(|p| self.pat(p));
                self.expr(body);
            }
            ExprKind::Loop { pat, init, kind, body } => {
                self.pat(pat);
                self.expr(init);
                match kind {
                    LoopKind::For(i, n) => {
                        self.span(i.span);
                        self.expr(n);
                    }
                    LoopKind::While(c) => self.expr(c),
                }
                self.expr(body);
            }
        }
    }
}

/// Parses `text` and checks everything that must hold of the result.
fn check(text: &str) {
    let file = 3;
    let (module, diags) = syntax::parse(file, text);
    let mut c = Checker { text, file, errors: 0 };
    for d in &diags {
        assert!(!d.message.is_empty());
        assert!(!d.labels.is_empty(), "diagnostic without a place: {}", d.message);
        for l in &d.labels {
            c.span(l.span);
        }
    }
    for item in &module.items {
        match item {
            Item::Def(d) => {
                c.span(d.span);
                c.span(d.name.span);
                for p in &d.params {
                    c.span(p.name.span);
                    c.ty(&p.ty);
                }
                if let Some(t) = &d.ret {
                    c.ty(t);
                }
                c.expr(&d.body);
            }
            Item::Import { span, .. } => c.span(*span),
            Item::Test { body, span, .. } => {
                c.span(*span);
                c.expr(body);
            }
        }
    }
    if c.errors > 0 {
        assert!(!diags.is_empty(), "an error node without a diagnostic");
    }
    if surely_bad(text) {
        assert!(!diags.is_empty(), "a bad character without a diagnostic");
    }
    // The printer copes with whatever the parser produced.
    let printed = syntax::print_module(&module);
    assert!(module.items.is_empty() || !printed.is_empty());
}

fn run(text: &str) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(text))) {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!("parsing failed on input {text:?}: {msg}");
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/parse");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "dl") && !p.file_name().unwrap().to_string_lossy().starts_with("err_")
        })
        .collect();
    files.sort();
    let texts: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|t| !t.is_empty())
        .collect();
    assert!(texts.len() >= 10);
    texts
}

#[test]
fn valid_corpus_parses_cleanly() {
    for text in corpus() {
        let text = String::from_utf8(text).unwrap();
        let (_, diags) = syntax::parse(0, &text);
        assert!(diags.is_empty(), "{text}\n{diags:?}");
    }
}

#[test]
fn parser_survives_random_input() {
    let corpus = corpus();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut with_diags = 0;
    const N: usize = 100_000;
    for i in 0..N {
        let text = match i % 3 {
            0 => random_bytes(&mut rng),
            1 => token_soup(&mut rng),
            _ => mutation(&mut rng, &corpus),
        };
        run(&text);
        if i % 64 == 0 && !syntax::parse(0, &text).1.is_empty() {
            with_diags += 1;
        }
    }
    eprintln!("{with_diags} of {} sampled inputs had errors", N / 64 + 1);
    // The inputs are mostly broken: make sure the test exercises errors.
    assert!(with_diags > N / 64 / 2, "only {with_diags} sampled inputs had errors");
}

#[test]
fn parser_is_deterministic() {
    let corpus = corpus();
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let text = mutation(&mut rng, &corpus);
        let (m1, d1) = syntax::parse(0, &text);
        let (m2, d2) = syntax::parse(0, &text);
        assert_eq!(m1, m2, "{text:?}");
        assert_eq!(d1, d2, "{text:?}");
    }
}
