//! The whole decision (`analyzer::decide`) on arbitrary executables, command lines,
//! environments, files and configurations, with a host that answers from the input.
//!
//! Input: fields separated by 0xFF:
//! 0. flags: euid (0: root, else 1000), libc (even: glibc, odd: musl), glibc minor version
//!    (0: unknown), host calls before the time budget runs out (0: never);
//! 1. executable path; 2. command line and 3. environment, NUL-separated as in
//!    `/proc/self/cmdline` and `/proc/self/environ`; 4. working directory; 5. packages root
//!    (empty: unknown);
//! 6. files, NUL-separated, each a kind byte then a path suffix: `f` regular file (root's,
//!    0644), `d` directory, `o` FIFO or device, `w` world-writable file, `u` user 1000's file;
//!    a path is the first entry it ends with;
//! 7. the contents of every regular file read (requirements.json, JDK release file, …);
//! 8. a compiled host configuration (defaults if it does not parse).
//!
//! Seeds: real command lines and environments of runtimes, the package layout, a tracer's
//! requirements.json and a compiled configuration.
#![no_main]

use analyzer::host::{FileInfo, FileKind, ReadError};
use analyzer::process::{split_cmdline, Libc, LibcFlavor};
use analyzer::{Config, Host, Outcome, Process, Reason};
use std::cell::Cell;

struct InputHost<'a> {
    files: Vec<&'a [u8]>,
    contents: &'a [u8],
    calls: Cell<u32>,
    budget_calls: u32,
}

impl InputHost<'_> {
    fn tick(&self) {
        self.calls.set(self.calls.get().saturating_add(1));
    }
}

impl Host for InputHost<'_> {
    fn stat(&self, path: &[u8]) -> Option<FileInfo> {
        self.tick();
        let entry = self
            .files
            .iter()
            .find(|e| e.len() > 1 && path.ends_with(&e[1..]))?;
        let (kind, mode, uid) = match entry[0] {
            b'f' => (FileKind::File, 0o644, 0),
            b'd' => (FileKind::Dir, 0o755, 0),
            b'w' => (FileKind::File, 0o666, 0),
            b'u' => (FileKind::File, 0o644, 1000),
            _ => (FileKind::Other, 0o644, 0),
        };
        Some(FileInfo {
            kind,
            mode,
            uid,
            size: self.contents.len() as u64,
        })
    }

    fn read_file(&self, path: &[u8], limit: usize) -> Result<Vec<u8>, ReadError> {
        match self.stat(path) {
            None => Err(ReadError::Missing),
            Some(info) if info.kind != FileKind::File => Err(ReadError::NotRegular),
            Some(_) if self.contents.len() > limit => Err(ReadError::TooLarge),
            Some(_) => Ok(self.contents.to_vec()),
        }
    }

    fn out_of_time(&self) -> bool {
        self.budget_calls != 0 && self.calls.get() >= self.budget_calls
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fields: Vec<&[u8]> = data.split(|&c| c == 0xff).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let flag = |i: usize| field(0).get(i).copied().unwrap_or(0);
    let process = Process {
        exe: field(1),
        args: split_cmdline(field(2)),
        env: split_cmdline(field(3)),
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
        contents: field(7),
        calls: Cell::new(0),
        budget_calls: u32::from(flag(3)),
    };
    let root = Some(field(5)).filter(|r| !r.is_empty());
    let config = Config::parse(field(8)).unwrap_or_default();
    let decision = analyzer::decide(&process, &host, root, &config);
    if decision.outcome == Outcome::Skipped(Reason::NotARuntime) {
        assert!(decision.edits.is_empty(), "a non-runtime is never changed");
    }
    if decision.outcome == Outcome::Injected {
        assert!(!decision.edits.is_empty(), "injected without a change");
    }
});
