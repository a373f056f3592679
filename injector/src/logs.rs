//! The debug log files named by `DD_APM_INSTRUMENTATION_OUTPUT_PATHS`, read as the launcher
//! writes them: comma-separated destinations, each `stderr` or an absolute path with an
//! optional `file://` prefix.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The variable naming the destinations.
pub const OUTPUT_PATHS: &str = "DD_APM_INSTRUMENTATION_OUTPUT_PATHS";

/// The log files named in this process's environment; `None` if the variable is unset.
pub fn from_env() -> Option<Vec<PathBuf>> {
    std::env::var_os(OUTPUT_PATHS).map(|v| files(v.as_bytes()))
}

/// The files in a destination list, e.g. `["/var/log/a.log"]` for
/// `stderr, file:///var/log/a.log`.
pub fn files(value: &[u8]) -> Vec<PathBuf> {
    value
        .split(|&c| c == b',')
        .map(|t| t.trim_ascii())
        .map(|t| t.strip_prefix(b"file://").unwrap_or(t))
        .filter(|t| t.starts_with(b"/"))
        .map(|t| PathBuf::from(std::ffi::OsStr::from_bytes(t)))
        .collect()
}

/// The last `limit` bytes of the file at `path`.
pub fn tail(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(limit)))?;
    let mut text = Vec::new();
    file.take(limit).read_to_end(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_read_like_the_launcher() {
        assert_eq!(
            files(b"stderr, file:///var/log/a.log,/tmp/b.log,relative.log"),
            vec![PathBuf::from("/var/log/a.log"), PathBuf::from("/tmp/b.log")]
        );
        assert!(files(b"stderr").is_empty());
    }
}
