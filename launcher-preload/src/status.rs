//! The decision record `apm-inject status` reads: one page of text in a shared memory file
//! named `apm-inject-status`, mapped into the process.
//!
//! Nothing is written on disk, and non-runtime processes never get one. The CLI finds the
//! mapping in `/proc/<pid>/maps` (`/memfd:apm-inject-status (deleted)`) and reads it through
//! `/proc/<pid>/mem`. Children inherit it across `fork` (they are instrumented alike) and lose
//! it on `exec`, where the library decides again. Format (one `key=value` per line, values
//! without newlines, cut to fit the page):
//! ```text
//! apm-inject-status 1
//! exe=/usr/bin/python3.11
//! runtime=python
//! outcome=injected
//! reason=
//! set=PYTHONPATH=/opt/datadog-packages/datadog-apm-library-python/stable
//! unset=JAVA_TOOL_OPTIONS
//! ```
//!
//! The page's last 1,024 bytes are not the library's: the tracer's entry point (the
//! Python package's `sitecustomize.py`, the Node.js package's bootstrap) writes its own outcome
//! there once it knows it, through `/proc/self/mem` at the mapping's address plus
//! [`TRACER_OFFSET`], in the same `key=value` text:
//! ```text
//! apm-inject-tracer 1
//! outcome=abort
//! reason=incompatible_runtime
//! tracer_version=4.16.0
//! ```
//! The library never writes there (a fresh memfd reads as zeros), so the two never race.

use crate::sys::{self, CPath};
use alloc::vec::Vec;
use analyzer::{Decision, Edit};

/// The memory file's name.
const NAME: &[u8] = b"apm-inject-status\0";
/// The record's size: one page.
const SIZE: usize = 4096;
/// Where the tracer's area starts (it runs to the end of the page); the library's text ends
/// before it.
const TRACER_OFFSET: usize = 3072;

/// Maps the record of `decision` for `exe` (best effort: a failure leaves no trace).
pub fn record(exe: &[u8], decision: &Decision) {
    let mut text = Vec::with_capacity(TRACER_OFFSET);
    text.extend_from_slice(b"apm-inject-status 1\n");
    line(&mut text, b"exe", &[exe]);
    line(
        &mut text,
        b"runtime",
        &[decision.runtime.map_or("", |r| r.name()).as_bytes()],
    );
    line(&mut text, b"outcome", &[decision.outcome.kind().as_bytes()]);
    line(
        &mut text,
        b"reason",
        &[decision.outcome.reason().map_or("", |r| r.id()).as_bytes()],
    );
    for edit in &decision.edits {
        match edit {
            Edit::Set { name, value } => line(&mut text, b"set", &[name.as_bytes(), b"=", value]),
            Edit::Unset { name } => line(&mut text, b"unset", &[name.as_bytes()]),
        }
    }
    if let Ok(page) = sys::map_named(CPath(NAME), SIZE) {
        let len = text.len().min(TRACER_OFFSET);
        page[..len].copy_from_slice(&text[..len]);
    }
}

/// Appends `key=parts...\n` unless it would not fit before the tracer's area.
fn line(text: &mut Vec<u8>, key: &[u8], parts: &[&[u8]]) {
    let len = key.len() + 2 + parts.iter().map(|p| p.len()).sum::<usize>();
    if text.len() + len > TRACER_OFFSET {
        return;
    }
    text.extend_from_slice(key);
    text.push(b'=');
    for part in parts {
        text.extend(part.iter().map(|&c| if c == b'\n' { b' ' } else { c }));
    }
    text.push(b'\n');
}
