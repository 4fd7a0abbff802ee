//! Run-time values of the reference interpreter, and their text forms:
//! dl literal syntax (printed shortest-round-trip) and JSON.

use std::rc::Rc;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    F64(f64),
    I64(i64),
    Bool(bool),
    Tuple(Rc<[Value]>),
    Array(Rc<Vec<Value>>),
}
pub fn parse_value(_t: &str, _ty: &super::ir::Type) -> Result<Value, String> {
    Err("todo".into())
}
pub fn value_to_json(_v: &Value) -> serde_json::Value {
    serde_json::Value::Null
}
pub fn value_from_json(_v: &serde_json::Value, _ty: &super::ir::Type) -> Result<Value, String> {
    Err("todo".into())
}
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self)
    }
}
