//! The heap of the decision: a bump allocator over anonymous mappings, released whole when the
//! constructor returns.
//!
//! Only processes that are runtime candidates allocate (the non-runtime path never does). The
//! first mapping is sized to a usual decision ([`FIRST_CHUNK`], less than a huge page, so that
//! a host with transparent huge pages always on never zeroes 2 MiB for it, and small enough
//! for a host that does not overcommit); a decision that needs more (a huge environment or
//! command line) gets further mappings, each twice the previous one, up to [`ARENA_BYTES`] in
//! all. Pages never touched cost nothing. Freeing is a no-op except that the newest block can
//! grow or shrink in place. Exhaustion returns null, which the allocator turns into a panic,
//! which `guard` turns into a fail-open return.

use crate::sys;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Size of the first mapping: a decision for a usual process needs a few hundred KiB at most.
const FIRST_CHUNK: usize = 1 << 20;
/// Most address space for one decision, across its mappings. Inputs are capped well below
/// this (the kernel caps argv plus environ at about 2 MiB here).
const ARENA_BYTES: usize = 64 << 20;
/// Most mappings: 1 + 2 + ... + 32 MiB is 63 MiB.
const MAX_CHUNKS: usize = 8;
/// Page size, the unit of mappings.
const PAGE: usize = 4096;

/// The allocator installed as `#[global_allocator]` in the library.
pub struct Arena {
    /// Start and end of each mapping made so far (0 for none).
    chunks: [(AtomicUsize, AtomicUsize); MAX_CHUNKS],
    /// How many mappings there are.
    count: AtomicUsize,
    /// Where the next block may start in the newest mapping.
    next: AtomicUsize,
    /// The newest block, which can be resized in place.
    last: AtomicUsize,
}

impl Arena {
    /// An arena with no memory mapped yet.
    pub const fn new() -> Self {
        Arena {
            chunks: [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; MAX_CHUNKS],
            count: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            last: AtomicUsize::new(0),
        }
    }

    /// Unmaps everything allocated so far. Every allocation must be dead by now.
    pub fn release(&self) {
        for (start, end) in &self.chunks[..self.count.swap(0, Relaxed)] {
            let (start, end) = (start.swap(0, Relaxed), end.swap(0, Relaxed));
            // SAFETY: the caller guarantees no allocation outlives this call.
            unsafe { sys::unmap(start as *mut u8, end - start) };
        }
        self.next.store(0, Relaxed);
        self.last.store(0, Relaxed);
    }

    /// End of the newest mapping (0 before the first).
    fn end(&self) -> usize {
        match self.count.load(Relaxed) {
            0 => 0,
            n => self.chunks[n - 1].1.load(Relaxed),
        }
    }

    /// Maps a new chunk with room for `size` bytes at `align`; `false` if the arena is spent.
    fn grow(&self, size: usize, align: usize) -> bool {
        let count = self.count.load(Relaxed);
        let mapped: usize = self.chunks[..count]
            .iter()
            .map(|(start, end)| end.load(Relaxed) - start.load(Relaxed))
            .sum();
        let Some(len) = size
            .checked_add(align + PAGE - 1)
            .map(|n| (n & !(PAGE - 1)).max(FIRST_CHUNK << count))
            .filter(|&len| count < MAX_CHUNKS && mapped + len <= ARENA_BYTES)
        else {
            return false;
        };
        let Ok(start) = sys::map_anonymous(len) else {
            return false;
        };
        let start = start as usize;
        self.chunks[count].0.store(start, Relaxed);
        self.chunks[count].1.store(start + len, Relaxed);
        self.count.store(count + 1, Relaxed);
        self.next.store(start, Relaxed);
        true
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks never overlap: `next` only moves forward within the newest mapping except
// when the newest block is resized in place. The library runs its constructor on one thread.
unsafe impl GlobalAlloc for Arena {
    /// The next block of the arena, aligned; null when the arena is full.
    ///
    /// # Safety
    /// As `GlobalAlloc::alloc` requires: `layout` has a non-zero size.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        let fits = |next: usize| {
            let start = next.checked_add(align - 1)? & !(align - 1);
            Some((
                start,
                start.checked_add(size).filter(|&end| end <= self.end())?,
            ))
        };
        let placed = match fits(self.next.load(Relaxed)) {
            Some(placed) if self.count.load(Relaxed) > 0 => Some(placed),
            _ if self.grow(size, align) => fits(self.next.load(Relaxed)),
            _ => None,
        };
        match placed {
            Some((start, end)) => {
                self.next.store(end, Relaxed);
                self.last.store(start, Relaxed);
                start as *mut u8
            }
            None => core::ptr::null_mut(),
        }
    }

    /// Nothing: the whole arena is unmapped at once when the constructor returns.
    ///
    /// # Safety
    /// As `GlobalAlloc::dealloc` requires.
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}

    /// Grows the newest block in place, else copies into a new block.
    ///
    /// # Safety
    /// As `GlobalAlloc::realloc` requires: `ptr` was allocated here with `layout`.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ptr as usize == self.last.load(Relaxed) {
            if let Some(end) = (ptr as usize).checked_add(new_size) {
                if end <= self.end() {
                    self.next.store(end, Relaxed);
                    return ptr;
                }
            }
        }
        let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
        if !new.is_null() {
            core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_block_grows_in_place_and_release_unmaps() {
        let arena = Arena::new();
        // SAFETY: layouts are valid; blocks are only used while the arena is alive.
        unsafe {
            let a = arena.alloc(Layout::from_size_align(10, 8).unwrap());
            assert!(!a.is_null() && (a as usize).is_multiple_of(8));
            a.write_bytes(7, 10);
            let grown = arena.realloc(a, Layout::from_size_align(10, 8).unwrap(), 1 << 19);
            assert_eq!(grown, a, "the newest block grows in place");
            let b = arena.alloc(Layout::from_size_align(4, 4).unwrap());
            assert!(b as usize >= a as usize + (1 << 19));
            let moved = arena.realloc(a, Layout::from_size_align(1 << 19, 8).unwrap(), 2 << 20);
            assert_ne!(moved, a);
            assert_eq!(*moved.add(9), 7, "contents are copied");
        }
        assert_eq!(
            arena.count.load(Relaxed),
            2,
            "a second mapping for the large block"
        );
        arena.release();
        assert_eq!(arena.count.load(Relaxed), 0);
        assert_eq!(arena.chunks[0].0.load(Relaxed), 0);
    }

    #[test]
    fn a_usual_decision_takes_one_mapping_smaller_than_a_huge_page() {
        let arena = Arena::new();
        // SAFETY: valid layouts; the blocks are not used.
        unsafe {
            for _ in 0..100 {
                assert!(!arena
                    .alloc(Layout::from_size_align(4000, 8).unwrap())
                    .is_null());
            }
        }
        assert_eq!(arena.count.load(Relaxed), 1);
        let (start, end) = &arena.chunks[0];
        assert!(end.load(Relaxed) - start.load(Relaxed) < 2 << 20);
        arena.release();
    }

    #[test]
    fn exhaustion_returns_null_and_the_arena_stays_usable() {
        let arena = Arena::new();
        // SAFETY: valid layouts; the blocks are not used.
        unsafe {
            let too_big = arena.alloc(Layout::from_size_align(ARENA_BYTES + 1, 1).unwrap());
            assert!(too_big.is_null());
            let most = arena.alloc(Layout::from_size_align(ARENA_BYTES - PAGE, 1).unwrap());
            assert!(!most.is_null(), "one block of almost all of it");
            let more = arena.alloc(Layout::from_size_align(2 * PAGE, 1).unwrap());
            assert!(more.is_null(), "the total is capped");
            let huge = arena.alloc(Layout::from_size_align(isize::MAX as usize - 8, 8).unwrap());
            assert!(huge.is_null());
        }
        arena.release();
    }
}
