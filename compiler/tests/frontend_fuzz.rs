//! The whole front end (parser and checker) on arbitrary input: random
//! bytes and random mutations of the programs in the repository. Nothing
//! may panic; every input either is rejected with a located diagnostic or
//! yields core IR that passes the verifier.

mod common;

use dl_compiler::check::{self, SourceModule};
use dl_compiler::core::verify;
use dl_compiler::diagnostics::Diagnostic;
use dl_compiler::driver::PRELUDE;
use dl_compiler::syntax::{self, ast};

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "def ",
    "let ",
    " in ",
    "if ",
    " then ",
    " else ",
    "loop ",
    " for ",
    " while ",
    " do ",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "->",
    "\\x -> ",
    "+",
    "*",
    "-",
    "/",
    "**",
    "@",
    "==",
    "~=",
    "<",
    "&&",
    "||",
    "!",
    ".0",
    ".1",
    "0",
    "1",
    "2.5",
    "1e-3",
    "x",
    "n",
    "i",
    "a",
    "f64",
    "i64",
    "bool",
    "[n]f64",
    "_",
    "grad",
    "jvp(",
    "vjp",
    "hessian(",
    "map(",
    "reduce(",
    "scan(",
    "fold(",
    "build(",
    "sum(",
    "length(",
    "iota(",
    "concat(",
    "stop_gradient(",
    "main",
    "\n",
    " ",
];

/// Words that keep a program parseable when swapped for one another, so
/// many mutants reach the checker: names, literals, operators.
const WORDS: &[&[&str]] = &[
    &[
        "x", "y", "a", "n", "i", "m", "f", "main", "sum", "length", "exp", "map", "grad", "mean", "pi", "_",
    ],
    &["0", "1", "3", "-1", "0.0", "1.0", "2.5", "nan", "inf", "true", "false"],
    &["+", "-", "*", "/", "%", "**", "@", "==", "<", "~="],
    &["f64", "i64", "bool", "[n]f64", "[3]f64", "[n][m]f64", "(f64, i64)"],
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(2) {
        let len = s.len();
        match rng.below(8) {
            0 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(12)).min(len);
                s.drain(start..end);
            }
            1 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(20)).min(len);
                let piece: Vec<char> = s[start..end].to_vec();
                let at = rng.below(len + 1);
                s.splice(at..at, piece);
            }
            2 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                s.splice(at..at, tok.chars());
            }
            _ => {
                // Replace one occurrence of a word by another of its class.
                let class = WORDS[rng.below(WORDS.len())];
                let from = class[rng.below(class.len())];
                let to = class[rng.below(class.len())];
                let text: String = s.iter().collect();
                let hits: Vec<usize> = text.match_indices(from).map(|(i, _)| i).collect();
                if hits.is_empty() {
                    continue;
                }
                let at = hits[rng.below(hits.len())];
                let replaced = format!("{}{}{}", &text[..at], to, &text[at + from.len()..]);
                s = replaced.chars().collect();
            }
        }
    }
    s.into_iter().collect()
}

fn random_bytes(rng: &mut Rng) -> String {
    let n = rng.below(64);
    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Parses and checks `text` as file 1 after the prelude, asserting the
/// front end's contract.
fn front_end(prelude: &ast::Module, text: &str) {
    let (module, mut diags): (ast::Module, Vec<Diagnostic>) = syntax::parse(1, text);
    let program = if diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        let inputs = [
            SourceModule {
                file: 0,
                module: prelude,
            },
            SourceModule {
                file: 1,
                module: &module,
            },
        ];
        let (program, d) = check::check(&inputs, 1);
        diags.extend(d);
        program
    };
    for d in &diags {
        for l in &d.labels {
            let len = if l.span.file == 0 { PRELUDE.len() } else { text.len() } as u32;
            assert!(
                l.span.start <= l.span.end && l.span.end <= len,
                "a label outside its file: {d:?}"
            );
        }
    }
    match program {
        Some(p) => {
            if let Err(errors) = verify::verify_program(&p) {
                panic!("accepted input produced invalid core IR: {errors:?}");
            }
        }
        None => assert!(
            diags.iter().any(Diagnostic::is_error),
            "a rejected input without an error"
        ),
    }
}

#[test]
fn the_front_end_never_panics() {
    let (prelude, d) = syntax::parse(0, PRELUDE);
    assert!(d.is_empty());
    let mut corpus = Vec::new();
    for folder in [
        "examples",
        "tests/programs",
        "tests/check",
        "tests/diagnostics",
        "tests/runtime_errors",
    ] {
        for path in common::dl_files(folder) {
            corpus.push(std::fs::read_to_string(path).expect("readable"));
        }
    }
    // DL_FUZZ_SEED explores further from the command line; CI uses the default.
    let seed = std::env::var("DL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    let mut rng = Rng(seed);
    let total = 100_000;
    let mut accepted = 0;
    for i in 0..total {
        let input = if i % 5 == 0 {
            random_bytes(&mut rng)
        } else {
            let source = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, source)
        };
        let outcome = std::panic::catch_unwind(|| front_end(&prelude, &input));
        if outcome.is_err() {
            panic!("input {i} broke the front end:\n{input}");
        }
        let (m, d) = syntax::parse(1, &input);
        if d.is_empty() && !m.items.is_empty() {
            accepted += 1;
        }
    }
    // The mutations must reach the checker often, not only the parser.
    eprintln!("{accepted} of {total} inputs parsed and reached the checker");
    assert!(accepted > total / 5, "only {accepted} of {total} inputs parsed");
}
