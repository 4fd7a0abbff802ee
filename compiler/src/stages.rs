//! The stages of a derivative, printed: what `dl ir --grad --stage S`
//! shows, and the reports users snapshot to lock their derivatives down.
//!
//! For `grad(f)` (and `vjp(f)`), the stages are: `unary`, the unary form
//! of `f` with its calls inlined; `rev`, that form after the reverse-mode
//! transformation; `core`, the program after the unary form is read back
//! (the derivative operator expanded into a call of `f$flat$vjp`); `opt`,
//! the same after partial evaluation. Forward mode (`jvp(f)`) has the
//! `core` and `opt` stages.

use crate::ad::check::operator_entry;
use crate::core::interp;
use crate::core::ir::{DerivOp, Func, Program};
use crate::core::print::print_program;
use crate::core::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Unary,
    Rev,
    Core,
    Opt,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Unary => "unary",
            Stage::Rev => "rev",
            Stage::Core => "core",
            Stage::Opt => "opt",
        }
    }
}

/// A stage of `op(f)` as text, with the stage's main function in core form
/// (for a dataflow graph). `program` is a prepared program.
pub fn derivative_stage(program: &Program, f: &str, op: DerivOp, stage: Stage) -> Result<(String, Func), String> {
    match stage {
        Stage::Unary | Stage::Rev => {
            if !matches!(op, DerivOp::Grad | DerivOp::Vjp | DerivOp::ValueAndGrad) {
                return Err(format!(
                    "the `{}` stage exists for reverse mode only (grad, vjp)",
                    stage.name()
                ));
            }
            let func = program.func(f).ok_or_else(|| format!("there is no function `{f}`"))?;
            let flat = crate::opt::inline_calls(program, func);
            let unary = crate::unf::from_core::from_core(&flat).map_err(|e| e.message)?;
            let shown = if stage == Stage::Unary {
                unary
            } else {
                crate::ad::rev::reverse(&unary).map_err(|e| e.message)?
            };
            Ok((
                crate::unf::print::print_func(&shown),
                crate::unf::to_core::to_core(&shown),
            ))
        }
        Stage::Core | Stage::Opt => {
            let (expanded, entry) = operator_entry(program, op, f).map_err(|e| e.message)?;
            let shown = if stage == Stage::Opt {
                crate::opt::optimize(&expanded)
            } else {
                expanded
            };
            let reachable = reachable(&shown, &entry);
            let main = reachable.funcs[0].clone();
            Ok((print_program(&reachable), main))
        }
    }
}

/// Every stage of `grad(f)`, `jvp(f)` and their values at `args`, in one
/// text: what a snapshot test of a derivative locks down.
pub fn derivative_report(program: &Program, f: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    for stage in [Stage::Unary, Stage::Rev, Stage::Opt] {
        let (text, _) = derivative_stage(program, f, DerivOp::Grad, stage)?;
        out.push_str(&format!("== grad({f}), stage {}\n{text}\n", stage.name()));
    }
    let rendered: Vec<String> = args.iter().map(Value::to_string).collect();
    let at = rendered.join(", ");
    let value = interp::run(program, f, args.to_vec()).map_err(|e| e.message)?;
    out.push_str(&format!("== {f}({at})\n{value}\n"));
    let (expanded, entry) = operator_entry(program, DerivOp::Grad, f).map_err(|e| e.message)?;
    let optimized = crate::opt::optimize(&expanded);
    let gradient = interp::run(&optimized, &entry, args.to_vec()).map_err(|e| e.message)?;
    out.push_str(&format!("== grad({f})({at})\n{gradient}\n"));
    Ok(out)
}

/// The functions `root` uses, directly or not, `root` first.
pub fn reachable(program: &Program, root: &str) -> Program {
    let mut seen = std::collections::BTreeSet::new();
    let mut order = Vec::new();
    let mut work = vec![root.to_string()];
    while let Some(name) = work.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(f) = program.func(&name) else { continue };
        order.push(f.clone());
        work.extend(f.body.used_functions().into_iter().rev());
    }
    Program {
        funcs: order,
        tests: Vec::new(),
    }
}
