//! The parser of core IR text: reads exactly what `core::print` writes.
//!
//! `parse_program(&print_program(p)) == p` for every program whose spans
//! are [`Span::default`] (the text has no spans), up to NaN literals (a
//! NaN is never equal to itself), and printing a parsed program gives the
//! text back up to layout and comments. The text format
//! is described in `core::print`. Hand-written files may also contain `--`
//! line comments.
//!
//! The parser never panics: any input gives a program or a [`ParseError`].
//! It checks the syntax and one thing more: a variable's name must be that
//! of its binder (or `v` when it has none), which catches typos in
//! hand-written IR. Scoping and types are the verifier's business.

use super::ir::{Atom, Binder, Block, Combine, DerivOp, Func, Loop, LoopKind, Program, Rhs, Stmt, Test, Type, VarId};
use super::print::{binder_names, var_text, UNBOUND_NAME};
use crate::diagnostics::Span;
use crate::prim::Prim;
use std::fmt;

/// A syntax error, at a 1-based line and column (in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole program: functions and tests, in any order.
pub fn parse_program(text: &str) -> Result<Program, ParseError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        refs: Vec::new(),
    };
    let mut program = Program::default();
    loop {
        match p.peek_kind() {
            Tok::Eof => break,
            Tok::Ident(kw) if kw == "def" => program.funcs.push(p.func()?),
            Tok::Ident(kw) if kw == "test" => program.tests.push(p.test()?),
            _ => return Err(p.error_here("expected `def` or `test`")),
        }
    }
    Ok(program)
}

/// Parses a text that holds exactly one function and no test.
pub fn parse_func(text: &str) -> Result<Func, ParseError> {
    let mut program = parse_program(text)?;
    if program.funcs.len() == 1 && program.tests.is_empty() {
        if let Some(f) = program.funcs.pop() {
            return Ok(f);
        }
    }
    Err(ParseError {
        line: 1,
        column: 1,
        message: format!(
            "expected one function, found {} functions and {} tests",
            program.funcs.len(),
            program.tests.len()
        ),
    })
}

/// How deeply blocks and types may nest, so that no input overflows the
/// stack.
const MAX_DEPTH: u32 = 100;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// A plain identifier or keyword.
    Ident(String),
    /// `name.id` or `"name".id`.
    Var(String, u32),
    Str(String),
    Int(i64),
    Float(f64),
    /// One of `( ) [ ] , : = \ < ->`.
    Punct(&'static str),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Var(name, id) => format!("`{}`", var_text(name, VarId(*id))),
            Tok::Str(_) => "a string".to_string(),
            Tok::Int(n) => format!("`{n}`"),
            Tok::Float(_) => "a float literal".to_string(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "the end of the input".to_string(),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: u32,
    column: u32,
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        column: 1,
        start: (1, 1),
    };
    let mut tokens = Vec::new();
    loop {
        lx.skip_space();
        let (line, column) = (lx.line, lx.column);
        lx.start = (line, column);
        let tok = match lx.peek(0) {
            None => {
                tokens.push(Token {
                    tok: Tok::Eof,
                    line,
                    column,
                });
                return Ok(tokens);
            }
            Some(c) => lx.token(c)?,
        };
        tokens.push(Token { tok, line, column });
    }
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    column: u32,
    /// Where the token being lexed starts, for errors.
    start: (u32, u32),
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.start.0,
            column: self.start.1,
            message: message.into(),
        }
    }

    fn skip_space(&mut self) {
        loop {
            match self.peek(0) {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('-') if self.peek(1) == Some('-') => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn token(&mut self, c: char) -> Result<Tok, ParseError> {
        if c.is_ascii_alphabetic() || c == '_' {
            let word = self.word();
            return self.maybe_var(word, Tok::Ident);
        }
        if c == '"' {
            let s = self.string()?;
            return self.maybe_var(s, Tok::Str);
        }
        if c.is_ascii_digit() {
            return self.number(false);
        }
        if c == '-' {
            if self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
                return self.number(true);
            }
            if self.peek(1) == Some('>') {
                self.bump();
                self.bump();
                return Ok(Tok::Punct("->"));
            }
            if self.peek(1) == Some('i')
                && self.peek(2) == Some('n')
                && self.peek(3) == Some('f')
                && !self.peek(4).is_some_and(is_name_char)
            {
                for _ in 0..4 {
                    self.bump();
                }
                return Ok(Tok::Float(f64::NEG_INFINITY));
            }
        }
        let punct = match c {
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            ',' => ",",
            ':' => ":",
            '=' => "=",
            '\\' => "\\",
            '<' => "<",
            _ => return Err(self.error(format!("unexpected character {c:?}"))),
        };
        self.bump();
        Ok(Tok::Punct(punct))
    }

    fn word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek(0).filter(|&c| is_name_char(c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    /// A name directly followed by `.digits` is a variable.
    fn maybe_var(&mut self, name: String, plain: fn(String) -> Tok) -> Result<Tok, ParseError> {
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            let mut digits = String::new();
            while let Some(c) = self.peek(0).filter(char::is_ascii_digit) {
                digits.push(c);
                self.bump();
            }
            let id = digits
                .parse::<u32>()
                .map_err(|_| self.error(format!("variable id {digits} is too large")))?;
            Ok(Tok::Var(name, id))
        } else {
            Ok(plain(name))
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.bump();
        let mut s = String::new();
        loop {
            let c = match self.bump() {
                None => return Err(self.error("unterminated string")),
                Some('"') => return Ok(s),
                Some(c) => c,
            };
            if c != '\\' {
                s.push(c);
                continue;
            }
            match self.bump() {
                Some('"') => s.push('"'),
                Some('\\') => s.push('\\'),
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some('r') => s.push('\r'),
                Some('u') => s.push(self.unicode_escape()?),
                _ => return Err(self.error("unknown escape in string")),
            }
        }
    }

    /// The `{hex}` of a `\u{hex}` escape.
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        if self.bump() != Some('{') {
            return Err(self.error("expected `{` after `\\u`"));
        }
        let mut hex = String::new();
        loop {
            match self.bump() {
                Some('}') => break,
                Some(c) if c.is_ascii_hexdigit() && hex.len() < 6 => hex.push(c),
                _ => return Err(self.error("bad `\\u{...}` escape")),
            }
        }
        u32::from_str_radix(&hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| self.error("bad `\\u{...}` escape"))
    }

    /// An i64 or f64 literal; the sign, if any, is already consumed.
    fn number(&mut self, negative: bool) -> Result<Tok, ParseError> {
        let mut s = String::new();
        if negative {
            s.push('-');
        }
        let mut float = false;
        while let Some(c) = self.peek(0) {
            let exponent_sign = (c == '-' || c == '+') && s.ends_with(['e', 'E']) && float;
            if c.is_ascii_digit() || exponent_sign {
                s.push(c);
            } else if (c == '.' && self.peek(1).is_some_and(|c| c.is_ascii_digit())) || c == 'e' || c == 'E' {
                float = true;
                s.push(c);
            } else {
                break;
            }
            self.bump();
        }
        if float {
            s.parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| self.error(format!("bad float literal `{s}`")))
        } else {
            s.parse::<i64>()
                .map(Tok::Int)
                .map_err(|_| self.error(format!("integer literal `{s}` does not fit in i64")))
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '\''
}

/// A variable reference whose name is checked once its function is parsed.
struct VarRef {
    name: String,
    var: VarId,
    line: u32,
    column: u32,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: u32,
    refs: Vec<VarRef>,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with `Eof`, and `bump` never moves
        // past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_kind(&self) -> &Tok {
        &self.peek().tok
    }

    fn bump(&mut self) -> Tok {
        let tok = self.peek().tok.clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        let t = self.peek();
        ParseError {
            line: t.line,
            column: t.column,
            message: message.into(),
        }
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let t = &self.tokens[pos.min(self.tokens.len() - 1)];
        ParseError {
            line: t.line,
            column: t.column,
            message: message.into(),
        }
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        self.error_here(format!("expected {expected}, found {}", self.peek_kind().describe()))
    }

    fn at_punct(&self, p: &str) -> bool {
        matches!(self.peek_kind(), Tok::Punct(q) if *q == p)
    }

    fn at_keyword(&self, kw: &str) -> bool {
        matches!(self.peek_kind(), Tok::Ident(w) if w == kw)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let at = self.at_punct(p);
        if at {
            self.bump();
        }
        at
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), ParseError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{p}`")))
        }
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.at_keyword(kw) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{kw}`")))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.error_here("nested too deeply"))
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A function or test name: an identifier or a string.
    fn name(&mut self) -> Result<String, ParseError> {
        match self.peek_kind() {
            Tok::Ident(_) | Tok::Str(_) => match self.bump() {
                Tok::Ident(s) | Tok::Str(s) => Ok(s),
                _ => Err(self.unexpected("a name")),
            },
            _ => Err(self.unexpected("a name")),
        }
    }

    /// `def name(params) -> type = block`
    fn func(&mut self) -> Result<Func, ParseError> {
        self.expect_keyword("def")?;
        let name = self.name()?;
        self.refs.clear();
        self.expect_punct("(")?;
        let mut params = Vec::new();
        if !self.eat_punct(")") {
            loop {
                params.push(self.binder()?);
                if self.eat_punct(")") {
                    break;
                }
                self.expect_punct(",")?;
            }
        }
        self.expect_punct("->")?;
        let ret = self.ty()?;
        self.expect_punct("=")?;
        let body = self.block()?;
        let func = Func {
            name,
            params,
            ret,
            body,
            span: Span::default(),
        };
        self.check_names(&func)?;
        Ok(func)
    }

    /// Every reference must use the name the printer would give it.
    fn check_names(&mut self, func: &Func) -> Result<(), ParseError> {
        let names = binder_names(func);
        for r in &self.refs {
            let want = names.get(&r.var).map_or(UNBOUND_NAME, String::as_str);
            if r.name != want {
                let bound = if names.contains_key(&r.var) {
                    format!("bound as `{}`", var_text(want, r.var))
                } else {
                    format!(
                        "not bound in `{}`, so it is written `{}`",
                        func.name,
                        var_text(want, r.var)
                    )
                };
                return Err(ParseError {
                    line: r.line,
                    column: r.column,
                    message: format!(
                        "`{}` names variable {}, which is {bound}",
                        var_text(&r.name, r.var),
                        r.var.0
                    ),
                });
            }
        }
        Ok(())
    }

    /// `test "name" = func`
    fn test(&mut self) -> Result<Test, ParseError> {
        self.expect_keyword("test")?;
        let name = match self.peek_kind() {
            Tok::Str(s) => s.clone(),
            _ => return Err(self.unexpected("the test's name as a string")),
        };
        self.bump();
        self.expect_punct("=")?;
        let func = self.name()?;
        Ok(Test {
            name,
            func,
            span: Span::default(),
        })
    }

    /// `name.id: type`
    fn binder(&mut self) -> Result<Binder, ParseError> {
        let (name, id) = match self.peek_kind() {
            Tok::Var(name, id) => (name.clone(), *id),
            _ => return Err(self.unexpected("a variable such as `x.1`")),
        };
        self.bump();
        self.expect_punct(":")?;
        let ty = self.ty()?;
        Ok(Binder {
            var: VarId(id),
            name,
            ty,
        })
    }

    /// `(name.id: type)`
    fn paren_binder(&mut self) -> Result<Binder, ParseError> {
        self.expect_punct("(")?;
        let b = self.binder()?;
        self.expect_punct(")")?;
        Ok(b)
    }

    fn ty(&mut self) -> Result<Type, ParseError> {
        self.enter()?;
        let ty = self.ty_inner();
        self.leave();
        ty
    }

    fn ty_inner(&mut self) -> Result<Type, ParseError> {
        if self.eat_punct("[") {
            self.expect_punct("]")?;
            return Ok(Type::array(self.ty()?));
        }
        let open = self.pos;
        if self.eat_punct("(") {
            let mut ts = Vec::new();
            if self.eat_punct(")") {
                return Ok(Type::Tuple(ts));
            }
            loop {
                ts.push(self.ty()?);
                if self.eat_punct(")") {
                    // `(T)` is not a tuple type; one field needs `(T,)`.
                    if ts.len() == 1 {
                        return Err(self.error_at(open, "a one-field tuple type is written `(T,)`"));
                    }
                    return Ok(Type::Tuple(ts));
                }
                self.expect_punct(",")?;
                if self.eat_punct(")") {
                    return Ok(Type::Tuple(ts));
                }
            }
        }
        let ty = match self.peek_kind() {
            Tok::Ident(w) if w == "f64" => Type::F64,
            Tok::Ident(w) if w == "i64" => Type::I64,
            Tok::Ident(w) if w == "bool" => Type::Bool,
            _ => return Err(self.unexpected("a type")),
        };
        self.bump();
        Ok(ty)
    }

    fn atom(&mut self) -> Result<Atom, ParseError> {
        let t = self.peek().clone();
        let atom = match t.tok {
            Tok::Var(name, id) => {
                self.refs.push(VarRef {
                    name,
                    var: VarId(id),
                    line: t.line,
                    column: t.column,
                });
                Atom::Var(VarId(id))
            }
            Tok::Int(n) => Atom::I64(n),
            Tok::Float(x) => Atom::F64(x),
            Tok::Ident(w) => match w.as_str() {
                "true" => Atom::Bool(true),
                "false" => Atom::Bool(false),
                "nan" => Atom::F64(f64::NAN),
                "inf" => Atom::F64(f64::INFINITY),
                _ => return Err(self.unexpected("a variable or a literal")),
            },
            _ => return Err(self.unexpected("a variable or a literal")),
        };
        self.bump();
        Ok(atom)
    }

    /// Atoms separated by commas up to the closing `close`, which is
    /// consumed.
    fn atoms_until(&mut self, close: &str) -> Result<Vec<Atom>, ParseError> {
        let mut atoms = Vec::new();
        if self.eat_punct(close) {
            return Ok(atoms);
        }
        loop {
            atoms.push(self.atom()?);
            if self.eat_punct(close) {
                return Ok(atoms);
            }
            self.expect_punct(",")?;
        }
    }

    /// `(atoms)`
    fn args(&mut self) -> Result<Vec<Atom>, ParseError> {
        self.expect_punct("(")?;
        self.atoms_until(")")
    }

    /// `let binder = rhs` ... `in atom`
    fn block(&mut self) -> Result<Block, ParseError> {
        self.enter()?;
        let block = self.block_inner();
        self.leave();
        block
    }

    fn block_inner(&mut self) -> Result<Block, ParseError> {
        let mut stmts = Vec::new();
        loop {
            if self.at_keyword("in") {
                self.bump();
                let result = self.atom()?;
                return Ok(Block { stmts, result });
            }
            if !self.at_keyword("let") {
                return Err(self.unexpected("`let` or `in`"));
            }
            self.bump();
            let binder = self.binder()?;
            self.expect_punct("=")?;
            let rhs = self.rhs()?;
            stmts.push(Stmt {
                binder,
                rhs,
                span: Span::default(),
            });
        }
    }

    fn rhs(&mut self) -> Result<Rhs, ParseError> {
        let start = self.pos;
        if self.eat_punct("(") {
            let mut atoms = Vec::new();
            if self.eat_punct(")") {
                return Ok(Rhs::Tuple(atoms));
            }
            loop {
                atoms.push(self.atom()?);
                if self.eat_punct(")") {
                    if atoms.len() == 1 {
                        return Err(self.error_at(start, "a one-field tuple is written `(x,)`"));
                    }
                    return Ok(Rhs::Tuple(atoms));
                }
                self.expect_punct(",")?;
                if self.eat_punct(")") {
                    return Ok(Rhs::Tuple(atoms));
                }
            }
        }
        if self.eat_punct("[") {
            let atoms = self.atoms_until("]")?;
            self.expect_punct(":")?;
            let ty_start = self.pos;
            return match self.ty()? {
                Type::Array(elem) => Ok(Rhs::Array(atoms, *elem)),
                _ => Err(self.error_at(ty_start, "an array literal's type must be an array type")),
            };
        }
        let word = match self.peek_kind() {
            Tok::Ident(w) if !matches!(w.as_str(), "true" | "false" | "nan" | "inf") => w.clone(),
            _ => return Ok(Rhs::Atom(self.atom()?)),
        };
        if let Some(op) = DerivOp::from_name(&word) {
            self.bump();
            return self.deriv(op);
        }
        match word.as_str() {
            "proj" => {
                self.bump();
                self.expect_punct("(")?;
                let tuple = self.atom()?;
                self.expect_punct(",")?;
                let index = match self.peek_kind() {
                    Tok::Int(n) => usize::try_from(*n).ok(),
                    _ => None,
                };
                let Some(index) = index else {
                    return Err(self.unexpected("a field index"));
                };
                self.bump();
                self.expect_punct(")")?;
                Ok(Rhs::Proj(tuple, index))
            }
            "call" => {
                self.bump();
                let name = self.name()?;
                let args = self.args()?;
                Ok(Rhs::Call(name, args))
            }
            "if" => {
                self.bump();
                let cond = self.atom()?;
                self.expect_keyword("then")?;
                let then = self.block()?;
                self.expect_keyword("else")?;
                let els = self.block()?;
                Ok(Rhs::If(cond, then, els))
            }
            "loop" => {
                self.bump();
                self.loop_()
            }
            "map" => {
                self.bump();
                let arrays = self.args()?;
                self.expect_punct("\\")?;
                let mut params = Vec::new();
                while !self.eat_punct("->") {
                    params.push(self.paren_binder()?);
                }
                let body = self.block()?;
                Ok(Rhs::Map { arrays, params, body })
            }
            "build" => {
                self.bump();
                self.expect_punct("(")?;
                let n = self.atom()?;
                self.expect_punct(")")?;
                self.expect_punct("\\")?;
                let index = self.paren_binder()?;
                self.expect_punct("->")?;
                let body = self.block()?;
                Ok(Rhs::Build { n, index, body })
            }
            "reduce" => {
                self.bump();
                Ok(Rhs::Reduce(self.combine()?))
            }
            "scan" => {
                self.bump();
                Ok(Rhs::Scan(self.combine()?))
            }
            _ => match Prim::from_name(&word) {
                Some(prim) => {
                    self.bump();
                    Ok(Rhs::Prim(prim, self.args()?))
                }
                None => Err(self.error_here(format!("unknown primitive `{word}`"))),
            },
        }
    }

    /// After `loop`: `(state) = init for (i) < n do block` or
    /// `(state) = init while block do block`.
    fn loop_(&mut self) -> Result<Rhs, ParseError> {
        let state = self.paren_binder()?;
        self.expect_punct("=")?;
        let init = self.atom()?;
        let kind = if self.at_keyword("for") {
            self.bump();
            let index = self.paren_binder()?;
            self.expect_punct("<")?;
            let n = self.atom()?;
            LoopKind::For { n, index }
        } else if self.at_keyword("while") {
            self.bump();
            LoopKind::While { cond: self.block()? }
        } else {
            return Err(self.unexpected("`for` or `while`"));
        };
        self.expect_keyword("do")?;
        let body = self.block()?;
        Ok(Rhs::Loop(Loop {
            state,
            init,
            kind,
            body,
        }))
    }

    /// After `reduce` or `scan`: `(ne, array) \(acc) (elem) -> block`.
    fn combine(&mut self) -> Result<Combine, ParseError> {
        self.expect_punct("(")?;
        let ne = self.atom()?;
        self.expect_punct(",")?;
        let array = self.atom()?;
        self.expect_punct(")")?;
        self.expect_punct("\\")?;
        let acc = self.paren_binder()?;
        let elem = self.paren_binder()?;
        self.expect_punct("->")?;
        let body = self.block()?;
        Ok(Combine {
            ne,
            array,
            acc,
            elem,
            body,
        })
    }

    /// After the operator: `(func, captured...)(args...)`.
    fn deriv(&mut self, op: DerivOp) -> Result<Rhs, ParseError> {
        self.expect_punct("(")?;
        let func = self.name()?;
        let mut captured = Vec::new();
        while self.eat_punct(",") {
            captured.push(self.atom()?);
        }
        self.expect_punct(")")?;
        let args = self.args()?;
        Ok(Rhs::Deriv {
            op,
            func,
            captured,
            args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words that start a right-hand side other than a primitive or a
    /// derivative.
    const RHS_KEYWORDS: &[&str] = &[
        "proj", "call", "if", "loop", "map", "build", "reduce", "scan", "true", "false", "nan", "inf",
    ];

    #[test]
    fn no_primitive_is_named_like_another_right_hand_side() {
        for p in Prim::ALL {
            assert!(!RHS_KEYWORDS.contains(&p.name()), "{}", p.name());
            assert!(DerivOp::from_name(p.name()).is_none(), "{}", p.name());
        }
    }

    #[test]
    fn errors_have_positions() {
        let err = parse_program("def f() -> f64 =\n  in x\n").unwrap_err();
        assert_eq!(err.to_string(), "2:6: expected a variable or a literal, found `x`");
    }
}
