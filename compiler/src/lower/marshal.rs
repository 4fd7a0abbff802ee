//! Core values to LIR components and back: the one place that knows how a
//! value is laid out (see `lir`'s module documentation). The lowering reads
//! [`layout`]; the evaluator and the JIT marshal arguments with
//! [`to_components`] and results with [`buffer_lengths`] and
//! [`from_components`].
//!
//! Nested arrays are flattened row-major, arrays of tuples become tuples of
//! arrays, and the sizes of an empty array's elements are 0 (the canonical
//! form the lowering keeps, so that equal values have equal components).

use super::lir::Ty;
use crate::core::ir::Type;
use crate::core::value::Value;
use std::fmt;

/// What one component of a value is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A scalar outside every array.
    Scalar(Ty),
    /// The length of an array (an `I64`).
    Len,
    /// A pointer to a buffer of `elem`s; its element count is the product
    /// of the `Len` components at positions `dims` (outermost first).
    Buffer { elem: Ty, dims: Vec<usize> },
}

/// The slots of a value of type `ty`, one per component, in order.
pub fn layout(ty: &Type) -> Vec<Slot> {
    fn go(ty: &Type, dims: &mut Vec<usize>, out: &mut Vec<Slot>) {
        let leaf = |scalar: Ty, dims: &Vec<usize>| {
            if dims.is_empty() {
                Slot::Scalar(scalar)
            } else {
                Slot::Buffer {
                    elem: scalar,
                    dims: dims.clone(),
                }
            }
        };
        match ty {
            Type::F64 => out.push(leaf(Ty::F64, dims)),
            Type::I64 => out.push(leaf(Ty::I64, dims)),
            Type::Bool => out.push(leaf(Ty::Bool, dims)),
            Type::Tuple(fields) => fields.iter().for_each(|f| go(f, dims, out)),
            Type::Array(elem) => {
                dims.push(out.len());
                out.push(Slot::Len);
                go(elem, dims, out);
                dims.pop();
            }
        }
    }
    let mut out = Vec::new();
    go(ty, &mut Vec::new(), &mut out);
    out
}

/// The slots of the element of an array of `elem`s, as they sit inside the
/// array (the array's components after its length): scalars of the element
/// are buffers with no dims (one per element), and `dims` count from the
/// element's first component.
pub fn element_layout(elem: &Type) -> Vec<Slot> {
    let whole = layout(&Type::array(elem.clone()));
    whole[1..]
        .iter()
        .map(|slot| match slot {
            Slot::Buffer { elem, dims } => Slot::Buffer {
                elem: *elem,
                dims: dims[1..].iter().map(|d| d - 1).collect(),
            },
            other => other.clone(),
        })
        .collect()
}

/// A component of a marshalled value.
#[derive(Clone, Debug, PartialEq)]
pub enum Component {
    F64(f64),
    I64(i64),
    Bool(bool),
    Buffer(Buffer),
}

/// The contents of one buffer.
#[derive(Clone, Debug, PartialEq)]
pub enum Buffer {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl Buffer {
    pub fn len(&self) -> usize {
        match self {
            Buffer::F64(v) => v.len(),
            Buffer::I64(v) => v.len(),
            Buffer::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn elem(&self) -> Ty {
        match self {
            Buffer::F64(_) => Ty::F64,
            Buffer::I64(_) => Ty::I64,
            Buffer::Bool(_) => Ty::Bool,
        }
    }
}

/// A value that does not fit its type or is not regular.
#[derive(Clone, Debug, PartialEq)]
pub struct MarshalError(pub String);

impl fmt::Display for MarshalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MarshalError {}

fn mismatch<T>(value: &Value, ty: &Type) -> Result<T, MarshalError> {
    Err(MarshalError(format!("a {} is not of type {ty}", value.kind())))
}

/// The components of `value`, of type `ty` (see [`layout`]); an irregular
/// array of arrays is an error.
pub fn to_components(value: &Value, ty: &Type) -> Result<Vec<Component>, MarshalError> {
    // `items` are the values at this level for every element of the
    // enclosing arrays, row-major.
    fn go(ty: &Type, items: &[&Value], in_array: bool, out: &mut Vec<Component>) -> Result<(), MarshalError> {
        match ty {
            Type::F64 | Type::I64 | Type::Bool => {
                if in_array {
                    let buffer = match ty {
                        Type::F64 => Buffer::F64(
                            items
                                .iter()
                                .map(|v| v.as_f64().ok_or(()))
                                .collect::<Result<_, _>>()
                                .or_else(|()| mismatch(items[0], ty))?,
                        ),
                        Type::I64 => Buffer::I64(
                            items
                                .iter()
                                .map(|v| v.as_i64().ok_or(()))
                                .collect::<Result<_, _>>()
                                .or_else(|()| mismatch(items[0], ty))?,
                        ),
                        _ => Buffer::Bool(
                            items
                                .iter()
                                .map(|v| v.as_bool().ok_or(()))
                                .collect::<Result<_, _>>()
                                .or_else(|()| mismatch(items[0], ty))?,
                        ),
                    };
                    out.push(Component::Buffer(buffer));
                } else {
                    let v = items[0];
                    out.push(match (ty, v) {
                        (Type::F64, Value::F64(x)) => Component::F64(*x),
                        (Type::I64, Value::I64(x)) => Component::I64(*x),
                        (Type::Bool, Value::Bool(x)) => Component::Bool(*x),
                        _ => return mismatch(v, ty),
                    });
                }
                Ok(())
            }
            Type::Tuple(fields) => {
                let mut tuples = Vec::with_capacity(items.len());
                for v in items {
                    match v.as_tuple() {
                        Some(t) if t.len() == fields.len() => tuples.push(t),
                        _ => return mismatch(v, ty),
                    }
                }
                for (k, field) in fields.iter().enumerate() {
                    let column: Vec<&Value> = tuples.iter().map(|t| &t[k]).collect();
                    go(field, &column, in_array, out)?;
                }
                Ok(())
            }
            Type::Array(elem) => {
                let mut len = None;
                let mut children = Vec::new();
                for v in items {
                    let Some(a) = v.as_array() else {
                        return mismatch(v, ty);
                    };
                    match len {
                        None => len = Some(a.len()),
                        Some(l) if l != a.len() => {
                            return Err(MarshalError(format!(
                                "irregular array: elements of sizes {l} and {}",
                                a.len()
                            )))
                        }
                        Some(_) => {}
                    }
                    children.extend(a.iter());
                }
                out.push(Component::I64(len.unwrap_or(0) as i64));
                go(elem, &children, true, out)
            }
        }
    }
    let mut out = Vec::new();
    go(ty, &[value], false, &mut out)?;
    Ok(out)
}

/// The element count of each component of a value of type `ty` whose
/// components are the 8-byte `slots` (lengths as i64): `Some` for buffers.
/// Only the `Len` slots are read.
pub fn buffer_lengths(ty: &Type, slots: &[u64]) -> Vec<Option<usize>> {
    layout(ty)
        .iter()
        .map(|slot| match slot {
            Slot::Buffer { dims, .. } => Some(
                dims.iter()
                    .map(|d| usize::try_from(slots[*d] as i64).unwrap_or(0))
                    .product(),
            ),
            Slot::Scalar(_) | Slot::Len => None,
        })
        .collect()
}

/// The value of type `ty` whose components are `comps`; buffers must hold
/// exactly their element count.
pub fn from_components(ty: &Type, comps: &[Component]) -> Result<Value, MarshalError> {
    // Returns `count` values read from `comps[*at..]`.
    fn go(
        ty: &Type,
        count: usize,
        in_array: bool,
        comps: &[Component],
        at: &mut usize,
    ) -> Result<Vec<Value>, MarshalError> {
        let next = |at: &mut usize| {
            let c = comps
                .get(*at)
                .ok_or_else(|| MarshalError(format!("too few components for {ty}")))?;
            *at += 1;
            Ok::<&Component, MarshalError>(c)
        };
        fn wrong<T>(ty: &Type, at: usize, what: &str) -> Result<T, MarshalError> {
            Err(MarshalError(format!("component {at} of {ty}: {what}")))
        }
        match ty {
            Type::F64 | Type::I64 | Type::Bool => {
                let c = next(at)?;
                if in_array {
                    let Component::Buffer(b) = c else {
                        return wrong(ty, *at, "a scalar where a buffer belongs");
                    };
                    if b.len() != count {
                        return wrong(ty, *at, &format!("a buffer of {} elements, expected {count}", b.len()));
                    }
                    match (ty, b) {
                        (Type::F64, Buffer::F64(v)) => Ok(v.iter().map(|x| Value::F64(*x)).collect()),
                        (Type::I64, Buffer::I64(v)) => Ok(v.iter().map(|x| Value::I64(*x)).collect()),
                        (Type::Bool, Buffer::Bool(v)) => Ok(v.iter().map(|x| Value::Bool(*x)).collect()),
                        _ => wrong(ty, *at, "a buffer of the wrong type"),
                    }
                } else {
                    match (ty, c) {
                        (Type::F64, Component::F64(x)) => Ok(vec![Value::F64(*x)]),
                        (Type::I64, Component::I64(x)) => Ok(vec![Value::I64(*x)]),
                        (Type::Bool, Component::Bool(x)) => Ok(vec![Value::Bool(*x)]),
                        _ => wrong(ty, *at, "a scalar of the wrong type"),
                    }
                }
            }
            Type::Tuple(fields) => {
                let columns = fields
                    .iter()
                    .map(|f| go(f, count, in_array, comps, at))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((0..count)
                    .map(|k| Value::tuple(columns.iter().map(|c| c[k].clone()).collect()))
                    .collect())
            }
            Type::Array(elem) => {
                let Component::I64(len) = next(at)? else {
                    return wrong(ty, *at, "a length that is not an i64");
                };
                let len = usize::try_from(*len).or_else(|_| wrong(ty, *at, "a negative length"))?;
                let total = count.checked_mul(len).ok_or_else(|| MarshalError("too large".into()))?;
                let children = go(elem, total, true, comps, at)?;
                Ok((0..count)
                    .map(|k| Value::array(children[k * len..(k + 1) * len].to_vec()))
                    .collect())
            }
        }
    }
    let mut at = 0;
    let mut values = go(ty, 1, false, comps, &mut at)?;
    if at != comps.len() {
        return Err(MarshalError(format!("too many components for {ty}")));
    }
    Ok(values.pop().expect("one value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_arrays_of_tuples_round_trip() {
        let ty = Type::array(Type::Tuple(vec![Type::F64, Type::array(Type::I64)]));
        let v = Value::array(vec![
            Value::tuple(vec![Value::F64(1.5), Value::array(vec![Value::I64(1), Value::I64(2)])]),
            Value::tuple(vec![Value::F64(2.5), Value::array(vec![Value::I64(3), Value::I64(4)])]),
        ]);
        let comps = to_components(&v, &ty).unwrap();
        assert_eq!(
            comps,
            vec![
                Component::I64(2),
                Component::Buffer(Buffer::F64(vec![1.5, 2.5])),
                Component::I64(2),
                Component::Buffer(Buffer::I64(vec![1, 2, 3, 4])),
            ]
        );
        assert_eq!(from_components(&ty, &comps).unwrap(), v);
        assert_eq!(buffer_lengths(&ty, &[2, 0, 2, 0]), vec![None, Some(2), None, Some(4)]);
    }

    #[test]
    fn irregular_arrays_are_rejected_and_empty_ones_have_empty_elements() {
        let ty = Type::array(Type::array(Type::F64));
        let rows = Value::array(vec![Value::array(vec![Value::F64(1.0)]), Value::array(vec![])]);
        assert!(to_components(&rows, &ty).is_err());
        let empty = Value::array(vec![]);
        assert_eq!(
            to_components(&empty, &ty).unwrap(),
            vec![
                Component::I64(0),
                Component::I64(0),
                Component::Buffer(Buffer::F64(vec![]))
            ]
        );
    }
}
