//! One package directory: versions side by side and a `stable` link naming the active one.
//!
//! A new version is copied under a hidden staging name first (`.<version>.staging`), checked
//! against its manifest, and proven before anything uses it; it then takes its version name
//! (atomically exchanged with an existing copy of the same version) and `stable` is switched by
//! renaming a new link (`.stable.new`) over it. [`unswitch`] undoes that from whatever state
//! an interruption left.

use crate::errors;
use crate::layout::{is_plain_name, STABLE};
use crate::manifest::Manifest;
use crate::tree;
use rustix::fs::{renameat_with, RenameFlags, CWD};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The temporary name of the new `stable` link.
const NEW_STABLE: &str = ".stable.new";
/// Suffix of staging copies.
const STAGING_SUFFIX: &str = ".staging";
/// How many differences a failed check lists.
const LISTED_DIFFERENCES: usize = 5;

/// A package directory, e.g. `/opt/datadog-packages/datadog-apm-library-python`.
pub struct Package {
    /// The directory.
    pub dir: PathBuf,
}

impl Package {
    /// The version `stable` names, e.g. `1.0.0`; `None` without a usable link.
    pub fn stable_version(&self) -> Option<OsString> {
        let version = fs::read_link(self.dir.join(STABLE)).ok()?;
        is_plain_name(&version).then(|| version.into_os_string())
    }

    /// Copies what `manifest` lists of `source` into the package under its staging name, to
    /// become `version`; checks the copy against the manifest and writes the manifest into it.
    /// Returns the staging copy's inode.
    pub fn stage(&self, source: &Path, version: &str, manifest: &Manifest) -> Result<u64, String> {
        tree::create_dir_all(&self.dir)?;
        let staged = staging_dir(&self.dir, version);
        tree::remove(&staged)?;
        manifest.copy(source, &staged)?;
        let differences = manifest.differences(&staged, false, LISTED_DIFFERENCES);
        if !differences.is_empty() {
            return Err(format!(
                "the copy in {} differs from its manifest: {}",
                staged.display(),
                differences.join("; ")
            ));
        }
        tree::settle_file(&manifest.write(&staged)?, false)?;
        let meta = fs::symlink_metadata(&staged).map_err(errors::io("inspect", &staged))?;
        Ok(meta.ino())
    }
}

/// The staging copy of `version` in package directory `dir`.
pub fn staging_dir(dir: &Path, version: &str) -> PathBuf {
    dir.join(format!(".{version}{STAGING_SUFFIX}"))
}

/// Whether `name`, in a package directory, is one only an interrupted change leaves.
pub fn is_temporary_name(name: &str) -> bool {
    name == NEW_STABLE || (name.starts_with('.') && name.ends_with(STAGING_SUFFIX))
}

/// The manifest to install `source` with: the one it ships, else one computed from it.
pub fn manifest_of(source: &Path) -> Result<(Manifest, bool), String> {
    Ok(match Manifest::read(source)? {
        Some(m) => (m, true),
        None => (Manifest::of_tree(source)?, false),
    })
}

/// Puts the staged copy of `version` in place in package directory `dir` (exchanged with the
/// copy already there when `replaces`) and points `stable` at it.
pub fn switch(dir: &Path, version: &str, replaces: bool) -> Result<(), String> {
    let staged = staging_dir(dir, version);
    let target = dir.join(version);
    let flags = if replaces {
        RenameFlags::EXCHANGE
    } else {
        RenameFlags::NOREPLACE
    };
    renameat_with(CWD, &staged, CWD, &target, flags)
        .map_err(|e| format!("cannot put {} in place: {e}", target.display()))?;
    point_stable(dir, version)
}

/// Undoes [`switch`] from whatever state it reached: `stable` names `previous` again (or goes,
/// if there was none), the new copy (`staged_inode`) leaves the version name and the staging
/// copy goes.
pub fn unswitch(
    dir: &Path,
    version: &str,
    previous: Option<&str>,
    replaces: bool,
    staged_inode: Option<u64>,
) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    let stable = dir.join(STABLE);
    match previous {
        Some(previous) if fs::read_link(&stable).ok().as_deref() != Some(Path::new(previous)) => {
            point_stable(dir, previous)?
        }
        Some(_) => {}
        None => match fs::remove_file(&stable) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot remove {}: {e}", stable.display()))
            }
            _ => {}
        },
    }
    let staged = staging_dir(dir, version);
    let target = dir.join(version);
    let inode = |path: &Path| fs::symlink_metadata(path).ok().map(|m| m.ino());
    if staged_inode.is_some() && inode(&target) == staged_inode {
        let flags = if replaces {
            RenameFlags::EXCHANGE
        } else {
            RenameFlags::NOREPLACE
        };
        renameat_with(CWD, &target, CWD, &staged, flags)
            .map_err(|e| format!("cannot take {} back: {e}", target.display()))?;
    }
    tree::remove(&staged)?;
    let _ = fs::remove_file(dir.join(NEW_STABLE));
    tree::sync_dir(dir)
}

/// Points `stable` in `dir` at `version`, atomically.
fn point_stable(dir: &Path, version: &str) -> Result<(), String> {
    let link = dir.join(NEW_STABLE);
    let stable = dir.join(STABLE);
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(version, &link).map_err(errors::io("create", &link))?;
    fs::rename(&link, &stable).map_err(errors::io("switch", &stable))?;
    tree::sync_dir(dir)
}

/// Checks installed version directory `dir` against its manifest (every byte): the
/// differences found, at most `limit`; `None` if it has no manifest.
pub fn verify(dir: &Path, limit: usize) -> Result<Option<Vec<String>>, String> {
    Ok(Manifest::read(dir)?.map(|m| m.differences(dir, true, limit)))
}
