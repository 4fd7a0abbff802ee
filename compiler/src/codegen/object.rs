//! Object files: entry points compiled ahead of time and exported with the
//! C ABI of [`super::c_abi`]. Entry point: [`build_object`].
//!
//! Each entry point becomes two functions:
//! - its LIR function, compiled by [`clif::define`] with local linkage
//!   under `<symbol>$body`, in the entry ABI `fn(ctx, args, results) ->
//!   i32`, with no size folded (sizes are only known at run time);
//! - an exported wrapper `<symbol>` with the C signature. It takes the
//!   calling thread's context (`dl_thread_ctx`), rejects negative sizes,
//!   stores its parameters into the argument slots, calls the body, copies
//!   the result slots into the out-parameters when the status is 0, and
//!   returns `dl_entry_finish(ctx, status, locations, count)`, which turns
//!   an error into the thread's last error message and resets the arena.
//!
//! Sizes that a type says are equal (`a: [n]f64, b: [n]f64`) are checked
//! by the LIR itself, as for the JIT: a mismatch is status 1 with the
//! interpreter's message. `locations` is a table, one per entry point, of
//! pointers to the C strings `file.dl:line:col` of the body's error
//! locations, followed by the entry point's own definition (where the
//! wrapper reports a negative size).

use super::abi;
use super::c_abi::{c_signature, CParam, CSignature, CType, C_KEYWORDS};
use super::clif::{self, CodegenError, Options};
use crate::core::ir::{Func as CoreFunc, Program};
use crate::diagnostics::SourceMap;
use crate::lower::from_core::lower;
use crate::lower::lir::{Func, Ty};
use crate::lower::marshal::{layout, Slot};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, Block, FuncRef, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Type,
    UserFuncName, Value,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{default_libcall_names, DataDescription, DataId, FuncId, Linkage, Module};
use cranelift_object::{ObjectBuilder, ObjectModule};

/// How to build an object file.
#[derive(Clone, Debug, Default)]
pub struct ObjectOptions {
    /// Prepended to every exported symbol.
    pub prefix: String,
    /// Code for any processor of the host's architecture (baseline
    /// instructions only) rather than for this machine's extensions.
    pub portable: bool,
    /// How to compile the bodies; `linkage` is overridden (local).
    pub codegen: Options,
}

/// An object file and the C functions it exports.
pub struct Object {
    pub bytes: Vec<u8>,
    pub signatures: Vec<CSignature>,
}

type R<T> = Result<T, CodegenError>;

/// The C symbol of entry point `name` under `prefix`, or why it cannot
/// be one: the symbol would be the C program's `main`, a runtime function
/// or a C keyword.
pub fn entry_symbol(prefix: &str, name: &str) -> Result<String, String> {
    let symbol = format!("{prefix}{name}");
    let prefix_hint = "choose a prefix with --prefix";
    let problem = if symbol == "main" {
        Some(("the C program's `main`", prefix_hint))
    } else if abi::symbol(&symbol).is_some() {
        Some(("a function of the runtime", prefix_hint))
    } else if C_KEYWORDS.contains(&symbol.as_str()) {
        Some(("a C keyword", prefix_hint))
    } else if symbol.starts_with(|c: char| c.is_ascii_digit())
        || !symbol.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Some(("not a C identifier", "a C symbol has only letters, digits and `_`"))
    } else {
        None
    };
    match problem {
        Some((what, hint)) => Err(format!(
            "the entry point `{name}` cannot be exported as the C symbol `{symbol}`: that is {what}; {hint}"
        )),
        None => Ok(symbol),
    }
}

/// The C signature of the entry point `func` exported under `prefix`.
pub fn signature(func: &CoreFunc, prefix: &str) -> Result<CSignature, String> {
    let symbol = entry_symbol(prefix, &func.name)?;
    let params: Vec<(String, crate::core::ir::Type)> =
        func.params.iter().map(|p| (p.name.clone(), p.ty.clone())).collect();
    Ok(c_signature(&symbol, &func.name, &params, &func.ret))
}

/// Compiles the entry points `entries` of `program` (prepared: derivatives
/// expanded, optimised) into an object file for the host; `sources` names
/// the error locations.
pub fn build_object(program: &Program, sources: &SourceMap, entries: &[String], options: &ObjectOptions) -> R<Object> {
    let mut module = ObjectModule::new(ObjectBuilder::new(
        host_isa(options.portable)?,
        "dl",
        default_libcall_names(),
    )?);
    let codegen = Options {
        linkage: Linkage::Local,
        compile_threads: false,
        ..options.codegen.clone()
    };
    let mut signatures = Vec::new();
    for name in entries {
        let core = program
            .func(name)
            .ok_or_else(|| CodegenError(format!("there is no entry point `{name}`")))?;
        let sig = signature(core, &options.prefix).map_err(CodegenError)?;
        let lir = lower(program, name).map_err(|e| CodegenError(format!("cannot lower `{name}`: {e}")))?;
        let body = clif::define(&mut module, &lir, &format!("{}$body", sig.symbol), &[], &codegen)?.entry;
        let mut locations: Vec<String> = lir.locations.iter().map(|s| sources.location(*s)).collect();
        locations.push(sources.location(core.span));
        let table = location_table(&mut module, &sig.symbol, &locations)?;
        let entry = Wrapper {
            sig: &sig,
            lir: &lir,
            body,
            table,
            count: locations.len() as i64,
        };
        entry.define(&mut module)?;
        signatures.push(sig);
    }
    let bytes = module
        .finish()
        .emit()
        .map_err(|e| CodegenError(format!("cannot write the object file: {e}")))?;
    Ok(Object { bytes, signatures })
}

/// The target: this machine (with its instruction set extensions) or, when
/// `portable`, the baseline of its architecture. Code is position
/// independent, so it links into executables and shared libraries alike.
fn host_isa(portable: bool) -> R<cranelift_codegen::isa::OwnedTargetIsa> {
    let mut flags = settings::builder();
    let verify = if cfg!(debug_assertions) { "true" } else { "false" };
    for (name, value) in [("opt_level", "speed"), ("is_pic", "true"), ("enable_verifier", verify)] {
        flags
            .set(name, value)
            .map_err(|e| CodegenError(format!("cannot set `{name}`: {e}")))?;
    }
    let isa = cranelift_native::builder_with_options(!portable)
        .map_err(|e| CodegenError(format!("this machine is not a supported target: {e}")))?;
    isa.finish(settings::Flags::new(flags))
        .map_err(|e| CodegenError(format!("cannot build the target: {e}")))
}

/// The table of pointers to the C strings `locations`, as a writable data
/// object (its relocations are resolved at load time in shared libraries).
fn location_table(module: &mut ObjectModule, symbol: &str, locations: &[String]) -> R<DataId> {
    let table = module.declare_data(&format!("{symbol}$locations"), Linkage::Local, true, false)?;
    let mut description = DataDescription::new();
    description.define(vec![0u8; 8 * locations.len()].into_boxed_slice());
    description.set_align(8);
    for (i, text) in locations.iter().enumerate() {
        let string = module.declare_data(&format!("{symbol}$location{i}"), Linkage::Local, false, false)?;
        let mut bytes = text.replace('\0', " ").into_bytes();
        bytes.push(0);
        let mut data = DataDescription::new();
        data.define(bytes.into_boxed_slice());
        module.define_data(string, &data)?;
        let address = module.declare_data_in_data(string, &mut description);
        description.write_data_addr((8 * i) as u32, address, 0);
    }
    module.define_data(table, &description)?;
    Ok(table)
}

/// The exported C function of one entry point.
struct Wrapper<'a> {
    sig: &'a CSignature,
    lir: &'a Func,
    /// The compiled LIR function.
    body: FuncId,
    /// Its table of locations, `count` entries; the last is the entry
    /// point's definition.
    table: DataId,
    count: i64,
}

impl Wrapper<'_> {
    fn define(&self, module: &mut ObjectModule) -> R<()> {
        let ptr = module.target_config().pointer_type();
        let mut csig = Signature::new(module.isa().default_call_conv());
        for p in &self.sig.params {
            csig.params.push(AbiParam::new(c_param_type(p, ptr)));
        }
        csig.returns.push(AbiParam::new(types::I32));
        let id = module.declare_function(&self.sig.symbol, Linkage::Export, &csig)?;

        let mut ctx = module.make_context();
        ctx.func.signature = csig;
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let import = |b: &mut FunctionBuilder, module: &mut ObjectModule, name: &str| -> R<FuncRef> {
            let symbol = abi::symbol(name).ok_or_else(|| CodegenError(format!("`{name}` is not in the ABI")))?;
            let sig = abi::signature(symbol, module.isa().default_call_conv());
            let f = module.declare_function(name, Linkage::Import, &sig)?;
            Ok(module.declare_func_in_func(f, b.func))
        };
        let thread_ctx = import(&mut b, module, "dl_thread_ctx")?;
        let raise = import(&mut b, module, "dl_raise")?;
        let finish_call = import(&mut b, module, "dl_entry_finish")?;
        let body = module.declare_func_in_func(self.body, b.func);
        let table = module.declare_data_in_func(self.table, b.func);

        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let call = b.ins().call(thread_ctx, &[]);
        let cx = b.inst_results(call)[0];
        // Without a context (out of memory) nothing can run: status 1, and
        // no message.
        let has_ctx = b.create_block();
        let no_ctx = b.create_block();
        b.ins().brif(cx, has_ctx, &[], no_ctx, &[]);
        b.switch_to_block(no_ctx);
        let one = b.ins().iconst(types::I32, 1);
        b.ins().return_(&[one]);

        b.switch_to_block(has_ctx);
        let finish = b.create_block();
        b.append_block_param(finish, types::I32);
        let args = slots(&mut b, self.lir.params.len());
        let results = slots(&mut b, self.lir.results.len());
        let sizes: Vec<bool> = self
            .lir
            .param_types
            .iter()
            .flat_map(layout)
            .map(|s| s == Slot::Len)
            .collect();
        let entry_loc = b.ins().iconst(types::I32, self.count - 1);
        for (p, value) in self.sig.params.iter().zip(&params).filter(|(p, _)| !p.output) {
            let mut value = *value;
            if b.func.dfg.value_type(value) == types::I8 {
                value = b.ins().uextend(types::I64, value);
            }
            b.ins().stack_store(ptr, value, args, (8 * p.component) as i32);
            if sizes.get(p.component).copied().unwrap_or(false) {
                // A negative size: error kind 5, at the definition.
                let negative = b.ins().icmp_imm_s(IntCC::SignedLessThan, value, 0);
                let bad = b.create_block();
                let fine = b.create_block();
                b.ins().brif(negative, bad, &[], fine, &[]);
                b.switch_to_block(bad);
                let kind = b.ins().iconst(types::I32, 5);
                let zero = b.ins().iconst(types::I64, 0);
                b.ins().call(raise, &[cx, kind, entry_loc, value, zero, zero]);
                jump_with_status(&mut b, finish, 1);
                b.switch_to_block(fine);
            }
        }
        let args_addr = b.ins().stack_addr(ptr, args, 0);
        let results_addr = b.ins().stack_addr(ptr, results, 0);
        let call = b.ins().call(body, &[cx, args_addr, results_addr]);
        let status = b.inst_results(call)[0];
        let write = b.create_block();
        b.ins().brif(status, finish, &[status.into()], write, &[]);

        b.switch_to_block(write);
        for (p, out) in self.sig.params.iter().zip(&params).filter(|(p, _)| p.output) {
            let offset = (8 * p.component) as i32;
            let word = b.ins().stack_load(ptr, types::I64, results, offset);
            let value = match p.ctype {
                CType::Scalar(Ty::F64) => b.ins().bitcast(types::F64, MemFlagsData::new(), word),
                CType::Scalar(Ty::Bool) => b.ins().ireduce(types::I8, word),
                CType::Scalar(Ty::I64 | Ty::Ptr) | CType::Buffer(_) => word,
            };
            // The caller's pointer: a plain store, which may trap.
            b.ins().store(MemFlagsData::new(), value, *out, 0);
        }
        jump_with_status(&mut b, finish, 0);

        b.switch_to_block(finish);
        let status = b.block_params(finish)[0];
        let locations = b.ins().symbol_value(ptr, table);
        let count = b.ins().iconst(types::I64, self.count);
        let call = b.ins().call(finish_call, &[cx, status, locations, count]);
        let returned = b.inst_results(call)[0];
        b.ins().return_(&[returned]);
        b.seal_all_blocks();
        b.finalize(module.target_config());
        module.define_function(id, &mut ctx)?;
        Ok(())
    }
}

/// The Cranelift type of a C parameter.
fn c_param_type(p: &CParam, ptr: Type) -> Type {
    match (p.output, p.ctype) {
        (true, _) | (false, CType::Buffer(_) | CType::Scalar(Ty::Ptr)) => ptr,
        (false, CType::Scalar(Ty::F64)) => types::F64,
        (false, CType::Scalar(Ty::I64)) => types::I64,
        (false, CType::Scalar(Ty::Bool)) => types::I8,
    }
}

/// A stack slot of `n` 8-byte slots (at least one, so it has an address).
fn slots(b: &mut FunctionBuilder, n: usize) -> cranelift_codegen::ir::StackSlot {
    let bytes = 8 * n.max(1) as u32;
    b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 3))
}

fn jump_with_status(b: &mut FunctionBuilder, to: Block, status: i64) {
    let v: Value = b.ins().iconst(types::I32, status);
    b.ins().jump(to, &[v.into()]);
}

#[cfg(test)]
mod tests {
    use super::entry_symbol;

    #[test]
    fn symbols_c_already_has_are_refused() {
        assert_eq!(entry_symbol("p_", "main"), Ok("p_main".to_string()));
        for (prefix, name, why) in [
            ("", "main", "the C program's `main`"),
            ("dl_", "free", "a function of the runtime"),
            ("", "double", "a C keyword"),
            ("my.", "f", "not a C identifier"),
            ("", "f'", "not a C identifier"),
            ("1", "f", "not a C identifier"),
        ] {
            let e = entry_symbol(prefix, name).unwrap_err();
            assert!(e.contains(why), "{prefix}{name}: {e}");
        }
    }
}
