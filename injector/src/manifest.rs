//! The manifest of a package version: every directory, file and symbolic link it holds, with
//! each file's size, SHA-256 and whether it is executable. `make dist` and `make libraries`
//! write it (`apm-inject manifest DIR`) as `DIR/.apm-inject-manifest`; `install` copies exactly
//! what it lists, checking every byte against it, and refuses a staged copy that differs from
//! it before any `stable` link moves; `doctor` checks installed versions against it.
//!
//! A package shipped without one (built by hand, or by another tool) gets one computed from
//! its files at install time, so that the installed copy always has one.
//!
//! ```json
//! {"format": "apm-inject-manifest", "version": 1, "entries": [
//!   {"path": "inject", "kind": "dir"},
//!   {"path": "inject/apm-inject", "kind": "file", "size": 123, "sha256": "9f…", "executable": true},
//!   {"path": "inject/telemetry-forward", "kind": "link", "target": "apm-inject"}]}
//! ```
//! Paths are relative to the version directory, parents before children; names must be UTF-8.

use crate::{errors, signals, tree};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// The manifest's file name inside a version directory.
pub const FILE_NAME: &str = ".apm-inject-manifest";
/// The `format` field.
const FORMAT: &str = "apm-inject-manifest";
/// The `version` field this CLI reads and writes.
const VERSION: u32 = 1;
/// Largest manifest read.
const MAX_SIZE: u64 = 64 << 20;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// Size in bytes.
        size: u64,
        /// SHA-256 of the content, lower-case hexadecimal.
        sha256: String,
        /// Installed 0755 rather than 0644.
        executable: bool,
    },
    /// A symbolic link.
    Link {
        /// What it points to, as written.
        target: String,
    },
}

/// One entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative path, e.g. `inject/apm-inject`.
    pub path: String,
    /// What it is.
    #[serde(flatten)]
    pub kind: Kind,
}

/// A version directory's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    format: String,
    version: u32,
    /// The entries, parents before children.
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// The manifest of the tree at `dir` as it is now (its own manifest file left out).
    pub fn of_tree(dir: &Path) -> Result<Manifest, String> {
        let mut entries = Vec::new();
        for entry in tree::walk(dir)? {
            let relative = entry.path.strip_prefix(dir).expect("walked under dir");
            if relative == Path::new(FILE_NAME) {
                continue;
            }
            let path = utf8(relative, &entry.path)?;
            let kind = entry.meta.file_type();
            let kind = if kind.is_dir() {
                Kind::Dir
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&entry.path)
                    .map_err(errors::io("read link", &entry.path))?;
                Kind::Link {
                    target: utf8(&target, &entry.path)?,
                }
            } else if kind.is_file() {
                let (size, sha256) = hash_file(&entry.path)?;
                Kind::File {
                    size,
                    sha256,
                    executable: entry.meta.mode() & 0o111 != 0,
                }
            } else {
                return Err(format!(
                    "{} is not a file, directory or symbolic link: packages may not contain it",
                    entry.path.display()
                ));
            };
            entries.push(Entry { path, kind });
        }
        Ok(Manifest {
            format: FORMAT.into(),
            version: VERSION,
            entries,
        })
    }

    /// Copies what the manifest lists from directory `source` to `target`, which must not
    /// exist: directories 0755, files 0644 (0755 if listed as executable), symbolic links as
    /// listed, everything owned by root, whatever the umask. Each file's bytes are hashed as
    /// they are copied and must match the manifest; files in `source` that it does not list
    /// are left out. Stops early, with an error, when a terminating signal is pending.
    pub fn copy(&self, source: &Path, target: &Path) -> Result<(), String> {
        tree::create_dir(target)?;
        for entry in &self.entries {
            if let Some(signal) = signals::pending() {
                return Err(format!("interrupted by {}", signals::name(signal)));
            }
            let from = source.join(&entry.path);
            let to = target.join(&entry.path);
            match &entry.kind {
                Kind::Dir => tree::create_dir(&to)?,
                Kind::File {
                    size,
                    sha256,
                    executable,
                } => {
                    let copied = copy_file(&from, &to)?;
                    if copied != (*size, sha256.clone()) {
                        return Err(format!(
                            "{} differs from its package's manifest ({} bytes copied, {size} \
                             listed, or different content): the package is damaged",
                            from.display(),
                            copied.0
                        ));
                    }
                    tree::settle_file(&to, *executable)?;
                }
                Kind::Link { target: link } => {
                    let actual =
                        std::fs::read_link(&from).map_err(errors::io("read link", &from))?;
                    if actual != Path::new(link) {
                        return Err(format!(
                            "{} points to {}, not {link} as its package's manifest says",
                            from.display(),
                            actual.display()
                        ));
                    }
                    tree::create_link(link, &to)?;
                }
            }
        }
        Ok(())
    }

    /// The manifest shipped in `dir`, if it has one; an error if it is unreadable or invalid.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, String> {
        let path = dir.join(FILE_NAME);
        let meta = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            other => other.map_err(errors::io("inspect", &path))?,
        };
        if !meta.is_file() || meta.len() > MAX_SIZE {
            return Err(format!(
                "{} must be a regular file of at most {MAX_SIZE} bytes",
                path.display()
            ));
        }
        let bytes = std::fs::read(&path).map_err(errors::io("read", &path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a manifest: {e}", path.display()))?;
        manifest
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Some(manifest))
    }

    /// Writes the manifest into `dir` (mode 0644); returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(FILE_NAME);
        let mut text = serde_json::to_vec_pretty(self).expect("serialisable");
        text.push(b'\n');
        std::fs::write(&path, text)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)))
            .map_err(errors::io("write", &path))?;
        Ok(path)
    }

    /// Checks what a manifest from elsewhere may not do: name paths outside its directory,
    /// list a child before its parent, list a path twice, or list itself.
    fn validate(&self) -> Result<(), String> {
        if self.format != FORMAT || self.version != VERSION {
            return Err(format!(
                "format {} version {} is not {FORMAT} version {VERSION}",
                self.format, self.version
            ));
        }
        let mut dirs: BTreeMap<&str, ()> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for entry in &self.entries {
            let path = Path::new(&entry.path);
            let plain = !entry.path.is_empty()
                && path.components().all(|c| matches!(c, Component::Normal(_)))
                && !entry.path.ends_with('/');
            if !plain || entry.path == FILE_NAME {
                return Err(format!("invalid path {:?}", entry.path));
            }
            if !seen.insert(entry.path.as_str()) {
                return Err(format!("{:?} is listed twice", entry.path));
            }
            if let Some(parent) = entry.path.rsplit_once('/').map(|(p, _)| p) {
                if !dirs.contains_key(parent) {
                    return Err(format!(
                        "{:?} is listed before its directory {parent:?}",
                        entry.path
                    ));
                }
            }
            if entry.kind == Kind::Dir {
                dirs.insert(&entry.path, ());
            }
        }
        Ok(())
    }

    /// How the tree at `dir` differs from the manifest, one line per difference (at most
    /// `limit`), e.g. `missing: inject/apm-inject`; with `contents`, file contents are hashed
    /// and compared too, otherwise only kinds, sizes, modes and link targets.
    pub fn differences(&self, dir: &Path, contents: bool, limit: usize) -> Vec<String> {
        let mut found = Vec::new();
        let mut listed = std::collections::BTreeSet::new();
        for entry in &self.entries {
            listed.insert(entry.path.as_str());
            if let Some(difference) = differs(&dir.join(&entry.path), entry, contents) {
                found.push(difference);
            }
        }
        match tree::walk(dir) {
            Ok(entries) => {
                for entry in entries {
                    let relative = entry.path.strip_prefix(dir).expect("walked under dir");
                    let name = relative.to_string_lossy();
                    if relative != Path::new(FILE_NAME) && !listed.contains(name.as_ref()) {
                        found.push(format!("not in the manifest: {name}"));
                    }
                }
            }
            Err(e) => found.push(e),
        }
        found.truncate(limit);
        found
    }
}

/// How the thing at `path` differs from `entry`, if it does.
fn differs(path: &Path, entry: &Entry, contents: bool) -> Option<String> {
    let name = &entry.path;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Some(format!("missing: {name}"));
    };
    let kind = meta.file_type();
    match &entry.kind {
        Kind::Dir if kind.is_dir() => None,
        Kind::Link { target } if kind.is_symlink() => match std::fs::read_link(path) {
            Ok(actual) if actual == Path::new(target) => None,
            _ => Some(format!("link changed: {name} (should point to {target})")),
        },
        Kind::File {
            size,
            sha256,
            executable,
        } if kind.is_file() => {
            if meta.len() != *size {
                return Some(format!(
                    "size changed: {name} ({} bytes, {size} expected)",
                    meta.len()
                ));
            }
            if (meta.mode() & 0o111 != 0) != *executable {
                return Some(format!("executable bit changed: {name}"));
            }
            if contents && hash_file(path).map(|(_, h)| h).as_ref() != Ok(sha256) {
                return Some(format!("content changed: {name}"));
            }
            None
        }
        _ => Some(format!("type changed: {name}")),
    }
}

/// Copies regular file `from` (never through a symbolic link) to new file `to`, with its
/// modification time (Python's byte-code caches are only valid with their sources' times: a
/// copy with new times would make every Python process as root rewrite them in the package);
/// returns the size and SHA-256 of what was copied.
fn copy_file(from: &Path, to: &Path) -> Result<(u64, String), String> {
    let mut source = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(tree::NO_FOLLOW | tree::NON_BLOCKING)
        .open(from)
        .map_err(errors::io("read", from))?;
    let meta = source.metadata().map_err(errors::io("inspect", from))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", from.display()));
    }
    let mut target = tree::create_file(to)?;
    let mut tee = Tee {
        reader: &mut source,
        writer: &mut target,
    };
    let copied = hash_reader(&mut tee).map_err(errors::io("copy to", to))?;
    let modified = meta.modified().map_err(errors::io("inspect", from))?;
    target
        .set_times(std::fs::FileTimes::new().set_modified(modified))
        .map_err(errors::io("set the time of", to))?;
    Ok(copied)
}

/// A reader that writes what it reads.
struct Tee<'a> {
    reader: &'a mut std::fs::File,
    writer: &'a mut std::fs::File,
}

impl Read for Tee<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buffer)?;
        self.writer.write_all(&buffer[..n])?;
        Ok(n)
    }
}

/// A path as UTF-8, or an error naming `what`.
fn utf8(path: &Path, what: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{}: names in packages must be UTF-8 text", what.display()))
}

/// Size and SHA-256 of the file at `path`.
pub fn hash_file(path: &Path) -> Result<(u64, String), String> {
    let mut file = std::fs::File::open(path).map_err(errors::io("read", path))?;
    hash_reader(&mut file).map_err(errors::io("read", path))
}

/// Size and SHA-256 of everything `reader` yields.
pub fn hash_reader(reader: &mut impl Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `apm-inject manifest DIR`: writes the manifest of version directory `DIR` into it.
pub fn run(dir: &Path) -> Result<(), String> {
    let manifest = Manifest::of_tree(dir)?;
    manifest.write(dir)?;
    crate::output::say!(
        "{}: {} entries",
        dir.join(FILE_NAME).display(),
        manifest.entries.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(entries: &[(&str, Kind)]) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            entries: entries
                .iter()
                .map(|(p, k)| Entry {
                    path: p.to_string(),
                    kind: k.clone(),
                })
                .collect(),
        }
    }

    fn link(target: &str) -> Kind {
        Kind::Link {
            target: target.into(),
        }
    }

    #[test]
    fn paths_must_stay_inside_and_follow_their_parents() {
        assert!(manifest(&[("a", Kind::Dir), ("a/b", link("x"))])
            .validate()
            .is_ok());
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "./a", FILE_NAME] {
            assert!(
                manifest(&[("a", Kind::Dir), (bad, link("x"))])
                    .validate()
                    .is_err(),
                "{bad}"
            );
        }
        assert!(manifest(&[("a/b", link("x")), ("a", Kind::Dir)])
            .validate()
            .is_err());
        assert!(manifest(&[("a", Kind::Dir), ("a", Kind::Dir)])
            .validate()
            .is_err());
    }

    #[test]
    fn a_tree_round_trips_through_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("inject")).unwrap();
        std::fs::write(dir.path().join("inject/a.txt"), "abc").unwrap();
        std::os::unix::fs::symlink("a.txt", dir.path().join("inject/b")).unwrap();
        let m = Manifest::of_tree(dir.path()).unwrap();
        assert_eq!(
            m.entries[1].kind,
            Kind::File {
                size: 3,
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
                executable: false
            }
        );
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), Some(m.clone()));
        assert!(m.differences(dir.path(), true, 10).is_empty());

        std::fs::write(dir.path().join("inject/a.txt"), "abd").unwrap();
        std::fs::write(dir.path().join("inject/c"), "").unwrap();
        std::fs::remove_file(dir.path().join("inject/b")).unwrap();
        assert_eq!(
            m.differences(dir.path(), true, 10),
            [
                "content changed: inject/a.txt",
                "missing: inject/b",
                "not in the manifest: inject/c"
            ]
        );
        assert_eq!(
            m.differences(dir.path(), false, 10),
            ["missing: inject/b", "not in the manifest: inject/c"]
        );
    }
}
