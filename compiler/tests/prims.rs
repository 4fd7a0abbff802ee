//! The reference semantics of every primitive, against hand-computed values.
//!
//! Each group of cases is a table of `(prim, args, expected)`; the last test
//! checks that every primitive of `Prim::ALL` has at least one case, so a new
//! primitive without a test fails here.

use dl_compiler::core::ir::Type;
use dl_compiler::core::value::Value;
use dl_compiler::prim::Prim;
use std::collections::BTreeSet;
use std::f64::consts::{E, FRAC_PI_2, FRAC_PI_4, PI};

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

fn f(x: f64) -> Value {
    Value::F64(x)
}
fn i(n: i64) -> Value {
    Value::I64(n)
}
fn b(x: bool) -> Value {
    Value::Bool(x)
}
fn fv(xs: &[f64]) -> Value {
    Value::array(xs.iter().copied().map(f).collect())
}
fn iv(xs: &[i64]) -> Value {
    Value::array(xs.iter().copied().map(i).collect())
}
fn fm(rows: &[&[f64]]) -> Value {
    Value::array(rows.iter().map(|r| fv(r)).collect())
}
fn tup(fields: Vec<Value>) -> Value {
    Value::tuple(fields)
}
fn empty() -> Value {
    Value::array(Vec::new())
}

enum Want {
    /// Exactly this value: floats compare by bits (so `-0.0` differs from
    /// `0.0`), and any NaN matches any NaN.
    Is(Value),
    /// A float within this relative tolerance.
    Near(f64, f64),
    /// An error whose message contains the text.
    Fails(&'static str),
}

struct Case {
    prim: Prim,
    args: Vec<Value>,
    /// The result type, for `eval_typed`; `None` uses `eval`.
    result: Option<Type>,
    want: Want,
}

#[derive(Default)]
struct Cases(Vec<Case>);

impl Cases {
    fn is(&mut self, prim: Prim, args: Vec<Value>, want: Value) {
        self.0.push(Case {
            prim,
            args,
            result: None,
            want: Want::Is(want),
        });
    }
    fn near(&mut self, prim: Prim, args: Vec<Value>, want: f64) {
        self.0.push(Case {
            prim,
            args,
            result: None,
            want: Want::Near(want, 1e-14),
        });
    }
    fn fails(&mut self, prim: Prim, args: Vec<Value>, message: &'static str) {
        self.0.push(Case {
            prim,
            args,
            result: None,
            want: Want::Fails(message),
        });
    }
    fn typed(&mut self, prim: Prim, args: Vec<Value>, result: Type, want: Want) {
        self.0.push(Case {
            prim,
            args,
            result: Some(result),
            want,
        });
    }
}

/// Structural equality with floats compared by bits, NaNs all equal.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same(x, y))
        }
        (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same(x, y))
        }
        _ => false,
    }
}

fn check(cases: Cases) {
    let mut failures = Vec::new();
    for case in &cases.0 {
        let got = match &case.result {
            Some(ty) => case.prim.eval_typed(&case.args, ty),
            None => case.prim.eval(&case.args),
        };
        let args: Vec<String> = case.args.iter().map(|a| a.to_string()).collect();
        let call = format!("{}({})", case.prim.name(), args.join(", "));
        let ok = match (&case.want, &got) {
            (Want::Is(want), Ok(v)) => same(want, v),
            (Want::Near(want, rel), Ok(Value::F64(x))) => (x - want).abs() <= rel * want.abs().max(f64::MIN_POSITIVE),
            (Want::Fails(text), Err(e)) => e.0.contains(text),
            _ => false,
        };
        if !ok {
            let want = match &case.want {
                Want::Is(v) => format!("{v}"),
                Want::Near(x, rel) => format!("{x} within {rel}"),
                Want::Fails(text) => format!("an error containing {text:?}"),
            };
            failures.push(format!("{call}: expected {want}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn arithmetic(c: &mut Cases) {
    use Prim::*;
    c.is(Add, vec![f(1.5), f(2.25)], f(3.75));
    c.is(Add, vec![i(2), i(3)], i(5));
    c.is(Add, vec![i(i64::MAX), i(1)], i(i64::MIN));
    c.is(Add, vec![f(INF), f(-INF)], f(NAN));
    c.is(Add, vec![f(-0.0), f(-0.0)], f(-0.0));
    c.is(Add, vec![f(0.0), f(-0.0)], f(0.0));

    c.is(Sub, vec![f(5.0), f(0.5)], f(4.5));
    c.is(Sub, vec![i(3), i(5)], i(-2));
    c.is(Sub, vec![i(i64::MIN), i(1)], i(i64::MAX));
    c.is(Sub, vec![f(INF), f(INF)], f(NAN));

    c.is(Mul, vec![f(1.5), f(-2.0)], f(-3.0));
    c.is(Mul, vec![i(6), i(7)], i(42));
    c.is(Mul, vec![f(0.0), f(INF)], f(NAN));
    c.is(Mul, vec![f(-0.0), f(1.0)], f(-0.0));
    c.is(Mul, vec![i(1 << 62), i(4)], i(0));

    c.is(Div, vec![f(7.0), f(2.0)], f(3.5));
    c.is(Div, vec![f(1.0), f(0.0)], f(INF));
    c.is(Div, vec![f(1.0), f(-0.0)], f(-INF));
    c.is(Div, vec![f(0.0), f(0.0)], f(NAN));
    c.is(Div, vec![i(7), i(2)], i(3));
    c.is(Div, vec![i(-7), i(2)], i(-3));
    c.is(Div, vec![i(7), i(-2)], i(-3));
    c.is(Div, vec![i(i64::MIN), i(-1)], i(i64::MIN));
    c.fails(Div, vec![i(7), i(0)], "integer division by zero: 7 / 0");

    c.is(Rem, vec![f(7.5), f(2.0)], f(1.5));
    c.is(Rem, vec![f(-7.5), f(2.0)], f(-1.5));
    c.is(Rem, vec![f(1.0), f(0.0)], f(NAN));
    c.is(Rem, vec![i(7), i(3)], i(1));
    c.is(Rem, vec![i(-7), i(3)], i(-1));
    c.is(Rem, vec![i(7), i(-3)], i(1));
    c.is(Rem, vec![i(i64::MIN), i(-1)], i(0));
    c.fails(Rem, vec![i(7), i(0)], "integer division by zero: 7 % 0");

    c.is(Pow, vec![f(2.0), f(10.0)], f(1024.0));
    c.near(Pow, vec![f(2.0), f(0.5)], std::f64::consts::SQRT_2);
    c.is(Pow, vec![f(NAN), f(0.0)], f(1.0));
    c.is(Pow, vec![f(-8.0), f(1.0 / 3.0)], f(NAN));
    c.is(Pow, vec![f(0.0), f(-1.0)], f(INF));
    c.is(Pow, vec![i(2), i(10)], i(1024));
    c.is(Pow, vec![i(3), i(0)], i(1));
    c.is(Pow, vec![i(0), i(0)], i(1));
    c.is(Pow, vec![i(-2), i(3)], i(-8));
    c.is(Pow, vec![i(2), i(64)], i(0));
    c.is(Pow, vec![i(1), i(i64::MAX)], i(1));
    c.fails(Pow, vec![i(2), i(-1)], "negative exponent in integer power: 2 ** -1");

    c.is(Min, vec![f(1.0), f(2.0)], f(1.0));
    c.is(Min, vec![f(NAN), f(1.0)], f(NAN));
    c.is(Min, vec![f(1.0), f(NAN)], f(NAN));
    c.is(Min, vec![f(-0.0), f(0.0)], f(-0.0));
    c.is(Min, vec![f(0.0), f(-0.0)], f(-0.0));
    c.is(Min, vec![f(-INF), f(3.0)], f(-INF));
    c.is(Min, vec![i(3), i(-4)], i(-4));

    c.is(Max, vec![f(1.0), f(2.0)], f(2.0));
    c.is(Max, vec![f(NAN), f(1.0)], f(NAN));
    c.is(Max, vec![f(1.0), f(NAN)], f(NAN));
    c.is(Max, vec![f(-0.0), f(0.0)], f(0.0));
    c.is(Max, vec![f(0.0), f(-0.0)], f(0.0));
    c.is(Max, vec![f(INF), f(3.0)], f(INF));
    c.is(Max, vec![i(3), i(-4)], i(3));

    c.near(Atan2, vec![f(1.0), f(1.0)], FRAC_PI_4);
    c.near(Atan2, vec![f(1.0), f(0.0)], FRAC_PI_2);
    c.is(Atan2, vec![f(0.0), f(-1.0)], f(PI));
    c.is(Atan2, vec![f(-0.0), f(-1.0)], f(-PI));
    c.is(Atan2, vec![f(NAN), f(1.0)], f(NAN));
}

fn unary(c: &mut Cases) {
    use Prim::*;
    c.is(Neg, vec![f(1.5)], f(-1.5));
    c.is(Neg, vec![f(0.0)], f(-0.0));
    c.is(Neg, vec![f(NAN)], f(NAN));
    c.is(Neg, vec![i(5)], i(-5));
    c.is(Neg, vec![i(i64::MIN)], i(i64::MIN));

    c.is(Abs, vec![f(-2.5)], f(2.5));
    c.is(Abs, vec![f(-0.0)], f(0.0));
    c.is(Abs, vec![f(-INF)], f(INF));
    c.is(Abs, vec![i(-3)], i(3));
    c.is(Abs, vec![i(i64::MIN)], i(i64::MIN));

    c.is(Sign, vec![f(3.5)], f(1.0));
    c.is(Sign, vec![f(-2.0)], f(-1.0));
    c.is(Sign, vec![f(0.0)], f(0.0));
    c.is(Sign, vec![f(-0.0)], f(-0.0));
    c.is(Sign, vec![f(NAN)], f(NAN));
    c.is(Sign, vec![f(-INF)], f(-1.0));
    c.is(Sign, vec![f(1e-320)], f(1.0));
    c.is(Sign, vec![i(-7)], i(-1));
    c.is(Sign, vec![i(0)], i(0));
    c.is(Sign, vec![i(9)], i(1));

    c.is(Sqrt, vec![f(4.0)], f(2.0));
    c.is(Sqrt, vec![f(-1.0)], f(NAN));
    c.is(Sqrt, vec![f(-0.0)], f(-0.0));
    c.is(Sqrt, vec![f(INF)], f(INF));

    c.is(Exp, vec![f(0.0)], f(1.0));
    c.near(Exp, vec![f(1.0)], E);
    c.is(Exp, vec![f(-INF)], f(0.0));
    c.is(Exp, vec![f(1000.0)], f(INF));

    c.is(Log, vec![f(1.0)], f(0.0));
    c.near(Log, vec![f(E)], 1.0);
    c.is(Log, vec![f(0.0)], f(-INF));
    c.is(Log, vec![f(-1.0)], f(NAN));
    c.is(Log, vec![f(INF)], f(INF));

    c.is(Log1p, vec![f(0.0)], f(0.0));
    c.is(Log1p, vec![f(1e-20)], f(1e-20));
    c.is(Log1p, vec![f(-1.0)], f(-INF));
    c.near(Log1p, vec![f(E - 1.0)], 1.0);

    c.is(Expm1, vec![f(0.0)], f(0.0));
    c.is(Expm1, vec![f(1e-20)], f(1e-20));
    c.is(Expm1, vec![f(-INF)], f(-1.0));
    c.near(Expm1, vec![f(1.0)], E - 1.0);

    c.is(Sin, vec![f(0.0)], f(0.0));
    c.is(Sin, vec![f(-0.0)], f(-0.0));
    c.near(Sin, vec![f(FRAC_PI_2)], 1.0);
    c.is(Sin, vec![f(INF)], f(NAN));

    c.is(Cos, vec![f(0.0)], f(1.0));
    c.near(Cos, vec![f(PI)], -1.0);
    c.is(Cos, vec![f(NAN)], f(NAN));

    c.is(Tan, vec![f(0.0)], f(0.0));
    c.near(Tan, vec![f(FRAC_PI_4)], 1.0);

    c.is(Tanh, vec![f(0.0)], f(0.0));
    c.is(Tanh, vec![f(INF)], f(1.0));
    c.is(Tanh, vec![f(-INF)], f(-1.0));
    c.near(Tanh, vec![f(0.5)], 0.46211715726000974);

    c.is(Sigmoid, vec![f(0.0)], f(0.5));
    c.is(Sigmoid, vec![f(1000.0)], f(1.0));
    c.is(Sigmoid, vec![f(-1000.0)], f(0.0));
    c.is(Sigmoid, vec![f(INF)], f(1.0));
    c.is(Sigmoid, vec![f(-INF)], f(0.0));
    c.is(Sigmoid, vec![f(NAN)], f(NAN));
    c.near(Sigmoid, vec![f(2.0)], 0.8807970779778823);
    c.near(Sigmoid, vec![f(-2.0)], 0.11920292202211755);
    // Stable far in the left tail: exp(-700) / (1 + exp(-700)), not 0.
    c.near(Sigmoid, vec![f(-700.0)], 9.85967654375977e-305);

    c.is(Floor, vec![f(1.5)], f(1.0));
    c.is(Floor, vec![f(-1.5)], f(-2.0));
    c.is(Floor, vec![f(-0.0)], f(-0.0));
    c.is(Floor, vec![f(INF)], f(INF));
    c.is(Floor, vec![f(NAN)], f(NAN));

    c.is(Ceil, vec![f(1.2)], f(2.0));
    c.is(Ceil, vec![f(-1.5)], f(-1.0));
    c.is(Ceil, vec![f(-0.5)], f(-0.0));
    c.is(Ceil, vec![f(-INF)], f(-INF));

    c.is(Erf, vec![f(0.0)], f(0.0));
    c.is(Erf, vec![f(-0.0)], f(-0.0));
    c.near(Erf, vec![f(1.0)], 0.8427007929497149);
    c.near(Erf, vec![f(-1.0)], -0.8427007929497149);
    c.near(Erf, vec![f(0.5)], 0.5204998778130465);
    c.near(Erf, vec![f(3.0)], 0.9999779095030014);
    c.near(Erf, vec![f(1e-10)], 1.1283791670955126e-10);
    c.is(Erf, vec![f(INF)], f(1.0));
    c.is(Erf, vec![f(-INF)], f(-1.0));
    c.is(Erf, vec![f(NAN)], f(NAN));

    c.is(Lgamma, vec![f(1.0)], f(0.0));
    c.is(Lgamma, vec![f(2.0)], f(0.0));
    c.near(Lgamma, vec![f(0.5)], 0.5723649429247001);
    c.near(Lgamma, vec![f(10.0)], 12.801827480081469);
    c.near(Lgamma, vec![f(100.0)], 359.1342053695754);
    // log |Γ(-0.5)| = log(2 sqrt(pi)).
    c.near(Lgamma, vec![f(-0.5)], 1.2655121234846454);
    c.is(Lgamma, vec![f(0.0)], f(INF));
    c.is(Lgamma, vec![f(-1.0)], f(INF));
    c.is(Lgamma, vec![f(INF)], f(INF));
    c.is(Lgamma, vec![f(NAN)], f(NAN));

    // polygamma(k, x), the k-th derivative of lgamma' (references: mpmath).
    c.near(Polygamma, vec![i(0), f(1.0)], -0.5772156649015329);
    c.near(Polygamma, vec![i(0), f(0.5)], -1.9635100260214235);
    c.near(Polygamma, vec![i(0), f(10.0)], 2.251752589066721);
    c.near(Polygamma, vec![i(0), f(100.25)], 4.602671243274712);
    c.near(Polygamma, vec![i(0), f(1e10)], 23.025850929890456);
    c.near(Polygamma, vec![i(0), f(1e-3)], -1000.5755719318103);
    c.near(Polygamma, vec![i(0), f(-0.5)], 0.03648997397857652);
    c.near(Polygamma, vec![i(0), f(-3.7)], -0.8450768588704194);
    c.near(Polygamma, vec![i(0), f(-1e-4)], 9999.42261982967);
    c.near(Polygamma, vec![i(1), f(1.0)], 1.6449340668482264);
    c.near(Polygamma, vec![i(1), f(0.5)], 4.934802200544679);
    c.near(Polygamma, vec![i(1), f(-0.5)], 8.934802200544679);
    c.near(Polygamma, vec![i(1), f(7.3)], 0.1467957681314271);
    c.near(Polygamma, vec![i(1), f(-3.7)], 14.84242186412428);
    c.near(Polygamma, vec![i(1), f(1e-4)], 100000001.64469368);
    c.near(Polygamma, vec![i(2), f(1.0)], -2.4041138063191886);
    c.near(Polygamma, vec![i(2), f(2.5)], -0.2362040516417274);
    c.near(Polygamma, vec![i(2), f(-1.3)], 68.54941347116213);
    c.near(Polygamma, vec![i(3), f(0.7)], 25.879149678427738);
    c.near(Polygamma, vec![i(3), f(-2.2)], 3768.52054063475);
    c.near(Polygamma, vec![i(4), f(12.0)], -0.0003409100507010894);
    c.near(Polygamma, vec![i(5), f(0.3)], 164634.84609922304);
    // Poles: +inf for odd orders, where both sides tend to it; NaN else.
    c.is(Polygamma, vec![i(0), f(0.0)], f(NAN));
    c.is(Polygamma, vec![i(0), f(-2.0)], f(NAN));
    c.is(Polygamma, vec![i(1), f(-2.0)], f(INF));
    c.is(Polygamma, vec![i(0), f(INF)], f(INF));
    c.is(Polygamma, vec![i(1), f(INF)], f(0.0));
    c.is(Polygamma, vec![i(0), f(-INF)], f(NAN));
    c.is(Polygamma, vec![i(2), f(NAN)], f(NAN));
    c.fails(Polygamma, vec![i(-1), f(1.0)], "polygamma of order -1");
    c.fails(Polygamma, vec![i(101), f(1.0)], "between 0 and 100");
}

fn conversions_and_logic(c: &mut Cases) {
    use Prim::*;
    c.is(ToF64, vec![i(3)], f(3.0));
    c.is(ToF64, vec![i(-7)], f(-7.0));
    c.is(ToF64, vec![f(2.5)], f(2.5));
    c.is(ToF64, vec![i((1 << 53) + 1)], f(9007199254740992.0));

    c.is(ToI64, vec![f(2.7)], i(2));
    c.is(ToI64, vec![f(-2.7)], i(-2));
    c.is(ToI64, vec![f(-0.0)], i(0));
    c.is(ToI64, vec![i(5)], i(5));
    c.is(ToI64, vec![f(-(2f64.powi(63)))], i(i64::MIN));
    c.is(ToI64, vec![f(2f64.powi(63) - 1024.0)], i(9223372036854774784));
    c.fails(ToI64, vec![f(NAN)], "cannot convert nan to i64");
    c.fails(ToI64, vec![f(1e20)], "cannot convert 1e20 to i64: out of range");
    c.fails(ToI64, vec![f(2f64.powi(63))], "9.223372036854776e18");
    c.fails(ToI64, vec![f(-INF)], "cannot convert -inf to i64");

    c.is(Eq, vec![f(1.0), f(1.0)], b(true));
    c.is(Eq, vec![f(1.0), f(2.0)], b(false));
    c.is(Eq, vec![f(NAN), f(NAN)], b(false));
    c.is(Eq, vec![f(0.0), f(-0.0)], b(true));
    c.is(Eq, vec![i(4), i(4)], b(true));
    c.is(Eq, vec![b(true), b(false)], b(false));
    c.is(Eq, vec![fv(&[1.0, 2.0]), fv(&[1.0, 2.0])], b(true));
    c.is(Eq, vec![fv(&[1.0, 2.0]), fv(&[1.0])], b(false));
    c.is(Eq, vec![fv(&[NAN]), fv(&[NAN])], b(false));
    c.is(Eq, vec![empty(), empty()], b(true));
    c.is(
        Eq,
        vec![tup(vec![f(1.0), iv(&[1, 2])]), tup(vec![f(1.0), iv(&[1, 2])])],
        b(true),
    );
    c.is(
        Eq,
        vec![tup(vec![f(1.0), iv(&[1, 2])]), tup(vec![f(1.0), iv(&[1, 3])])],
        b(false),
    );
    c.is(Eq, vec![Value::unit(), Value::unit()], b(true));

    c.is(Ne, vec![f(1.0), f(2.0)], b(true));
    c.is(Ne, vec![f(NAN), f(NAN)], b(true));
    c.is(Ne, vec![f(0.0), f(-0.0)], b(false));
    c.is(Ne, vec![iv(&[1, 2]), iv(&[1, 2])], b(false));
    c.is(Ne, vec![iv(&[1, 2]), iv(&[2, 1])], b(true));

    c.is(Lt, vec![f(1.0), f(2.0)], b(true));
    c.is(Lt, vec![f(2.0), f(2.0)], b(false));
    c.is(Lt, vec![f(NAN), f(1.0)], b(false));
    c.is(Lt, vec![f(1.0), f(NAN)], b(false));
    c.is(Lt, vec![f(-0.0), f(0.0)], b(false));
    c.is(Lt, vec![f(-INF), f(INF)], b(true));
    c.is(Lt, vec![i(-3), i(2)], b(true));
    c.is(Lt, vec![b(false), b(true)], b(true));

    c.is(Le, vec![f(2.0), f(2.0)], b(true));
    c.is(Le, vec![f(NAN), f(NAN)], b(false));
    c.is(Le, vec![i(3), i(2)], b(false));
    c.is(Le, vec![b(true), b(true)], b(true));

    c.is(Gt, vec![f(3.0), f(2.0)], b(true));
    c.is(Gt, vec![f(NAN), f(2.0)], b(false));
    c.is(Gt, vec![i(2), i(2)], b(false));
    c.is(Gt, vec![b(true), b(false)], b(true));

    c.is(Ge, vec![f(-0.0), f(0.0)], b(true));
    c.is(Ge, vec![f(1.0), f(NAN)], b(false));
    c.is(Ge, vec![i(2), i(3)], b(false));
    c.is(Ge, vec![b(false), b(true)], b(false));

    for (x, y) in [(false, false), (false, true), (true, false), (true, true)] {
        c.is(And, vec![b(x), b(y)], b(x && y));
        c.is(Or, vec![b(x), b(y)], b(x || y));
    }
    c.is(Not, vec![b(true)], b(false));
    c.is(Not, vec![b(false)], b(true));

    c.is(ApproxEq, vec![f(1.0), f(1.0 + 1e-10)], b(true));
    c.is(ApproxEq, vec![f(1.0), f(1.0 + 1e-8)], b(false));
    c.is(ApproxEq, vec![f(1e300), f(1e300 * (1.0 + 5e-10))], b(true));
    c.is(ApproxEq, vec![f(NAN), f(NAN)], b(true));
    c.is(ApproxEq, vec![f(NAN), f(1.0)], b(false));
    c.is(ApproxEq, vec![f(INF), f(INF)], b(true));
    c.is(ApproxEq, vec![f(INF), f(-INF)], b(false));
    c.is(ApproxEq, vec![f(INF), f(1e308)], b(false));
    c.is(ApproxEq, vec![f(0.0), f(-0.0)], b(true));
    // Purely relative: nothing but zero is close to zero.
    c.is(ApproxEq, vec![f(0.0), f(1e-300)], b(false));
    c.is(ApproxEq, vec![i(1), i(2)], b(false));
    c.is(ApproxEq, vec![i(7), i(7)], b(true));
    c.is(ApproxEq, vec![b(true), b(true)], b(true));
    c.is(
        ApproxEq,
        vec![fv(&[1.0, 2.0]), fv(&[1.0 + 1e-12, 2.0 - 1e-12])],
        b(true),
    );
    c.is(ApproxEq, vec![fv(&[1.0, 2.0]), fv(&[1.0, 2.1])], b(false));
    c.is(ApproxEq, vec![fv(&[1.0, 2.0]), fv(&[1.0, 2.0, 3.0])], b(false));
    c.is(ApproxEq, vec![empty(), empty()], b(true));
    c.is(
        ApproxEq,
        vec![
            tup(vec![f(3.0), fm(&[&[1.0]])]),
            tup(vec![f(3.0 + 1e-15), fm(&[&[1.0 - 1e-15]])]),
        ],
        b(true),
    );
    c.is(
        ApproxEq,
        vec![tup(vec![f(3.0), i(1)]), tup(vec![f(3.0), i(2)])],
        b(false),
    );
}

fn arrays(c: &mut Cases) {
    use Prim::*;
    c.is(Length, vec![empty()], i(0));
    c.is(Length, vec![fv(&[1.0, 2.0, 3.0])], i(3));
    c.is(Length, vec![fm(&[&[1.0, 2.0]])], i(1));

    c.is(Iota, vec![i(0)], empty());
    c.is(Iota, vec![i(3)], iv(&[0, 1, 2]));
    c.fails(Iota, vec![i(-1)], "negative size: -1");

    c.is(Replicate, vec![i(2), f(1.5)], fv(&[1.5, 1.5]));
    c.is(Replicate, vec![i(0), f(1.5)], empty());
    c.is(Replicate, vec![i(2), iv(&[1])], Value::array(vec![iv(&[1]), iv(&[1])]));
    c.is(
        Replicate,
        vec![i(1), tup(vec![b(true)])],
        Value::array(vec![tup(vec![b(true)])]),
    );
    c.fails(Replicate, vec![i(-3), f(0.0)], "negative size: -3");

    let a = fv(&[1.0, 2.0, 3.0]);
    c.is(Index, vec![a.clone(), i(0)], f(1.0));
    c.is(Index, vec![a.clone(), i(2)], f(3.0));
    c.is(Index, vec![fm(&[&[1.0], &[2.0]]), i(1)], fv(&[2.0]));
    c.fails(
        Index,
        vec![a.clone(), i(5)],
        "index 5 out of bounds for an array of length 3",
    );
    c.fails(
        Index,
        vec![a.clone(), i(3)],
        "index 3 out of bounds for an array of length 3",
    );
    c.fails(
        Index,
        vec![a.clone(), i(-1)],
        "index -1 out of bounds for an array of length 3",
    );
    c.fails(
        Index,
        vec![empty(), i(0)],
        "index 0 out of bounds for an array of length 0",
    );

    let a = fv(&[1.0, 2.0, 3.0, 4.0]);
    c.is(Slice, vec![a.clone(), i(1), i(3)], fv(&[2.0, 3.0]));
    c.is(Slice, vec![a.clone(), i(0), i(0)], empty());
    c.is(Slice, vec![a.clone(), i(4), i(4)], empty());
    c.is(Slice, vec![a.clone(), i(0), i(4)], a.clone());
    c.fails(
        Slice,
        vec![a.clone(), i(2), i(1)],
        "slice 2:1 out of bounds for an array of length 4",
    );
    c.fails(
        Slice,
        vec![a.clone(), i(-1), i(2)],
        "slice -1:2 out of bounds for an array of length 4",
    );
    c.fails(
        Slice,
        vec![a.clone(), i(0), i(5)],
        "slice 0:5 out of bounds for an array of length 4",
    );

    c.is(Concat, vec![fv(&[1.0]), fv(&[2.0, 3.0])], fv(&[1.0, 2.0, 3.0]));
    c.is(Concat, vec![empty(), empty()], empty());
    c.is(Concat, vec![empty(), iv(&[4])], iv(&[4]));
    c.is(
        Concat,
        vec![fm(&[&[1.0, 2.0]]), fm(&[&[3.0, 4.0]])],
        fm(&[&[1.0, 2.0], &[3.0, 4.0]]),
    );

    c.is(Reverse, vec![empty()], empty());
    c.is(Reverse, vec![iv(&[7])], iv(&[7]));
    c.is(Reverse, vec![fv(&[1.0, 2.0, 3.0])], fv(&[3.0, 2.0, 1.0]));

    c.is(
        Flatten,
        vec![fm(&[&[1.0, 2.0], &[3.0, 4.0]])],
        fv(&[1.0, 2.0, 3.0, 4.0]),
    );
    c.is(Flatten, vec![empty()], empty());
    c.is(Flatten, vec![fm(&[&[], &[]])], empty());
    c.fails(
        Flatten,
        vec![fm(&[&[1.0], &[2.0, 3.0]])],
        "irregular array: elements of sizes 1 and 2",
    );

    let six = fv(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    c.is(
        Unflatten,
        vec![i(2), i(3), six.clone()],
        fm(&[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]]),
    );
    c.is(
        Unflatten,
        vec![i(3), i(2), six.clone()],
        fm(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]]),
    );
    c.is(Unflatten, vec![i(0), i(5), empty()], empty());
    c.is(Unflatten, vec![i(2), i(0), empty()], fm(&[&[], &[]]));
    c.fails(
        Unflatten,
        vec![i(2), i(3), fv(&[1.0, 2.0, 3.0, 4.0, 5.0])],
        "size mismatch: expected 6, got 5",
    );
    c.fails(Unflatten, vec![i(-1), i(-2), fv(&[1.0, 2.0])], "negative size: -1");
    c.fails(
        Unflatten,
        vec![i(i64::MAX), i(2), fv(&[1.0, 2.0])],
        "size mismatch: expected 9223372036854775807, got 2",
    );

    c.is(
        Transpose,
        vec![fm(&[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]])],
        fm(&[&[1.0, 4.0], &[2.0, 5.0], &[3.0, 6.0]]),
    );
    c.is(Transpose, vec![fm(&[&[1.0]])], fm(&[&[1.0]]));
    c.is(Transpose, vec![empty()], empty());
    c.is(Transpose, vec![fm(&[&[], &[]])], empty());
    c.is(
        Transpose,
        vec![Value::array(vec![iv(&[1, 2])])],
        Value::array(vec![iv(&[1]), iv(&[2])]),
    );
    c.fails(
        Transpose,
        vec![fm(&[&[1.0, 2.0], &[3.0]])],
        "irregular array: elements of sizes 2 and 1",
    );

    c.is(
        ScatterAdd,
        vec![i(3), iv(&[0, 2, 0]), fv(&[1.0, 2.0, 3.0])],
        fv(&[4.0, 0.0, 2.0]),
    );
    c.is(ScatterAdd, vec![i(0), empty(), empty()], empty());
    c.is(ScatterAdd, vec![i(2), empty(), empty()], fv(&[0.0, 0.0]));
    c.fails(
        ScatterAdd,
        vec![i(3), iv(&[0]), fv(&[1.0, 2.0])],
        "size mismatch: expected 1, got 2",
    );
    c.fails(
        ScatterAdd,
        vec![i(3), iv(&[3]), fv(&[1.0])],
        "index 3 out of bounds for an array of length 3",
    );
    c.fails(
        ScatterAdd,
        vec![i(3), iv(&[-1]), fv(&[1.0])],
        "index -1 out of bounds for an array of length 3",
    );
    c.fails(ScatterAdd, vec![i(-2), empty(), empty()], "negative size: -2");
}

fn reductions(c: &mut Cases) {
    use Prim::*;
    c.is(Sum, vec![fv(&[1.0, 2.0, 3.5])], f(6.5));
    c.is(Sum, vec![empty()], f(0.0));
    c.is(Sum, vec![fv(&[-0.0])], f(-0.0));
    c.is(Sum, vec![fv(&[INF, -INF])], f(NAN));
    c.is(Sum, vec![fv(&[1e308, 1e308])], f(INF));
    // Left to right: (1e16 + 1) + 1 loses both ones.
    c.is(Sum, vec![fv(&[1e16, 1.0, 1.0])], f(1e16));
    c.is(Sum, vec![iv(&[1, 2, 3])], i(6));
    c.is(Sum, vec![iv(&[i64::MAX, 1])], i(i64::MIN));
    c.typed(Sum, vec![empty()], Type::I64, Want::Is(i(0)));
    c.typed(Sum, vec![empty()], Type::F64, Want::Is(f(0.0)));

    c.is(Prod, vec![fv(&[2.0, 3.0, 4.0])], f(24.0));
    c.is(Prod, vec![empty()], f(1.0));
    c.is(Prod, vec![fv(&[0.0, INF])], f(NAN));
    c.is(Prod, vec![iv(&[2, -3])], i(-6));
    c.typed(Prod, vec![empty()], Type::I64, Want::Is(i(1)));

    c.is(Maximum, vec![fv(&[1.0, 3.0, 2.0])], f(3.0));
    c.is(Maximum, vec![empty()], f(-INF));
    c.is(Maximum, vec![fv(&[1.0, NAN, 3.0])], f(NAN));
    c.is(Maximum, vec![fv(&[-0.0, 0.0])], f(0.0));
    c.is(Maximum, vec![fv(&[-INF])], f(-INF));
    c.is(Maximum, vec![iv(&[3, -1, 7])], i(7));
    c.typed(
        Maximum,
        vec![empty()],
        Type::I64,
        Want::Fails("maximum of an empty array"),
    );

    c.is(Minimum, vec![fv(&[1.0, -3.0, 2.0])], f(-3.0));
    c.is(Minimum, vec![empty()], f(INF));
    c.is(Minimum, vec![fv(&[NAN, 1.0])], f(NAN));
    c.is(Minimum, vec![fv(&[0.0, -0.0])], f(-0.0));
    c.is(Minimum, vec![iv(&[3, -1, 7])], i(-1));
    c.typed(
        Minimum,
        vec![empty()],
        Type::I64,
        Want::Fails("minimum of an empty array"),
    );

    c.is(Argmax, vec![fv(&[1.0, 3.0, 3.0, 2.0])], i(1));
    c.is(Argmax, vec![fv(&[5.0])], i(0));
    c.is(Argmax, vec![fv(&[1.0, NAN, 5.0, NAN])], i(1));
    c.is(Argmax, vec![fv(&[NAN, 5.0])], i(0));
    c.is(Argmax, vec![fv(&[-INF, -INF])], i(0));
    c.is(Argmax, vec![fv(&[-0.0, 0.0])], i(0));
    c.is(Argmax, vec![iv(&[2, 7, 7])], i(1));
    c.fails(Argmax, vec![empty()], "argmax of an empty array");
    c.typed(
        Argmax,
        vec![empty()],
        Type::I64,
        Want::Fails("argmax of an empty array"),
    );

    c.is(Argmin, vec![fv(&[3.0, 1.0, 1.0])], i(1));
    c.is(Argmin, vec![fv(&[3.0, 1.0, NAN])], i(2));
    c.is(Argmin, vec![fv(&[INF, 2.0, -INF])], i(2));
    c.is(Argmin, vec![iv(&[4, -2, 9, -2])], i(1));
    c.fails(Argmin, vec![empty()], "argmin of an empty array");
}

fn linear_algebra(c: &mut Cases) {
    use Prim::*;
    c.is(Dot, vec![fv(&[1.0, 2.0, 3.0]), fv(&[4.0, 5.0, 6.0])], f(32.0));
    c.is(Dot, vec![empty(), empty()], f(0.0));
    c.is(Dot, vec![fv(&[INF]), fv(&[0.0])], f(NAN));
    c.fails(
        Dot,
        vec![fv(&[1.0, 2.0]), fv(&[1.0])],
        "size mismatch: expected 2, got 1",
    );

    c.is(
        Matmul,
        vec![fm(&[&[1.0, 2.0], &[3.0, 4.0]]), fm(&[&[5.0, 6.0], &[7.0, 8.0]])],
        fm(&[&[19.0, 22.0], &[43.0, 50.0]]),
    );
    c.is(
        Matmul,
        vec![fm(&[&[1.0, 2.0, 3.0]]), fm(&[&[1.0], &[2.0], &[3.0]])],
        fm(&[&[14.0]]),
    );
    c.is(
        Matmul,
        vec![fm(&[&[1.0], &[2.0]]), fm(&[&[3.0, 4.0]])],
        fm(&[&[3.0, 4.0], &[6.0, 8.0]]),
    );
    c.is(Matmul, vec![empty(), fm(&[&[1.0, 2.0]])], empty());
    c.is(Matmul, vec![fm(&[&[], &[]]), empty()], fm(&[&[], &[]]));
    c.fails(
        Matmul,
        vec![fm(&[&[1.0, 2.0]]), fm(&[&[1.0, 2.0]])],
        "size mismatch: expected 2, got 1",
    );
    c.fails(
        Matmul,
        vec![fm(&[&[1.0, 2.0], &[3.0]]), fm(&[&[1.0], &[2.0]])],
        "irregular array: elements of sizes 2 and 1",
    );

    c.is(
        Matvec,
        vec![fm(&[&[1.0, 2.0], &[3.0, 4.0]]), fv(&[1.0, 10.0])],
        fv(&[21.0, 43.0]),
    );
    c.is(Matvec, vec![empty(), fv(&[1.0, 2.0])], empty());
    c.is(Matvec, vec![fm(&[&[], &[]]), empty()], fv(&[0.0, 0.0]));
    c.fails(
        Matvec,
        vec![fm(&[&[1.0, 2.0]]), fv(&[1.0])],
        "size mismatch: expected 2, got 1",
    );

    c.is(
        Vecmat,
        vec![fv(&[1.0, 10.0]), fm(&[&[1.0, 2.0], &[3.0, 4.0]])],
        fv(&[31.0, 42.0]),
    );
    c.is(Vecmat, vec![empty(), empty()], empty());
    c.fails(
        Vecmat,
        vec![fv(&[1.0]), fm(&[&[1.0, 2.0], &[3.0, 4.0]])],
        "size mismatch: expected 1, got 2",
    );

    c.is(
        Outer,
        vec![fv(&[1.0, 2.0]), fv(&[3.0, 4.0, 5.0])],
        fm(&[&[3.0, 4.0, 5.0], &[6.0, 8.0, 10.0]]),
    );
    c.is(Outer, vec![empty(), fv(&[1.0])], empty());
    c.is(Outer, vec![fv(&[1.0]), empty()], fm(&[&[]]));

    c.is(StopGradient, vec![f(1.5)], f(1.5));
    c.is(StopGradient, vec![fv(&[1.0, -0.0])], fv(&[1.0, -0.0]));
    c.is(StopGradient, vec![tup(vec![i(1), b(false)])], tup(vec![i(1), b(false)]));

    c.is(CheckIndex, vec![i(2), i(3)], i(2));
    c.fails(
        CheckIndex,
        vec![i(3), i(3)],
        "index 3 out of bounds for an array of length 3",
    );
    c.fails(CheckIndex, vec![i(-1), i(3)], "index -1 out of bounds");
    c.is(CheckSlice, vec![i(1), i(3), i(3)], i(1));
    c.is(CheckSlice, vec![i(0), i(0), i(0)], i(0));
    c.fails(CheckSlice, vec![i(2), i(1), i(3)], "slice 2:1 out of bounds");
    c.fails(CheckSlice, vec![i(0), i(4), i(3)], "slice 0:4 out of bounds");
    c.is(SizeEq, vec![i(3), i(3)], i(3));
    c.is(SizeEq, vec![i(0), i(0)], i(0));
    c.fails(SizeEq, vec![i(4), i(3)], "size mismatch: expected 3, got 4");
}

/// A named group of cases.
type Group = (&'static str, fn(&mut Cases));

fn groups() -> Vec<Group> {
    vec![
        ("arithmetic", arithmetic),
        ("unary", unary),
        ("conversions_and_logic", conversions_and_logic),
        ("arrays", arrays),
        ("reductions", reductions),
        ("linear_algebra", linear_algebra),
        ("tangents", tangents),
    ]
}

fn run_group(name: &str) {
    let (_, group) = groups().into_iter().find(|(n, _)| *n == name).unwrap();
    let mut cases = Cases::default();
    group(&mut cases);
    check(cases);
}

#[test]
fn arithmetic_prims() {
    run_group("arithmetic");
}

#[test]
fn unary_prims() {
    run_group("unary");
}

#[test]
fn conversion_and_logic_prims() {
    run_group("conversions_and_logic");
}

#[test]
fn array_prims() {
    run_group("arrays");
}

#[test]
fn reduction_prims() {
    run_group("reductions");
}

#[test]
fn linear_algebra_prims() {
    run_group("linear_algebra");
}

fn tangents(c: &mut Cases) {
    use Prim::*;
    c.is(ZeroTangent, vec![f(3.5)], f(0.0));
    c.is(ZeroTangent, vec![i(3)], tup(vec![]));
    c.is(ZeroTangent, vec![fv(&[1.0, 2.0])], fv(&[0.0, 0.0]));
    c.is(
        ZeroTangent,
        vec![tup(vec![f(1.0), i(2)])],
        tup(vec![f(0.0), tup(vec![])]),
    );
    // Typed: an empty array of i64 has the tangent `()`.
    c.typed(
        ZeroTangent,
        vec![Value::array(vec![])],
        Type::unit(),
        Want::Is(tup(vec![])),
    );
    c.typed(
        ZeroTangent,
        vec![fm(&[&[1.0], &[2.0]])],
        Type::array(Type::array(Type::F64)),
        Want::Is(fm(&[&[0.0], &[0.0]])),
    );
    c.is(AddTangent, vec![f(1.0), f(2.5)], f(3.5));
    c.is(
        AddTangent,
        vec![fm(&[&[1.0, 2.0]]), fm(&[&[3.0, 4.0]])],
        fm(&[&[4.0, 6.0]]),
    );
    c.is(
        AddTangent,
        vec![tup(vec![f(1.0), tup(vec![])]), tup(vec![f(2.0), tup(vec![])])],
        tup(vec![f(3.0), tup(vec![])]),
    );
    c.fails(
        AddTangent,
        vec![fv(&[1.0]), fv(&[1.0, 2.0])],
        "size mismatch: expected 1, got 2",
    );
    c.is(
        IndexAdd,
        vec![fv(&[1.0, 2.0, 3.0]), i(1), f(10.0)],
        fv(&[1.0, 12.0, 3.0]),
    );
    c.is(
        IndexAdd,
        vec![fm(&[&[1.0], &[2.0]]), i(0), fv(&[5.0])],
        fm(&[&[6.0], &[2.0]]),
    );
    c.fails(IndexAdd, vec![fv(&[1.0]), i(1), f(1.0)], "out of bounds");
    c.is(
        SliceAdd,
        vec![fv(&[1.0, 2.0, 3.0, 4.0]), i(1), fv(&[10.0, 20.0])],
        fv(&[1.0, 12.0, 23.0, 4.0]),
    );
    c.is(SliceAdd, vec![fv(&[1.0]), i(1), empty()], fv(&[1.0]));
    c.fails(
        SliceAdd,
        vec![fv(&[1.0, 2.0]), i(1), fv(&[1.0, 1.0])],
        "slice 1:3 out of bounds for an array of length 2",
    );
    c.is(
        IndexSet,
        vec![fv(&[1.0, 2.0, 3.0]), i(1), f(10.0)],
        fv(&[1.0, 10.0, 3.0]),
    );
    c.is(
        IndexSet,
        vec![fm(&[&[1.0], &[2.0]]), i(0), fv(&[5.0])],
        fm(&[&[5.0], &[2.0]]),
    );
    c.fails(IndexSet, vec![fv(&[1.0]), i(1), f(1.0)], "out of bounds");
    c.fails(
        IndexSet,
        vec![fm(&[&[1.0], &[2.0]]), i(0), fv(&[5.0, 6.0])],
        "irregular array: elements of sizes 1 and 2",
    );
}

#[test]
fn tangent_prims() {
    run_group("tangents");
}

#[test]
fn every_prim_has_a_case() {
    let mut cases = Cases::default();
    for (_, group) in groups() {
        group(&mut cases);
    }
    let covered: BTreeSet<Prim> = cases.0.iter().map(|c| c.prim).collect();
    let missing: Vec<&str> = Prim::ALL
        .iter()
        .filter(|p| !covered.contains(p))
        .map(|p| p.name())
        .collect();
    assert!(missing.is_empty(), "primitives without a test: {missing:?}");
}

#[test]
fn every_prim_rejects_ill_typed_arguments_without_panicking() {
    // A pass that builds a bad program gets an error naming the primitive.
    for &p in Prim::ALL {
        let bad = [vec![], vec![b(true), b(true), b(true), b(true)]];
        for args in bad {
            let e = p.eval(&args).unwrap_err();
            assert!(e.0.contains(p.name()), "{}: {}", p.name(), e.0);
        }
    }
    let e = Prim::Add.eval(&[f(1.0), i(1)]).unwrap_err();
    assert_eq!(e.0, "internal error: `add` does not apply to (f64, i64)");
}

#[test]
fn results_agree_with_the_type_rule() {
    // Every case's result has the type `result_type` gives for its
    // arguments' types, where those types are known from the values.
    fn type_of(v: &Value) -> Option<Type> {
        match v {
            Value::F64(_) => Some(Type::F64),
            Value::I64(_) => Some(Type::I64),
            Value::Bool(_) => Some(Type::Bool),
            Value::Array(a) => Some(Type::array(type_of(a.first()?)?)),
            Value::Tuple(fs) => fs.iter().map(type_of).collect::<Option<_>>().map(Type::Tuple),
        }
    }
    let mut cases = Cases::default();
    for (_, group) in groups() {
        group(&mut cases);
    }
    let mut checked = 0;
    for case in &cases.0 {
        let Some(arg_types) = case.args.iter().map(type_of).collect::<Option<Vec<_>>>() else {
            continue;
        };
        let Ok(v) = case.prim.eval(&case.args) else {
            continue;
        };
        let want = case
            .prim
            .result_type(&arg_types)
            .unwrap_or_else(|e| panic!("{}: type rule rejects the case's arguments: {e}", case.prim.name()));
        if let Some(got) = type_of(&v) {
            assert_eq!(got, want, "{}", case.prim.name());
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} cases checked");
}
