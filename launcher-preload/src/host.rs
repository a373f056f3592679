//! The analyzer's questions, answered with raw system calls: never blocking (files are opened
//! `O_NONBLOCK` and must be regular), size-capped, and against a deadline.

use crate::sys::{self, CPath, FileStat, S_IFMT, S_IFREG};
use alloc::vec::Vec;
use analyzer::host::{FileInfo, FileKind, ReadError};

/// `S_IFDIR`: directory file type.
const S_IFDIR: u32 = 0o040000;
/// `ENOENT`: no such file.
const ENOENT: sys::Errno = 2;
/// `ENOTDIR`: a path component is not a directory.
const ENOTDIR: sys::Errno = 20;

/// Answers `analyzer::Host` for the running process.
pub struct SysHost {
    /// When the decision started (monotonic nanoseconds).
    pub started_ns: u64,
    /// Time budget of the decision.
    pub budget_ms: u32,
}

/// `path` with a NUL appended, or `None` if it contains one.
pub fn c_path(path: &[u8]) -> Option<Vec<u8>> {
    (!path.contains(&0)).then(|| [path, b"\0"].concat())
}

fn info(st: FileStat) -> FileInfo {
    let kind = match st.mode & S_IFMT {
        S_IFREG => FileKind::File,
        S_IFDIR => FileKind::Dir,
        _ => FileKind::Other,
    };
    FileInfo {
        kind,
        mode: st.mode & 0o7777,
        uid: st.uid,
    }
}

impl analyzer::Host for SysHost {
    fn stat(&self, path: &[u8]) -> Option<FileInfo> {
        let c = c_path(path)?;
        sys::stat(CPath(&c)).ok().map(info)
    }

    fn read_file(&self, path: &[u8], limit: usize) -> Result<Vec<u8>, ReadError> {
        let c = c_path(path).ok_or(ReadError::Missing)?;
        read_file(CPath(&c), limit)
    }

    fn peek(&self, path: &[u8], head: usize, tail: usize) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
        let c = c_path(path).ok_or(ReadError::Missing)?;
        let fd = open_for_reading(CPath(&c))?;
        let st = fd.stat().map_err(|_| ReadError::Unreadable)?;
        match info(st).kind {
            FileKind::Dir => return Ok((Vec::new(), Vec::new())),
            FileKind::Other => return Err(ReadError::NotRegular),
            FileKind::File => {}
        }
        let head = fd.read_at(head, 0).map_err(|_| ReadError::Unreadable)?;
        let tail = fd
            .read_at(tail, st.size.saturating_sub(tail as u64))
            .map_err(|_| ReadError::Unreadable)?;
        Ok((head, tail))
    }

    fn out_of_time(&self) -> bool {
        sys::monotonic_ns().saturating_sub(self.started_ns) > self.budget_ms as u64 * 1_000_000
    }
}

/// Opens `path` for reading without blocking (a FIFO without writer, a device).
fn open_for_reading(path: CPath) -> Result<sys::Fd, ReadError> {
    sys::open(path, sys::O_RDONLY | sys::O_NONBLOCK | sys::O_NOCTTY, 0).map_err(|e| match e {
        ENOENT | ENOTDIR => ReadError::Missing,
        _ => ReadError::Unreadable,
    })
}

/// Reads a whole regular file of at most `limit` bytes without blocking.
pub fn read_file(path: CPath, limit: usize) -> Result<Vec<u8>, ReadError> {
    let fd = open_for_reading(path)?;
    let st = fd.stat().map_err(|_| ReadError::Unreadable)?;
    if st.mode & S_IFMT != S_IFREG {
        return Err(ReadError::NotRegular);
    }
    if st.size > limit as u64 {
        return Err(ReadError::TooLarge);
    }
    let mut data = Vec::new();
    loop {
        match fd.read_append(&mut data, 16 << 10) {
            Ok(0) => return Ok(data),
            Ok(_) if data.len() > limit => return Err(ReadError::TooLarge),
            Ok(_) => {}
            Err(_) => return Err(ReadError::Unreadable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_host_keeps_the_host_contract() {
        host_contract::check(&SysHost {
            started_ns: sys::monotonic_ns(),
            budget_ms: 1000,
        });
    }
}
