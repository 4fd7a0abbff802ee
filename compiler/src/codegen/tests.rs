//! Hand-built LIR functions compiled by the JIT and compared with the LIR
//! evaluator (`lower::eval`, whose scalar semantics are the
//! interpreter's): scalar operations at their edge cases, loops, buffer
//! maps, vector reductions with their scalar remainders, runtime calls,
//! run-time errors, and parallel loops above the threshold.

use super::jit::{clif_text, Jit};
use crate::core::ir::{Program, Type};
use crate::core::value::Value;
use crate::diagnostics::Span;
use crate::lower::eval::{eval, EvalError};
use crate::lower::lir::{BinOp, Expr, Func, Inst, LoopHint, Operand, Ty, UnOp, Var, VarInfo};
use std::rc::Rc;

/// Builds a LIR function.
struct Builder {
    vars: Vec<VarInfo>,
    params: Vec<Var>,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            vars: Vec::new(),
            params: Vec::new(),
        }
    }

    fn var(&mut self, name: &str, ty: Ty) -> Var {
        self.vars.push(VarInfo {
            name: name.to_string(),
            ty,
        });
        Var(self.vars.len() as u32 - 1)
    }

    fn param(&mut self, name: &str, ty: Ty) -> Var {
        let v = self.var(name, ty);
        self.params.push(v);
        v
    }

    fn func(
        self,
        name: &str,
        param_types: Vec<Type>,
        result_type: Type,
        body: Vec<Inst>,
        results: Vec<Operand>,
    ) -> Func {
        Func {
            name: name.to_string(),
            vars: self.vars,
            params: self.params,
            param_types,
            result_type,
            body,
            results,
            locations: vec![Span {
                file: 1,
                start: 10,
                end: 20,
            }],
        }
    }
}

fn v(var: Var) -> Operand {
    Operand::Var(var)
}

fn set(var: Var, e: Expr) -> Inst {
    Inst::Set(var, e)
}

/// `base[index] = value`, of f64s.
fn store(base: Operand, index: Operand, value: Operand) -> Inst {
    Inst::Store {
        ty: Ty::F64,
        base,
        index,
        value,
    }
}

fn bin(op: BinOp, a: Operand, b: Operand) -> Expr {
    Expr::Binary(op, a, b)
}

fn f64_array(xs: &[f64]) -> Value {
    Value::array(xs.iter().map(|x| Value::F64(*x)).collect())
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same(x, y))
        }
        (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same(x, y))
        }
        _ => a == b,
    }
}

fn jit() -> Jit {
    Jit::new(Program {
        funcs: Vec::new(),
        tests: Vec::new(),
    })
    .expect("a JIT")
}

/// Runs `func` natively and on the evaluator and checks they agree
/// bitwise; returns the value.
fn agree(jit: &mut Jit, func: &Rc<Func>, args: &[Value]) -> Value {
    let want = eval(func, args).unwrap_or_else(|e| panic!("the evaluator fails: {e}"));
    let got = jit
        .call_lir(func, args)
        .unwrap_or_else(|e| panic!("native code fails: {e}"));
    assert!(same(&want, &got), "the evaluator gives {want}, native code {got}");
    got
}

/// A buffer of `n` elements allocated for a result, filled by copying
/// `src`: results are whole `dl_result_alloc` buffers.
fn copy_out(b: &mut Builder, n: Operand, src: Operand, body: &mut Vec<Inst>) -> Var {
    let bytes = b.var("bytes", Ty::I64);
    let r = b.var("r", Ty::Ptr);
    body.push(set(bytes, bin(BinOp::IMul, n, Operand::I64(8))));
    body.push(Inst::Call {
        func: "dl_result_alloc",
        args: vec![v(bytes)],
        result: Some(r),
    });
    body.push(Inst::Copy {
        ty: Ty::F64,
        dst: v(r),
        src,
        n,
    });
    r
}

#[test]
fn scalar_operations_have_the_interpreters_semantics() {
    use BinOp::*;
    let mut b = Builder::new();
    let x = b.param("x", Ty::F64);
    let y = b.param("y", Ty::F64);
    let i = b.param("i", Ty::I64);
    let j = b.param("j", Ty::I64);
    let float_binary = [FAdd, FSub, FMul, FDiv, FMin, FMax];
    let int_binary = [IAdd, ISub, IMul, IDiv, IRem, IMin, IMax];
    let float_compare = [FEq, FNe, FLt, FLe, FGt, FGe];
    let int_compare = [IEq, INe, ILt, ILe, IGt, IGe];
    let float_unary = [
        UnOp::FNeg,
        UnOp::FAbs,
        UnOp::FSqrt,
        UnOp::FFloor,
        UnOp::FCeil,
        UnOp::FSign,
    ];
    let int_unary = [UnOp::INeg, UnOp::IAbs, UnOp::ISign, UnOp::IToF];
    let mut body = Vec::new();
    let mut results = Vec::new();
    let mut types = Vec::new();
    let mut out = |b: &mut Builder, e: Expr, ty: Ty, body: &mut Vec<Inst>| {
        let t = b.var("t", ty);
        body.push(set(t, e));
        results.push(v(t));
        types.push(match ty {
            Ty::F64 => Type::F64,
            Ty::I64 => Type::I64,
            _ => Type::Bool,
        });
        t
    };
    for op in float_binary {
        out(&mut b, bin(op, v(x), v(y)), Ty::F64, &mut body);
    }
    for op in int_binary {
        out(&mut b, bin(op, v(i), v(j)), Ty::I64, &mut body);
    }
    let mut bools = Vec::new();
    for op in float_compare {
        bools.push(out(&mut b, bin(op, v(x), v(y)), Ty::Bool, &mut body));
    }
    for op in int_compare {
        bools.push(out(&mut b, bin(op, v(i), v(j)), Ty::Bool, &mut body));
    }
    for op in [And, Or, BEq, BNe] {
        out(&mut b, bin(op, v(bools[2]), v(bools[8])), Ty::Bool, &mut body);
    }
    out(&mut b, Expr::Unary(UnOp::Not, v(bools[0])), Ty::Bool, &mut body);
    out(&mut b, Expr::Unary(UnOp::BToI, v(bools[1])), Ty::I64, &mut body);
    for op in float_unary {
        out(&mut b, Expr::Unary(op, v(x)), Ty::F64, &mut body);
    }
    for op in int_unary {
        let ty = if op == UnOp::IToF { Ty::F64 } else { Ty::I64 };
        out(&mut b, Expr::Unary(op, v(i)), ty, &mut body);
    }
    out(&mut b, Expr::Unary(UnOp::FToI, Operand::F64(-2.75)), Ty::I64, &mut body);
    out(&mut b, Expr::Select(v(bools[3]), v(x), v(y)), Ty::F64, &mut body);
    let func = Rc::new(b.func(
        "scalars",
        vec![Type::F64, Type::F64, Type::I64, Type::I64],
        Type::Tuple(types),
        body,
        results,
    ));
    let mut jit = jit();
    let floats = [0.0, -0.0, 1.5, -2.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 3.0];
    let ints = [0, 1, -1, 7, -7, 2, i64::MIN, i64::MAX];
    for (k, x) in floats.iter().enumerate() {
        for y in floats {
            let (i, j) = (ints[k], ints[(k + 3) % ints.len()]);
            // The lowering rules out division by zero.
            let j = if j == 0 { -1 } else { j };
            let args = [Value::F64(*x), Value::F64(y), Value::I64(i), Value::I64(j)];
            agree(&mut jit, &func, &args);
        }
    }
    // The edge cases by name: i64::MIN / -1 wraps, min/max order -0 < +0.
    let args = [Value::F64(-0.0), Value::F64(0.0), Value::I64(i64::MIN), Value::I64(-1)];
    let r = agree(&mut jit, &func, &args);
    let fields = r.as_tuple().expect("a tuple");
    assert_eq!(fields[4], Value::F64(-0.0));
    assert!(fields[5].as_f64().is_some_and(|m| m == 0.0 && m.is_sign_positive()));
    assert_eq!(fields[9], Value::I64(i64::MIN));
    assert_eq!(fields[10], Value::I64(0));
}

/// `sum of i*i for i < n`, as a While loop with a counter.
#[test]
fn a_while_loop_counts() {
    let mut b = Builder::new();
    let n = b.param("n", Ty::I64);
    let (i, acc, more, sq) = (
        b.var("i", Ty::I64),
        b.var("acc", Ty::I64),
        b.var("more", Ty::Bool),
        b.var("sq", Ty::I64),
    );
    let body = vec![
        set(i, Expr::Atom(Operand::I64(0))),
        set(acc, Expr::Atom(Operand::I64(0))),
        Inst::While {
            cond: vec![set(more, bin(BinOp::ILt, v(i), v(n)))],
            test: v(more),
            body: vec![
                set(sq, bin(BinOp::IMul, v(i), v(i))),
                set(acc, bin(BinOp::IAdd, v(acc), v(sq))),
                set(i, bin(BinOp::IAdd, v(i), Operand::I64(1))),
            ],
        },
    ];
    let func = Rc::new(b.func("squares", vec![Type::I64], Type::I64, body, vec![v(acc)]));
    let mut jit = jit();
    for n in [0, 1, 10, 1000] {
        let r = agree(&mut jit, &func, &[Value::I64(n)]);
        assert_eq!(r, Value::I64((0..n).map(|k| k * k).sum()));
    }
}

/// `map(\x -> 2x + 1, a)` into an arena buffer, then copied out.
/// A function of one f64 array (`n` elements at `a`, both parameters of
/// `b`) returning a fresh array of `n`: `buf` filled by one loop over `i`
/// from 0 to `n` with `loop_body` and `hint`, then copied to result memory.
fn array_to_array(
    mut b: Builder,
    name: &str,
    (n, buf, i): (Var, Var, Var),
    loop_body: Vec<Inst>,
    hint: LoopHint,
) -> Func {
    let mut body = vec![
        set(buf, Expr::Alloc { ty: Ty::F64, n: v(n) }),
        Inst::For {
            index: i,
            start: Operand::I64(0),
            end: v(n),
            body: loop_body,
            hint,
        },
    ];
    let r = copy_out(&mut b, v(n), v(buf), &mut body);
    b.func(
        name,
        vec![Type::array(Type::F64)],
        Type::array(Type::F64),
        body,
        vec![v(n), v(r)],
    )
}

fn buffer_map(hint: LoopHint) -> Func {
    let mut b = Builder::new();
    let n = b.param("n", Ty::I64);
    let a = b.param("a", Ty::Ptr);
    scaled_buffer_map(b, (n, a), Operand::F64(2.0), hint)
}

/// `x * factor + 1` for each `x` of the array `n`, `a`.
fn scaled_buffer_map(mut b: Builder, (n, a): (Var, Var), factor: Operand, hint: LoopHint) -> Func {
    let (buf, i, x, y, z) = (
        b.var("buf", Ty::Ptr),
        b.var("i", Ty::I64),
        b.var("x", Ty::F64),
        b.var("y", Ty::F64),
        b.var("z", Ty::F64),
    );
    let loop_body = vec![
        set(
            x,
            Expr::Load {
                ty: Ty::F64,
                base: v(a),
                index: v(i),
            },
        ),
        set(y, bin(BinOp::FMul, v(x), factor)),
        set(z, bin(BinOp::FAdd, v(y), Operand::F64(1.0))),
        store(v(buf), v(i), v(z)),
    ];
    array_to_array(b, "map", (n, buf, i), loop_body, hint)
}

fn inputs(n: usize) -> Vec<f64> {
    (0..n).map(|k| ((k * 37 % 23) as f64 - 11.0) * 0.5).collect()
}

#[test]
fn a_buffer_map_runs_plainly_and_in_vector_lanes() {
    let vector = LoopHint {
        vector: true,
        ..LoopHint::default()
    };
    let mut jit = jit();
    for (name, hint) in [("plain", LoopHint::default()), ("vector", vector)] {
        let mut func = buffer_map(hint);
        func.name = name.to_string();
        let func = Rc::new(func);
        for n in [0, 1, 2, 3, 17] {
            let xs = inputs(n);
            let r = agree(&mut jit, &func, &[f64_array(&xs)]);
            let want: Vec<f64> = xs.iter().map(|x| 2.0 * x + 1.0).collect();
            assert_eq!(r, f64_array(&want));
        }
    }
    assert!(clif_text(
        &buffer_map(LoopHint {
            vector: true,
            ..LoopHint::default()
        }),
        &[]
    )
    .expect("compiles")
    .contains("load.f64x2"));
}

/// Four reductions over `a[1..n]` that start from `a[0]`, as the lowering
/// writes them: sum, product, minimum, maximum.
fn reductions(hint_vector: bool, hint_parallel: bool) -> Func {
    use BinOp::*;
    let mut b = Builder::new();
    let n = b.param("n", Ty::I64);
    let a = b.param("a", Ty::Ptr);
    let ops = [FAdd, FMul, FMin, FMax];
    let accs: Vec<Var> = ops.iter().map(|_| b.var("acc", Ty::F64)).collect();
    let (i, x) = (b.var("i", Ty::I64), b.var("x", Ty::F64));
    let mut body: Vec<Inst> = accs
        .iter()
        .map(|acc| {
            set(
                *acc,
                Expr::Load {
                    ty: Ty::F64,
                    base: v(a),
                    index: Operand::I64(0),
                },
            )
        })
        .collect();
    let mut loop_body = vec![set(
        x,
        Expr::Load {
            ty: Ty::F64,
            base: v(a),
            index: v(i),
        },
    )];
    loop_body.extend(accs.iter().zip(ops).map(|(acc, op)| set(*acc, bin(op, v(*acc), v(x)))));
    body.push(Inst::For {
        index: i,
        start: Operand::I64(1),
        end: v(n),
        body: loop_body,
        hint: LoopHint {
            vector: hint_vector,
            parallel: hint_parallel,
            reductions: accs.iter().copied().zip(ops).collect(),
            independent: false,
            summed: Vec::new(),
        },
    });
    b.func(
        "reduce",
        vec![Type::array(Type::F64)],
        Type::Tuple(vec![Type::F64; 4]),
        body,
        accs.iter().map(|a| v(*a)).collect(),
    )
}

#[test]
fn vector_reductions_with_scalar_remainders_agree() {
    let func = Rc::new(reductions(true, false));
    assert!(clif_text(&func, &[]).expect("compiles").contains("fadd.f64x2"));
    let mut jit = jit();
    for n in [1, 2, 3, 4, 5, 9, 10, 17, 100] {
        // Halves and small integers: every order of summation is exact.
        let xs: Vec<f64> = (0..n)
            .map(|k| if k % 5 == 3 { -0.5 } else { 1.0 + (k % 3) as f64 * 0.5 })
            .collect();
        agree(&mut jit, &func, &[f64_array(&xs)]);
    }
    // Negative zeros and NaN: min/max order -0 below +0 and propagate NaN.
    for xs in [
        vec![-0.0; 7],
        vec![0.0, -0.0, 0.0, -0.0, 0.0],
        vec![1.0, 2.0, f64::NAN, 0.5, 3.0, 4.0, 5.0],
    ] {
        agree(&mut jit, &func, &[f64_array(&xs)]);
    }
}

#[test]
fn runtime_mathematics_is_the_interpreters() {
    let mut b = Builder::new();
    let x = b.param("x", Ty::F64);
    let (e, p, s) = (b.var("e", Ty::F64), b.var("p", Ty::F64), b.var("s", Ty::F64));
    let body = vec![
        Inst::Call {
            func: "dl_exp",
            args: vec![v(x)],
            result: Some(e),
        },
        Inst::Call {
            func: "dl_pow",
            args: vec![v(e), Operand::F64(0.3)],
            result: Some(p),
        },
        Inst::Call {
            func: "dl_sigmoid",
            args: vec![v(p)],
            result: Some(s),
        },
    ];
    let func = Rc::new(b.func(
        "math",
        vec![Type::F64],
        Type::Tuple(vec![Type::F64; 3]),
        body,
        vec![v(e), v(p), v(s)],
    ));
    let mut jit = jit();
    for x in [-3.0, -0.0, 0.5, 2.0, 700.0, f64::NAN] {
        agree(&mut jit, &func, &[Value::F64(x)]);
    }
}

/// `pow` is inline for small non-negative integer exponents and a call
/// otherwise; both agree with the interpreter bit for bit.
#[test]
fn inline_pow_is_the_interpreters() {
    let mut b = Builder::new();
    let x = b.param("x", Ty::F64);
    let y = b.param("y", Ty::F64);
    let p = b.var("p", Ty::F64);
    let body = vec![Inst::Call {
        func: "dl_pow",
        args: vec![v(x), v(y)],
        result: Some(p),
    }];
    let func = Rc::new(b.func("pow", vec![Type::F64, Type::F64], Type::F64, body, vec![v(p)]));
    let mut jit = jit();
    let bases = [-3.5, -1.0, -0.0, 0.0, 0.37, 1.0001, 2.0, 1e30, f64::INFINITY, f64::NAN];
    let mut exponents: Vec<f64> = (-3..=66).map(f64::from).collect();
    exponents.extend([
        0.5,
        -0.0,
        63.5,
        200.0,
        255.0,
        256.0,
        257.0,
        1e20,
        f64::INFINITY,
        f64::NAN,
    ]);
    for x in bases {
        for y in &exponents {
            agree(&mut jit, &func, &[Value::F64(x), Value::F64(*y)]);
        }
    }
}

/// `if x < 0 { fail negative size (x) }`.
#[test]
fn a_failure_reports_its_message_and_location() {
    let mut b = Builder::new();
    let x = b.param("x", Ty::I64);
    let negative = b.var("negative", Ty::Bool);
    let body = vec![
        set(negative, bin(BinOp::ILt, v(x), Operand::I64(0))),
        Inst::If {
            cond: v(negative),
            then: vec![Inst::Fail {
                kind: crate::lower::failure::NEGATIVE_SIZE,
                loc: 0,
                values: vec![v(x)],
            }],
            els: Vec::new(),
        },
    ];
    let func = Rc::new(b.func("fail", vec![Type::I64], Type::I64, body, vec![v(x)]));
    let mut jit = jit();
    assert_eq!(agree(&mut jit, &func, &[Value::I64(3)]), Value::I64(3));
    let err = jit.call_lir(&func, &[Value::I64(-3)]).expect_err("fails");
    let Err(EvalError::Failure { message, span, .. }) = eval(&func, &[Value::I64(-3)]) else {
        panic!("the evaluator does not fail");
    };
    assert_eq!((err.message.as_str(), err.span), (message.as_str(), span));
    assert_eq!(err.message, "negative size: -3");
    // The error is forgotten: the next call succeeds.
    assert_eq!(agree(&mut jit, &func, &[Value::I64(4)]), Value::I64(4));
}

#[test]
fn parallel_loops_above_the_threshold_agree() {
    let mut jit = jit();
    let map = Rc::new(buffer_map(LoopHint {
        vector: true,
        parallel: true,
        reductions: Vec::new(),
        independent: false,
        summed: Vec::new(),
    }));
    let reduce = Rc::new(reductions(true, true));
    assert!(clif_text(&reduce, &[]).expect("compiles").contains("func_addr"));
    for n in [5, 40_000, 100_003] {
        let xs = inputs(n);
        agree(&mut jit, &map, &[f64_array(&xs)]);
        let xs: Vec<f64> = (0..n).map(|k| (k % 4) as f64 * 0.25 + 0.5).collect();
        let got = jit.call_lir(&reduce, &[f64_array(&xs)]).expect("runs");
        let want = eval(&reduce, &[f64_array(&xs)]).expect("runs");
        // The sum of quarters is exact in any order; the product is not.
        let (g, w) = (got.as_tuple().expect("a tuple"), want.as_tuple().expect("a tuple"));
        assert_eq!((&g[0], &g[2], &g[3]), (&w[0], &w[2], &w[3]), "n = {n}");
        let (gp, wp) = (g[1].as_f64().expect("f64"), w[1].as_f64().expect("f64"));
        assert!(gp == wp || (gp - wp).abs() <= 1e-12 * wp.abs(), "{gp} {wp}");
    }
}

/// A gather whose index is out of bounds in one chunk of a parallel loop:
/// the error raised in the kernel is the call's.
#[test]
fn an_error_in_a_parallel_kernel_is_reported() {
    let mut b = Builder::new();
    let n = b.param("n", Ty::I64);
    let a = b.param("a", Ty::Ptr);
    let (buf, i, k, outside, x) = (
        b.var("buf", Ty::Ptr),
        b.var("i", Ty::I64),
        b.var("k", Ty::I64),
        b.var("outside", Ty::Bool),
        b.var("x", Ty::F64),
    );
    let (bound, index) = (b.var("bound", Ty::I64), b.var("index", Ty::I64));
    // buf[i] = a[i * 7 % (n + 1)]: index n is out of bounds.
    let loop_body = vec![
        set(k, bin(BinOp::IMul, v(i), Operand::I64(7))),
        set(bound, bin(BinOp::IAdd, v(n), Operand::I64(1))),
        set(index, bin(BinOp::IRem, v(k), v(bound))),
        set(outside, bin(BinOp::IGe, v(index), v(n))),
        Inst::If {
            cond: v(outside),
            then: vec![Inst::Fail {
                kind: crate::lower::failure::INDEX_OUT_OF_BOUNDS,
                loc: 0,
                values: vec![v(index), v(n)],
            }],
            els: Vec::new(),
        },
        set(
            x,
            Expr::Load {
                ty: Ty::F64,
                base: v(a),
                index: v(index),
            },
        ),
        store(v(buf), v(i), v(x)),
    ];
    let hint = LoopHint {
        vector: false,
        parallel: true,
        reductions: Vec::new(),
        independent: false,
        summed: Vec::new(),
    };
    let func = Rc::new(array_to_array(b, "gather", (n, buf, i), loop_body, hint));
    let mut jit = jit();
    // 7 is invertible modulo n + 1: exactly one i reads a[n].
    let args = [f64_array(&inputs(50_002))];
    let err = jit.call_lir(&func, &args).expect_err("fails");
    let Err(EvalError::Failure { message, span, .. }) = eval(&func, &args) else {
        panic!("the evaluator does not fail");
    };
    assert_eq!((err.message.as_str(), err.span), (message.as_str(), span));
    assert!(err.message.starts_with("index 50002 out of bounds"), "{}", err.message);
    // n = 6: 7i mod 7 is never 6, so it runs; below the threshold.
    agree(&mut jit, &func, &[f64_array(&inputs(6))]);
}

/// With the sizes of the size signature folded in, a parallel loop is
/// compiled for the threads or for the calling thread, not both.
#[test]
fn known_sizes_decide_between_threads_and_the_calling_thread() {
    let reduce = reductions(true, true);
    let unknown = clif_text(&reduce, &[]).expect("compiles");
    assert!(unknown.contains("func_addr") && unknown.contains("iconst.i64 0x8000"));
    let small = clif_text(&reduce, &[Some(100), None]).expect("compiles");
    assert!(!small.contains("func_addr"), "{small}");
    let big = clif_text(&reduce, &[Some(1_000_000), None]).expect("compiles");
    // The kernel, and no test of the threshold (0x8000 iterations).
    assert!(big.contains("func_addr") && !big.contains("iconst.i64 0x8000"), "{big}");
}

/// A vector loop over a fresh buffer that stores to it and then loads the
/// stored value back for `exp`: the argument of `exp` is only known after
/// the store, so the call is not staged a block ahead (which would read
/// the value before the store); the loop runs long enough for blocks.
#[test]
fn a_call_whose_argument_reads_a_store_of_its_iteration_is_not_staged() {
    let mut b = Builder::new();
    let n = b.param("n", Ty::I64);
    let a = b.param("a", Ty::Ptr);
    let (buf, i, x, y, z, e) = (
        b.var("buf", Ty::Ptr),
        b.var("i", Ty::I64),
        b.var("x", Ty::F64),
        b.var("y", Ty::F64),
        b.var("z", Ty::F64),
        b.var("e", Ty::F64),
    );
    let load = |var: Var, base: Var| {
        set(
            var,
            Expr::Load {
                ty: Ty::F64,
                base: v(base),
                index: v(i),
            },
        )
    };
    let store = |value: Var| store(v(buf), v(i), v(value));
    let loop_body = vec![
        load(x, a),
        set(y, bin(BinOp::FMul, v(x), Operand::F64(0.5))),
        store(y),
        load(z, buf),
        Inst::Call {
            func: "dl_exp",
            args: vec![v(z)],
            result: Some(e),
        },
        store(e),
    ];
    let hint = LoopHint {
        vector: true,
        ..LoopHint::default()
    };
    let func = Rc::new(array_to_array(b, "store_then_exp", (n, buf, i), loop_body, hint));
    let mut jit = jit();
    for n in [3, 300, 600] {
        let xs = inputs(n);
        let got = agree(&mut jit, &func, &[f64_array(&xs)]);
        let want: Vec<f64> = xs.iter().map(|x| dl_runtime::math::exp(0.5 * x)).collect();
        assert_eq!(got, f64_array(&want));
    }
}

/// A `while` whose condition fails before it sets what the code after the
/// loop reads (the verifier counts the condition's sets as set after
/// it): nothing after the failure is compiled, and the failure is the
/// evaluator's.
#[test]
fn a_while_condition_that_always_fails_compiles_nothing_after_it() {
    let mut b = Builder::new();
    let x = b.param("x", Ty::I64);
    let (t, more, y) = (b.var("t", Ty::I64), b.var("more", Ty::Bool), b.var("y", Ty::I64));
    let body = vec![Inst::While {
        cond: vec![
            Inst::Fail {
                kind: crate::lower::failure::NEGATIVE_SIZE,
                loc: 0,
                values: vec![v(x)],
            },
            set(t, bin(BinOp::IAdd, v(x), Operand::I64(1))),
            set(more, bin(BinOp::ILt, v(t), Operand::I64(0))),
        ],
        test: v(more),
        body: vec![set(y, bin(BinOp::IAdd, v(t), Operand::I64(1)))],
    }];
    let func = b.func("fails", vec![Type::I64], Type::I64, body, vec![v(t)]);
    crate::lower::verify::verify(&func).expect("verifies");
    let func = Rc::new(func);
    let err = jit().call_lir(&func, &[Value::I64(3)]).expect_err("fails");
    let Err(EvalError::Failure { message, .. }) = eval(&func, &[Value::I64(3)]) else {
        panic!("the evaluator does not fail");
    };
    assert_eq!(err.message, message);
}

/// An independent loop whose body may assign `x` (on a path never
/// taken) and reads it: every iteration reads the value from before the
/// loop, on the threads too, where the kernel must be given it.
#[test]
fn an_independent_loop_reads_what_it_may_assign_from_before_it() {
    let mut b = Builder::new();
    let n = b.param("n", Ty::I64);
    b.param("a", Ty::Ptr);
    let (buf, i, x, c) = (
        b.var("buf", Ty::Ptr),
        b.var("i", Ty::I64),
        b.var("x", Ty::F64),
        b.var("c", Ty::Bool),
    );
    let loop_body = vec![
        set(c, bin(BinOp::ILt, v(i), Operand::I64(0))),
        Inst::If {
            cond: v(c),
            then: vec![set(x, Expr::Atom(Operand::F64(5.0)))],
            els: vec![],
        },
        store(v(buf), v(i), v(x)),
    ];
    let hint = LoopHint {
        independent: true,
        ..LoopHint::default()
    };
    let mut func = array_to_array(b, "reads_before", (n, buf, i), loop_body, hint);
    func.body.insert(0, set(x, Expr::Atom(Operand::F64(3.0))));
    crate::lower::verify::verify(&func).expect("verifies");
    let func = Rc::new(func);
    let mut jit = jit();
    for n in [10, 100_000] {
        let got = agree(&mut jit, &func, &[f64_array(&inputs(n))]);
        assert!(same(&got, &f64_array(&vec![3.0; n])), "n = {n}");
    }
}

/// What a vector loop reads but does not compute stays out of it, and
/// out of the loop around it: a division computed once before both,
/// with a constant operand, and the lanes of that value and of a
/// constant. Cranelift would otherwise place the division at its use
/// (with the constant it places again in each block), and hoisted
/// nothing at all out of a loop whose exit block it visited before the
/// body (one division per pair of elements made ODE's stage loops a
/// quarter slower).
#[test]
fn loop_invariants_stay_out_of_the_loops_that_read_them() {
    let mut b = Builder::new();
    let n = b.param("n", Ty::I64);
    let a = b.param("a", Ty::Ptr);
    let (count, step) = (b.var("count", Ty::F64), b.var("step", Ty::F64));
    let vector = LoopHint {
        vector: true,
        ..LoopHint::default()
    };
    let mut func = scaled_buffer_map(b, (n, a), v(step), vector);
    let before_the_loop = [
        set(count, Expr::Unary(UnOp::IToF, v(n))),
        set(step, bin(BinOp::FDiv, Operand::F64(2.0), v(count))),
    ];
    // The map runs three times over, in an outer loop.
    let map = func
        .body
        .iter()
        .position(|inst| matches!(inst, Inst::For { .. }))
        .expect("the map's loop");
    let round = Var(func.vars.len() as u32);
    func.vars.push(VarInfo {
        name: "round".to_string(),
        ty: Ty::I64,
    });
    let inner = func.body.remove(map);
    func.body.insert(
        map,
        Inst::For {
            index: round,
            start: Operand::I64(0),
            end: Operand::I64(3),
            body: vec![inner],
            hint: LoopHint::default(),
        },
    );
    func.body.splice(0..0, before_the_loop);
    let text = clif_text(&func, &[]).expect("compiles");
    // The division is made once, before the outer loop's head (the first
    // block after the entry with a parameter, the loop's counter).
    let blocks: Vec<&str> = text.split("\nblock").skip(1).collect();
    let head = (1..blocks.len()).find(|&k| blocks[k].split(':').next().is_some_and(|h| h.contains('(')));
    let divides: Vec<usize> = (0..blocks.len()).filter(|&k| blocks[k].contains("fdiv")).collect();
    assert!(matches!((&divides[..], head), ([k], Some(h)) if k < &h), "{text}");
    // Each block of the loops loads; no block that loads makes lanes of an
    // invariant.
    for block in blocks.iter().filter(|block| block.contains("load.f64")) {
        for invariant in ["splat", "vconst"] {
            assert!(!block.contains(invariant), "{invariant} in a loop:\nblock{block}");
        }
    }
    assert!(text.contains("splat") && text.contains("vconst"), "{text}");
    let func = Rc::new(func);
    let mut jit = jit();
    for n in [0, 1, 5, 17] {
        let xs = inputs(n);
        let got = agree(&mut jit, &func, &[f64_array(&xs)]);
        let want: Vec<f64> = xs.iter().map(|x| x * (2.0 / n as f64) + 1.0).collect();
        assert!(same(&got, &f64_array(&want)), "{got}");
    }
}

/// A `while` loop leaves on the negation of its test, computed as the
/// complemented comparison: NaN, for which `x > 1` is false, leaves at
/// once, as on the evaluator.
#[test]
fn a_while_loop_leaves_on_its_complemented_test() {
    let mut b = Builder::new();
    let x = b.param("x", Ty::F64);
    let (y, more) = (b.var("y", Ty::F64), b.var("more", Ty::Bool));
    let body = vec![
        set(y, Expr::Atom(v(x))),
        Inst::While {
            cond: vec![set(more, bin(BinOp::FGt, v(y), Operand::F64(1.0)))],
            test: v(more),
            body: vec![set(y, bin(BinOp::FDiv, v(y), Operand::F64(2.0)))],
        },
    ];
    let func = b.func("halve", vec![Type::F64], Type::F64, body, vec![v(y)]);
    let text = clif_text(&func, &[]).expect("compiles");
    assert!(text.contains("fcmp ule"), "{text}");
    let func = Rc::new(func);
    let mut jit = jit();
    for (x, want) in [(37.0, 0.578125), (0.5, 0.5), (f64::NEG_INFINITY, f64::NEG_INFINITY)] {
        assert_eq!(agree(&mut jit, &func, &[Value::F64(x)]), Value::F64(want));
    }
    let nan = agree(&mut jit, &func, &[Value::F64(f64::NAN)]);
    assert!(matches!(nan, Value::F64(r) if r.is_nan()), "{nan}");
}
