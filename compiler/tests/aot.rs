//! Ahead-of-time compilation through the C ABI: `dl build` writes object
//! files and headers, C drivers generated here call them, and every
//! output is compared with the interpreter's (within 1e-12 relative).
//! Also: run-time errors through the status code, many calls under
//! valgrind, calls from several threads, and a shared library loaded by
//! Python's ctypes.

mod common;

use common::repo;
use dl_compiler::codegen::c_abi::{CSignature, CType};
use dl_compiler::codegen::object::signature;
use dl_compiler::core::interp;
use dl_compiler::core::ir::Program;
use dl_compiler::core::value::{parse_value, Value};
use dl_compiler::driver;
use dl_compiler::lower::lir::Ty;
use dl_compiler::lower::marshal::{to_components, Buffer, Component};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `dl` binary under test.
fn dl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dl"))
}

/// The directory of `libdl_runtime.a` for this build profile: beside the
/// `dl` binary, where `cargo build` writes it. `cargo test` builds the
/// runtime for the tests but may leave the static library in `deps/`, so
/// it is built (or found up to date) once here.
fn runtime_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_BIN_EXE_dl")).parent().unwrap().to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "dl-runtime"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let out = build.current_dir(repo()).output().expect("cargo runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            dir.join("libdl_runtime.a").is_file(),
            "no libdl_runtime.a in {}",
            dir.display()
        );
        dir
    })
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dl-aot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `dl build FILE -o OUT --header H --prefix P`, then the header's name.
fn build(file: &Path, dir: &Path, prefix: &str) -> (PathBuf, PathBuf) {
    let object = dir.join(format!("{prefix}prog.o"));
    let header = dir.join(format!("{prefix}prog.h"));
    let out = dl()
        .arg("build")
        .arg(file)
        .arg("-o")
        .arg(&object)
        .arg("--header")
        .arg(&header)
        .args(["--prefix", prefix])
        .output()
        .unwrap();
    ok(out, "dl build");
    (object, header)
}

/// `dl build tests/aot/calculus.dl` into `dir/prog.o` and `dir/prog.h`,
/// run from the repository so that locations read `tests/aot/...`.
fn build_calculus(dir: &Path, extra: &[&str]) {
    let out = dl()
        .current_dir(repo())
        .args(["build", "tests/aot/calculus.dl", "-o"])
        .arg(dir.join("prog.o"))
        .arg("--header")
        .arg(dir.join("prog.h"))
        .args(extra)
        .output()
        .unwrap();
    ok(out, "dl build");
}

/// Compiles and links a C driver with `objects` and the static runtime.
fn link(dir: &Path, source: &str, objects: &[PathBuf], extra: &[&str]) -> PathBuf {
    let c = dir.join("main.c");
    std::fs::write(&c, source).unwrap();
    let exe = dir.join("main");
    let out = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-O1", "-I"])
        .arg(dir)
        .arg(&c)
        .args(objects)
        .arg("-L")
        .arg(runtime_dir())
        .args(["-ldl_runtime", "-lpthread", "-lm", "-ldl"])
        .args(extra)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    ok(out, "cc");
    exe
}

/// The prepared program of a file, with the interpreter.
fn program(file: &Path) -> Program {
    let compiled = driver::compile_file(file);
    assert!(!compiled.has_errors(), "{}", compiled.render_diagnostics());
    driver::prepare(&compiled).unwrap()
}

fn floats(xs: &[f64]) -> Value {
    Value::Array(std::rc::Rc::new(xs.iter().map(|x| Value::F64(*x)).collect()))
}

/// One call for the driver: entry point and arguments in dl syntax.
struct Call {
    entry: &'static str,
    args: Vec<Value>,
}

/// One program, its object's prefix and its calls.
struct Case {
    file: PathBuf,
    prefix: String,
    program: Program,
    calls: Vec<Call>,
}

impl Case {
    fn new(file: &str, prefix: &str) -> Case {
        let file = repo().join(file);
        Case {
            program: program(&file),
            file,
            prefix: prefix.to_string(),
            calls: Vec::new(),
        }
    }

    /// A call with arguments in dl literal syntax.
    fn call(mut self, entry: &'static str, args: &[&str]) -> Case {
        let func = self.program.func(entry).unwrap_or_else(|| panic!("no {entry}"));
        let args = func
            .params
            .iter()
            .zip(args)
            .map(|(p, text)| parse_value(text, &p.ty).unwrap_or_else(|e| panic!("{text}: {e}")))
            .collect();
        self.calls.push(Call { entry, args });
        self
    }

    /// A call with the arguments `point()` returns.
    fn call_at_point(mut self, entry: &'static str) -> Case {
        let k = self.program.func(entry).unwrap().params.len();
        let point = interp::run(&self.program, "point", Vec::new()).unwrap();
        let args = common::differential::args_of(point, k);
        self.calls.push(Call { entry, args });
        self
    }
}

/// A C literal of an f64, exact.
fn c_double(x: f64) -> String {
    assert!(x.is_finite(), "the drivers pass finite inputs");
    format!("{x:e}")
}

fn c_scalar(ty: Ty) -> &'static str {
    match ty {
        Ty::F64 => "double",
        Ty::I64 => "int64_t",
        Ty::Bool => "bool",
        Ty::Ptr => "void *",
    }
}

fn buffer_items(b: &Buffer) -> Vec<String> {
    match b {
        Buffer::F64(v) => v.iter().map(|x| c_double(*x)).collect(),
        Buffer::I64(v) => v.iter().map(|x| format!("{x}LL")).collect(),
        Buffer::Bool(v) => v.iter().map(|x| u8::from(*x).to_string()).collect(),
    }
}

/// C statements that call `sig` on `inputs` twice (the second call must
/// repeat the first) and print `call <status>` then one line per result
/// component (`buffer_lengths[k]` elements for a buffer) or the error.
fn c_call(sig: &CSignature, inputs: &[Component], buffer_lengths: &[usize], id: usize) -> String {
    let mut s = String::new();
    let mut args = Vec::new();
    for p in &sig.params {
        let name = format!("a{id}_{}", p.component);
        if p.output {
            let ty = match p.ctype {
                CType::Scalar(t) => c_scalar(t).to_string(),
                CType::Buffer(t) => format!("{} *", c_scalar(t)),
            };
            let _ = writeln!(s, "    {ty} o{id}_{};", p.component);
            args.push(format!("&o{id}_{}", p.component));
            continue;
        }
        match (&inputs[p.component], p.ctype) {
            (Component::Buffer(b), CType::Buffer(t)) if !b.is_empty() => {
                let _ = writeln!(
                    s,
                    "    static const {} {name}[] = {{{}}};",
                    c_scalar(t),
                    buffer_items(b).join(", ")
                );
                args.push(name);
            }
            (Component::Buffer(_), _) => args.push("NULL".to_string()),
            (Component::F64(x), _) => args.push(c_double(*x)),
            (Component::I64(n), _) => args.push(format!("{n}LL")),
            (Component::Bool(b), _) => args.push(b.to_string()),
        }
    }
    let mut outputs: Vec<_> = sig.params.iter().filter(|p| p.output).collect();
    outputs.sort_by_key(|p| p.component);
    let _ = writeln!(s, "    for (int round = 0; round < 2; round++) {{");
    let _ = writeln!(s, "      int32_t status = {}({});", sig.symbol, args.join(", "));
    let _ = writeln!(s, "      printf(\"call %d\\n\", status);");
    let _ = writeln!(
        s,
        "      if (status != 0) {{ printf(\"error %s\\n\", dl_last_error()); continue; }}"
    );
    for p in outputs {
        let o = format!("o{id}_{}", p.component);
        let format = |t: Ty, v: &str| match t {
            Ty::F64 => format!("printf(\" %.17g\", {v});"),
            Ty::I64 => format!("printf(\" %lld\", (long long){v});"),
            Ty::Bool | Ty::Ptr => format!("printf(\" %d\", (int){v});"),
        };
        match p.ctype {
            CType::Scalar(t) => {
                let _ = writeln!(s, "      printf(\"v\"); {} printf(\"\\n\");", format(t, &o));
            }
            CType::Buffer(t) => {
                let n = buffer_lengths[p.component];
                let _ = writeln!(
                    s,
                    "      printf(\"v\"); for (int i = 0; i < {n}; i++) {{ {} }} printf(\"\\n\"); dl_free({o});",
                    format(t, &format!("{o}[i]"))
                );
            }
        }
    }
    let _ = writeln!(s, "    }}");
    s
}

/// The printed components of one successful call, checked against the
/// interpreter's.
fn compare(expected: &[Component], printed: &[&str], what: &str) {
    assert_eq!(expected.len(), printed.len(), "{what}: component count");
    for (k, (want, line)) in expected.iter().zip(printed).enumerate() {
        let got: Vec<&str> = line.strip_prefix('v').unwrap().split_whitespace().collect();
        let (want, float): (Vec<String>, bool) = match want {
            Component::F64(x) => (vec![format!("{x}")], true),
            Component::I64(n) => (vec![n.to_string()], false),
            Component::Bool(b) => (vec![u8::from(*b).to_string()], false),
            Component::Buffer(Buffer::F64(v)) => (v.iter().map(|x| format!("{x}")).collect(), true),
            Component::Buffer(Buffer::I64(v)) => (v.iter().map(|x| x.to_string()).collect(), false),
            Component::Buffer(Buffer::Bool(v)) => (v.iter().map(|x| u8::from(*x).to_string()).collect(), false),
        };
        assert_eq!(
            want.len(),
            got.len(),
            "{what}: component {k} has {} elements",
            got.len()
        );
        for (w, g) in want.iter().zip(&got) {
            let same = if float {
                let (a, b): (f64, f64) = (w.parse().unwrap(), g.parse().unwrap());
                a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
            } else {
                w == g
            };
            assert!(
                same,
                "{what}: component {k}: the interpreter gives {w}, the C driver {g}"
            );
        }
    }
}

#[test]
fn c_drivers_agree_with_the_interpreter() {
    let cases = [
        Case::new("examples/linreg.dl", "linreg_")
            .call_at_point("loss")
            .call("predict", &["[1.0, -2.0]", "[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]"])
            .call("data", &["4"])
            .call(
                "fit",
                &["[[1.0, 0.5], [0.2, 1.0], [0.3, 0.3]]", "[1.0, 2.0, 0.5]", "25"],
            ),
        Case::new("examples/mlp.dl", "mlp_")
            .call_at_point("xent")
            .call("main", &[]),
        Case::new("examples/kmeans.dl", "kmeans_")
            .call_at_point("assign")
            .call_at_point("kmeans_cost"),
        Case::new("examples/newton.dl", "newton_").call("newton_sqrt", &["2.0"]),
        Case::new("examples/histogram.dl", "histogram_")
            .call("histogram", &["4", "0.0", "1.0", "[0.1, 0.3, 0.35, 0.9, 0.99, 0.5]"]),
        Case::new("tests/aot/calculus.dl", "calc_")
            .call("energy", &["[1.0, 2.0, 3.0]"])
            .call("gradient", &["[1.0, 2.0, 3.0, -0.5]"])
            .call("hess", &["[1.0, 2.0, 3.0]"])
            .call("value_grad", &["[0.5, -1.5]"])
            .call("gram", &["[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]"])
            .call("gram", &["[]"])
            .call("flags", &["[true, false, true]", "21", "true"])
            .call("pairs", &["[1.0, -2.0, 0.0]"])
            .call("pairs", &["[]"])
            .call("scaled", &["[(1.5, 2), (2.0, -1)]"]),
    ];
    let dir = scratch("agree");
    let mut objects = Vec::new();
    let mut source = String::from("#include <stdio.h>\n");
    for case in &cases {
        let (object, header) = build(&case.file, &dir, &case.prefix);
        objects.push(object);
        let _ = writeln!(source, "#include \"{}\"", header.file_name().unwrap().to_string_lossy());
    }
    source.push_str("\nint main(void) {\n");
    let mut expected = Vec::new();
    for case in &cases {
        for call in &case.calls {
            let func = case.program.func(call.entry).unwrap();
            let sig = signature(func, &case.prefix).unwrap();
            let inputs: Vec<Component> = func
                .params
                .iter()
                .zip(&call.args)
                .flat_map(|(p, v)| to_components(v, &p.ty).unwrap())
                .collect();
            let want = interp::run(&case.program, call.entry, call.args.clone())
                .unwrap_or_else(|e| panic!("{}: {}", call.entry, e.message));
            let outputs = to_components(&want, &func.ret).unwrap();
            let lengths: Vec<usize> = outputs
                .iter()
                .map(|c| match c {
                    Component::Buffer(b) => b.len(),
                    _ => 0,
                })
                .collect();
            let _ = writeln!(source, "  {{ /* {} */", sig.symbol);
            source.push_str(&c_call(&sig, &inputs, &lengths, expected.len()));
            source.push_str("  }\n");
            expected.push((format!("{}{}", case.prefix, call.entry), outputs));
        }
    }
    source.push_str("  return 0;\n}\n");
    let exe = link(&dir, &source, &objects, &[]);
    let stdout = ok(Command::new(&exe).output().unwrap(), "the C driver");
    // Each call: twice `call 0` and its components.
    let mut lines = stdout.lines().peekable();
    for (what, outputs) in &expected {
        for round in 0..2 {
            let what = format!("{what} (call {})", round + 1);
            let status = lines.next().unwrap_or_else(|| panic!("{what}: no output"));
            assert_eq!(status, "call 0", "{what}: {:?}", lines.next());
            let printed: Vec<&str> = (0..outputs.len()).map(|_| lines.next().unwrap()).collect();
            compare(outputs, &printed, &what);
        }
    }
    assert_eq!(lines.next(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The driver of the error test: each failing call prints its status and
/// message, and the process goes on to succeed.
const ERRORS_DRIVER: &str = r#"
#include <stdio.h>
#include "prog.h"

int main(void) {
  const double x[3] = {1.0, 2.0, 3.0};
  double out = -1.0;
  int64_t q = -1;
  int32_t s = pick(x, 3, 7, &out);
  printf("%d %s %g\n", s, dl_last_error(), out);
  s = dot2(x, 3, x, 2, &out);
  printf("%d %s\n", s, dl_last_error());
  s = gradient(x, -2, NULL, NULL);
  printf("%d %s\n", s, dl_last_error());
  s = quotient(7, 0, &q);
  printf("%d %s\n", s, dl_last_error());
  s = pick(x, 3, 2, &out);
  printf("%d %s %g\n", s, dl_last_error() == NULL ? "none" : "stale", out);
  s = dot2(x, 3, x, 3, &out);
  printf("%d %g\n", s, out);
  return 0;
}
"#;

#[test]
fn run_time_errors_come_back_through_the_status_and_the_process_goes_on() {
    let dir = scratch("errors");
    let file = repo().join("tests/aot/calculus.dl");
    build_calculus(
        &dir,
        &[
            "--entry", "pick", "--entry", "dot2", "--entry", "gradient", "--entry", "quotient",
        ],
    );
    let exe = link(&dir, ERRORS_DRIVER, &[dir.join("prog.o")], &[]);
    let stdout = ok(Command::new(&exe).output().unwrap(), "the C driver");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "1 tests/aot/calculus.dl:22:38: error: index 7 out of bounds for an array of length 3 -1",
            "1 tests/aot/calculus.dl:24:25: error: size mismatch: expected 3, got 2",
            "1 tests/aot/calculus.dl:7:1: error: negative size: -2",
            "1 tests/aot/calculus.dl:26:39: error: integer division by zero: 7 / 0",
            "0 none 3",
            "0 14",
        ]
    );
    // The messages are the interpreter's.
    let program = program(&file);
    let message = |entry: &str, args: Vec<Value>| interp::run(&program, entry, args).unwrap_err().message;
    let x = floats(&[1.0, 2.0, 3.0]);
    assert!(lines[0].contains(&message("pick", vec![x.clone(), Value::I64(7)])));
    assert!(lines[1].contains(&message("dot2", vec![x, floats(&[1.0, 2.0])])));
    assert!(lines[3].contains(&message("quotient", vec![Value::I64(7), Value::I64(0)])));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Many calls of a gradient and a Hessian, and failing calls between them.
const MANY_CALLS_DRIVER: &str = r#"
#include <stdio.h>
#include "prog.h"

int main(void) {
  double x[16];
  double total = 0.0;
  for (int call = 0; call < 300; call++) {
    for (int i = 0; i < 16; i++) x[i] = 0.01 * (i + call % 7);
    double *g, *h;
    int64_t n, r, c;
    if (gradient(x, 16, &g, &n) != 0 || hess(x, 16, &h, &r, &c) != 0) {
      printf("failed: %s\n", dl_last_error());
      return 1;
    }
    total += g[n - 1] + h[r * c - 1];
    dl_free(g);
    dl_free(h);
    if (call % 50 == 0 && pick(x, 16, 99, &total) != 1) return 1;
    /* A result written in place, then an index past the end. */
    double *s;
    int64_t m;
    if (call % 10 == 0 && shift(x, 16, 1 + call % 3, &s, &m) != 1) return 1;
    if (shift(x, 16, 0, &s, &m) != 0 || m != 16 || s[3] != 2.0 * x[3]) return 1;
    dl_free(s);
  }
  printf("%.17g\n", total);
  return 0;
}
"#;

#[test]
fn many_calls_run_clean_under_valgrind() {
    let dir = scratch("valgrind");
    build_calculus(&dir, &[]);
    let exe = link(&dir, MANY_CALLS_DRIVER, &[dir.join("prog.o")], &[]);
    let program = program(&repo().join("tests/aot/calculus.dl"));
    let mut want = 0.0;
    for call in 0..300 {
        let x: Vec<f64> = (0..16).map(|i| 0.01 * f64::from(i + call % 7)).collect();
        let x = floats(&x);
        let Value::Array(g) = interp::run(&program, "gradient", vec![x.clone()]).unwrap() else {
            panic!()
        };
        let Value::Array(h) = interp::run(&program, "hess", vec![x]).unwrap() else {
            panic!()
        };
        let (Value::F64(gl), Value::Array(hl)) = (&g[15], &h[15]) else {
            panic!()
        };
        let Value::F64(hll) = hl[15] else { panic!() };
        want += gl + hll;
    }
    let valgrind = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let stdout = if valgrind {
        let out = Command::new("valgrind")
            .args(["--leak-check=full", "--error-exitcode=1", "--quiet"])
            .arg(&exe)
            .output()
            .unwrap();
        ok(out, "the C driver under valgrind")
    } else {
        eprintln!("valgrind is not installed: the driver runs without it (outputs checked, memory not)");
        ok(Command::new(&exe).output().unwrap(), "the C driver")
    };
    let got: f64 = stdout.trim().parse().unwrap();
    assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} != {want}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Threads calling entry points at once: each has its own context and
/// its own last error.
const THREADS_DRIVER: &str = r#"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "prog.h"

static void *work(void *arg) {
  long id = (long)arg;
  double x[64];
  for (int i = 0; i < 64; i++) x[i] = 0.001 * (i + id);
  for (int call = 0; call < 2000; call++) {
    double *g;
    int64_t n;
    if (gradient(x, 64, &g, &n) != 0 || n != 64) return (void *)1;
    double want = 3.0 * x[5] * x[5];
    if (fabs(g[5] - want) > 1e-12 * want) return (void *)2;
    dl_free(g);
    double out;
    if (id % 2 == 0 && pick(x, 64, 64 + id, &out) != 1) return (void *)3;
    const char *e = dl_last_error();
    char expected[128];
    snprintf(expected, sizeof expected, "index %ld out of bounds", 64 + id);
    if (id % 2 == 0 && (e == NULL || strstr(e, expected) == NULL)) return (void *)4;
    if (id % 2 == 1 && e != NULL) return (void *)5;
  }
  return NULL;
}

int main(void) {
  pthread_t threads[4];
  for (long i = 0; i < 4; i++) pthread_create(&threads[i], NULL, work, (void *)i);
  int failed = 0;
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(threads[i], &r);
    if (r != NULL) {
      printf("thread %d failed: %ld\n", i, (long)r);
      failed = 1;
    }
  }
  if (!failed) printf("ok\n");
  return failed;
}
"#;

#[test]
fn entry_points_are_thread_safe() {
    let dir = scratch("threads");
    build_calculus(&dir, &[]);
    let exe = link(&dir, THREADS_DRIVER, &[dir.join("prog.o")], &["-pthread"]);
    assert_eq!(ok(Command::new(&exe).output().unwrap(), "the threaded driver"), "ok\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A gradient called from Python through ctypes, on `array` buffers.
const CTYPES_SCRIPT: &str = r#"
import array, ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.dl_last_error.restype = ctypes.c_char_p
lib.calc_gradient.restype = ctypes.c_int32
x = array.array("d", [1.0, 2.0, 3.0, -0.5])
address, n = x.buffer_info()
out = ctypes.POINTER(ctypes.c_double)()
size = ctypes.c_int64()
status = lib.calc_gradient(ctypes.c_void_p(address), ctypes.c_int64(n), ctypes.byref(out), ctypes.byref(size))
print(status, " ".join(repr(out[i]) for i in range(size.value)))
lib.dl_free(out)
status = lib.calc_pick(ctypes.c_void_p(address), ctypes.c_int64(n), ctypes.c_int64(9), ctypes.byref(ctypes.c_double()))
print(status, lib.dl_last_error().decode())
"#;

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn shared_libraries_load_in_python() {
    if !python_has("ctypes") {
        eprintln!("python3 with ctypes is not installed: the shared library is built but not loaded");
    }
    let dir = scratch("shared");
    let library = dir.join("libcalc.so");
    let out = dl()
        .current_dir(repo())
        .env("DL_RUNTIME_DIR", runtime_dir())
        .args(["build", "--shared", "tests/aot/calculus.dl", "--prefix", "calc_", "-o"])
        .arg(&library)
        .output()
        .unwrap();
    ok(out, "dl build --shared");
    assert!(library.is_file());
    if python_has("ctypes") {
        let script = dir.join("call.py");
        std::fs::write(&script, CTYPES_SCRIPT).unwrap();
        let out = Command::new("python3").arg(&script).arg(&library).output().unwrap();
        let stdout = ok(out, "python3");
        let program = program(&repo().join("tests/aot/calculus.dl"));
        let x = parse_value("[1.0, 2.0, 3.0, -0.5]", &program.func("gradient").unwrap().params[0].ty).unwrap();
        let Value::Array(g) = interp::run(&program, "gradient", vec![x]).unwrap() else {
            panic!()
        };
        let want: Vec<String> = g.iter().map(|v| format!("{v:?}")).collect();
        let lines: Vec<&str> = stdout.lines().collect();
        let got: Vec<f64> = lines[0]
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse().unwrap())
            .collect();
        assert!(lines[0].starts_with("0 "), "{stdout}");
        for (w, g) in g.iter().zip(&got) {
            let Value::F64(w) = w else { panic!() };
            assert!((w - g).abs() <= 1e-12 * w.abs().max(g.abs()), "{want:?} != {got:?}");
        }
        assert_eq!(
            lines[1],
            "1 tests/aot/calculus.dl:22:38: error: index 9 out of bounds for an array of length 4"
        );
    }
    if python_has("numpy") {
        // The NumPy example of examples/python, on its own library.
        let example = repo().join("examples/python");
        let library = dir.join("libregression.so");
        let out = dl()
            .env("DL_RUNTIME_DIR", runtime_dir())
            .arg("build")
            .arg("--shared")
            .arg(example.join("regression.dl"))
            .arg("-o")
            .arg(&library)
            .output()
            .unwrap();
        ok(out, "dl build --shared");
        let out = Command::new("python3")
            .arg(example.join("gradient.py"))
            .arg(&library)
            .output()
            .unwrap();
        ok(out, "examples/python/gradient.py");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_runtime_directory_holds_the_runtime_library() {
    let out = dl()
        .env("DL_RUNTIME_DIR", runtime_dir())
        .args(["build", "--print-runtime-dir"])
        .output()
        .unwrap();
    let printed = ok(out, "dl build --print-runtime-dir");
    assert!(Path::new(printed.trim()).join("libdl_runtime.a").is_file());
    // Without DL_RUNTIME_DIR: the directory of `dl`, where cargo puts the
    // library.
    let out = dl().args(["build", "--print-runtime-dir"]).output().unwrap();
    let printed = ok(out, "dl build --print-runtime-dir");
    assert_eq!(Path::new(printed.trim()), runtime_dir());
    let out = dl()
        .env("DL_RUNTIME_DIR", "/nonexistent")
        .args(["build", "--print-runtime-dir"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: the runtime library `libdl_runtime.a` is not in `/nonexistent`"),
        "{stderr}"
    );
}

#[test]
fn entry_and_prefix_choose_the_exports() {
    let dir = scratch("exports");
    let header = dir.join("two.h");
    let out = dl()
        .current_dir(repo())
        .args(["build", "tests/aot/calculus.dl", "--entry", "hess", "--entry", "pick"])
        .args(["--prefix", "my_", "-o"])
        .arg(dir.join("two.o"))
        .arg("--header")
        .arg(&header)
        .output()
        .unwrap();
    ok(out, "dl build --entry");
    let text = std::fs::read_to_string(&header).unwrap();
    let declared: Vec<&str> = text.lines().filter(|l| l.starts_with("int32_t ")).collect();
    assert_eq!(
        declared,
        [
            "int32_t my_hess(const double *x, int64_t x_dim0, double **out, int64_t *out_dim0, int64_t *out_dim1);",
            "int32_t my_pick(const double *a, int64_t a_dim0, int64_t i, double *out);",
        ]
    );
    assert!(text.contains("/* hess(x: [n]f64) -> [n][n]f64 */"), "{text}");
    assert!(text.contains("#ifndef TWO_H"));

    // Errors: an unknown entry point, a symbol C already has.
    let fail = |file: &str, args: &[&str]| {
        let out = dl()
            .current_dir(repo())
            .args(["build", file, "-o"])
            .arg(dir.join("x.o"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8(out.stderr).unwrap()
    };
    let calculus = "tests/aot/calculus.dl";
    assert!(fail(calculus, &["--entry", "nope"]).contains("error: there is no entry point `nope`"));
    let stderr = fail(calculus, &["--entry", "hess", "--prefix", "my-"]);
    assert!(stderr.contains(
        "error: the entry point `hess` cannot be exported as the C symbol `my-hess`: that is not a C identifier"
    ));
    let stderr = fail("examples/newton.dl", &["--entry", "main"]);
    assert!(
        stderr.contains("that is the C program's `main`; choose a prefix with --prefix"),
        "{stderr}"
    );

    // The default: every definition of the file, but `main` only with a
    // prefix.
    let out = dl()
        .args(["build"])
        .arg(repo().join("examples/newton.dl"))
        .arg("-o")
        .arg(dir.join("newton.o"))
        .arg("--header")
        .arg(dir.join("newton.h"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out, "dl build");
    assert!(stderr.contains("note: not exported: the entry point `main` cannot be exported as the C symbol `main`"));
    let text = std::fs::read_to_string(dir.join("newton.h")).unwrap();
    assert!(
        text.contains("int32_t newton_sqrt(double a, double *out_0, int64_t *out_1);"),
        "{text}"
    );
    assert!(!text.contains("int32_t main("));
    let _ = std::fs::remove_dir_all(&dir);
}
