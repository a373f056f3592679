//! The process being decided on: executable, command line and environment, as byte strings.

use crate::env_index::EnvIndex;
use alloc::vec::Vec;
pub use contract::path::{file_name, parent};

/// One process as the library sees it at start-up.
#[derive(Clone, Debug, Default)]
pub struct Process<'a> {
    /// Resolved executable path (`/proc/self/exe`), e.g. `/usr/bin/python3.11`.
    pub exe: &'a [u8],
    /// Command line; `args[0]` is the command as invoked, e.g. `["python3", "app.py"]`.
    pub args: Vec<&'a [u8]>,
    /// Environment entries, `NAME=value`, in order.
    pub env: Vec<&'a [u8]>,
    /// An index of `env` by name for [`Process::var`], once [`Process::index_env`] built it
    /// (until then, or if `env` is replaced, `var` scans `env`).
    pub env_index: EnvIndex,
    /// Working directory, if known.
    pub cwd: Option<&'a [u8]>,
    /// Effective user id (files used by root processes must be owned by root).
    pub euid: u32,
    /// The process's C library.
    pub libc: Libc,
}

/// The C library a process runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Libc {
    /// Which libc.
    pub flavor: LibcFlavor,
    /// Its version as (major, minor), e.g. `(2, 36)`, when known.
    pub version: Option<(u32, u32)>,
}

/// Which C library.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LibcFlavor {
    /// GNU libc.
    #[default]
    Glibc,
    /// musl.
    Musl,
}

impl LibcFlavor {
    /// Name as used in `requirements.json`: `glibc` or `musl`.
    pub fn name(self) -> &'static str {
        match self {
            LibcFlavor::Glibc => "glibc",
            LibcFlavor::Musl => "musl",
        }
    }
}

/// Parses a dotted version's first two numbers, e.g. `(2, 17)` for `2.17` or `2.17.1`.
pub fn major_minor(text: &[u8]) -> Option<(u32, u32)> {
    let mut parts = text.split(|&c| c == b'.');
    let number = |p: &[u8]| -> Option<u32> {
        let digits = p.iter().take_while(|c| c.is_ascii_digit()).count();
        core::str::from_utf8(p.get(..digits)?).ok()?.parse().ok()
    };
    let major = number(parts.next()?)?;
    let minor = parts.next().and_then(number).unwrap_or(0);
    Some((major, minor))
}

impl<'a> Process<'a> {
    /// Indexes `env` by name: one pass over it, after which each [`Process::var`] is a table
    /// look-up. `env` must not change in place afterwards (replacing it is fine).
    pub fn index_env(&mut self) {
        self.env_index = EnvIndex::build(&self.env);
    }

    /// Value of environment variable `name`, as `getenv` finds it (first entry wins).
    pub fn var(&self, name: &str) -> Option<&'a [u8]> {
        if let Some(found) = self.env_index.find(&self.env, name.as_bytes()) {
            return found;
        }
        self.env.iter().find_map(|entry| {
            let rest = entry.strip_prefix(name.as_bytes())?;
            rest.strip_prefix(b"=")
        })
    }

    /// Whether variable `name` is set to a true value (`true`, `1`, `yes`, `on`; any case).
    pub fn flag(&self, name: &str) -> bool {
        self.var(name).is_some_and(is_true)
    }

    /// `path` made absolute against the working directory (`None` if relative and the working
    /// directory is unknown), e.g. `/srv/app/server.js` for `./server.js` in `/srv/app`.
    pub fn absolute(&self, path: &[u8]) -> Option<Vec<u8>> {
        if path.starts_with(b"/") {
            return Some(path.to_vec());
        }
        let path = path.strip_prefix(b"./").unwrap_or(path);
        self.cwd.map(|cwd| [cwd, b"/", path].concat())
    }
}

/// Whether a configuration value means true: `true`, `1`, `yes` or `on`, in any case.
fn is_true(value: &[u8]) -> bool {
    // Spelled out, not a table: a table of slices is pointers the loader relocates at start-up.
    value.eq_ignore_ascii_case(b"true")
        || value == b"1"
        || value.eq_ignore_ascii_case(b"yes")
        || value.eq_ignore_ascii_case(b"on")
}

/// Whether a configuration value means false: `false`, `0`, `no` or `off`, in any case.
pub fn is_false(value: &[u8]) -> bool {
    value.eq_ignore_ascii_case(b"false")
        || value == b"0"
        || value.eq_ignore_ascii_case(b"no")
        || value.eq_ignore_ascii_case(b"off")
}

/// Splits `/proc/<pid>/cmdline` (NUL-terminated strings) into arguments.
pub fn split_cmdline(bytes: &[u8]) -> Vec<&[u8]> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|&c| c == 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_entry_wins_like_getenv() {
        let p = Process {
            env: alloc::vec![&b"A=1"[..], b"AB=2", b"A=3", b"EMPTY="],
            ..Default::default()
        };
        assert_eq!(p.var("A"), Some(&b"1"[..]));
        assert_eq!(p.var("AB"), Some(&b"2"[..]));
        assert_eq!(p.var("EMPTY"), Some(&b""[..]));
        assert_eq!(p.var("B"), None);
        let mut indexed = p.clone();
        indexed.index_env();
        for name in ["A", "AB", "EMPTY", "B", "A=1"] {
            assert_eq!(indexed.var(name), p.var(name), "{name}");
        }
        let replaced = Process {
            env: alloc::vec![&b"A=other"[..]],
            ..indexed
        };
        assert_eq!(
            replaced.var("A"),
            Some(&b"other"[..]),
            "an index of another env is unused"
        );
    }

    #[test]
    fn cmdline_is_split_on_nul() {
        assert_eq!(
            split_cmdline(b"java\0-version\0"),
            alloc::vec![&b"java"[..], b"-version"]
        );
        assert_eq!(
            split_cmdline(b"a\0\0b\0"),
            alloc::vec![&b"a"[..], b"", b"b"]
        );
        assert!(split_cmdline(b"").is_empty());
    }

    #[test]
    fn captured_command_lines_of_glibc_and_musl_processes() {
        for name in ["cmdline-glibc", "cmdline-musl"] {
            let file = [env!("CARGO_MANIFEST_DIR"), "/../test-assets/proc/", name].concat();
            let bytes = std::fs::read(file).unwrap();
            assert_eq!(
                split_cmdline(&bytes),
                alloc::vec![
                    &b"/usr/bin/java"[..],
                    b"cmdline",
                    b"--port=8080",
                    b"two words",
                    b""
                ],
                "{name}"
            );
        }
    }
}
