//! Where the launcher would find its packages, as seen from the CLI.
//!
//! In order: `--packages-root`; the launcher named in `LD_PRELOAD`; the one in
//! `/etc/ld.so.preload`; this CLI's own location if it sits in `datadog-apm-inject/<v>/inject/`;
//! finally `/opt/datadog-packages`.

use contract::layout::{DEFAULT_ROOT, LAUNCHER};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A packages root and where it was found.
pub struct Root {
    /// The directory.
    pub path: PathBuf,
    /// How it was found, e.g. `LD_PRELOAD`.
    pub source: &'static str,
}

/// The packages root the launcher would use, per the module docs.
pub fn find(explicit: Option<PathBuf>, ld_preload: Option<&OsStr>) -> Root {
    if let Some(path) = explicit {
        return Root {
            path,
            source: "--packages-root",
        };
    }
    let from_list = |list: &[u8]| {
        list.split(|c| c.is_ascii_whitespace() || *c == b':')
            .filter(|e| e.ends_with(LAUNCHER.as_bytes()))
            .find_map(contract::layout::packages_root)
            .map(|root| PathBuf::from(OsStr::from_bytes(root)))
    };
    if let Some(path) = ld_preload.and_then(|v| from_list(v.as_bytes())) {
        return Root {
            path,
            source: "LD_PRELOAD",
        };
    }
    if let Some(path) = std::fs::read("/etc/ld.so.preload")
        .ok()
        .and_then(|v| from_list(&v))
    {
        return Root {
            path,
            source: "/etc/ld.so.preload",
        };
    }
    if let Some(path) = own_root() {
        return Root {
            path,
            source: "apm-inject's own location",
        };
    }
    Root {
        path: PathBuf::from(DEFAULT_ROOT),
        source: "default",
    }
}

/// The root this executable is installed under, if it is in a package tree.
fn own_root() -> Option<PathBuf> {
    crate::layout::Source::of_this_cli()
        .ok()
        .map(|s| s.packages)
}
