//! The table of primitives.
//!
//! Every primitive operation of the core IR is a variant of [`Prim`]. Its
//! rules live beside it, one file per rule, each an exhaustive `match` with no
//! wildcard arm, so that adding a primitive forces a decision in every rule:
//! - `types.rs`: the core type rule ([`Prim::result_type`]);
//! - `eval.rs`: the reference semantics used by the interpreter;
//! - `jvp.rs`: the forward derivative, the Jacobian-vector product
//!   ([`Prim::jvp`]) that forward mode (`ad::fwd`) applies;
//! - `vjp.rs`: the transposed Jacobian used by reverse mode ([`Prim::vjp`]).
//!
//! Surface syntax reaches primitives through `check`, which also applies
//! element-wise lifting and scalar broadcasting (those become `map`s).

mod eval;
pub mod jvp;
mod types;
pub mod vjp;

pub(crate) use eval::same_sizes;
pub use eval::{PrimError, APPROX_EQ_TOLERANCE};

macro_rules! prims {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// A primitive operation of the core IR.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Prim { $($(#[$doc])* $variant,)* }

        impl Prim {
            pub const ALL: &'static [Prim] = &[$(Prim::$variant,)*];

            /// The name of the primitive in printed core IR.
            pub fn name(self) -> &'static str {
                match self { $(Prim::$variant => $name,)* }
            }

            pub fn from_name(name: &str) -> Option<Prim> {
                match name { $($name => Some(Prim::$variant),)* _ => None }
            }
        }
    };
}

prims! {
    // Scalar arithmetic, on two f64s or two i64s.
    Add = "add",
    Sub = "sub",
    Mul = "mul",
    Div = "div",
    Rem = "rem",
    Pow = "pow",
    Min = "min",
    Max = "max",
    Atan2 = "atan2",
    // Scalar unary, on f64 (and i64 where it makes sense).
    Neg = "neg",
    Abs = "abs",
    Sign = "sign",
    Sqrt = "sqrt",
    Exp = "exp",
    Log = "log",
    Log1p = "log1p",
    Expm1 = "expm1",
    Sin = "sin",
    Cos = "cos",
    Tan = "tan",
    Tanh = "tanh",
    Sigmoid = "sigmoid",
    Floor = "floor",
    Ceil = "ceil",
    Erf = "erf",
    Lgamma = "lgamma",
    /// `polygamma(k, x)`: the `k`-th derivative of the digamma function
    /// (`lgamma'`), for `k >= 0`; introduced by differentiating `lgamma`.
    Polygamma = "polygamma",
    // Conversions.
    ToF64 = "to_f64",
    ToI64 = "to_i64",
    // Comparisons and logic. `eq`/`ne` compare whole values of any type.
    Eq = "eq",
    Ne = "ne",
    Lt = "lt",
    Le = "le",
    Gt = "gt",
    Ge = "ge",
    And = "and",
    Or = "or",
    Not = "not",
    /// Equal within a relative tolerance of 1e-9, element-wise.
    ApproxEq = "approx_eq",
    // Arrays.
    Length = "length",
    Iota = "iota",
    Replicate = "replicate",
    Index = "index",
    Slice = "slice",
    Concat = "concat",
    Reverse = "reverse",
    Flatten = "flatten",
    Unflatten = "unflatten",
    Transpose = "transpose",
    ScatterAdd = "scatter_add",
    Sum = "sum",
    Prod = "prod",
    Maximum = "maximum",
    Minimum = "minimum",
    Argmax = "argmax",
    Argmin = "argmin",
    // Linear algebra.
    Dot = "dot",
    Matmul = "matmul",
    Matvec = "matvec",
    Vecmat = "vecmat",
    Outer = "outer",
    // Differentiation and checks.
    /// The identity, but a constant to every derivative.
    StopGradient = "stop_gradient",
    /// `size_eq(actual, expected)`: a run-time size check; returns `actual`.
    SizeEq = "size_eq",
    /// `check_index(i, n)`: `i`, or a run-time error unless `0 <= i < n`.
    /// Partial evaluation leaves it where it removes an `index`.
    CheckIndex = "check_index",
    /// `check_slice(lo, hi, n)`: `lo`, or an error unless `0 <= lo <= hi <= n`.
    CheckSlice = "check_slice",
    // Tangents and cotangents, introduced by differentiation.
    /// The zero tangent of a value: its type's `tangent()` filled with 0.0.
    ZeroTangent = "zero_tangent",
    /// The sum of two tangents of one type, element-wise.
    AddTangent = "add_tangent",
    /// `index_add(a, i, v)`: `a` with `v` added (as tangents) to `a[i]`.
    IndexAdd = "index_add",
    /// `slice_add(a, i, v)`: `a` with `v[k]` added to `a[i + k]`.
    SliceAdd = "slice_add",
    /// `index_set(a, i, v)`: `a` with `a[i]` replaced by `v`, which must
    /// have the sizes of `a[i]` (the array stays regular). Reverse mode
    /// records loop states with it into an array allocated once.
    IndexSet = "index_set",
}
