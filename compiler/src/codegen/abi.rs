//! The compiler's side of the runtime ABI (docs/runtime-abi.md): every
//! symbol generated code may call, with its parameter and result types, in
//! the order of the document. The runtime lists the same symbols
//! (`dl_runtime::abi::SYMBOLS`); a test checks that the two lists agree.

use crate::lower::abi::AbiTy::{self, Ptr, F64, I32, I64};
use cranelift_codegen::ir::{types, AbiParam, Signature, Type};
use cranelift_codegen::isa::CallConv;

/// A runtime function: its symbol, parameter types and result type.
pub type Symbol = (&'static str, &'static [AbiTy], Option<AbiTy>);

/// Every symbol of the ABI.
pub const SYMBOLS: &[Symbol] = &[
    // Context, memory.
    ("dl_ctx_new", &[], Some(Ptr)),
    ("dl_ctx_free", &[Ptr], None),
    ("dl_alloc", &[Ptr, I64], Some(Ptr)),
    ("dl_arena_mark", &[Ptr], Some(I64)),
    ("dl_arena_release", &[Ptr, I64], None),
    ("dl_arena_reset", &[Ptr], None),
    ("dl_result_alloc", &[I64], Some(Ptr)),
    ("dl_result_free", &[Ptr], None),
    // Run-time errors.
    ("dl_raise", &[Ptr, I32, I32, I64, I64, I64], None),
    ("dl_has_error", &[Ptr], Some(I32)),
    ("dl_error_loc", &[Ptr], Some(I32)),
    ("dl_error_message", &[Ptr], Some(Ptr)),
    ("dl_clear_error", &[Ptr], None),
    // Scalar mathematics.
    ("dl_exp", &[F64], Some(F64)),
    ("dl_log", &[F64], Some(F64)),
    ("dl_log1p", &[F64], Some(F64)),
    ("dl_expm1", &[F64], Some(F64)),
    ("dl_sin", &[F64], Some(F64)),
    ("dl_cos", &[F64], Some(F64)),
    ("dl_tan", &[F64], Some(F64)),
    ("dl_tanh", &[F64], Some(F64)),
    ("dl_sigmoid", &[F64], Some(F64)),
    ("dl_erf", &[F64], Some(F64)),
    ("dl_lgamma", &[F64], Some(F64)),
    ("dl_pow", &[F64, F64], Some(F64)),
    ("dl_atan2", &[F64, F64], Some(F64)),
    ("dl_fmod", &[F64, F64], Some(F64)),
    ("dl_polygamma", &[I64, F64], Some(F64)),
    ("dl_ipow", &[I64, I64], Some(I64)),
    // Whole-buffer kernels.
    ("dl_vexp", &[I64, Ptr, Ptr], None),
    ("dl_vlog", &[I64, Ptr, Ptr], None),
    ("dl_vtanh", &[I64, Ptr, Ptr], None),
    ("dl_vsigmoid", &[I64, Ptr, Ptr], None),
    ("dl_vsin", &[I64, Ptr, Ptr], None),
    ("dl_vcos", &[I64, Ptr, Ptr], None),
    // Linear algebra.
    (
        "dl_gemm",
        &[I32, I32, I64, I64, I64, Ptr, I64, Ptr, I64, Ptr, I64],
        None,
    ),
    ("dl_gemv", &[I32, I64, I64, Ptr, I64, Ptr, Ptr], None),
    ("dl_dot", &[I64, Ptr, Ptr], Some(F64)),
    ("dl_outer", &[I64, I64, Ptr, Ptr, Ptr], None),
    ("dl_transpose", &[I64, I64, Ptr, Ptr], None),
    // Parallel loops.
    ("dl_num_threads", &[], Some(I64)),
    ("dl_set_num_threads", &[I64], None),
    ("dl_parallel_chunks", &[Ptr, Ptr, Ptr, I64], None),
    // Exported entry points.
    ("dl_thread_ctx", &[], Some(Ptr)),
    ("dl_entry_finish", &[Ptr, I32, Ptr, I64], Some(I32)),
    ("dl_last_error", &[], Some(Ptr)),
    ("dl_free", &[Ptr], None),
];

/// The runtime's table of powers of two that inline `exp` reads
/// (`dl_runtime::elementary::EXP_TABLE`).
pub const EXP_TABLE_SYMBOL: &str = "dl_exp_table";

/// The symbol named `name`.
pub fn symbol(name: &str) -> Option<&'static Symbol> {
    SYMBOLS.iter().find(|s| s.0 == name)
}

/// The machine type of an ABI type (`ptr` is the 64-bit target's pointer).
pub fn clif_type(t: AbiTy) -> Type {
    match t {
        AbiTy::I32 => types::I32,
        AbiTy::I64 | AbiTy::Ptr => types::I64,
        AbiTy::F64 => types::F64,
    }
}

/// The Cranelift signature of `symbol` in the calling convention `conv`.
pub fn signature(symbol: &Symbol, conv: CallConv) -> Signature {
    let (_, params, result) = symbol;
    let mut sig = Signature::new(conv);
    sig.params.extend(params.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig.returns.extend(result.iter().map(|t| AbiParam::new(clif_type(*t))));
    sig
}

#[cfg(test)]
mod tests {
    use super::*;
    use dl_runtime::abi::AbiType;

    fn convert(t: AbiType) -> AbiTy {
        match t {
            AbiType::I32 => AbiTy::I32,
            AbiType::I64 => AbiTy::I64,
            AbiType::F64 => AbiTy::F64,
            AbiType::Ptr => AbiTy::Ptr,
        }
    }

    /// Both sides of the ABI list the same symbols, in the same order, with
    /// the same types.
    #[test]
    fn the_symbols_agree_with_the_runtime() {
        let runtime: Vec<(&str, Vec<AbiTy>, Option<AbiTy>)> = dl_runtime::abi::SYMBOLS
            .iter()
            .map(|(name, params, result)| (*name, params.iter().map(|t| convert(*t)).collect(), result.map(convert)))
            .collect();
        let ours: Vec<(&str, Vec<AbiTy>, Option<AbiTy>)> = SYMBOLS
            .iter()
            .map(|(name, params, result)| (*name, params.to_vec(), *result))
            .collect();
        assert_eq!(ours, runtime);
        for (name, ..) in SYMBOLS {
            assert!(dl_runtime::abi::address(name).is_some(), "no address for {name}");
        }
        let data: Vec<&str> = dl_runtime::abi::data_symbols().iter().map(|(name, _)| *name).collect();
        assert_eq!(data, [EXP_TABLE_SYMBOL]);
    }

    /// The functions LIR may call are a part of the ABI, with its types.
    #[test]
    fn lir_calls_are_abi_symbols() {
        for f in crate::lower::abi::RUNTIME_FUNCTIONS {
            let (_, params, result) = symbol(f.name).unwrap_or_else(|| panic!("{} is not in the ABI", f.name));
            assert_eq!((*params, *result), (f.params, f.result), "{}", f.name);
        }
    }
}
