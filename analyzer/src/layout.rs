//! Where packages live, relative to the library itself.
//!
//! ```text
//! <root>/datadog-apm-inject/<version>/inject/launcher.preload.so   (and the apm-inject CLI)
//! <root>/datadog-apm-library-<lang>/stable -> <version>
//! ```
//! The root is found from the library's own path (three directories above `inject/`), so a
//! relocated tree works as well as `/opt/datadog-packages`. The loader names the library by the
//! path it was given with `$LIB` expanded, e.g. `…/inject/lib/x86_64-linux-gnu/launcher.preload.so`.

use crate::process::{file_name, parent};
use crate::runtime::Runtime;
use alloc::vec::Vec;

/// The packages root for a file in `<root>/datadog-apm-inject/<version>/inject/` or in one of
/// its `$LIB` directories (up to two levels below), e.g. `/opt/datadog-packages` for
/// `/opt/datadog-packages/datadog-apm-inject/stable/inject/lib/x86_64-linux-gnu/launcher.preload.so`.
/// `None` for a relative path or one too short to have a root.
pub fn packages_root(inject_file: &[u8]) -> Option<&[u8]> {
    if !inject_file.starts_with(b"/") {
        return None;
    }
    let dir = parent(inject_file)?;
    let inject_dir = core::iter::successors(Some(dir), |d| parent(d))
        .take(3)
        .find(|d| file_name(d) == b"inject")
        .unwrap_or(dir);
    parent(parent(parent(inject_dir)?)?)
}

/// Directory of a runtime's library package, e.g.
/// `/opt/datadog-packages/datadog-apm-library-java/stable`.
pub fn library_dir(root: &[u8], runtime: Runtime) -> Vec<u8> {
    let mut dir = Vec::with_capacity(root.len() + 40);
    dir.extend_from_slice(root);
    dir.extend_from_slice(b"/datadog-apm-library-");
    dir.extend_from_slice(runtime.package().as_bytes());
    dir.extend_from_slice(b"/stable");
    dir
}

/// Whether `path` lies inside any version of `runtime`'s library package, under any root:
/// how the library recognises its own additions inherited from a parent process.
pub fn in_library(path: &[u8], runtime: Runtime) -> bool {
    let package = runtime.package().as_bytes();
    path.windows(22 + package.len()).any(|w| {
        w.starts_with(b"/datadog-apm-library-")
            && w.get(21..21 + package.len()) == Some(package)
            && w.last() == Some(&b'/')
    })
}

/// `dir` + `/` + `relative`.
pub fn join(dir: &[u8], relative: &str) -> Vec<u8> {
    let mut path = Vec::with_capacity(dir.len() + 1 + relative.len());
    path.extend_from_slice(dir);
    path.push(b'/');
    path.extend_from_slice(relative.as_bytes());
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_three_levels_above_inject() {
        let so = b"/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so";
        assert_eq!(packages_root(so), Some(&b"/opt/datadog-packages"[..]));
        assert_eq!(
            packages_root(b"/x/datadog-apm-inject/1.0/inject/apm-inject"),
            Some(&b"/x"[..])
        );
        assert_eq!(packages_root(b"/a/b/launcher.preload.so"), None);
        for lib in ["$LIB", "lib64", "lib/x86_64-linux-gnu"] {
            let so =
                alloc::format!("/o/datadog-apm-inject/stable/inject/{lib}/launcher.preload.so");
            assert_eq!(packages_root(so.as_bytes()), Some(&b"/o"[..]));
        }
        assert_eq!(packages_root(b"rel/datadog-apm-inject/1/inject/l.so"), None);
    }

    #[test]
    fn library_paths() {
        assert_eq!(
            library_dir(b"/opt/p", Runtime::Node),
            b"/opt/p/datadog-apm-library-js/stable"
        );
        assert!(in_library(
            b"-javaagent:/r/datadog-apm-library-java/1.2/dd-java-agent.jar",
            Runtime::Java
        ));
        assert!(!in_library(
            b"/r/datadog-apm-library-javax/1.2/x",
            Runtime::Java
        ));
        assert!(!in_library(
            b"/r/datadog-apm-library-js/stable/x",
            Runtime::Java
        ));
        assert!(!in_library(
            b"/r/datadog-apm-library-python",
            Runtime::Python
        ));
        assert!(in_library(
            b"/r/datadog-apm-library-python/stable",
            Runtime::Python
        ));
    }
}
