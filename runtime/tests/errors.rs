//! Run-time errors: the message of every kind, first error wins, raises
//! from many threads at once.

use dl_runtime::context::*;
use dl_runtime::error::{kind, message, ErrorState, ERROR_KINDS};
use std::ffi::CStr;

fn bits(x: f64) -> i64 {
    x.to_bits() as i64
}

#[test]
fn the_message_of_every_kind() {
    let cases: &[(i32, [i64; 3], &str)] = &[
        (0, [5, 3, 0], "index 5 out of bounds for an array of length 3"),
        (0, [-1, 3, 0], "index -1 out of bounds for an array of length 3"),
        (1, [2, 9, 4], "slice 2:9 out of bounds for an array of length 4"),
        (2, [3, 4, 0], "size mismatch: expected 3, got 4"),
        (3, [7, 0, 0], "integer division by zero: 7 / 0"),
        (4, [-7, 0, 0], "integer division by zero: -7 % 0"),
        (5, [-2, 0, 0], "negative size: -2"),
        (6, [0, 0, 0], "argmax of an empty array"),
        (6, [1, 0, 0], "argmin of an empty array"),
        (6, [2, 0, 0], "maximum of an empty array"),
        (6, [3, 0, 0], "minimum of an empty array"),
        (7, [bits(f64::NAN), 0, 0], "cannot convert nan to i64"),
        (8, [bits(1e20), 0, 0], "cannot convert 1e20 to i64: out of range"),
        (8, [bits(-9.3e18), 0, 0], "cannot convert -9.3e18 to i64: out of range"),
        (
            8,
            [bits(9223372036854775808.0), 0, 0],
            "cannot convert 9.223372036854776e18 to i64: out of range",
        ),
        (
            8,
            [bits(f64::INFINITY), 0, 0],
            "cannot convert inf to i64: out of range",
        ),
        (
            8,
            [bits(f64::NEG_INFINITY), 0, 0],
            "cannot convert -inf to i64: out of range",
        ),
        (9, [2, -3, 0], "negative exponent in integer power: 2 ** -3"),
        (10, [3, 5, 0], "irregular array: elements of sizes 3 and 5"),
        (
            11,
            [i64::MAX, 0, 0],
            "out of memory: cannot allocate 9223372036854775807 bytes",
        ),
        (12, [0, 0, 0], "unknown run-time error (kind 12)"),
        (-1, [0, 0, 0], "unknown run-time error (kind -1)"),
    ];
    for &(code, [a, b, c], want) in cases {
        assert_eq!(message(code, a, b, c), want, "kind {code}");
    }
    // Every kind of the table is covered above.
    for k in ERROR_KINDS {
        assert!(cases.iter().any(|(code, _, _)| *code == k.code), "{}", k.name);
    }
}

#[test]
fn integers_at_the_extremes() {
    assert_eq!(
        message(kind::INDEX_OUT_OF_BOUNDS, i64::MIN, i64::MAX, 0),
        "index -9223372036854775808 out of bounds for an array of length 9223372036854775807"
    );
}

#[test]
fn the_first_error_wins() {
    let ctx = dl_ctx_new();
    // SAFETY: `ctx` is live until freed at the end.
    unsafe {
        assert_eq!(dl_has_error(ctx), 0);
        assert_eq!(dl_error_loc(ctx), -1);
        assert_eq!(CStr::from_ptr(dl_error_message(ctx)).to_str().unwrap(), "");
        dl_raise(ctx, kind::SIZE_MISMATCH, 17, 3, 4, 0);
        dl_raise(ctx, kind::INDEX_OUT_OF_BOUNDS, 18, 9, 2, 0);
        assert_eq!(dl_has_error(ctx), 1);
        assert_eq!(dl_error_loc(ctx), 17);
        let text = CStr::from_ptr(dl_error_message(ctx)).to_str().unwrap();
        assert_eq!(text, "size mismatch: expected 3, got 4");
        dl_clear_error(ctx);
        assert_eq!(dl_has_error(ctx), 0);
        dl_raise(ctx, kind::NEGATIVE_SIZE, 2, -1, 0, 0);
        assert_eq!(dl_error_loc(ctx), 2);
        assert_eq!(
            CStr::from_ptr(dl_error_message(ctx)).to_str().unwrap(),
            "negative size: -1"
        );
        dl_ctx_free(ctx);
        // A null context ignores everything.
        let null = std::ptr::null_mut();
        dl_raise(null, 0, 0, 0, 0, 0);
        assert_eq!(dl_has_error(null), 0);
        assert_eq!(dl_error_loc(null), -1);
        assert_eq!(CStr::from_ptr(dl_error_message(null)).to_bytes(), b"");
    }
}

#[test]
fn concurrent_raises_record_exactly_one_whole_error() {
    for _round in 0..50 {
        let state = ErrorState::new();
        std::thread::scope(|s| {
            for t in 0..8i64 {
                let state = &state;
                s.spawn(move || {
                    for j in 0..20 {
                        state.raise(kind::INDEX_OUT_OF_BOUNDS, t as i32, t * 100 + j, t, 0);
                    }
                });
            }
        });
        assert!(state.has_error());
        // The message and the location belong to the same raise.
        let t = state.loc() as i64;
        let text = state.message().unwrap();
        let i: i64 = text.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(i / 100, t, "{text} at {t}");
        assert_eq!(text, message(kind::INDEX_OUT_OF_BOUNDS, i, t, 0));
    }
}

#[test]
fn the_pool_reports_the_first_failed_chunk() {
    extern "C" fn kernel(_env: *const u8, chunk: i64, ctx: *mut DlCtx) {
        // Every chunk from the fifth on fails, the later ones sooner.
        if chunk >= 5 {
            let mut x = 0.0f64;
            for _ in 0..(64 - chunk) * 1000 {
                x = (x + 1.0).sqrt();
            }
            std::hint::black_box(x);
            // SAFETY: `ctx` is this chunk's context, live while it runs.
            unsafe { dl_raise(ctx, kind::SIZE_MISMATCH, chunk as i32, chunk, -chunk, 0) };
        }
    }
    let ctx = dl_ctx_new();
    // SAFETY: `ctx` is live until freed; the kernel ignores its environment.
    unsafe {
        dl_runtime::parallel::dl_parallel_chunks(ctx, Some(kernel), std::ptr::null(), 64);
        assert_eq!(dl_has_error(ctx), 1);
        assert_eq!(dl_error_loc(ctx), 5);
        let text = CStr::from_ptr(dl_error_message(ctx)).to_str().unwrap();
        assert_eq!(text, "size mismatch: expected 5, got -5");
        dl_ctx_free(ctx);
    }
}
