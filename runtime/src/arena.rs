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

/// A bump allocator in chunks. Not thread-safe: one call uses it at a time.
pub struct Arena {
    chunks: Vec<Chunk>,
    /// The chunk the top is in (`chunks.len()` is never below it, and equals
    /// it only while there is no chunk at all).
    current: usize,
    /// The top's offset inside the current chunk.
    offset: usize,
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
            chunks: Vec::new(),
            current: 0,
            offset: 0,
        }
    }

    /// `bytes` of uninitialised memory aligned to [`ALIGN`], or `None` when
    /// the system has no memory for a new chunk or the size overflows.
    /// Zero bytes give a valid aligned pointer that must not be written.
    pub fn alloc(&mut self, bytes: usize) -> Option<NonNull<u8>> {
        let bytes = bytes.checked_add(ALIGN - 1)? & !(ALIGN - 1);
        // The current chunk, then chunks kept from earlier calls that fit.
        while self.current < self.chunks.len() {
            let chunk = &self.chunks[self.current];
            if chunk.size - self.offset >= bytes {
                // SAFETY: `offset + bytes <= size`, so the result stays inside
                // the chunk's allocation (or one past its end for 0 bytes).
                let p = unsafe { chunk.ptr.as_ptr().add(self.offset) };
                self.offset += bytes;
                return NonNull::new(p);
            }
            if self.current + 1 == self.chunks.len() {
                break;
            }
            self.current += 1;
            self.offset = 0;
        }
        self.grow(bytes)?;
        self.alloc(bytes)
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
        self.current = self.chunks.len() - 1;
        self.offset = 0;
        Some(())
    }

    /// The current top, for [`Arena::release`].
    pub fn mark(&self) -> i64 {
        match self.chunks.get(self.current) {
            // Fits: `grow` checked that every chunk end fits an i64.
            Some(c) => (c.start + self.offset) as i64,
            None => 0,
        }
    }

    /// Frees everything allocated since `mark` was taken. A mark above the
    /// current top, or negative, is ignored (it cannot come from a
    /// well-nested use).
    pub fn release(&mut self, mark: i64) {
        let Ok(position) = usize::try_from(mark) else {
            return;
        };
        if mark > self.mark() {
            return;
        }
        // The last chunk that starts at or before the position; a mark at a
        // chunk's very end is kept in that chunk, which is equivalent.
        let i = self.chunks.partition_point(|c| c.start <= position);
        if i == 0 {
            return;
        }
        self.current = i - 1;
        self.offset = position - self.chunks[i - 1].start;
    }

    /// Frees everything; the chunks stay for reuse.
    pub fn reset(&mut self) {
        self.current = 0;
        self.offset = 0;
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
