//! The reference interpreter on small core programs built by hand.
//!
//! Programs are built with `Fb`, a small function builder local to these
//! tests: every statement gets its own span (`0:k..k+1` for the k-th
//! statement built), so a test can check which statement an error names.

use dl_compiler::core::interp::{run, Interpreter, RunError, MAX_CALL_DEPTH};
use dl_compiler::core::ir::{
    Atom, Binder, Block, Combine, DerivOp, Func, Loop, LoopKind, Program, Rhs, Stmt, Type, VarId,
};
use dl_compiler::core::value::{approx_eq, Value};
use dl_compiler::diagnostics::Span;
use dl_compiler::prim::Prim;

/// Builds one function: fresh variables, and a stack of open blocks that
/// statements are appended to.
struct Fb {
    next_var: u32,
    next_span: u32,
    params: Vec<Binder>,
    blocks: Vec<Vec<Stmt>>,
    last_span: Span,
}

impl Fb {
    fn new() -> Fb {
        Fb {
            next_var: 0,
            next_span: 0,
            params: Vec::new(),
            blocks: vec![Vec::new()],
            last_span: Span::default(),
        }
    }

    fn binder(&mut self, name: &str, ty: Type) -> Binder {
        let var = VarId(self.next_var);
        self.next_var += 1;
        Binder {
            var,
            name: name.to_string(),
            ty,
        }
    }

    fn param(&mut self, name: &str, ty: Type) -> Atom {
        let b = self.binder(name, ty);
        let atom = Atom::Var(b.var);
        self.params.push(b);
        atom
    }

    /// Appends `let _ = rhs` to the innermost open block.
    fn bind(&mut self, ty: Type, rhs: Rhs) -> Atom {
        let binder = self.binder("t", ty);
        let atom = Atom::Var(binder.var);
        let span = Span::new(0, self.next_span as usize, self.next_span as usize + 1);
        self.next_span += 1;
        self.last_span = span;
        self.blocks.last_mut().unwrap().push(Stmt { binder, rhs, span });
        atom
    }

    fn prim(&mut self, ty: Type, p: Prim, args: &[Atom]) -> Atom {
        self.bind(ty, Rhs::Prim(p, args.to_vec()))
    }

    fn begin(&mut self) {
        self.blocks.push(Vec::new());
    }

    fn end(&mut self, result: Atom) -> Block {
        Block {
            stmts: self.blocks.pop().unwrap(),
            result,
        }
    }

    fn finish(mut self, name: &str, ret: Type, result: Atom) -> Func {
        assert_eq!(self.blocks.len(), 1, "unclosed block");
        let body = self.end(result);
        Func {
            name: name.to_string(),
            params: self.params,
            ret,
            body,
            span: Span::default(),
        }
    }
}

fn program(funcs: Vec<Func>) -> Program {
    Program {
        funcs,
        tests: Vec::new(),
    }
}

fn f64s() -> Type {
    Type::array(Type::F64)
}
fn fv(xs: &[f64]) -> Value {
    Value::array(xs.iter().map(|&x| Value::F64(x)).collect())
}
fn fm(rows: &[&[f64]]) -> Value {
    Value::array(rows.iter().map(|r| fv(r)).collect())
}
fn iv(xs: &[i64]) -> Value {
    Value::array(xs.iter().map(|&x| Value::I64(x)).collect())
}

fn run1(func: Func, args: Vec<Value>) -> Result<Value, RunError> {
    let name = func.name.clone();
    run(&program(vec![func]), &name, args)
}

/// `map(\x -> x * x, xs)`
fn squares() -> Func {
    let mut fb = Fb::new();
    let xs = fb.param("xs", f64s());
    fb.begin();
    let x = fb.binder("x", Type::F64);
    let sq = fb.prim(Type::F64, Prim::Mul, &[Atom::Var(x.var), Atom::Var(x.var)]);
    let body = fb.end(sq);
    let out = fb.bind(
        f64s(),
        Rhs::Map {
            arrays: vec![xs],
            params: vec![x],
            body,
        },
    );
    fb.finish("squares", f64s(), out)
}

#[test]
fn map_applies_the_body_to_every_element() {
    let got = run1(squares(), vec![fv(&[1.0, -2.0, 0.5])]).unwrap();
    assert_eq!(got, fv(&[1.0, 4.0, 0.25]));
    assert_eq!(run1(squares(), vec![fv(&[])]).unwrap(), fv(&[]));
}

/// `map(\x y -> x - y, xs, ys)`
fn differences() -> (Func, Span) {
    let mut fb = Fb::new();
    let xs = fb.param("xs", f64s());
    let ys = fb.param("ys", f64s());
    fb.begin();
    let x = fb.binder("x", Type::F64);
    let y = fb.binder("y", Type::F64);
    let d = fb.prim(Type::F64, Prim::Sub, &[Atom::Var(x.var), Atom::Var(y.var)]);
    let body = fb.end(d);
    let out = fb.bind(
        f64s(),
        Rhs::Map {
            arrays: vec![xs, ys],
            params: vec![x, y],
            body,
        },
    );
    let span = fb.last_span;
    (fb.finish("differences", f64s(), out), span)
}

#[test]
fn map_over_two_arrays() {
    let (f, _) = differences();
    let got = run1(f, vec![fv(&[5.0, 7.0, 9.0]), fv(&[1.0, 2.0, 3.0])]).unwrap();
    assert_eq!(got, fv(&[4.0, 5.0, 6.0]));
}

#[test]
fn map_over_arrays_of_different_lengths_fails_at_the_map() {
    let (f, map_span) = differences();
    let err = run1(f, vec![fv(&[1.0, 2.0, 3.0]), fv(&[1.0, 2.0, 3.0, 4.0])]).unwrap_err();
    assert_eq!(err.message, "size mismatch: expected 3, got 4");
    assert_eq!(err.span, Some(map_span));
}

#[test]
fn nested_map_over_a_matrix() {
    // map(\row -> map(\x -> x + 1.0, row), m)
    let mut fb = Fb::new();
    let m = fb.param("m", Type::array(f64s()));
    fb.begin();
    let row = fb.binder("row", f64s());
    let row_atom = Atom::Var(row.var);
    fb.begin();
    let x = fb.binder("x", Type::F64);
    let y = fb.prim(Type::F64, Prim::Add, &[Atom::Var(x.var), Atom::F64(1.0)]);
    let inner = fb.end(y);
    let mapped_row = fb.bind(
        f64s(),
        Rhs::Map {
            arrays: vec![row_atom],
            params: vec![x],
            body: inner,
        },
    );
    let outer = fb.end(mapped_row);
    let out = fb.bind(
        Type::array(f64s()),
        Rhs::Map {
            arrays: vec![m],
            params: vec![row],
            body: outer,
        },
    );
    let f = fb.finish("inc", Type::array(f64s()), out);
    let got = run1(f, vec![fm(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]])]).unwrap();
    assert_eq!(got, fm(&[&[2.0, 3.0], &[4.0, 5.0], &[6.0, 7.0]]));
}

/// `build(n, \i -> f64(i) * 2.0)`
fn evens() -> (Func, Span) {
    let mut fb = Fb::new();
    let n = fb.param("n", Type::I64);
    fb.begin();
    let i = fb.binder("i", Type::I64);
    let x = fb.prim(Type::F64, Prim::ToF64, &[Atom::Var(i.var)]);
    let y = fb.prim(Type::F64, Prim::Mul, &[x, Atom::F64(2.0)]);
    let body = fb.end(y);
    let out = fb.bind(f64s(), Rhs::Build { n, index: i, body });
    let span = fb.last_span;
    (fb.finish("evens", f64s(), out), span)
}

#[test]
fn build_evaluates_the_body_at_every_index() {
    let (f, _) = evens();
    assert_eq!(run1(f.clone(), vec![Value::I64(4)]).unwrap(), fv(&[0.0, 2.0, 4.0, 6.0]));
    assert_eq!(run1(f, vec![Value::I64(0)]).unwrap(), fv(&[]));
}

#[test]
fn build_of_a_negative_size_fails() {
    let (f, span) = evens();
    let err = run1(f, vec![Value::I64(-1)]).unwrap_err();
    assert_eq!(err.message, "negative size: -1");
    assert_eq!(err.span, Some(span));
}

/// A reduce or scan of i64s with the operator `acc * 10 + x`, which shows
/// the order of evaluation (it is not associative, which a reference
/// interpreter can still run: it folds left).
fn digits(scan: bool) -> Func {
    let mut fb = Fb::new();
    let xs = fb.param("xs", Type::array(Type::I64));
    fb.begin();
    let acc = fb.binder("acc", Type::I64);
    let x = fb.binder("x", Type::I64);
    let shifted = fb.prim(Type::I64, Prim::Mul, &[Atom::Var(acc.var), Atom::I64(10)]);
    let next = fb.prim(Type::I64, Prim::Add, &[shifted, Atom::Var(x.var)]);
    let body = fb.end(next);
    let combine = Combine {
        ne: Atom::I64(0),
        array: xs,
        acc,
        elem: x,
        body,
    };
    let (ty, rhs) = if scan {
        (Type::array(Type::I64), Rhs::Scan(combine))
    } else {
        (Type::I64, Rhs::Reduce(combine))
    };
    let ret = ty.clone();
    let out = fb.bind(ty, rhs);
    fb.finish("digits", ret, out)
}

#[test]
fn reduce_is_a_left_fold_from_the_neutral_element() {
    assert_eq!(run1(digits(false), vec![iv(&[1, 2, 3])]).unwrap(), Value::I64(123));
    assert_eq!(run1(digits(false), vec![iv(&[])]).unwrap(), Value::I64(0));
}

#[test]
fn scan_is_inclusive() {
    assert_eq!(run1(digits(true), vec![iv(&[1, 2, 3])]).unwrap(), iv(&[1, 12, 123]));
    assert_eq!(run1(digits(true), vec![iv(&[])]).unwrap(), iv(&[]));
}

#[test]
fn sum_of_an_empty_i64_array_is_an_i64() {
    // The value `[]` has no element type: the interpreter takes it from the
    // statement's type.
    let mut fb = Fb::new();
    let xs = fb.param("xs", Type::array(Type::I64));
    let s = fb.prim(Type::I64, Prim::Sum, &[xs]);
    let f = fb.finish("total", Type::I64, s);
    assert_eq!(run1(f, vec![iv(&[])]).unwrap(), Value::I64(0));
}

/// `loop acc = 0 for i < n do acc + i`
fn triangle() -> Func {
    let mut fb = Fb::new();
    let n = fb.param("n", Type::I64);
    let state = fb.binder("acc", Type::I64);
    let index = fb.binder("i", Type::I64);
    fb.begin();
    let next = fb.prim(Type::I64, Prim::Add, &[Atom::Var(state.var), Atom::Var(index.var)]);
    let body = fb.end(next);
    let out = fb.bind(
        Type::I64,
        Rhs::Loop(Loop {
            state,
            init: Atom::I64(0),
            kind: LoopKind::For { n, index },
            body,
        }),
    );
    fb.finish("triangle", Type::I64, out)
}

#[test]
fn for_loop_runs_n_iterations_with_the_index() {
    let interp_program = program(vec![triangle()]);
    let interp = Interpreter::new(&interp_program);
    let call = |n: i64| interp.call("triangle", vec![Value::I64(n)]).unwrap();
    assert_eq!(call(5), Value::I64(10));
    assert_eq!(call(1), Value::I64(0));
    assert_eq!(call(0), Value::I64(0));
    // A negative count runs no iteration.
    assert_eq!(call(-3), Value::I64(0));
}

#[test]
fn a_long_loop_does_not_grow_the_stack() {
    let n = 1_000_000;
    let got = run1(triangle(), vec![Value::I64(n)]).unwrap();
    assert_eq!(got, Value::I64(n * (n - 1) / 2));
}

/// Newton's method: `loop x = a while |x * x - a| > 1e-12 * a do
/// 0.5 * (x + a / x)`, from `x = a`.
fn newton_sqrt() -> Func {
    let mut fb = Fb::new();
    let a = fb.param("a", Type::F64);
    let state = fb.binder("x", Type::F64);
    let x = Atom::Var(state.var);
    fb.begin();
    let sq = fb.prim(Type::F64, Prim::Mul, &[x, x]);
    let diff = fb.prim(Type::F64, Prim::Sub, &[sq, a]);
    let err = fb.prim(Type::F64, Prim::Abs, &[diff]);
    let tol = fb.prim(Type::F64, Prim::Mul, &[Atom::F64(1e-12), a]);
    let go = fb.prim(Type::Bool, Prim::Gt, &[err, tol]);
    let cond = fb.end(go);
    fb.begin();
    let q = fb.prim(Type::F64, Prim::Div, &[a, x]);
    let s = fb.prim(Type::F64, Prim::Add, &[x, q]);
    let next = fb.prim(Type::F64, Prim::Mul, &[Atom::F64(0.5), s]);
    let body = fb.end(next);
    let out = fb.bind(
        Type::F64,
        Rhs::Loop(Loop {
            state,
            init: a,
            kind: LoopKind::While { cond },
            body,
        }),
    );
    fb.finish("newton_sqrt", Type::F64, out)
}

#[test]
fn while_loop_runs_until_the_condition_fails() {
    let p = program(vec![newton_sqrt()]);
    for a in [2.0, 9.0, 1e6, 0.25] {
        let got = run(&p, "newton_sqrt", vec![Value::F64(a)]).unwrap();
        assert!(approx_eq(&got, &Value::F64(f64::sqrt(a)), 1e-12), "sqrt({a}) = {got}");
    }
    // The condition is false at once: no iteration.
    assert_eq!(run(&p, "newton_sqrt", vec![Value::F64(1.0)]).unwrap(), Value::F64(1.0));
}

/// `if x < 0 then 0 - x else x / d` (integers), to show that only the
/// taken branch runs.
fn branchy() -> (Func, Span) {
    let mut fb = Fb::new();
    let x = fb.param("x", Type::I64);
    let d = fb.param("d", Type::I64);
    let c = fb.prim(Type::Bool, Prim::Lt, &[x, Atom::I64(0)]);
    fb.begin();
    let neg = fb.prim(Type::I64, Prim::Sub, &[Atom::I64(0), x]);
    let then = fb.end(neg);
    fb.begin();
    let q = fb.prim(Type::I64, Prim::Div, &[x, d]);
    let div_span = fb.last_span;
    let els = fb.end(q);
    let out = fb.bind(Type::I64, Rhs::If(c, then, els));
    (fb.finish("branchy", Type::I64, out), div_span)
}

#[test]
fn if_runs_only_the_taken_branch() {
    let (f, div_span) = branchy();
    let p = program(vec![f]);
    let call = |x: i64, d: i64| run(&p, "branchy", vec![Value::I64(x), Value::I64(d)]);
    assert_eq!(call(-4, 0).unwrap(), Value::I64(4));
    assert_eq!(call(9, 2).unwrap(), Value::I64(4));
    let err = call(9, 0).unwrap_err();
    assert_eq!(err.message, "integer division by zero: 9 / 0");
    // The innermost statement: the division inside the branch, not the `if`.
    assert_eq!(err.span, Some(div_span));
}

#[test]
fn a_call_runs_the_callee_with_its_own_variables() {
    // hyp(a, b) = sqrt(sq(a) + sq(b)), with sq(x) = x * x; the callee's
    // variable ids overlap the caller's.
    let mut fb = Fb::new();
    let x = fb.param("x", Type::F64);
    let y = fb.prim(Type::F64, Prim::Mul, &[x, x]);
    let sq = fb.finish("sq", Type::F64, y);

    let mut fb = Fb::new();
    let a = fb.param("a", Type::F64);
    let b = fb.param("b", Type::F64);
    let a2 = fb.bind(Type::F64, Rhs::Call("sq".into(), vec![a]));
    let b2 = fb.bind(Type::F64, Rhs::Call("sq".into(), vec![b]));
    let s = fb.prim(Type::F64, Prim::Add, &[a2, b2]);
    let r = fb.prim(Type::F64, Prim::Sqrt, &[s]);
    // `a` is still bound after the calls.
    let out = fb.bind(Type::Tuple(vec![Type::F64, Type::F64]), Rhs::Tuple(vec![r, a]));
    let hyp = fb.finish("hyp", Type::Tuple(vec![Type::F64, Type::F64]), out);

    let p = program(vec![hyp, sq]);
    let got = run(&p, "hyp", vec![Value::F64(3.0), Value::F64(4.0)]).unwrap();
    assert_eq!(got, Value::tuple(vec![Value::F64(5.0), Value::F64(3.0)]));
}

#[test]
fn an_error_in_a_callee_names_the_callee_statement() {
    // get(xs, i) = xs[i]; main(xs) = get(xs, 5)
    let mut fb = Fb::new();
    let xs = fb.param("xs", f64s());
    let i = fb.param("i", Type::I64);
    fb.next_span = 100;
    let e = fb.prim(Type::F64, Prim::Index, &[xs, i]);
    let index_span = fb.last_span;
    let get = fb.finish("get", Type::F64, e);

    let mut fb = Fb::new();
    let xs = fb.param("xs", f64s());
    let out = fb.bind(Type::F64, Rhs::Call("get".into(), vec![xs, Atom::I64(5)]));
    let main = fb.finish("main", Type::F64, out);

    let p = program(vec![main, get]);
    let err = run(&p, "main", vec![fv(&[1.0, 2.0, 3.0])]).unwrap_err();
    assert_eq!(err.message, "index 5 out of bounds for an array of length 3");
    assert_eq!(err.span, Some(index_span));
    assert_eq!(err.to_string(), err.message);
}

#[test]
fn an_error_inside_a_map_body_names_the_body_statement() {
    // map(\i -> xs[i], idx)
    let mut fb = Fb::new();
    let xs = fb.param("xs", f64s());
    let idx = fb.param("idx", Type::array(Type::I64));
    fb.begin();
    let i = fb.binder("i", Type::I64);
    let e = fb.prim(Type::F64, Prim::Index, &[xs, Atom::Var(i.var)]);
    let index_span = fb.last_span;
    let body = fb.end(e);
    let out = fb.bind(
        f64s(),
        Rhs::Map {
            arrays: vec![idx],
            params: vec![i],
            body,
        },
    );
    let map_span = fb.last_span;
    let f = fb.finish("gather", f64s(), out);
    let p = program(vec![f]);
    let ok = run(&p, "gather", vec![fv(&[1.0, 2.0]), iv(&[1, 1, 0])]).unwrap();
    assert_eq!(ok, fv(&[2.0, 2.0, 1.0]));
    let err = run(&p, "gather", vec![fv(&[1.0, 2.0]), iv(&[0, 2])]).unwrap_err();
    assert_eq!(err.message, "index 2 out of bounds for an array of length 2");
    assert_eq!(err.span, Some(index_span));
    assert_ne!(err.span, Some(map_span));
}

#[test]
fn calls_check_their_argument_count() {
    let mut fb = Fb::new();
    let x = fb.param("x", Type::F64);
    let id = fb.finish("id", Type::F64, x);

    let mut fb = Fb::new();
    let out = fb.bind(Type::F64, Rhs::Call("id".into(), vec![Atom::F64(1.0), Atom::F64(2.0)]));
    let call_span = fb.last_span;
    let main = fb.finish("main", Type::F64, out);

    let p = program(vec![main, id]);
    let err = run(&p, "main", vec![]).unwrap_err();
    assert_eq!(err.message, "`id` takes 1 argument, got 2");
    assert_eq!(err.span, Some(call_span));

    // At the entry, there is no statement to blame.
    let err = run(&p, "id", vec![]).unwrap_err();
    assert_eq!(err.message, "`id` takes 1 argument, got 0");
    assert_eq!(err.span, None);

    let err = run(&p, "main", vec![Value::F64(1.0)]).unwrap_err();
    assert_eq!(err.message, "`main` takes 0 arguments, got 1");

    let err = run(&p, "nowhere", vec![]).unwrap_err();
    assert_eq!(err.message, "no function named `nowhere`");
}

#[test]
fn entry_arguments_must_have_the_parameter_types() {
    let err = run1(squares(), vec![Value::F64(1.0)]).unwrap_err();
    assert_eq!(
        err.message,
        "argument 1 of `squares` should be of type []f64, got `1.0`"
    );
    let err = run1(squares(), vec![iv(&[1, 2])]).unwrap_err();
    assert_eq!(
        err.message,
        "argument 1 of `squares` should be of type []f64, got `[1, 2]`"
    );
}

#[test]
fn tuples_projections_and_array_literals() {
    // let t = (x, [x, 2.0 * x], 7) in (t.1, t.2)
    let mut fb = Fb::new();
    let x = fb.param("x", Type::F64);
    let two_x = fb.prim(Type::F64, Prim::Mul, &[Atom::F64(2.0), x]);
    let arr = fb.bind(f64s(), Rhs::Array(vec![x, two_x], Type::F64));
    let t_ty = Type::Tuple(vec![Type::F64, f64s(), Type::I64]);
    let t = fb.bind(t_ty, Rhs::Tuple(vec![x, arr, Atom::I64(7)]));
    let a = fb.bind(f64s(), Rhs::Proj(t, 1));
    let n = fb.bind(Type::I64, Rhs::Proj(t, 2));
    let ret = Type::Tuple(vec![f64s(), Type::I64]);
    let out = fb.bind(ret.clone(), Rhs::Tuple(vec![a, n]));
    let f = fb.finish("pack", ret, out);
    let got = run1(f, vec![Value::F64(1.5)]).unwrap();
    assert_eq!(got, Value::tuple(vec![fv(&[1.5, 3.0]), Value::I64(7)]));
    assert_eq!(got.to_string(), "([1.5, 3.0], 7)");
}

#[test]
fn empty_array_literal_and_unit() {
    let mut fb = Fb::new();
    let arr = fb.bind(f64s(), Rhs::Array(vec![], Type::F64));
    let unit = fb.bind(Type::unit(), Rhs::Tuple(vec![]));
    let ret = Type::Tuple(vec![f64s(), Type::unit()]);
    let out = fb.bind(ret.clone(), Rhs::Tuple(vec![arr, unit]));
    let f = fb.finish("nothing", ret, out);
    let got = run1(f, vec![]).unwrap();
    assert_eq!(got.to_string(), "([], ())");
}

#[test]
fn an_atom_statement_copies_its_value() {
    let mut fb = Fb::new();
    let x = fb.param("x", Type::Bool);
    let y = fb.bind(Type::Bool, Rhs::Atom(x));
    let z = fb.prim(Type::Bool, Prim::Not, &[y]);
    let f = fb.finish("not", Type::Bool, z);
    assert_eq!(run1(f, vec![Value::Bool(true)]).unwrap(), Value::Bool(false));
}

#[test]
fn derivatives_are_an_error_for_now() {
    let mut fb = Fb::new();
    let x = fb.param("x", Type::F64);
    let d = fb.bind(
        Type::F64,
        Rhs::Deriv {
            op: DerivOp::Grad,
            func: "sq".into(),
            captured: vec![],
            args: vec![x],
        },
    );
    let span = fb.last_span;
    let f = fb.finish("dsq", Type::F64, d);
    let err = run1(f, vec![Value::F64(3.0)]).unwrap_err();
    assert_eq!(err.message, "derivatives are not implemented yet");
    assert_eq!(err.span, Some(span));
}

#[test]
fn recursion_is_stopped_before_the_stack_overflows() {
    // forever(x) = forever(x): core has no recursion, but a bad pass could
    // produce it.
    let mut fb = Fb::new();
    let x = fb.param("x", Type::F64);
    let out = fb.bind(Type::F64, Rhs::Call("forever".into(), vec![x]));
    let f = fb.finish("forever", Type::F64, out);
    let err = run1(f, vec![Value::F64(1.0)]).unwrap_err();
    assert!(
        err.message.contains(&format!("more than {MAX_CALL_DEPTH} deep")),
        "{}",
        err.message
    );
}

#[test]
fn size_checks_report_both_sizes() {
    // size_eq(length(xs), 3)
    let mut fb = Fb::new();
    let xs = fb.param("xs", f64s());
    let n = fb.prim(Type::I64, Prim::Length, &[xs]);
    let checked = fb.prim(Type::I64, Prim::SizeEq, &[n, Atom::I64(3)]);
    let span = fb.last_span;
    let f = fb.finish("len3", Type::I64, checked);
    let p = program(vec![f]);
    assert_eq!(run(&p, "len3", vec![fv(&[1.0, 2.0, 3.0])]).unwrap(), Value::I64(3));
    let err = run(&p, "len3", vec![fv(&[1.0; 4])]).unwrap_err();
    assert_eq!(err.message, "size mismatch: expected 3, got 4");
    assert_eq!(err.span, Some(span));
}
