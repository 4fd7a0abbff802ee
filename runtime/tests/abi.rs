//! The ABI list against the contract in `docs/runtime-abi.md`, and an
//! address for every symbol.

use dl_runtime::abi::{self, AbiType, SYMBOLS};
use std::collections::HashSet;

/// The signatures exactly as the contract writes them, in its order.
const CONTRACT: &[&str] = &[
    "dl_ctx_new() -> ptr",
    "dl_ctx_free(ptr)",
    "dl_alloc(ptr, i64) -> ptr",
    "dl_arena_mark(ptr) -> i64",
    "dl_arena_release(ptr, i64)",
    "dl_arena_reset(ptr)",
    "dl_result_alloc(i64) -> ptr",
    "dl_result_free(ptr)",
    "dl_raise(ptr, i32, i32, i64, i64, i64)",
    "dl_has_error(ptr) -> i32",
    "dl_error_loc(ptr) -> i32",
    "dl_error_message(ptr) -> ptr",
    "dl_clear_error(ptr)",
    "dl_exp(f64) -> f64",
    "dl_log(f64) -> f64",
    "dl_log1p(f64) -> f64",
    "dl_expm1(f64) -> f64",
    "dl_sin(f64) -> f64",
    "dl_cos(f64) -> f64",
    "dl_tan(f64) -> f64",
    "dl_tanh(f64) -> f64",
    "dl_sigmoid(f64) -> f64",
    "dl_erf(f64) -> f64",
    "dl_lgamma(f64) -> f64",
    "dl_pow(f64, f64) -> f64",
    "dl_atan2(f64, f64) -> f64",
    "dl_fmod(f64, f64) -> f64",
    "dl_polygamma(i64, f64) -> f64",
    "dl_ipow(i64, i64) -> i64",
    "dl_vexp(i64, ptr, ptr)",
    "dl_vlog(i64, ptr, ptr)",
    "dl_vtanh(i64, ptr, ptr)",
    "dl_vsigmoid(i64, ptr, ptr)",
    "dl_vsin(i64, ptr, ptr)",
    "dl_vcos(i64, ptr, ptr)",
    "dl_gemm(i32, i32, i64, i64, i64, ptr, i64, ptr, i64, ptr, i64)",
    "dl_gemv(i32, i64, i64, ptr, i64, ptr, ptr)",
    "dl_dot(i64, ptr, ptr) -> f64",
    "dl_outer(i64, i64, ptr, ptr, ptr)",
    "dl_transpose(i64, i64, ptr, ptr)",
    "dl_num_threads() -> i64",
    "dl_set_num_threads(i64)",
    "dl_parallel_chunks(ptr, ptr, ptr, i64)",
    "dl_thread_ctx() -> ptr",
    "dl_entry_finish(ptr, i32, ptr, i64) -> i32",
    "dl_last_error() -> ptr",
    "dl_free(ptr)",
];

#[test]
fn the_list_is_the_contract() {
    let ours: Vec<String> = SYMBOLS.iter().map(abi::signature).collect();
    assert_eq!(ours, CONTRACT);
}

#[test]
fn names_are_unique() {
    let names: HashSet<&str> = SYMBOLS.iter().map(|s| s.0).collect();
    assert_eq!(names.len(), SYMBOLS.len());
}

#[test]
fn every_symbol_has_an_address() {
    let mut seen = HashSet::new();
    for (name, _, _) in SYMBOLS {
        let p = abi::address(name).unwrap_or_else(|| panic!("{name} has no address"));
        assert!(!p.is_null(), "{name}");
        assert!(seen.insert(p as usize), "{name} shares its address");
    }
    assert!(abi::address("dl_no_such_symbol").is_none());
}

#[test]
fn the_contract_document_names_every_symbol() {
    let doc = include_str!("../../docs/runtime-abi.md");
    for (name, _, _) in SYMBOLS {
        let named = doc.contains(&format!("`{name}`")) || doc.contains(&format!("`{name}("));
        assert!(named, "{name} is not in the contract");
    }
}

#[test]
fn addresses_call_the_functions() {
    let exp = abi::address("dl_exp").unwrap();
    // SAFETY: `dl_exp` is `extern "C" fn(f64) -> f64`, as its entry says.
    let exp: extern "C" fn(f64) -> f64 = unsafe { std::mem::transmute(exp) };
    assert_eq!(exp(1.0), dl_runtime::math::exp(1.0));
    assert_eq!(abi::lookup("dl_dot").unwrap().2, Some(AbiType::F64));
}
