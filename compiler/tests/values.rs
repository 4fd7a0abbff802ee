//! Values' text forms: dl literal syntax and JSON, printed and read back.

use dl_compiler::core::ir::Type;
use dl_compiler::core::value::{approx_eq, parse_value, value_from_json, value_to_json, Value};
use serde_json::json;

fn f(x: f64) -> Value {
    Value::F64(x)
}
fn i(n: i64) -> Value {
    Value::I64(n)
}
fn fv(xs: &[f64]) -> Value {
    Value::array(xs.iter().copied().map(f).collect())
}
fn iv(xs: &[i64]) -> Value {
    Value::array(xs.iter().copied().map(i).collect())
}
fn f64s() -> Type {
    Type::array(Type::F64)
}

/// Structural equality with floats compared by bits.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same(x, y))
        }
        (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| same(x, y))
        }
        _ => a == b,
    }
}

/// A few thousand floats from all over the range: special values, and
/// random bit patterns (a fixed linear congruential generator).
fn interesting_floats() -> Vec<f64> {
    let mut xs = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.2,
        0.3,
        1.0 / 3.0,
        std::f64::consts::PI,
        1e-7,
        1e20,
        1e16,
        1e15,
        123456789012345680.0,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        5e-324,
        -5e-324,
        // The largest subnormal.
        f64::from_bits(0x000F_FFFF_FFFF_FFFF),
        9007199254740993.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..5000 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let x = f64::from_bits(state);
        if !x.is_nan() {
            xs.push(x);
        }
    }
    xs
}

#[test]
fn floats_print_in_dl_literal_syntax() {
    let cases = [
        (1.0, "1.0"),
        (-0.5, "-0.5"),
        (0.1, "0.1"),
        (1e-7, "1e-7"),
        (1e20, "1e20"),
        (1e16, "1e16"),
        (1e15, "1000000000000000.0"),
        (123456789012345680.0, "1.2345678901234568e17"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e308"),
        (f64::NAN, "nan"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ];
    for (x, text) in cases {
        assert_eq!(f(x).to_string(), text);
    }
    for x in interesting_floats() {
        let text = f(x).to_string();
        assert!(
            text.contains(['.', 'e']) || x.is_infinite(),
            "{text} reads as an integer"
        );
    }
}

#[test]
fn other_values_print_in_dl_literal_syntax() {
    assert_eq!(i(3).to_string(), "3");
    assert_eq!(i(-3).to_string(), "-3");
    assert_eq!(i(i64::MIN).to_string(), "-9223372036854775808");
    assert_eq!(Value::Bool(true).to_string(), "true");
    assert_eq!(Value::Bool(false).to_string(), "false");
    assert_eq!(fv(&[1.0, 2.0]).to_string(), "[1.0, 2.0]");
    assert_eq!(fv(&[]).to_string(), "[]");
    let m = Value::array(vec![fv(&[1.0, 2.0]), fv(&[3.0, 4.0])]);
    assert_eq!(m.to_string(), "[[1.0, 2.0], [3.0, 4.0]]");
    assert_eq!(Value::tuple(vec![f(1.0), iv(&[1, 2])]).to_string(), "(1.0, [1, 2])");
    assert_eq!(Value::unit().to_string(), "()");
    assert_eq!(Value::tuple(vec![f(1.0)]).to_string(), "(1.0,)");
    assert_eq!(
        Value::tuple(vec![Value::tuple(vec![]), Value::tuple(vec![i(1)])]).to_string(),
        "((), (1,))"
    );
}

#[test]
fn every_float_reads_back_to_the_same_bits() {
    for x in interesting_floats() {
        let text = f(x).to_string();
        let back = parse_value(&text, &Type::F64).unwrap();
        assert!(same(&back, &f(x)), "{x:e} printed as {text}, read {back}");
    }
    // NaN reads back as a NaN.
    let back = parse_value("nan", &Type::F64).unwrap();
    assert!(back.as_f64().unwrap().is_nan());
}

#[test]
fn composite_values_round_trip_through_text() {
    let pair = Type::Tuple(vec![Type::F64, Type::array(Type::I64)]);
    let cases = vec![
        (i(0), Type::I64),
        (i(i64::MIN), Type::I64),
        (i(i64::MAX), Type::I64),
        (Value::Bool(true), Type::Bool),
        (fv(&[]), f64s()),
        (fv(&[0.1, -0.0, 1e300, 5e-324, f64::INFINITY]), f64s()),
        (
            Value::array(vec![fv(&[1.0, 2.0]), fv(&[3.0, 4.0])]),
            Type::array(f64s()),
        ),
        (Value::array(vec![fv(&[]), fv(&[])]), Type::array(f64s())),
        (Value::tuple(vec![f(3.0), iv(&[1, 2])]), pair.clone()),
        (
            Value::array(vec![
                Value::tuple(vec![f(-1.5), iv(&[])]),
                Value::tuple(vec![f(2.0), iv(&[-7])]),
            ]),
            Type::array(pair),
        ),
        (Value::unit(), Type::unit()),
        (Value::tuple(vec![f(1.0)]), Type::Tuple(vec![Type::F64])),
        (
            Value::tuple(vec![Value::unit(), Value::Bool(false)]),
            Type::Tuple(vec![Type::unit(), Type::Bool]),
        ),
    ];
    for (v, ty) in cases {
        assert!(v.has_type(&ty), "{v} : {ty}");
        let text = v.to_string();
        let back = parse_value(&text, &ty).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(same(&back, &v), "{text} read back as {back}");
        let json = value_to_json(&v).to_string();
        let back =
            value_from_json(&serde_json::from_str(&json).unwrap(), &ty).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert!(same(&back, &v), "{json} read back as {back}");
    }
}

#[test]
fn parsing_is_lenient_where_it_is_unambiguous() {
    let ok = |text: &str, ty: &Type| parse_value(text, ty).unwrap_or_else(|e| panic!("{e}"));
    // Integers where floats are expected, whitespace anywhere, signs.
    assert_eq!(
        ok("  [ 1 , 2.5e0 ,-3,\n- 4E1 ] ", &f64s()),
        fv(&[1.0, 2.5, -3.0, -40.0])
    );
    assert_eq!(ok("-inf", &Type::F64), f(f64::NEG_INFINITY));
    assert_eq!(ok("inf", &Type::F64), f(f64::INFINITY));
    assert_eq!(ok("1e+3", &Type::F64), f(1000.0));
    assert_eq!(ok("-7", &Type::I64), i(-7));
    assert_eq!(ok("-9223372036854775808", &Type::I64), i(i64::MIN));
    // Trailing commas; a one-field tuple with or without its comma.
    assert_eq!(ok("[1.0, 2.0,]", &f64s()), fv(&[1.0, 2.0]));
    let one = Type::Tuple(vec![Type::F64]);
    assert_eq!(ok("(1.0,)", &one), Value::tuple(vec![f(1.0)]));
    assert_eq!(ok("( 1.0 )", &one), Value::tuple(vec![f(1.0)]));
    assert_eq!(ok("( )", &Type::unit()), Value::unit());
    let pair = Type::Tuple(vec![Type::Bool, Type::I64]);
    assert_eq!(ok("(true, 2,)", &pair), Value::tuple(vec![Value::Bool(true), i(2)]));
}

#[test]
fn parse_errors_say_what_was_expected_and_where() {
    let err = |text: &str, ty: &Type| parse_value(text, ty).unwrap_err();
    assert_eq!(err("[1.0]", &Type::F64), "expected f64, found `[` at column 1");
    assert_eq!(err("1.5", &Type::I64), "expected i64, found `1.5` at column 1");
    assert_eq!(
        err("[1, 2e3]", &Type::array(Type::I64)),
        "expected i64, found `2e3` at column 5"
    );
    assert_eq!(
        err("[1.0 2.0]", &f64s()),
        "expected `,` or `]`, found `2.0` at column 6"
    );
    assert_eq!(
        err("[1.0, 2.0", &f64s()),
        "expected `,` or `]`, found the end of the input at column 10"
    );
    assert_eq!(
        err("1.0 x", &Type::F64),
        "expected the end of the value, found `x` at column 5"
    );
    assert_eq!(
        err("", &Type::F64),
        "expected f64, found the end of the input at column 1"
    );
    assert_eq!(err("1.", &Type::F64), "expected f64, found `1.` at column 1");
    assert_eq!(err("1x", &Type::F64), "expected f64, found `1x` at column 1");
    assert_eq!(err("tru", &Type::Bool), "expected bool, found `tru` at column 1");
    assert_eq!(err("1.0", &f64s()), "expected []f64, found `1.0` at column 1");
    assert_eq!(
        err("(1.0)", &Type::Tuple(vec![Type::F64, Type::F64])),
        "expected `,` ((f64, f64) has 2 fields), found `)` at column 5"
    );
    assert_eq!(
        err("(1.0, 2.0)", &Type::Tuple(vec![Type::F64])),
        "expected `)` ((f64,) has 1 field), found `2.0` at column 7"
    );
    assert_eq!(
        err("99999999999999999999", &Type::I64),
        "integer 99999999999999999999 out of the range of i64 at column 1"
    );
    assert_eq!(
        err("[1.0,\n  x]", &f64s()),
        "expected f64, found `x` at line 2, column 3"
    );
    assert_eq!(
        err("-", &Type::F64),
        "expected f64, found the end of the input at column 2"
    );
}

#[test]
fn values_to_json() {
    assert_eq!(value_to_json(&f(1.5)), json!(1.5));
    assert_eq!(value_to_json(&f(1.0)), json!(1.0));
    assert_eq!(value_to_json(&f(f64::NAN)), json!("NaN"));
    assert_eq!(value_to_json(&f(f64::INFINITY)), json!("Infinity"));
    assert_eq!(value_to_json(&f(f64::NEG_INFINITY)), json!("-Infinity"));
    assert_eq!(value_to_json(&i(-3)), json!(-3));
    assert_eq!(value_to_json(&Value::Bool(true)), json!(true));
    assert_eq!(
        value_to_json(&Value::tuple(vec![f(3.0), iv(&[1, 2])])),
        json!([3.0, [1, 2]])
    );
    assert_eq!(value_to_json(&Value::unit()), json!([]));
    assert_eq!(value_to_json(&fv(&[1.0, -0.0])).to_string(), "[1.0,-0.0]");
}

#[test]
fn every_float_round_trips_through_json() {
    for x in interesting_floats() {
        let text = value_to_json(&f(x)).to_string();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let back = value_from_json(&json, &Type::F64).unwrap();
        assert!(same(&back, &f(x)), "{x:e} as JSON {text}, read {back}");
    }
    let back = value_from_json(&json!("NaN"), &Type::F64).unwrap();
    assert!(back.as_f64().unwrap().is_nan());
}

#[test]
fn values_from_json() {
    assert_eq!(
        value_from_json(&json!([1, 2.5, "Infinity", "-Infinity"]), &f64s()).unwrap(),
        fv(&[1.0, 2.5, f64::INFINITY, f64::NEG_INFINITY])
    );
    let pair = Type::Tuple(vec![Type::F64, Type::array(Type::I64)]);
    assert_eq!(
        value_from_json(&json!([3, [1, 2]]), &pair).unwrap(),
        Value::tuple(vec![f(3.0), iv(&[1, 2])])
    );
    assert_eq!(value_from_json(&json!(i64::MIN), &Type::I64).unwrap(), i(i64::MIN));
}

#[test]
fn json_errors_name_the_place_in_the_document() {
    let err = |json: serde_json::Value, ty: &Type| value_from_json(&json, ty).unwrap_err();
    assert_eq!(
        err(json!("x"), &Type::F64),
        "at $: expected f64 (a number, \"NaN\", \"Infinity\" or \"-Infinity\"), found \"x\""
    );
    assert_eq!(
        err(json!([1, "a"]), &Type::array(Type::I64)),
        "at $[1]: expected i64, found \"a\""
    );
    assert_eq!(err(json!(1.5), &Type::I64), "at $: expected i64, found 1.5");
    assert_eq!(
        err(json!(1u64 << 63), &Type::I64),
        "at $: expected i64, found 9223372036854775808"
    );
    assert_eq!(err(json!(1), &Type::Bool), "at $: expected bool, found 1");
    assert_eq!(
        err(json!([[1.0], [true]]), &Type::array(f64s())),
        "at $[1][0]: expected f64, found true"
    );
    assert_eq!(
        err(json!([1.0]), &Type::Tuple(vec![Type::F64, Type::F64])),
        "at $: expected (f64, f64), a tuple of 2 fields, found an array of 1"
    );
    assert_eq!(err(json!({"a": 1}), &f64s()), "at $: expected []f64, found {\"a\":1}");
    let long = json!("a string much longer than forty characters, to be cut");
    assert_eq!(
        err(long, &Type::Bool),
        "at $: expected bool, found \"a string much longer than forty char..."
    );
}

#[test]
fn approx_eq_is_relative_and_structural() {
    assert!(approx_eq(&f(1.0), &f(1.0 + 1e-10), 1e-9));
    assert!(!approx_eq(&f(1.0), &f(1.0 + 1e-8), 1e-9));
    assert!(approx_eq(&f(1.0), &f(1.0 + 1e-8), 1e-7));
    assert!(approx_eq(&f(f64::NAN), &f(f64::NAN), 1e-9));
    assert!(approx_eq(&f(f64::INFINITY), &f(f64::INFINITY), 1e-9));
    assert!(!approx_eq(&f(f64::INFINITY), &f(f64::MAX), 1e-9));
    assert!(!approx_eq(&f(0.0), &f(5e-324), 1e-9));
    assert!(approx_eq(&f(0.0), &f(-0.0), 0.0));
    assert!(!approx_eq(&fv(&[1.0]), &fv(&[1.0, 1.0]), 1e-9));
    assert!(!approx_eq(&f(1.0), &i(1), 1e-9));
    assert!(approx_eq(
        &Value::tuple(vec![f(2.0), Value::Bool(true)]),
        &Value::tuple(vec![f(2.0 + 1e-12), Value::Bool(true)]),
        1e-9
    ));
}

#[test]
fn has_type_checks_every_element() {
    assert!(fv(&[1.0]).has_type(&f64s()));
    assert!(fv(&[]).has_type(&Type::array(Type::I64)));
    assert!(!Value::array(vec![f(1.0), i(1)]).has_type(&f64s()));
    assert!(!Value::tuple(vec![f(1.0)]).has_type(&Type::unit()));
    assert!(Value::unit().has_type(&Type::unit()));
}
