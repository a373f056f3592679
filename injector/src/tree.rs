//! Directory trees: walking, creating and copying with the modes and owner packages must have,
//! removing, listing.

use crate::errors;
use std::fs::{self, Metadata, Permissions};
use std::os::unix::fs::{lchown, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of installed directories and executables.
const EXECUTABLE: u32 = 0o755;
/// Mode of installed non-executable files.
const READABLE: u32 = 0o644;
/// `O_NOFOLLOW`: never open through a symbolic link.
pub const NO_FOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
/// `O_NONBLOCK`: opening a FIFO must not wait for a writer.
pub const NON_BLOCKING: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;

/// The directory holding `path`, `/` for `/` itself, e.g. `/etc` for `/etc/ld.so.preload`.
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("/"))
}

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

/// Gives installed file `path` mode 0644 (0755 if `executable`) and root as owner.
pub fn settle_file(path: &Path, executable: bool) -> Result<(), String> {
    settle(path, if executable { EXECUTABLE } else { READABLE })
}

/// Creates directory `dir`, which must not exist yet, 0755 and owned by root.
pub fn create_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir(dir).map_err(errors::io("create", dir))?;
    settle(dir, EXECUTABLE)
}

/// Creates file `path`, which must not exist yet, for writing (0644 until [`settle_file`]).
pub fn create_file(path: &Path) -> Result<fs::File, String> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(READABLE)
        .open(path)
        .map_err(errors::io("create", path))
}

/// Creates symbolic link `link` pointing to `target`, owned by root.
pub fn create_link(target: &str, link: &Path) -> Result<(), String> {
    std::os::unix::fs::symlink(target, link).map_err(errors::io("create link", link))?;
    lchown(link, Some(0), Some(0)).map_err(errors::io("change owner of", link))
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
    create_dir(dir)
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
