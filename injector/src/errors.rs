//! Error messages that name the action and the file, e.g.
//! `cannot create /etc/.ld.so.preload.apm-inject-12: Read-only file system (os error 30)`.

use std::path::Path;

/// Turns an I/O error on `path` into a message, for `map_err`.
pub fn io<'a>(action: &'a str, path: &'a Path) -> impl FnOnce(std::io::Error) -> String + 'a {
    move |e| format!("cannot {action} {}: {e}", path.display())
}
