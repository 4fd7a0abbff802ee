//! What the grammar's actions need: spans, node builders, and the turning
//! of parse errors into diagnostics in plain words.

use crate::diagnostics::{Diagnostic, Span};
use crate::syntax::ast::*;
use crate::syntax::lexer::{LexError, Token};
use lalrpop_util::{ErrorRecovery, ParseError};

pub type ParseErr<'input> = ParseError<usize, Token<'input>, LexError>;

/// The parser's state, handed to every grammar action.
pub struct State<'input> {
    pub file: u32,
    pub text: &'input str,
    /// Starts of tokens right after a bad character: no parse error there.
    pub quiet_at: Vec<usize>,
    /// Literals `9223372036854775808` not (yet) negated: each is an error
    /// unless a minus sign claims it.
    pub unsigned_min: Vec<Span>,
    pub diags: Vec<Diagnostic>,
}

impl<'input> State<'input> {
    pub fn new(file: u32, text: &'input str) -> State<'input> {
        State {
            file,
            text,
            quiet_at: Vec::new(),
            unsigned_min: Vec::new(),
            diags: Vec::new(),
        }
    }

    pub fn span(&self, l: usize, r: usize) -> Span {
        Span::new(self.file, l, r)
    }

    pub fn expr(&self, kind: ExprKind, l: usize, r: usize) -> Expr {
        Expr {
            kind,
            span: self.span(l, r),
        }
    }

    pub fn binary(&self, op: BinOp, a: Expr, b: Expr, l: usize, r: usize) -> Expr {
        self.expr(ExprKind::Binary(op, Box::new(a), Box::new(b)), l, r)
    }

    /// An integer literal. 2^63 stands as 0 (like any literal too large)
    /// until a minus sign claims it.
    pub fn int(&mut self, v: i64, l: usize, r: usize) -> Expr {
        if v == i64::MIN {
            let e = self.expr(ExprKind::Int(0), l, r);
            self.unsigned_min.push(e.span);
            return e;
        }
        self.expr(ExprKind::Int(v), l, r)
    }

    /// A constant array size.
    pub fn size_const(&mut self, v: i64, l: usize, r: usize) -> SizeExpr {
        if v == i64::MIN {
            self.diags.push(int_too_large(self.span(l, r)));
            return SizeExpr::Const(0);
        }
        SizeExpr::Const(v)
    }

    /// Reports the `9223372036854775808` literals no minus sign claimed.
    pub fn finish(&mut self) {
        for span in std::mem::take(&mut self.unsigned_min) {
            self.diags.push(int_too_large(span));
        }
    }

    /// `-e`; a negated literal becomes a negative literal.
    pub fn negate(&mut self, e: Expr, l: usize, r: usize) -> Expr {
        let kind = match e.kind {
            // `-9223372036854775808` is i64::MIN.
            ExprKind::Int(0) if self.unsigned_min.contains(&e.span) => {
                self.unsigned_min.retain(|s| *s != e.span);
                ExprKind::Int(i64::MIN)
            }
            // `- -9223372036854775808` overflows, as it would at run time.
            ExprKind::Int(i64::MIN) => ExprKind::Unary(UnOp::Neg, Box::new(e)),
            ExprKind::Int(v) => ExprKind::Int(-v),
            ExprKind::Float(v) => ExprKind::Float(-v),
            kind => ExprKind::Unary(UnOp::Neg, Box::new(Expr { kind, span: e.span })),
        };
        self.expr(kind, l, r)
    }

    /// A type written as a name: only the scalar types have one.
    pub fn named_type(&mut self, name: &str, l: usize, r: usize) -> TypeExpr {
        let span = self.span(l, r);
        let kind = match name {
            "f64" => TypeKind::F64,
            "i64" => TypeKind::I64,
            "bool" => TypeKind::Bool,
            _ => {
                let mut d = Diagnostic::error(
                    format!("unknown type `{name}`"),
                    span,
                    "not a type",
                )
                .with_note("the types are `f64`, `i64`, `bool`, arrays `[n]T`, tuples `(T1, T2)` and function types `(T1, T2) -> R`");
                if let Some(hint) = type_hint(name) {
                    d = d.with_note(format!("did you mean `{hint}`?"));
                }
                self.diags.push(d);
                TypeKind::Tuple(Vec::new())
            }
        };
        TypeExpr { kind, span }
    }

    /// Records the error an `!` recovery point caught.
    pub fn recover(&mut self, e: ErrorRecovery<usize, Token<'input>, LexError>) {
        self.error(e.error);
    }

    /// Records a parse error as a diagnostic.
    pub fn error(&mut self, e: ParseErr<'input>) {
        if let ParseError::UnrecognizedToken { token, .. } = &e {
            if self.quiet_at.binary_search(&token.0).is_ok() {
                return;
            }
        }
        let d = match e {
            ParseError::UnrecognizedToken {
                token: (l, token, r),
                expected,
            } => self.unexpected(Some((l, &token, r)), &expected, 0),
            ParseError::UnrecognizedEof { location, expected } => self.unexpected(None, &expected, location),
            ParseError::ExtraToken { token: (l, token, r) } => self.unexpected(Some((l, &token, r)), &[], 0),
            ParseError::InvalidToken { location } => {
                let span = self.span(location, location);
                Diagnostic::error("invalid token", span, "here")
            }
            // The lexer reports its own problems; it hands the parser only tokens.
            ParseError::User { error } => Diagnostic::bare(format!("lexer error {error:?}")),
        };
        // Recovery can meet the same token twice; say it once.
        if !self.diags.contains(&d) {
            self.diags.push(d);
        }
    }

    fn unexpected(&self, token: Option<(usize, &Token<'input>, usize)>, expected: &[String], eof: usize) -> Diagnostic {
        let groups = Expected::classify(expected);
        let wanted = groups.describe();
        let (what, span) = match token {
            Some((l, t, r)) => (self.describe(l, t, r), self.span(l, r)),
            None => ("end of file".to_string(), self.span(eof, eof)),
        };
        let message = match &wanted {
            Some(w) => format!("unexpected {what}, {w}"),
            None => format!("unexpected {what}"),
        };
        let label = match token {
            Some(_) => format!("unexpected {what}"),
            None => "the file ends here".to_string(),
        };
        let mut d = Diagnostic::error(message, span, label);
        if let Some((l, t, _)) = token {
            let open = match t {
                Token::Let => Some(("a `let`", "2.0 * (let y = x in y)")),
                Token::If => Some(("an `if`", "1.0 + (if c then a else b)")),
                Token::Loop => Some(("a `loop`", "1 + (loop s = 0 for i < n do s + i)")),
                Token::Backslash => Some(("a lambda", "(\\x -> x * x)(3.0)")),
                _ => None,
            };
            if let (Some((what, example)), true) = (open, groups.expression) {
                d = d.with_note(format!(
                    "{what} extends as far right as it can, so as an operand it goes in \
                     parentheses: `{example}`"
                ));
            }
            let comparison = matches!(
                t,
                Token::EqEq | Token::NotEq | Token::Lt | Token::Le | Token::Gt | Token::Ge | Token::Approx
            );
            if comparison && !groups.operator && groups.others.iter().any(|o| o == "&&") {
                d = d.with_note("comparisons do not chain: write `a < b && b < c`");
            }
            if matches!(t, Token::Eq) && groups.operator {
                d = d.with_note("use `==` to compare values");
            }
            if matches!(t, Token::Arrow) && groups.others.iter().any(|o| o == ")") {
                d = d.with_note("a function type has its parameters in parentheses: `(f64) -> f64`");
            }
            let line_start = self.text[..l.min(self.text.len())].rfind('\n').map_or(0, |i| i + 1);
            if groups.item && line_start == l && !matches!(t, Token::Def | Token::Import | Token::Test) {
                d = d.with_note("a top-level item starts with `def`, `import` or `test`");
            }
        }
        d
    }
}

impl State<'_> {
    /// A token as written, for messages.
    fn describe(&self, l: usize, t: &Token<'_>, r: usize) -> String {
        match (t, self.text.get(l..r)) {
            (Token::Str(_), _) | (_, None) => t.describe(),
            (_, Some(slice)) => {
                let shown: String = slice.chars().take(30).collect();
                let more = if shown.len() < slice.len() { "..." } else { "" };
                format!("`{shown}{more}`")
            }
        }
    }
}

pub fn int_too_large(span: Span) -> Diagnostic {
    Diagnostic::error("integer literal too large", span, "does not fit in i64").with_note(format!(
        "the i64 range is {} to {}",
        i64::MIN,
        i64::MAX
    ))
}

fn type_hint(name: &str) -> Option<&'static str> {
    match name {
        "float" | "f32" | "double" | "F64" | "real" => Some("f64"),
        "int" | "i32" | "I64" | "usize" | "integer" => Some("i64"),
        "Bool" | "boolean" => Some("bool"),
        _ => None,
    }
}

/// The tokens lalrpop says it expected, summarised for a person: the many
/// tokens that start an expression become "an expression", and so on.
#[derive(Default)]
struct Expected {
    expression: bool,
    operator: bool,
    ty: bool,
    pattern: bool,
    size: bool,
    item: bool,
    others: Vec<String>,
}

/// Terminal names as the grammar writes them (without the quotes).
const EXPR_START: &[&str] = &[
    "Name", "Int", "Float", "true", "false", "(", "[", "-", "!", "\\", "let", "if", "loop",
];
const OPERATORS: &[&str] = &[
    "||", "&&", "==", "!=", "~=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "@", "**", "(", "[", "Proj",
];
const TYPE_START: &[&str] = &["Name", "[", "("];
const PAT_START: &[&str] = &["Name", "_", "("];
const SIZE_START: &[&str] = &["Int", "Name", "_"];
const ITEM_START: &[&str] = &["def", "import", "test"];

impl Expected {
    fn classify(expected: &[String]) -> Expected {
        let mut names: Vec<String> = expected.iter().map(|s| terminal_name(s)).collect();
        let has = |names: &[String], t: &str| names.iter().any(|n| n == t);
        let mut e = Expected::default();
        let take = |names: &mut Vec<String>, group: &[&str]| {
            names.retain(|n| !group.contains(&n.as_str()));
        };
        if has(&names, "Name") && has(&names, "Int") && has(&names, "(") {
            e.expression = true;
            take(&mut names, EXPR_START);
        }
        if has(&names, "+") && has(&names, "*") {
            e.operator = true;
            take(&mut names, OPERATORS);
        }
        if TYPE_START.iter().all(|t| has(&names, t)) {
            e.ty = true;
            take(&mut names, TYPE_START);
        }
        if PAT_START.iter().all(|t| has(&names, t)) {
            e.pattern = true;
            take(&mut names, PAT_START);
        }
        if SIZE_START.iter().all(|t| has(&names, t)) && !has(&names, "(") {
            e.size = true;
            take(&mut names, SIZE_START);
        }
        if ITEM_START.iter().all(|t| has(&names, t)) {
            e.item = true;
            take(&mut names, ITEM_START);
        }
        e.others = names;
        e
    }

    fn describe(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if self.expression {
            parts.push("an expression".into());
        }
        if self.ty {
            parts.push("a type".into());
        }
        if self.pattern {
            parts.push("a pattern".into());
        }
        if self.size {
            parts.push("a size (an integer, a name or `_`)".into());
        }
        if self.operator {
            parts.push("an operator".into());
        }
        parts.extend(self.others.iter().map(|n| friendly(n)));
        if self.item {
            parts.push("a new `def`, `import` or `test`".into());
        }
        const CAP: usize = 6;
        let more = parts.len() > CAP;
        parts.truncate(CAP);
        Some(match parts.len() {
            0 => return None,
            1 => format!("expected {}", parts[0]),
            2 if !more => format!("expected {} or {}", parts[0], parts[1]),
            _ => {
                let list = parts.join(", ");
                if more {
                    format!("expected one of: {list}, ...")
                } else {
                    format!("expected one of: {list}")
                }
            }
        })
    }
}

/// A terminal as lalrpop prints it (`"\"def\""`, `"Name"`) without quotes.
fn terminal_name(s: &str) -> String {
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\\", "\\").replace("\\\"", "\""),
        None => s.to_string(),
    }
}

fn friendly(name: &str) -> String {
    match name {
        "Name" => "a name".into(),
        "Int" => "an integer".into(),
        "Float" => "a float".into(),
        "Str" => "a string such as `\"file.dl\"`".into(),
        "Proj" => "a projection such as `.0`".into(),
        other => format!("`{other}`"),
    }
}

/// Nesting deeper than this is reported rather than handed to the later
/// passes, which walk the tree recursively.
pub const MAX_DEPTH: usize = 1000;

/// Whether an item nests deeper than [`MAX_DEPTH`]; the walk itself goes at
/// most that deep.
pub fn item_too_deep(item: &Item) -> Option<Span> {
    let budget = MAX_DEPTH;
    match item {
        Item::Def(d) => {
            let params = d.params.iter().any(|p| type_too_deep(&p.ty, budget));
            let ret = d.ret.as_ref().is_some_and(|t| type_too_deep(t, budget));
            (params || ret || expr_too_deep(&d.body, budget)).then_some(d.span)
        }
        Item::Test { body, span, .. } => expr_too_deep(body, budget).then_some(*span),
        Item::Import { .. } => None,
    }
}

fn expr_too_deep(e: &Expr, budget: usize) -> bool {
    let Some(b) = budget.checked_sub(1) else {
        return true;
    };
    let ex = |e: &Expr| expr_too_deep(e, b);
    let pat = |p: &Pat| pat_too_deep(p, b);
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Var(_) | ExprKind::Error => false,
        ExprKind::Tuple(es) | ExprKind::Array(es) => es.iter().any(ex),
        ExprKind::Binary(_, x, y) => ex(x) || ex(y),
        ExprKind::Unary(_, x) | ExprKind::Proj(x, _) => ex(x),
        ExprKind::Call(f, args) => ex(f) || args.iter().any(ex),
        ExprKind::Index(a, subs) => {
            ex(a)
                || subs.iter().any(|s| match s {
                    Subscript::Index(i) => ex(i),
                    Subscript::Slice(x, y) => x.as_ref().is_some_and(ex) || y.as_ref().is_some_and(ex),
                })
        }
        ExprKind::Let(binds, body) => binds.iter().any(|(p, e)| pat(p) || ex(e)) || ex(body),
        ExprKind::If(c, x, y) => ex(c) || ex(x) || ex(y),
        ExprKind::Lambda(ps, body) => ps.iter().any(pat) || ex(body),
        ExprKind::Loop {
            pat: p,
            init,
            kind,
            body,
        } => {
            pat(p)
                || ex(init)
                || ex(body)
                || match kind {
                    LoopKind::For(_, n) => ex(n),
                    LoopKind::While(c) => ex(c),
                }
        }
    }
}

fn pat_too_deep(p: &Pat, budget: usize) -> bool {
    let Some(b) = budget.checked_sub(1) else {
        return true;
    };
    match p {
        Pat::Var(_) | Pat::Wild(_) => false,
        Pat::Tuple(ps, _) => ps.iter().any(|p| pat_too_deep(p, b)),
        Pat::Typed(p, t) => pat_too_deep(p, b) || type_too_deep(t, b),
    }
}

fn type_too_deep(t: &TypeExpr, budget: usize) -> bool {
    let Some(b) = budget.checked_sub(1) else {
        return true;
    };
    match &t.kind {
        TypeKind::F64 | TypeKind::I64 | TypeKind::Bool => false,
        TypeKind::Array(_, e) => type_too_deep(e, b),
        TypeKind::Tuple(ts) => ts.iter().any(|t| type_too_deep(t, b)),
        TypeKind::Func(ps, r) => ps.iter().any(|t| type_too_deep(t, b)) || type_too_deep(r, b),
    }
}
