//! The printer of core IR. Its text reads back with `core::parse`.

use super::ir::Type;
use std::fmt;

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::F64 => write!(f, "f64"),
            Type::I64 => write!(f, "i64"),
            Type::Bool => write!(f, "bool"),
            Type::Array(t) => write!(f, "[]{t}"),
            Type::Tuple(ts) => {
                write!(f, "(")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{t}")?;
                }
                if ts.len() == 1 {
                    write!(f, ",")?;
                }
                write!(f, ")")
            }
        }
    }
}
pub fn print_program(p: &super::ir::Program) -> String {
    format!("{p:?}")
}
pub fn print_func(p: &super::ir::Func) -> String {
    format!("{p:?}")
}
