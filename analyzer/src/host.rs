//! What the decision may ask of the machine: file metadata, small files, and the clock.
//!
//! The library answers with raw system calls (non-blocking opens, regular files only, size
//! caps); the CLI with `std::fs`. The decision reads nothing else. Both give the same answers:
//! the `host-contract` crate checks each against the same real files.

use alloc::vec::Vec;

/// What kind of file a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else: FIFO, socket, device.
    Other,
}

/// Metadata of a path (symbolic links followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// File, directory or other.
    pub kind: FileKind,
    /// Permission bits, e.g. `0o644`.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Size in bytes.
    pub size: u64,
}

/// Why a file could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// It does not exist.
    Missing,
    /// It is a directory, FIFO, socket or device: never opened for reading.
    NotRegular,
    /// It is larger than allowed.
    TooLarge,
    /// Permission denied or an I/O error.
    Unreadable,
}

/// Queries the decision needs.
pub trait Host {
    /// Metadata of `path`, following symbolic links; `None` if it does not exist.
    fn stat(&self, path: &[u8]) -> Option<FileInfo>;
    /// The contents of the regular file `path` if it has at most `limit` bytes; never blocks.
    fn read_file(&self, path: &[u8], limit: usize) -> Result<Vec<u8>, ReadError>;
    /// The first `head` and the last `tail` bytes of the file `path` (fewer if it is shorter),
    /// read without blocking; a directory yields nothing. Opening it proves the process may
    /// read it.
    fn peek(&self, path: &[u8], head: usize, tail: usize) -> Result<(Vec<u8>, Vec<u8>), ReadError>;
    /// Whether the decision's time budget is spent.
    fn out_of_time(&self) -> bool;

    /// Whether `path` is a regular file.
    fn is_file(&self, path: &[u8]) -> bool {
        self.stat(path).is_some_and(|i| i.kind == FileKind::File)
    }
}
