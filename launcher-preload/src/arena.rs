//! The heap of the decision: a bump allocator, released when the constructor returns.
//!
//! Only processes that are runtime candidates allocate (the non-runtime path never does). A
//! usual decision (a few pages) fits the library's reserve ([`RESERVE`]): pages of zeros in its own
//! writable segment (start.ld), already mapped, so it costs no system call. The reserve is
//! taken once per process and never given back: the pages a decision wrote (16 KiB for
//! `python3` with a shell's environment, at most 64 KiB) stay with the process, which costs
//! less than the `madvise` that would return them (5–9 µs per start, measured) and lets the
//! environment the library builds live there ([`Arena::keep`]). A decision that needs more (a
//! huge environment or command line) gets anonymous mappings, the first [`FIRST_CHUNK`] (less
//! than a huge page, so that a host with transparent huge pages always on never zeroes 2 MiB
//! for it, and small enough for a host that does not overcommit), each further one twice the
//! previous one, up to [`ARENA_BYTES`] in all, unmapped at the end. Pages never touched cost
//! nothing. Freeing is a no-op except that the newest block can grow or shrink in place.
//! Exhaustion returns null, which the allocator turns into a panic, which `guard` turns into a
//! fail-open return.

use crate::sys;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// Size of the reserve: a usual decision touches 16 KiB of it (`python3` with a shell's
/// environment).
const RESERVE_BYTES: usize = 64 << 10;
/// Size of the first mapping, for a decision the reserve cannot hold.
const FIRST_CHUNK: usize = 1 << 20;
/// Most address space for one decision, across its mappings. Inputs are capped well below
/// this (the kernel caps argv plus environ at about 2 MiB here).
const ARENA_BYTES: usize = 64 << 20;
/// Most chunks: the reserve, then mappings of 1 + 2 + ... + 32 MiB (63 MiB).
const MAX_CHUNKS: usize = 8;
/// Page size, the unit of mappings.
const PAGE: usize = 4096;

/// The reserve's pages.
#[repr(C, align(4096))]
struct Reserve(UnsafeCell<[u8; RESERVE_BYTES]>);

// SAFETY: only the arena made by `Arena::with_reserve` hands out its bytes, and there is one.
unsafe impl Sync for Reserve {}

/// The reserve: at the end of the library's writable segment (start.ld), apart from the page
/// the loader relocates, so that a process that never allocates never touches it; in the file
/// as zeros, so that the loader has nothing to zero. Reached by address, not through a pointer
/// kept in the arena (which the loader would relocate in every process).
#[link_section = ".data.apm_arena"]
static RESERVE: Reserve = Reserve(UnsafeCell::new([0; RESERVE_BYTES]));

/// The reserve's first byte's address.
fn reserve_start() -> usize {
    RESERVE.0.get() as usize
}

/// The allocator installed as `#[global_allocator]` in the library.
pub struct Arena {
    /// Whether the reserve is still to be taken (by the first chunk); once taken, it is never
    /// handed out again.
    reserve_left: AtomicBool,
    /// Start and end of each chunk (the reserve or a mapping) taken so far (0 for none).
    chunks: [(AtomicUsize, AtomicUsize); MAX_CHUNKS],
    /// How many chunks there are.
    count: AtomicUsize,
    /// Where the next block may start in the newest mapping.
    next: AtomicUsize,
    /// The newest block, which can be resized in place.
    last: AtomicUsize,
}

impl Arena {
    /// An arena with no memory yet, which maps all it needs.
    pub const fn new() -> Self {
        Self::with(false)
    }

    /// An arena that takes the library's reserve before it maps anything: there must be one
    /// such arena, ever (the library's allocator; or one test).
    pub const fn with_reserve() -> Self {
        Self::with(true)
    }

    const fn with(reserve: bool) -> Self {
        Arena {
            reserve_left: AtomicBool::new(reserve),
            chunks: [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; MAX_CHUNKS],
            count: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            last: AtomicUsize::new(0),
        }
    }

    /// Gives back everything allocated so far except what [`Arena::keep`] gave: mappings are
    /// unmapped, the reserve is left as it is (see the module's documentation). Every other
    /// allocation must be dead by now.
    pub fn release(&self) {
        let count = self.count.swap(0, Relaxed);
        for (start, end) in &self.chunks[..count] {
            let (start, end) = (start.swap(0, Relaxed), end.swap(0, Relaxed));
            if start != reserve_start() {
                // SAFETY: the caller guarantees no allocation outlives this call.
                unsafe { sys::unmap(start as *mut u8, end - start) };
            }
        }
        self.next.store(0, Relaxed);
        self.last.store(0, Relaxed);
    }

    /// A block for `layout` that outlives [`Arena::release`], for the rest of the process (the
    /// environment the library gives the program): from the reserve while it is the newest
    /// chunk, else a mapping of its own, never unmapped. Null if neither can be had.
    pub fn keep(&self, layout: Layout) -> *mut u8 {
        let count = self.count.load(Relaxed);
        if count == 1 && self.chunks[0].0.load(Relaxed) == reserve_start() {
            if let Some((start, end)) = self.fits(self.next.load(Relaxed), layout) {
                self.next.store(end, Relaxed);
                // The block before it must not grow in place over it.
                self.last.store(0, Relaxed);
                return start as *mut u8;
            }
        }
        let len = layout.size().saturating_add(PAGE - 1) & !(PAGE - 1);
        sys::map_anonymous(len).unwrap_or(core::ptr::null_mut())
    }

    /// End of the newest chunk (0 before the first).
    fn end(&self) -> usize {
        match self.count.load(Relaxed) {
            0 => 0,
            n => self.chunks[n - 1].1.load(Relaxed),
        }
    }

    /// Where a block for `layout` placed at or after `next` would start and end within the
    /// newest chunk, if it fits.
    fn fits(&self, next: usize, layout: Layout) -> Option<(usize, usize)> {
        let align = layout.align();
        let start = next.checked_add(align - 1)? & !(align - 1);
        Some((
            start,
            start
                .checked_add(layout.size())
                .filter(|&end| end <= self.end())?,
        ))
    }

    /// Takes a new chunk with room for `size` bytes at `align` (the reserve if it is still to
    /// be taken and fits, else a mapping); `false` if the arena is spent.
    fn grow(&self, size: usize, align: usize) -> bool {
        let count = self.count.load(Relaxed);
        let first = self.reserve_left.load(Relaxed)
            && count == 0
            && size.saturating_add(align) <= RESERVE_BYTES;
        let (start, len) = if first {
            self.reserve_left.store(false, Relaxed);
            (reserve_start(), RESERVE_BYTES)
        } else {
            match self.map(count, size, align) {
                Some(mapping) => mapping,
                None => return false,
            }
        };
        self.chunks[count].0.store(start, Relaxed);
        self.chunks[count].1.store(start + len, Relaxed);
        self.count.store(count + 1, Relaxed);
        self.next.store(start, Relaxed);
        true
    }

    /// A new mapping, chunk number `count`, with room for `size` bytes at `align`: (start,
    /// length), or `None` if the arena is spent.
    fn map(&self, count: usize, size: usize, align: usize) -> Option<(usize, usize)> {
        let (mapped, mappings) = self.chunks[..count]
            .iter()
            .map(|(start, end)| (start.load(Relaxed), end.load(Relaxed)))
            .filter(|&(start, _)| start != reserve_start())
            .fold((0, 0), |(bytes, n), (start, end)| {
                (bytes + end - start, n + 1)
            });
        let len = size
            .checked_add(align + PAGE - 1)
            .map(|n| (n & !(PAGE - 1)).max(FIRST_CHUNK << mappings))
            .filter(|&len| count < MAX_CHUNKS && mapped + len <= ARENA_BYTES)?;
        let start = sys::map_anonymous(len).ok()?;
        Some((start as usize, len))
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
        let placed = match self.fits(self.next.load(Relaxed), layout) {
            Some(placed) if self.count.load(Relaxed) > 0 => Some(placed),
            _ if self.grow(layout.size(), layout.align()) => {
                self.fits(self.next.load(Relaxed), layout)
            }
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

    /// Nothing: the whole arena is released at once when the constructor returns.
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

    /// The one test of the reserve (there is one reserve, taken once per process).
    #[test]
    fn the_reserve_comes_first_once_and_kept_blocks_outlive_release() {
        let arena = Arena::with_reserve();
        let inside =
            |p: *mut u8| (reserve_start()..reserve_start() + RESERVE_BYTES).contains(&(p as usize));
        let layout = |size| Layout::from_size_align(size, 8).unwrap();
        // SAFETY: valid layouts; arena blocks are used only before `release`, kept ones after.
        unsafe {
            let a = arena.alloc(layout(5000));
            assert!(inside(a), "a usual block comes from the reserve");
            a.write_bytes(0xa5, 5000);
            let kept = arena.keep(layout(100));
            assert!(
                inside(kept),
                "kept from the reserve while it is the newest chunk"
            );
            assert!(kept as usize >= a as usize + 5000, "after what is in use");
            kept.write_bytes(0x5a, 100);
            let moved = arena.realloc(a, layout(5000), 6000);
            assert!(
                moved as usize >= kept as usize + 100,
                "the block before moves, not over it"
            );
            assert_eq!(*kept, 0x5a);
            assert_eq!(arena.count.load(Relaxed), 1, "nothing mapped");
            let big = arena.alloc(layout(RESERVE_BYTES));
            assert!(
                !big.is_null() && !inside(big),
                "a block too big for it is mapped"
            );
            let b = arena.alloc(layout(16));
            assert!(!b.is_null() && !inside(b), "the reserve is left for good");
            let kept_mapped = arena.keep(layout(3 * PAGE));
            assert!(
                !kept_mapped.is_null() && !inside(kept_mapped),
                "a mapping of its own"
            );
            kept_mapped.write_bytes(0x3c, 3 * PAGE);
            arena.release();
            assert_eq!(arena.count.load(Relaxed), 0);
            assert!(
                (0..100).all(|i| *kept.add(i) == 0x5a),
                "kept in the reserve"
            );
            assert!(
                (0..3 * PAGE).all(|i| *kept_mapped.add(i) == 0x3c),
                "kept mapped"
            );
            assert_eq!(*moved, 0xa5, "the reserve is not given back");
            let again = arena.alloc(layout(16));
            assert!(!again.is_null() && !inside(again), "nor handed out again");
            arena.release();
            sys::unmap(kept_mapped, 3 * PAGE);
        }
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
