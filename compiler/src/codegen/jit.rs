//! The JIT: compiles an entry point of a prepared program into memory on
//! its first call and runs it. Entry point: [`Jit`].
//!
//! Code is cached per entry point and *size signature* (the lengths of the
//! argument arrays): those lengths are constants in the code, so Cranelift
//! folds the size checks and loop bounds that depend on them. A call
//! marshals its arguments into 8-byte slots (`lower::marshal`), calls the
//! code with the runtime context, reads the results back, frees their
//! buffers and resets the arena. A run-time error comes back as the
//! interpreter's `RunError`: the same message, and the span of the
//! location number the code raised it at.

use super::abi;
use super::clif::{self, CodegenError, Options};
use crate::core::interp::RunError;
use crate::core::ir::{Program, Type};
use crate::core::value::Value;
use crate::lower::from_core::lower;
use crate::lower::lir::{Func, Ty};
use crate::lower::marshal::{buffer_lengths, from_components, layout, to_components, Buffer, Component, Slot};
use crate::HashMap;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::default_libcall_names;
use dl_runtime::DlCtx;
use std::ffi::CStr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The entry ABI of generated code (`lir`'s module documentation).
type EntryFn = unsafe extern "C" fn(ctx: *mut DlCtx, args: *const u64, results: *mut u64) -> i32;

/// A JIT for the entry points of one program.
pub struct Jit {
    program: Program,
    options: Options,
    /// `None` only while dropping.
    module: Option<JITModule>,
    lowered: HashMap<String, Rc<Func>>,
    /// Native code per entry point and size signature.
    compiled: HashMap<(String, Vec<i64>), EntryFn>,
    ctx: *mut DlCtx,
}

/// Arguments in the entry ABI's slots, with the buffers the slots point
/// into (kept alive as long as the slots are used).
struct Marshalled {
    slots: Vec<u64>,
    _buffers: Vec<Buffer>,
    /// For each slot: its value when it is an array length.
    lengths: Vec<Option<i64>>,
}

impl Marshalled {
    /// The size signature: the array lengths, in order.
    fn signature(&self) -> Vec<i64> {
        self.lengths.iter().flatten().copied().collect()
    }
}

fn run_error(message: impl Into<String>) -> RunError {
    RunError {
        message: message.into(),
        span: None,
    }
}

/// A JIT module for the host, with the runtime's functions as its symbols.
fn host_module() -> Result<JITModule, CodegenError> {
    // Cranelift's IR verifier checks every function it compiles: on in
    // debug builds (and so in the tests), off where compile time counts.
    let verify = if cfg!(debug_assertions) { "true" } else { "false" };
    let flags = [("opt_level", "speed"), ("enable_verifier", verify)];
    let mut builder = JITBuilder::with_flags(&flags, default_libcall_names())?;
    for (name, ..) in abi::SYMBOLS {
        let address =
            dl_runtime::abi::address(name).ok_or_else(|| CodegenError(format!("the runtime lacks `{name}`")))?;
        builder.symbol(*name, address);
    }
    for (name, address) in dl_runtime::abi::data_symbols() {
        builder.symbol(name, address);
    }
    Ok(JITModule::new(builder))
}

impl Jit {
    /// A JIT for `program` (prepared: derivatives expanded, optimised).
    pub fn new(program: Program) -> Result<Jit, CodegenError> {
        Jit::with_options(program, Options::default())
    }

    pub fn with_options(program: Program, options: Options) -> Result<Jit, CodegenError> {
        let ctx = dl_runtime::context::dl_ctx_new();
        if ctx.is_null() {
            return Err(CodegenError("cannot create a runtime context".into()));
        }
        Ok(Jit {
            program,
            options,
            module: Some(crate::timings::time("codegen: module", host_module)?),
            lowered: HashMap::default(),
            compiled: HashMap::default(),
            ctx,
        })
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Calls `entry` with `args`, compiling it first if needed.
    pub fn call(&mut self, entry: &str, args: Vec<Value>) -> Result<Value, RunError> {
        self.check_args(entry, &args)?;
        let func = self.lir(entry)?;
        self.call_lir(&func, &args)
    }

    /// Calls a LIR function (named uniquely within this JIT) with `args`,
    /// compiling it first for their sizes if needed.
    pub fn call_lir(&mut self, func: &Rc<Func>, args: &[Value]) -> Result<Value, RunError> {
        let marshalled = marshal(&func.param_types, args)?;
        let compiled = self.compiled_for(func, &marshalled)?;
        let mut results = vec![0u64; layout(&func.result_type).len()];
        // SAFETY: the code was compiled from `func` for exactly this size
        // signature; `slots` holds one 8-byte slot per parameter component,
        // its buffers stay alive in `marshalled` during the call and are
        // only read; `results` has one slot per result component; the
        // context is live and used by this call alone.
        let status = unsafe { compiled(self.ctx, marshalled.slots.as_ptr(), results.as_mut_ptr()) };
        self.finish_call(func, status, &results)
    }

    /// Compiles `entry` for the sizes of `args` (what the first call
    /// would do), without calling it. Returns the time spent compiling:
    /// lowering and code generation, not checking and marshalling the
    /// arguments (a million-element argument takes longer to marshal than
    /// a small program to compile).
    pub fn compile(&mut self, entry: &str, args: &[Value]) -> Result<Duration, RunError> {
        self.check_args(entry, args)?;
        let start = Instant::now();
        let func = self.lir(entry)?;
        let lowering = start.elapsed();
        let marshalled = marshal(&func.param_types, args)?;
        let start = Instant::now();
        self.compiled_for(&func, &marshalled)?;
        Ok(lowering + start.elapsed())
    }

    /// Calls `entry` on `args` `runs` times and returns the duration of
    /// each native call alone: marshalling, reading results and freeing
    /// them are outside the timing. Every call is checked for a run-time
    /// error.
    pub fn time_calls(&mut self, entry: &str, args: &[Value], runs: usize) -> Result<Vec<Duration>, RunError> {
        self.check_args(entry, args)?;
        let func = self.lir(entry)?;
        let marshalled = marshal(&func.param_types, args)?;
        let compiled = self.compiled_for(&func, &marshalled)?;
        let mut results = vec![0u64; layout(&func.result_type).len()];
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            // SAFETY: as in `call_lir`.
            let status = unsafe { compiled(self.ctx, marshalled.slots.as_ptr(), results.as_mut_ptr()) };
            times.push(start.elapsed());
            self.discard_call(&func, status, &results)?;
        }
        Ok(times)
    }

    /// The LIR of `entry`, lowered once.
    pub fn lir(&mut self, entry: &str) -> Result<Rc<Func>, RunError> {
        if let Some(f) = self.lowered.get(entry) {
            return Ok(f.clone());
        }
        self.function(entry)?;
        let func = crate::timings::time("lower", || lower(&self.program, entry))
            .map_err(|e| run_error(format!("cannot lower `{entry}`: {e}")))?;
        let func = Rc::new(func);
        self.lowered.insert(entry.to_string(), func.clone());
        Ok(func)
    }

    /// The core function `name`, with the interpreter's error when there is
    /// none (every function may be called, as on the interpreter).
    fn function(&self, name: &str) -> Result<&crate::core::ir::Func, RunError> {
        self.program
            .func(name)
            .ok_or_else(|| run_error(format!("no function named `{name}`")))
    }

    /// Checks the number and types of the arguments as the interpreter
    /// does, with its messages.
    fn check_args(&self, entry: &str, args: &[Value]) -> Result<(), RunError> {
        let f = self.function(entry)?;
        if f.params.len() != args.len() {
            let plural = if f.params.len() == 1 { "" } else { "s" };
            return Err(run_error(format!(
                "`{}` takes {} argument{plural}, got {}",
                f.name,
                f.params.len(),
                args.len()
            )));
        }
        for (k, (param, arg)) in f.params.iter().zip(args).enumerate() {
            if !arg.has_type(&param.ty) {
                let mut text = arg.to_string();
                if text.chars().count() > 40 {
                    text = text.chars().take(37).chain("...".chars()).collect();
                }
                return Err(run_error(format!(
                    "argument {} of `{}` should be of type {}, got `{}`",
                    k + 1,
                    entry,
                    param.ty,
                    text
                )));
            }
        }
        Ok(())
    }

    /// The code of `func` for the size signature of `args`.
    fn compiled_for(&mut self, func: &Rc<Func>, args: &Marshalled) -> Result<EntryFn, RunError> {
        let entry = func.name.as_str();
        let key = (entry.to_string(), args.signature());
        if let Some(c) = self.compiled.get(&key) {
            return Ok(*c);
        }
        let module = self.module.as_mut().expect("a module");
        let name = format!("{entry}${}", self.compiled.len());
        let compile_error = |e: CodegenError| run_error(format!("cannot compile `{entry}`: {e}"));
        let defined = crate::timings::time("codegen: emit", || {
            clif::define(module, func, &name, &args.lengths, &self.options)
        })
        .map_err(compile_error)?;
        crate::timings::time("codegen: finalize", || {
            module
                .finalize_definitions()
                .map_err(|e| compile_error(CodegenError::from(e)))
        })?;
        let address = module.get_finalized_function(defined.entry);
        // SAFETY: `define` compiled this function with the entry ABI's
        // signature in the host's default (C) calling convention, and the
        // module keeps its memory until the JIT is dropped.
        let code = unsafe { std::mem::transmute::<*const u8, EntryFn>(address) };
        self.compiled.insert(key, code);
        Ok(code)
    }

    /// Reads the result of a call that returned `status`, or its error;
    /// either way frees what the call allocated.
    fn finish_call(&mut self, func: &Func, status: i32, results: &[u64]) -> Result<Value, RunError> {
        self.settle(func, status, || read_results(&func.result_type, results))
    }

    /// [`Jit::finish_call`] for a timed call whose value nobody reads: the
    /// result buffers are freed unread, so that building a million values
    /// between two calls neither takes the time nor evicts the caches a
    /// caller keeping its results in buffers would have warm.
    fn discard_call(&mut self, func: &Func, status: i32, results: &[u64]) -> Result<(), RunError> {
        self.settle(func, status, || {
            for (slot, word) in layout(&func.result_type).iter().zip(results) {
                if let Slot::Buffer { .. } = slot {
                    // SAFETY: as in `read_results`: a fresh result buffer
                    // the caller owns, freed once.
                    unsafe { dl_runtime::context::dl_result_free(*word as *mut u8) };
                }
            }
            Ok(())
        })
    }

    /// After a call: `take` its results on success, else its error; then
    /// the arena is emptied for the next call.
    fn settle<T>(
        &mut self,
        func: &Func,
        status: i32,
        take: impl FnOnce() -> Result<T, RunError>,
    ) -> Result<T, RunError> {
        let outcome = if status == 0 {
            take()
        } else {
            Err(self.take_error(func))
        };
        // SAFETY: the context is live and no call is running.
        unsafe { dl_runtime::context::dl_arena_reset(self.ctx) };
        outcome
    }

    /// The error the last call raised, as the interpreter reports it.
    fn take_error(&mut self, func: &Func) -> RunError {
        // SAFETY: the context is live; the message pointer is read before
        // the error is cleared, which frees it.
        unsafe {
            let message = dl_runtime::context::dl_error_message(self.ctx);
            let message = if message.is_null() {
                "a run-time error".to_string()
            } else {
                CStr::from_ptr(message).to_string_lossy().into_owned()
            };
            let loc = dl_runtime::context::dl_error_loc(self.ctx);
            dl_runtime::context::dl_clear_error(self.ctx);
            RunError {
                message,
                span: usize::try_from(loc).ok().and_then(|l| func.locations.get(l)).copied(),
            }
        }
    }
}

/// Arguments of the parameter types `types` in the entry ABI's slots.
fn marshal(types: &[Type], args: &[Value]) -> Result<Marshalled, RunError> {
    if types.len() != args.len() {
        return Err(run_error(format!(
            "{} arguments for {} parameters",
            args.len(),
            types.len()
        )));
    }
    let mut m = Marshalled {
        slots: Vec::new(),
        _buffers: Vec::new(),
        lengths: Vec::new(),
    };
    for (ty, arg) in types.iter().zip(args) {
        let comps = to_components(arg, ty).map_err(|e| run_error(e.0))?;
        for (comp, slot) in comps.into_iter().zip(layout(ty)) {
            let (word, length) = match comp {
                Component::F64(x) => (x.to_bits(), None),
                Component::I64(n) => (n as u64, (slot == Slot::Len).then_some(n)),
                Component::Bool(b) => (u64::from(b), None),
                Component::Buffer(buffer) => {
                    let address = match &buffer {
                        Buffer::F64(v) => v.as_ptr() as u64,
                        Buffer::I64(v) => v.as_ptr() as u64,
                        Buffer::Bool(v) => v.as_ptr() as u64,
                    };
                    // Moving the buffer keeps its heap memory in place.
                    m._buffers.push(buffer);
                    (address, None)
                }
            };
            m.slots.push(word);
            m.lengths.push(length);
        }
    }
    Ok(m)
}

/// The value of type `ty` in the result slots of a call, whose buffers are
/// then freed.
fn read_results(ty: &Type, results: &[u64]) -> Result<Value, RunError> {
    let lengths = buffer_lengths(ty, results);
    let mut comps = Vec::with_capacity(results.len());
    for ((slot, word), length) in layout(ty).iter().zip(results).zip(lengths) {
        comps.push(match slot {
            Slot::Scalar(Ty::F64) => Component::F64(f64::from_bits(*word)),
            Slot::Scalar(Ty::Bool) => Component::Bool(*word != 0),
            Slot::Scalar(_) | Slot::Len => Component::I64(*word as i64),
            Slot::Buffer { elem, .. } => {
                let n = length.unwrap_or(0);
                let p = *word as *mut u8;
                // SAFETY: generated code returns, for each buffer slot, a
                // fresh `dl_result_alloc` buffer of exactly `n` elements of
                // `elem` (lir's contract), which the caller owns: read it
                // once, then free it once.
                let buffer = unsafe {
                    let buffer = match (n, elem) {
                        (0, Ty::F64) => Buffer::F64(Vec::new()),
                        (0, Ty::Bool) => Buffer::Bool(Vec::new()),
                        (0, _) => Buffer::I64(Vec::new()),
                        (_, Ty::F64) => Buffer::F64(std::slice::from_raw_parts(p as *const f64, n).to_vec()),
                        (_, Ty::Bool) => {
                            Buffer::Bool(std::slice::from_raw_parts(p, n).iter().map(|b| *b != 0).collect())
                        }
                        (_, _) => Buffer::I64(std::slice::from_raw_parts(p as *const i64, n).to_vec()),
                    };
                    dl_runtime::context::dl_result_free(p);
                    buffer
                };
                Component::Buffer(buffer)
            }
        });
    }
    from_components(ty, &comps).map_err(|e| run_error(format!("the native code returned a malformed value: {e}")))
}

/// The optimised Cranelift IR of `func` (its entry point, then its
/// kernels), compiled for a host module but never run; `known` as for
/// [`clif::define`].
pub fn clif_text(func: &Func, known: &[Option<i64>]) -> Result<String, CodegenError> {
    let mut module = host_module()?;
    let options = Options {
        keep_text: true,
        ..Options::default()
    };
    let defined = clif::define(&mut module, func, &func.name, known, &options)?;
    // SAFETY: nothing compiled here was finalized or called.
    unsafe { module.free_memory() };
    Ok(defined.text.join("\n"))
}

impl Drop for Jit {
    fn drop(&mut self) {
        self.compiled.clear();
        if let Some(module) = self.module.take() {
            // SAFETY: the only pointers into the module's code were in
            // `compiled`, cleared above, and no call is running.
            unsafe { module.free_memory() };
        }
        // SAFETY: the context came from `dl_ctx_new` and is freed once.
        unsafe { dl_runtime::context::dl_ctx_free(self.ctx) };
    }
}
