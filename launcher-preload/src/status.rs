//! The decision record `apm-inject status` reads (format: `contract::status`): one page of a
//! shared memory file mapped into the process, its descriptor closed at once.
//!
//! Nothing is written on disk, and non-runtime processes never get one. Children inherit it
//! across `fork` (they are instrumented alike) and lose it on `exec`, where the library decides
//! again.

use crate::sys::{self, CPath};
use analyzer::Decision;
use contract::status;

/// Maps the record of `decision` for `exe` (best effort: a failure leaves no trace).
pub fn record(exe: &[u8], decision: &Decision) {
    let text = status::encode(exe, decision);
    if let Ok(page) = sys::map_named(CPath(status::NAME.to_bytes_with_nul()), status::SIZE) {
        let len = text.len().min(page.len());
        page[..len].copy_from_slice(&text[..len]);
    }
}
