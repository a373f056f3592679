//! The heap of the decision: a bump allocator, released whole when the constructor returns.
//!
//! Only processes that are runtime candidates allocate (the non-runtime path never does). A
//! usual decision (a few pages) fits the library's reserve ([`RESERVE`]): pages of zeros in its own
//! writable segment (start.ld), already mapped, so it costs no system call to get, and one
//! (`madvise(MADV_DONTNEED)`) to give back, after which they are the file's zeros again. A
//! decision that needs more (a huge environment or command line) gets anonymous mappings, the
//! first [`FIRST_CHUNK`] (less than a huge page, so that a host with transparent huge pages
//! always on never zeroes 2 MiB for it, and small enough for a host that does not overcommit),
//! each further one twice the previous one, up to [`ARENA_BYTES`] in all, unmapped at the end.
//! Pages never touched cost nothing. Freeing is a no-op except that the newest block can grow
//! or shrink in place. Exhaustion returns null, which the allocator turns into a panic, which
//! `guard` turns into a fail-open return.

use crate::sys;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

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
    /// Whether it takes the reserve before mapping anything.
    reserved: bool,
    /// Start and end of each chunk (the reserve or a mapping) taken so far (0 for none); for a
    /// reserve left behind, the end of its use.
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

    const fn with(reserved: bool) -> Self {
        Arena {
            reserved,
            chunks: [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; MAX_CHUNKS],
            count: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            last: AtomicUsize::new(0),
        }
    }

    /// Gives back everything allocated so far: the reserve's pages that were used are
    /// discarded (zeros again, and usable again), mappings unmapped. Every allocation must be
    /// dead by now.
    pub fn release(&self) {
        let count = self.count.load(Relaxed);
        self.leave_reserve(count);
        self.count.store(0, Relaxed);
        for (start, end) in &self.chunks[..count] {
            let (start, end) = (start.swap(0, Relaxed), end.swap(0, Relaxed));
            // SAFETY: the caller guarantees no allocation outlives this call.
            unsafe {
                if self.is_reserve(start) {
                    let used = (end - start + PAGE - 1) & !(PAGE - 1);
                    sys::discard(start as *mut u8, used);
                } else {
                    sys::unmap(start as *mut u8, end - start);
                }
            }
        }
        self.next.store(0, Relaxed);
        self.last.store(0, Relaxed);
    }

    /// If the newest of the `count` chunks is the reserve, which is being left for good (for a
    /// mapping, or at `release`), records its end as where its use stopped: `release` gives
    /// back only the pages used.
    fn leave_reserve(&self, count: usize) {
        let Some(newest) = count.checked_sub(1) else {
            return;
        };
        let (start, end) = &self.chunks[newest];
        if self.is_reserve(start.load(Relaxed)) {
            end.store(self.next.load(Relaxed), Relaxed);
        }
    }

    /// Whether the chunk starting at `start` is the reserve.
    fn is_reserve(&self, start: usize) -> bool {
        self.reserved && start == reserve_start()
    }

    /// End of the newest chunk (0 before the first).
    fn end(&self) -> usize {
        match self.count.load(Relaxed) {
            0 => 0,
            n => self.chunks[n - 1].1.load(Relaxed),
        }
    }

    /// Takes a new chunk with room for `size` bytes at `align` (the reserve if it is the first
    /// and fits, else a mapping); `false` if the arena is spent.
    fn grow(&self, size: usize, align: usize) -> bool {
        let count = self.count.load(Relaxed);
        let first = self.reserved && count == 0 && size.saturating_add(align) <= RESERVE_BYTES;
        let (start, len) = if first {
            (reserve_start(), RESERVE_BYTES)
        } else {
            match self.map(count, size, align) {
                Some(mapping) => mapping,
                None => return false,
            }
        };
        self.leave_reserve(count);
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
            .filter(|&(start, _)| !self.is_reserve(start))
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
    fn the_reserve_comes_first_and_is_given_back_as_zeros() {
        let arena = Arena::with_reserve();
        let inside =
            |p: *mut u8| (reserve_start()..reserve_start() + RESERVE_BYTES).contains(&(p as usize));
        for _ in 0..2 {
            // SAFETY: valid layouts; the blocks are used only before `release`.
            unsafe {
                let a = arena.alloc(Layout::from_size_align(5000, 8).unwrap());
                assert!(inside(a), "a usual block comes from the reserve");
                a.write_bytes(0xa5, 5000);
                assert_eq!(arena.count.load(Relaxed), 1, "nothing mapped");
                let big = arena.alloc(Layout::from_size_align(RESERVE_BYTES, 8).unwrap());
                assert!(
                    !big.is_null() && !inside(big),
                    "a block too big for it is mapped"
                );
                let b = arena.alloc(Layout::from_size_align(16, 8).unwrap());
                assert!(!inside(b), "the reserve is left for good");
                assert_eq!(arena.chunks[0].1.load(Relaxed), a as usize + 5000);
            }
            arena.release();
            // SAFETY: the reserve is ours and nothing of it is in use.
            let bytes = unsafe { &*RESERVE.0.get() };
            assert!(bytes.iter().all(|&b| b == 0), "discarded: zeros again");
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
