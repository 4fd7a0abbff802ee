//! Run-time values of the reference interpreter, and their text forms:
//! dl literal syntax (printed shortest-round-trip) and JSON.
//!
//! Text forms:
//! - dl literal syntax ([`Value`]'s `Display`, read back by [`parse_value`]):
//!   `1.0`, `-0.5`, `1e-7`, `nan`, `inf`, `-inf`, `3`, `true`,
//!   `[1.0, 2.0]`, `(1.0, [1, 2])`, `()`, `(1.0,)`. A float always prints
//!   with a `.` or an exponent, so it never reads back as an integer, and
//!   prints the shortest text that reads back to the same bits.
//! - JSON ([`value_to_json`], [`value_from_json`]): arrays and tuples are
//!   JSON arrays; NaN and the infinities are the strings `"NaN"`,
//!   `"Infinity"` and `"-Infinity"`.

use super::ir::Type;
use std::fmt;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    F64(f64),
    I64(i64),
    Bool(bool),
    Tuple(Rc<[Value]>),
    Array(Rc<Vec<Value>>),
}

impl Value {
    pub fn array(elems: Vec<Value>) -> Value {
        Value::Array(Rc::new(elems))
    }

    pub fn tuple(fields: Vec<Value>) -> Value {
        Value::Tuple(fields.into())
    }

    /// An empty vector with room for `n` elements, or the message of an
    /// out-of-memory error when the system cannot provide it: sizes come
    /// from the program, and a size that does not fit is a run-time error,
    /// not an abort.
    pub fn try_vec<T>(n: usize) -> Result<Vec<T>, String> {
        let mut v = Vec::new();
        v.try_reserve_exact(n)
            .map_err(|_| format!("out of memory: cannot allocate an array of {n} elements"))?;
        Ok(v)
    }

    pub fn unit() -> Value {
        Value::Tuple(Rc::from(Vec::new()))
    }

    /// The f64s inside the value, in order (depth first).
    pub fn f64_leaves(&self) -> Vec<f64> {
        let mut out = Vec::new();
        self.collect_f64(&mut out);
        out
    }

    fn collect_f64(&self, out: &mut Vec<f64>) {
        match self {
            Value::F64(x) => out.push(*x),
            Value::Array(items) => items.iter().for_each(|x| x.collect_f64(out)),
            Value::Tuple(items) => items.iter().for_each(|x| x.collect_f64(out)),
            Value::I64(_) | Value::Bool(_) => {}
        }
    }

    /// The value with its f64s replaced, in the order of `f64_leaves`, by
    /// the next numbers of `new`.
    pub fn with_f64_leaves(&self, new: &mut dyn Iterator<Item = f64>) -> Value {
        match self {
            Value::F64(x) => Value::F64(new.next().unwrap_or(*x)),
            Value::Array(items) => Value::array(items.iter().map(|x| x.with_f64_leaves(new)).collect()),
            Value::Tuple(items) => Value::tuple(items.iter().map(|x| x.with_f64_leaves(new)).collect()),
            Value::I64(_) | Value::Bool(_) => self.clone(),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(x) => Some(*x),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_tuple(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(t) => Some(t),
            _ => None,
        }
    }

    /// True when the value is of type `ty` (every element of an array is
    /// checked).
    pub fn has_type(&self, ty: &Type) -> bool {
        match (self, ty) {
            (Value::F64(_), Type::F64) | (Value::I64(_), Type::I64) => true,
            (Value::Bool(_), Type::Bool) => true,
            (Value::Array(a), Type::Array(t)) => a.iter().all(|v| v.has_type(t)),
            (Value::Tuple(fs), Type::Tuple(ts)) => {
                fs.len() == ts.len() && fs.iter().zip(ts).all(|(v, t)| v.has_type(t))
            }
            _ => false,
        }
    }

    /// A short description of the value's kind for error messages, such as
    /// `f64` or `array`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::F64(_) => "f64",
            Value::I64(_) => "i64",
            Value::Bool(_) => "bool",
            Value::Tuple(_) => "tuple",
            Value::Array(_) => "array",
        }
    }
}

/// Equal within a relative tolerance: floats `a` and `b` are close when
/// `a == b` (this covers equal infinities and zeros of either sign), both are
/// NaN, or both are finite and `|a - b| <= rel * max(|a|, |b|)`. There is no absolute tolerance,
/// so a value close to zero is only close to zero itself. Integers and
/// booleans compare exactly; arrays and tuples element-wise, and arrays of
/// different lengths are not close.
pub fn approx_eq(a: &Value, b: &Value, rel: f64) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => {
            x == y
                || (x.is_nan() && y.is_nan())
                || (x.is_finite() && y.is_finite() && (x - y).abs() <= rel * x.abs().max(y.abs()))
        }
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| approx_eq(x, y, rel))
        }
        (Value::Tuple(xs), Value::Tuple(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys.iter()).all(|(x, y)| approx_eq(x, y, rel))
        }
        (Value::F64(_), _) | (Value::I64(_), _) | (Value::Bool(_), _) | (Value::Array(_), _) | (Value::Tuple(_), _) => {
            false
        }
    }
}

/// Writes a float in dl literal syntax: the shortest text that reads back
/// to the same bits, always with a `.` or an exponent.
pub fn write_f64(f: &mut impl fmt::Write, x: f64) -> fmt::Result {
    // The runtime writes floats into its error messages the same way.
    dl_runtime::error::write_f64(f, x)
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::F64(x) => write_f64(f, *x),
            Value::I64(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Array(elems) => {
                f.write_str("[")?;
                for (i, v) in elems.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Tuple(fields) => {
                f.write_str("(")?;
                for (i, v) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                if fields.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Reads a value of type `ty` written in dl literal syntax, as printed by
/// `Display`. An integer literal is accepted where an f64 is expected, a
/// trailing comma is allowed in arrays and tuples, and a one-field tuple may
/// be written with or without its comma. Errors say what was expected and
/// where.
pub fn parse_value(text: &str, ty: &Type) -> Result<Value, String> {
    let mut p = ValueParser { text, pos: 0 };
    let v = p.value(ty)?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error("the end of the value"));
    }
    Ok(v)
}

struct ValueParser<'a> {
    text: &'a str,
    pos: usize,
}

impl ValueParser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Skips whitespace, then consumes `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// The token at the current position, for error messages.
    fn found(&self) -> String {
        let rest = self.rest();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
            .collect();
        match rest.chars().next() {
            None => "the end of the input".to_string(),
            Some(c) if word.is_empty() => format!("`{c}`"),
            Some(_) => format!("`{word}`"),
        }
    }

    /// "line 2, column 5", or "column 5" in one-line text.
    fn location(&self) -> String {
        let before = &self.text[..self.pos];
        let column = before.rsplit('\n').next().map_or(0, |line| line.chars().count()) + 1;
        if self.text.contains('\n') {
            let line = before.matches('\n').count() + 1;
            format!("line {line}, column {column}")
        } else {
            format!("column {column}")
        }
    }

    fn error(&self, expected: &str) -> String {
        format!("expected {expected}, found {} at {}", self.found(), self.location())
    }

    /// A number token: digits, an optional fraction, an optional exponent.
    /// Returns the token and whether it has a fraction or an exponent.
    fn number(&mut self) -> Option<(&str, bool)> {
        let bytes = self.rest().as_bytes();
        let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut len = digits(0);
        if len == 0 {
            return None;
        }
        let mut is_float = false;
        if bytes.get(len) == Some(&b'.') && digits(len + 1) > 0 {
            len += 1 + digits(len + 1);
            is_float = true;
        }
        if matches!(bytes.get(len), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(len + 1), Some(b'+' | b'-')));
            let exp = digits(len + 1 + sign);
            if exp > 0 {
                len += 1 + sign + exp;
                is_float = true;
            }
        }
        // A number runs into no letter or digit: `1x` and `1.` are errors.
        if matches!(bytes.get(len), Some(b) if b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.') {
            return None;
        }
        let token = &self.text[self.pos..self.pos + len];
        self.pos += len;
        Some((token, is_float))
    }

    /// Consumes the keyword `word` if it comes next as a whole word.
    fn keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(word)
            && !rest[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '\'')
        {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, ty: &Type) -> Result<Value, String> {
        self.skip_ws();
        let start = self.pos;
        match ty {
            Type::F64 => {
                let negative = self.eat('-');
                self.skip_ws();
                let magnitude = if self.keyword("nan") {
                    f64::NAN
                } else if self.keyword("inf") {
                    f64::INFINITY
                } else if let Some((token, _)) = self.number() {
                    token.parse::<f64>().map_err(|e| e.to_string())?
                } else {
                    if !negative {
                        self.pos = start;
                    }
                    return Err(self.error("f64"));
                };
                Ok(Value::F64(if negative { -magnitude } else { magnitude }))
            }
            Type::I64 => {
                let negative = self.eat('-');
                self.skip_ws();
                let digits_at = self.pos;
                match self.number() {
                    Some((token, false)) => {
                        let text = if negative {
                            format!("-{token}")
                        } else {
                            token.to_string()
                        };
                        text.parse::<i64>()
                            .map_err(|_| {
                                self.pos = digits_at;
                                format!("integer {text} out of the range of i64 at {}", self.location())
                            })
                            .map(Value::I64)
                    }
                    Some((_, true)) | None => {
                        self.pos = if negative { digits_at } else { start };
                        Err(self.error("i64"))
                    }
                }
            }
            Type::Bool => {
                if self.keyword("true") {
                    Ok(Value::Bool(true))
                } else if self.keyword("false") {
                    Ok(Value::Bool(false))
                } else {
                    Err(self.error("bool"))
                }
            }
            Type::Array(elem) => {
                if !self.eat('[') {
                    return Err(self.error(&format!("{ty}")));
                }
                let mut elems = Vec::new();
                loop {
                    if self.eat(']') {
                        break;
                    }
                    elems.push(self.value(elem)?);
                    if self.eat(',') {
                        continue;
                    }
                    if self.eat(']') {
                        break;
                    }
                    return Err(self.error("`,` or `]`"));
                }
                Ok(Value::array(elems))
            }
            Type::Tuple(fields) => {
                if !self.eat('(') {
                    return Err(self.error(&format!("{ty}")));
                }
                let mut values = Vec::with_capacity(fields.len());
                for (i, field) in fields.iter().enumerate() {
                    values.push(self.value(field)?);
                    let last = i + 1 == fields.len();
                    if !self.eat(',') && !last {
                        return Err(self.error(&format!("`,` ({ty} has {})", fields_of(fields))));
                    }
                }
                if !self.eat(')') {
                    return Err(self.error(&format!("`)` ({ty} has {})", fields_of(fields))));
                }
                Ok(Value::tuple(values))
            }
        }
    }
}

/// "1 field", "2 fields".
fn fields_of(fields: &[Type]) -> String {
    match fields.len() {
        1 => "1 field".to_string(),
        n => format!("{n} fields"),
    }
}

/// The JSON form of a value: floats are numbers (NaN and the infinities the
/// strings `"NaN"`, `"Infinity"`, `"-Infinity"`), arrays and tuples arrays.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::F64(x) => match serde_json::Number::from_f64(*x) {
            Some(n) => J::Number(n),
            None if x.is_nan() => J::String("NaN".into()),
            None if *x > 0.0 => J::String("Infinity".into()),
            None => J::String("-Infinity".into()),
        },
        Value::I64(n) => J::Number((*n).into()),
        Value::Bool(b) => J::Bool(*b),
        Value::Array(elems) => J::Array(elems.iter().map(value_to_json).collect()),
        Value::Tuple(fields) => J::Array(fields.iter().map(value_to_json).collect()),
    }
}

/// Reads the JSON form of a value of type `ty`. An f64 may be written as an
/// integer, or as one of the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
/// Errors name the place in the document, as in `at $[1][0]: expected f64,
/// found "x"`.
pub fn value_from_json(json: &serde_json::Value, ty: &Type) -> Result<Value, String> {
    let mut path = String::from("$");
    from_json(json, ty, &mut path)
}

fn from_json(json: &serde_json::Value, ty: &Type, path: &mut String) -> Result<Value, String> {
    use serde_json::Value as J;
    let mismatch = |path: &str, expected: &str| {
        let mut found = json.to_string();
        if found.chars().count() > 40 {
            found = found.chars().take(37).chain("...".chars()).collect();
        }
        Err(format!("at {path}: expected {expected}, found {found}"))
    };
    match (ty, json) {
        (Type::F64, J::Number(n)) => match n.as_f64() {
            Some(x) => Ok(Value::F64(x)),
            None => mismatch(path, "f64"),
        },
        (Type::F64, J::String(s)) => match s.as_str() {
            "NaN" => Ok(Value::F64(f64::NAN)),
            "Infinity" => Ok(Value::F64(f64::INFINITY)),
            "-Infinity" => Ok(Value::F64(f64::NEG_INFINITY)),
            _ => mismatch(path, "f64 (a number, \"NaN\", \"Infinity\" or \"-Infinity\")"),
        },
        (Type::I64, J::Number(n)) => match n.as_i64() {
            Some(k) => Ok(Value::I64(k)),
            None => mismatch(path, "i64"),
        },
        (Type::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Array(elem), J::Array(items)) => {
            let mut elems = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                elems.push(from_json(item, elem, path)?);
                path.truncate(len);
            }
            Ok(Value::array(elems))
        }
        (Type::Tuple(fields), J::Array(items)) => {
            if items.len() != fields.len() {
                return Err(format!(
                    "at {path}: expected {ty}, a tuple of {}, found an array of {}",
                    fields_of(fields),
                    items.len()
                ));
            }
            let mut values = Vec::with_capacity(items.len());
            for (i, (item, field)) in items.iter().zip(fields).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                values.push(from_json(item, field, path)?);
                path.truncate(len);
            }
            Ok(Value::tuple(values))
        }
        (Type::F64 | Type::I64 | Type::Bool | Type::Array(_) | Type::Tuple(_), _) => mismatch(path, &ty.to_string()),
    }
}
