//! The decision record `apm-inject status` reads (format and how readers find it:
//! `contract::status`): the first page of the library's own writable segment, which start.ld
//! places there, page-aligned, as zeros in the file.
//!
//! Writing it costs no system call: the page is already mapped, and its first write copies it
//! (one page fault). A process the library rules out never writes it, so it stays the file's
//! zeros, shared with every other process. Nothing is written on disk. Children inherit a copy
//! across `fork` (they are instrumented alike) and lose it on `exec`, where the library decides
//! again.

use analyzer::Decision;
use contract::status;
use core::cell::UnsafeCell;

/// The record's page.
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; status::SIZE]>);

// SAFETY: only the constructor writes the page, on the one thread that runs it, before the
// program's own code runs; the tracer writes only its own area, later, through `/proc/self/mem`.
unsafe impl Sync for Page {}

/// The page itself, first in the writable segment (start.ld). In `.data`, not `.bss`: the
/// loader would zero a `.bss` page in every process. `#[used]`: nothing in the library reads
/// it, and it must not be optimised away.
#[used]
#[link_section = ".data.apm_status"]
static RECORD: Page = Page(UnsafeCell::new([0; status::SIZE]));

/// Writes the record of `decision` for `exe` (its launcher part, at most
/// `status::TRACER_OFFSET` bytes; the tracer's area is left as it is).
pub fn record(exe: &[u8], decision: &Decision) {
    let text = status::encode(exe, decision);
    let len = text.len().min(status::TRACER_OFFSET);
    // SAFETY: the page is `status::SIZE` bytes and `len` is within it; see `Sync` above for
    // why nothing else accesses it meanwhile.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), RECORD.0.get().cast::<u8>(), len) };
}
