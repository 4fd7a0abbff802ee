//! Top-level definitions: collecting them, checking each first-order one into
//! a core function (on demand, which detects recursion), and tests.

use super::ctx::CtxStack;
use super::ty::{compare_sizes, Size, SizeCmp, Ty};
use super::{Elab, Env, Sig, SigState, SourceModule, Val};
use crate::core::ir::{Atom, Block, Func, Rhs, Test, Type};
use crate::diagnostics::{Diagnostic, Span};
use crate::prim::Prim;
use crate::syntax::ast::{self, SizeExpr, TypeExpr, TypeKind};
use crate::HashMap;

/// One step from a parameter to one of its arrays: a tuple field, or the
/// first row of an array (to read the length of an inner dimension).
#[derive(Clone, Copy)]
pub(super) enum Step {
    Field(usize),
    Row,
}

impl<'a> Elab<'a> {
    pub(super) fn new() -> Elab<'a> {
        Elab {
            defs: HashMap::default(),
            sigs: HashMap::default(),
            active: Vec::new(),
            funcs: Vec::new(),
            tests: Vec::new(),
            diags: Vec::new(),
            ctx: CtxStack::default(),
            lifted: 0,
        }
    }

    pub(super) fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Gathers the definitions of every module; a name defined twice is an
    /// error, except that a program may redefine a name of the prelude
    /// (file 0).
    pub(super) fn collect(&mut self, modules: &[SourceModule<'a>]) {
        for m in modules {
            for item in &m.module.items {
                let ast::Item::Def(def) = item else { continue };
                let name = def.name.name.as_str();
                if super::builtins::is_builtin(name) {
                    self.error(
                        Diagnostic::error(
                            format!("`{name}` is a builtin and cannot be redefined"),
                            def.name.span,
                            "redefines a builtin",
                        )
                        .with_note("choose another name"),
                    );
                    continue;
                }
                if let Some(prev) = self.defs.get(name) {
                    if prev.span.file == 0 && m.file != 0 {
                        self.defs.insert(name.to_string(), def);
                        continue;
                    }
                    let prev_span = prev.name.span;
                    self.error(
                        Diagnostic::error(format!("`{name}` is defined twice"), def.name.span, "second definition")
                            .with_label(prev_span, "first definition"),
                    );
                    continue;
                }
                self.defs.insert(name.to_string(), def);
            }
        }
    }

    pub(super) fn is_higher_order(&self, def: &ast::Def) -> bool {
        def.params.iter().any(|p| contains_func(&p.ty))
    }

    /// The signature of a first-order definition, checking it first if
    /// needed. `None` when it has errors (already reported).
    pub(super) fn ensure_def(&mut self, name: &str, use_span: Span) -> Option<Sig> {
        match self.sigs.get(name) {
            Some(SigState::Done(sig)) => return sig.clone(),
            Some(SigState::InProgress) => {
                self.report_recursion(name, use_span);
                return None;
            }
            None => {}
        }
        let def = *self.defs.get(name)?;
        self.sigs.insert(name.to_string(), SigState::InProgress);
        // Check the definition in a context stack of its own.
        let saved = std::mem::take(&mut self.ctx);
        self.active.push(name.to_string());
        let sig = self.check_def(def);
        self.active.pop();
        self.ctx = saved;
        self.sigs.insert(name.to_string(), SigState::Done(sig.clone()));
        sig
    }

    pub(super) fn report_recursion(&mut self, name: &str, span: Span) {
        let start = self.active.iter().position(|n| n == name).unwrap_or(0);
        let mut cycle: Vec<String> = self.active[start..].iter().map(|n| format!("`{n}`")).collect();
        cycle.push(format!("`{name}`"));
        self.error(
            Diagnostic::error(
                format!("recursion is not allowed: `{name}` calls itself"),
                span,
                "recursive call",
            )
            .with_note(format!("the cycle is {}", cycle.join(" -> ")))
            .with_note("write the repetition as a `loop ... for` or `loop ... while`"),
        );
    }

    fn check_def(&mut self, def: &'a ast::Def) -> Option<Sig> {
        let errors_before = self.diags.len();
        self.ctx.push();
        let mut env = Env::default();
        let mut binders = Vec::new();
        let mut param_tys = Vec::new();
        let mut sizes: HashMap<String, Size> = HashMap::default();
        // Parameters first, then their sizes: a size variable is bound by the
        // first parameter that mentions it and checked against the others.
        for p in &def.params {
            let core = match self.core_type_of(&p.ty) {
                Some(t) => t,
                None => Type::unit(),
            };
            let b = self.ctx.cur().fresh(&p.name.name, &Ty::from_core(&core));
            binders.push(b);
        }
        for (p, b) in def.params.iter().zip(&binders) {
            let root = (Atom::Var(b.var), b.ty.clone());
            let ty = self.bind_param_sizes(&root, &p.ty, &mut Vec::new(), &mut sizes);
            param_tys.push(ty);
        }
        // An i64 parameter may name a size too: `def zeros(n: i64) -> [n]f64`.
        for (p, b) in def.params.iter().zip(&binders) {
            if b.ty == Type::I64 && !sizes.contains_key(&p.name.name) {
                sizes.insert(p.name.name.clone(), Size::Var(b.var));
            }
        }
        for (name, size) in &sizes {
            let atom = match size {
                Size::Const(c) => Atom::I64(*c),
                Size::Var(v) => Atom::Var(*v),
                Size::Unknown => continue,
            };
            env = env.bind(name, self.atom_val(atom, Ty::I64));
        }
        for ((p, b), ty) in def.params.iter().zip(&binders).zip(&param_tys) {
            let val = self.atom_val(Atom::Var(b.var), ty.clone());
            env = env.bind(&p.name.name, val);
        }
        let body = self.expr(&env, &def.body);
        let declared = def
            .ret
            .as_ref()
            .map(|t| (self.type_of(t, &mut |n| sizes.get(n).copied()), t.span));
        let result = self.finish_result(body, declared, def.body.span);
        let ctx = self.ctx.pop();
        let (atom, ret) = result?;
        if self.diags.len() > errors_before {
            return None;
        }
        let mut ctx = ctx;
        let body = ctx.close_block(atom);
        let core_ret = ret.to_core()?;
        self.funcs.push(Func {
            name: def.name.name.clone(),
            params: binders,
            ret: core_ret,
            body,
            span: def.span,
        });
        Some(Sig {
            params: param_tys,
            ret,
            names: ctx.names,
        })
    }

    /// Checks the value of a function body against its declared result type
    /// (if any), inserting a run-time size check where sizes are not known.
    fn finish_result(&mut self, body: Val<'a>, declared: Option<(Ty, Span)>, span: Span) -> Option<(Atom, Ty)> {
        let (atom, ty) = self.first_order(body, span, "the result of a function")?;
        let Some((want, want_span)) = declared else {
            return Some((atom, ty));
        };
        if !want.same_structure(&ty) {
            let msg = format!(
                "this function returns {} but its declared result type is {}",
                self.show(&ty),
                self.show(&want)
            );
            self.error(Diagnostic::error(msg, span, "the body has this type").with_label(want_span, "declared here"));
            return None;
        }
        if let Some((a, b)) = want.size_conflict(&ty) {
            let msg = format!(
                "the result has size {} where the declared type says {}",
                self.show_size(b),
                self.show_size(a)
            );
            self.error(Diagnostic::error(msg, span, "wrong size").with_label(want_span, "declared here"));
            return None;
        }
        if let (Ty::Array(w, _), Ty::Array(g, _)) = (&want, &ty) {
            if compare_sizes(*w, *g) == SizeCmp::Unknown {
                if let Some(expected) = size_atom(*w) {
                    let len = self
                        .ctx
                        .cur()
                        .emit("n", &Ty::I64, Rhs::Prim(Prim::Length, vec![atom]), span);
                    self.ctx
                        .cur()
                        .emit("n", &Ty::I64, Rhs::Prim(Prim::SizeEq, vec![len, expected]), want_span);
                }
            }
        }
        Some((atom, want.join(&ty).join(&want)))
    }

    /// The sized type of a parameter: binds its size variables (emitting
    /// `length` reads) and checks repeated ones at run time.
    fn bind_param_sizes(
        &mut self,
        root: &(Atom, Type),
        t: &TypeExpr,
        path: &mut Vec<Step>,
        sizes: &mut HashMap<String, Size>,
    ) -> Ty {
        match &t.kind {
            TypeKind::F64 => Ty::F64,
            TypeKind::I64 => Ty::I64,
            TypeKind::Bool => Ty::Bool,
            TypeKind::Tuple(ts) => Ty::Tuple(
                ts.iter()
                    .enumerate()
                    .map(|(i, t)| {
                        path.push(Step::Field(i));
                        let ty = self.bind_param_sizes(root, t, path, sizes);
                        path.pop();
                        ty
                    })
                    .collect(),
            ),
            TypeKind::Func(..) => Ty::unit(),
            TypeKind::Array(size, elem) => {
                let size = match size {
                    SizeExpr::Unknown => Size::Unknown,
                    SizeExpr::Const(c) => {
                        let len = self.emit_path_length(root, path, t.span);
                        self.ctx
                            .cur()
                            .emit("n", &Ty::I64, Rhs::Prim(Prim::SizeEq, vec![len, Atom::I64(*c)]), t.span);
                        Size::Const(*c)
                    }
                    SizeExpr::Var(id) => match sizes.get(&id.name) {
                        Some(&known) => {
                            let len = self.emit_path_length(root, path, t.span);
                            if let Some(expected) = size_atom(known) {
                                self.ctx.cur().emit(
                                    "n",
                                    &Ty::I64,
                                    Rhs::Prim(Prim::SizeEq, vec![len, expected]),
                                    id.span,
                                );
                            }
                            known
                        }
                        None => {
                            let len = self.emit_path_length(root, path, t.span);
                            let size = match len {
                                Atom::Var(v) => {
                                    self.ctx.cur().rename(v, &id.name);
                                    Size::Var(v)
                                }
                                Atom::I64(c) => Size::Const(c),
                                _ => Size::Unknown,
                            };
                            sizes.insert(id.name.clone(), size);
                            size
                        }
                    },
                };
                path.push(Step::Row);
                let elem = self.bind_param_sizes(root, elem, path, sizes);
                path.pop();
                Ty::array(size, elem)
            }
        }
    }

    /// `length` of the array at `path` inside `root`. Inner dimensions are
    /// read from the first row, guarded so an empty array has inner size 0.
    pub(super) fn emit_path_length(&mut self, root: &(Atom, Type), path: &[Step], span: Span) -> Atom {
        let rows = path.iter().filter(|s| matches!(s, Step::Row)).count();
        if rows == 0 {
            let (mut cur, mut ty) = root.clone();
            for s in path {
                if let Step::Field(i) = s {
                    ty = field_type(&ty, *i);
                    cur = self.ctx.cur().emit_core("p", ty.clone(), Rhs::Proj(cur, *i), span);
                }
            }
            return self
                .ctx
                .cur()
                .emit("n", &Ty::I64, Rhs::Prim(Prim::Length, vec![cur]), span);
        }
        // Every enclosing dimension must be non-empty to read a row.
        let mut cond = Atom::Bool(true);
        for (k, s) in path.iter().enumerate() {
            if let Step::Row = s {
                let outer = self.emit_path_length(root, &path[..k], span);
                let nonempty =
                    self.ctx
                        .cur()
                        .emit("c", &Ty::Bool, Rhs::Prim(Prim::Gt, vec![outer, Atom::I64(0)]), span);
                cond = if cond == Atom::Bool(true) {
                    nonempty
                } else {
                    self.ctx
                        .cur()
                        .emit("c", &Ty::Bool, Rhs::Prim(Prim::And, vec![cond, nonempty]), span)
                };
            }
        }
        self.ctx.cur().open_block();
        let (mut cur, mut ty) = root.clone();
        for s in path {
            cur = match s {
                Step::Field(i) => {
                    ty = field_type(&ty, *i);
                    self.ctx.cur().emit_core("p", ty.clone(), Rhs::Proj(cur, *i), span)
                }
                Step::Row => {
                    ty = ty.elem().cloned().unwrap_or_else(Type::unit);
                    self.ctx
                        .cur()
                        .emit_core("row", ty.clone(), Rhs::Prim(Prim::Index, vec![cur, Atom::I64(0)]), span)
                }
            };
        }
        let len = self
            .ctx
            .cur()
            .emit("n", &Ty::I64, Rhs::Prim(Prim::Length, vec![cur]), span);
        let then = self.ctx.cur().close_block(len);
        let otherwise = Block::atom(Atom::I64(0));
        self.ctx.cur().emit("n", &Ty::I64, Rhs::If(cond, then, otherwise), span)
    }

    /// A `test "name" = expr`: a function of no argument returning bool.
    pub(super) fn check_test(&mut self, name: &str, body: &'a ast::Expr, span: Span) {
        let errors_before = self.diags.len();
        let saved = std::mem::take(&mut self.ctx);
        self.ctx.push();
        let val = self.expr(&Env::default(), body);
        let result = self.first_order(val, body.span, "a test");
        let mut ctx = self.ctx.pop();
        self.ctx = saved;
        let Some((atom, ty)) = result else { return };
        if ty != Ty::Bool {
            let msg = format!(
                "a test must be a bool, but this is {}",
                ty.display(&|v| ctx.var_name(v))
            );
            self.error(Diagnostic::error(msg, body.span, "not a bool").with_note("compare values with `==` or `~=`"));
            return;
        }
        if self.diags.len() > errors_before {
            return;
        }
        let func = format!("test${}", self.tests.len());
        let body = ctx.close_block(atom);
        self.funcs.push(Func {
            name: func.clone(),
            params: Vec::new(),
            ret: Type::Bool,
            body,
            span,
        });
        self.tests.push(Test {
            name: name.to_string(),
            func,
            span,
        });
    }

    /// The core type of a type annotation (sizes dropped).
    fn core_type_of(&mut self, t: &TypeExpr) -> Option<Type> {
        self.type_of(t, &mut |_| None).to_core()
    }

    /// The checker type of an annotation; `size_of` resolves size names.
    /// Unresolved size names are unknown sizes.
    pub(super) fn type_of(&mut self, t: &TypeExpr, size_of: &mut dyn FnMut(&str) -> Option<Size>) -> Ty {
        match &t.kind {
            TypeKind::F64 => Ty::F64,
            TypeKind::I64 => Ty::I64,
            TypeKind::Bool => Ty::Bool,
            TypeKind::Array(s, e) => {
                let size = match s {
                    SizeExpr::Const(c) => Size::Const(*c),
                    SizeExpr::Var(id) => size_of(&id.name).unwrap_or(Size::Unknown),
                    SizeExpr::Unknown => Size::Unknown,
                };
                Ty::array(size, self.type_of(e, size_of))
            }
            TypeKind::Tuple(ts) => Ty::Tuple(ts.iter().map(|t| self.type_of(t, size_of)).collect()),
            TypeKind::Func(ps, r) => Ty::Func(
                ps.iter().map(|t| self.type_of(t, size_of)).collect(),
                Box::new(self.type_of(r, size_of)),
            ),
        }
    }

    pub(super) fn atom_val(&self, atom: Atom, ty: Ty) -> Val<'a> {
        Val::Atom {
            atom,
            ty,
            ctx: self.ctx.cur_id(),
        }
    }
}

/// The atom holding a size, when it is known.
pub(super) fn size_atom(s: Size) -> Option<Atom> {
    match s {
        Size::Const(c) => Some(Atom::I64(c)),
        Size::Var(v) => Some(Atom::Var(v)),
        Size::Unknown => None,
    }
}

fn field_type(t: &Type, i: usize) -> Type {
    match t {
        Type::Tuple(ts) => ts.get(i).cloned().unwrap_or_else(Type::unit),
        _ => Type::unit(),
    }
}

fn contains_func(t: &TypeExpr) -> bool {
    match &t.kind {
        TypeKind::F64 | TypeKind::I64 | TypeKind::Bool => false,
        TypeKind::Array(_, e) => contains_func(e),
        TypeKind::Tuple(ts) => ts.iter().any(contains_func),
        TypeKind::Func(..) => true,
    }
}
