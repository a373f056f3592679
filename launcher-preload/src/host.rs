//! The analyzer's file-system questions, answered with raw system calls.

use crate::sys::{self, CPath, S_IFMT, S_IFREG};
use alloc::vec::Vec;

/// Answers `analyzer::Host` for the running process.
pub struct SysHost;

/// `path` with a NUL appended, or `None` if it contains one.
pub fn c_path(path: &[u8]) -> Option<Vec<u8>> {
    (!path.contains(&0)).then(|| [path, b"\0"].concat())
}

impl analyzer::Host for SysHost {
    fn is_file(&self, path: &[u8]) -> bool {
        let Some(c) = c_path(path) else { return false };
        sys::stat(CPath(&c)).is_ok_and(|st| st.mode & S_IFMT == S_IFREG)
    }
}

/// Reads a whole file of at most `limit` bytes without blocking; `None` if it cannot be read,
/// is not a regular file, or is larger.
pub fn read_file(path: CPath, limit: usize) -> Option<Vec<u8>> {
    let fd = sys::open(path, sys::O_RDONLY | sys::O_NONBLOCK | sys::O_NOCTTY, 0).ok()?;
    if fd.stat().ok()?.mode & S_IFMT != S_IFREG {
        return None;
    }
    let mut data = Vec::new();
    loop {
        match fd.read_append(&mut data, 16 << 10) {
            Ok(0) => return Some(data),
            Ok(_) if data.len() > limit => return None,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}
