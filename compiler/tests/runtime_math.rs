//! The interpreter and the runtime's ABI functions give the same bits: the
//! JIT calls `dl_exp` where the interpreter evaluates `exp`, and the two
//! must never disagree.

use dl_compiler::core::value::Value;
use dl_compiler::prim::Prim;
use dl_runtime::math::*;

/// Special values and a spread of magnitudes and signs.
fn inputs() -> Vec<f64> {
    let mut xs = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        -2.5,
        -3.0,
        36.0,
        -40.0,
        710.0,
        -745.0,
        1e-300,
        1e300,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        std::f64::consts::PI,
    ];
    let mut s: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..500 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let unit = (s >> 11) as f64 / (1u64 << 53) as f64;
        let sign = if s & 1 == 1 { -1.0 } else { 1.0 };
        xs.push(sign * unit * 2f64.powi((s >> 58) as i32 - 16));
    }
    xs
}

fn eval_f64(prim: Prim, args: &[Value]) -> f64 {
    prim.eval(args).unwrap().as_f64().unwrap()
}

#[test]
fn unary_functions_agree_bit_for_bit() {
    let table: [(Prim, extern "C" fn(f64) -> f64); 11] = [
        (Prim::Exp, dl_exp),
        (Prim::Log, dl_log),
        (Prim::Log1p, dl_log1p),
        (Prim::Expm1, dl_expm1),
        (Prim::Sin, dl_sin),
        (Prim::Cos, dl_cos),
        (Prim::Tan, dl_tan),
        (Prim::Tanh, dl_tanh),
        (Prim::Sigmoid, dl_sigmoid),
        (Prim::Erf, dl_erf),
        (Prim::Lgamma, dl_lgamma),
    ];
    for (prim, native) in table {
        for x in inputs() {
            let (want, got) = (eval_f64(prim, &[Value::F64(x)]), native(x));
            assert_eq!(want.to_bits(), got.to_bits(), "{}({x}): {want} vs {got}", prim.name());
        }
    }
}

#[test]
fn binary_functions_agree_bit_for_bit() {
    let table: [(Prim, extern "C" fn(f64, f64) -> f64); 3] =
        [(Prim::Pow, dl_pow), (Prim::Atan2, dl_atan2), (Prim::Rem, dl_fmod)];
    let xs = inputs();
    for (prim, native) in table {
        for &x in xs.iter().step_by(5) {
            for &y in xs.iter().step_by(11) {
                let (want, got) = (eval_f64(prim, &[Value::F64(x), Value::F64(y)]), native(x, y));
                assert_eq!(want.to_bits(), got.to_bits(), "{}({x}, {y})", prim.name());
            }
        }
    }
}

#[test]
fn polygamma_and_integer_power_agree() {
    for k in [0, 1, 2, 3, 7, 100] {
        for &x in inputs().iter().step_by(3) {
            let want = eval_f64(Prim::Polygamma, &[Value::I64(k), Value::F64(x)]);
            assert_eq!(want.to_bits(), dl_polygamma(k, x).to_bits(), "polygamma({k}, {x})");
        }
    }
    for base in [-7, -2, -1, 0, 1, 2, 3, 12345, i64::MAX, i64::MIN] {
        for exp in [0, 1, 2, 5, 62, 63, 64, 1_000_003] {
            let want = Prim::Pow.eval(&[Value::I64(base), Value::I64(exp)]).unwrap();
            assert_eq!(want, Value::I64(dl_ipow(base, exp)), "{base} ** {exp}");
        }
    }
}

#[test]
fn error_messages_are_the_runtimes() {
    use dl_runtime::error::{kind, message};
    let fails = |prim: Prim, args: &[Value]| prim.eval(args).unwrap_err().0;
    assert_eq!(
        fails(Prim::Index, &[Value::array(vec![Value::F64(1.0)]), Value::I64(3)]),
        message(kind::INDEX_OUT_OF_BOUNDS, 3, 1, 0)
    );
    assert_eq!(
        fails(Prim::Div, &[Value::I64(7), Value::I64(0)]),
        message(kind::INTEGER_DIVISION_BY_ZERO, 7, 0, 0)
    );
    assert_eq!(
        fails(Prim::Rem, &[Value::I64(7), Value::I64(0)]),
        message(kind::INTEGER_REMAINDER_BY_ZERO, 7, 0, 0)
    );
    assert_eq!(
        fails(Prim::Pow, &[Value::I64(2), Value::I64(-1)]),
        message(kind::NEGATIVE_EXPONENT, 2, -1, 0)
    );
    for x in [
        f64::NAN,
        1e20,
        -1e19,
        f64::INFINITY,
        f64::NEG_INFINITY,
        9223372036854775808.0,
    ] {
        let code = if x.is_nan() {
            kind::NAN_TO_INT
        } else {
            kind::FLOAT_TO_INT_OUT_OF_RANGE
        };
        assert_eq!(
            fails(Prim::ToI64, &[Value::F64(x)]),
            message(code, x.to_bits() as i64, 0, 0)
        );
    }
    assert_eq!(
        fails(Prim::ToI64, &[Value::F64(1e20)]),
        "cannot convert 1e20 to i64: out of range"
    );
}
