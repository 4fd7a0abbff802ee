//! The C ABI of exported entry points: how a dl signature becomes a C
//! function's parameters, and the C header that declares them.
//!
//! `def f(x: [n]f64, k: i64) -> ([n]f64, f64)` becomes
//!
//! ```c
//! int32_t f(const double *x, int64_t x_dim0, int64_t k,
//!           double **out_0, int64_t *out_0_dim0, double *out_1);
//! ```
//!
//! - Parameters come in order. A tuple is passed as its fields (named
//!   `p_0`, `p_1`, ...). An array is passed as its buffers, then its sizes:
//!   one buffer per scalar leaf of its element type (arrays of tuples are
//!   passed as tuples of arrays), holding every element row-major, then one
//!   `int64_t` per dimension in the order the type writes them.
//! - The result comes back through out-parameters after the inputs, named
//!   `out` (or `out_0`, `out_1`, ... for the fields of a tuple), with the
//!   same grouping; result buffers are allocated by the runtime and freed
//!   by the caller with `dl_free`.
//! - The return value is 0, or 1 after a run-time error whose message
//!   `dl_last_error()` gives.
//!
//! Every parameter maps to one component of the LIR signature
//! ([`crate::lower::lir::components`]), so the entry wrappers of object
//! files and this header come from the same [`CSignature`].

use crate::core::ir::Type;
use crate::lower::lir::{components, Ty};

/// The C type of one parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CType {
    Scalar(Ty),
    /// A pointer to a buffer of elements of the scalar type.
    Buffer(Ty),
}

/// One parameter of the C function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CParam {
    pub name: String,
    pub ctype: CType,
    /// True for an out-parameter (a pointer to where the value is written).
    pub output: bool,
    /// The index of the component in the LIR inputs (or results, for an
    /// out-parameter).
    pub component: usize,
}

/// The C function of an entry point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSignature {
    pub symbol: String,
    /// The dl signature, for the header's comment.
    pub dl_signature: String,
    pub params: Vec<CParam>,
}

/// The C function that exports the entry point `name` under `symbol`.
pub fn c_signature(symbol: &str, name: &str, params: &[(String, Type)], result: &Type) -> CSignature {
    let mut out = Vec::new();
    let mut component = 0;
    for (param_name, ty) in params {
        group(&sanitize(param_name), ty, false, &mut component, &mut out);
    }
    let mut component = 0;
    group("out", result, true, &mut component, &mut out);
    // A parameter named `out`, or `x_dim0` beside an array `x`, would
    // repeat a name: later ones get a `_`.
    let mut seen = crate::HashSet::default();
    for p in &mut out {
        while !seen.insert(p.name.clone()) {
            p.name.push('_');
        }
    }
    let dl_params: Vec<String> = params.iter().map(|(n, t)| format!("{n}: {t}")).collect();
    CSignature {
        symbol: symbol.to_string(),
        dl_signature: format!("{name}({}) -> {result}", dl_params.join(", ")),
        params: out,
    }
}

/// Appends the C parameters of one value: tuples field by field, an array
/// as its buffers then its sizes.
fn group(name: &str, ty: &Type, output: bool, component: &mut usize, out: &mut Vec<CParam>) {
    match ty {
        Type::Tuple(fields) => {
            for (i, field) in fields.iter().enumerate() {
                group(&format!("{name}_{i}"), field, output, component, out);
            }
        }
        Type::F64 | Type::I64 | Type::Bool => {
            out.push(CParam {
                name: name.to_string(),
                ctype: CType::Scalar(components(ty)[0]),
                output,
                component: *component,
            });
            *component += 1;
        }
        Type::Array(_) => {
            // The array's components interleave sizes and buffers; C wants
            // the buffers first, so sort them into two lists.
            let mut buffers = Vec::new();
            let mut sizes = Vec::new();
            array_parts(name, ty, *component, &mut buffers, &mut sizes);
            *component += components(ty).len();
            for (i, (c, _)) in sizes.iter_mut().enumerate() {
                *c = format!("{name}_dim{i}");
            }
            for (n, (ctype, c)) in buffers {
                out.push(CParam {
                    name: n,
                    ctype,
                    output,
                    component: c,
                });
            }
            for (n, c) in sizes {
                out.push(CParam {
                    name: n,
                    ctype: CType::Scalar(Ty::I64),
                    output,
                    component: c,
                });
            }
        }
    }
}

type Named<T> = (String, T);

/// The buffers (named by their path in the element type) and the sizes of
/// an array value whose first component is `first`.
fn array_parts(
    name: &str,
    ty: &Type,
    first: usize,
    buffers: &mut Vec<Named<(CType, usize)>>,
    sizes: &mut Vec<Named<usize>>,
) {
    fn walk(
        path: &str,
        ty: &Type,
        next: &mut usize,
        buffers: &mut Vec<Named<(CType, usize)>>,
        sizes: &mut Vec<Named<usize>>,
    ) {
        match ty {
            Type::F64 | Type::I64 | Type::Bool => {
                let scalar = components(ty)[0];
                buffers.push((path.to_string(), (CType::Buffer(scalar), *next)));
                *next += 1;
            }
            Type::Tuple(fields) => {
                for (i, field) in fields.iter().enumerate() {
                    walk(&format!("{path}_{i}"), field, next, buffers, sizes);
                }
            }
            Type::Array(elem) => {
                sizes.push((String::new(), *next));
                *next += 1;
                walk(path, elem, next, buffers, sizes);
            }
        }
    }
    let mut next = first;
    walk(name, ty, &mut next, buffers, sizes);
}

/// A C identifier for a dl name (dl names are already identifiers; `'`
/// and other marks become `_`, and a C keyword gets a `_`).
fn sanitize(name: &str) -> String {
    let mut name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if C_KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// Words C reserves, which no C name may be.
pub const C_KEYWORDS: &[&str] = &[
    "auto", "bool", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "false", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "true", "typedef", "union", "unsigned", "void", "volatile",
    "while",
];

fn c_type(param: &CParam) -> String {
    let scalar = |t: Ty| match t {
        Ty::F64 => "double",
        Ty::I64 => "int64_t",
        Ty::Bool => "bool",
        Ty::Ptr => "void *",
    };
    match (param.ctype, param.output) {
        (CType::Scalar(t), false) => scalar(t).to_string(),
        (CType::Scalar(t), true) => format!("{} *", scalar(t)),
        (CType::Buffer(t), false) => format!("const {} *", scalar(t)),
        (CType::Buffer(t), true) => format!("{} **", scalar(t)),
    }
}

/// The declaration of one entry point.
pub fn declaration(sig: &CSignature) -> String {
    let params: Vec<String> = sig
        .params
        .iter()
        .map(|p| {
            let ty = c_type(p);
            let sep = if ty.ends_with('*') { "" } else { " " };
            format!("{ty}{sep}{}", p.name)
        })
        .collect();
    let params = if params.is_empty() {
        "void".to_string()
    } else {
        params.join(", ")
    };
    format!("/* {} */\nint32_t {}({params});\n", sig.dl_signature, sig.symbol)
}

/// The C header of an object file exporting `entries`, guarded by
/// `guard`.
pub fn header(guard: &str, entries: &[CSignature]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "/* Generated by dl: entry points of a compiled dl program. */\n#ifndef {guard}\n#define {guard}\n\n"
    ));
    out.push_str(PREAMBLE);
    for sig in entries {
        out.push('\n');
        out.push_str(&declaration(sig));
    }
    out.push_str("\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
    out
}

/// The runtime's part of the C ABI, declared in every header.
const PREAMBLE: &str = r#"#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Calling convention
 * - Arrays are passed as their buffers, then their sizes: one buffer per
 *   scalar leaf of the element type (an array of tuples is passed as a
 *   tuple of arrays), all elements row-major, then one int64_t per
 *   dimension. Tuples are passed field by field. Inputs are only read; an
 *   empty array's buffer may be NULL.
 * - Sizes the dl signature names alike (the comment above each function)
 *   must be equal, and no size may be negative: both are checked, as
 *   run-time errors.
 * - Results come back through the out-parameters after the inputs; result
 *   buffers are allocated by the runtime and freed by the caller with
 *   dl_free().
 * - Entry points return 0, or 1 after a run-time error (index out of
 *   bounds, size mismatch, ...): dl_last_error() then gives its message
 *   with its source location, and no out-parameter was written.
 * - Entry points are thread-safe: each thread gets its own memory arena
 *   and error message; a call frees its temporaries when it returns.
 *   Large loops and matrix products run on a shared thread pool whose
 *   size dl_set_num_threads() sets before the first call (default: the
 *   DL_NUM_THREADS environment variable, else every core).
 */

/* The message of the calling thread's last run-time error (NUL-terminated,
 * valid until its next call of an entry point), or NULL. */
const char *dl_last_error(void);

/* Frees a result buffer returned through an out-parameter (NULL is fine). */
void dl_free(void *buffer);

/* Sets the number of threads of the pool, before the first call. */
void dl_set_num_threads(int64_t threads);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(params: &[(&str, Type)], result: Type) -> CSignature {
        let params: Vec<(String, Type)> = params.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
        c_signature("f", "f", &params, &result)
    }

    #[test]
    fn arrays_pass_buffers_then_sizes() {
        let s = sig(
            &[("x", Type::array(Type::array(Type::F64))), ("k", Type::I64)],
            Type::Tuple(vec![Type::array(Type::F64), Type::F64]),
        );
        assert_eq!(
            declaration(&s),
            "/* f(x: [][]f64, k: i64) -> ([]f64, f64) */\nint32_t f(const double *x, int64_t x_dim0, int64_t x_dim1, \
             int64_t k, double **out_0, int64_t *out_0_dim0, double *out_1);\n"
        );
        // x's components are (dim0, dim1, buffer): the buffer is component 2.
        let components: Vec<(&str, usize)> = s.params.iter().map(|p| (p.name.as_str(), p.component)).collect();
        assert_eq!(
            components,
            [
                ("x", 2),
                ("x_dim0", 0),
                ("x_dim1", 1),
                ("k", 3),
                ("out_0", 1),
                ("out_0_dim0", 0),
                ("out_1", 2)
            ]
        );
    }

    #[test]
    fn arrays_of_tuples_pass_one_buffer_per_field() {
        let s = sig(
            &[("p", Type::array(Type::Tuple(vec![Type::F64, Type::array(Type::Bool)])))],
            Type::F64,
        );
        let names: Vec<(&str, usize)> = s.params.iter().map(|p| (p.name.as_str(), p.component)).collect();
        assert_eq!(
            names,
            [("p_0", 1), ("p_1", 3), ("p_dim0", 0), ("p_dim1", 2), ("out", 0)]
        );
        assert!(declaration(&s).contains("const double *p_0, const bool *p_1, int64_t p_dim0, int64_t p_dim1"));
    }

    #[test]
    fn names_are_unique_c_identifiers() {
        let s = sig(
            &[
                ("out", Type::F64),
                ("int", Type::array(Type::F64)),
                ("int_dim0", Type::I64),
            ],
            Type::F64,
        );
        let names: Vec<&str> = s.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["out", "int_", "int__dim0", "int_dim0", "out_"]);
    }

    #[test]
    fn every_component_has_exactly_one_parameter() {
        let ty = Type::Tuple(vec![
            Type::array(Type::Tuple(vec![Type::array(Type::I64), Type::F64])),
            Type::Bool,
            Type::unit(),
        ]);
        let s = sig(&[("a", ty.clone())], ty.clone());
        for output in [false, true] {
            let mut seen: Vec<usize> = s
                .params
                .iter()
                .filter(|p| p.output == output)
                .map(|p| p.component)
                .collect();
            seen.sort();
            assert_eq!(seen, (0..components(&ty).len()).collect::<Vec<_>>());
        }
    }
}
