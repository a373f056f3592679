//! Finding, checking and reading the compiled host configuration (`host_config.bin`, whose
//! format is `contract::config`). A missing, unreadable, untrusted or corrupt file means
//! defaults, never a crash.

use crate::host::{Host, ReadError};
use crate::trust;
use alloc::vec::Vec;
use contract::config::{Config, COMPILED_FILE, COMPILED_LIMIT};
use contract::layout::join;

/// What became of the compiled configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No file: defaults.
    Missing,
    /// Read and used.
    Loaded,
    /// Writable by others or, for root, not owned by root: ignored, defaults used.
    Untrusted,
    /// Not a regular file, too large or unreadable: ignored, defaults used.
    Unreadable,
    /// Not a valid compiled configuration: ignored, defaults used.
    Corrupt,
}

impl Status {
    /// Stable id, e.g. `untrusted_file`.
    pub fn id(self) -> &'static str {
        match self {
            Status::Missing => "missing",
            Status::Loaded => "loaded",
            Status::Untrusted => "untrusted_file",
            Status::Unreadable => "unreadable",
            Status::Corrupt => "corrupt",
        }
    }
}

/// Loads `<dir>/host_config.bin` into `storage` for a process of user `euid`; any problem
/// means the defaults, with a status saying why.
pub fn load<'s, H: Host + ?Sized>(
    host: &H,
    dir: &[u8],
    euid: u32,
    storage: &'s mut Vec<u8>,
) -> (Config<'s>, Status) {
    let path = join(dir, COMPILED_FILE);
    let Some(info) = host.stat(&path) else {
        return (Config::default(), Status::Missing);
    };
    if !trust::trusted(&info, euid) || !trust::all_trusted(host, euid, &[dir]) {
        return (Config::default(), Status::Untrusted);
    }
    *storage = match host.read_file(&path, COMPILED_LIMIT) {
        Ok(bytes) => bytes,
        Err(ReadError::Missing) => return (Config::default(), Status::Missing),
        Err(_) => return (Config::default(), Status::Unreadable),
    };
    match Config::parse(storage) {
        Some(config) => (config, Status::Loaded),
        None => (Config::default(), Status::Corrupt),
    }
}
