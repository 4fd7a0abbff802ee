//! The arena: a bump allocator for the temporaries of one call.
//!
//! Memory comes in chunks that the arena keeps for its whole life: a
//! release or a reset only moves the top back, so a program that calls an
//! entry point in a loop stops asking the system allocator for memory after
//! its first calls. Every allocation is 64-byte aligned (a cache line, and
//! enough for any vector load).
//!
//! The top is a *position*: chunk `i` covers the positions
//! `start[i] .. start[i] + size[i]`, and chunks only ever get appended, so
//! positions grow with the chunk index and a mark taken earlier is never
//! above a mark taken later. A mark is that position as an `i64`.

use std::alloc::{alloc, dealloc, Layout};
use std::ptr::NonNull;

/// The alignment of every arena allocation, in bytes.
pub const ALIGN: usize = 64;

/// The size of the first chunk; each new chunk doubles the last one up to
/// [`MAX_CHUNK`], and is at least as large as the request that needed it.
pub const FIRST_CHUNK: usize = 64 * 1024;

/// The largest chunk size the doubling reaches (a larger request gets a
/// chunk of its own size).
pub const MAX_CHUNK: usize = 64 * 1024 * 1024;

struct Chunk {
    ptr: NonNull<u8>,
    size: usize,
    /// The position of the chunk's first byte.
    start: usize,
}

impl Chunk {
    fn layout(size: usize) -> Option<Layout> {
        Layout::from_size_align(size, ALIGN).ok()
    }
}

/// The part of the arena that generated code reads and writes itself, the
/// fast paths of `dl_alloc`, `dl_arena_mark` and `dl_arena_release`
/// (docs/runtime-abi.md): the current chunk's bounds and the top inside it.
/// The runtime's own functions are the slow paths and keep it up to date.
#[repr(C)]
pub struct Top {
    /// The next free byte, [`ALIGN`]-aligned.
    pub top: *mut u8,
    /// One past the current chunk's last byte.
    pub end: *mut u8,
    /// The current chunk's first byte.
    pub base: *mut u8,
    /// The position of `base`.
    pub start: usize,
}

/// A bump allocator in chunks. Not thread-safe: one call uses it at a time.
#[repr(C)]
pub struct Arena {
    /// First, at a fixed offset that generated code knows.
    pub(crate) fast: Top,
    chunks: Vec<Chunk>,
    /// The chunk `fast` describes (meaningless while there is no chunk).
    current: usize,
}

/// A dangling, [`ALIGN`]-aligned address: the top of an arena without
/// chunks, so that zero bytes get an aligned pointer and anything more
/// takes the slow path.
fn dangling() -> *mut u8 {
    #[repr(align(64))]
    struct Aligned;
    const _: () = assert!(std::mem::align_of::<Aligned>() == ALIGN);
    NonNull::<Aligned>::dangling().as_ptr().cast()
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

impl Arena {
    /// An empty arena; it asks for its first chunk on the first allocation.
    pub fn new() -> Self {
        Arena {
            fast: Top {
                top: dangling(),
                end: dangling(),
                base: dangling(),
                start: 0,
            },
            chunks: Vec::new(),
            current: 0,
        }
    }

    /// `bytes` of uninitialised memory aligned to [`ALIGN`], or `None` when
    /// the system has no memory for a new chunk or the size overflows.
    /// Zero bytes give a valid aligned pointer that must not be written.
    pub fn alloc(&mut self, bytes: usize) -> Option<NonNull<u8>> {
        let bytes = bytes.checked_add(ALIGN - 1)? & !(ALIGN - 1);
        // The current chunk, then chunks kept from earlier calls that fit.
        loop {
            let available = self.fast.end as usize - self.fast.top as usize;
            if bytes <= available {
                let p = self.fast.top;
                // SAFETY: `top + bytes <= end`, so the result stays inside
                // the current chunk (or one past its end for 0 bytes).
                self.fast.top = unsafe { p.add(bytes) };
                return NonNull::new(p);
            }
            if self.current + 1 >= self.chunks.len() {
                break;
            }
            self.enter(self.current + 1, 0);
        }
        self.grow(bytes)?;
        self.alloc(bytes)
    }

    /// The fast path of [`Arena::alloc`]: `bytes` from the current chunk
    /// when they fit, with no chunk to change.
    #[inline]
    pub fn bump(&mut self, bytes: usize) -> Option<NonNull<u8>> {
        let available = self.fast.end as usize - self.fast.top as usize;
        if bytes > available {
            return None;
        }
        let rounded = (bytes + ALIGN - 1) & !(ALIGN - 1);
        if rounded > available {
            return None;
        }
        let p = self.fast.top;
        // SAFETY: `top + rounded <= end`, inside the current chunk.
        self.fast.top = unsafe { p.add(rounded) };
        NonNull::new(p)
    }

    /// Makes chunk `i` the current one, with the top `offset` bytes in.
    fn enter(&mut self, i: usize, offset: usize) {
        let chunk = &self.chunks[i];
        let base = chunk.ptr.as_ptr();
        // SAFETY: `offset <= size` (callers), and `size` bytes from `base`
        // are the chunk's allocation, so both stay inside it or at its end.
        let (top, end) = unsafe { (base.add(offset), base.add(chunk.size)) };
        self.fast = Top {
            top,
            end,
            base,
            start: chunk.start,
        };
        self.current = i;
    }

    /// Appends a chunk of at least `bytes` and moves the top to its start.
    fn grow(&mut self, bytes: usize) -> Option<()> {
        let (start, last) = match self.chunks.last() {
            Some(c) => (c.start.checked_add(c.size)?, c.size),
            None => (0, 0),
        };
        let size = (last * 2).clamp(FIRST_CHUNK, MAX_CHUNK).max(bytes);
        // Positions are handed out as `i64` marks.
        i64::try_from(start.checked_add(size)?).ok()?;
        let layout = Chunk::layout(size)?;
        // SAFETY: `size >= FIRST_CHUNK > 0`, so the layout is not zero-sized.
        let ptr = NonNull::new(unsafe { alloc(layout) })?;
        self.chunks.push(Chunk { ptr, size, start });
        self.enter(self.chunks.len() - 1, 0);
        Some(())
    }

    /// The current top, for [`Arena::release`].
    pub fn mark(&self) -> i64 {
        // Fits: `grow` checked that every chunk end fits an i64.
        (self.fast.start + (self.fast.top as usize - self.fast.base as usize)) as i64
    }

    /// Frees everything allocated since `mark` was taken. A mark above the
    /// current top, or negative, is ignored (it cannot come from a
    /// well-nested use).
    pub fn release(&mut self, mark: i64) {
        let Ok(position) = usize::try_from(mark) else {
            return;
        };
        // Within the current chunk (the usual case): move the top back.
        let offset = position.wrapping_sub(self.fast.start);
        if offset <= self.fast.top as usize - self.fast.base as usize {
            // SAFETY: `base + offset <= top`, inside the current chunk.
            self.fast.top = unsafe { self.fast.base.add(offset) };
            return;
        }
        if mark > self.mark() {
            return;
        }
        // The last chunk that starts at or before the position; a mark at a
        // chunk's very end is kept in that chunk, which is equivalent.
        let i = self.chunks.partition_point(|c| c.start <= position);
        if i == 0 {
            return;
        }
        let offset = position - self.chunks[i - 1].start;
        self.enter(i - 1, offset);
    }

    /// Frees everything; the chunks stay for reuse.
    pub fn reset(&mut self) {
        if !self.chunks.is_empty() {
            self.enter(0, 0);
        }
    }

    /// The number of chunks held (for tests and statistics).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The bytes held in chunks.
    pub fn capacity(&self) -> usize {
        self.chunks.iter().map(|c| c.size).sum()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for chunk in &self.chunks {
            if let Some(layout) = Chunk::layout(chunk.size) {
                // SAFETY: the chunk was allocated by `grow` with this very
                // layout and is freed once, here.
                unsafe { dealloc(chunk.ptr.as_ptr(), layout) };
            }
        }
    }
}

// SAFETY: the arena owns its chunks outright; moving it to another thread
// moves that ownership (it is not shared, so it is not `Sync`).
unsafe impl Send for Arena {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_aligned_and_disjoint() {
        let mut arena = Arena::new();
        let mut last_end = 0usize;
        for bytes in [1, 7, 64, 65, 100, 0, 3] {
            let p = arena.alloc(bytes).unwrap().as_ptr() as usize;
            assert_eq!(p % ALIGN, 0);
            assert!(p >= last_end);
            last_end = p + bytes;
        }
    }

    #[test]
    fn release_of_a_mark_in_an_earlier_chunk() {
        let mut arena = Arena::new();
        arena.alloc(100).unwrap();
        let mark = arena.mark();
        let first = arena.alloc(10).unwrap();
        for _ in 0..4 {
            arena.alloc(FIRST_CHUNK).unwrap();
        }
        assert!(arena.chunk_count() > 1);
        arena.release(mark);
        assert_eq!(arena.mark(), mark);
        assert_eq!(arena.alloc(10).unwrap(), first);
    }
}
