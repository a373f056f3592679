//! The launcher's debug log destinations, read as the launcher reads them: comma-separated,
//! each `stderr` or an absolute path with an optional `file://` prefix; anything else (a
//! relative path) is ignored by the launcher. They come from `DD_APM_INSTRUMENTATION_OUTPUT_PATHS`
//! in a process's environment, else from `output_paths` in the host configuration.

use crate::layout::Root;
use crate::std_host::StdHost;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The variable naming the destinations.
pub const OUTPUT_PATHS: &str = "DD_APM_INSTRUMENTATION_OUTPUT_PATHS";

/// A destination list and where it is configured.
pub struct Configured {
    /// Where, e.g. `pid 42 (/usr/bin/python3.11)`.
    pub origin: String,
    /// The list, e.g. `stderr,/var/log/apm.log`.
    pub value: Vec<u8>,
    /// Its paths are inside the root (it comes from the root's configuration), not this host's.
    pub in_root: bool,
}

impl Configured {
    /// The files of the list, as paths from here.
    pub fn files(&self, root: &Root) -> Vec<PathBuf> {
        files(&self.value)
            .into_iter()
            .map(|f| if self.in_root { root.path(&f) } else { f })
            .collect()
    }
}

/// Where destinations are configured for processes of `root`: the host configuration; with
/// `environment`, this process's environment; with `processes`, every running process's
/// initial environment (for the host only).
pub fn configured(root: &Root, environment: bool, processes: bool) -> Vec<Configured> {
    let mut found = Vec::new();
    if let Some(value) = std::env::var_os(OUTPUT_PATHS).filter(|_| environment) {
        found.push(Configured {
            origin: format!("{OUTPUT_PATHS} in this environment"),
            value: value.as_bytes().to_vec(),
            in_root: false,
        });
    }
    let dir = crate::config::dir_in(root);
    let mut storage = Vec::new();
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let (config, _) = analyzer::config::load(
        &StdHost::new(),
        dir.as_os_str().as_bytes(),
        euid,
        &mut storage,
    );
    if !config.output_paths.is_empty() {
        found.push(Configured {
            origin: format!(
                "output_paths in {}",
                dir.join(contract::config::COMPILED_FILE).display()
            ),
            value: config.output_paths.to_vec(),
            in_root: true,
        });
    }
    if processes && root.is_host() {
        found.extend(in_processes());
    }
    found
}

/// The destinations in running processes' initial environments, one entry per distinct value.
fn in_processes() -> Vec<Configured> {
    let mut found: Vec<Configured> = Vec::new();
    let prefix = format!("{OUTPUT_PATHS}=");
    let pids = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok());
    for pid in pids {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let Some(value) = environ
            .split(|&c| c == 0)
            .find_map(|e| e.strip_prefix(prefix.as_bytes()))
        else {
            continue;
        };
        if found.iter().any(|c| c.value == value) {
            continue;
        }
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        found.push(Configured {
            origin: format!("pid {pid} ({})", exe.display()),
            value: value.to_vec(),
            in_root: false,
        });
    }
    found
}

/// The files in a destination list, e.g. `["/var/log/a.log"]` for
/// `stderr, file:///var/log/a.log`.
pub fn files(value: &[u8]) -> Vec<PathBuf> {
    destinations(value)
        .filter(|t| t.starts_with(b"/"))
        .map(|t| PathBuf::from(std::ffi::OsStr::from_bytes(t)))
        .collect()
}

/// The destinations of a list that the launcher ignores (neither `stderr` nor absolute), e.g.
/// `["debug.log"]` for `stderr,debug.log`.
pub fn ignored(value: &[u8]) -> Vec<String> {
    destinations(value)
        .filter(|t| !t.starts_with(b"/") && *t != b"stderr" && !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

/// The entries of a destination list, trimmed, without `file://`.
fn destinations(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&c| c == b',')
        .map(|t| t.trim_ascii())
        .map(|t| t.strip_prefix(b"file://").unwrap_or(t))
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
        assert_eq!(
            ignored(b"stderr, file://x.log,/a.log, logs/b.log"),
            ["x.log", "logs/b.log"]
        );
    }
}
