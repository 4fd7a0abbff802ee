//! (placeholder until the interpreter lands)
use super::ir::Program;
use super::value::Value;
use crate::diagnostics::Span;
#[derive(Debug)]
pub struct RunError {
    pub message: String,
    pub span: Option<Span>,
}
pub fn run(_p: &Program, _f: &str, _a: Vec<Value>) -> Result<Value, RunError> {
    Err(RunError {
        message: "no interpreter".into(),
        span: None,
    })
}
