//! The whole decision (`analyzer::decide`) on arbitrary executables, command lines,
//! environments, files and configurations, with a host that answers from the input.
//!
//! Input: seven fields separated by 0xFF, then binary blobs:
//! 0. flags: euid (0: root, else 1000), libc (even: glibc, odd: musl), glibc minor version
//!    (0: unknown), host calls before the time budget runs out (0: never);
//! 1. executable path; 2. command line and 3. environment, NUL-separated as in
//!    `/proc/self/cmdline` and `/proc/self/environ`; 4. working directory; 5. packages root
//!    (empty: unknown);
//! 6. files, NUL-separated, each a kind byte, a contents digit and a path suffix; kinds: `f`
//!    regular file (root's, 0644), `r` regular file the process cannot read, `w` world-writable
//!    file, `u` user 1000's file, `d` directory, `o` FIFO or device; a path is the first entry
//!    it ends with, and its contents the blob the digit names;
//! then blobs, each a u16 LE length and its bytes: blob 0 a compiled host configuration
//! (defaults if it does not parse), blobs 1, 2, … file contents.
//!
//! Seeds: real command lines and environments of runtimes, the package layout, the JDK's
//! release file, a jar, requirements.json in the tracers' shape and a compiled configuration.
#![no_main]

use analyzer::host::{FileInfo, FileKind, ReadError};
use analyzer::process::{split_cmdline, Libc, LibcFlavor};
use analyzer::{Config, Host, Outcome, Process, Reason};
use std::cell::Cell;

struct InputHost<'a> {
    files: Vec<&'a [u8]>,
    contents: Vec<&'a [u8]>,
    calls: Cell<u32>,
    budget_calls: u32,
}

impl<'a> InputHost<'a> {
    /// The entry `path` ends with: kind, contents.
    fn find(&self, path: &[u8]) -> Option<(u8, &'a [u8])> {
        self.calls.set(self.calls.get().saturating_add(1));
        let entry = self
            .files
            .iter()
            .find(|e| e.len() > 2 && path.ends_with(&e[2..]))?;
        let blob = usize::from(entry[1].wrapping_sub(b'0'));
        Some((
            entry[0],
            self.contents.get(blob).copied().unwrap_or_default(),
        ))
    }

    /// Contents of a file the process may read.
    fn readable(&self, path: &[u8]) -> Result<&'a [u8], ReadError> {
        match self.find(path) {
            None => Err(ReadError::Missing),
            Some((b'd' | b'o', _)) => Err(ReadError::NotRegular),
            Some((b'r', _)) => Err(ReadError::Unreadable),
            Some((_, contents)) => Ok(contents),
        }
    }
}

/// Splits `bytes` into blobs of a u16 LE length each.
fn blobs(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        let (blob, rest) = rest.split_at(len);
        out.push(blob);
        bytes = rest;
    }
    out
}

impl Host for InputHost<'_> {
    fn stat(&self, path: &[u8]) -> Option<FileInfo> {
        let (kind, _) = self.find(path)?;
        let (kind, mode, uid) = match kind {
            b'f' | b'r' => (FileKind::File, 0o644, 0),
            b'w' => (FileKind::File, 0o666, 0),
            b'u' => (FileKind::File, 0o644, 1000),
            b'd' => (FileKind::Dir, 0o755, 0),
            _ => (FileKind::Other, 0o644, 0),
        };
        Some(FileInfo { kind, mode, uid })
    }

    fn read_file(&self, path: &[u8], limit: usize) -> Result<Vec<u8>, ReadError> {
        let contents = self.readable(path)?;
        if contents.len() > limit {
            return Err(ReadError::TooLarge);
        }
        Ok(contents.to_vec())
    }

    fn peek(&self, path: &[u8], head: usize, tail: usize) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
        // As the library: a directory yields nothing, a FIFO or device is refused.
        let contents = match self.find(path) {
            Some((b'd', _)) => &[][..],
            _ => self.readable(path)?,
        };
        let head = &contents[..head.min(contents.len())];
        let tail = &contents[contents.len() - tail.min(contents.len())..];
        Ok((head.to_vec(), tail.to_vec()))
    }

    fn out_of_time(&self) -> bool {
        self.budget_calls != 0 && self.calls.get() >= self.budget_calls
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fields: Vec<&[u8]> = data.splitn(8, |&c| c == 0xff).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let flag = |i: usize| field(0).get(i).copied().unwrap_or(0);
    let mut process = Process {
        exe: field(1),
        args: split_cmdline(field(2)),
        env: split_cmdline(field(3)),
        env_index: Default::default(),
        cwd: Some(field(4)).filter(|c| !c.is_empty()),
        euid: if flag(0) == 0 { 0 } else { 1000 },
        libc: Libc {
            flavor: if flag(1) % 2 == 0 {
                LibcFlavor::Glibc
            } else {
                LibcFlavor::Musl
            },
            version: (flag(2) != 0).then(|| (2, u32::from(flag(2)))),
        },
    };
    let host = InputHost {
        files: field(6).split(|&c| c == 0).collect(),
        contents: blobs(field(7)),
        calls: Cell::new(0),
        budget_calls: u32::from(flag(3)),
    };
    let root = Some(field(5)).filter(|r| !r.is_empty());
    let config =
        Config::parse(host.contents.first().copied().unwrap_or_default()).unwrap_or_default();
    let decision = analyzer::decide(&process, &host, root, &config);
    // The library decides with its environment indexed: the same decision as by scans.
    process.index_env();
    host.calls.set(0);
    let indexed = analyzer::decide(&process, &host, root, &config);
    assert_eq!(indexed, decision, "an indexed environment decides alike");
    if decision.outcome == Outcome::Skipped(Reason::NotARuntime) {
        assert!(decision.edits.is_empty(), "a non-runtime is never changed");
    }
    if decision.outcome == Outcome::Injected {
        assert!(!decision.edits.is_empty(), "injected without a change");
    }
});
