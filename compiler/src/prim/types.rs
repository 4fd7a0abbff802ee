//! The core type rule of every primitive.

use super::Prim;
use crate::core::ir::Type;

impl Prim {
    /// The type of the primitive's result, or a message saying why the
    /// argument types do not fit. Used by the core verifier.
    pub fn result_type(self, args: &[Type]) -> Result<Type, String> {
        use Type::*;
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("`{}` takes {} arguments, got {}", self.name(), n, args.len()))
            }
        };
        let mismatch = || {
            let tys: Vec<String> = args.iter().map(|t| t.to_string()).collect();
            Err(format!("`{}` does not apply to ({})", self.name(), tys.join(", ")))
        };
        match self {
            Prim::Add | Prim::Sub | Prim::Mul | Prim::Div | Prim::Rem | Prim::Pow | Prim::Min | Prim::Max => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (F64, F64) => Ok(F64),
                    (I64, I64) => Ok(I64),
                    _ => mismatch(),
                }
            }
            Prim::Atan2 => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (F64, F64) => Ok(F64),
                    _ => mismatch(),
                }
            }
            Prim::Neg | Prim::Abs | Prim::Sign => {
                arity(1)?;
                match &args[0] {
                    F64 => Ok(F64),
                    I64 => Ok(I64),
                    _ => mismatch(),
                }
            }
            Prim::Sqrt
            | Prim::Exp
            | Prim::Log
            | Prim::Log1p
            | Prim::Expm1
            | Prim::Sin
            | Prim::Cos
            | Prim::Tan
            | Prim::Tanh
            | Prim::Sigmoid
            | Prim::Floor
            | Prim::Ceil
            | Prim::Erf
            | Prim::Lgamma => {
                arity(1)?;
                match &args[0] {
                    F64 => Ok(F64),
                    _ => mismatch(),
                }
            }
            Prim::Polygamma => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (I64, F64) => Ok(F64),
                    _ => mismatch(),
                }
            }
            Prim::ToF64 => {
                arity(1)?;
                match &args[0] {
                    I64 | F64 => Ok(F64),
                    _ => mismatch(),
                }
            }
            Prim::ToI64 => {
                arity(1)?;
                match &args[0] {
                    I64 | F64 => Ok(I64),
                    _ => mismatch(),
                }
            }
            Prim::Eq | Prim::Ne | Prim::ApproxEq => {
                arity(2)?;
                if args[0] == args[1] {
                    Ok(Bool)
                } else {
                    mismatch()
                }
            }
            Prim::Lt | Prim::Le | Prim::Gt | Prim::Ge => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (F64, F64) | (I64, I64) | (Bool, Bool) => Ok(Bool),
                    _ => mismatch(),
                }
            }
            Prim::And | Prim::Or => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (Bool, Bool) => Ok(Bool),
                    _ => mismatch(),
                }
            }
            Prim::Not => {
                arity(1)?;
                match &args[0] {
                    Bool => Ok(Bool),
                    _ => mismatch(),
                }
            }
            Prim::Length => {
                arity(1)?;
                match &args[0] {
                    Array(_) => Ok(I64),
                    _ => mismatch(),
                }
            }
            Prim::Iota => {
                arity(1)?;
                match &args[0] {
                    I64 => Ok(Type::array(I64)),
                    _ => mismatch(),
                }
            }
            Prim::Replicate => {
                arity(2)?;
                match &args[0] {
                    I64 => Ok(Type::array(args[1].clone())),
                    _ => mismatch(),
                }
            }
            Prim::Index => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (Array(t), I64) => Ok((**t).clone()),
                    _ => mismatch(),
                }
            }
            Prim::Slice => {
                arity(3)?;
                match (&args[0], &args[1], &args[2]) {
                    (Array(_), I64, I64) => Ok(args[0].clone()),
                    _ => mismatch(),
                }
            }
            Prim::Concat => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (Array(a), Array(b)) if a == b => Ok(args[0].clone()),
                    _ => mismatch(),
                }
            }
            Prim::Reverse => {
                arity(1)?;
                match &args[0] {
                    Array(_) => Ok(args[0].clone()),
                    _ => mismatch(),
                }
            }
            Prim::Flatten => {
                arity(1)?;
                match &args[0] {
                    Array(inner) => match &**inner {
                        Array(_) => Ok((**inner).clone()),
                        _ => mismatch(),
                    },
                    _ => mismatch(),
                }
            }
            Prim::Unflatten => {
                arity(3)?;
                match (&args[0], &args[1], &args[2]) {
                    (I64, I64, Array(_)) => Ok(Type::array(args[2].clone())),
                    _ => mismatch(),
                }
            }
            Prim::Transpose => {
                arity(1)?;
                match &args[0] {
                    Array(inner) => match &**inner {
                        Array(_) => Ok(args[0].clone()),
                        _ => mismatch(),
                    },
                    _ => mismatch(),
                }
            }
            Prim::ScatterAdd => {
                arity(3)?;
                match (&args[0], &args[1], &args[2]) {
                    (I64, Array(i), Array(v)) if **i == I64 && **v == F64 => Ok(Type::array(F64)),
                    _ => mismatch(),
                }
            }
            Prim::Sum | Prim::Prod | Prim::Maximum | Prim::Minimum => {
                arity(1)?;
                match &args[0] {
                    Array(t) if **t == F64 || **t == I64 => Ok((**t).clone()),
                    _ => mismatch(),
                }
            }
            Prim::Argmax | Prim::Argmin => {
                arity(1)?;
                match &args[0] {
                    Array(t) if **t == F64 || **t == I64 => Ok(I64),
                    _ => mismatch(),
                }
            }
            Prim::Dot | Prim::Matmul | Prim::Matvec | Prim::Vecmat | Prim::Outer => {
                arity(2)?;
                let vec = Type::array(F64);
                let mat = Type::array(vec.clone());
                let (want_a, want_b, result) = match self {
                    Prim::Dot => (&vec, &vec, F64),
                    Prim::Matmul => (&mat, &mat, mat.clone()),
                    Prim::Matvec => (&mat, &vec, vec.clone()),
                    Prim::Vecmat => (&vec, &mat, vec.clone()),
                    Prim::Outer => (&vec, &vec, mat.clone()),
                    other => return Err(format!("`{}` is not a linear-algebra primitive", other.name())),
                };
                if &args[0] == want_a && &args[1] == want_b {
                    Ok(result)
                } else {
                    mismatch()
                }
            }
            Prim::StopGradient => {
                arity(1)?;
                Ok(args[0].clone())
            }
            Prim::ZeroTangent => {
                arity(1)?;
                Ok(args[0].tangent())
            }
            Prim::AddTangent => {
                arity(2)?;
                if args[0] == args[1] && args[0] == args[0].tangent() {
                    Ok(args[0].clone())
                } else {
                    mismatch()
                }
            }
            Prim::IndexAdd => {
                arity(3)?;
                match (&args[0], &args[1]) {
                    (Array(t), I64) if **t == args[2] && args[2] == args[2].tangent() => Ok(args[0].clone()),
                    _ => mismatch(),
                }
            }
            Prim::IndexSet => {
                arity(3)?;
                match (&args[0], &args[1]) {
                    (Array(t), I64) if **t == args[2] => Ok(args[0].clone()),
                    _ => mismatch(),
                }
            }
            Prim::SliceAdd => {
                arity(3)?;
                match (&args[0], &args[1]) {
                    (Array(t), I64) if args[2] == args[0] && **t == t.tangent() => Ok(args[0].clone()),
                    _ => mismatch(),
                }
            }
            Prim::CheckIndex => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (I64, I64) => Ok(I64),
                    _ => mismatch(),
                }
            }
            Prim::CheckSlice => {
                arity(3)?;
                match (&args[0], &args[1], &args[2]) {
                    (I64, I64, I64) => Ok(I64),
                    _ => mismatch(),
                }
            }
            Prim::SizeEq => {
                arity(2)?;
                match (&args[0], &args[1]) {
                    (I64, I64) => Ok(I64),
                    _ => mismatch(),
                }
            }
        }
    }
}
