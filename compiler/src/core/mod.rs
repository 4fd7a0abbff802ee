//! The core IR: its definition, printer, parser, verifier, a builder and the reference
//! interpreter.

pub mod build;
pub mod dot;
pub mod interp;
pub mod ir;
pub mod parse;
pub mod print;
pub mod value;
pub mod verify;
