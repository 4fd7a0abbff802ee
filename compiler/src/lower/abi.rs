//! The runtime functions that LIR may call (`Inst::Call`): the context-free
//! part of docs/runtime-abi.md, with their parameter and result types, for
//! the verifier and the evaluator. Context, arena and error functions are
//! not called directly: `ArenaMark`, `ArenaRelease` and `Fail` stand for them.

/// A parameter or result type of the ABI. `I32` parameters take `I64`
/// operands, narrowed by code generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiTy {
    I32,
    I64,
    F64,
    Ptr,
}

/// A runtime function: its symbol, parameters and result.
#[derive(Clone, Copy, Debug)]
pub struct RuntimeFn {
    pub name: &'static str,
    pub params: &'static [AbiTy],
    pub result: Option<AbiTy>,
}

use AbiTy::{Ptr, F64, I32, I64};

const fn f(name: &'static str, params: &'static [AbiTy], result: Option<AbiTy>) -> RuntimeFn {
    RuntimeFn { name, params, result }
}

pub const RUNTIME_FUNCTIONS: &[RuntimeFn] = &[
    f("dl_exp", &[F64], Some(F64)),
    f("dl_log", &[F64], Some(F64)),
    f("dl_log1p", &[F64], Some(F64)),
    f("dl_expm1", &[F64], Some(F64)),
    f("dl_sin", &[F64], Some(F64)),
    f("dl_cos", &[F64], Some(F64)),
    f("dl_tan", &[F64], Some(F64)),
    f("dl_tanh", &[F64], Some(F64)),
    f("dl_sigmoid", &[F64], Some(F64)),
    f("dl_erf", &[F64], Some(F64)),
    f("dl_lgamma", &[F64], Some(F64)),
    f("dl_pow", &[F64, F64], Some(F64)),
    f("dl_atan2", &[F64, F64], Some(F64)),
    f("dl_fmod", &[F64, F64], Some(F64)),
    f("dl_polygamma", &[I64, F64], Some(F64)),
    f("dl_ipow", &[I64, I64], Some(I64)),
    f("dl_vexp", &[I64, Ptr, Ptr], None),
    f("dl_vlog", &[I64, Ptr, Ptr], None),
    f("dl_vtanh", &[I64, Ptr, Ptr], None),
    f("dl_vsigmoid", &[I64, Ptr, Ptr], None),
    f("dl_vsin", &[I64, Ptr, Ptr], None),
    f("dl_vcos", &[I64, Ptr, Ptr], None),
    f(
        "dl_gemm",
        &[I32, I32, I64, I64, I64, Ptr, I64, Ptr, I64, Ptr, I64],
        None,
    ),
    f("dl_gemv", &[I32, I64, I64, Ptr, I64, Ptr, Ptr], None),
    f("dl_dot", &[I64, Ptr, Ptr], Some(F64)),
    f("dl_outer", &[I64, I64, Ptr, Ptr, Ptr], None),
    f("dl_transpose", &[I64, I64, Ptr, Ptr], None),
    f("dl_result_alloc", &[I64], Some(Ptr)),
];

/// The runtime function named `name`.
pub fn runtime_fn(name: &str) -> Option<&'static RuntimeFn> {
    RUNTIME_FUNCTIONS.iter().find(|f| f.name == name)
}

/// True for the functions of scalars to a scalar (`dl_exp` ... `dl_ipow`):
/// pure, so a loop may call them from any lane or thread.
pub fn is_scalar_math(name: &str) -> bool {
    runtime_fn(name)
        .is_some_and(|f| !f.params.contains(&AbiTy::Ptr) && matches!(f.result, Some(AbiTy::F64 | AbiTy::I64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dl_runtime::abi::{lookup, AbiType};

    /// The runtime lists its symbols with their types: this table must
    /// agree with that list.
    #[test]
    fn the_table_agrees_with_the_runtime() {
        let convert = |t: AbiType| match t {
            AbiType::I32 => AbiTy::I32,
            AbiType::I64 => AbiTy::I64,
            AbiType::F64 => AbiTy::F64,
            AbiType::Ptr => AbiTy::Ptr,
        };
        for f in RUNTIME_FUNCTIONS {
            let (_, params, result) = lookup(f.name).unwrap_or_else(|| panic!("the runtime lacks {}", f.name));
            let params: Vec<AbiTy> = params.iter().map(|t| convert(*t)).collect();
            assert_eq!(params, f.params, "{}", f.name);
            assert_eq!(result.map(convert), f.result, "{}", f.name);
        }
    }
}
