//! Reading and replacing a system file such as `/etc/ld.so.preload`, which every process
//! start reads: readers see the old content or the new, never a partial file.
//!
//! The new content is written to a temporary file beside it (mode 0644, owned by root), made
//! durable, then renamed over the file; the previous content is kept in
//! `<file>.apm-inject-backup`. Anything but a regular file (a directory, a FIFO, a symbolic
//! link) is refused, never read or replaced.

use crate::errors;
use crate::tree::{self, NON_BLOCKING, NO_FOLLOW};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{fchown, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the files written.
const MODE: u32 = 0o644;
/// Suffix of the copy of a file's previous content.
pub const BACKUP_SUFFIX: &str = ".apm-inject-backup";
/// Between a temporary file's name and the writer's pid.
const TEMPORARY_INFIX: &str = ".apm-inject-";

/// The content of `path`, `None` if it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other.map_err(errors::io("inspect", path))?,
    };
    let kind = meta.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_symlink() {
            "a symbolic link"
        } else {
            "not a regular file"
        };
        return Err(format!(
            "{} is {what}; it must be a regular file: move it away, then retry",
            path.display()
        ));
    }
    let mut content = Vec::new();
    OpenOptions::new()
        .read(true)
        .custom_flags(NO_FOLLOW | NON_BLOCKING)
        .open(path)
        .and_then(|mut f| f.read_to_end(&mut content))
        .map_err(errors::io("read", path))?;
    Ok(Some(content))
}

/// Replaces `path`, whose content is `previous`, with `content`; `None` removes it. If this
/// fails before the final rename (or removal), `path` was never touched; if the result cannot
/// be confirmed afterwards, `previous` is put back.
pub fn replace(path: &Path, previous: Option<&[u8]>, content: Option<&[u8]>) -> Result<(), String> {
    if let Some(previous) = previous {
        write(&backup(path), previous)?;
    }
    match content {
        Some(content) => write(path, content)?,
        None => fs::remove_file(path).map_err(errors::io("remove", path))?,
    }
    let Err(message) = confirm(path, content) else {
        return Ok(());
    };
    let restored = match previous {
        Some(previous) => write(path, previous),
        None => fs::remove_file(path)
            .or_else(ignore_missing)
            .map_err(errors::io("remove", path)),
    };
    Err(match restored {
        Ok(()) => format!("{message}; its previous content was put back"),
        Err(e) => format!("{message}; putting its previous content back failed too: {e}"),
    })
}

/// Where the previous content of `path` is kept until the change is committed, e.g.
/// `/etc/ld.so.preload.apm-inject-backup`.
pub fn backup(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(BACKUP_SUFFIX);
    PathBuf::from(name)
}

/// Whether `name` is the name of a temporary file [`write`] makes (and only an interrupted
/// run leaves), e.g. `.ld.so.preload.apm-inject-1234`.
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(TEMPORARY_INFIX)
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes `content` to `path` atomically and durably (directory included).
pub fn write_durably(path: &Path, content: &[u8]) -> Result<(), String> {
    write(path, content)?;
    tree::sync_dir(tree::parent_dir(path))
}

/// Checks that `path` now holds `content` (`None`: is gone), durably.
fn confirm(path: &Path, content: Option<&[u8]>) -> Result<(), String> {
    tree::sync_dir(tree::parent_dir(path))?;
    if read(path)?.as_deref() != content {
        return Err(format!("{} does not hold what was written", path.display()));
    }
    Ok(())
}

/// Writes `content` to `path` through a temporary file renamed over it.
fn write(path: &Path, content: &[u8]) -> Result<(), String> {
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(path.file_name().unwrap_or_default());
    temp_name.push(format!("{TEMPORARY_INFIX}{}", std::process::id()));
    let temp = tree::parent_dir(path).join(temp_name);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(MODE)
        .custom_flags(NO_FOLLOW)
        .open(&temp)
        .map_err(errors::io("create", &temp))
        .and_then(|mut file| {
            file.write_all(content)
                .and_then(|()| file.set_permissions(fs::Permissions::from_mode(MODE)))
                .and_then(|()| fchown(&file, Some(0), Some(0)))
                .and_then(|()| file.sync_all())
                .map_err(errors::io("write", &temp))
        })
        .and_then(|()| fs::rename(&temp, path).map_err(errors::io("replace", path)));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}
