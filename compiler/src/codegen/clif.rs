//! LIR to Cranelift IR: one entry point ([`define`]) that translates a
//! `lir::Func` into a function of the entry ABI `fn(ctx, args, results) ->
//! i32` (and the kernels of its parallel loops) and defines them in a
//! Cranelift module, the JIT's or an object file's.
//!
//! LIR variables become frontend `Variable`s (bools are `i8` holding 0 or
//! 1, pointers the target's address type), so the SSA form is the
//! frontend's job. Memory accesses are `trusted` (aligned, never trapping):
//! the lowering checks every index before it loads or stores.
//!
//! Loops whose hint says `vector` and whose body passes [`vector_plan`] run
//! two iterations per step in `f64x2` lanes, with several accumulators for
//! reductions and a scalar remainder. Loops whose hint says `parallel` run
//! in chunks on the runtime's pool above [`Options::parallel_threshold`]
//! iterations (see `parallel_for`).

use super::abi;
use super::elementary;
use super::staging::{self, Staging};
use crate::lower::abi::AbiTy;
use crate::lower::lir::{
    each_assignment, each_inst_deep, each_read, index_shift, read_counts, BinOp, Expr, Func, Inst, LoopHint, Operand,
    Ty, UnOp, Var,
};
use crate::{HashMap, HashSet};
use cranelift_codegen::ir::condcodes::{CondCode, FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, Endianness, FuncRef, GlobalValue, InstBuilder, InstructionData, MemFlagsData, Opcode,
    Signature, StackSlot, StackSlotData, StackSlotKind, TrapCode, Type, UserFuncName, Value, ValueDef,
};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{FuncId, Linkage, Module, ModuleError, ModuleReloc};
use dl_runtime::context;
use std::fmt;

/// How to compile.
#[derive(Clone, Debug)]
pub struct Options {
    /// Compile `vector` loops with `f64x2` lanes.
    pub vectorize: bool,
    /// Run `parallel` loops on the runtime's thread pool.
    pub parallel: bool,
    /// The fewest iterations a parallel loop needs to leave the calling
    /// thread: below it, starting the pool costs more than it saves.
    pub parallel_threshold: i64,
    /// Keep the text of the optimised Cranelift IR of every function.
    pub keep_text: bool,
    /// The linkage of the entry function: exported for the JIT; local in
    /// object files, whose exported symbols are the C wrappers around it.
    pub linkage: Linkage,
    /// Compile the entry function on a thread of its own while this one
    /// compiles its kernels, then define their code as bytes. Not for
    /// object files: defining bytes leaves out their unwind information.
    pub compile_threads: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            vectorize: true,
            parallel: true,
            parallel_threshold: 32768,
            keep_text: false,
            linkage: Linkage::Export,
            compile_threads: true,
        }
    }
}

/// A function the code generator could not compile.
#[derive(Clone, Debug, PartialEq)]
pub struct CodegenError(pub String);

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodegenError {}

impl From<ModuleError> for CodegenError {
    fn from(e: ModuleError) -> Self {
        CodegenError(format!("code generation failed: {e:?}"))
    }
}

type R<T> = Result<T, CodegenError>;

/// What [`define`] made.
pub struct Defined {
    /// The entry point.
    pub entry: FuncId,
    /// With [`Options::keep_text`]: the optimised Cranelift IR of the entry
    /// point, then of each kernel.
    pub text: Vec<String>,
}

/// Defines `func` in `module` under the symbol `name`, with the parameter
/// components whose value is known (`known[k]` for `func.params[k]`)
/// replaced by constants: the sizes of the JIT's size signature.
pub fn define<M: Module>(
    module: &mut M,
    func: &Func,
    name: &str,
    known: &[Option<i64>],
    options: &Options,
) -> R<Defined> {
    let ptr = module.target_config().pointer_type();
    let conv = module.isa().default_call_conv();
    let mut sig = Signature::new(conv);
    sig.params.extend([AbiParam::new(ptr); 3]);
    sig.returns.push(AbiParam::new(types::I32));
    let entry = module.declare_function(name, options.linkage, &sig)?;

    let mut kernels = Vec::new();
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, entry.as_u32());
    let mut fctx = FunctionBuilderContext::new();
    {
        let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let mut e = Emitter::new(module, b, func, options, Mode::Entry, &mut kernels, name);
        e.known = known_integers(func, known);
        let block = e.b.create_block();
        e.b.append_block_params_for_function_params(block);
        e.b.switch_to_block(block);
        let params = e.b.block_params(block).to_vec();
        let (ctx_ptr, args, results) = (params[0], params[1], params[2]);
        e.ctx = Some(ctx_ptr);
        for (k, var) in func.params.iter().enumerate() {
            let ty = func.vars[var.0 as usize].ty;
            let value = match known.get(k).copied().flatten() {
                Some(n) if ty == Ty::I64 => e.b.ins().iconst(types::I64, n),
                _ => e.load_slot(ty, args, k),
            };
            e.set(*var, value);
        }
        // Result buffers allocated before the end start null, so that a
        // failure frees those it has ([`Emitter::fail_return`]).
        for var in e.result_buffers.clone() {
            let null = e.b.ins().iconst(ptr, 0);
            e.set(var, null);
        }
        e.block(&func.body)?;
        for (k, result) in func.results.iter().enumerate() {
            let v = e.operand(*result);
            let v = if e.b.func.dfg.value_type(v) == types::I8 {
                e.b.ins().uextend(types::I64, v)
            } else {
                v
            };
            e.b.ins().store(MemFlagsData::trusted(), v, results, (8 * k) as i32);
        }
        let ok = e.b.ins().iconst(types::I32, 0);
        e.b.ins().return_(&[ok]);
        e.finish()?;
    }
    let mut functions = vec![(entry, ctx)];
    for kernel in kernels {
        let mut ctx = module.make_context();
        build_kernel(module, func, &kernel, options, &mut ctx, &mut fctx)?;
        functions.push((kernel.id, ctx));
    }
    let mut text = Vec::new();
    if options.compile_threads && functions.len() > 1 {
        crate::timings::time("codegen: cranelift", || compile_on_threads(module, &mut functions))?;
        for (id, ctx) in &functions {
            define_compiled(module, *id, ctx, options, &mut text)?;
        }
    } else {
        for (id, ctx) in &mut functions {
            finish_function(module, *id, ctx, options, &mut text)?;
        }
    }
    Ok(Defined { entry, text })
}

/// Compiles `functions`, the entry point first: the kernels on a thread
/// of their own, the entry point on this one. The entry point holds most
/// of the code, so its kernels cost no time when a core is free (and the
/// entry point's memory comes from this thread's warm heap).
fn compile_on_threads<M: Module>(module: &M, functions: &mut [(FuncId, Context)]) -> R<()> {
    let isa = module.isa();
    let ((_, entry), kernels) = functions.split_first_mut().expect("an entry point");
    std::thread::scope(|s| {
        let kernels = s.spawn(|| kernels.iter_mut().try_for_each(|(_, ctx)| compile(isa, ctx)));
        let entry = compile(isa, entry);
        let kernels = kernels.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        entry.and(kernels)
    })
}

/// Compiles the function in `ctx` to machine code, kept in `ctx`.
fn compile(isa: &dyn cranelift_codegen::isa::TargetIsa, ctx: &mut Context) -> R<()> {
    let mut plane = cranelift_codegen::control::ControlPlane::default();
    match ctx.compile(isa, &mut plane) {
        Ok(_) => Ok(()),
        Err(e) => Err(CodegenError(format!(
            "code generation failed: {}",
            cranelift_codegen::print_errors::pretty_error(e.func, e.inner)
        ))),
    }
}

/// Defines `id` as the machine code [`compile`] left in `ctx`, keeping
/// its optimised text.
fn define_compiled<M: Module>(
    module: &mut M,
    id: FuncId,
    ctx: &Context,
    options: &Options,
    text: &mut Vec<String>,
) -> R<()> {
    let code = ctx.compiled_code().expect("compiled");
    let relocs: Vec<ModuleReloc> = code
        .buffer
        .relocs()
        .iter()
        .map(|r| ModuleReloc::from_mach_reloc(r, &ctx.func, id))
        .collect();
    module.define_function_bytes(id, u64::from(code.buffer.alignment), code.code_buffer(), &relocs)?;
    if options.keep_text {
        text.push(ctx.func.display().to_string());
    }
    Ok(())
}

/// Compiles the function in `ctx` into `id`, keeping its optimised text.
fn finish_function<M: Module>(
    module: &mut M,
    id: FuncId,
    ctx: &mut Context,
    options: &Options,
    text: &mut Vec<String>,
) -> R<()> {
    crate::timings::time("codegen: cranelift", || {
        module.define_function(id, ctx).map_err(|e| match e {
            ModuleError::Compilation(err) => CodegenError(format!(
                "code generation failed: {}",
                cranelift_codegen::print_errors::pretty_error(&ctx.func, err)
            )),
            other => other.into(),
        })
    })?;
    if options.keep_text {
        // Compilation optimised the function in place.
        text.push(ctx.func.display().to_string());
    }
    Ok(())
}

/// Whether the function being emitted is the entry point or a kernel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Entry,
    Kernel,
}

/// A parallel loop outlined into a kernel, defined after the entry point.
struct KernelPlan {
    id: FuncId,
    index: Var,
    body: Vec<Inst>,
    hint: LoopHint,
    /// The variables the body reads from the environment, in env order.
    free: Vec<Var>,
    /// The variables read outside the loop, for the kernel's own
    /// vectorisation of it.
    read_after: HashSet<Var>,
    /// The same for each loop in the body ([`loop_bodies`] order): the
    /// kernel's copy of the body is not part of the function, where
    /// [`Emitter::outside_reads`] finds them.
    inner_read_after: Vec<HashSet<Var>>,
    /// The entry's variables known at compile time.
    known: HashMap<Var, i64>,
}

/// The environment of a kernel, 8-byte slots: the loop's start and end,
/// the chunk count, the free variables, then the partial results of the
/// reductions (`MAX_CHUNKS` slots for each), then for each summed buffer
/// the address of its chunks' copies and the bytes of one. The context is
/// the kernel's third parameter: its chunk's own, to allocate from.
const ENV_START: i32 = 0;
const ENV_END: i32 = 8;
const ENV_CHUNKS: i32 = 16;
const ENV_FREE: i32 = 24;
/// At most this many chunks: enough to balance two to a few dozen threads.
const MAX_CHUNKS: i64 = 64;
/// Iterations per chunk, at the least: chunks this long amortise a task
/// (divided by the estimated work of an independent loop's iteration).
const MIN_CHUNK: i64 = 16384;
/// The iterations [`Emitter::work`] assumes of a loop whose length is not
/// known when the code is compiled, and the work of a call of a
/// whole-buffer kernel.
const UNKNOWN_TRIP: i64 = 16;
const KERNEL_WORK: i64 = 256;
/// At most this many chunks for a loop with summed buffers, each chunk
/// adding into a copy of its own: enough for a few threads, few enough
/// that zeroing and adding up the copies stays small.
const MAX_SUMMED_CHUNKS: i64 = 8;

fn env_partials(free: usize) -> i32 {
    ENV_FREE + 8 * free as i32
}

fn env_summed(free: usize, reductions: usize) -> i32 {
    env_partials(free) + (reductions as i64 * MAX_CHUNKS * 8) as i32
}

/// Builds the Cranelift function of a kernel in `ctx`.
fn build_kernel<M: Module>(
    module: &mut M,
    func: &Func,
    kernel: &KernelPlan,
    options: &Options,
    ctx: &mut Context,
    fctx: &mut FunctionBuilderContext,
) -> R<()> {
    ctx.func.signature = kernel_signature(module);
    ctx.func.name = UserFuncName::user(0, kernel.id.as_u32());
    let mut unused = Vec::new();
    {
        let b = FunctionBuilder::new(&mut ctx.func, fctx);
        let mut e = Emitter::new(module, b, func, options, Mode::Kernel, &mut unused, "");
        e.known = kernel.known.clone();
        e.read_outside.insert(kernel.body.as_ptr(), kernel.read_after.clone());
        let mut inner = Vec::new();
        loop_bodies(&kernel.body, &mut inner);
        for (body, read_after) in inner.into_iter().zip(&kernel.inner_read_after) {
            e.read_outside.insert(body.as_ptr(), read_after.clone());
        }
        let block = e.b.create_block();
        e.b.append_block_params_for_function_params(block);
        e.b.switch_to_block(block);
        let params = e.b.block_params(block).to_vec();
        let (env, chunk) = (params[0], params[1]);
        let trusted = MemFlagsData::trusted();
        e.ctx = Some(params[2]);
        let start = e.b.ins().load(types::I64, trusted, env, ENV_START);
        let end = e.b.ins().load(types::I64, trusted, env, ENV_END);
        let chunks = e.b.ins().load(types::I64, trusted, env, ENV_CHUNKS);
        for (k, var) in kernel.free.iter().enumerate() {
            let ty = func.vars[var.0 as usize].ty;
            let v = e.load_slot(ty, env, (ENV_FREE / 8) as usize + k);
            e.set(*var, v);
        }
        for (acc, op) in &kernel.hint.reductions {
            let identity = e.identity(*op);
            e.set(*acc, identity);
        }
        // A summed buffer is this chunk's zeroed copy of it.
        let summed_at = env_summed(kernel.free.len(), kernel.hint.reductions.len());
        for (k, summed) in kernel.hint.summed.iter().enumerate() {
            let copies = e.b.ins().load(types::I64, trusted, env, summed_at + 16 * k as i32);
            let stride = e.b.ins().load(types::I64, trusted, env, summed_at + 16 * k as i32 + 8);
            let offset = e.b.ins().imul(chunk, stride);
            let own = e.b.ins().iadd(copies, offset);
            e.set(summed.buffer, own);
        }
        // This chunk's iterations: [start + c*len, min(end, that + len)),
        // len = ceil(n / chunks).
        let n = e.b.ins().isub(end, start);
        let one = e.b.ins().iconst(types::I64, 1);
        let chunks_less_one = e.b.ins().isub(chunks, one);
        let rounded = e.b.ins().iadd(n, chunks_less_one);
        let len = e.b.ins().sdiv(rounded, chunks);
        let offset = e.b.ins().imul(chunk, len);
        let lo = e.b.ins().iadd(start, offset);
        let lo = e.b.ins().smin(lo, end);
        let hi = e.b.ins().iadd(lo, len);
        let hi = e.b.ins().smin(hi, end);
        let mut hint = kernel.hint.clone();
        hint.parallel = false;
        e.for_loop(kernel.index, lo, hi, &kernel.body, &hint)?;
        let partials = env_partials(kernel.free.len());
        for (r, (acc, _)) in kernel.hint.reductions.iter().enumerate() {
            let v = e.get(*acc);
            let at = e.b.ins().imul_imm_s(chunk, 8);
            let at = e.b.ins().iadd(env, at);
            e.b.ins()
                .store(trusted, v, at, partials + (r as i64 * MAX_CHUNKS * 8) as i32);
        }
        e.b.ins().return_(&[]);
        e.finish()?;
    }
    Ok(())
}

fn kernel_signature<M: Module>(module: &M) -> Signature {
    let ptr = module.target_config().pointer_type();
    let mut sig = Signature::new(module.isa().default_call_conv());
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(ptr));
    sig
}

/// The Cranelift type of a LIR variable.
fn var_type(ty: Ty) -> Type {
    match ty {
        Ty::F64 => types::F64,
        Ty::I64 | Ty::Ptr => types::I64,
        Ty::Bool => types::I8,
    }
}

/// Emits the code of one function.
struct Emitter<'a, 'b, M: Module> {
    module: &'a mut M,
    b: FunctionBuilder<'b>,
    func: &'a Func,
    options: &'a Options,
    mode: Mode,
    /// One frontend variable per LIR variable.
    vars: Vec<Variable>,
    /// The LIR variables set once, whose one definition comes before
    /// every read ([`single_definitions`]): their values, once set. They
    /// need no frontend variable, whose SSA construction would otherwise
    /// give every loop a parameter per variable live across it.
    single: Vec<bool>,
    values: Vec<Option<Value>>,
    /// The context pointer: the entry's first parameter, a kernel's env's
    /// first slot.
    ctx: Option<Value>,
    imports: HashMap<&'static str, FuncRef>,
    /// `dl_exp_table`, once this function reads it.
    exp_table: Option<GlobalValue>,
    kernels: &'a mut Vec<KernelPlan>,
    /// The entry point's symbol, to name its kernels.
    name: &'a str,
    /// Variables whose value is known at compile time ([`known_integers`]).
    known: HashMap<Var, i64>,
    /// Variables read outside each loop (by the loop's address), computed
    /// when a loop is first considered for vectors or threads.
    read_outside: HashMap<*const Inst, HashSet<Var>>,
    /// The reads of the whole function, counted when first needed.
    reads: Option<Reads>,
    /// How many loops enclose the instruction being compiled.
    loop_depth: usize,
    /// Whether parallel loops inside other loops get kernels: only in a
    /// function with few of them ([`NESTED_KERNELS`]).
    nested_kernels: bool,
    /// The entry's variables that hold result memory
    /// ([`result_buffers`]).
    result_buffers: Vec<Var>,
    /// While a vector loop takes minima and maxima the fast way
    /// ([`Emitter::vector_loop`]): the lanes that have seen a NaN.
    nan_lanes: Option<Variable>,
    /// Allocations that take a stack slot instead of arena memory
    /// ([`Emitter::place_iteration_buffers`]), by the address of their
    /// expression, and the bytes given so far.
    stack_buffers: HashMap<*const Expr, StackSlot>,
    stack_buffer_bytes: i64,
    /// The slot that stores pinning invariants go to
    /// ([`Emitter::anchor_invariants`]).
    anchor: Option<StackSlot>,
    /// The one cold block that raises an error and returns, which every
    /// `Fail` jumps to with its kind, location and values: one call of the
    /// runtime instead of one per check keeps large functions small.
    failure: Option<cranelift_codegen::ir::Block>,
}

/// Which of `func`'s variables are set once, a parameter counting as set:
/// the verifier's rule that every read follows a set on every path makes
/// that one definition dominate each read. Loop indices and accumulators
/// are set by the loop's code too, and result buffers are null first
/// ([`result_buffers`]), and so are not.
fn single_definitions(func: &Func, result_buffers: &[Var]) -> Vec<bool> {
    let mut sets = vec![0u32; func.vars.len()];
    each_assignment(&func.body, &mut |v| sets[v.0 as usize] += 1);
    for var in func.params.iter().chain(result_buffers) {
        sets[var.0 as usize] += 1;
    }
    each_inst_deep(&func.body, &mut |inst| {
        if let Inst::For { index, hint, .. } = inst {
            sets[index.0 as usize] += 2;
            for (acc, _) in &hint.reductions {
                sets[acc.0 as usize] += 2;
            }
        }
    });
    sets.into_iter().map(|n| n <= 1).collect()
}

/// The variables `code` sets (at its top level) to result memory: the
/// results it computes in place, or copies into at its end.
fn result_buffers(code: &[Inst]) -> Vec<Var> {
    code.iter()
        .filter_map(|inst| match inst {
            Inst::Call {
                func: "dl_result_alloc",
                result: Some(var),
                ..
            } => Some(*var),
            _ => None,
        })
        .collect()
}

/// The most parallel loops nested in other loops that a function compiles
/// into kernels. A function with more (a large derivative, typically over
/// small arrays, whose inner loops run once per step of an outer one)
/// runs them on the calling thread: each kernel costs compile time, and
/// the threads seldom pay for themselves there. An iterative solver that
/// maps a large array in a loop keeps its kernel.
const NESTED_KERNELS: usize = 8;

/// The parallel loops of `code` inside at least one other loop when
/// `depth > 0` (or inside loops within it).
fn nested_parallel_loops(code: &[Inst], depth: usize) -> usize {
    code.iter()
        .map(|inst| match inst {
            Inst::For { body, hint, .. } => {
                usize::from(depth > 0 && hint.parallel) + nested_parallel_loops(body, depth + 1)
            }
            Inst::While { cond, body, .. } => {
                nested_parallel_loops(cond, depth + 1) + nested_parallel_loops(body, depth + 1)
            }
            Inst::If { then, els, .. } => nested_parallel_loops(then, depth) + nested_parallel_loops(els, depth),
            _ => 0,
        })
        .sum()
}

/// Every read of a function's variables, counted in one walk: the reads
/// outside a loop are then those of the function less those of the loop,
/// which costs the loop's size rather than the function's.
struct Reads {
    /// Reads per variable in the whole function, results included.
    total: HashMap<Var, usize>,
    /// The function's nested blocks, by address.
    blocks: HashSet<*const Inst>,
}

impl Reads {
    fn of(func: &Func) -> Reads {
        let total = read_counts(func);
        let mut blocks = HashSet::default();
        nested_blocks(&func.body, &mut blocks);
        Reads { total, blocks }
    }
}

impl<'a, 'b, M: Module> Emitter<'a, 'b, M> {
    fn new(
        module: &'a mut M,
        mut b: FunctionBuilder<'b>,
        func: &'a Func,
        options: &'a Options,
        mode: Mode,
        kernels: &'a mut Vec<KernelPlan>,
        name: &'a str,
    ) -> Self {
        let vars = func.vars.iter().map(|v| b.declare_var(var_type(v.ty))).collect();
        let result_buffers = match mode {
            Mode::Entry => result_buffers(&func.body),
            Mode::Kernel => Vec::new(),
        };
        Emitter {
            module,
            b,
            func,
            options,
            mode,
            vars,
            single: single_definitions(func, &result_buffers),
            values: vec![None; func.vars.len()],
            ctx: None,
            imports: HashMap::default(),
            exp_table: None,
            loop_depth: 0,
            nested_kernels: nested_parallel_loops(&func.body, 0) <= NESTED_KERNELS,
            result_buffers,
            kernels,
            name,
            read_outside: HashMap::default(),
            reads: None,
            known: HashMap::default(),
            nan_lanes: None,
            stack_buffers: HashMap::default(),
            stack_buffer_bytes: 0,
            anchor: None,
            failure: None,
        }
    }

    fn finish(mut self) -> R<()> {
        if let Some(failure) = self.failure {
            self.b.switch_to_block(failure);
            self.b.set_cold_block(failure);
            let params = self.b.block_params(failure).to_vec();
            let args: Vec<Value> = std::iter::once(self.ctx()).chain(params).collect();
            self.call("dl_raise", &args)?;
            match self.mode {
                Mode::Entry => self.fail_return()?,
                // The caller of the pool sees the error in the context.
                Mode::Kernel => {
                    self.b.ins().return_(&[]);
                }
            }
        }
        self.b.seal_all_blocks();
        self.b.finalize(self.module.target_config());
        Ok(())
    }

    /// The shared failure block ([`Emitter::failure`]), with its
    /// parameters: kind, location, three values.
    fn failure_block(&mut self) -> cranelift_codegen::ir::Block {
        if let Some(block) = self.failure {
            return block;
        }
        let block = self.b.create_block();
        for ty in [types::I32, types::I32, types::I64, types::I64, types::I64] {
            self.b.append_block_param(block, ty);
        }
        self.failure = Some(block);
        block
    }

    /// Ends the current block with a jump to the failure block: error
    /// `kind` at location `loc` (-1 for none) with up to three values.
    fn raise(&mut self, kind: u32, loc: i64, values: &[Value]) {
        let mut args = vec![
            BlockArg::Value(self.b.ins().iconst(types::I32, i64::from(kind))),
            BlockArg::Value(self.b.ins().iconst(types::I32, loc)),
        ];
        for k in 0..3 {
            let v = match values.get(k) {
                Some(v) => *v,
                None => self.b.ins().iconst(types::I64, 0),
            };
            args.push(BlockArg::Value(v));
        }
        // Every instruction of this block leads to the failure: keep it
        // out of the hot path (the entry block cannot be).
        let current = self.b.current_block().expect("a block");
        if self.b.func.layout.entry_block() != Some(current) {
            self.b.set_cold_block(current);
        }
        let failure = self.failure_block();
        self.b.ins().jump(failure, &args);
    }

    /// `n * size` for a constant `size > 0`, or `i64::MAX` when that does
    /// not fit or `n` is negative ([`BinOp::SizeMul`] for a non-negative
    /// `n`): one unsigned comparison, where the general product needs the
    /// high half.
    fn size_times(&mut self, n: Value, size: i64) -> Value {
        let product = self.b.ins().imul_imm_s(n, size);
        let too_big = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThan, n, i64::MAX / size);
        let max = self.b.ins().iconst(types::I64, i64::MAX);
        self.b.ins().select(too_big, max, product)
    }

    /// Fails with "out of memory" (no source location: an allocation is
    /// not a statement) when an allocator returned null, having refused
    /// `bytes`, so that no code after it writes through the null pointer.
    fn fail_if_null(&mut self, buffer: Value, bytes: Value) {
        let (fail, ok) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(buffer, ok, &[], fail, &[]);
        self.b.switch_to_block(fail);
        self.b.seal_block(fail);
        self.raise(crate::lower::failure::OUT_OF_MEMORY, -1, &[bytes]);
        self.b.switch_to_block(ok);
        self.b.seal_block(ok);
    }

    fn ctx(&self) -> Value {
        self.ctx.expect("the context is loaded first")
    }

    /// The 8-byte slot `k` at `base`, as a value of type `ty`.
    fn load_slot(&mut self, ty: Ty, base: Value, k: usize) -> Value {
        let offset = (8 * k) as i32;
        let trusted = MemFlagsData::trusted();
        match ty {
            Ty::F64 => self.b.ins().load(types::F64, trusted, base, offset),
            Ty::I64 | Ty::Ptr => self.b.ins().load(types::I64, trusted, base, offset),
            Ty::Bool => {
                let word = self.b.ins().load(types::I64, trusted, base, offset);
                self.b.ins().icmp_imm_s(IntCC::NotEqual, word, 0)
            }
        }
    }

    /// The value of an i64 operand when it is known at compile time.
    fn integer(&self, o: Operand) -> Option<i64> {
        match o {
            Operand::I64(n) => Some(n),
            Operand::Var(v) => self.known.get(&v).copied(),
            _ => None,
        }
    }

    fn operand(&mut self, o: Operand) -> Value {
        if let Some(n) = self.integer(o) {
            return self.b.ins().iconst(types::I64, n);
        }
        match o {
            Operand::Var(v) => self.get(v),
            Operand::F64(x) => self.b.ins().f64const(x),
            Operand::I64(n) => self.b.ins().iconst(types::I64, n),
            Operand::Bool(x) => self.b.ins().iconst(types::I8, i64::from(x)),
        }
    }

    fn set(&mut self, var: Var, value: Value) {
        let at = var.0 as usize;
        if self.single[at] {
            self.values[at] = Some(value);
        } else {
            self.b.def_var(self.vars[at], value);
        }
    }

    /// The value of `var` here.
    fn get(&mut self, var: Var) -> Value {
        let at = var.0 as usize;
        match self.values[at] {
            Some(value) if self.single[at] => value,
            _ => {
                // Only code after a `Fail` (left out) may miss a definition.
                debug_assert!(
                    !self.single[at] || self.b.is_unreachable(),
                    "{} read before its one definition",
                    self.func.vars[at].name
                );
                self.b.use_var(self.vars[at])
            }
        }
    }

    /// Calls the runtime function `name` with `args`, narrowing i64
    /// arguments where the ABI wants an i32.
    fn call(&mut self, name: &str, args: &[Value]) -> R<Option<Value>> {
        let symbol = abi::symbol(name).ok_or_else(|| CodegenError(format!("`{name}` is not a runtime function")))?;
        if symbol.1.len() != args.len() {
            return Err(CodegenError(format!("`{name}` called with {} arguments", args.len())));
        }
        let callee = match self.imports.get(symbol.0) {
            Some(f) => *f,
            None => {
                let sig = abi::signature(symbol, self.module.isa().default_call_conv());
                let id = self.module.declare_function(symbol.0, Linkage::Import, &sig)?;
                let f = self.module.declare_func_in_func(id, self.b.func);
                self.imports.insert(symbol.0, f);
                f
            }
        };
        let args: Vec<Value> = args
            .iter()
            .zip(symbol.1)
            .map(|(v, t)| match t {
                AbiTy::I32 if self.b.func.dfg.value_type(*v) == types::I64 => self.b.ins().ireduce(types::I32, *v),
                _ => *v,
            })
            .collect();
        let call = self.b.ins().call(callee, &args);
        Ok(self.b.inst_results(call).first().copied())
    }

    /// The address of element `index` of a buffer of `ty`s at `base`.
    fn address(&mut self, ty: Ty, base: Value, index: Value) -> Value {
        let bytes = self.b.ins().imul_imm_s(index, ty.size());
        self.b.ins().iadd(base, bytes)
    }

    fn block(&mut self, code: &[Inst]) -> R<()> {
        for inst in code {
            self.inst(inst)?;
            if matches!(inst, Inst::Fail { .. }) {
                break;
            }
        }
        Ok(())
    }

    /// Ends the current block with a jump to `target`, or with a trap in
    /// the unreachable block after a `Fail`: a jump from there would make
    /// `target` a join, and every variable read after it a block parameter
    /// with a made-up value on that side.
    fn jump(&mut self, target: cranelift_codegen::ir::Block) {
        if self.b.is_unreachable() {
            self.b.ins().trap(TrapCode::unwrap_user(1));
        } else {
            self.b.ins().jump(target, &[]);
        }
    }

    fn inst(&mut self, inst: &Inst) -> R<()> {
        match inst {
            Inst::Set(var, expr) => {
                let v = self.expr(expr)?;
                self.set(*var, v);
            }
            Inst::Store { ty, base, index, value } => {
                let (base, index, value) = (self.operand(*base), self.operand(*index), self.operand(*value));
                let at = self.address(*ty, base, index);
                self.b.ins().store(MemFlagsData::trusted(), value, at, 0);
            }
            Inst::Copy { ty, dst, src, n } => {
                let (dst, src, n) = (self.operand(*dst), self.operand(*src), self.operand(*n));
                let bytes = self.b.ins().imul_imm_s(n, ty.size());
                let config = self.module.target_config();
                self.b.call_memmove(config, dst, src, bytes);
            }
            Inst::If { cond, then, els } => {
                let cond = self.operand(*cond);
                let (then_block, else_block, merge) =
                    (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.ins().brif(cond, then_block, &[], else_block, &[]);
                self.b.switch_to_block(then_block);
                self.block(then)?;
                self.jump(merge);
                self.b.switch_to_block(else_block);
                self.block(els)?;
                self.jump(merge);
                self.b.switch_to_block(merge);
            }
            Inst::For {
                index,
                start,
                end,
                body,
                hint,
            } => {
                // A trip count known now decides between threads and the
                // calling thread here, not at run time.
                let trip = self
                    .integer(*start)
                    .zip(self.integer(*end))
                    .map(|(s, e)| e.wrapping_sub(s));
                let (start, end) = (self.operand(*start), self.operand(*end));
                // An independent loop's iteration may be a whole
                // computation: its work counts, not only the trip count.
                // Only the outermost get threads: one inside another loop
                // would start the pool once per iteration of that loop.
                // The estimates walk the whole body: only for a loop that
                // may get threads.
                let may_thread = self.mode == Mode::Entry && self.options.parallel;
                let outer_independent = may_thread && hint.independent && self.loop_depth == 0;
                let per_iteration = if outer_independent { self.work(body).max(1) } else { 1 };
                let worth_threads = match trip {
                    Some(n) => n >= 2 && n.saturating_mul(per_iteration) >= self.options.parallel_threshold,
                    None => self.loop_depth == 0 || self.nested_kernels,
                };
                let threads = hint.parallel || (outer_independent && !self.starves_inner_loops(trip, body));
                self.loop_depth += 1;
                let done = if may_thread && threads && worth_threads {
                    self.parallel_for(*index, (start, end), body, hint, trip.is_some(), per_iteration)
                } else {
                    self.for_loop(*index, start, end, body, hint)
                };
                self.loop_depth -= 1;
                done?;
            }
            Inst::While { cond, test, body } => {
                self.anchor_invariants(cond);
                self.anchor_invariants(body);
                let (head, body_block, exit) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.ins().jump(head, &[]);
                self.b.switch_to_block(head);
                self.block(cond)?;
                if self.b.is_unreachable() {
                    // The condition always fails: no test, no body, and
                    // nothing after the loop runs.
                    return Ok(());
                }
                let test = self.operand(*test);
                // The exit first, as in `counted_loop`.
                let done = self.negation(test);
                self.b.ins().brif(done, exit, &[], body_block, &[]);
                self.b.switch_to_block(body_block);
                self.loop_depth += 1;
                let done = self.block(body);
                self.loop_depth -= 1;
                done?;
                self.jump(head);
                self.b.switch_to_block(exit);
            }
            Inst::Call { func, args, result } => {
                let args: Vec<Value> = args.iter().map(|a| self.operand(*a)).collect();
                let r = match (inline_elementary(func), &args[..]) {
                    (Some(kind), [x]) => Some(self.elementary(kind, *x)?),
                    (None, [x, y]) if *func == "dl_pow" => Some(self.pow(*x, *y)?),
                    _ => self.call(func, &args)?,
                };
                if let Some(var) = result {
                    let r = r.ok_or_else(|| CodegenError(format!("`{func}` returns nothing")))?;
                    if *func == "dl_result_alloc" {
                        self.fail_if_null(r, args[0]);
                    }
                    self.set(*var, r);
                }
            }
            Inst::ArenaMark(var) => {
                let mark = self.arena_mark();
                self.set(*var, mark);
            }
            Inst::ArenaRelease(mark) => {
                let mark = self.operand(*mark);
                self.arena_release(mark)?;
            }
            Inst::Fail { kind, loc, values } => {
                let values: Vec<Value> = values.iter().map(|o| self.operand(*o)).collect();
                self.raise(*kind, i64::from(*loc), &values);
                // The code after it in its LIR block is left out
                // ([`Emitter::block`]); what encloses it still needs a
                // block, which is sealed without predecessors, so that it
                // reads no variable and jumps nowhere ([`Emitter::jump`]).
                let rest = self.b.create_block();
                self.b.switch_to_block(rest);
                self.b.seal_block(rest);
            }
        }
        Ok(())
    }

    fn expr(&mut self, expr: &Expr) -> R<Value> {
        Ok(match expr {
            Expr::Atom(o) => self.operand(*o),
            Expr::Unary(op, a) => {
                let a = self.operand(*a);
                self.unary(*op, a)
            }
            Expr::Binary(BinOp::SizeMul, x, Operand::I64(size))
            | Expr::Binary(BinOp::SizeMul, Operand::I64(size), x)
                if *size > 0 =>
            {
                let x = self.operand(*x);
                self.size_times(x, *size)
            }
            Expr::Binary(op, a, b) => {
                let (a, b) = (self.operand(*a), self.operand(*b));
                self.binary(*op, a, b)
            }
            Expr::Select(c, a, b) => {
                let (c, a, b) = (self.operand(*c), self.operand(*a), self.operand(*b));
                self.b.ins().select(c, a, b)
            }
            Expr::Load { ty, base, index } => {
                let (base, index) = (self.operand(*base), self.operand(*index));
                let at = self.address(*ty, base, index);
                self.b.ins().load(var_type(*ty), MemFlagsData::trusted(), at, 0)
            }
            Expr::Offset { ty, base, index } => {
                let (base, index) = (self.operand(*base), self.operand(*index));
                self.address(*ty, base, index)
            }
            Expr::Alloc { ty, n } => {
                if let Some(slot) = self.stack_buffers.get(&(expr as *const Expr)).copied() {
                    let ptr = self.pointer_type();
                    return Ok(self.b.ins().stack_addr(ptr, slot, 0));
                }
                let n = self.operand(*n);
                let bytes = self.size_times(n, ty.size());
                let buffer = self.arena_alloc(bytes)?;
                self.fail_if_null(buffer, bytes);
                buffer
            }
        })
    }

    /// A scalar binary operation, with the interpreter's semantics; also
    /// used lane-wise on `f64x2` for the float arithmetic.
    fn binary(&mut self, op: BinOp, a: Value, b: Value) -> Value {
        use BinOp::*;
        let ins = self.b.ins();
        match op {
            FAdd => ins.fadd(a, b),
            FSub => ins.fsub(a, b),
            FMul => ins.fmul(a, b),
            FDiv => ins.fdiv(a, b),
            // IEEE 754-2019 minimum and maximum: NaN-propagating, -0 < +0.
            FMin => ins.fmin(a, b),
            FMax => ins.fmax(a, b),
            IAdd => ins.iadd(a, b),
            ISub => ins.isub(a, b),
            IMul => ins.imul(a, b),
            SizeMul => {
                // The product overflows when its high half is not the
                // sign extension of its low half; a negative operand, as
                // an overflow, gives the maximum.
                let low = ins.imul(a, b);
                let high = self.b.ins().smulhi(a, b);
                let sign = self.b.ins().sshr_imm_u(low, 63);
                let overflow = self.b.ins().icmp(IntCC::NotEqual, high, sign);
                let either = self.b.ins().bor(a, b);
                let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, either, 0);
                let bad = self.b.ins().bor(overflow, negative);
                let max = self.b.ins().iconst(types::I64, i64::MAX);
                self.b.ins().select(bad, max, low)
            }
            IDiv | IRem => self.division(op, a, b),
            IMin => ins.smin(a, b),
            IMax => ins.smax(a, b),
            FEq => ins.fcmp(FloatCC::Equal, a, b),
            // `!=` is true when either side is NaN.
            FNe => ins.fcmp(FloatCC::NotEqual, a, b),
            FLt => ins.fcmp(FloatCC::LessThan, a, b),
            FLe => ins.fcmp(FloatCC::LessThanOrEqual, a, b),
            FGt => ins.fcmp(FloatCC::GreaterThan, a, b),
            FGe => ins.fcmp(FloatCC::GreaterThanOrEqual, a, b),
            IEq | BEq => ins.icmp(IntCC::Equal, a, b),
            INe | BNe => ins.icmp(IntCC::NotEqual, a, b),
            ILt => ins.icmp(IntCC::SignedLessThan, a, b),
            ILe => ins.icmp(IntCC::SignedLessThanOrEqual, a, b),
            IGt => ins.icmp(IntCC::SignedGreaterThan, a, b),
            IGe => ins.icmp(IntCC::SignedGreaterThanOrEqual, a, b),
            And => ins.band(a, b),
            Or => ins.bor(a, b),
        }
    }

    /// Truncating division and remainder that wrap like Rust's
    /// `wrapping_div`: `sdiv` traps on `i64::MIN / -1`, so a divisor of -1
    /// (or 0, which the lowering has ruled out) divides by 1 instead and
    /// the quotient is negated.
    fn division(&mut self, op: BinOp, a: Value, b: Value) -> Value {
        let plus_one = self.b.ins().iadd_imm_s(b, 1);
        // b + 1 <= 1 (unsigned) exactly when b is -1 or 0.
        let special = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThanOrEqual, plus_one, 1);
        let one = self.b.ins().iconst(types::I64, 1);
        let divisor = self.b.ins().select(special, one, b);
        if op == BinOp::IDiv {
            let q = self.b.ins().sdiv(a, divisor);
            let negated = self.b.ins().ineg(a);
            let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
            self.b.ins().select(minus_one, negated, q)
        } else {
            // x % 1 == x % -1 == 0.
            self.b.ins().srem(a, divisor)
        }
    }

    fn unary(&mut self, op: UnOp, a: Value) -> Value {
        use UnOp::*;
        match op {
            FNeg => self.b.ins().fneg(a),
            FAbs => self.b.ins().fabs(a),
            FSqrt => self.b.ins().sqrt(a),
            FFloor => self.b.ins().floor(a),
            FCeil => self.b.ins().ceil(a),
            FSign => {
                // 1 above zero, -1 below, and zeros and NaN unchanged.
                let zero = self.b.ins().f64const(0.0);
                let (one, minus_one) = (self.b.ins().f64const(1.0), self.b.ins().f64const(-1.0));
                let below = self.b.ins().fcmp(FloatCC::LessThan, a, zero);
                let rest = self.b.ins().select(below, minus_one, a);
                let above = self.b.ins().fcmp(FloatCC::GreaterThan, a, zero);
                self.b.ins().select(above, one, rest)
            }
            INeg => self.b.ins().ineg(a),
            IAbs => self.b.ins().iabs(a),
            ISign => {
                let low = self.b.ins().iconst(types::I64, -1);
                let high = self.b.ins().iconst(types::I64, 1);
                let clamped = self.b.ins().smax(a, low);
                self.b.ins().smin(clamped, high)
            }
            Not => {
                let one = self.b.ins().iconst(types::I8, 1);
                self.b.ins().bxor(a, one)
            }
            IToF => self.b.ins().fcvt_from_sint(types::F64, a),
            // The lowering checked NaN and the range: saturation never
            // happens, and `as i64` truncates the same way.
            FToI => self.b.ins().fcvt_to_sint_sat(types::I64, a),
            BToI => self.b.ins().uextend(types::I64, a),
        }
    }

    /// The identity of a reduction operator, as a scalar.
    fn identity(&mut self, op: BinOp) -> Value {
        match op {
            // -0 + x == x for every x, +0 + -0 is +0.
            BinOp::FAdd => self.b.ins().f64const(-0.0),
            BinOp::FMul => self.b.ins().f64const(1.0),
            BinOp::FMin => self.b.ins().f64const(f64::INFINITY),
            BinOp::FMax => self.b.ins().f64const(f64::NEG_INFINITY),
            BinOp::IAdd => self.b.ins().iconst(types::I64, 0),
            BinOp::IMul => self.b.ins().iconst(types::I64, 1),
            BinOp::IMin => self.b.ins().iconst(types::I64, i64::MAX),
            BinOp::IMax => self.b.ins().iconst(types::I64, i64::MIN),
            other => unreachable!("{other:?} is not a reduction operator"),
        }
    }

    /// `for index in start..end { body }`, with vector lanes when the hint
    /// and the body allow them.
    fn for_loop(&mut self, index: Var, start: Value, end: Value, body: &[Inst], hint: &LoopHint) -> R<()> {
        self.place_iteration_buffers(body);
        self.anchor_invariants(body);
        let mut start = start;
        if self.options.vectorize && hint.vector {
            if let Some(plan) = vector_plan(body, index, hint, self.func, &self.outside_reads(body)) {
                start = self.vector_loop(&plan, start, end, body, hint)?;
            }
        }
        self.scalar_loop(index, start, end, body)
    }

    /// The negation of the boolean `test`: a comparison with the
    /// complemented condition when a comparison computes it (one
    /// compare and branch), else a comparison with zero.
    fn negation(&mut self, test: Value) -> Value {
        if let ValueDef::Result(inst, _) = self.b.func.dfg.value_def(test) {
            match self.b.func.dfg.insts[inst] {
                InstructionData::IntCompare { cond, args, .. } => {
                    return self.b.ins().icmp(cond.complement(), args[0], args[1]);
                }
                InstructionData::FloatCompare { cond, args, .. } => {
                    return self.b.ins().fcmp(cond.complement(), args[0], args[1]);
                }
                _ => {}
            }
        }
        self.b.ins().icmp_imm_s(IntCC::Equal, test, 0)
    }

    /// Pins the values computed before a loop that its body reads where
    /// they are computed. Cranelift places a pure instruction at its first
    /// use and hoists it out of loops by where its operands are; a float
    /// constant operand, placed again in each block, keeps an invariant
    /// division in the loop that uses it. A store of the value, which
    /// stays where it is, makes the value's own block compute it.
    fn anchor_invariants(&mut self, body: &[Inst]) {
        let mut read = HashSet::default();
        crate::lower::lir::each_read(body, &mut |v| {
            read.insert(v);
        });
        let mut assigned = HashSet::default();
        assigns(body, &mut assigned);
        let mut vars: Vec<Var> = read.difference(&assigned).copied().collect();
        vars.sort_by_key(|v| v.0);
        for v in vars {
            let at = v.0 as usize;
            let Some(value) = self.values[at].filter(|_| self.single[at]) else {
                continue;
            };
            let computed = self.b.func.dfg.value_type(value) == types::F64
                && match self.b.func.dfg.value_def(value) {
                    ValueDef::Result(inst, _) => {
                        let op = self.b.func.dfg.insts[inst].opcode();
                        !(op.can_load() || op.is_call() || op.other_side_effects() || op == Opcode::F64const)
                    }
                    _ => false,
                };
            if computed {
                let slot = *self.anchor.get_or_insert_with(|| {
                    self.b
                        .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 8, 3))
                });
                let pointer = self.pointer_type();
                self.b.ins().stack_store(pointer, value, slot, 0);
            }
        }
    }

    /// Gives the small buffers of a loop's iteration stack slots: in a body
    /// that marks the arena and releases the mark last, whatever it
    /// allocates after the mark once per iteration (not in a nested loop)
    /// with a count known now is dead when the iteration ends, so one slot
    /// serves every iteration. A row of a few coordinates then costs no
    /// call, and no call spills the body's values.
    fn place_iteration_buffers(&mut self, body: &[Inst]) {
        let Some(Inst::ArenaRelease(Operand::Var(released))) = body.last() else {
            return;
        };
        let Some(marked) = body
            .iter()
            .position(|inst| matches!(inst, Inst::ArenaMark(mark) if mark == released))
        else {
            return;
        };
        let mut allocations = Vec::new();
        once_per_iteration_allocations(&body[marked..], &mut allocations);
        for expr in allocations {
            let Expr::Alloc { ty, n } = expr else { continue };
            let Some(bytes) = self.integer(*n).and_then(|n| n.checked_mul(ty.size())) else {
                continue;
            };
            if !(0..=STACK_BUFFER_BYTES).contains(&bytes) || self.stack_buffer_bytes + bytes > STACK_BUFFERS_BYTES {
                continue;
            }
            self.stack_buffer_bytes += bytes;
            let size = u32::try_from(bytes.max(8)).expect("a small buffer");
            let slot = self
                .b
                .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 4));
            self.stack_buffers.insert(expr as *const Expr, slot);
        }
    }

    fn scalar_loop(&mut self, index: Var, start: Value, end: Value, body: &[Inst]) -> R<()> {
        let i = self.vars[index.0 as usize];
        // The one iteration left after lanes of a known, odd trip count.
        if let (Some(first), Some(last)) = (self.constant(start), self.constant(end)) {
            if last.checked_sub(first) == Some(1) {
                self.b.def_var(i, start);
                return self.block(body);
            }
        }
        self.counted_loop(i, start, end, 1, |e, _| e.block(body))
    }

    /// `counter = start; while counter + step <= end { body(counter);
    /// counter += step }`: the loop runs whole steps before `end`.
    fn counted_loop(
        &mut self,
        counter: Variable,
        start: Value,
        end: Value,
        step: i64,
        body: impl FnOnce(&mut Self, Value) -> R<()>,
    ) -> R<()> {
        self.b.def_var(counter, start);
        // `end - step` cannot overflow for a loop over buffer indices.
        let (cc, limit) = if step == 1 {
            (IntCC::SignedLessThan, end)
        } else {
            (IntCC::SignedLessThanOrEqual, self.b.ins().iadd_imm_s(end, -step))
        };
        let (head, body_block, exit) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        let at = self.b.use_var(counter);
        let done = self.b.ins().icmp(cc.complement(), at, limit);
        self.b.ins().brif(done, exit, &[], body_block, &[]);
        // The exit is the first target: Cranelift then visits the body
        // before the exit, and hoists invariants out of the loop; it
        // hoists nothing out of a loop whose exit it visits first.
        self.b.switch_to_block(body_block);
        body(self, at)?;
        if !self.b.is_unreachable() {
            // The body never assigns the counter, but its code may have
            // replaced the variable's value in another block: read it again.
            let at = self.b.use_var(counter);
            let next = self.b.ins().iadd_imm_s(at, step);
            self.b.def_var(counter, next);
        }
        self.jump(head);
        self.b.switch_to_block(exit);
        Ok(())
    }

    /// The variables `body` (the body of one loop) assigns that are read
    /// anywhere in the function outside it, results included: whether a
    /// loop may run in lanes or threads depends on these alone.
    fn outside_reads(&mut self, body: &[Inst]) -> HashSet<Var> {
        let key = body.as_ptr();
        if let Some(set) = self.read_outside.get(&key) {
            return set.clone();
        }
        let func = self.func;
        let reads = self.reads.get_or_insert_with(|| Reads::of(func));
        // A body that is not part of the function (a kernel's copy of a
        // loop) hides no read.
        let mut inside = HashMap::default();
        if reads.blocks.contains(&key) {
            each_read(body, &mut |v| *inside.entry(v).or_insert(0) += 1);
        }
        let mut assigned = HashSet::default();
        assigns(body, &mut assigned);
        let set: HashSet<Var> = assigned
            .into_iter()
            .filter(|v| reads.total.get(v).copied().unwrap_or(0) > inside.get(v).copied().unwrap_or(0))
            .collect();
        self.read_outside.insert(key, set.clone());
        set
    }

    /// The vector part of a loop: iterations from `start` in steps of two
    /// lanes times the unrolling, while they fit before `end`, then pairs
    /// one at a time; returns where the scalar remainder starts. Reductions
    /// keep one `f64x2` accumulator per unrolled copy, combined into the
    /// scalar one after. A body
    /// whose elementary functions can be staged runs whole blocks of
    /// [`STAGED_BLOCK`] iterations first ([`Emitter::staged_loop`]).
    fn vector_loop(&mut self, plan: &VectorPlan, start: Value, end: Value, body: &[Inst], hint: &LoopHint) -> R<Value> {
        // Minima and maxima in lanes take `minpd`/`maxpd`, which skip NaNs
        // and may keep -0 over +0 where `fmin`/`fmax` would not: a chain of
        // one instruction instead of eight. Either case can change the
        // result only when a NaN was seen or the result is zero; then the
        // scalar loop computes the lanes' iterations again, which a body
        // that stores nothing allows.
        let extrema = hint
            .reductions
            .iter()
            .any(|(_, op)| matches!(op, BinOp::FMin | BinOp::FMax))
            && !body.iter().any(|inst| matches!(inst, Inst::Store { .. }));
        if !extrema {
            return self.vector_lanes(plan, start, end, body, hint);
        }
        let before: Vec<(Var, Value)> = hint.reductions.iter().map(|(acc, _)| (*acc, self.get(*acc))).collect();
        let nan_lanes = self.b.declare_var(types::I64X2);
        let none = self.b.ins().iconst(types::I64, 0);
        let none = self.b.ins().splat(types::I64X2, none);
        self.b.def_var(nan_lanes, none);
        self.nan_lanes = Some(nan_lanes);
        let lanes_end = self.vector_lanes(plan, start, end, body, hint);
        self.nan_lanes = None;
        let lanes_end = lanes_end?;
        let seen = self.b.use_var(nan_lanes);
        let mut again = self.b.ins().vany_true(seen);
        for (acc, op) in &hint.reductions {
            if matches!(op, BinOp::FMin | BinOp::FMax) {
                let value = self.get(*acc);
                let zero = self.float(types::F64, 0.0);
                let zero = self.b.ins().fcmp(FloatCC::Equal, value, zero);
                again = self.b.ins().bor(again, zero);
            }
        }
        let (redo, join) = (self.b.create_block(), self.b.create_block());
        let resume = self.b.append_block_param(join, types::I64);
        self.b.ins().brif(again, redo, &[], join, &[lanes_end.into()]);
        self.b.switch_to_block(redo);
        for (acc, value) in before {
            self.set(acc, value);
        }
        self.b.ins().jump(join, &[start.into()]);
        self.b.switch_to_block(join);
        Ok(resume)
    }

    /// The vector part of a loop ([`Emitter::vector_loop`]), before the
    /// check that decides whether fast minima and maxima need a second,
    /// scalar pass.
    fn vector_lanes(
        &mut self,
        plan: &VectorPlan,
        start: Value,
        end: Value,
        body: &[Inst],
        hint: &LoopHint,
    ) -> R<Value> {
        let mut start = start;
        let short = matches!(self.constant(start).zip(self.constant(end)), Some((s, e)) if e - s < STAGED_BLOCK);
        if !short {
            let reductions = plan.reductions.keys().copied().collect();
            if let Some(staging) = staging::stage(body, &reductions) {
                start = self.staged_loop(plan, &staging, start, end, hint)?;
            }
        }
        // Several accumulators hide the latency of a cheap body's
        // reduction, and two copies of a map halve the counting; a body
        // that computes `exp` or `pow` hides both itself, and copies of it
        // would only lengthen the compile.
        let heavy = body.iter().any(|inst| matches!(inst, Inst::Call { .. }));
        let copies: i64 = if heavy {
            1
        } else if hint.reductions.is_empty() {
            2
        } else {
            4
        };
        if let (Some(first), Some(last), false) = (self.constant(start), self.constant(end), heavy) {
            if last
                .checked_sub(first)
                .is_some_and(|n| (0..=2 * UNROLLED_PAIRS).contains(&n))
            {
                return self.unrolled_lanes(plan, first, last, body, hint, copies);
            }
        }
        let i = self.b.declare_var(types::I64);
        let accumulators = self.lane_accumulators(hint, copies);
        self.counted_loop(i, start, end, 2 * copies, |e, at| {
            for copy in 0..copies {
                let lane_index = e.b.ins().iadd_imm_s(at, 2 * copy);
                let accs: Vec<Variable> = accumulators.iter().map(|a| a[copy as usize]).collect();
                e.vector_body(plan, body, lane_index, &accs, None)?;
            }
            Ok(())
        })?;
        if copies > 1 {
            // The last pairs, one at a time, before the scalar remainder.
            let rest = self.b.use_var(i);
            let j = self.b.declare_var(types::I64);
            let accs: Vec<Variable> = accumulators.iter().map(|a| a[0]).collect();
            self.counted_loop(j, rest, end, 2, |e, at| {
                e.vector_body(plan, body, at, &accs, None).map(|_| ())
            })?;
            let after = self.b.use_var(j);
            self.b.def_var(i, after);
        }
        self.combine_lanes(hint, &accumulators);
        Ok(self.b.use_var(i))
    }

    /// The vector part of a loop from `first` to `last`, both known and
    /// close: its pairs of lanes one after the other, without a loop (a
    /// row of a few elements, which a loop would spend as much on counting
    /// as on computing). Returns where the scalar remainder starts.
    fn unrolled_lanes(
        &mut self,
        plan: &VectorPlan,
        first: i64,
        last: i64,
        body: &[Inst],
        hint: &LoopHint,
        copies: i64,
    ) -> R<Value> {
        let pairs = (last - first) / 2;
        // No more accumulators than pairs, and one for none.
        let copies = copies.min(pairs).max(1);
        let accumulators = self.lane_accumulators(hint, copies);
        for pair in 0..pairs {
            let lane_index = self.b.ins().iconst(types::I64, first + 2 * pair);
            let copy = (pair % copies) as usize;
            let accs: Vec<Variable> = accumulators.iter().map(|a| a[copy]).collect();
            self.vector_body(plan, body, lane_index, &accs, None)?;
        }
        self.combine_lanes(hint, &accumulators);
        Ok(self.b.ins().iconst(types::I64, first + 2 * pairs))
    }

    /// Whole blocks of [`STAGED_BLOCK`] iterations from `start` while they
    /// fit before `end`, the staged calls computed by the runtime's kernels:
    /// for each block, the calls' arguments in lanes into stack buffers,
    /// the kernels on the buffers, then the rest of the body in lanes
    /// reading the results back. Returns where the blocks stop.
    fn staged_loop(
        &mut self,
        plan: &VectorPlan,
        staging: &Staging,
        start: Value,
        end: Value,
        hint: &LoopHint,
    ) -> R<Value> {
        let bytes = u32::try_from(STAGED_BLOCK * 8).expect("a small block");
        let slots: Vec<StackSlot> = staging
            .calls
            .iter()
            .map(|_| {
                self.b
                    .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 4))
            })
            .collect();
        let staged: HashMap<Var, StackSlot> = staging.calls.iter().map(|(var, ..)| *var).zip(slots.clone()).collect();
        let heavy = staging.after.iter().any(|inst| match inst {
            Inst::Call { result: Some(var), .. } => !staged.contains_key(var),
            _ => false,
        });
        let copies: i64 = if hint.reductions.is_empty() || heavy { 1 } else { 4 };
        // The running accumulators stay in a stack slot between blocks:
        // the kernel calls leave no vector register unclobbered, and as
        // variables live across the block's loops they were loaded and
        // stored at every step. Each block reduces into fresh ones and
        // adds them into the slot at its end.
        let accumulators = self.lane_accumulators(hint, copies);
        let running = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            u32::try_from(16 * copies as usize * accumulators.len()).expect("a few accumulators"),
            4,
        ));
        let ptr = self.pointer_type();
        let running_at = |k: usize, copy: i64| i32::try_from(16 * (k as i64 * copies + copy)).expect("a small slot");
        for (k, accs) in accumulators.iter().enumerate() {
            for (copy, acc) in (0..copies).zip(accs) {
                let value = self.b.use_var(*acc);
                self.b.ins().stack_store(ptr, value, running, running_at(k, copy));
            }
        }
        let block = self.b.declare_var(types::I64);
        self.counted_loop(block, start, end, STAGED_BLOCK, |e, base| {
            let zero = e.b.ins().iconst(types::I64, 0);
            let size = e.b.ins().iconst(types::I64, STAGED_BLOCK);
            let j = e.b.declare_var(types::I64);
            // Four copies a step: the loop's own instructions would
            // otherwise cost as much as the body's.
            e.counted_loop(j, zero, size, 2 * STAGING_COPIES, |e, at| {
                for copy in 0..STAGING_COPIES {
                    let at = e.b.ins().iadd_imm_s(at, 2 * copy);
                    let lane_index = e.b.ins().iadd(base, at);
                    let lanes = e.vector_body(plan, &staging.before, lane_index, &[], None)?;
                    let offset = e.b.ins().ishl_imm_u(at, 3);
                    for ((_, arg, _), slot) in staging.calls.iter().zip(&slots) {
                        let value = e.lanes(&lanes, *arg);
                        let at = e.slot_address(*slot, offset);
                        e.b.ins().store(MemFlagsData::trusted(), value, at, 0);
                    }
                }
                Ok(())
            })?;
            for ((_, _, kernel), slot) in staging.calls.iter().zip(&slots) {
                let buffer = e.slot_address(*slot, zero);
                e.call(kernel, &[size, buffer, buffer])?;
            }
            let local = e.lane_accumulators(hint, copies);
            let j = e.b.declare_var(types::I64);
            e.counted_loop(j, zero, size, 2 * copies, |e, at| {
                for copy in 0..copies {
                    let at = e.b.ins().iadd_imm_s(at, 2 * copy);
                    let lane_index = e.b.ins().iadd(base, at);
                    let offset = e.b.ins().ishl_imm_u(at, 3);
                    let accs: Vec<Variable> = local.iter().map(|a| a[copy as usize]).collect();
                    e.vector_body(plan, &staging.after, lane_index, &accs, Some((&staged, offset)))?;
                }
                Ok(())
            })?;
            for (k, ((_, op), block)) in hint.reductions.iter().zip(&local).enumerate() {
                for (copy, l) in (0..copies).zip(block) {
                    let a = e.b.ins().stack_load(ptr, types::F64X2, running, running_at(k, copy));
                    let b = e.b.use_var(*l);
                    let sum = e.binary(*op, a, b);
                    e.b.ins().stack_store(ptr, sum, running, running_at(k, copy));
                }
            }
            Ok(())
        })?;
        for (k, accs) in accumulators.iter().enumerate() {
            for (copy, acc) in (0..copies).zip(accs) {
                let value = self.b.ins().stack_load(ptr, types::F64X2, running, running_at(k, copy));
                self.b.def_var(*acc, value);
            }
        }
        self.combine_lanes(hint, &accumulators);
        Ok(self.b.use_var(block))
    }

    /// The address `offset` bytes into a stack slot.
    fn slot_address(&mut self, slot: StackSlot, offset: Value) -> Value {
        let ptr = self.pointer_type();
        let base = self.b.ins().stack_addr(ptr, slot, 0);
        self.b.ins().iadd(base, offset)
    }

    fn pointer_type(&self) -> Type {
        self.module.target_config().pointer_type()
    }

    /// The value of `v` when it is an integer constant.
    fn constant(&self, v: Value) -> Option<i64> {
        let inst = self.b.func.dfg.value_def(v).inst()?;
        match self.b.func.dfg.insts[inst] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.bits()),
            _ => None,
        }
    }

    /// `copies` `f64x2` accumulators for each reduction of `hint`, at its
    /// identity.
    fn lane_accumulators(&mut self, hint: &LoopHint, copies: i64) -> Vec<Vec<Variable>> {
        let mut accumulators = Vec::new();
        for (_, op) in &hint.reductions {
            let identity = self.identity(*op);
            let lanes = self.b.ins().splat(types::F64X2, identity);
            let accs = (0..copies)
                .map(|_| {
                    let acc = self.b.declare_var(types::F64X2);
                    self.b.def_var(acc, lanes);
                    acc
                })
                .collect();
            accumulators.push(accs);
        }
        accumulators
    }

    /// Combines the lane accumulators of each reduction into its scalar
    /// variable.
    fn combine_lanes(&mut self, hint: &LoopHint, accumulators: &[Vec<Variable>]) {
        for ((acc, op), accs) in hint.reductions.iter().zip(accumulators) {
            let mut total = self.b.use_var(accs[0]);
            for a in &accs[1..] {
                let a = self.b.use_var(*a);
                total = self.binary(*op, total, a);
            }
            let low = self.b.ins().extractlane(total, 0);
            let high = self.b.ins().extractlane(total, 1);
            let lanes = self.binary(*op, low, high);
            let scalar = self.get(*acc);
            let combined = self.binary(*op, scalar, lanes);
            self.set(*acc, combined);
        }
    }

    /// One copy of a vector loop's body: lanes `lane_index` and the next.
    /// The calls in `staged` read their results from their stack buffer,
    /// `offset` bytes in. Returns the lanes of the values the body set.
    fn vector_body(
        &mut self,
        plan: &VectorPlan,
        body: &[Inst],
        lane_index: Value,
        accs: &[Variable],
        staged: Option<(&HashMap<Var, StackSlot>, Value)>,
    ) -> R<HashMap<Var, Value>> {
        let mut lanes: HashMap<Var, Value> = HashMap::default();
        let vector_flags = MemFlagsData::new().with_notrap();
        for inst in body {
            match inst {
                Inst::Set(var, expr) => {
                    if let Some(r) = plan.reductions.get(var) {
                        let Expr::Binary(op, a, b) = expr else {
                            unreachable!("checked by vector_plan")
                        };
                        let x = if *a == Operand::Var(*var) { *b } else { *a };
                        let x = self.lanes(&lanes, x);
                        let acc = self.b.use_var(accs[*r]);
                        let next = match (op, self.nan_lanes) {
                            (BinOp::FMin | BinOp::FMax, Some(nan_lanes)) => {
                                // `x < acc ? x : acc` is `minpd`, `acc < x ?
                                // x : acc` `maxpd`: a NaN `x` keeps `acc`.
                                let (lhs, rhs) = if *op == BinOp::FMin { (x, acc) } else { (acc, x) };
                                let better = self.b.ins().fcmp(FloatCC::LessThan, lhs, rhs);
                                let better = self.b.ins().bitcast(types::F64X2, little_endian(), better);
                                let nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                                let seen = self.b.use_var(nan_lanes);
                                let seen = self.b.ins().bor(seen, nan);
                                self.b.def_var(nan_lanes, seen);
                                self.b.ins().bitselect(better, x, acc)
                            }
                            _ => self.binary(*op, acc, x),
                        };
                        self.b.def_var(accs[*r], next);
                        continue;
                    }
                    if plan.shifts.contains_key(var) {
                        // Loads add the shift to their address.
                        continue;
                    }
                    let v = match expr {
                        Expr::Atom(a) => self.lanes(&lanes, *a),
                        Expr::Unary(UnOp::IToF, _) => {
                            // The lanes' indices as f64s, exact below 2^53.
                            let first = self.b.ins().fcvt_from_sint(types::F64, lane_index);
                            let one = self.b.ins().f64const(1.0);
                            let second = self.b.ins().fadd(first, one);
                            let lanes = self.b.ins().splat(types::F64X2, first);
                            self.b.ins().insertlane(lanes, second, 1)
                        }
                        Expr::Unary(op, a) => {
                            let a = self.lanes(&lanes, *a);
                            self.unary(*op, a)
                        }
                        Expr::Binary(op, a, b) => {
                            let (a, b) = (self.lanes(&lanes, *a), self.lanes(&lanes, *b));
                            self.binary(*op, a, b)
                        }
                        Expr::Select(Operand::Var(c), a, b) => {
                            let mask = lanes[c];
                            let mask = self.b.ins().bitcast(types::F64X2, little_endian(), mask);
                            let (a, b) = (self.lanes(&lanes, *a), self.lanes(&lanes, *b));
                            self.b.ins().bitselect(mask, a, b)
                        }
                        Expr::Load { base, index, .. } => {
                            let base = self.operand(*base);
                            let at = self.address(Ty::F64, base, lane_index);
                            let shift = match index {
                                Operand::Var(t) => plan.shifts.get(t).copied().unwrap_or(0),
                                _ => 0,
                            };
                            self.b.ins().load(types::F64X2, vector_flags, at, shift)
                        }
                        _ => unreachable!("checked by vector_plan"),
                    };
                    lanes.insert(*var, v);
                }
                Inst::Call {
                    func,
                    args,
                    result: Some(var),
                } => {
                    if let Some((slot, offset)) = staged.and_then(|(slots, offset)| Some((*slots.get(var)?, offset))) {
                        let at = self.slot_address(slot, offset);
                        let v = self.b.ins().load(types::F64X2, MemFlagsData::trusted(), at, 0);
                        lanes.insert(*var, v);
                        continue;
                    }
                    let x = self.lanes(&lanes, args[0]);
                    let v = match inline_elementary(func) {
                        Some(kind) => self.elementary(kind, x)?,
                        None => {
                            let y = self.lanes(&lanes, args[1]);
                            self.pow(x, y)?
                        }
                    };
                    lanes.insert(*var, v);
                }
                Inst::Store { base, index, value, .. } => {
                    let value = self.lanes(&lanes, *value);
                    let base = self.operand(*base);
                    let at = self.address(Ty::F64, base, lane_index);
                    let shift = match index {
                        Operand::Var(t) => plan.shifts.get(t).copied().unwrap_or(0),
                        _ => 0,
                    };
                    self.b.ins().store(vector_flags, value, at, shift);
                }
                _ => unreachable!("checked by vector_plan"),
            }
        }
        Ok(lanes)
    }

    /// `exp`, `log`, `sigmoid` or `tanh` of `x` (one f64 or two lanes) inline: the
    /// runtime's kernel where every lane is in its fast range, the
    /// runtime's function lane by lane elsewhere, so the results are the
    /// interpreter's either way.
    fn elementary(&mut self, kind: Elementary, x: Value) -> R<Value> {
        match kind {
            Elementary::Exp => self.exp(x),
            Elementary::Log => self.guarded("dl_log", x, elementary::log_in_range, elementary::log_kernel),
            Elementary::Tanh => {
                let table = self.exp_table()?;
                self.guarded("dl_tanh", x, elementary::tanh_in_range, |b, x| {
                    elementary::tanh_kernel(b, x, table)
                })
            }
            Elementary::Sigmoid => {
                // As `dl_runtime::math::sigmoid`: e = exp(-|x|), then
                // 1 / (1 + e) for x >= 0 and e / (1 + e) below.
                let ty = self.b.func.dfg.value_type(x);
                let magnitude = self.b.ins().fabs(x);
                let minus = self.b.ins().fneg(magnitude);
                let e = self.exp(minus)?;
                let one = self.float(ty, 1.0);
                let denominator = self.b.ins().fadd(one, e);
                let at_or_above = self.b.ins().fdiv(one, denominator);
                let below = self.b.ins().fdiv(e, denominator);
                let zero = self.float(ty, 0.0);
                let nonnegative = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, zero);
                Ok(if ty.is_vector() {
                    let mask = self.b.ins().bitcast(ty, little_endian(), nonnegative);
                    self.b.ins().bitselect(mask, at_or_above, below)
                } else {
                    self.b.ins().select(nonnegative, at_or_above, below)
                })
            }
        }
    }

    /// The context's arena top and the current chunk's end, base and
    /// position (`dl_runtime::arena::Top`).
    fn arena_field(&mut self, offset: i32) -> Value {
        let ctx = self.ctx();
        self.b.ins().load(types::I64, MemFlagsData::trusted(), ctx, offset)
    }

    /// `dl_alloc(ctx, bytes)`. Its fast path is a few instructions in the
    /// runtime; inline at every allocation it cost a third more Cranelift
    /// time on large gradients for a small gain, unlike marks and releases,
    /// which come once per iteration that allocates.
    fn arena_alloc(&mut self, bytes: Value) -> R<Value> {
        let ctx = self.ctx();
        Ok(self.call("dl_alloc", &[ctx, bytes])?.expect("a pointer"))
    }

    /// The current chunk's base and position, and the bytes used in it.
    fn arena_chunk(&mut self) -> (Value, Value, Value) {
        let top = self.arena_field(context::ARENA_TOP_OFFSET);
        let base = self.arena_field(context::ARENA_BASE_OFFSET);
        let start = self.arena_field(context::ARENA_START_OFFSET);
        let used = self.b.ins().isub(top, base);
        (base, start, used)
    }

    fn set_arena_top(&mut self, top: Value) {
        let ctx = self.ctx();
        self.b
            .ins()
            .store(MemFlagsData::trusted(), top, ctx, context::ARENA_TOP_OFFSET);
    }

    /// `dl_arena_mark(ctx)` inline: the top's position.
    fn arena_mark(&mut self) -> Value {
        let (_, start, used) = self.arena_chunk();
        self.b.ins().iadd(start, used)
    }

    /// `dl_arena_release(ctx, mark)`, inline when the mark is in the current
    /// chunk: a call only to go back to an earlier chunk.
    fn arena_release(&mut self, mark: Value) -> R<()> {
        let (base, start, used) = self.arena_chunk();
        let offset = self.b.ins().isub(mark, start);
        // Unsigned, a mark before the chunk is above `used` too.
        let here = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, offset, used);
        let (fast, slow, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.ins().brif(here, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let new_top = self.b.ins().iadd(base, offset);
        self.set_arena_top(new_top);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(slow);
        let ctx = self.ctx();
        self.call("dl_arena_release", &[ctx, mark])?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        Ok(())
    }

    /// `e^x` inline, reading the runtime's table of powers of two.
    fn exp(&mut self, x: Value) -> R<Value> {
        let table = self.exp_table()?;
        self.guarded("dl_exp", x, elementary::exp_in_range, |b, x| {
            elementary::exp_kernel(b, x, table)
        })
    }

    /// The address of the runtime's table of powers of two for `exp`.
    fn exp_table(&mut self) -> R<Value> {
        let table = match self.exp_table {
            Some(gv) => gv,
            None => {
                let id = self
                    .module
                    .declare_data(abi::EXP_TABLE_SYMBOL, Linkage::Import, false, false)?;
                let gv = self.module.declare_data_in_func(id, self.b.func);
                self.exp_table = Some(gv);
                gv
            }
        };
        Ok(self.b.ins().symbol_value(types::I64, table))
    }

    /// Returns status 1 from the entry point, after freeing the result
    /// memory it took so far (null, and so nothing, where it took none).
    fn fail_return(&mut self) -> R<()> {
        for var in self.result_buffers.clone() {
            let buffer = self.get(var);
            self.call("dl_result_free", &[buffer])?;
        }
        let failed = self.b.ins().iconst(types::I32, 1);
        self.b.ins().return_(&[failed]);
        Ok(())
    }

    /// `x ** y` inline for a small non-negative integer `y`, else the
    /// runtime's `dl_pow`. Exponents below 128 (the usual ones) take two
    /// squaring steps fewer than the largest.
    fn pow(&mut self, x: Value, y: Value) -> R<Value> {
        if self.b.func.dfg.value_type(x).is_vector() {
            return self.pow_lanes(x, y);
        }
        let inside = elementary::pow_in_range(&mut self.b, y);
        self.either(
            types::F64,
            inside,
            |e| {
                let limit = e.b.ins().f64const(128.0);
                let below = e.b.ins().fcmp(FloatCC::LessThan, y, limit);
                e.either(
                    types::F64,
                    below,
                    |e| Ok(elementary::pow_kernel(&mut e.b, x, y, 7)),
                    |e| Ok(elementary::pow_kernel(&mut e.b, x, y, elementary::POW_BITS)),
                )
            },
            |e| Ok(e.call("dl_pow", &[x, y])?.expect("a result")),
        )
    }

    /// [`Emitter::pow`] on two lanes: repeated squaring in both lanes at
    /// once when both exponents are small non-negative integers, else the
    /// runtime's `pow` lane by lane.
    fn pow_lanes(&mut self, x: Value, y: Value) -> R<Value> {
        let exponents = [self.b.ins().extractlane(y, 0), self.b.ins().extractlane(y, 1)];
        let inside = exponents.map(|yi| elementary::pow_in_range(&mut self.b, yi));
        let both_inside = self.b.ins().band(inside[0], inside[1]);
        self.either(
            types::F64X2,
            both_inside,
            |e| {
                let n = exponents.map(|yi| e.b.ins().fcvt_to_sint_sat(types::I64, yi));
                let lanes = e.b.ins().splat(types::I64X2, n[0]);
                let n_lanes = e.b.ins().insertlane(lanes, n[1], 1);
                let limit = e.b.ins().iconst(types::I64, 128);
                let below = n.map(|ni| e.b.ins().icmp(IntCC::SignedLessThan, ni, limit));
                let both_below = e.b.ins().band(below[0], below[1]);
                e.either(
                    types::F64X2,
                    both_below,
                    |e| Ok(elementary::pow_by_bits(&mut e.b, x, n_lanes, 7)),
                    |e| Ok(elementary::pow_by_bits(&mut e.b, x, n_lanes, elementary::POW_BITS)),
                )
            },
            |e| {
                // Rare: the runtime's `pow` lane by lane keeps the code small.
                let mut r = x;
                for lane in 0..2u8 {
                    let xi = e.b.ins().extractlane(x, lane);
                    let ri = e
                        .call("dl_pow", &[xi, exponents[usize::from(lane)]])?
                        .expect("a result");
                    r = e.b.ins().insertlane(r, ri, lane);
                }
                Ok(r)
            },
        )
    }

    /// `kernel(x)` when `in_range(x)` holds for every lane, else the
    /// runtime function `name` on each lane.
    fn guarded(
        &mut self,
        name: &str,
        x: Value,
        in_range: fn(&mut FunctionBuilder, Value) -> Value,
        kernel: impl FnOnce(&mut FunctionBuilder, Value) -> Value,
    ) -> R<Value> {
        let ty = self.b.func.dfg.value_type(x);
        let inside = in_range(&mut self.b, x);
        self.either(
            ty,
            inside,
            |e| Ok(kernel(&mut e.b, x)),
            |e| {
                if !ty.is_vector() {
                    return Ok(e.call(name, &[x])?.expect("a result"));
                }
                let mut y = x;
                for lane in 0..2u8 {
                    let xi = e.b.ins().extractlane(x, lane);
                    let yi = e.call(name, &[xi])?.expect("a result");
                    y = e.b.ins().insertlane(y, yi, lane);
                }
                Ok(y)
            },
        )
    }

    /// The value of type `ty` that `then` computes where `condition`
    /// holds and `otherwise` computes elsewhere, each in a block of its own.
    fn either(
        &mut self,
        ty: Type,
        condition: Value,
        then: impl FnOnce(&mut Self) -> R<Value>,
        otherwise: impl FnOnce(&mut Self) -> R<Value>,
    ) -> R<Value> {
        let (yes, no, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        let result = self.b.append_block_param(done, ty);
        self.b.ins().brif(condition, yes, &[], no, &[]);
        self.b.switch_to_block(yes);
        let value = then(self)?;
        self.b.ins().jump(done, &[BlockArg::Value(value)]);
        self.b.switch_to_block(no);
        let value = otherwise(self)?;
        self.b.ins().jump(done, &[BlockArg::Value(value)]);
        self.b.switch_to_block(done);
        Ok(result)
    }

    /// The f64 constant `x`, splatted for a vector type.
    fn float(&mut self, ty: Type, x: f64) -> Value {
        let scalar = self.b.ins().f64const(x);
        if ty.is_vector() {
            self.b.ins().splat(ty, scalar)
        } else {
            scalar
        }
    }

    /// An operand as two lanes: a lane value of this iteration, or an
    /// invariant splatted.
    fn lanes(&mut self, lanes: &HashMap<Var, Value>, o: Operand) -> Value {
        if let Operand::Var(v) = o {
            if let Some(x) = lanes.get(&v) {
                return *x;
            }
        }
        let scalar = self.operand(o);
        self.b.ins().splat(types::F64X2, scalar)
    }

    /// The free variables of a parallel loop's body (those it reads, but
    /// for those it assigns once), or `None` when it
    /// cannot leave the calling thread: a variable assigned in the body
    /// and read after it (other than a reduction) would need the last
    /// iteration's value.
    fn parallel_plan(&mut self, index: Var, body: &[Inst], hint: &LoopHint) -> Option<Vec<Var>> {
        let mut assigned = HashSet::default();
        assigns(body, &mut assigned);
        let reductions: HashSet<Var> = hint.reductions.iter().map(|(v, _)| *v).collect();
        let outside = self.outside_reads(body);
        if assigned
            .iter()
            .any(|v| !reductions.contains(v) && *v != index && outside.contains(v))
        {
            return None;
        }
        let mut read = HashSet::default();
        each_read(body, &mut |v| {
            read.insert(v);
        });
        // What the body assigns once is its iteration's own: set before it
        // is read there (the verifier's rule), and not read after the loop.
        // A variable assigned more than once may also be read on a path
        // that does not assign it, with its value from before the loop.
        let own = |v: &Var| assigned.contains(v) && self.single[v.0 as usize];
        let mut free: Vec<Var> = read
            .into_iter()
            .filter(|v| *v != index && !reductions.contains(v) && !own(v))
            .collect();
        free.sort();
        Some(free)
    }

    /// True when an independent loop of `trip` iterations (if known) would
    /// take threads from parallel loops in its body that get them on
    /// their own: its chunks run those plainly, so a loop of a few rows
    /// would use a few threads where each inner loop uses them all. An
    /// inner loop of a length unknown now counts as short, as in
    /// [`Emitter::work`].
    fn starves_inner_loops(&self, trip: Option<i64>, body: &[Inst]) -> bool {
        if trip.is_some_and(|n| n >= MAX_CHUNKS) {
            return false;
        }
        let mut threaded = false;
        each_inst_deep(body, &mut |inst| {
            if let &Inst::For {
                start, end, ref hint, ..
            } = inst
            {
                let inner = self.integer(start).zip(self.integer(end)).map(|(s, e)| e - s);
                threaded |= hint.parallel && inner.is_some_and(|n| n >= self.options.parallel_threshold);
            }
        });
        threaded
    }

    /// A rough count of the operations one run of `code` performs, to
    /// weigh an independent loop's iterations against the cost of the
    /// pool: a loop of a length unknown now counts [`UNKNOWN_TRIP`]
    /// iterations, a matrix product its multiplications where known, other
    /// calls of whole-buffer kernels [`KERNEL_WORK`].
    fn work(&self, code: &[Inst]) -> i64 {
        let known_or = |o: &Operand, default: i64| self.integer(*o).unwrap_or(default).max(0);
        code.iter()
            .map(|inst| match inst {
                Inst::For { start, end, body, .. } => {
                    let trip = match (self.integer(*start), self.integer(*end)) {
                        (Some(s), Some(e)) => e.saturating_sub(s).max(0),
                        _ => UNKNOWN_TRIP,
                    };
                    trip.saturating_mul(self.work(body)).saturating_add(1)
                }
                Inst::While { cond, body, .. } => {
                    UNKNOWN_TRIP.saturating_mul(self.work(cond).saturating_add(self.work(body)))
                }
                Inst::If { then, els, .. } => self.work(then).max(self.work(els)).saturating_add(1),
                Inst::Call { func, args, .. } => match (*func, &args[..]) {
                    (f, _) if crate::lower::abi::is_scalar_math(f) => 4,
                    ("dl_gemm", [_, _, m, n, k, ..]) => known_or(m, 16)
                        .saturating_mul(known_or(n, 16))
                        .saturating_mul(known_or(k, 16)),
                    _ => KERNEL_WORK,
                },
                Inst::Copy { n, .. } => known_or(n, UNKNOWN_TRIP),
                _ => 1,
            })
            .fold(0, i64::saturating_add)
    }

    /// A parallel loop: below the threshold (of iterations times
    /// `per_iteration`, the estimated work of one) the plain loop; above
    /// it, the body outlined into a kernel run in chunks on the pool (only
    /// that when the trip count is `known_big`). The chunk count depends on
    /// the trip count only, so reductions combine their partial results in
    /// the same order whatever the threads. A body that cannot leave the
    /// calling thread ([`Emitter::parallel_plan`]) runs as a plain loop.
    fn parallel_for(
        &mut self,
        index: Var,
        (start, end): (Value, Value),
        body: &[Inst],
        hint: &LoopHint,
        known_big: bool,
        per_iteration: i64,
    ) -> R<()> {
        let Some(free) = self.parallel_plan(index, body, hint) else {
            return self.for_loop(index, start, end, body, hint);
        };
        let n = self.b.ins().isub(end, start);
        let (threaded, merge) = (self.b.create_block(), self.b.create_block());
        let go = (!known_big).then(|| {
            let fewest = (self.options.parallel_threshold - 1) / per_iteration + 1;
            self.b
                .ins()
                .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, n, fewest.max(2))
        });
        // Summed buffers: their elements (in 8-byte units), each copy's bytes.
        let mut summed = Vec::new();
        for buffer in &hint.summed {
            let bytes = self.operand(buffer.bytes);
            let bytes = self.b.ins().imul_imm_s(bytes, buffer.scale);
            let elements = self.b.ins().iadd_imm_s(bytes, 7);
            let elements = self.b.ins().sshr_imm_s(elements, 3);
            summed.push((buffer.buffer, elements));
        }
        // Whether the chunks add into copies of the summed buffers: only when
        // zeroing and adding up the copies costs at most a quarter of the
        // loop's work, counted in iterations (the estimate of one may be
        // near i64::MAX), and there is more than one thread (on one the
        // copies would be all cost). Else one chunk adds into the buffers
        // themselves: no second, plain copy of the body.
        let copied = match summed.first() {
            Some(&(_, first)) => {
                let elements = summed[1..].iter().fold(first, |all, (_, e)| self.b.ins().iadd(all, *e));
                let copying = self.b.ins().imul_imm_s(elements, 4 * MAX_SUMMED_CHUNKS);
                let copying = self.b.ins().sdiv_imm_s(copying, per_iteration);
                let pays = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, copying, n);
                let threads = self.call("dl_num_threads", &[])?.expect("a count");
                let several = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, threads, 1);
                Some(self.b.ins().band(pays, several))
            }
            None => None,
        };
        match go {
            None => {
                self.b.ins().jump(threaded, &[]);
            }
            Some(go) => {
                let serial = self.b.create_block();
                self.b.ins().brif(go, threaded, &[], serial, &[]);
                self.b.switch_to_block(serial);
                self.for_loop(index, start, end, body, hint)?;
                self.b.ins().jump(merge, &[]);
            }
        }

        self.b.switch_to_block(threaded);
        let id = self.module.declare_function(
            &format!("{}$kernel{}", self.name, self.kernels.len()),
            Linkage::Local,
            &kernel_signature(self.module),
        )?;
        let trusted = MemFlagsData::trusted();
        let partials = env_partials(free.len());
        let summed_at = env_summed(free.len(), hint.reductions.len());
        let size = summed_at as u32 + 16 * summed.len() as u32;
        let slot = self
            .b
            .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 4));
        let ptr = self.module.target_config().pointer_type();
        let env = self.b.ins().stack_addr(ptr, slot, 0);
        let ctx = self.ctx();
        self.b.ins().store(trusted, start, env, ENV_START);
        self.b.ins().store(trusted, end, env, ENV_END);
        let chunks = self.b.ins().sdiv_imm_s(n, (MIN_CHUNK / per_iteration).max(1));
        let most = self.b.ins().iconst(types::I64, MAX_CHUNKS);
        let chunks = self.b.ins().smin(chunks, most);
        let one = self.b.ins().iconst(types::I64, 1);
        let mut chunks = self.b.ins().smax(chunks, one);
        let mark = copied.map(|_| self.arena_mark());
        if let Some(copied) = copied {
            let most = self.b.ins().iconst(types::I64, MAX_SUMMED_CHUNKS);
            let few = self.b.ins().smin(chunks, most);
            chunks = self.b.ins().select(copied, few, one);
            let (copy, share, join) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
            self.b.ins().brif(copied, copy, &[], share, &[]);
            // Each chunk's zeroed copy of each summed buffer.
            self.b.switch_to_block(copy);
            for (k, (_, elements)) in summed.iter().enumerate() {
                let stride = self.b.ins().ishl_imm_s(*elements, 3);
                let bytes = self.b.ins().imul(stride, chunks);
                let copies = self.arena_alloc(bytes)?;
                self.fail_if_null(copies, bytes);
                let all = self.b.ins().imul(*elements, chunks);
                let c = self.b.declare_var(types::I64);
                let zero = self.b.ins().iconst(types::I64, 0);
                self.counted_loop(c, zero, all, 1, |e, at| {
                    let address = e.b.ins().ishl_imm_s(at, 3);
                    let address = e.b.ins().iadd(copies, address);
                    // -0: adding it keeps every value, -0 included.
                    let zero = e.b.ins().f64const(-0.0);
                    e.b.ins().store(trusted, zero, address, 0);
                    Ok(())
                })?;
                self.b.ins().store(trusted, copies, env, summed_at + 16 * k as i32);
                self.b.ins().store(trusted, stride, env, summed_at + 16 * k as i32 + 8);
            }
            self.b.ins().jump(join, &[]);
            // The one chunk's "copy" is the buffer itself.
            self.b.switch_to_block(share);
            for (k, (buffer, _)) in summed.iter().enumerate() {
                let itself = self.get(*buffer);
                let zero = self.b.ins().iconst(types::I64, 0);
                self.b.ins().store(trusted, itself, env, summed_at + 16 * k as i32);
                self.b.ins().store(trusted, zero, env, summed_at + 16 * k as i32 + 8);
            }
            self.b.ins().jump(join, &[]);
            self.b.switch_to_block(join);
        }
        self.b.ins().store(trusted, chunks, env, ENV_CHUNKS);
        for (k, var) in free.iter().enumerate() {
            let mut v = self.get(*var);
            if self.b.func.dfg.value_type(v) == types::I8 {
                v = self.b.ins().uextend(types::I64, v);
            }
            self.b.ins().store(trusted, v, env, ENV_FREE + 8 * k as i32);
        }
        let kernel = self.module.declare_func_in_func(id, self.b.func);
        let kernel_address = self.b.ins().func_addr(ptr, kernel);
        self.call("dl_parallel_chunks", &[ctx, kernel_address, env, chunks])?;
        // An error raised in a chunk: report it as this function's.
        let failed = self.call("dl_has_error", &[ctx])?.expect("a flag");
        let (fail, fine) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(failed, fail, &[], fine, &[]);
        self.b.switch_to_block(fail);
        self.b.set_cold_block(fail);
        self.fail_return()?;
        self.b.switch_to_block(fine);
        // The partial results in chunk order.
        for (r, (acc, op)) in hint.reductions.iter().enumerate() {
            let ty = var_type(self.func.vars[acc.0 as usize].ty);
            let c = self.b.declare_var(types::I64);
            let zero = self.b.ins().iconst(types::I64, 0);
            self.counted_loop(c, zero, chunks, 1, |e, at| {
                let offset = e.b.ins().imul_imm_s(at, 8);
                let address = e.b.ins().iadd(env, offset);
                let at_partial = partials + (r as i64 * MAX_CHUNKS * 8) as i32;
                let partial = e.b.ins().load(ty, trusted, address, at_partial);
                let acc_value = e.get(*acc);
                let combined = e.binary(*op, acc_value, partial);
                e.set(*acc, combined);
                Ok(())
            })?;
        }
        // The copies of the summed buffers, added in chunk order.
        let added = copied.map(|copied| {
            let (add, added) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(copied, add, &[], added, &[]);
            self.b.switch_to_block(add);
            added
        });
        for (k, (buffer, elements)) in summed.iter().enumerate() {
            let copies = self.b.ins().load(types::I64, trusted, env, summed_at + 16 * k as i32);
            let target = self.get(*buffer);
            let c = self.b.declare_var(types::I64);
            let zero = self.b.ins().iconst(types::I64, 0);
            self.counted_loop(c, zero, chunks, 1, |e, at| {
                let copy = e.b.ins().imul(at, *elements);
                let copy = e.b.ins().ishl_imm_s(copy, 3);
                let copy = e.b.ins().iadd(copies, copy);
                let j = e.b.declare_var(types::I64);
                let zero = e.b.ins().iconst(types::I64, 0);
                e.counted_loop(j, zero, *elements, 1, |e, at| {
                    let offset = e.b.ins().ishl_imm_s(at, 3);
                    let from = e.b.ins().iadd(copy, offset);
                    let to = e.b.ins().iadd(target, offset);
                    let added = e.b.ins().load(types::F64, trusted, from, 0);
                    let before = e.b.ins().load(types::F64, trusted, to, 0);
                    let sum = e.b.ins().fadd(before, added);
                    e.b.ins().store(trusted, sum, to, 0);
                    Ok(())
                })
            })?;
        }
        if let Some(mark) = mark {
            self.arena_release(mark)?;
        }
        if let Some(added) = added {
            self.b.ins().jump(added, &[]);
            self.b.switch_to_block(added);
        }
        self.b.ins().jump(merge, &[]);
        self.b.switch_to_block(merge);

        let mut hint = hint.clone();
        hint.parallel = false;
        let read_after = self.outside_reads(body);
        let mut inner = Vec::new();
        loop_bodies(body, &mut inner);
        let inner_read_after = inner.into_iter().map(|b| self.outside_reads(b)).collect();
        self.kernels.push(KernelPlan {
            id,
            index,
            body: body.to_vec(),
            hint,
            free,
            read_after,
            inner_read_after,
            known: self.known.clone(),
        });
        Ok(())
    }
}

/// The variables whose value is known at compile time: the i64
/// parameters given in `known` (the sizes of the size signature) that the
/// body never assigns, and the variables set exactly once to an integer
/// expression of known operands. A variable is read only after it is set
/// (lir's invariant), so one set once has that value wherever it is read.
fn known_integers(func: &Func, known: &[Option<i64>]) -> HashMap<Var, i64> {
    fn collect<'f>(code: &'f [Inst], sets: &mut HashMap<Var, usize>, exprs: &mut Vec<(Var, &'f Expr)>) {
        for inst in code {
            match inst {
                Inst::Set(v, e) => {
                    *sets.entry(*v).or_default() += 1;
                    exprs.push((*v, e));
                }
                Inst::ArenaMark(v) => *sets.entry(*v).or_default() += 1,
                Inst::Call { result: Some(v), .. } => *sets.entry(*v).or_default() += 1,
                Inst::If { then, els, .. } => {
                    collect(then, sets, exprs);
                    collect(els, sets, exprs);
                }
                Inst::For { index, body, .. } => {
                    *sets.entry(*index).or_default() += 2;
                    collect(body, sets, exprs);
                }
                Inst::While { cond, body, .. } => {
                    collect(cond, sets, exprs);
                    collect(body, sets, exprs);
                }
                _ => {}
            }
        }
    }
    let mut sets = HashMap::default();
    let mut exprs = Vec::new();
    collect(&func.body, &mut sets, &mut exprs);
    let mut values: HashMap<Var, i64> = HashMap::default();
    for (param, value) in func.params.iter().zip(known) {
        if let (Some(n), None) = (value, sets.get(param)) {
            if func.vars[param.0 as usize].ty == Ty::I64 {
                values.insert(*param, *n);
            }
        }
    }
    let exprs: Vec<(Var, &Expr)> = exprs.into_iter().filter(|(v, _)| sets[v] == 1).collect();
    loop {
        let mut changed = false;
        for (var, expr) in &exprs {
            if values.contains_key(var) {
                continue;
            }
            let get = |o: &Operand| match o {
                Operand::I64(n) => Some(*n),
                Operand::Var(v) => values.get(v).copied(),
                _ => None,
            };
            let value = match expr {
                Expr::Atom(a) => get(a),
                Expr::Binary(op, a, b) => get(a).zip(get(b)).and_then(|(a, b)| match op {
                    BinOp::IAdd => Some(a.wrapping_add(b)),
                    BinOp::ISub => Some(a.wrapping_sub(b)),
                    BinOp::IMul => Some(a.wrapping_mul(b)),
                    BinOp::SizeMul => Some(crate::lower::lir::size_mul(a, b)),
                    BinOp::IMin => Some(a.min(b)),
                    BinOp::IMax => Some(a.max(b)),
                    _ => None,
                }),
                _ => None,
            };
            if let Some(x) = value {
                values.insert(*var, x);
                changed = true;
            }
        }
        if !changed {
            return values;
        }
    }
}

/// Why a loop may run in `f64x2` lanes: its reductions, numbered, and its
/// shifted indices (`t = index + shift`, read only as load indices), each
/// with its shift in bytes.
struct VectorPlan {
    reductions: HashMap<Var, usize>,
    shifts: HashMap<Var, i32>,
}

/// Checks that a loop's body is straight-line f64 code (with comparisons
/// read only by selects, which become bit masks) whose stores are at
/// the loop index of invariant buffers and whose loads are there or at a
/// shifted index (`index` plus or minus a constant; lowering's hint says
/// they read no memory the loop writes), whose variables are
/// either set before they are read in each iteration (and not read after
/// the loop) or the hint's f64 reductions, each updated once as `acc = acc
/// op x`.
fn vector_plan(
    body: &[Inst],
    index: Var,
    hint: &LoopHint,
    func: &Func,
    read_after: &HashSet<Var>,
) -> Option<VectorPlan> {
    let ty = |v: Var| func.vars[v.0 as usize].ty;
    let mut reductions = HashMap::default();
    for (k, (acc, op)) in hint.reductions.iter().enumerate() {
        if !matches!(op, BinOp::FAdd | BinOp::FMul | BinOp::FMin | BinOp::FMax) || ty(*acc) != Ty::F64 {
            return None;
        }
        reductions.insert(*acc, k);
    }
    let mut assigned = HashSet::default();
    assigns(body, &mut assigned);
    let mut defined: HashSet<Var> = HashSet::default();
    let mut updated: HashSet<Var> = HashSet::default();
    let mut shifts: HashMap<Var, i32> = HashMap::default();
    // Comparisons of lanes: masks, read only by selects.
    let mut masks: HashSet<Var> = HashSet::default();
    // An f64 operand: a constant, a lane value set earlier in this
    // iteration, or an invariant.
    let lane_operand = |o: &Operand, defined: &HashSet<Var>| match o {
        Operand::F64(_) => true,
        Operand::Var(v) => {
            *v != index
                && !reductions.contains_key(v)
                && ty(*v) == Ty::F64
                && (defined.contains(v) || !assigned.contains(v))
        }
        _ => false,
    };
    let invariant_buffer = |o: &Operand| matches!(o, Operand::Var(v) if !assigned.contains(v) && ty(*v) == Ty::Ptr);
    let at_index = |o: &Operand| *o == Operand::Var(index);
    for inst in body {
        match inst {
            Inst::Set(var, expr) => {
                if reductions.contains_key(var) {
                    let Expr::Binary(op, a, b) = expr else {
                        return None;
                    };
                    let x = match (a, b) {
                        (Operand::Var(v), x) | (x, Operand::Var(v)) if v == var => x,
                        _ => return None,
                    };
                    let (_, wanted) = hint.reductions[reductions[var]];
                    if *op != wanted || !updated.insert(*var) || !lane_operand(x, &defined) {
                        return None;
                    }
                    continue;
                }
                if read_after.contains(var) || *var == index {
                    return None;
                }
                if ty(*var) == Ty::I64 {
                    // Only a shifted index, set once, used by loads alone
                    // (its other uses fail `lane_operand`, which takes f64s).
                    let shift = index_shift(expr, index)?;
                    let bytes = shift.checked_mul(Ty::F64.size()).and_then(|b| i32::try_from(b).ok())?;
                    if shifts.insert(*var, bytes).is_some() {
                        return None;
                    }
                    continue;
                }
                if ty(*var) == Ty::Bool {
                    let compares = matches!(expr, Expr::Binary(
                        BinOp::FEq | BinOp::FNe | BinOp::FLt | BinOp::FLe | BinOp::FGt | BinOp::FGe,
                        a,
                        b,
                    ) if lane_operand(a, &defined) && lane_operand(b, &defined));
                    if !compares || !masks.insert(*var) {
                        return None;
                    }
                    continue;
                }
                if ty(*var) != Ty::F64 {
                    return None;
                }
                let fits = match expr {
                    Expr::Atom(a) => lane_operand(a, &defined),
                    Expr::Unary(UnOp::IToF, i) => at_index(i),
                    Expr::Unary(op, a) => {
                        matches!(op, UnOp::FNeg | UnOp::FAbs | UnOp::FSqrt | UnOp::FFloor | UnOp::FCeil)
                            && lane_operand(a, &defined)
                    }
                    Expr::Binary(op, a, b) => {
                        matches!(
                            op,
                            BinOp::FAdd | BinOp::FSub | BinOp::FMul | BinOp::FDiv | BinOp::FMin | BinOp::FMax
                        ) && lane_operand(a, &defined)
                            && lane_operand(b, &defined)
                    }
                    Expr::Load { ty, base, index } => {
                        let shifted = matches!(index, Operand::Var(t) if shifts.contains_key(t));
                        *ty == Ty::F64 && invariant_buffer(base) && (at_index(index) || shifted)
                    }
                    Expr::Select(Operand::Var(c), a, b) => {
                        masks.contains(c) && lane_operand(a, &defined) && lane_operand(b, &defined)
                    }
                    _ => false,
                };
                if !fits {
                    return None;
                }
                defined.insert(*var);
            }
            Inst::Call {
                func,
                args,
                result: Some(var),
            } => {
                let fits = (inline_elementary(func).is_some() && matches!(&args[..], [a] if lane_operand(a, &defined))
                    || *func == "dl_pow"
                        && matches!(&args[..], [a, b] if lane_operand(a, &defined) && lane_operand(b, &defined)))
                    && ty(*var) == Ty::F64
                    && !read_after.contains(var)
                    && !reductions.contains_key(var);
                if !fits {
                    return None;
                }
                defined.insert(*var);
            }
            Inst::Store { ty, base, index, value } => {
                let shifted = matches!(index, Operand::Var(t) if shifts.contains_key(t));
                if *ty != Ty::F64
                    || !invariant_buffer(base)
                    || !(at_index(index) || shifted)
                    || !lane_operand(value, &defined)
                {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(VectorPlan { reductions, shifts })
}

/// Iterations per block of a loop whose elementary functions are staged
/// ([`staging`]): enough to amortise a kernel call, few enough for the
/// buffers (one per staged call, 8 bytes per iteration) to stay in the
/// first-level cache.
const STAGED_BLOCK: i64 = 256;

/// The largest buffer of an iteration that takes a stack slot
/// ([`Emitter::place_iteration_buffers`]), and the most bytes a function
/// gives such buffers.
const STACK_BUFFER_BYTES: i64 = 256;
const STACK_BUFFERS_BYTES: i64 = 16 * 1024;

/// The allocations of `code` that run at most once each time `code` runs:
/// those of its branches too, not those of its loops.
fn once_per_iteration_allocations<'c>(code: &'c [Inst], out: &mut Vec<&'c Expr>) {
    for inst in code {
        match inst {
            Inst::Set(_, expr @ Expr::Alloc { .. }) => out.push(expr),
            Inst::If { then, els, .. } => {
                once_per_iteration_allocations(then, out);
                once_per_iteration_allocations(els, out);
            }
            _ => {}
        }
    }
}

/// The most pairs of lanes a vector loop of known trip count runs without
/// a loop ([`Emitter::unrolled_lanes`]).
const UNROLLED_PAIRS: i64 = 8;

/// Copies of the body per step of a staged block's first loop, which
/// writes the staged calls' arguments (`STAGED_BLOCK` is a multiple).
const STAGING_COPIES: i64 = 4;

/// The runtime functions computed inline ([`Emitter::elementary`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elementary {
    Exp,
    Log,
    Sigmoid,
    Tanh,
}

fn inline_elementary(func: &str) -> Option<Elementary> {
    match func {
        "dl_exp" => Some(Elementary::Exp),
        "dl_log" => Some(Elementary::Log),
        "dl_tanh" => Some(Elementary::Tanh),
        "dl_sigmoid" => Some(Elementary::Sigmoid),
        _ => None,
    }
}

fn little_endian() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// Collects the variables `code` assigns.
fn assigns(code: &[Inst], out: &mut HashSet<Var>) {
    each_assignment(code, &mut |v| {
        out.insert(v);
    });
}

/// Collects the non-empty bodies of the loops nested in `code`, outer
/// loops first.
fn loop_bodies<'c>(code: &'c [Inst], out: &mut Vec<&'c [Inst]>) {
    for inst in code {
        match inst {
            Inst::For { body, .. } => {
                if !body.is_empty() {
                    out.push(body);
                }
                loop_bodies(body, out);
            }
            Inst::While { cond, body, .. } => {
                loop_bodies(cond, out);
                loop_bodies(body, out);
            }
            Inst::If { then, els, .. } => {
                loop_bodies(then, out);
                loop_bodies(els, out);
            }
            _ => {}
        }
    }
}

/// Collects the addresses of the non-empty blocks nested in `code`.
fn nested_blocks(code: &[Inst], out: &mut HashSet<*const Inst>) {
    for inst in code {
        let blocks: &[&[Inst]] = match inst {
            Inst::If { then, els, .. } => &[then, els],
            Inst::For { body, .. } => &[body],
            Inst::While { cond, body, .. } => &[cond, body],
            Inst::Set(..)
            | Inst::Store { .. }
            | Inst::Copy { .. }
            | Inst::Call { .. }
            | Inst::ArenaMark(_)
            | Inst::ArenaRelease(_)
            | Inst::Fail { .. } => &[],
        };
        for b in blocks {
            if !b.is_empty() {
                out.insert(b.as_ptr());
            }
            nested_blocks(b, out);
        }
    }
}
