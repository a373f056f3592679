//! What the decision may ask of the file system.
//!
//! The library answers with raw system calls (non-blocking, regular files only); the CLI with
//! `std::fs`. The decision never reads anything else from the machine.

/// File-system queries the decision needs.
pub trait Host {
    /// Whether `path` exists and is a regular file (following symbolic links).
    fn is_file(&self, path: &[u8]) -> bool;
}
