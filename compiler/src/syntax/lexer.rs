//! The lexer: source text to tokens with byte offsets.
//!
//! Lexing never fails. A character that starts no token becomes a diagnostic
//! and is skipped; a malformed literal (an integer that does not fit in i64,
//! a string without its closing quote) becomes a diagnostic plus a stand-in
//! token, so that the parser sees the shape the user meant and reports only
//! the real syntax errors after it.

use crate::diagnostics::{Diagnostic, Span};
use logos::Logos;

/// What went wrong while matching one token. Turned into a diagnostic and a
/// stand-in token by [`lex`]; the parser never sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LexError {
    /// No token starts here.
    #[default]
    BadChar,
    /// An integer literal that does not fit in i64.
    IntOverflow,
    /// A float literal whose value is infinite.
    FloatOverflow,
    /// A projection `.N` whose index does not fit in usize.
    ProjOverflow,
    /// A string with an unknown escape; carries the string as best read and
    /// the byte range of the escape within the token.
    BadEscape(String, usize, usize),
    /// A string without its closing quote; carries its contents.
    Unterminated(String),
}

#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"--[^\n]*", allow_greedy = true))]
pub enum Token<'input> {
    #[token("def")]
    Def,
    #[token("let")]
    Let,
    #[token("in")]
    In,
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("loop")]
    Loop,
    #[token("for")]
    For,
    #[token("while")]
    While,
    #[token("do")]
    Do,
    #[token("import")]
    Import,
    #[token("test")]
    Test,
    #[token("true")]
    True,
    #[token("false")]
    False,

    #[regex(r"[a-zA-Z_][a-zA-Z0-9_']*")]
    Ident(&'input str),
    /// A lone `_`: the wildcard of patterns and unknown sizes.
    #[token("_", priority = 3)]
    Underscore,

    /// An integer literal. `9223372036854775808` (2^63) lexes as
    /// `i64::MIN` so that `-9223372036854775808` can be written; the parser
    /// reports it when no minus sign applies.
    #[regex(r"[0-9]+", parse_int)]
    Int(i64),
    #[regex(r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?", parse_float)]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+", parse_float)]
    Float(f64),
    #[regex(r#""([^"\\\n]|\\[^\n])*""#, |lex| unescape(lex.slice(), true))]
    #[regex(r#""([^"\\\n]|\\[^\n])*"#, |lex| unescape(lex.slice(), false))]
    Str(String),
    /// `.N`, a tuple projection. A token of its own so that `t.0.1` is two
    /// projections while `1.0` stays one float.
    #[regex(r"\.[0-9]+", |lex| lex.slice()[1..].parse::<usize>().map_err(|_| LexError::ProjOverflow))]
    Proj(usize),

    #[token("||")]
    OrOr,
    #[token("&&")]
    AndAnd,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("~=")]
    Approx,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("@")]
    At,
    #[token("**")]
    StarStar,
    #[token("!")]
    Bang,
    #[token("=")]
    Eq,
    #[token("->")]
    Arrow,
    #[token("\\")]
    Backslash,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
}

fn parse_int<'s>(lex: &mut logos::Lexer<'s, Token<'s>>) -> Result<i64, LexError> {
    let digits = lex.slice().trim_start_matches('0');
    match digits.parse::<i64>() {
        Ok(v) => Ok(v),
        Err(_) if digits == "9223372036854775808" => Ok(i64::MIN),
        Err(_) if digits.is_empty() => Ok(0),
        Err(_) => Err(LexError::IntOverflow),
    }
}

fn parse_float<'s>(lex: &mut logos::Lexer<'s, Token<'s>>) -> Result<f64, LexError> {
    match lex.slice().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(LexError::FloatOverflow),
    }
}

/// The contents of a string token, escapes resolved. `closed` says whether
/// the token ends with its closing quote.
fn unescape(slice: &str, closed: bool) -> Result<String, LexError> {
    let body = if closed {
        &slice[1..slice.len() - 1]
    } else {
        &slice[1..]
    };
    let mut out = String::with_capacity(body.len());
    let mut bad = None;
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        // The regex guarantees a character after every backslash.
        let Some((j, e)) = chars.next() else { break };
        match e {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            _ => {
                out.push(e);
                // Offsets within the token: one for the opening quote.
                bad.get_or_insert((1 + i, 1 + j + e.len_utf8()));
            }
        }
    }
    match (closed, bad) {
        (false, _) => Err(LexError::Unterminated(out)),
        (true, Some((s, e))) => Err(LexError::BadEscape(out, s, e)),
        (true, None) => Ok(out),
    }
}

impl Token<'_> {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        let fixed = match self {
            Token::Ident(s) => return format!("`{s}`"),
            Token::Int(v) => return format!("`{v}`"),
            Token::Float(v) => return format!("`{v:?}`"),
            Token::Str(_) => return "a string".to_string(),
            Token::Proj(i) => return format!("`.{i}`"),
            Token::Def => "def",
            Token::Let => "let",
            Token::In => "in",
            Token::If => "if",
            Token::Then => "then",
            Token::Else => "else",
            Token::Loop => "loop",
            Token::For => "for",
            Token::While => "while",
            Token::Do => "do",
            Token::Import => "import",
            Token::Test => "test",
            Token::True => "true",
            Token::False => "false",
            Token::Underscore => "_",
            Token::OrOr => "||",
            Token::AndAnd => "&&",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Approx => "~=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::At => "@",
            Token::StarStar => "**",
            Token::Bang => "!",
            Token::Eq => "=",
            Token::Arrow => "->",
            Token::Backslash => "\\",
            Token::Comma => ",",
            Token::Colon => ":",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
        };
        format!("`{fixed}`")
    }
}

/// A token with its byte range, as the parser takes it.
pub type Spanned<'input> = (usize, Token<'input>, usize);

/// Splits `text` into tokens. Problems are appended to `diags`; the tokens
/// returned are always usable by the parser.
pub fn lex<'input>(file: u32, text: &'input str, diags: &mut Vec<Diagnostic>) -> Vec<Spanned<'input>> {
    lex_marking(file, text, diags).0
}

/// [`lex`], and also the start of every token that directly follows a run
/// of bad characters (a parse error there is most likely a consequence of
/// the characters already reported).
pub(crate) fn lex_marking<'input>(
    file: u32,
    text: &'input str,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Spanned<'input>>, Vec<usize>) {
    let mut after_bad = Vec::new();
    let mut tokens = Vec::with_capacity(text.len() / 3 + 1);
    // A run of bad characters is reported once.
    let mut bad_run: Option<(usize, usize)> = None;
    let mut lexer = Token::lexer(text);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let (start, end) = (range.start, range.end);
        if let Err(LexError::BadChar) = result {
            bad_run = match bad_run {
                Some((s, e)) if e == start => Some((s, end)),
                Some(run) => {
                    diags.push(bad_chars(file, text, run));
                    Some((start, end))
                }
                None => Some((start, end)),
            };
            continue;
        }
        if let Some(run) = bad_run.take() {
            diags.push(bad_chars(file, text, run));
            after_bad.push(start);
        }
        let span = Span::new(file, start, end);
        let token = match result {
            Ok(token) => token,
            Err(LexError::BadChar) => unreachable!("handled above"),
            Err(LexError::IntOverflow) => {
                diags.push(crate::syntax::parser::int_too_large(span));
                Token::Int(0)
            }
            Err(LexError::FloatOverflow) => {
                diags.push(Diagnostic::error(
                    "float literal too large",
                    span,
                    "does not fit in f64",
                ));
                Token::Float(0.0)
            }
            Err(LexError::ProjOverflow) => {
                diags.push(Diagnostic::error(
                    "projection index too large",
                    span,
                    "no tuple has this many fields",
                ));
                Token::Proj(0)
            }
            Err(LexError::BadEscape(s, es, ee)) => {
                let escape = &text[start + es..start + ee];
                diags.push(
                    Diagnostic::error(
                        format!("unknown escape `{escape}` in string"),
                        Span::new(file, start + es, start + ee),
                        "unknown escape",
                    )
                    .with_note(r#"the escapes are `\"`, `\\`, `\n` and `\t`"#),
                );
                Token::Str(s)
            }
            Err(LexError::Unterminated(s)) => {
                diags.push(Diagnostic::error(
                    "unterminated string",
                    span,
                    "this string has no closing `\"` on its line",
                ));
                Token::Str(s)
            }
        };
        tokens.push((start, token, end));
    }
    if let Some(run) = bad_run {
        diags.push(bad_chars(file, text, run));
    }
    (tokens, after_bad)
}

fn bad_chars(file: u32, text: &str, (start, end): (usize, usize)) -> Diagnostic {
    let run = &text[start..end];
    let span = Span::new(file, start, end);
    let shown: String = run
        .chars()
        .take(20)
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    let more = if run.chars().count() > 20 { "..." } else { "" };
    if run.chars().nth(1).is_none() {
        Diagnostic::error(
            format!("unexpected character `{shown}`"),
            span,
            "no token starts with this character",
        )
    } else {
        Diagnostic::error(
            format!("unexpected characters `{shown}{more}`"),
            span,
            "no token starts with these characters",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> (Vec<Token<'_>>, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let t = lex(0, text, &mut diags);
        (t.into_iter().map(|(_, t, _)| t).collect(), diags)
    }

    fn ok(text: &str) -> Vec<Token<'_>> {
        let (t, d) = toks(text);
        assert!(d.is_empty(), "unexpected diagnostics for {text:?}: {d:?}");
        t
    }

    #[test]
    fn projections_and_floats() {
        use Token::*;
        assert_eq!(ok("t.0.1"), vec![Ident("t"), Proj(0), Proj(1)]);
        assert_eq!(ok("1.0"), vec![Float(1.0)]);
        assert_eq!(ok("1.0.1"), vec![Float(1.0), Proj(1)]);
        assert_eq!(
            ok("(a, b).1"),
            vec![LParen, Ident("a"), Comma, Ident("b"), RParen, Proj(1)]
        );
        assert_eq!(ok("t .12"), vec![Ident("t"), Proj(12)]);
    }

    #[test]
    fn float_forms() {
        use Token::*;
        assert_eq!(ok("1e-3"), vec![Float(1e-3)]);
        assert_eq!(ok("2.5e10"), vec![Float(2.5e10)]);
        assert_eq!(ok("1E5"), vec![Float(1e5)]);
        assert_eq!(ok("3.25E+2"), vec![Float(325.0)]);
        // Not floats: the longest valid prefix wins and the rest lexes on.
        assert_eq!(ok("1e"), vec![Int(1), Ident("e")]);
        assert_eq!(ok("1e-x"), vec![Int(1), Ident("e"), Minus, Ident("x")]);
    }

    #[test]
    fn dot_without_digits_is_an_error() {
        let (t, d) = toks("2.x");
        assert_eq!(t, vec![Token::Int(2), Token::Ident("x")]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "unexpected character `.`");
    }

    #[test]
    fn identifiers() {
        use Token::*;
        assert_eq!(ok("x'"), vec![Ident("x'")]);
        assert_eq!(
            ok("x'' f_1 _a a_"),
            vec![Ident("x''"), Ident("f_1"), Ident("_a"), Ident("a_")]
        );
        assert_eq!(ok("_"), vec![Underscore]);
        assert_eq!(ok("_ __"), vec![Underscore, Ident("__")]);
        assert_eq!(ok("define in inx"), vec![Ident("define"), In, Ident("inx")]);
        assert_eq!(ok("f64 i64 bool"), vec![Ident("f64"), Ident("i64"), Ident("bool")]);
    }

    #[test]
    fn comments() {
        use Token::*;
        assert_eq!(ok("a -- b c\nd"), vec![Ident("a"), Ident("d")]);
        assert_eq!(ok("-- only a comment"), vec![]);
        assert_eq!(ok("a--b"), vec![Ident("a")]);
        assert_eq!(ok("a - -b"), vec![Ident("a"), Minus, Minus, Ident("b")]);
        assert_eq!(ok("a->b"), vec![Ident("a"), Arrow, Ident("b")]);
        assert_eq!(ok("x -- é unicode in a comment\ny"), vec![Ident("x"), Ident("y")]);
    }

    #[test]
    fn operators() {
        use Token::*;
        assert_eq!(ok("a ~= b"), vec![Ident("a"), Approx, Ident("b")]);
        assert_eq!(
            ok("|| && == != < <= > >= + - * / % @ ** ! = -> \\ , : ( ) [ ]"),
            vec![
                OrOr, AndAnd, EqEq, NotEq, Lt, Le, Gt, Ge, Plus, Minus, Star, Slash, Percent, At, StarStar, Bang, Eq,
                Arrow, Backslash, Comma, Colon, LParen, RParen, LBracket, RBracket
            ]
        );
        assert_eq!(ok("a***b"), vec![Ident("a"), StarStar, Star, Ident("b")]);
    }

    #[test]
    fn strings() {
        use Token::*;
        assert_eq!(ok(r#""a.dl""#), vec![Str("a.dl".into())]);
        assert_eq!(ok(r#""say \"hi\" \\ ok""#), vec![Str(r#"say "hi" \ ok"#.into())]);
        let (t, d) = toks("\"abc\ndef");
        assert_eq!(t, vec![Str("abc".into()), Def]);
        assert_eq!(d[0].message, "unterminated string");
        let (t, d) = toks(r#""a\qb""#);
        assert_eq!(t, vec![Str("aqb".into())]);
        assert_eq!(d[0].message, "unknown escape `\\q` in string");
        assert_eq!((d[0].labels[0].span.start, d[0].labels[0].span.end), (2, 4));
    }

    #[test]
    fn bad_characters_are_skipped() {
        use Token::*;
        let (t, d) = toks("a $ b #é% c");
        assert_eq!(t, vec![Ident("a"), Ident("b"), Percent, Ident("c")]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].message, "unexpected character `$`");
        assert_eq!(d[1].message, "unexpected characters `#é`");
        let s = d[1].labels[0].span;
        assert_eq!((s.start, s.end), (6, 9));
    }

    #[test]
    fn literal_overflow() {
        let (t, d) = toks("9223372036854775807 9223372036854775809 1e400 t.99999999999999999999999");
        assert_eq!(t[0], Token::Int(i64::MAX));
        assert_eq!(t[1], Token::Int(0));
        assert_eq!(t[2], Token::Float(0.0));
        assert_eq!(t[4], Token::Proj(0));
        let msgs: Vec<_> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "integer literal too large",
                "float literal too large",
                "projection index too large"
            ]
        );
        // 2^63 is left for the parser, which knows whether a minus applies.
        assert_eq!(ok("9223372036854775808 007"), vec![Token::Int(i64::MIN), Token::Int(7)]);
    }

    #[test]
    fn spans_are_byte_offsets() {
        let mut diags = Vec::new();
        let t = lex(0, "ab  1.5", &mut diags);
        assert_eq!((t[0].0, t[0].2), (0, 2));
        assert_eq!((t[1].0, t[1].2), (4, 7));
    }
}
