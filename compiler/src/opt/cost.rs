//! The cost model: what running a function costs, counted by the reference
//! interpreter as it runs (sizes are run-time values, so the cost of a
//! function is the cost of a call with given arguments).
//!
//! A cost is a vector:
//! - `flops`: arithmetic operations. A scalar primitive (arithmetic,
//!   comparison, logic, conversion) counts 1, a transcendental one
//!   ([`TRANSCENDENTAL_FLOPS`]: `exp`, `log`, `sin`, `pow`, ..) more;
//!   reductions count one per element, `dot` of length n 2n, a matrix
//!   product (n x k)(k x m) 2nkm, `outer` nm, tangent additions one per f64.
//! - `memory`: elements read and written by array primitives and
//!   combinators. An element is a scalar; a nested array counts its own
//!   scalars where a primitive copies it, and nothing where a combinator
//!   only passes it on (a row given to a `map` body is a view).
//!   `index_add` and `slice_add` are counted as in-place updates (read and
//!   write the updated elements, read the addend), as lowering makes them
//!   when the accumulator is not used again; `index_set` likewise (read
//!   the value, write the element).
//! - `allocations`: elements of the arrays created.
//! - `total` = `FLOP_WEIGHT * flops + MEMORY_WEIGHT * memory +
//!   ALLOCATION_WEIGHT * allocations`: the scalar the optimiser's rules
//!   never increase.
//!
//! A conditional counts one flop for its test. Tuples, projections,
//! copies, loops and calls cost nothing of themselves: only the work inside
//! them counts.

use crate::core::interp::{Interpreter, RunError};
use crate::core::ir::Program;
use crate::core::value::Value;
use crate::prim::Prim;
use std::fmt;
use std::ops::{Add, AddAssign};

/// What one transcendental primitive counts as, in flops.
pub const TRANSCENDENTAL_FLOPS: u64 = 10;
pub const FLOP_WEIGHT: u64 = 1;
pub const MEMORY_WEIGHT: u64 = 1;
pub const ALLOCATION_WEIGHT: u64 = 2;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cost {
    pub flops: u64,
    pub memory: u64,
    pub allocations: u64,
}

impl Cost {
    pub fn new(flops: u64, memory: u64, allocations: u64) -> Cost {
        Cost {
            flops,
            memory,
            allocations,
        }
    }

    /// The weighted sum of the components.
    pub fn total(&self) -> u64 {
        FLOP_WEIGHT * self.flops + MEMORY_WEIGHT * self.memory + ALLOCATION_WEIGHT * self.allocations
    }

    /// Counts a primitive applied to `args` that gave `result`.
    pub fn prim(&mut self, p: Prim, args: &[Value], result: &Value) {
        self.flops += prim_flops(p, args, result);
        let reads: u64 = args.iter().filter(|a| holds_array(a)).map(deep).sum();
        let fresh = if holds_array(result) { deep(result) } else { 0 };
        let (read, write, alloc) = match p {
            Prim::Index => (top(result), 0, 0),
            Prim::Length | Prim::StopGradient | Prim::SizeEq | Prim::CheckIndex | Prim::CheckSlice => (0, 0, 0),
            // The element is placed as a `build` places one: its nested
            // arrays count as views.
            Prim::IndexSet => {
                let v = args.get(2).map(top).unwrap_or(0);
                (v, v, 0)
            }
            Prim::IndexAdd | Prim::SliceAdd => {
                let v = args.get(2).map(deep).unwrap_or(0);
                (2 * v, v, 0)
            }
            Prim::ZeroTangent | Prim::Iota | Prim::Replicate => (0, fresh, fresh),
            Prim::Add
            | Prim::Sub
            | Prim::Mul
            | Prim::Div
            | Prim::Rem
            | Prim::Pow
            | Prim::Min
            | Prim::Max
            | Prim::Atan2
            | Prim::Neg
            | Prim::Abs
            | Prim::Sign
            | Prim::Sqrt
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
            | Prim::Lgamma
            | Prim::Polygamma
            | Prim::ToF64
            | Prim::ToI64
            | Prim::Eq
            | Prim::Ne
            | Prim::Lt
            | Prim::Le
            | Prim::Gt
            | Prim::Ge
            | Prim::And
            | Prim::Or
            | Prim::Not
            | Prim::ApproxEq
            | Prim::Slice
            | Prim::Concat
            | Prim::Reverse
            | Prim::Flatten
            | Prim::Unflatten
            | Prim::Transpose
            | Prim::ScatterAdd
            | Prim::Sum
            | Prim::Prod
            | Prim::Maximum
            | Prim::Minimum
            | Prim::Argmax
            | Prim::Argmin
            | Prim::Dot
            | Prim::Matmul
            | Prim::Matvec
            | Prim::Vecmat
            | Prim::Outer
            | Prim::AddTangent => (reads, fresh, fresh),
        };
        self.memory += read + write;
        self.allocations += alloc;
    }

    /// Counts a conditional: its test is one flop.
    pub fn branch(&mut self) {
        self.flops += 1;
    }

    /// Counts a `map` over `inputs` that gave `out`.
    pub fn map(&mut self, inputs: &[std::rc::Rc<Vec<Value>>], out: &[Value]) {
        let read: u64 = inputs.iter().map(|a| a.iter().map(top).sum::<u64>()).sum();
        self.read_write(read, out);
    }

    /// Counts a `build` (or an array literal) that gave `out`.
    pub fn build(&mut self, out: &[Value]) {
        self.read_write(0, out);
    }

    /// Counts a `reduce` over `input`.
    pub fn reduce(&mut self, input: &[Value]) {
        self.memory += input.iter().map(top).sum::<u64>();
    }

    /// Counts a `scan` over `input` that gave `out`.
    pub fn scan(&mut self, input: &[Value], out: &[Value]) {
        let read: u64 = input.iter().map(top).sum();
        self.read_write(read, out);
    }

    fn read_write(&mut self, read: u64, out: &[Value]) {
        let written: u64 = out.iter().map(top).sum();
        self.memory += read + written;
        self.allocations += written;
    }
}

/// Calls `func` of `program` with `args`, counting what it costs.
pub fn run_with_cost(program: &Program, func: &str, args: Vec<Value>) -> Result<(Value, Cost), RunError> {
    let interp = Interpreter::with_cost(program);
    let value = interp.call(func, args)?;
    Ok((value, interp.cost().unwrap_or_default()))
}

fn holds_array(v: &Value) -> bool {
    match v {
        Value::Array(_) => true,
        Value::Tuple(fs) => fs.iter().any(holds_array),
        Value::F64(_) | Value::I64(_) | Value::Bool(_) => false,
    }
}

/// The scalars in a value, nested arrays included.
fn deep(v: &Value) -> u64 {
    match v {
        Value::F64(_) | Value::I64(_) | Value::Bool(_) => 1,
        Value::Array(items) => items.iter().map(deep).sum(),
        Value::Tuple(fs) => fs.iter().map(deep).sum(),
    }
}

/// The scalars of an element outside the arrays nested in it (views).
fn top(v: &Value) -> u64 {
    match v {
        Value::F64(_) | Value::I64(_) | Value::Bool(_) => 1,
        Value::Array(_) => 0,
        Value::Tuple(fs) => fs.iter().map(top).sum(),
    }
}

fn len(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_array).map_or(0, |a| a.len() as u64)
}

/// The length of the rows of a matrix (0 for no rows).
fn cols(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_array)
        .and_then(|rows| rows.first())
        .map_or(0, |r| len(Some(r)))
}

/// True when the cost model counts `p` as a transcendental primitive:
/// computing it again costs far more than reading it.
pub fn transcendental(p: Prim) -> bool {
    // Their count depends on nothing but the primitive.
    prim_flops(p, &[], &Value::F64(0.0)) == TRANSCENDENTAL_FLOPS
}

fn prim_flops(p: Prim, args: &[Value], result: &Value) -> u64 {
    let (a, b) = (args.first(), args.get(1));
    match p {
        Prim::Add
        | Prim::Sub
        | Prim::Mul
        | Prim::Div
        | Prim::Rem
        | Prim::Min
        | Prim::Max
        | Prim::Neg
        | Prim::Abs
        | Prim::Sign
        | Prim::Sqrt
        | Prim::Floor
        | Prim::Ceil
        | Prim::ToF64
        | Prim::ToI64
        | Prim::Lt
        | Prim::Le
        | Prim::Gt
        | Prim::Ge
        | Prim::And
        | Prim::Or
        | Prim::Not
        | Prim::SizeEq
        | Prim::CheckIndex
        | Prim::CheckSlice => 1,
        Prim::Pow
        | Prim::Atan2
        | Prim::Exp
        | Prim::Log
        | Prim::Log1p
        | Prim::Expm1
        | Prim::Sin
        | Prim::Cos
        | Prim::Tan
        | Prim::Tanh
        | Prim::Sigmoid
        | Prim::Erf
        | Prim::Lgamma
        | Prim::Polygamma => TRANSCENDENTAL_FLOPS,
        Prim::Eq | Prim::Ne | Prim::ApproxEq => a.map_or(1, deep),
        Prim::Sum | Prim::Prod | Prim::Maximum | Prim::Minimum | Prim::Argmax | Prim::Argmin => len(a),
        Prim::Dot => 2 * len(a),
        Prim::Matmul => 2 * len(a) * cols(a) * cols(b),
        Prim::Matvec => 2 * len(a) * cols(a),
        Prim::Vecmat => 2 * len(b) * cols(b),
        Prim::Outer => len(a) * len(b),
        Prim::AddTangent => deep(result),
        Prim::IndexAdd | Prim::SliceAdd => args.get(2).map_or(0, deep),
        Prim::ScatterAdd => len(args.get(2)),
        Prim::Length
        | Prim::IndexSet
        | Prim::Iota
        | Prim::Replicate
        | Prim::Index
        | Prim::Slice
        | Prim::Concat
        | Prim::Reverse
        | Prim::Flatten
        | Prim::Unflatten
        | Prim::Transpose
        | Prim::StopGradient
        | Prim::ZeroTangent => 0,
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost::new(
            self.flops + o.flops,
            self.memory + o.memory,
            self.allocations + o.allocations,
        )
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

/// A table: one row per component, then the weighted total.
impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<12} {:>12}", "flops", self.flops)?;
        writeln!(f, "{:<12} {:>12}", "memory", self.memory)?;
        writeln!(f, "{:<12} {:>12}", "allocations", self.allocations)?;
        write!(f, "{:<12} {:>12}", "total", self.total())
    }
}
