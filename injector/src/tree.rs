//! Directory trees: walking, creating and copying with the modes and owner packages must have,
//! removing, listing.

use crate::manifest::{self, Kind, Manifest};
use crate::{errors, signals};
use std::fs::{self, Metadata, Permissions};
use std::io::Write;
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

/// Copies what `manifest` lists from directory `source` to `target`, which must not exist:
/// directories 0755, files 0644 (0755 if listed as executable), symbolic links as listed,
/// everything owned by root, whatever the umask. Each file's bytes are hashed as they are
/// copied and must match the manifest; files in `source` that it does not list are left out.
/// Stops early, with an error, when a terminating signal is pending.
pub fn copy(source: &Path, target: &Path, manifest: &Manifest) -> Result<(), String> {
    fs::create_dir(target).map_err(errors::io("create", target))?;
    settle(target, EXECUTABLE)?;
    for entry in &manifest.entries {
        if let Some(signal) = signals::pending() {
            return Err(format!("interrupted by {}", signals::name(signal)));
        }
        let from = source.join(&entry.path);
        let to = target.join(&entry.path);
        match &entry.kind {
            Kind::Dir => {
                fs::create_dir(&to).map_err(errors::io("create", &to))?;
                settle(&to, EXECUTABLE)?;
            }
            Kind::File {
                size,
                sha256,
                executable,
            } => {
                let copied = copy_file(&from, &to)?;
                if copied != (*size, sha256.clone()) {
                    return Err(format!(
                        "{} differs from its package's manifest ({} bytes copied, {size} listed, or \
                         different content): the package is damaged",
                        from.display(),
                        copied.0
                    ));
                }
                settle(&to, if *executable { EXECUTABLE } else { READABLE })?;
            }
            Kind::Link { target: link } => {
                let actual = fs::read_link(&from).map_err(errors::io("read link", &from))?;
                if actual != Path::new(link) {
                    return Err(format!(
                        "{} points to {}, not {link} as its package's manifest says",
                        from.display(),
                        actual.display()
                    ));
                }
                std::os::unix::fs::symlink(link, &to).map_err(errors::io("create link", &to))?;
                lchown(&to, Some(0), Some(0)).map_err(errors::io("change owner of", &to))?;
            }
        }
    }
    Ok(())
}

/// Copies regular file `from` (never through a symbolic link) to new file `to`, with its
/// modification time (Python's byte-code caches are only valid with their sources' times: a
/// copy with new times would make every Python process as root rewrite them in the package);
/// returns the size and SHA-256 of what was copied.
fn copy_file(from: &Path, to: &Path) -> Result<(u64, String), String> {
    let mut source = fs::OpenOptions::new()
        .read(true)
        .custom_flags(NO_FOLLOW | NON_BLOCKING)
        .open(from)
        .map_err(errors::io("read", from))?;
    let meta = source.metadata().map_err(errors::io("inspect", from))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", from.display()));
    }
    let mut target = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(READABLE)
        .open(to)
        .map_err(errors::io("create", to))?;
    let mut tee = Tee {
        reader: &mut source,
        writer: &mut target,
    };
    let copied = manifest::hash_reader(&mut tee).map_err(errors::io("copy to", to))?;
    let modified = meta.modified().map_err(errors::io("inspect", from))?;
    target
        .set_times(fs::FileTimes::new().set_modified(modified))
        .map_err(errors::io("set the time of", to))?;
    Ok(copied)
}

/// A reader that writes what it reads.
struct Tee<'a> {
    reader: &'a mut fs::File,
    writer: &'a mut fs::File,
}

impl std::io::Read for Tee<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buffer)?;
        self.writer.write_all(&buffer[..n])?;
        Ok(n)
    }
}

/// Gives installed file `path` mode 0644 and root as owner.
pub fn settle_file(path: &Path) -> Result<(), String> {
    settle(path, READABLE)
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
