//! Lexer, grammar and AST: source text to [`ast::Module`] plus diagnostics.
//!
//! [`parse`] never fails and never panics: whatever the input, it returns the
//! items it could read and a diagnostic for every problem. A broken item is
//! dropped and parsing resumes at the next `def`, `import` or `test`; a
//! broken parenthesised or bracketed group becomes [`ast::ExprKind::Error`].
//!
//! Decisions where LANGUAGE.md is silent:
//!
//! - The open forms (`let`, `if`, lambdas, `loop`) extend as far right as
//!   they can and stand where a whole expression is expected (an item's
//!   body, a `let` right-hand side, a branch, an argument, an element, a
//!   subscript, inside parentheses), not as an operand: `1 + (if c then a
//!   else b)` needs its parentheses, and the error message says so.
//! - Comparisons do not associate: `a < b < c` is an error.
//! - `-` applied to a numeric literal gives a negative literal (`-2` is
//!   `Int(-2)`); since unary minus binds tighter than `**` this changes no
//!   meaning. `-9223372036854775808` is `i64::MIN`, while the literal
//!   `9223372036854775808` without the minus is too large.
//! - Every comma-separated list takes a trailing comma; `(e,)` is a
//!   one-element tuple, `(e)` is `e`, and likewise for types and patterns.
//! - Patterns may carry types anywhere inside parentheses (`(a: f64, b)`),
//!   and a `let` or `loop` pattern also without them (`let x: f64 = e`).
//! - Strings (for `import` and `test`) live on one line and know the
//!   escapes `\"`, `\\`, `\n` and `\t`.
//! - An item nesting deeper than 1000 levels is reported, so that later
//!   passes may recurse over the tree freely.

pub mod ast;
pub mod lexer;
mod parser;
pub mod print;

use crate::diagnostics::Diagnostic;
use lalrpop_util::lalrpop_mod;

pub use print::{print_expr, print_module};

lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_parens)]
    grammar,
    "/syntax/grammar.rs"
);

/// Inputs with at most this many tokens cannot nest deep enough to strain
/// the stack; larger ones are parsed on a thread with a stack to match.
const SMALL_INPUT_TOKENS: usize = 2_000;

/// Parses a whole source file. `file` is the file's id in the
/// [`SourceMap`](crate::diagnostics::SourceMap); every span carries it.
pub fn parse(file: u32, text: &str) -> (ast::Module, Vec<Diagnostic>) {
    let (items, diags) = run_sized(file, text, |st, tokens| {
        let result = grammar::ModuleParser::new().parse(st, tokens.into_iter().map(Ok));
        let mut items = match result {
            Ok(items) => items,
            Err(e) => {
                st.error(e);
                Vec::new()
            }
        };
        items.retain(|item| match parser::item_too_deep(item) {
            Some(span) => {
                st.diags.push(too_deep(span));
                false
            }
            None => true,
        });
        items
    });
    (ast::Module { items }, diags)
}

/// Parses one expression (a value on the command line, say). Returns `None`
/// only when nothing usable was read; the diagnostics say why.
pub fn parse_expr(file: u32, text: &str) -> (Option<ast::Expr>, Vec<Diagnostic>) {
    run_sized(file, text, |st, tokens| {
        match grammar::ExprParser::new().parse(st, tokens.into_iter().map(Ok)) {
            Ok(e) => {
                let item = ast::Item::Test {
                    name: String::new(),
                    span: e.span,
                    body: e,
                };
                if let Some(span) = parser::item_too_deep(&item) {
                    st.diags.push(too_deep(span));
                    return None;
                }
                match item {
                    ast::Item::Test { body, .. } => Some(body),
                    _ => None,
                }
            }
            Err(e) => {
                st.error(e);
                None
            }
        }
    })
}

fn too_deep(span: crate::diagnostics::Span) -> Diagnostic {
    Diagnostic::error(
        format!("this item nests too deeply (more than {} levels)", parser::MAX_DEPTH),
        span,
        "too deep",
    )
    .with_note("long chains of operators nest too; name parts of the expression with `let`")
}

/// Lexes `text` and runs `parse` on the tokens, on a thread with a large
/// enough stack when the input is big (dropping a deeply nested tree
/// recurses). Diagnostics come back in source order.
fn run_sized<'t, T: Send>(
    file: u32,
    text: &'t str,
    parse: impl FnOnce(&mut parser::State<'t>, Vec<lexer::Spanned<'t>>) -> T + Send,
) -> (T, Vec<Diagnostic>) {
    let mut st = parser::State::new(file, text);
    let (tokens, quiet_at) = lexer::lex_marking(file, text, &mut st.diags);
    st.quiet_at = quiet_at;
    let n_tokens = tokens.len();
    fn run<'t, T>(
        (mut st, tokens, parse): (
            parser::State<'t>,
            Vec<lexer::Spanned<'t>>,
            impl FnOnce(&mut parser::State<'t>, Vec<lexer::Spanned<'t>>) -> T,
        ),
    ) -> (T, Vec<Diagnostic>) {
        let out = parse(&mut st, tokens);
        st.finish();
        let mut diags = st.diags;
        // Stable: diagnostics at one place keep the order they were found in.
        diags.sort_by_key(|d| d.labels.first().map(|l| (l.span.start, l.span.end)));
        (out, diags)
    }
    if n_tokens <= SMALL_INPUT_TOKENS {
        return run((st, tokens, parse));
    }
    // Every token adds at most one level of nesting; allow a generous stack
    // frame per level. The stack is reserved up front, not touched.
    let stack = n_tokens.saturating_mul(512).clamp(16 << 20, 4 << 30);
    let job = std::sync::Mutex::new(Some((st, tokens, parse)));
    let take = || job.lock().ok().and_then(|mut j| j.take());
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("dl-parse".into())
            .stack_size(stack)
            .spawn_scoped(scope, || take().map(run));
        match spawned.map(|handle| handle.join()) {
            Ok(Ok(Some(result))) => result,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // No thread to be had: parse here and hope the input is tame.
            Ok(Ok(None)) | Err(_) => match take() {
                Some(job) => run(job),
                None => unreachable!("the parse job runs once"),
            },
        }
    })
}
