//! The heap of the decision: a bump allocator over one anonymous mapping, released whole when
//! the constructor returns.
//!
//! Only processes that are runtime candidates allocate (the non-runtime path never does). The
//! mapping is reserved lazily and committed page by page by the kernel; freeing is a no-op
//! except that the newest block can grow or shrink in place. Exhaustion returns null, which
//! the allocator turns into a panic, which `guard` turns into a fail-open return.

use crate::sys;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Address space reserved for one decision. Inputs are capped well below this (the kernel caps
/// argv plus environ at about 2 MiB here); pages never touched cost nothing.
const ARENA_BYTES: usize = 64 << 20;

/// The allocator installed as `#[global_allocator]` in the library.
pub struct Arena {
    base: AtomicUsize,
    next: AtomicUsize,
    last: AtomicUsize,
}

impl Arena {
    /// An arena with no memory mapped yet.
    pub const fn new() -> Self {
        Arena {
            base: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            last: AtomicUsize::new(0),
        }
    }

    /// Unmaps everything allocated so far. Every allocation must be dead by now.
    pub fn release(&self) {
        let base = self.base.swap(0, Relaxed);
        if base != 0 {
            // SAFETY: the caller guarantees no allocation outlives this call.
            unsafe { sys::unmap(base as *mut u8, ARENA_BYTES) };
        }
        self.next.store(0, Relaxed);
        self.last.store(0, Relaxed);
    }

    fn ensure_mapped(&self) -> Option<usize> {
        let base = self.base.load(Relaxed);
        if base != 0 {
            return Some(base);
        }
        let base = sys::map_anonymous(ARENA_BYTES).ok()? as usize;
        self.base.store(base, Relaxed);
        self.next.store(base, Relaxed);
        Some(base)
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks never overlap: `next` only moves forward except when the newest block is
// resized in place. The library runs its constructor on a single thread.
unsafe impl GlobalAlloc for Arena {
    /// The next block of the arena, aligned; null when the arena is full.
    ///
    /// # Safety
    /// As `GlobalAlloc::alloc` requires: `layout` has a non-zero size.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(base) = self.ensure_mapped() else {
            return core::ptr::null_mut();
        };
        let start = (self.next.load(Relaxed) + layout.align() - 1) & !(layout.align() - 1);
        match start.checked_add(layout.size()) {
            Some(end) if end <= base + ARENA_BYTES => {
                self.next.store(end, Relaxed);
                self.last.store(start, Relaxed);
                start as *mut u8
            }
            _ => core::ptr::null_mut(),
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
        let base = self.base.load(Relaxed);
        if ptr as usize == self.last.load(Relaxed) {
            if let Some(end) = (ptr as usize).checked_add(new_size) {
                if end <= base + ARENA_BYTES {
                    self.next.store(end, Relaxed);
                    return ptr;
                }
            }
            return core::ptr::null_mut();
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
            let grown = arena.realloc(a, Layout::from_size_align(10, 8).unwrap(), 1 << 20);
            assert_eq!(grown, a, "the newest block grows in place");
            let b = arena.alloc(Layout::from_size_align(4, 4).unwrap());
            assert!(b as usize >= a as usize + (1 << 20));
            let moved = arena.realloc(a, Layout::from_size_align(1 << 20, 8).unwrap(), 2 << 20);
            assert_ne!(moved, a);
            assert_eq!(*moved.add(9), 7, "contents are copied");
        }
        arena.release();
        assert_eq!(arena.base.load(Relaxed), 0);
    }

    #[test]
    fn exhaustion_returns_null() {
        let arena = Arena::new();
        // SAFETY: a valid layout; the result is only compared with null.
        let too_big = unsafe { arena.alloc(Layout::from_size_align(ARENA_BYTES + 1, 1).unwrap()) };
        assert!(too_big.is_null());
        arena.release();
    }
}
