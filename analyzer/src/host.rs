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

/// Files in memory, for unit tests over captured inputs (`test-assets/`).
#[cfg(test)]
pub(crate) mod memory {
    use super::{FileInfo, FileKind, Host, ReadError};
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    /// A host whose only files are the ones added.
    #[derive(Default)]
    pub struct Files(BTreeMap<Vec<u8>, Vec<u8>>);

    impl Files {
        /// Adds `path` with the contents of `test-assets/<asset>`.
        pub fn asset(mut self, path: &str, asset: &str) -> Files {
            let file = [env!("CARGO_MANIFEST_DIR"), "/../test-assets/", asset].concat();
            let contents = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
            self.0.insert(path.as_bytes().to_vec(), contents);
            self
        }
    }

    impl Host for Files {
        fn stat(&self, path: &[u8]) -> Option<FileInfo> {
            self.0.get(path).map(|_| FileInfo {
                kind: FileKind::File,
                mode: 0o644,
                uid: 0,
            })
        }

        fn read_file(&self, path: &[u8], limit: usize) -> Result<Vec<u8>, ReadError> {
            match self.0.get(path) {
                None => Err(ReadError::Missing),
                Some(data) if data.len() > limit => Err(ReadError::TooLarge),
                Some(data) => Ok(data.clone()),
            }
        }

        fn peek(
            &self,
            path: &[u8],
            head: usize,
            tail: usize,
        ) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
            let data = self.0.get(path).ok_or(ReadError::Missing)?;
            let head = data[..head.min(data.len())].to_vec();
            let tail = data[data.len() - tail.min(data.len())..].to_vec();
            Ok((head, tail))
        }

        fn out_of_time(&self) -> bool {
            false
        }
    }
}
