//! An evaluator of LIR with simulated memory, to test the lowering against
//! the core interpreter before (and besides) native code. Entry point:
//! [`eval`].
//!
//! Memory is a list of byte buffers; a pointer is a buffer number and a
//! byte offset. The evaluator is strict where native code would be silently
//! wrong: reading or writing outside a buffer, reading bytes never written,
//! using memory after `ArenaRelease` freed it, writing into a parameter's
//! buffer, and results that are not whole `dl_result_alloc` buffers are all
//! errors ([`EvalError::Bug`]). Runtime functions compute what the runtime
//! does, with the interpreter's arithmetic (`prim::eval`), in the
//! interpreter's order.

use super::abi::runtime_fn;
use super::failure;
use super::lir::{BinOp, Expr, Func, Inst, Operand, Ty, UnOp, Var};
use super::marshal::{from_components, layout, to_components, Buffer, Component, Slot};
use crate::core::value::Value;
use crate::diagnostics::Span;
use crate::prim::Prim;
use std::fmt;

/// How an evaluation failed.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalError {
    /// A run-time error of the program, as the runtime would report it.
    Failure {
        kind: u32,
        message: String,
        span: Option<Span>,
    },
    /// Something generated code must never do, or malformed LIR.
    Bug(String),
}

/// The evaluator's largest buffer: 2^40 bytes. A larger allocation fails
/// with "out of memory", as the runtime's does when the system refuses it
/// (or its size saturated), instead of aborting the evaluator.
const MAX_BUFFER_BYTES: i64 = 1 << 40;

/// `bytes` as a buffer size, or the out-of-memory failure.
fn allocatable(bytes: i64) -> R<usize> {
    match usize::try_from(bytes) {
        Ok(b) if bytes <= MAX_BUFFER_BYTES => Ok(b),
        _ => Err(EvalError::Failure {
            kind: failure::OUT_OF_MEMORY,
            message: failure::message(failure::OUT_OF_MEMORY, &[bytes]),
            span: None,
        }),
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Failure { message, .. } => f.write_str(message),
            EvalError::Bug(m) => write!(f, "bug: {m}"),
        }
    }
}

impl std::error::Error for EvalError {}

type R<T> = Result<T, EvalError>;

fn bug<T>(message: impl Into<String>) -> R<T> {
    Err(EvalError::Bug(message.into()))
}

/// Statistics of one evaluation, for tests of memory behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The most arena bytes live at once.
    pub peak_arena_bytes: usize,
    /// Arena bytes allocated in all.
    pub arena_bytes: usize,
}

/// Runs `func` on `args` (one value per core parameter).
pub fn eval(func: &Func, args: &[Value]) -> R<Value> {
    eval_with_stats(func, args).map(|(v, _)| v)
}

/// [`eval`], with the memory statistics of the run.
pub fn eval_with_stats(func: &Func, args: &[Value]) -> R<(Value, Stats)> {
    if args.len() != func.param_types.len() {
        return bug(format!(
            "{} arguments for {} parameters",
            args.len(),
            func.param_types.len()
        ));
    }
    let mut m = Machine {
        func,
        vars: vec![None; func.vars.len()],
        buffers: Vec::new(),
        arena: Vec::new(),
        arena_live: 0,
        stats: Stats::default(),
    };
    let mut params = func.params.iter();
    for (arg, ty) in args.iter().zip(&func.param_types) {
        let comps = to_components(arg, ty).map_err(|e| EvalError::Bug(e.0))?;
        for c in comps {
            let var = *params
                .next()
                .ok_or_else(|| EvalError::Bug("too few parameters".into()))?;
            let v = match c {
                Component::F64(x) => V::F64(x),
                Component::I64(n) => V::I64(n),
                Component::Bool(b) => V::Bool(b),
                Component::Buffer(b) => V::Ptr(m.param_buffer(&b)),
            };
            m.vars[var.0 as usize] = Some(v);
        }
    }
    m.block(&func.body)?;
    let results: Vec<V> = func.results.iter().map(|o| m.operand(*o)).collect::<R<_>>()?;
    let value = m.read_result(&results)?;
    Ok((value, m.stats))
}

/// A run-time value of a variable.
#[derive(Clone, Copy, Debug, PartialEq)]
enum V {
    F64(f64),
    I64(i64),
    Bool(bool),
    Ptr(Ptr),
}

/// A pointer: a buffer and a byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ptr {
    buffer: usize,
    offset: i64,
}

#[derive(PartialEq)]
enum Kind {
    Param,
    Arena,
    Result,
}

struct Mem {
    bytes: Vec<u8>,
    written: Vec<bool>,
    live: bool,
    kind: Kind,
    /// Results: handed out already.
    returned: bool,
}

struct Machine<'f> {
    func: &'f Func,
    vars: Vec<Option<V>>,
    buffers: Vec<Mem>,
    /// Arena buffers, in allocation order.
    arena: Vec<usize>,
    arena_live: usize,
    stats: Stats,
}

/// Control flow out of a block: only errors.
impl Machine<'_> {
    fn new_buffer(&mut self, bytes: usize, kind: Kind) -> Ptr {
        self.buffers.push(Mem {
            bytes: vec![0; bytes],
            written: vec![false; bytes],
            live: true,
            kind,
            returned: false,
        });
        Ptr {
            buffer: self.buffers.len() - 1,
            offset: 0,
        }
    }

    fn param_buffer(&mut self, b: &Buffer) -> Ptr {
        let bytes: Vec<u8> = match b {
            Buffer::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Buffer::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Buffer::Bool(v) => v.iter().map(|x| u8::from(*x)).collect(),
        };
        let p = self.new_buffer(bytes.len(), Kind::Param);
        let mem = &mut self.buffers[p.buffer];
        mem.bytes = bytes;
        mem.written = vec![true; mem.bytes.len()];
        p
    }

    fn operand(&self, o: Operand) -> R<V> {
        match o {
            Operand::Var(v) => match self.vars.get(v.0 as usize) {
                Some(Some(x)) => Ok(*x),
                _ => bug(format!("{} read before it is set", self.name(v))),
            },
            Operand::F64(x) => Ok(V::F64(x)),
            Operand::I64(n) => Ok(V::I64(n)),
            Operand::Bool(b) => Ok(V::Bool(b)),
        }
    }

    fn name(&self, v: Var) -> String {
        match self.func.vars.get(v.0 as usize) {
            Some(info) => format!("{}.{}", info.name, v.0),
            None => format!("v.{}", v.0),
        }
    }

    fn f64(&self, o: Operand) -> R<f64> {
        match self.operand(o)? {
            V::F64(x) => Ok(x),
            v => bug(format!("an f64 expected, got {v:?}")),
        }
    }

    fn i64(&self, o: Operand) -> R<i64> {
        match self.operand(o)? {
            V::I64(x) => Ok(x),
            v => bug(format!("an i64 expected, got {v:?}")),
        }
    }

    fn bool(&self, o: Operand) -> R<bool> {
        match self.operand(o)? {
            V::Bool(x) => Ok(x),
            v => bug(format!("a bool expected, got {v:?}")),
        }
    }

    fn ptr(&self, o: Operand) -> R<Ptr> {
        match self.operand(o)? {
            V::Ptr(p) => Ok(p),
            v => bug(format!("a pointer expected, got {v:?}")),
        }
    }

    fn set(&mut self, var: Var, v: V) {
        self.vars[var.0 as usize] = Some(v);
    }

    /// The byte range of `count` elements of type `ty` at `p` moved by
    /// `index` elements, checked against the buffer.
    fn range(&self, p: Ptr, ty: Ty, index: i64, count: i64) -> R<(usize, usize)> {
        let mem = &self.buffers[p.buffer];
        if !mem.live {
            return bug("access to memory released from the arena");
        }
        let size = ty.size();
        let start = index
            .checked_mul(size)
            .and_then(|b| b.checked_add(p.offset))
            .ok_or_else(|| EvalError::Bug("address overflow".into()))?;
        let len = count
            .checked_mul(size)
            .ok_or_else(|| EvalError::Bug("size overflow".into()))?;
        if start < 0 || len < 0 || start + len > mem.bytes.len() as i64 {
            return bug(format!(
                "access to bytes {start}..{} of a buffer of {} bytes",
                start + len,
                mem.bytes.len()
            ));
        }
        Ok((start as usize, (start + len) as usize))
    }

    fn read(&self, p: Ptr, ty: Ty, index: i64) -> R<V> {
        let (a, b) = self.range(p, ty, index, 1)?;
        let mem = &self.buffers[p.buffer];
        if mem.written[a..b].iter().any(|w| !w) {
            return bug("read of memory never written");
        }
        let bytes = &mem.bytes[a..b];
        Ok(match ty {
            Ty::F64 => V::F64(f64::from_le_bytes(bytes.try_into().expect("8 bytes"))),
            Ty::I64 => V::I64(i64::from_le_bytes(bytes.try_into().expect("8 bytes"))),
            Ty::Bool => V::Bool(bytes[0] != 0),
            Ty::Ptr => return bug("a load of a pointer"),
        })
    }

    fn write(&mut self, p: Ptr, ty: Ty, index: i64, v: V) -> R<()> {
        let (a, b) = self.range(p, ty, index, 1)?;
        let bytes: Vec<u8> = match (ty, v) {
            (Ty::F64, V::F64(x)) => x.to_le_bytes().to_vec(),
            (Ty::I64, V::I64(x)) => x.to_le_bytes().to_vec(),
            (Ty::Bool, V::Bool(x)) => vec![u8::from(x)],
            _ => return bug(format!("a store of {v:?} as {ty}")),
        };
        let mem = &mut self.buffers[p.buffer];
        if mem.kind == Kind::Param {
            return bug("a write into a parameter's buffer");
        }
        mem.bytes[a..b].copy_from_slice(&bytes);
        mem.written[a..b].iter_mut().for_each(|w| *w = true);
        Ok(())
    }

    fn read_f64s(&self, p: Ptr, n: i64) -> R<Vec<f64>> {
        (0..n)
            .map(|k| match self.read(p, Ty::F64, k)? {
                V::F64(x) => Ok(x),
                _ => bug("not an f64"),
            })
            .collect()
    }

    fn write_f64s(&mut self, p: Ptr, xs: &[f64]) -> R<()> {
        for (k, x) in xs.iter().enumerate() {
            self.write(p, Ty::F64, k as i64, V::F64(*x))?;
        }
        Ok(())
    }

    fn binary(&self, op: BinOp, a: Operand, b: Operand) -> R<V> {
        use BinOp::*;
        let f = |op: Prim| -> R<V> {
            match op.eval(&[Value::F64(self.f64(a)?), Value::F64(self.f64(b)?)]) {
                Ok(Value::F64(x)) => Ok(V::F64(x)),
                other => bug(format!("{op:?}: {other:?}")),
            }
        };
        Ok(match op {
            FAdd => V::F64(self.f64(a)? + self.f64(b)?),
            FSub => V::F64(self.f64(a)? - self.f64(b)?),
            FMul => V::F64(self.f64(a)? * self.f64(b)?),
            FDiv => V::F64(self.f64(a)? / self.f64(b)?),
            FMin => f(Prim::Min)?,
            FMax => f(Prim::Max)?,
            IAdd => V::I64(self.i64(a)?.wrapping_add(self.i64(b)?)),
            ISub => V::I64(self.i64(a)?.wrapping_sub(self.i64(b)?)),
            IMul => V::I64(self.i64(a)?.wrapping_mul(self.i64(b)?)),
            SizeMul => V::I64(super::lir::size_mul(self.i64(a)?, self.i64(b)?)),
            IDiv | IRem => {
                let (x, y) = (self.i64(a)?, self.i64(b)?);
                if y == 0 {
                    return bug("an integer division by zero the lowering did not check");
                }
                V::I64(if op == IDiv {
                    x.wrapping_div(y)
                } else {
                    x.wrapping_rem(y)
                })
            }
            IMin => V::I64(self.i64(a)?.min(self.i64(b)?)),
            IMax => V::I64(self.i64(a)?.max(self.i64(b)?)),
            FEq => V::Bool(self.f64(a)? == self.f64(b)?),
            FNe => V::Bool(self.f64(a)? != self.f64(b)?),
            FLt => V::Bool(self.f64(a)? < self.f64(b)?),
            FLe => V::Bool(self.f64(a)? <= self.f64(b)?),
            FGt => V::Bool(self.f64(a)? > self.f64(b)?),
            FGe => V::Bool(self.f64(a)? >= self.f64(b)?),
            IEq => V::Bool(self.i64(a)? == self.i64(b)?),
            INe => V::Bool(self.i64(a)? != self.i64(b)?),
            ILt => V::Bool(self.i64(a)? < self.i64(b)?),
            ILe => V::Bool(self.i64(a)? <= self.i64(b)?),
            IGt => V::Bool(self.i64(a)? > self.i64(b)?),
            IGe => V::Bool(self.i64(a)? >= self.i64(b)?),
            And => V::Bool(self.bool(a)? && self.bool(b)?),
            Or => V::Bool(self.bool(a)? || self.bool(b)?),
            BEq => V::Bool(self.bool(a)? == self.bool(b)?),
            BNe => V::Bool(self.bool(a)? != self.bool(b)?),
        })
    }

    fn unary(&self, op: UnOp, a: Operand) -> R<V> {
        use UnOp::*;
        let f = |p: Prim| -> R<V> {
            match p.eval(&[Value::F64(self.f64(a)?)]) {
                Ok(Value::F64(x)) => Ok(V::F64(x)),
                other => bug(format!("{p:?}: {other:?}")),
            }
        };
        Ok(match op {
            FNeg => V::F64(-self.f64(a)?),
            FAbs => V::F64(self.f64(a)?.abs()),
            FSqrt => V::F64(self.f64(a)?.sqrt()),
            FFloor => V::F64(self.f64(a)?.floor()),
            FCeil => V::F64(self.f64(a)?.ceil()),
            FSign => f(Prim::Sign)?,
            INeg => V::I64(self.i64(a)?.wrapping_neg()),
            IAbs => V::I64(self.i64(a)?.wrapping_abs()),
            ISign => V::I64(self.i64(a)?.signum()),
            Not => V::Bool(!self.bool(a)?),
            IToF => V::F64(self.i64(a)? as f64),
            FToI => {
                let x = self.f64(a)?;
                if x.is_nan() || !(-TWO_63..TWO_63).contains(&x) {
                    return bug(format!("ftoi of {x}, which the lowering did not check"));
                }
                V::I64(x as i64)
            }
            BToI => V::I64(i64::from(self.bool(a)?)),
        })
    }

    fn expr(&mut self, e: &Expr) -> R<V> {
        match e {
            Expr::Atom(a) => self.operand(*a),
            Expr::Unary(op, a) => self.unary(*op, *a),
            Expr::Binary(op, a, b) => self.binary(*op, *a, *b),
            Expr::Select(c, a, b) => {
                let (a, b) = (self.operand(*a)?, self.operand(*b)?);
                Ok(if self.bool(*c)? { a } else { b })
            }
            Expr::Load { ty, base, index } => {
                let (p, i) = (self.ptr(*base)?, self.i64(*index)?);
                self.read(p, *ty, i)
            }
            Expr::Offset { ty, base, index } => {
                let (p, i) = (self.ptr(*base)?, self.i64(*index)?);
                let offset = p.offset + i * ty.size();
                let len = self.buffers[p.buffer].bytes.len() as i64;
                if offset < 0 || offset > len {
                    return bug(format!("a view at byte {offset} of a buffer of {len} bytes"));
                }
                Ok(V::Ptr(Ptr { offset, ..p }))
            }
            Expr::Alloc { ty, n } => {
                let n = self.i64(*n)?;
                if n < 0 {
                    return bug(format!("an allocation of {n} elements"));
                }
                let bytes = allocatable(super::lir::size_mul(n, ty.size()))?;
                let p = self.new_buffer(bytes, Kind::Arena);
                self.arena.push(p.buffer);
                self.arena_live += bytes;
                self.stats.arena_bytes += bytes;
                self.stats.peak_arena_bytes = self.stats.peak_arena_bytes.max(self.arena_live);
                Ok(V::Ptr(p))
            }
        }
    }

    fn block(&mut self, code: &[Inst]) -> R<()> {
        for inst in code {
            self.inst(inst)?;
        }
        Ok(())
    }

    fn inst(&mut self, inst: &Inst) -> R<()> {
        match inst {
            Inst::Set(var, e) => {
                let v = self.expr(e)?;
                self.set(*var, v);
            }
            Inst::Store { ty, base, index, value } => {
                let (p, i, v) = (self.ptr(*base)?, self.i64(*index)?, self.operand(*value)?);
                self.write(p, *ty, i, v)?;
            }
            Inst::Copy { ty, dst, src, n } => {
                let (d, s, n) = (self.ptr(*dst)?, self.ptr(*src)?, self.i64(*n)?);
                let (sa, sb) = self.range(s, *ty, 0, n)?;
                let (da, db) = self.range(d, *ty, 0, n)?;
                if self.buffers[d.buffer].kind == Kind::Param {
                    return bug("a copy into a parameter's buffer");
                }
                let bytes = self.buffers[s.buffer].bytes[sa..sb].to_vec();
                let written = self.buffers[s.buffer].written[sa..sb].to_vec();
                if written.iter().any(|w| !w) {
                    return bug("a copy of memory never written");
                }
                let mem = &mut self.buffers[d.buffer];
                mem.bytes[da..db].copy_from_slice(&bytes);
                mem.written[da..db].iter_mut().for_each(|w| *w = true);
            }
            Inst::If { cond, then, els } => {
                if self.bool(*cond)? {
                    self.block(then)?;
                } else {
                    self.block(els)?;
                }
            }
            Inst::For {
                index,
                start,
                end,
                body,
                ..
            } => {
                let (start, end) = (self.i64(*start)?, self.i64(*end)?);
                for i in start..end {
                    self.set(*index, V::I64(i));
                    self.block(body)?;
                    if self.operand(Operand::Var(*index))? != V::I64(i) {
                        return bug("a loop index was assigned");
                    }
                }
            }
            Inst::While { cond, test, body } => loop {
                self.block(cond)?;
                if !self.bool(*test)? {
                    break;
                }
                self.block(body)?;
            },
            Inst::Call { func, args, result } => {
                let args: Vec<V> = args.iter().map(|a| self.operand(*a)).collect::<R<_>>()?;
                let r = self.call(func, &args)?;
                match (result, r) {
                    (Some(var), Some(v)) => self.set(*var, v),
                    (None, _) => {}
                    (Some(_), None) => return bug(format!("`{func}` returns nothing")),
                }
            }
            Inst::ArenaMark(var) => {
                let mark = self.arena.len() as i64;
                self.set(*var, V::I64(mark));
            }
            Inst::ArenaRelease(mark) => {
                let mark = self.i64(*mark)?;
                if mark < 0 || mark as usize > self.arena.len() {
                    return bug(format!("a release to mark {mark} of an arena of {}", self.arena.len()));
                }
                for b in self.arena.drain(mark as usize..) {
                    let mem = &mut self.buffers[b];
                    mem.live = false;
                    self.arena_live -= mem.bytes.len();
                    mem.bytes = Vec::new();
                    mem.written = Vec::new();
                }
            }
            Inst::Fail { kind, loc, values } => {
                let values: Vec<i64> = values.iter().map(|v| self.i64(*v)).collect::<R<_>>()?;
                return Err(EvalError::Failure {
                    kind: *kind,
                    message: failure::message(*kind, &values),
                    span: self.func.locations.get(*loc as usize).copied(),
                });
            }
        }
        Ok(())
    }

    fn call(&mut self, name: &str, args: &[V]) -> R<Option<V>> {
        let Some(f) = runtime_fn(name) else {
            return bug(format!("call of an unknown function `{name}`"));
        };
        if f.params.len() != args.len() {
            return bug(format!("`{name}` with {} arguments", args.len()));
        }
        let f64_at = |k: usize| match args[k] {
            V::F64(x) => Ok(x),
            v => bug(format!("`{name}`: argument {k} is {v:?}")),
        };
        let i64_at = |k: usize| match args[k] {
            V::I64(x) => Ok(x),
            v => bug(format!("`{name}`: argument {k} is {v:?}")),
        };
        let ptr_at = |k: usize| match args[k] {
            V::Ptr(p) => Ok(p),
            v => bug(format!("`{name}`: argument {k} is {v:?}")),
        };
        let math = |p: Prim, xs: Vec<Value>| -> R<f64> {
            match p.eval(&xs) {
                Ok(Value::F64(x)) => Ok(x),
                Ok(other) => bug(format!("{p:?} gave {other}")),
                Err(_) => Ok(f64::NAN),
            }
        };
        let unary_prim = |name: &str| match name {
            "dl_exp" | "dl_vexp" => Some(Prim::Exp),
            "dl_log" | "dl_vlog" => Some(Prim::Log),
            "dl_log1p" => Some(Prim::Log1p),
            "dl_expm1" => Some(Prim::Expm1),
            "dl_sin" | "dl_vsin" => Some(Prim::Sin),
            "dl_cos" | "dl_vcos" => Some(Prim::Cos),
            "dl_tan" => Some(Prim::Tan),
            "dl_tanh" | "dl_vtanh" => Some(Prim::Tanh),
            "dl_sigmoid" | "dl_vsigmoid" => Some(Prim::Sigmoid),
            "dl_erf" => Some(Prim::Erf),
            "dl_lgamma" => Some(Prim::Lgamma),
            _ => None,
        };
        let dot = |xs: &[f64], ys: &[f64]| xs.iter().zip(ys).map(|(x, y)| x * y).fold(0.0, |s, p| s + p);
        match name {
            "dl_pow" => Ok(Some(V::F64(math(
                Prim::Pow,
                vec![Value::F64(f64_at(0)?), Value::F64(f64_at(1)?)],
            )?))),
            "dl_atan2" => Ok(Some(V::F64(math(
                Prim::Atan2,
                vec![Value::F64(f64_at(0)?), Value::F64(f64_at(1)?)],
            )?))),
            "dl_fmod" => Ok(Some(V::F64(math(
                Prim::Rem,
                vec![Value::F64(f64_at(0)?), Value::F64(f64_at(1)?)],
            )?))),
            "dl_polygamma" => Ok(Some(V::F64(math(
                Prim::Polygamma,
                vec![Value::I64(i64_at(0)?), Value::F64(f64_at(1)?)],
            )?))),
            "dl_ipow" => {
                let (b, e) = (i64_at(0)?, i64_at(1)?);
                if e < 0 {
                    return bug("dl_ipow of a negative exponent");
                }
                match Prim::Pow.eval(&[Value::I64(b), Value::I64(e)]) {
                    Ok(Value::I64(x)) => Ok(Some(V::I64(x))),
                    other => bug(format!("dl_ipow: {other:?}")),
                }
            }
            "dl_vexp" | "dl_vlog" | "dl_vtanh" | "dl_vsigmoid" | "dl_vsin" | "dl_vcos" => {
                let p = unary_prim(name).expect("a kernel");
                let (n, src, dst) = (i64_at(0)?, ptr_at(1)?, ptr_at(2)?);
                let xs = self.read_f64s(src, n)?;
                let ys = xs
                    .into_iter()
                    .map(|x| math(p, vec![Value::F64(x)]))
                    .collect::<R<Vec<_>>>()?;
                self.write_f64s(dst, &ys)?;
                Ok(None)
            }
            "dl_dot" => {
                let (n, x, y) = (i64_at(0)?, ptr_at(1)?, ptr_at(2)?);
                let (xs, ys) = (self.read_f64s(x, n)?, self.read_f64s(y, n)?);
                Ok(Some(V::F64(dot(&xs, &ys))))
            }
            "dl_gemm" => {
                let (ta, tb) = (i64_at(0)? != 0, i64_at(1)? != 0);
                let (m, n, k) = (i64_at(2)?, i64_at(3)?, i64_at(4)?);
                let (a, lda, b, ldb, c, ldc) =
                    (ptr_at(5)?, i64_at(6)?, ptr_at(7)?, i64_at(8)?, ptr_at(9)?, i64_at(10)?);
                // The elements a strided matrix spans: none when it has no
                // rows or no columns.
                let span = |rows: i64, cols: i64, ld: i64| {
                    if rows == 0 || cols == 0 {
                        0
                    } else {
                        (rows - 1) * ld + cols
                    }
                };
                let (a_rows, a_cols) = if ta { (k, m) } else { (m, k) };
                let (b_rows, b_cols) = if tb { (n, k) } else { (k, n) };
                let av = self.read_f64s(a, span(a_rows, a_cols, lda))?;
                let bv = self.read_f64s(b, span(b_rows, b_cols, ldb))?;
                let at = |i: i64, l: i64| {
                    if ta {
                        av[(l * lda + i) as usize]
                    } else {
                        av[(i * lda + l) as usize]
                    }
                };
                let bt = |l: i64, j: i64| {
                    if tb {
                        bv[(j * ldb + l) as usize]
                    } else {
                        bv[(l * ldb + j) as usize]
                    }
                };
                for i in 0..m {
                    for j in 0..n {
                        let row: Vec<f64> = (0..k).map(|l| at(i, l)).collect();
                        let col: Vec<f64> = (0..k).map(|l| bt(l, j)).collect();
                        self.write(c, Ty::F64, i * ldc + j, V::F64(dot(&row, &col)))?;
                    }
                }
                Ok(None)
            }
            "dl_gemv" => {
                let ta = i64_at(0)? != 0;
                let (m, n, a, lda, x, y) = (i64_at(1)?, i64_at(2)?, ptr_at(3)?, i64_at(4)?, ptr_at(5)?, ptr_at(6)?);
                let av = self.read_f64s(a, if m == 0 { 0 } else { (m - 1) * lda + n })?;
                let (out, inner) = if ta { (n, m) } else { (m, n) };
                let xs = self.read_f64s(x, inner)?;
                for o in 0..out {
                    let line: Vec<f64> = (0..inner)
                        .map(|l| {
                            if ta {
                                av[(l * lda + o) as usize]
                            } else {
                                av[(o * lda + l) as usize]
                            }
                        })
                        .collect();
                    self.write(y, Ty::F64, o, V::F64(dot(&xs, &line)))?;
                }
                Ok(None)
            }
            "dl_outer" => {
                let (m, n, x, y, c) = (i64_at(0)?, i64_at(1)?, ptr_at(2)?, ptr_at(3)?, ptr_at(4)?);
                let (xs, ys) = (self.read_f64s(x, m)?, self.read_f64s(y, n)?);
                for i in 0..m {
                    for j in 0..n {
                        self.write(c, Ty::F64, i * n + j, V::F64(xs[i as usize] * ys[j as usize]))?;
                    }
                }
                Ok(None)
            }
            "dl_transpose" => {
                let (rows, cols, src, dst) = (i64_at(0)?, i64_at(1)?, ptr_at(2)?, ptr_at(3)?);
                let xs = self.read_f64s(src, rows * cols)?;
                for i in 0..rows {
                    for j in 0..cols {
                        self.write(dst, Ty::F64, j * rows + i, V::F64(xs[(i * cols + j) as usize]))?;
                    }
                }
                Ok(None)
            }
            "dl_result_alloc" => {
                let bytes = i64_at(0)?;
                if bytes < 0 {
                    return bug("a result allocation of a negative size");
                }
                Ok(Some(V::Ptr(self.new_buffer(allocatable(bytes)?, Kind::Result))))
            }
            _ => match unary_prim(name) {
                Some(p) => Ok(Some(V::F64(math(p, vec![Value::F64(f64_at(0)?)])?))),
                None => bug(format!("the evaluator lacks `{name}`")),
            },
        }
    }

    /// The result value: every buffer must be a whole result buffer, each
    /// handed out once.
    fn read_result(&mut self, results: &[V]) -> R<Value> {
        let ty = &self.func.result_type;
        let slots = layout(ty);
        if slots.len() != results.len() {
            return bug("the results do not fit the result type");
        }
        let mut comps = Vec::new();
        for (slot, v) in slots.iter().zip(results) {
            comps.push(match (slot, v) {
                (Slot::Scalar(Ty::F64), V::F64(x)) => Component::F64(*x),
                (Slot::Scalar(Ty::I64) | Slot::Len, V::I64(x)) => Component::I64(*x),
                (Slot::Scalar(Ty::Bool), V::Bool(x)) => Component::Bool(*x),
                (Slot::Buffer { elem, dims }, V::Ptr(p)) => {
                    let n: i64 = dims
                        .iter()
                        .map(|d| match results[*d] {
                            V::I64(x) => x.max(0),
                            _ => 0,
                        })
                        .product();
                    let mem = &self.buffers[p.buffer];
                    if mem.kind != Kind::Result || p.offset != 0 || mem.returned {
                        return bug("a result buffer that is not a fresh dl_result_alloc buffer");
                    }
                    if mem.bytes.len() as i64 != n * elem.size() {
                        return bug("a result buffer of the wrong size");
                    }
                    let buffer = match elem {
                        Ty::F64 => Buffer::F64(self.read_f64s(*p, n)?),
                        Ty::I64 => Buffer::I64(
                            (0..n)
                                .map(|k| match self.read(*p, Ty::I64, k)? {
                                    V::I64(x) => Ok(x),
                                    _ => bug("not an i64"),
                                })
                                .collect::<R<_>>()?,
                        ),
                        _ => Buffer::Bool(
                            (0..n)
                                .map(|k| match self.read(*p, Ty::Bool, k)? {
                                    V::Bool(x) => Ok(x),
                                    _ => bug("not a bool"),
                                })
                                .collect::<R<_>>()?,
                        ),
                    };
                    self.buffers[p.buffer].returned = true;
                    Component::Buffer(buffer)
                }
                (slot, v) => return bug(format!("result {v:?} for slot {slot:?}")),
            });
        }
        from_components(ty, &comps).map_err(|e| EvalError::Bug(e.0))
    }
}

/// 2^63: f64s in [-2^63, 2^63) convert to i64.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;
