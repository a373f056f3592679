//! The decision record: what the library decided for a process, kept in that process for
//! `apm-inject status`.
//!
//! The library writes it into the first page of its own writable segment (see
//! `launcher-preload/src/status.rs`: no system call, nothing on disk). Readers find it in
//! `/proc/<pid>/maps` as the start of a writable mapping of the library's file (permissions
//! `rw`, path ending in `/`[`LAUNCHER`]; [`candidates`]) and read it through `/proc/<pid>/mem`;
//! a page that does not begin with [`HEADER`] is no record (the library is loaded but decided
//! nothing: the process is not a runtime). Format: text, one `key=value` per line (values
//! without newlines), lines that would not fit the page left out:
//! ```text
//! apm-inject-status 1
//! exe=/usr/bin/python3.11
//! runtime=python
//! outcome=injected
//! reason=
//! sdk=datadog
//! set=PYTHONPATH=/opt/datadog-packages/datadog-apm-library-python/stable
//! unset=JAVA_TOOL_OPTIONS
//! ```
//!
//! The library's text ends before [`TRACER_OFFSET`]; the rest of the page is the tracer's
//! area. The tracer's entry point (the Python package's `sitecustomize.py`) writes its own
//! outcome there once it knows it, through `/proc/self/mem` at the mapping's address plus
//! [`TRACER_OFFSET`], in the same text form ([`tracer_key`]):
//! ```text
//! apm-inject-tracer 1
//! outcome=abort
//! reason=incompatible_runtime
//! tracer_version=4.16.0
//! ```
//! The library never writes there (the page starts as the file's zeros), so the two never race.
//! The page is private to the process: a child forked after the decision has its own copy.

use crate::decision::{Decision, Edit};
use alloc::vec::Vec;

/// The file name of the library whose writable mapping holds the record.
pub use crate::layout::LAUNCHER;
/// The record's size: one page.
pub const SIZE: usize = 4096;
/// The first line of a record.
pub const HEADER: &[u8] = b"apm-inject-status 1";
/// Where the tracer's area starts (it runs to the end of the page).
pub const TRACER_OFFSET: usize = 3072;
/// The first line of the tracer's area once the tracer has written it.
pub const TRACER_HEADER: &[u8] = b"apm-inject-tracer 1";

/// The record's keys.
pub mod key {
    /// The executable's path.
    pub const EXE: &str = "exe";
    /// The runtime's name (`Runtime::name`), empty if none.
    pub const RUNTIME: &str = "runtime";
    /// `injected`, `skipped` or `failed` (`Outcome::kind`).
    pub const OUTCOME: &str = "outcome";
    /// The reason id, empty for an injection.
    pub const REASON: &str = "reason";
    /// The SDK family (`Sdk::name`): `datadog` or `opentelemetry`.
    pub const SDK: &str = "sdk";
    /// A variable set, as `NAME=value` (repeated): the edit's action (`Edit::action`).
    pub const SET: &str = crate::decision::action::SET;
    /// A variable removed, as `NAME` (repeated): the edit's action.
    pub const UNSET: &str = crate::decision::action::UNSET;
}

/// The keys of the tracer's area.
pub mod tracer_key {
    /// `complete`, `abort` or `error`, as in the tracers' `library_entrypoint.*` telemetry.
    pub const OUTCOME: &str = "outcome";
    /// Why it aborted or failed, e.g. `incompatible_runtime`; empty for `complete`.
    pub const REASON: &str = "reason";
    /// The tracer's version, e.g. `4.16.0`.
    pub const TRACER_VERSION: &str = "tracer_version";
}

/// The record of `decision` for `exe`, at most [`TRACER_OFFSET`] bytes.
pub fn encode(exe: &[u8], decision: &Decision) -> Vec<u8> {
    let mut text = Vec::with_capacity(TRACER_OFFSET);
    text.extend_from_slice(HEADER);
    text.push(b'\n');
    line(&mut text, key::EXE, &[exe]);
    let runtime = decision.runtime.map_or("", |r| r.name());
    line(&mut text, key::RUNTIME, &[runtime.as_bytes()]);
    line(
        &mut text,
        key::OUTCOME,
        &[decision.outcome.kind().as_bytes()],
    );
    let reason = decision.outcome.reason().map_or("", |r| r.id());
    line(&mut text, key::REASON, &[reason.as_bytes()]);
    line(&mut text, key::SDK, &[decision.sdk.name().as_bytes()]);
    for edit in &decision.edits {
        match edit {
            Edit::Set { name, value } => line(&mut text, key::SET, &[name.as_bytes(), b"=", value]),
            Edit::Unset { name } => line(&mut text, key::UNSET, &[name.as_bytes()]),
        }
    }
    text
}

/// Appends `key=parts...\n` unless it would not fit before the tracer's area.
fn line(text: &mut Vec<u8>, key: &str, parts: &[&[u8]]) {
    let len = key.len() + 2 + parts.iter().map(|p| p.len()).sum::<usize>();
    if text.len() + len > TRACER_OFFSET {
        return;
    }
    text.extend_from_slice(key.as_bytes());
    text.push(b'=');
    for part in parts {
        text.extend(part.iter().map(|&c| if c == b'\n' { b' ' } else { c }));
    }
    text.push(b'\n');
}

/// Where a process's record may be, from its `/proc/<pid>/maps`: the start address of each
/// private writable mapping (`rw-p`) of a file named [`LAUNCHER`], in order. The record is the one whose page
/// [`decode`]s.
pub fn candidates(maps: &[u8]) -> impl Iterator<Item = u64> + '_ {
    maps.split(|&c| c == b'\n').filter_map(|line| {
        // "start-end perms offset dev inode path", the path padded and perhaps " (deleted)"
        // (a library upgraded away while the process runs).
        let mut fields = line.splitn(6, |&c| c == b' ');
        let range = fields.next()?;
        let perms = fields.next()?;
        let path = fields.nth(3)?.trim_ascii_start();
        let path = path.strip_suffix(b" (deleted)").unwrap_or(path);
        let named = path.strip_suffix(LAUNCHER.as_bytes())?.ends_with(b"/");
        if !named || perms != b"rw-p" {
            return None;
        }
        let start = range.split(|&c| c == b'-').next()?;
        u64::from_str_radix(core::str::from_utf8(start).ok()?, 16).ok()
    })
}

/// The fields of a record (`page` as mapped: the text, then zeros), in order, e.g.
/// `("outcome", "injected")`; `None` if `page` is not a record.
pub fn decode(page: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    fields(&page[..page.len().min(TRACER_OFFSET)], HEADER)
}

/// The fields of the tracer's area of `page`, in order, e.g. `("outcome", "complete")`;
/// `None` if the tracer has not written it.
pub fn decode_tracer(page: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    fields(page.get(TRACER_OFFSET..)?, TRACER_HEADER)
}

/// The `key=value` lines of `text` (up to its first zero) after the line `header`.
fn fields<'a>(text: &'a [u8], header: &[u8]) -> Option<Vec<(&'a [u8], &'a [u8])>> {
    let text = text.split(|&c| c == 0).next()?;
    let mut lines = text.split(|&c| c == b'\n');
    if lines.next()? != header {
        return None;
    }
    Some(
        lines
            .filter_map(|l| {
                let at = l.iter().position(|&c| c == b'=')?;
                Some((l.get(..at)?, l.get(at + 1..)?))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Outcome, Reason};
    use crate::runtime::Runtime;
    use alloc::vec;

    #[test]
    fn a_decision_round_trips() {
        let decision = Decision {
            edits: vec![
                Edit::Set {
                    name: "DD_SERVICE",
                    value: b"shop\nfront".to_vec(),
                },
                Edit::Unset {
                    name: "NODE_OPTIONS",
                },
            ],
            ..Decision::skip(Some(Runtime::Node), Reason::OptedOut, vec![])
        };
        let mut page = encode(b"/usr/bin/node", &decision);
        page.resize(SIZE, 0);
        let fields = decode(&page).unwrap();
        let expected: [(&[u8], &[u8]); 7] = [
            (b"exe", b"/usr/bin/node"),
            (b"runtime", b"node"),
            (b"outcome", b"skipped"),
            (b"reason", b"opted_out"),
            (b"sdk", b"datadog"),
            (b"set", b"DD_SERVICE=shop front"),
            (b"unset", b"NODE_OPTIONS"),
        ];
        assert_eq!(fields, expected);
        let injected = Decision {
            outcome: Outcome::Injected,
            sdk: crate::sdk::Sdk::OpenTelemetry,
            ..decision
        };
        let page = encode(b"/x", &injected);
        let fields = decode(&page).unwrap();
        assert_eq!(fields[3], (&b"reason"[..], &b""[..]));
        assert_eq!(fields[4], (&b"sdk"[..], &b"opentelemetry"[..]));
        assert!(decode(b"something else\n").is_none());
    }

    #[test]
    fn the_record_is_looked_for_in_the_librarys_writable_mappings() {
        let maps = b"\
7f0000000000-7f0000030000 r-xp 00000000 08:01 12 /opt/datadog-packages/datadog-apm-inject/1.0/inject/launcher.preload.so
7f0000030000-7f0000032000 rw-p 00030000 08:01 12 /opt/datadog-packages/datadog-apm-inject/1.0/inject/launcher.preload.so
7f0000040000-7f0000041000 rw-p 00003000 08:01 13 /usr/lib/other-launcher.preload.so
7f0000050000-7f0000051000 rw-p 00003000 08:01 14 /tmp/launcher.preload.so (deleted)
7f0000060000-7f0000061000 rw-s 00000000 00:01 15 /data/launcher.preload.so
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
";
        let found: Vec<u64> = candidates(maps).collect();
        assert_eq!(found, [0x7f0000030000, 0x7f0000050000]);
        assert_eq!(candidates(b"").count(), 0);
        assert_eq!(candidates(b"garbage\n- rw\n").count(), 0);
    }

    #[test]
    fn the_tracers_area_is_read_apart_from_the_record() {
        let decision = Decision::skip(Some(Runtime::Python), Reason::OptedOut, vec![]);
        let mut page = encode(b"/usr/bin/python3", &decision);
        page.resize(SIZE, 0);
        assert!(decode_tracer(&page).is_none(), "nothing written yet");
        let tracer = b"apm-inject-tracer 1\noutcome=abort\nreason=incompatible_runtime\n";
        page[TRACER_OFFSET..TRACER_OFFSET + tracer.len()].copy_from_slice(tracer);
        let expected: [(&[u8], &[u8]); 2] =
            [(b"outcome", b"abort"), (b"reason", b"incompatible_runtime")];
        assert_eq!(decode_tracer(&page).unwrap(), expected);
        assert_eq!(
            decode(&page).unwrap()[2],
            (&b"outcome"[..], &b"skipped"[..])
        );
        page[TRACER_OFFSET..TRACER_OFFSET + 3].copy_from_slice(b"xyz");
        assert!(decode_tracer(&page).is_none(), "not a tracer's text");
    }

    #[test]
    fn a_record_never_exceeds_its_page() {
        let edits = (0..100)
            .map(|_| Edit::Set {
                name: "PYTHONPATH",
                value: vec![b'x'; 100],
            })
            .collect();
        let decision = Decision::skip(None, Reason::NotARuntime, edits);
        let record = encode(&[b'e'; 5000], &decision);
        assert!(
            record.len() <= TRACER_OFFSET,
            "the tracer's area stays free"
        );
        let fields = decode(&record).unwrap();
        assert_eq!(
            fields[0].0, b"runtime",
            "the oversized exe line is left out"
        );
    }
}
