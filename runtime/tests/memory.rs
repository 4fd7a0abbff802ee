//! The context's memory: arena allocation, marks, reuse, result buffers.

use dl_runtime::arena::{Arena, ALIGN, FIRST_CHUNK};
use dl_runtime::context::*;

#[test]
fn every_size_is_aligned() {
    let mut arena = Arena::new();
    for bytes in 0..300 {
        let p = arena.alloc(bytes).unwrap().as_ptr() as usize;
        assert_eq!(p % ALIGN, 0, "{bytes} bytes");
    }
}

#[test]
fn allocations_can_be_written_whole() {
    let mut arena = Arena::new();
    let sizes = [1usize, 63, 64, 65, 1000, FIRST_CHUNK, 3 * FIRST_CHUNK + 5, 10];
    let blocks: Vec<(*mut u8, usize)> = sizes.iter().map(|&n| (arena.alloc(n).unwrap().as_ptr(), n)).collect();
    for (k, &(p, n)) in blocks.iter().enumerate() {
        // SAFETY: the arena gave `n` writable bytes at `p`.
        unsafe { std::ptr::write_bytes(p, k as u8, n) };
    }
    for (k, &(p, n)) in blocks.iter().enumerate() {
        // SAFETY: as above; nothing freed them.
        let bytes = unsafe { std::slice::from_raw_parts(p, n) };
        assert!(bytes.iter().all(|&b| b == k as u8), "block {k} was overwritten");
    }
}

#[test]
fn release_frees_back_to_the_mark_and_reuses_the_memory() {
    let mut arena = Arena::new();
    arena.alloc(100).unwrap();
    let mark = arena.mark();
    let first = arena.alloc(1000).unwrap();
    arena.alloc(50).unwrap();
    arena.release(mark);
    assert_eq!(arena.mark(), mark);
    assert_eq!(arena.alloc(1000).unwrap(), first);
}

#[test]
fn a_steady_state_asks_for_no_new_chunks() {
    let mut arena = Arena::new();
    let call = |arena: &mut Arena| {
        for n in [10, 5000, FIRST_CHUNK / 2, 3 * FIRST_CHUNK, 7, 100_000] {
            arena.alloc(n).unwrap();
        }
    };
    call(&mut arena);
    let (chunks, capacity) = (arena.chunk_count(), arena.capacity());
    for _ in 0..100 {
        arena.reset();
        call(&mut arena);
    }
    assert_eq!(arena.chunk_count(), chunks);
    assert_eq!(arena.capacity(), capacity);
    // And with marks in between.
    for _ in 0..100 {
        arena.reset();
        let m = arena.mark();
        call(&mut arena);
        arena.release(m);
        call(&mut arena);
    }
    assert_eq!(arena.chunk_count(), chunks);
}

#[test]
fn a_large_allocation_gets_a_chunk_of_its_own_and_is_reused() {
    let mut arena = Arena::new();
    arena.alloc(10).unwrap();
    let big = 20 * FIRST_CHUNK + 3;
    let p = arena.alloc(big).unwrap();
    assert_eq!(p.as_ptr() as usize % ALIGN, 0);
    let chunks = arena.chunk_count();
    arena.reset();
    arena.alloc(10).unwrap();
    assert_eq!(arena.alloc(big).unwrap(), p);
    assert_eq!(arena.chunk_count(), chunks);
}

#[test]
fn nested_marks() {
    let mut arena = Arena::new();
    let m0 = arena.mark();
    arena.alloc(FIRST_CHUNK - 64).unwrap();
    let m1 = arena.mark();
    let a = arena.alloc(FIRST_CHUNK).unwrap(); // a new chunk
    let m2 = arena.mark();
    let b = arena.alloc(64).unwrap();
    assert!(m0 <= m1 && m1 <= m2);
    arena.release(m2);
    assert_eq!(arena.alloc(64).unwrap(), b);
    arena.release(m1);
    assert_eq!(arena.alloc(FIRST_CHUNK).unwrap(), a);
    arena.release(m0);
    assert_eq!(arena.mark(), m0);
    // A mark from the future is ignored.
    arena.release(m2 + 1_000_000);
    assert_eq!(arena.mark(), m0);
}

#[test]
fn the_abi_functions() {
    let ctx = dl_ctx_new();
    assert!(!ctx.is_null());
    // SAFETY: `ctx` is live and used by this thread alone until freed.
    unsafe {
        let m = dl_arena_mark(ctx);
        let p = dl_alloc(ctx, 24);
        assert_eq!(p as usize % 64, 0);
        p.cast::<f64>().write(1.5);
        assert!(dl_alloc(ctx, -1).is_null());
        dl_arena_release(ctx, m);
        assert_eq!(dl_alloc(ctx, 24), p);
        dl_arena_reset(ctx);
        assert_eq!(dl_arena_mark(ctx), 0);
        dl_ctx_free(ctx);
        // Null contexts are harmless.
        assert!(dl_alloc(std::ptr::null_mut(), 8).is_null());
        dl_arena_reset(std::ptr::null_mut());
        dl_ctx_free(std::ptr::null_mut());
    }
}

#[test]
fn result_buffers() {
    for bytes in [0i64, 1, 8, 64, 1000, 1 << 20] {
        let p = dl_result_alloc(bytes);
        assert!(!p.is_null());
        assert_eq!(p as usize % 64, 0);
        // SAFETY: `p` holds `bytes` writable bytes until freed, once.
        unsafe {
            std::ptr::write_bytes(p, 0xab, bytes as usize);
            dl_result_free(p);
        }
    }
    assert!(dl_result_alloc(-5).is_null());
    // SAFETY: null is allowed.
    unsafe { dl_result_free(std::ptr::null_mut()) };
}
