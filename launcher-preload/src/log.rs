//! Debug logging: off unless `DD_APM_INSTRUMENTATION_DEBUG=true` (or `log_level: debug` in the
//! host configuration).
//!
//! Lines go to standard error, or to the files listed (comma-separated, `file://` prefix
//! optional) in `DD_APM_INSTRUMENTATION_OUTPUT_PATHS` (else the configuration's
//! `output_paths`) instead; `stderr` in that list means
//! standard error. Standard output is never written. All lines of one process are collected
//! and written with one `write` per target at the end, so lines of concurrent processes do not
//! interleave. Files are opened append-only, created 0600 if missing, never followed into a
//! FIFO wait (`O_NONBLOCK`), and closed before the constructor returns. A file that has grown
//! past [`MAX_FILE_BYTES`] is rotated by the first process to find it so: renamed to
//! `<file>.1` (replacing an older one) and started anew, so that a log holds at most twice that
//! (if it cannot be renamed, it is emptied instead). Two processes finding it full at once may
//! both rotate, losing the older half: a debug log is for a while, not for ever.

use crate::sys::{self, CPath, Fd};
use alloc::vec::Vec;

const DEBUG: &str = "DD_APM_INSTRUMENTATION_DEBUG";
/// Size past which a debug log file is rotated (see the module docs).
pub const MAX_FILE_BYTES: u64 = 10 << 20;
const OUTPUT_PATHS: &str = "DD_APM_INSTRUMENTATION_OUTPUT_PATHS";

/// The lines of one process, written on `flush`.
pub struct Log {
    enabled: bool,
    targets: Option<Vec<u8>>,
    prefix: Vec<u8>,
    text: Vec<u8>,
}

impl Log {
    /// A log configured from the process's environment, else the host configuration.
    pub fn new(process: &analyzer::Process, config: &analyzer::Config) -> Log {
        let enabled = process.flag(DEBUG) || config.debug;
        let mut prefix = Vec::new();
        if enabled {
            prefix.extend_from_slice(b"apm-inject[");
            push_decimal(&mut prefix, sys::getpid() as u64);
            prefix.extend_from_slice(b"]: ");
        }
        let targets = process.var(OUTPUT_PATHS).filter(|v| !v.is_empty());
        let targets = targets
            .or(Some(config.output_paths).filter(|v| !v.is_empty()))
            .map(<[u8]>::to_vec);
        Log {
            enabled,
            targets,
            prefix,
            text: Vec::new(),
        }
    }

    /// Whether logging is on (so that a line is worth rendering).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Adds one line made of `parts`, if logging is on.
    pub fn line(&mut self, parts: &[&[u8]]) {
        if !self.enabled {
            return;
        }
        self.text.extend_from_slice(&self.prefix);
        parts.iter().for_each(|p| {
            self.text
                .extend(p.iter().map(|&c| if c == b'\n' { b' ' } else { c }))
        });
        self.text.push(b'\n');
    }

    /// Writes the collected lines to every target.
    pub fn flush(self) {
        if self.text.is_empty() {
            return;
        }
        let Some(targets) = self.targets else {
            Fd::stderr().write_all(&self.text);
            return;
        };
        for target in targets.split(|&c| c == b',').map(trim) {
            let path = target.strip_prefix(b"file://").unwrap_or(target);
            if path == b"stderr" {
                Fd::stderr().write_all(&self.text);
            } else if path.starts_with(b"/") && !path.contains(&0) {
                if let Some(fd) = open_file(path) {
                    fd.write_all(&self.text);
                }
            }
        }
    }
}

/// Opens log file `path` for appending, rotating it first if it is full (module docs).
fn open_file(path: &[u8]) -> Option<Fd> {
    let c_path = [path, b"\0"].concat();
    let flags = sys::O_WRONLY | sys::O_APPEND | sys::O_CREAT | sys::O_NONBLOCK | sys::O_NOCTTY;
    let fd = sys::open(CPath(&c_path), flags, 0o600).ok()?;
    let opened = fd.stat().ok()?;
    if opened.size < MAX_FILE_BYTES {
        return Some(fd);
    }
    // Only while `path` still names the full file: another process may have rotated it.
    if sys::stat(CPath(&c_path)).ok().map(|s| s.id) == Some(opened.id) {
        let rotated = [path, b".1\0"].concat();
        if sys::rename(CPath(&c_path), CPath(&rotated)).is_err() {
            fd.truncate().ok()?;
            return Some(fd);
        }
    }
    drop(fd);
    sys::open(CPath(&c_path), flags, 0o600).ok()
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}
