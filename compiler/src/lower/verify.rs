//! The LIR verifier: operand types fit their instructions, variables are
//! set before they are read (conservatively: a variable set only in a loop
//! body or in one branch is not set after it), `For` indices are not
//! assigned, `Fail` kinds, values and locations are in range, calls name a
//! runtime function of the ABI with the right arguments, and loop hints fit
//! their definition. Entry point: [`verify`].

use super::abi::{runtime_fn, AbiTy};
use super::failure;
use super::from_core::fits_vector;
use super::lir::{components, BinOp, Expr, Func, Inst, Operand, Ty, UnOp, Var};
use crate::HashSet;

/// Every problem found, or `Ok`.
pub fn verify(func: &Func) -> Result<(), Vec<String>> {
    let mut v = Verifier {
        func,
        errors: Vec::new(),
    };
    let expected: Vec<Ty> = func.param_types.iter().flat_map(components).collect();
    let params: Vec<Ty> = func.params.iter().map(|p| v.var_ty(*p)).collect();
    if expected != params {
        v.error(format!(
            "parameters of types {params:?}, their core types say {expected:?}"
        ));
    }
    let mut set: HashSet<Var> = func.params.iter().copied().collect();
    v.block(&func.body, &mut set, &HashSet::default());
    let results: Vec<Ty> = func.results.iter().map(|o| v.operand(*o, &set)).collect();
    if results != components(&func.result_type) {
        v.error(format!(
            "results of types {results:?}, the result type {} says {:?}",
            func.result_type,
            components(&func.result_type)
        ));
    }
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors)
    }
}

struct Verifier<'f> {
    func: &'f Func,
    errors: Vec<String>,
}

impl Verifier<'_> {
    fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    fn var_ty(&mut self, var: Var) -> Ty {
        match self.func.vars.get(var.0 as usize) {
            Some(info) => info.ty,
            None => {
                self.error(format!("variable {} does not exist", var.0));
                Ty::I64
            }
        }
    }

    fn name(&self, var: Var) -> String {
        match self.func.vars.get(var.0 as usize) {
            Some(info) => format!("{}.{}", info.name, var.0),
            None => format!("v.{}", var.0),
        }
    }

    /// The type of an operand read where the variables `set` are set.
    fn operand(&mut self, o: Operand, set: &HashSet<Var>) -> Ty {
        match o {
            Operand::Var(var) => {
                if !set.contains(&var) {
                    let name = self.name(var);
                    self.error(format!("{name} may be read before it is set"));
                }
                self.var_ty(var)
            }
            Operand::F64(_) => Ty::F64,
            Operand::I64(_) => Ty::I64,
            Operand::Bool(_) => Ty::Bool,
        }
    }

    fn expect(&mut self, o: Operand, ty: Ty, set: &HashSet<Var>, what: &str) {
        let got = self.operand(o, set);
        if got != ty {
            self.error(format!("{what}: expected {ty}, got {got}"));
        }
    }

    fn expr(&mut self, e: &Expr, set: &HashSet<Var>) -> Ty {
        match e {
            Expr::Atom(a) => self.operand(*a, set),
            Expr::Unary(op, a) => {
                let (arg, result) = unop_types(*op);
                self.expect(*a, arg, set, "operand of a unary operation");
                result
            }
            Expr::Binary(op, a, b) => {
                let (arg, result) = binop_types(*op);
                self.expect(*a, arg, set, "operand of a binary operation");
                self.expect(*b, arg, set, "operand of a binary operation");
                result
            }
            Expr::Select(c, a, b) => {
                self.expect(*c, Ty::Bool, set, "select condition");
                let ta = self.operand(*a, set);
                self.expect(*b, ta, set, "select operands");
                ta
            }
            Expr::Load { ty, base, index } => {
                self.expect(*base, Ty::Ptr, set, "load base");
                self.expect(*index, Ty::I64, set, "load index");
                *ty
            }
            Expr::Offset { base, index, .. } => {
                self.expect(*base, Ty::Ptr, set, "offset base");
                self.expect(*index, Ty::I64, set, "offset index");
                Ty::Ptr
            }
            Expr::Alloc { n, .. } => {
                self.expect(*n, Ty::I64, set, "alloc size");
                Ty::Ptr
            }
        }
    }

    fn assign(&mut self, var: Var, ty: Ty, set: &mut HashSet<Var>, indices: &HashSet<Var>) {
        if indices.contains(&var) {
            let name = self.name(var);
            self.error(format!("the loop index {name} is assigned"));
        }
        let declared = self.var_ty(var);
        if declared != ty {
            let name = self.name(var);
            self.error(format!("{name} of type {declared} is set to a {ty}"));
        }
        set.insert(var);
    }

    /// Checks `code`; `set` grows with what it sets on every path.
    fn block(&mut self, code: &[Inst], set: &mut HashSet<Var>, indices: &HashSet<Var>) {
        for inst in code {
            match inst {
                Inst::Set(var, e) => {
                    let ty = self.expr(e, set);
                    self.assign(*var, ty, set, indices);
                }
                Inst::Store { ty, base, index, value } => {
                    self.expect(*base, Ty::Ptr, set, "store base");
                    self.expect(*index, Ty::I64, set, "store index");
                    self.expect(*value, *ty, set, "stored value");
                }
                Inst::Copy { dst, src, n, .. } => {
                    self.expect(*dst, Ty::Ptr, set, "copy destination");
                    self.expect(*src, Ty::Ptr, set, "copy source");
                    self.expect(*n, Ty::I64, set, "copy count");
                }
                Inst::If { cond, then, els } => {
                    self.expect(*cond, Ty::Bool, set, "if condition");
                    let mut a = set.clone();
                    self.block(then, &mut a, indices);
                    let mut b = set.clone();
                    self.block(els, &mut b, indices);
                    set.extend(a.intersection(&b).copied());
                }
                Inst::For {
                    index,
                    start,
                    end,
                    body,
                    hint,
                } => {
                    self.expect(*start, Ty::I64, set, "loop start");
                    self.expect(*end, Ty::I64, set, "loop end");
                    if self.var_ty(*index) != Ty::I64 {
                        self.error(format!("the loop index {} is not an i64", self.name(*index)));
                    }
                    let mut inner = set.clone();
                    inner.insert(*index);
                    let mut inner_indices = indices.clone();
                    inner_indices.insert(*index);
                    self.block(body, &mut inner, &inner_indices);
                    let fits = if hint.independent {
                        // Any body, its reductions its accumulators.
                        let accumulators = super::independent::accumulators(body);
                        hint.reductions.iter().all(|r| accumulators.contains(r))
                    } else {
                        !(hint.vector || hint.parallel || !hint.reductions.is_empty())
                            || fits_vector(body, *index, &hint.reductions)
                    };
                    if !fits {
                        self.error(format!(
                            "the hint of the loop over {} does not fit its body",
                            self.name(*index)
                        ));
                    }
                }
                Inst::While { cond, test, body } => {
                    self.block(cond, set, indices);
                    self.expect(*test, Ty::Bool, set, "while test");
                    let mut inner = set.clone();
                    self.block(body, &mut inner, indices);
                }
                Inst::Call { func, args, result } => {
                    let Some(f) = runtime_fn(func) else {
                        self.error(format!("call of `{func}`, which the runtime ABI does not have"));
                        continue;
                    };
                    if f.params.len() != args.len() {
                        self.error(format!(
                            "`{func}` takes {} arguments, got {}",
                            f.params.len(),
                            args.len()
                        ));
                    }
                    for (p, a) in f.params.iter().zip(args) {
                        self.expect(*a, abi_ty(*p), set, func);
                    }
                    match (f.result, result) {
                        (Some(r), Some(var)) => self.assign(*var, abi_ty(r), set, indices),
                        (None, None) => {}
                        (Some(_), None) => {}
                        (None, Some(_)) => self.error(format!("`{func}` returns nothing")),
                    }
                }
                Inst::ArenaMark(var) => self.assign(*var, Ty::I64, set, indices),
                Inst::ArenaRelease(m) => self.expect(*m, Ty::I64, set, "arena mark"),
                Inst::Fail { kind, loc, values } => {
                    match failure::arity(*kind) {
                        Some(n) if n == values.len() => {}
                        Some(n) => self.error(format!("error kind {kind} takes {n} values, got {}", values.len())),
                        None => self.error(format!("unknown error kind {kind}")),
                    }
                    if *loc as usize >= self.func.locations.len() {
                        self.error(format!("location @{loc} does not exist"));
                    }
                    for v in values {
                        self.expect(*v, Ty::I64, set, "error value");
                    }
                }
            }
        }
    }
}

fn abi_ty(t: AbiTy) -> Ty {
    match t {
        AbiTy::I32 | AbiTy::I64 => Ty::I64,
        AbiTy::F64 => Ty::F64,
        AbiTy::Ptr => Ty::Ptr,
    }
}

/// The operand and result types of a binary operation.
pub fn binop_types(op: BinOp) -> (Ty, Ty) {
    use BinOp::*;
    match op {
        FAdd | FSub | FMul | FDiv | FMin | FMax => (Ty::F64, Ty::F64),
        IAdd | ISub | IMul | SizeMul | IDiv | IRem | IMin | IMax => (Ty::I64, Ty::I64),
        FEq | FNe | FLt | FLe | FGt | FGe => (Ty::F64, Ty::Bool),
        IEq | INe | ILt | ILe | IGt | IGe => (Ty::I64, Ty::Bool),
        And | Or | BEq | BNe => (Ty::Bool, Ty::Bool),
    }
}

/// The operand and result types of a unary operation.
pub fn unop_types(op: UnOp) -> (Ty, Ty) {
    use UnOp::*;
    match op {
        FNeg | FAbs | FSqrt | FFloor | FCeil | FSign => (Ty::F64, Ty::F64),
        INeg | IAbs | ISign => (Ty::I64, Ty::I64),
        Not => (Ty::Bool, Ty::Bool),
        IToF => (Ty::I64, Ty::F64),
        FToI => (Ty::F64, Ty::I64),
        BToI => (Ty::Bool, Ty::I64),
    }
}
