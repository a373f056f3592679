//! The package tree, compatible with Datadog's installer: its names, and where packages live
//! relative to the library itself.
//!
//! ```text
//! <root>/datadog-apm-inject/<version>/inject/launcher.preload.so   (and the apm-inject CLI,
//!                                                                    telemetry-forward -> apm-inject)
//! <root>/datadog-apm-inject/stable -> <version>
//! <root>/datadog-apm-library-<lang>/<version>/[requirements.json][supported_runtimes.json]; stable -> <version>
//! <root>/opentelemetry-apm-library-<lang>/<version>/…      the OpenTelemetry SDKs, alike
//! ```
//! The root is found from the library's own path (three directories above `inject/`), so a
//! relocated tree works as well as `/opt/datadog-packages`. The loader names the library by the
//! path it was given with `$LIB` expanded, e.g. `…/inject/lib/x86_64-linux-gnu/launcher.preload.so`.

use crate::path::{file_name, parent};
use crate::runtime::Runtime;
use crate::sdk::Sdk;
use alloc::vec::Vec;

/// Where packages are installed.
pub const DEFAULT_ROOT: &str = "/opt/datadog-packages";
/// The package holding the launcher and the CLI.
pub const INJECT_PACKAGE: &str = "datadog-apm-inject";
/// Name prefix of Datadog's library packages, e.g. `datadog-apm-library-java` (each SDK
/// family's is `Sdk::library_prefix`).
pub const LIBRARY_PREFIX: &str = Sdk::Datadog.library_prefix();
/// The link to the active version in every package.
pub const STABLE: &str = "stable";
/// The directory of an injector version that holds the launcher and the CLI.
pub const INJECT_DIR: &str = "inject";
/// The launcher's file name.
pub const LAUNCHER: &str = "launcher.preload.so";
/// The loader's token for its library directory, written literally in preload entries: glibc's
/// loader expands it to its own (`lib/x86_64-linux-gnu`, `lib64`, `lib32`, …), where the
/// package has the real launcher or a no-op object of that class and machine; musl opens the
/// literal `$LIB/` directory, which holds the real launcher.
pub const LIB_TOKEN: &str = "$LIB";
/// The launcher as every preload list names it, on hosts (`/etc/ld.so.preload`), in containers
/// and in pods (`LD_PRELOAD`, `ld.so.preload`): through `stable` under [`DEFAULT_ROOT`], in the
/// [`LIB_TOKEN`] directory.
pub const STABLE_LAUNCHER: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so";
/// The real launcher by its plain path, without `$LIB`: the entry for container images whose
/// 64-bit loader expands `$LIB` to `lib`, which in the package is i386's directory (Arch
/// Linux, Nix).
pub const STABLE_LAUNCHER_PLAIN: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so";
/// The CLI's file name.
pub const CLI: &str = "apm-inject";
/// The telemetry forwarder's file name (a link to the CLI).
pub const FORWARDER: &str = "telemetry-forward";
/// A library package's guardrails, beside its entry point.
pub const REQUIREMENTS: &str = "requirements.json";
/// A library package's tracers and the runtime versions each serves (written by `make
/// libraries`, read by `analyzer::supported`).
pub const SUPPORTED_RUNTIMES: &str = "supported_runtimes.json";

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
        .find(|d| file_name(d) == INJECT_DIR.as_bytes())
        .unwrap_or(dir);
    parent(parent(parent(inject_dir)?)?)
}

/// Whether `name` is the name of a library package of any SDK family, e.g.
/// `opentelemetry-apm-library-js`.
pub fn is_library_package(name: &[u8]) -> bool {
    Sdk::ALL
        .iter()
        .any(|sdk| name.starts_with(sdk.library_prefix().as_bytes()))
}

/// Directory of a runtime's library package of SDK family `sdk`, e.g.
/// `/opt/datadog-packages/datadog-apm-library-java/stable`.
pub fn library_dir(root: &[u8], runtime: Runtime, sdk: Sdk) -> Vec<u8> {
    let mut dir = Vec::with_capacity(root.len() + 40);
    dir.extend_from_slice(root);
    dir.push(b'/');
    dir.extend_from_slice(sdk.library_prefix().as_bytes());
    dir.extend_from_slice(runtime.package().as_bytes());
    dir.push(b'/');
    dir.extend_from_slice(STABLE.as_bytes());
    dir
}

/// The telemetry forwarder of the active injector, e.g.
/// `/opt/datadog-packages/datadog-apm-inject/stable/inject/telemetry-forward`.
pub fn forwarder(root: &[u8]) -> Vec<u8> {
    [
        root,
        b"/",
        INJECT_PACKAGE.as_bytes(),
        b"/",
        STABLE.as_bytes(),
        b"/",
        INJECT_DIR.as_bytes(),
        b"/",
        FORWARDER.as_bytes(),
    ]
    .concat()
}

/// Whether `path` lies inside any version of `runtime`'s library package of any SDK family,
/// under any root: how the library recognises its own additions inherited from a parent
/// process (whichever family the parent was given).
pub fn in_library(path: &[u8], runtime: Runtime) -> bool {
    Sdk::ALL
        .iter()
        .any(|sdk| in_package(path, sdk.library_prefix().as_bytes(), runtime))
}

/// Whether `path` holds `/<prefix><runtime's package>/`.
fn in_package(path: &[u8], prefix: &[u8], runtime: Runtime) -> bool {
    let package = runtime.package().as_bytes();
    // `/datadog-apm-library-<package>/`
    let start = 1 + prefix.len();
    path.windows(start + package.len() + 1).any(|w| {
        w.first() == Some(&b'/')
            && w.get(1..start) == Some(prefix)
            && w.get(start..start + package.len()) == Some(package)
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
    fn stable_launcher_is_made_of_the_layouts_names() {
        assert_eq!(
            STABLE_LAUNCHER,
            alloc::format!(
                "{DEFAULT_ROOT}/{INJECT_PACKAGE}/{STABLE}/{INJECT_DIR}/{LIB_TOKEN}/{LAUNCHER}"
            )
        );
        assert_eq!(
            STABLE_LAUNCHER_PLAIN,
            alloc::format!("{DEFAULT_ROOT}/{INJECT_PACKAGE}/{STABLE}/{INJECT_DIR}/{LAUNCHER}")
        );
        for entry in [STABLE_LAUNCHER, STABLE_LAUNCHER_PLAIN] {
            assert_eq!(
                packages_root(entry.as_bytes()),
                Some(DEFAULT_ROOT.as_bytes())
            );
        }
    }

    #[test]
    fn forwarder_is_in_the_stable_injector() {
        assert_eq!(
            forwarder(b"/opt/p"),
            b"/opt/p/datadog-apm-inject/stable/inject/telemetry-forward"
        );
    }

    #[test]
    fn library_paths() {
        assert_eq!(
            library_dir(b"/opt/p", Runtime::Node, Sdk::Datadog),
            b"/opt/p/datadog-apm-library-js/stable"
        );
        assert_eq!(
            library_dir(b"/opt/p", Runtime::Java, Sdk::OpenTelemetry),
            b"/opt/p/opentelemetry-apm-library-java/stable"
        );
        assert!(in_library(
            b"-javaagent:/r/opentelemetry-apm-library-java/2.31.0/opentelemetry-javaagent.jar",
            Runtime::Java
        ));
        assert!(!in_library(
            b"/r/opentelemetry-apm-library-js/1/x",
            Runtime::Python
        ));
        assert!(is_library_package(b"opentelemetry-apm-library-python"));
        assert!(is_library_package(b"datadog-apm-library-js"));
        assert!(!is_library_package(b"datadog-apm-inject"));
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
