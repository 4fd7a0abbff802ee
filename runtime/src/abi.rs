//! The runtime's side of the ABI as data: every symbol generated code may
//! call, with its parameter and result types ([`SYMBOLS`]), and the address
//! of each ([`address`], for the JIT's symbol table). The error kinds are
//! data too: [`crate::error::ERROR_KINDS`].
//!
//! `docs/runtime-abi.md` is the contract. The compiler keeps its own list of
//! the same symbols, and a test compares the two. This list cannot drift
//! from the functions themselves: each entry's types are read off the Rust
//! signature of its function (through [`AbiFn`]), so a function whose
//! parameters change changes its entry.

use std::fmt;

use crate::parallel::Kernel;

/// The machine types of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AbiType {
    I32,
    I64,
    F64,
    /// A machine address.
    Ptr,
}

impl AbiType {
    /// The name the ABI document uses.
    pub fn name(self) -> &'static str {
        match self {
            AbiType::I32 => "i32",
            AbiType::I64 => "i64",
            AbiType::F64 => "f64",
            AbiType::Ptr => "ptr",
        }
    }
}

impl fmt::Display for AbiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A symbol: its name, its parameter types, its result type (`None`: no
/// result).
pub type Symbol = (&'static str, &'static [AbiType], Option<AbiType>);

/// A Rust type that crosses the ABI as a value of one [`AbiType`].
pub trait AbiValue {
    const TYPE: AbiType;
}

impl AbiValue for i32 {
    const TYPE: AbiType = AbiType::I32;
}
impl AbiValue for i64 {
    const TYPE: AbiType = AbiType::I64;
}
impl AbiValue for f64 {
    const TYPE: AbiType = AbiType::F64;
}
impl<T> AbiValue for *const T {
    const TYPE: AbiType = AbiType::Ptr;
}
impl<T> AbiValue for *mut T {
    const TYPE: AbiType = AbiType::Ptr;
}
/// A nullable function pointer is an address.
impl AbiValue for Option<Kernel> {
    const TYPE: AbiType = AbiType::Ptr;
}

/// A result type: a value, or `()` for none.
pub trait AbiResult {
    const RESULT: Option<AbiType>;
}

impl AbiResult for () {
    const RESULT: Option<AbiType> = None;
}
impl<T: AbiValue> AbiResult for T {
    const RESULT: Option<AbiType> = Some(T::TYPE);
}

/// A C function pointer whose types all cross the ABI.
pub trait AbiFn {
    const PARAMS: &'static [AbiType];
    const RESULT: Option<AbiType>;
}

macro_rules! abi_fn_impls {
    ($(($($arg:ident),*)),* $(,)?) => {$(
        impl<$($arg: AbiValue,)* R: AbiResult> AbiFn for unsafe extern "C" fn($($arg),*) -> R {
            const PARAMS: &'static [AbiType] = &[$($arg::TYPE),*];
            const RESULT: Option<AbiType> = R::RESULT;
        }
    )*};
}

abi_fn_impls! {
    (),
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H),
    (A, B, C, D, E, F, G, H, I),
    (A, B, C, D, E, F, G, H, I, J),
    (A, B, C, D, E, F, G, H, I, J, K),
}

/// The entry of a function `f` named `name`.
const fn symbol<F: AbiFn>(name: &'static str, f: F) -> Symbol {
    std::mem::forget(f);
    (name, F::PARAMS, F::RESULT)
}

/// Builds [`SYMBOLS`] and [`address`] from one list of functions, each with
/// one `_` per parameter (the types are inferred from the function).
macro_rules! abi_symbols {
    ($($module:ident :: $name:ident ($($p:tt),*);)*) => {
        /// Every symbol of the ABI, in the order of `docs/runtime-abi.md`.
        pub const SYMBOLS: &[Symbol] = &[
            $(symbol(stringify!($name), crate::$module::$name as unsafe extern "C" fn($($p),*) -> _),)*
        ];

        /// The address of the ABI function `name`, or `None` for a name that
        /// is not in [`SYMBOLS`].
        pub fn address(name: &str) -> Option<*const u8> {
            match name {
                $(stringify!($name) => Some(crate::$module::$name as *const u8),)*
                _ => None,
            }
        }
    };
}

/// Data generated code reads: `(symbol, address)`, in the order of
/// `docs/runtime-abi.md`.
pub fn data_symbols() -> [(&'static str, *const u8); 1] {
    [("dl_exp_table", crate::elementary::EXP_TABLE.as_ptr().cast())]
}

abi_symbols! {
    // Context, memory.
    context::dl_ctx_new();
    context::dl_ctx_free(_);
    context::dl_alloc(_, _);
    context::dl_arena_mark(_);
    context::dl_arena_release(_, _);
    context::dl_arena_reset(_);
    context::dl_result_alloc(_);
    context::dl_result_free(_);
    // Run-time errors.
    context::dl_raise(_, _, _, _, _, _);
    context::dl_has_error(_);
    context::dl_error_loc(_);
    context::dl_error_message(_);
    context::dl_clear_error(_);
    // Scalar mathematics.
    math::dl_exp(_);
    math::dl_log(_);
    math::dl_log1p(_);
    math::dl_expm1(_);
    math::dl_sin(_);
    math::dl_cos(_);
    math::dl_tan(_);
    math::dl_tanh(_);
    math::dl_sigmoid(_);
    math::dl_erf(_);
    math::dl_lgamma(_);
    math::dl_pow(_, _);
    math::dl_atan2(_, _);
    math::dl_fmod(_, _);
    math::dl_polygamma(_, _);
    math::dl_ipow(_, _);
    // Whole-buffer kernels.
    kernels::dl_vexp(_, _, _);
    kernels::dl_vlog(_, _, _);
    kernels::dl_vtanh(_, _, _);
    kernels::dl_vsigmoid(_, _, _);
    kernels::dl_vsin(_, _, _);
    kernels::dl_vcos(_, _, _);
    // Linear algebra.
    blas::dl_gemm(_, _, _, _, _, _, _, _, _, _, _);
    blas::dl_gemv(_, _, _, _, _, _, _);
    blas::dl_dot(_, _, _);
    blas::dl_outer(_, _, _, _, _);
    blas::dl_transpose(_, _, _, _);
    // Parallel loops.
    parallel::dl_num_threads();
    parallel::dl_set_num_threads(_);
    parallel::dl_parallel_chunks(_, _, _, _);
    // Exported entry points.
    c_entry::dl_thread_ctx();
    c_entry::dl_entry_finish(_, _, _, _);
    c_entry::dl_last_error();
    c_entry::dl_free(_);
}

/// The entry of `name` in [`SYMBOLS`].
pub fn lookup(name: &str) -> Option<&'static Symbol> {
    SYMBOLS.iter().find(|s| s.0 == name)
}

/// A symbol's signature as the ABI document writes it:
/// `dl_alloc(ptr, i64) -> ptr`.
pub fn signature(symbol: &Symbol) -> String {
    let (name, params, result) = symbol;
    let params: Vec<&str> = params.iter().map(|t| t.name()).collect();
    match result {
        Some(r) => format!("{name}({}) -> {r}", params.join(", ")),
        None => format!("{name}({})", params.join(", ")),
    }
}
