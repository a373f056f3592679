//! One package directory: versions side by side and a `stable` link naming the active one.
//!
//! A new version is copied under a hidden staging name first, so that it can be proven before
//! anything uses it; it then takes its version name (atomically exchanged with an existing
//! copy of the same version) and `stable` is switched by renaming a new link over it.

use crate::errors;
use crate::layout::{is_plain_name, STABLE};
use crate::output::say_err;
use crate::tree;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

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

    /// Copies `source` into the package under a staging name, to become `version`.
    pub fn stage(&self, source: &Path, version: &OsStr) -> Result<Staged, String> {
        if !source.is_dir() {
            return Err(format!("{} is missing", source.display()));
        }
        tree::create_dir_all(&self.dir)?;
        let mut staging_name = OsString::from(".");
        staging_name.push(version);
        staging_name.push(".staging");
        let staged = Staged {
            package: self.dir.clone(),
            version: version.to_os_string(),
            dir: self.dir.join(staging_name),
        };
        tree::remove(&staged.dir)?;
        tree::copy(source, &staged.dir)?;
        Ok(staged)
    }
}

/// A version copied into its package but not in use yet. Dropping it removes the staging
/// directory (the new copy if never committed, the replaced copy of the same version if
/// committed).
pub struct Staged {
    package: PathBuf,
    version: OsString,
    dir: PathBuf,
}

impl Staged {
    /// The staged copy.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Puts the copy in place as its version and points `stable` at it. Returns the version
    /// directory `stable` named before, if another one: still in use until every reference to
    /// it is gone, so the caller removes it later.
    pub fn commit(self) -> Result<Option<PathBuf>, String> {
        let package = Package {
            dir: self.package.clone(),
        };
        let previous = package.stable_version();
        let target = self.package.join(&self.version);
        if fs::symlink_metadata(&target).is_ok() {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &self.dir,
                rustix::fs::CWD,
                &target,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .map_err(|e| format!("cannot replace {}: {e}", target.display()))?;
        } else {
            fs::rename(&self.dir, &target).map_err(errors::io("create", &target))?;
        }
        let link = self.package.join(".stable.new");
        let stable = self.package.join(STABLE);
        let _ = fs::remove_file(&link); // a leftover of an interrupted install
        std::os::unix::fs::symlink(&self.version, &link).map_err(errors::io("create", &link))?;
        fs::rename(&link, &stable).map_err(errors::io("switch", &stable))?;
        tree::sync_dir(&self.package)?;
        Ok(previous
            .filter(|v| *v != self.version)
            .map(|v| self.package.join(v)))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Err(message) = tree::remove(&self.dir) {
            say_err!("apm-inject: {message}");
        }
    }
}
