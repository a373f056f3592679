//! Directory trees: walking, creating and copying with the modes and owner packages must have,
//! removing, listing.

use crate::errors;
use std::fs::{self, Metadata, Permissions};
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of installed directories and executables.
const EXECUTABLE: u32 = 0o755;
/// Mode of installed non-executable files.
const READABLE: u32 = 0o644;

/// One entry found by [`walk`].
pub struct Entry {
    /// Full path.
    pub path: PathBuf,
    /// Its metadata (of the link itself for a symbolic link).
    pub meta: Metadata,
}

/// Every entry under `dir` (not `dir` itself), parents before children, in name order;
/// symbolic links are listed, not followed.
pub fn walk(dir: &Path) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(errors::io("read", dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(errors::io("read", dir))?;
    names.sort();
    for path in names {
        let meta = fs::symlink_metadata(&path).map_err(errors::io("inspect", &path))?;
        let is_dir = meta.is_dir();
        entries.push(Entry {
            path: path.clone(),
            meta,
        });
        if is_dir {
            entries.extend(walk(&path)?);
        }
    }
    Ok(entries)
}

/// Copies directory `source` to `target`, which must not exist: directories 0755, files 0644
/// (0755 if anyone may execute the source) with their modification times (Python's
/// timestamp byte-code stays valid, so no interpreter rewrites it), symbolic links as they
/// are, everything owned by root, whatever the umask. Other file types (FIFOs, devices, sockets) are refused.
pub fn copy(source: &Path, target: &Path) -> Result<(), String> {
    fs::create_dir(target).map_err(errors::io("create", target))?;
    settle(target, EXECUTABLE)?;
    for entry in walk(source)? {
        let relative = entry
            .path
            .strip_prefix(source)
            .expect("walked under source");
        let to = target.join(relative);
        let kind = entry.meta.file_type();
        if kind.is_dir() {
            fs::create_dir(&to).map_err(errors::io("create", &to))?;
            settle(&to, EXECUTABLE)?;
        } else if kind.is_file() {
            fs::copy(&entry.path, &to).map_err(errors::io("copy to", &to))?;
            keep_time(&entry.meta, &to)?;
            let executable = entry.meta.mode() & 0o111 != 0;
            settle(&to, if executable { EXECUTABLE } else { READABLE })?;
        } else if kind.is_symlink() {
            let link = fs::read_link(&entry.path).map_err(errors::io("read link", &entry.path))?;
            std::os::unix::fs::symlink(&link, &to).map_err(errors::io("create link", &to))?;
            lchown(&to, Some(0), Some(0)).map_err(errors::io("change owner of", &to))?;
        } else {
            return Err(format!(
                "{} is not a file, directory or symbolic link: packages may not contain it",
                entry.path.display()
            ));
        }
    }
    Ok(())
}

/// Gives the copy `to` the modification time of the original, whose metadata is `from`.
fn keep_time(from: &Metadata, to: &Path) -> Result<(), String> {
    let time = from
        .modified()
        .map_err(errors::io("read the time of", to))?;
    fs::File::options()
        .write(true)
        .open(to)
        .and_then(|f| f.set_modified(time))
        .map_err(errors::io("set the time of", to))
}

/// Gives `path` (not a symbolic link) its mode and root as owner.
fn settle(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(errors::io("change mode of", path))?;
    lchown(path, Some(0), Some(0)).map_err(errors::io("change owner of", path))
}

/// Creates `dir` and its missing parents, each 0755 and owned by root.
pub fn create_dir_all(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent)?;
    }
    fs::create_dir(dir).map_err(errors::io("create", dir))?;
    settle(dir, EXECUTABLE)
}

/// Makes the entries of directory `dir` (renames, new links) durable.
pub fn sync_dir(dir: &Path) -> Result<(), String> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(errors::io("sync", dir))
}

/// Makes everything written on the filesystem holding `dir` durable.
pub fn sync_filesystem(dir: &Path) -> Result<(), String> {
    let file = fs::File::open(dir).map_err(errors::io("open", dir))?;
    rustix::fs::syncfs(&file)
        .map_err(|e| format!("cannot sync the filesystem of {}: {e}", dir.display()))
}

/// Removes directory tree `dir`; nothing to do if it is missing.
pub fn remove(dir: &Path) -> Result<(), String> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(errors::io("remove", dir)),
    }
}

/// An `ls -l`-like line for an entry, its path shown relative to `base`, e.g.
/// `-rwxr-xr-x 0:0 1234 datadog-apm-inject/1.0/inject/apm-inject`.
pub fn describe(entry: &Entry, base: &Path) -> String {
    let kind = entry.meta.file_type();
    let letter = if kind.is_dir() {
        'd'
    } else if kind.is_symlink() {
        'l'
    } else if kind.is_file() {
        '-'
    } else {
        '?'
    };
    let mode = entry.meta.mode();
    let bits: String = (0..9)
        .map(|i| {
            if mode & (0o400 >> i) == 0 {
                '-'
            } else {
                ['r', 'w', 'x'][i % 3]
            }
        })
        .collect();
    let relative = entry.path.strip_prefix(base).unwrap_or(&entry.path);
    let mut line = format!(
        "{letter}{bits} {}:{} {} {}",
        entry.meta.uid(),
        entry.meta.gid(),
        entry.meta.len(),
        relative.display()
    );
    if kind.is_symlink() {
        if let Ok(target) = fs::read_link(&entry.path) {
            line += &format!(" -> {}", target.display());
        }
    }
    line
}
