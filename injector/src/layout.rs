//! Where things are inside a root (`/`, or a container image's filesystem given with `--root`)
//! and in the package tree this CLI was shipped in.
//!
//! ```text
//! <root>/etc/ld.so.preload
//! <root>/opt/datadog-packages/datadog-apm-inject/<version>/inject/{launcher.preload.so,apm-inject}
//! <root>/opt/datadog-packages/datadog-apm-inject/<version>/inject/$LIB/launcher.preload.so (per loader)
//! <root>/opt/datadog-packages/datadog-apm-inject/stable -> <version>
//! <root>/opt/datadog-packages/datadog-apm-library-<lang>/<version>/, stable -> <version>
//! ```

use crate::errors;
pub use contract::layout::{
    is_library_package, CLI, DEFAULT_ROOT, INJECT_PACKAGE, LAUNCHER, LIBRARY_PREFIX, STABLE,
};
use contract::layout::{LIB_TOKEN, STABLE_LAUNCHER};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// The launcher as `/etc/ld.so.preload` lists it, through `stable`:
/// `/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so`.
pub fn stable_launcher() -> PathBuf {
    PathBuf::from(STABLE_LAUNCHER)
}

/// The launcher inside an injector version directory, as preload lists name it:
/// `<dir>/inject/$LIB/launcher.preload.so`. glibc's loader expands `$LIB` to its own library
/// directory (`lib/x86_64-linux-gnu`, `lib64`, `lib32`, `lib/aarch64-linux-gnu`, …), where the
/// package has the real launcher or a no-op object of that class and machine
/// (`scripts/noop_preload.py`); musl opens the literal `$LIB/`, which holds the real launcher.
pub fn launcher_in(version_dir: &Path) -> PathBuf {
    version_dir.join("inject").join(LIB_TOKEN).join(LAUNCHER)
}

/// Whether `name` is a single plain file name (no `/`, not `.` or `..`), e.g. a version.
pub fn is_plain_name(name: &Path) -> bool {
    let mut components = name.components();
    matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    )
}

/// A filesystem root: `/` for this host, or a container image's directory.
pub struct Root {
    /// The root directory, absolute and canonical.
    pub dir: PathBuf,
}

impl Root {
    /// The root at `dir`, which must be an existing directory.
    pub fn new(dir: &Path) -> Result<Root, String> {
        let dir = dir.canonicalize().map_err(errors::io("use root", dir))?;
        if !dir.is_dir() {
            return Err(format!("root {} is not a directory", dir.display()));
        }
        Ok(Root { dir })
    }

    /// Whether this is the host's own root, `/`.
    pub fn is_host(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// Where a path as seen inside the root is from here, e.g. `/opt/x` -> `<root>/opt/x`.
    pub fn path(&self, inside: &Path) -> PathBuf {
        self.dir.join(inside.strip_prefix("/").unwrap_or(inside))
    }

    /// A path under the root as seen inside it, e.g. `<root>/opt/x` -> `/opt/x`.
    pub fn inside(&self, path: &Path) -> PathBuf {
        Path::new("/").join(path.strip_prefix(&self.dir).unwrap_or(path))
    }

    /// `<root>/etc/ld.so.preload`.
    pub fn ld_so_preload(&self) -> PathBuf {
        self.path(Path::new("/etc/ld.so.preload"))
    }

    /// `<root>/opt/datadog-packages`.
    pub fn packages(&self) -> PathBuf {
        self.path(Path::new(DEFAULT_ROOT))
    }

    /// The packages of ours present under the root: the injector and every library package.
    pub fn our_packages(&self) -> Result<Vec<PathBuf>, String> {
        let packages = self.packages();
        let entries = match std::fs::read_dir(&packages) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(errors::io("read", &packages))?,
        };
        let mut ours = Vec::new();
        for entry in entries {
            let entry = entry.map_err(errors::io("read", &packages))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == INJECT_PACKAGE || is_library_package(name.as_bytes()) {
                ours.push(entry.path());
            }
        }
        ours.sort();
        Ok(ours)
    }
}

/// The package tree this CLI runs from:
/// `<packages>/datadog-apm-inject/<version>/inject/apm-inject`.
pub struct Source {
    /// The packages directory, e.g. `/tmp/dist/opt/datadog-packages`.
    pub packages: PathBuf,
    /// The injector's version directory name, e.g. `0.1.0`.
    pub version: OsString,
}

impl Source {
    /// The tree around this executable, if it sits in one.
    pub fn of_this_cli() -> Result<Source, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find apm-inject: {e}"))?;
        Source::around(&exe).ok_or_else(|| {
            format!(
                "{} is not in a package tree (…/{INJECT_PACKAGE}/<version>/inject/{CLI}): run the apm-inject \
                 shipped in the package tree to install",
                exe.display()
            )
        })
    }

    /// The tree around `exe`, e.g. `/d/datadog-apm-inject/1.0/inject/apm-inject` -> `/d`, `1.0`.
    fn around(exe: &Path) -> Option<Source> {
        let inject = exe.parent()?;
        let version = inject.parent()?;
        let package = version.parent()?;
        if inject.file_name()? != "inject" || package.file_name()? != INJECT_PACKAGE {
            return None;
        }
        Some(Source {
            packages: package.parent()?.to_path_buf(),
            version: version.file_name()?.to_os_string(),
        })
    }

    /// The injector version directory, `<packages>/datadog-apm-inject/<version>`.
    pub fn inject_dir(&self) -> PathBuf {
        self.packages.join(INJECT_PACKAGE).join(&self.version)
    }

    /// Library packages shipped beside the injector: (package name, version, version directory),
    /// the version being the one their `stable` link names.
    pub fn libraries(&self) -> Result<Vec<(OsString, OsString, PathBuf)>, String> {
        let read = std::fs::read_dir(&self.packages).map_err(errors::io("read", &self.packages))?;
        let mut libraries = Vec::new();
        for entry in read {
            let entry = entry.map_err(errors::io("read", &self.packages))?;
            if !is_library_package(std::os::unix::ffi::OsStrExt::as_bytes(
                entry.file_name().as_os_str(),
            )) {
                continue;
            }
            let stable = entry.path().join(STABLE);
            let version = std::fs::read_link(&stable).map_err(errors::io("read link", &stable))?;
            if !is_plain_name(&version) {
                return Err(format!(
                    "{} must name a version directory beside it, not {}",
                    stable.display(),
                    version.display()
                ));
            }
            let dir = entry.path().join(&version);
            libraries.push((entry.file_name(), version.into_os_string(), dir));
        }
        libraries.sort();
        Ok(libraries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_is_found_around_the_cli() {
        let s = Source::around(Path::new(
            "/d/opt/datadog-packages/datadog-apm-inject/1.2.3/inject/apm-inject",
        ))
        .unwrap();
        assert_eq!(s.packages, Path::new("/d/opt/datadog-packages"));
        assert_eq!(s.version, "1.2.3");
        assert!(Source::around(Path::new("/usr/bin/apm-inject")).is_none());
        assert!(Source::around(Path::new("/d/other/1.2.3/inject/apm-inject")).is_none());
    }

    #[test]
    fn paths_inside_a_root() {
        let root = Root {
            dir: PathBuf::from("/img"),
        };
        assert_eq!(root.ld_so_preload(), Path::new("/img/etc/ld.so.preload"));
        assert_eq!(root.packages(), Path::new("/img/opt/datadog-packages"));
        assert_eq!(root.inside(Path::new("/img/opt/x")), Path::new("/opt/x"));
        assert_eq!(root.path(Path::new("/opt/x")), Path::new("/img/opt/x"));
        assert_eq!(
            stable_launcher(),
            launcher_in(&Path::new(DEFAULT_ROOT).join(INJECT_PACKAGE).join(STABLE))
        );
    }

    #[test]
    fn plain_names() {
        assert!(is_plain_name(Path::new("1.0.0")));
        assert!(!is_plain_name(Path::new("../1.0.0")));
        assert!(!is_plain_name(Path::new("/opt/x")));
        assert!(!is_plain_name(Path::new("a/b")));
        assert!(!is_plain_name(Path::new("..")));
    }
}
