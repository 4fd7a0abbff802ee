//! Lexer, grammar and AST: source text to [`ast::Module`] plus diagnostics.

pub mod ast;
