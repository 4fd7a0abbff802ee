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
