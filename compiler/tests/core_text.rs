//! Core IR text: the printer, the parser and the verifier.
//!
//! The files in `tests/core/*.core` are valid programs. Each one is parsed,
//! printed (the printed form is an insta snapshot), parsed again and
//! verified, through `check_valid`. The verifier's rejections go through
//! `check_rejects`, which compares every error message.

use dl_compiler::core::build::FuncBuilder;
use dl_compiler::core::ir::{
    Atom, Binder, Block, Combine, DerivOp, Func, Loop, LoopKind, Program, Rhs, Stmt, Test, Type, VarId,
};
use dl_compiler::core::parse::{parse_func, parse_program};
use dl_compiler::core::print::{print_func, print_program};
use dl_compiler::core::verify::verify_program;
use dl_compiler::diagnostics::Span;
use dl_compiler::prim::Prim;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn core_files() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/core");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "core"))
        .map(|path| {
            let stem = path.file_stem().expect("file stem").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("readable .core file");
            (stem, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the core corpus in {}", dir.display());
    files
}

/// Structural equality that treats every NaN as equal to every other NaN:
/// `Debug` prints an f64 in shortest round-trip form, so it tells every
/// other pair of distinct values apart.
fn assert_same(a: &Program, b: &Program, what: &str) {
    assert_eq!(format!("{a:#?}"), format!("{b:#?}"), "{what}");
}

/// Parses, prints, parses again and verifies a valid program; the printed
/// form is snapshotted under `name`.
fn check_valid(name: &str, text: &str) -> Program {
    let p = parse_program(text).unwrap_or_else(|e| panic!("{name}.core:{e}"));
    let printed = print_program(&p);
    insta::with_settings!({
        snapshot_path => "../../tests/core/snapshots",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, printed);
    });
    let again = parse_program(&printed).unwrap_or_else(|e| panic!("{name}, printed:{e}"));
    assert_same(&p, &again, name);
    assert_eq!(print_program(&again), printed, "{name}: print . parse . print");
    if let Err(errors) = verify_program(&p) {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("{name}.core does not verify:\n{}", errors.join("\n"));
    }
    p
}

/// Parses a program and returns the verifier's error messages, which must
/// not be empty.
fn rejects(text: &str) -> Vec<String> {
    let p = parse_program(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    match verify_program(&p) {
        Ok(()) => panic!("the verifier accepts\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn check_rejects(text: &str, expected: &[&str]) {
    assert_eq!(rejects(text), expected, "\n{text}");
}

#[test]
fn core_files_round_trip_and_verify() {
    for (name, text) in core_files() {
        check_valid(&name, &text);
    }
}

/// Names every form the corpus must show, so that a new `Rhs` variant or
/// derivative operator needs a file.
#[test]
fn core_files_cover_every_form() {
    fn walk(b: &Block, seen: &mut BTreeSet<String>) {
        for s in &b.stmts {
            let form = match &s.rhs {
                Rhs::Atom(_) => "atom".to_string(),
                Rhs::Prim(..) => "prim".to_string(),
                Rhs::Tuple(ts) => format!("tuple{}", ts.len().min(2)),
                Rhs::Proj(..) => "proj".to_string(),
                Rhs::Array(atoms, _) => format!("array{}", atoms.len().min(1)),
                Rhs::Call(..) => "call".to_string(),
                Rhs::If(_, a, b) => {
                    walk(a, seen);
                    walk(b, seen);
                    "if".to_string()
                }
                Rhs::Loop(l) => {
                    walk(&l.body, seen);
                    match &l.kind {
                        LoopKind::For { .. } => "for".to_string(),
                        LoopKind::While { cond } => {
                            walk(cond, seen);
                            "while".to_string()
                        }
                    }
                }
                Rhs::Map { params, body, .. } => {
                    walk(body, seen);
                    format!("map{}", params.len().min(2))
                }
                Rhs::Build { body, .. } => {
                    walk(body, seen);
                    "build".to_string()
                }
                Rhs::Reduce(c) => {
                    walk(&c.body, seen);
                    "reduce".to_string()
                }
                Rhs::Scan(c) => {
                    walk(&c.body, seen);
                    "scan".to_string()
                }
                Rhs::Deriv { op, .. } => op.name().to_string(),
            };
            seen.insert(form);
        }
    }
    let mut seen = BTreeSet::new();
    let mut printed = String::new();
    for (_, text) in core_files() {
        let p = parse_program(&text).expect("valid corpus file");
        for f in &p.funcs {
            walk(&f.body, &mut seen);
        }
        printed.push_str(&print_program(&p));
    }
    let mut want: Vec<String> = [
        "atom", "prim", "tuple0", "tuple1", "tuple2", "proj", "array0", "array1", "call", "if", "for", "while", "map1",
        "map2", "build", "reduce", "scan",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    want.extend(DerivOp::ALL.iter().map(|op| op.name().to_string()));
    for form in want {
        assert!(seen.contains(&form), "no file in tests/core shows `{form}`");
    }
    for literal in [
        " nan",
        " inf",
        "-inf",
        "-2.5",
        "1e-7",
        "1e-300",
        "-0.0",
        "-9223372036854775808",
        "true",
        "false",
        "\"a b\".0",
        "test ",
    ] {
        assert!(printed.contains(literal), "no printed file shows `{literal}`");
    }
}

#[test]
fn printed_literals() {
    let p = parse_program(
        "def f() -> []f64 =\n  let a.0: []f64 = [1e-7, 1.0e2, 0.5e0, 1E3, -inf, inf, nan]: []f64\n  in a.0\n",
    )
    .expect("parses");
    assert_eq!(
        print_program(&p),
        "def f() -> []f64 =\n  let a.0: []f64 = [1e-7, 100.0, 0.5, 1000.0, -inf, inf, nan]: []f64\n  in a.0\n"
    );
}

#[test]
fn unbound_variables_print_as_v() {
    let f = Func {
        name: "f".to_string(),
        params: vec![],
        ret: Type::F64,
        body: Block::atom(Atom::Var(VarId(7))),
        span: Span::default(),
    };
    let text = print_func(&f);
    assert_eq!(text, "def f() -> f64 =\n  in v.7\n");
    assert_eq!(parse_func(&text), Ok(f));
    assert!(parse_func("").is_err());
}

#[test]
fn builder_makes_verified_ir() {
    let mut b = FuncBuilder::new("norm2");
    let a = b.param("a", Type::array(Type::F64));
    let x = b.binder("x", Type::F64);
    let body = b.block(|b| b.prim("sq", Prim::Mul, &[x.atom(), x.atom()]));
    let sq = b.bind(
        "sq",
        Type::array(Type::F64),
        Rhs::Map {
            arrays: vec![a],
            params: vec![x],
            body,
        },
    );
    let s = b.prim("s", Prim::Sum, &[sq]);
    let r = b.prim("r", Prim::Sqrt, &[s]);
    let f = b.finish(Type::F64, r);
    let p = Program {
        funcs: vec![f],
        tests: vec![],
    };
    verify_program(&p).expect("verifies");
    let text = print_program(&p);
    assert_eq!(
        text,
        "\
def norm2(a.0: []f64) -> f64 =
  let sq.3: []f64 = map(a.0) \\(x.1: f64) ->
    let sq.2: f64 = mul(x.1, x.1)
    in sq.2
  let s.4: f64 = sum(sq.3)
  let r.5: f64 = sqrt(s.4)
  in r.5
"
    );
    assert_eq!(parse_program(&text).expect("parses"), p);
    assert_eq!(FuncBuilder::after(&p.funcs[0]).fresh(), VarId(6));
}

// ---------------------------------------------------------------------------
// Parse errors.

#[test]
fn parse_errors_say_where_and_what() {
    let cases: &[(&str, &str)] = &[
        ("def f() -> f64 =\n  in 1.0\nfoo", "3:1: expected `def` or `test`"),
        (
            "def f(x.0: f64) -> f64 =\n  in x.1\n",
            "2:6: `x.1` names variable 1, which is not bound in `f`, so it is written `v.1`",
        ),
        (
            "def f(x.0: f64) -> f64 =\n  in y.0\n",
            "2:6: `y.0` names variable 0, which is bound as `x.0`",
        ),
        (
            "def f() -> f64 =\n  let y.0: f64 = frobnicate(1.0)\n  in y.0\n",
            "2:18: unknown primitive `frobnicate`",
        ),
        (
            "def f() -> (f64) =\n  in 1.0\n",
            "1:12: a one-field tuple type is written `(T,)`",
        ),
        (
            "def f() -> f64 =\n  let t.0: (f64,) = (1.0)\n  in 1.0\n",
            "2:21: a one-field tuple is written `(x,)`",
        ),
        (
            "def f() -> f64 =\n  let a.0: f64 = [1.0]: f64\n  in 1.0\n",
            "2:25: an array literal's type must be an array type",
        ),
        (
            "def f() -> i64 =\n  in 99999999999999999999\n",
            "2:6: integer literal `99999999999999999999` does not fit in i64",
        ),
        (
            "def f(x.99999999999: f64) -> f64 =\n  in 1.0\n",
            "1:7: variable id 99999999999 is too large",
        ),
        ("test \"t = f\n", "1:6: unterminated string"),
        ("def f() -> f64 = in 1.0 #", "1:25: unexpected character '#'"),
        (
            "def f() -> f64 =\n  let x.0: f64 = loop (s.1: f64) = 1.0 until\n",
            "2:40: expected `for` or `while`, found `until`",
        ),
        ("test f = g\n", "1:6: expected the test's name as a string, found `f`"),
        (
            "def f() -> f64 =\n  let x.0: f64 = add(1.0,",
            "2:26: expected a variable or a literal, found the end of the input",
        ),
    ];
    for (text, want) in cases {
        match parse_program(text) {
            Ok(p) => panic!("parses:\n{text}\n{p:#?}"),
            Err(e) => assert_eq!(e.to_string(), *want, "\n{text}"),
        }
    }
}

/// Every truncation and many small mutations of every valid file give a
/// program or an error, never a panic; whatever parses also prints, parses
/// back, and verifies without a panic.
#[test]
fn parser_never_panics() {
    let mut rng = Rng(0x5eed);
    let noise = [
        "(",
        ")",
        "[",
        "]",
        "\"",
        "\\",
        ".",
        "-",
        "--",
        "0",
        "9",
        "e",
        "x",
        "\n",
        "{",
        ",",
        ":",
        "=",
        "->",
        "in",
        "let",
        "\\u{",
        "é",
        " ",
        ".4294967296",
        "1e999",
    ];
    for (name, text) in core_files() {
        let chars: Vec<char> = text.chars().collect();
        for cut in 0..chars.len() {
            let prefix: String = chars[..cut].iter().collect();
            exercise(&prefix);
        }
        for _ in 0..400 {
            let mut mutated = chars.clone();
            let at = rng.below(mutated.len());
            match rng.below(3) {
                0 => {
                    mutated.remove(at);
                }
                1 => {
                    let c = mutated[rng.below(mutated.len())];
                    mutated.insert(at, c);
                }
                _ => {
                    let piece = noise[rng.below(noise.len())];
                    for (k, c) in piece.chars().enumerate() {
                        mutated.insert(at + k, c);
                    }
                }
            }
            let mutated: String = mutated.into_iter().collect();
            exercise(&mutated);
        }
        let _ = name;
    }
    // Deep nesting is an error, not a stack overflow.
    for deep in [
        format!("def f() -> {}f64 = in 1.0", "[]".repeat(100_000)),
        format!("def f() -> {}", "(".repeat(100_000)),
        format!("def f() -> f64 = {}", "let x.0: f64 = if true then ".repeat(100_000)),
    ] {
        let e = parse_program(&deep).expect_err("too deep");
        assert!(e.message.contains("nested too deeply"), "{e}");
    }
}

fn exercise(text: &str) {
    if let Ok(p) = parse_program(text) {
        let printed = print_program(&p);
        let again = parse_program(&printed).unwrap_or_else(|e| panic!("printed text does not parse: {e}\n{printed}"));
        assert_same(&p, &again, text);
        let _ = verify_program(&p);
    }
}

// ---------------------------------------------------------------------------
// Round trip of random IR, well-typed or not, with arbitrary names.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

struct Gen {
    rng: Rng,
    next_var: u32,
}

impl Gen {
    fn name(&mut self) -> String {
        const NAMES: &[&str] = &[
            "x", "acc", "in", "let", "v", "nan", "_", "x'", "", "a b", "x.1", "é", "\"", "\\", "\n", "\u{7f}", "1e5",
            "-inf", "grad",
        ];
        NAMES[self.rng.below(NAMES.len())].to_string()
    }

    fn ty(&mut self, depth: u32) -> Type {
        match self.rng.below(if depth > 2 { 3 } else { 5 }) {
            0 => Type::F64,
            1 => Type::I64,
            2 => Type::Bool,
            3 => Type::array(self.ty(depth + 1)),
            _ => {
                let n = self.rng.below(4);
                Type::Tuple((0..n).map(|_| self.ty(depth + 1)).collect())
            }
        }
    }

    fn binder(&mut self) -> Binder {
        let var = VarId(self.next_var);
        self.next_var += 1 + self.rng.below(3) as u32;
        Binder {
            var,
            name: self.name(),
            ty: self.ty(0),
        }
    }

    fn atom(&mut self) -> Atom {
        const FLOATS: &[f64] = &[
            0.0,
            -0.0,
            1.0,
            -2.5,
            1e-7,
            1e-300,
            5e-324,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.1,
            1e16,
            123.456,
        ];
        match self.rng.below(5) {
            0 | 1 => Atom::Var(VarId(self.rng.below(self.next_var as usize + 3) as u32)),
            2 => Atom::F64(FLOATS[self.rng.below(FLOATS.len())]),
            3 => Atom::I64(match self.rng.below(4) {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => self.rng.next() as i64 % 1000,
            }),
            _ => Atom::Bool(self.rng.below(2) == 0),
        }
    }

    fn atoms(&mut self) -> Vec<Atom> {
        let n = self.rng.below(4);
        (0..n).map(|_| self.atom()).collect()
    }

    fn block(&mut self, depth: u32) -> Block {
        let n = self.rng.below(if depth > 2 { 2 } else { 4 });
        let stmts = (0..n)
            .map(|_| Stmt {
                binder: self.binder(),
                rhs: self.rhs(depth),
                span: Span::default(),
            })
            .collect();
        Block {
            stmts,
            result: self.atom(),
        }
    }

    fn func_name(&mut self) -> String {
        ["f", "g", "weird name", "in", "", "é"][self.rng.below(6)].to_string()
    }

    fn combine(&mut self, depth: u32) -> Combine {
        Combine {
            ne: self.atom(),
            array: self.atom(),
            acc: self.binder(),
            elem: self.binder(),
            body: self.block(depth + 1),
        }
    }

    fn rhs(&mut self, depth: u32) -> Rhs {
        let choices = if depth > 2 { 6 } else { 15 };
        match self.rng.below(choices) {
            0 => Rhs::Atom(self.atom()),
            1 => Rhs::Prim(Prim::ALL[self.rng.below(Prim::ALL.len())], self.atoms()),
            2 => Rhs::Tuple(self.atoms()),
            3 => Rhs::Proj(self.atom(), self.rng.below(5)),
            4 => Rhs::Array(self.atoms(), self.ty(0)),
            5 => Rhs::Call(self.func_name(), self.atoms()),
            6 => Rhs::If(self.atom(), self.block(depth + 1), self.block(depth + 1)),
            7 => Rhs::Loop(Loop {
                state: self.binder(),
                init: self.atom(),
                kind: LoopKind::For {
                    n: self.atom(),
                    index: self.binder(),
                },
                body: self.block(depth + 1),
            }),
            8 => Rhs::Loop(Loop {
                state: self.binder(),
                init: self.atom(),
                kind: LoopKind::While {
                    cond: self.block(depth + 1),
                },
                body: self.block(depth + 1),
            }),
            9 => {
                let n = self.rng.below(3);
                Rhs::Map {
                    arrays: (0..n).map(|_| self.atom()).collect(),
                    params: (0..self.rng.below(3)).map(|_| self.binder()).collect(),
                    body: self.block(depth + 1),
                }
            }
            10 => Rhs::Build {
                n: self.atom(),
                index: self.binder(),
                body: self.block(depth + 1),
            },
            11 => Rhs::Reduce(self.combine(depth)),
            12 => Rhs::Scan(self.combine(depth)),
            _ => Rhs::Deriv {
                op: DerivOp::ALL[self.rng.below(DerivOp::ALL.len())],
                func: self.func_name(),
                captured: self.atoms(),
                args: self.atoms(),
            },
        }
    }

    fn program(&mut self) -> Program {
        let funcs = (0..1 + self.rng.below(3))
            .map(|_| {
                self.next_var = 0;
                Func {
                    name: self.func_name(),
                    params: (0..self.rng.below(3)).map(|_| self.binder()).collect(),
                    ret: self.ty(0),
                    body: self.block(0),
                    span: Span::default(),
                }
            })
            .collect();
        let tests = (0..self.rng.below(3))
            .map(|_| Test {
                name: self.name(),
                func: self.func_name(),
                span: Span::default(),
            })
            .collect();
        Program { funcs, tests }
    }
}

#[test]
fn random_ir_round_trips() {
    let mut g = Gen {
        rng: Rng(0x00c0_ffee),
        next_var: 0,
    };
    for _ in 0..2000 {
        let p = g.program();
        let printed = print_program(&p);
        let again = parse_program(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert_same(&p, &again, &printed);
        assert_eq!(print_program(&again), printed);
        // The verifier reports, never panics, on ill-formed IR.
        let _ = verify_program(&p);
    }
}

// ---------------------------------------------------------------------------
// Verifier rejections: scoping.

#[test]
fn rejects_unbound_variable() {
    check_rejects(
        "def f(x.0: f64) -> f64 =\n  let y.1: f64 = add(x.0, v.5)\n  in y.1\n",
        &["in `f`: `let y.1`: `v.5` is not bound"],
    );
}

#[test]
fn rejects_use_before_binding() {
    check_rejects(
        "def f() -> f64 =\n  let y.1: f64 = add(z.2, 1.0)\n  let z.2: f64 = add(y.1, 1.0)\n  in z.2\n",
        &["in `f`: `let y.1`: `z.2` is used outside the scope of its binder"],
    );
}

#[test]
fn rejects_block_local_binder_outside_its_block() {
    check_rejects(
        "\
def f(a.0: []f64) -> f64 =
  let m.1: []f64 = map(a.0) \\(x.2: f64) ->
    let y.3: f64 = mul(x.2, x.2)
    in y.3
  let z.4: f64 = add(y.3, x.2)
  in z.4
",
        &[
            "in `f`: `let z.4`: `y.3` is used outside the scope of its binder",
            "in `f`: `let z.4`: `x.2` is used outside the scope of its binder",
        ],
    );
}

#[test]
fn rejects_loop_binders_outside_the_loop_and_state_in_the_count() {
    check_rejects(
        "\
def f(n.0: i64) -> i64 =
  let r.1: i64 = loop (s.2: i64) = 0 for (i.3: i64) < s.2 do
    in i.3
  let t.4: i64 = add(r.1, i.3)
  in s.2
",
        &[
            "in `f`: `let r.1`: `s.2` is used outside the scope of its binder",
            "in `f`: `let t.4`: `i.3` is used outside the scope of its binder",
            "in `f`: the body: `s.2` is used outside the scope of its binder",
        ],
    );
}

#[test]
fn rejects_binding_twice() {
    check_rejects(
        "\
def f(x.0: f64, x.0: f64) -> f64 =
  let y.1: f64 = x.0
  let y.1: f64 = x.0
  let r.2: f64 = if true then
    let z.3: f64 = y.1
    in z.3
  else
    let z.3: f64 = y.1
    in z.3
  in r.2
",
        &[
            "in `f`: parameter: `x.0` is bound twice",
            "in `f`: `let y.1`: `y.1` is bound twice",
            "in `f`: `let z.3`: `z.3` is bound twice",
        ],
    );
}

// Verifier rejections: types, one Rhs form at a time.

#[test]
fn rejects_binder_type_mismatch_for_atoms_and_prims() {
    check_rejects(
        "\
def f(x.0: f64) -> f64 =
  let a.1: i64 = x.0
  let b.2: f64 = add(x.0, 1)
  let c.3: bool = add(x.0, 1.0)
  let d.4: f64 = sqrt(x.0, x.0)
  in x.0
",
        &[
            "in `f`: `let a.1`: the binder has type i64, but the right-hand side has type f64",
            "in `f`: `let b.2`: `add` does not apply to (f64, i64)",
            "in `f`: `let c.3`: the binder has type bool, but the right-hand side has type f64",
            "in `f`: `let d.4`: `sqrt` takes 1 arguments, got 2",
        ],
    );
}

#[test]
fn rejects_bad_tuples_and_projections() {
    check_rejects(
        "\
def f(x.0: f64) -> f64 =
  let t.1: (f64, f64) = (x.0, 1)
  let u.2: (f64, i64) = (x.0, 1)
  let a.3: f64 = proj(u.2, 2)
  let b.4: f64 = proj(x.0, 0)
  let c.5: f64 = proj(u.2, 1)
  in x.0
",
        &[
            "in `f`: `let t.1`: the binder has type (f64, f64), but the right-hand side has type (f64, i64)",
            "in `f`: `let a.3`: `proj` of field 2 of a value of type (f64, i64)",
            "in `f`: `let b.4`: `proj` of field 0 of a value of type f64",
            "in `f`: `let c.5`: the binder has type f64, but the right-hand side has type i64",
        ],
    );
}

#[test]
fn rejects_bad_array_literals() {
    check_rejects(
        "\
def f(x.0: f64) -> []f64 =
  let a.1: []f64 = [x.0, 1, true]: []f64
  let b.2: []f64 = []: []i64
  in a.1
",
        &[
            "in `f`: `let a.1`: array element 1 has type i64, expected f64",
            "in `f`: `let a.1`: array element 2 has type bool, expected f64",
            "in `f`: `let b.2`: the binder has type []f64, but the right-hand side has type []i64",
        ],
    );
}

#[test]
fn rejects_bad_calls() {
    check_rejects(
        "\
def g(a.0: f64, b.1: i64) -> f64 =
  in a.0

def f(x.0: f64) -> f64 =
  let a.1: f64 = call missing(x.0)
  let b.2: f64 = call g(x.0)
  let c.3: f64 = call g(x.0, x.0)
  let d.4: i64 = call g(x.0, 1)
  in x.0
",
        &[
            "in `f`: `let a.1`: call of unknown function `missing`",
            "in `f`: `let b.2`: `g` takes 2 arguments, got 1",
            "in `f`: `let c.3`: argument 1 of `g` has type f64, expected i64",
            "in `f`: `let d.4`: the binder has type i64, but the right-hand side has type f64",
        ],
    );
}

#[test]
fn rejects_bad_if() {
    check_rejects(
        "\
def f(x.0: f64) -> f64 =
  let a.1: f64 = if x.0 then
    in 1.0
  else
    in 2.0
  let b.2: f64 = if true then
    in 1.0
  else
    in 2
  in a.1
",
        &[
            "in `f`: `let a.1`: the condition of `if` has type f64, expected bool",
            "in `f`: `let b.2`: the branches of `if` have types f64 and i64",
        ],
    );
}

#[test]
fn rejects_bad_for_loops() {
    check_rejects(
        "\
def f(x.0: f64) -> f64 =
  let a.1: f64 = loop (s.2: f64) = 1 for (i.3: i64) < 2.0 do
    in i.3
  let b.4: f64 = loop (t.5: f64) = 1.0 for (j.6: f64) < 3 do
    in t.5
  in a.1
",
        &[
            "in `f`: `let a.1`: the initial state of `loop` has type i64, expected f64",
            "in `f`: `let a.1`: the trip count of `loop` has type f64, expected i64",
            "in `f`: `let a.1`: the body of `loop` has type i64, expected f64",
            "in `f`: `let b.4`: the index `j.6` has type f64, expected i64",
        ],
    );
}

#[test]
fn rejects_bad_while_loops() {
    check_rejects(
        "\
def f(x.0: f64) -> f64 =
  let a.1: f64 = loop (s.2: f64) = x.0 while
    in s.2
  do
    let c.3: bool = gt(s.2, 1.0)
    in c.3
  in a.1
",
        &[
            "in `f`: `let a.1`: the condition of `while` has type f64, expected bool",
            "in `f`: `let a.1`: the body of `loop` has type bool, expected f64",
        ],
    );
}

#[test]
fn rejects_bad_maps() {
    check_rejects(
        "\
def f(a.0: []f64, x.1: f64) -> []f64 =
  let m.2: []f64 = map(a.0) \\(e.3: i64) ->
    in 1.0
  let n.4: []f64 = map(a.0, a.0) \\(e.5: f64) ->
    in e.5
  let o.6: []f64 = map(x.1) \\(e.7: f64) ->
    in e.7
  let p.8: []f64 = map() \\ ->
    in 1.0
  let q.9: []i64 = map(a.0) \\(e.10: f64) ->
    in e.10
  in a.0
",
        &[
            "in `f`: `let m.2`: the `map` parameter `e.3` has type i64, expected f64",
            "in `f`: `let n.4`: `map` over 2 arrays has 1 parameters",
            "in `f`: `let o.6`: `map` operand 0 has type f64, which is not an array",
            "in `f`: `let p.8`: `map` needs at least one array",
            "in `f`: `let q.9`: the binder has type []i64, but the right-hand side has type []f64",
        ],
    );
}

#[test]
fn rejects_bad_builds() {
    check_rejects(
        "\
def f(x.0: f64) -> []f64 =
  let a.1: []f64 = build(x.0) \\(i.2: i64) ->
    in 1.0
  let b.3: []f64 = build(3) \\(i.4: f64) ->
    in i.4
  let c.5: []f64 = build(3) \\(i.6: i64) ->
    in i.6
  in a.1
",
        &[
            "in `f`: `let a.1`: the length of `build` has type f64, expected i64",
            "in `f`: `let b.3`: the index `i.4` has type f64, expected i64",
            "in `f`: `let c.5`: the binder has type []f64, but the right-hand side has type []i64",
        ],
    );
}

#[test]
fn rejects_bad_reduces_and_scans() {
    check_rejects(
        "\
def f(a.0: []f64, x.1: f64) -> f64 =
  let r.2: f64 = reduce(0, a.0) \\(acc.3: f64) (e.4: i64) ->
    in acc.3
  let s.5: f64 = scan(0.0, a.0) \\(acc.6: f64) (e.7: f64) ->
    in true
  let t.8: f64 = reduce(0.0, x.1) \\(acc.9: f64) (e.10: f64) ->
    in acc.9
  in r.2
",
        &[
            "in `f`: `let r.2`: the neutral element of `reduce` has type i64, expected f64",
            "in `f`: `let r.2`: the element of `reduce` `e.4` has type i64, expected f64",
            "in `f`: `let s.5`: the body of `scan` has type bool, expected f64",
            "in `f`: `let s.5`: the binder has type f64, but the right-hand side has type []f64",
            "in `f`: `let t.8`: `reduce` of a value of type f64, which is not an array",
        ],
    );
}

#[test]
fn rejects_bad_derivatives() {
    check_rejects(
        "\
def sq(x.0: f64) -> f64 =
  let y.1: f64 = mul(x.0, x.0)
  in y.1

def vec(v.0: []f64) -> []f64 =
  in v.0

def count(n.0: i64, x.1: f64) -> f64 =
  in x.1

def f(x.0: f64, v.1: []f64) -> f64 =
  let a.2: f64 = grad(missing)(x.0)
  let b.3: f64 = grad(vec)(v.1)
  let c.4: f64 = grad(sq)(x.0, x.0)
  let d.5: f64 = grad(sq)(v.1)
  let e.6: f64 = grad(sq, x.0, x.0)()
  let g.7: f64 = grad(count)(1, x.0)
  let h.8: f64 = grad(count, 1)(x.0)
  let i.9: f64 = grad(count, 1.0)(x.0)
  let j.10: [][]f64 = hessian(vec)(v.1)
  let k.11: [][]f64 = jacrev(sq)(x.0)
  let l.12: (f64, f64) = jvp(sq)(x.0, v.1)
  let m.13: (f64, f64) = vjp(sq)(x.0, 1.0)
  let n.14: f64 = value_and_grad(sq)(x.0)
  in x.0
",
        &[
            "in `f`: `let a.2`: `grad` of unknown function `missing`",
            "in `f`: `let b.3`: `grad` needs a function that returns f64, not []f64",
            "in `f`: `let c.4`: `grad(sq)` takes 1 arguments, got 2",
            "in `f`: `let d.5`: argument 0 of `grad(sq)` has type []f64, expected f64",
            "in `f`: `let e.6`: `grad` captures 2 arguments, but `sq` takes 1",
            "in `f`: `let g.7`: `grad` differentiates a parameter of type i64, which has no derivative",
            "in `f`: `let i.9`: captured argument 0 of `count` has type f64, expected i64",
            "in `f`: `let j.10`: `hessian` needs a function of type ([]f64) -> f64, not ([]f64) -> []f64",
            "in `f`: `let k.11`: `jacrev` needs a function of type ([]f64) -> []f64, not (f64) -> f64",
            "in `f`: `let l.12`: argument 1 of `jvp(sq)` has type []f64, expected f64",
            "in `f`: `let m.13`: the binder has type (f64, f64), but the right-hand side has type (f64, (f64,))",
            "in `f`: `let n.14`: the binder has type f64, but the right-hand side has type (f64, f64)",
        ],
    );
}

#[test]
fn rejects_wrong_result_type() {
    check_rejects(
        "def f(x.0: f64) -> i64 =\n  in x.0\n",
        &["in `f`: the body has type f64, but the function returns i64"],
    );
}

// Verifier rejections: the program.

#[test]
fn rejects_bad_tests() {
    check_rejects(
        "\
def ok() -> bool =
  in true

def takes(x.0: f64) -> bool =
  in true

def number() -> f64 =
  in 1.0

test \"fine\" = ok
test \"missing\" = nowhere
test \"has params\" = takes
test \"not bool\" = number
",
        &[
            "test \"missing\": no function `nowhere`",
            "test \"has params\": `takes` must take no arguments and return bool, but has type (f64) -> bool",
            "test \"not bool\": `number` must take no arguments and return bool, but has type () -> f64",
        ],
    );
}

#[test]
fn rejects_duplicate_functions_and_recursion() {
    check_rejects(
        "\
def f(x.0: f64) -> f64 =
  let y.1: f64 = call g(x.0)
  in y.1

def g(x.0: f64) -> f64 =
  let y.1: f64 = grad(f)(x.0)
  in y.1

def h() -> f64 =
  in 1.0

def h() -> f64 =
  let y.0: f64 = call h()
  in y.0
",
        &[
            "in `h`: function `h` is defined twice",
            "in `f`: `f` calls itself (f -> g -> f); recursion is not allowed",
            "in `h`: `h` calls itself (h -> h); recursion is not allowed",
        ],
    );
}
