//! The analyzer's questions answered with `std`, the way the library answers them: symbolic
//! links followed, only regular files read, opened without blocking, size-capped.

use analyzer::host::{FileInfo, FileKind, Host, ReadError};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

/// Answers `analyzer::Host` for the CLI.
pub struct StdHost {
    /// When the decision started.
    pub started: Instant,
    /// Its time budget.
    pub budget_ms: u32,
}

impl StdHost {
    /// A host whose clock starts now.
    pub fn new() -> StdHost {
        StdHost {
            started: Instant::now(),
            budget_ms: contract::config::DEFAULT_TIME_BUDGET_MS,
        }
    }
}

/// Opens `path` for reading without blocking, as the library does: a path that does not exist
/// (`ENOENT`), runs through a file (`ENOTDIR`) or cannot exist (a NUL byte) is missing.
fn open_for_reading(path: &[u8]) -> Result<std::fs::File, ReadError> {
    if path.contains(&0) {
        return Err(ReadError::Missing);
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(Path::new(OsStr::from_bytes(path)))
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => ReadError::Missing,
            _ => ReadError::Unreadable,
        })
}

impl Host for StdHost {
    fn stat(&self, p: &[u8]) -> Option<FileInfo> {
        let meta = Path::new(OsStr::from_bytes(p)).metadata().ok()?;
        let kind = if meta.is_file() {
            FileKind::File
        } else if meta.is_dir() {
            FileKind::Dir
        } else {
            FileKind::Other
        };
        Some(FileInfo {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
        })
    }

    fn read_file(&self, p: &[u8], limit: usize) -> Result<Vec<u8>, ReadError> {
        let file = open_for_reading(p)?;
        let meta = file.metadata().map_err(|_| ReadError::Unreadable)?;
        if !meta.is_file() {
            return Err(ReadError::NotRegular);
        }
        if meta.len() > limit as u64 {
            return Err(ReadError::TooLarge);
        }
        let mut data = Vec::new();
        file.take(limit as u64 + 1)
            .read_to_end(&mut data)
            .map_err(|_| ReadError::Unreadable)?;
        if data.len() > limit {
            return Err(ReadError::TooLarge);
        }
        Ok(data)
    }

    fn peek(&self, p: &[u8], head: usize, tail: usize) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
        use std::os::unix::fs::FileExt;
        let file = open_for_reading(p)?;
        let meta = file.metadata().map_err(|_| ReadError::Unreadable)?;
        if meta.is_dir() {
            return Ok((Vec::new(), Vec::new()));
        }
        if !meta.is_file() {
            return Err(ReadError::NotRegular);
        }
        let read = |len: usize, offset: u64| -> Result<Vec<u8>, ReadError> {
            let mut buf = vec![0; len.min(meta.len() as usize)];
            file.read_exact_at(&mut buf, offset)
                .map_err(|_| ReadError::Unreadable)?;
            Ok(buf)
        };
        Ok((
            read(head, 0)?,
            read(tail, meta.len().saturating_sub(tail as u64))?,
        ))
    }

    fn out_of_time(&self) -> bool {
        self.started.elapsed().as_millis() > self.budget_ms as u128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_host_keeps_the_host_contract() {
        host_contract::check(&StdHost::new());
    }
}
