//! Which launcher entry a container's image can take, from its root filesystem.
//!
//! The entry is `…/inject/$LIB/launcher.preload.so` ([`STABLE_LAUNCHER`]), as on hosts: each
//! loader expands `$LIB` to its own directory, where the package has the real launcher or a
//! no-op object of the loader's class. That works where the 64-bit loader's `$LIB` is one of
//! the 64-bit directories of the package (`lib/x86_64-linux-gnu`, `lib64`). glibc built with
//! its libraries in plain `lib` (Arch Linux, Nix) expands `$LIB` to `lib`, which in the
//! package is i386's directory: every 64-bit process of such an image would print `wrong ELF
//! class: ELFCLASS32`. The host installer refuses such a host with its load check; an image
//! gets the real launcher's plain path instead ([`STABLE_LAUNCHER_PLAIN`]), at the cost of a
//! loader message in its 32-bit programs, which such images rarely have.
//!
//! A loader's `$LIB` is the directory it was built to live in, so the image's loaders are found
//! where its programs name them: the standard x86_64 interpreter `/lib64/ld-linux-x86-64.so.2`
//! (links followed inside the root filesystem: Arch's `/lib64 -> usr/lib`), and the glibc of a
//! Nix store (`/nix/store/<hash>-glibc-<version>/lib/ld-linux-x86-64.so.2`). Anything unreadable
//! means the `$LIB` entry.

use contract::layout::{STABLE_LAUNCHER, STABLE_LAUNCHER_PLAIN};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// The standard interpreter of x86_64 glibc programs.
const INTERPRETER: &str = "/lib64/ld-linux-x86-64.so.2";
/// The interpreter's file name.
const LOADER: &str = "ld-linux-x86-64.so.2";
/// Where a Nix-built image keeps its packages, each in `<hash>-<name>-<version>`.
const NIX_STORE: &str = "nix/store";
/// Links followed before giving up, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// The launcher entry for the image whose root filesystem is `rootfs`: the real launcher's
/// plain path if a 64-bit loader of the image lives in a `lib` directory, else the `$LIB`
/// entry.
pub fn launcher_entry(rootfs: &Path) -> &'static str {
    if loaders(rootfs).iter().any(|loader| in_plain_lib(loader)) {
        STABLE_LAUNCHER_PLAIN
    } else {
        STABLE_LAUNCHER
    }
}

/// The image's 64-bit loaders, as paths inside it, e.g. `/usr/lib/ld-linux-x86-64.so.2`.
fn loaders(rootfs: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = resolve_in(rootfs, Path::new(INTERPRETER))
        .into_iter()
        .collect();
    let store = rootfs.join(NIX_STORE);
    if let Ok(entries) = std::fs::read_dir(&store) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().contains("-glibc-") {
                continue;
            }
            let loader = Path::new("/")
                .join(NIX_STORE)
                .join(name)
                .join("lib")
                .join(LOADER);
            found.extend(resolve_in(rootfs, &loader));
        }
    }
    found
}

/// Whether `loader` is directly in a directory named `lib`.
fn in_plain_lib(loader: &Path) -> bool {
    loader.parent().and_then(Path::file_name) == Some("lib".as_ref())
}

/// `path` (absolute, as seen inside `root`) with every symbolic link followed the way a
/// process chrooted to `root` would see it (absolute targets start again at `root`, `..` stops
/// at it): the path inside `root` of the regular file it names, or `None` if it names none
/// (missing, a directory, a loop).
fn resolve_in(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, path);
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&name);
        let here = root.join(candidate.strip_prefix("/").unwrap_or(&candidate));
        let meta = std::fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return None;
            }
            let target = std::fs::read_link(&here).ok()?;
            if target.is_absolute() {
                resolved = PathBuf::from("/");
            }
            push_components(&mut pending, &target);
        } else {
            resolved = candidate;
        }
    }
    std::fs::symlink_metadata(root.join(resolved.strip_prefix("/").unwrap_or(&resolved)))
        .is_ok_and(|m| m.is_file())
        .then_some(resolved)
}

/// Pushes the names and `..` of `path` onto `stack` so that the first is popped first.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let names: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    stack.extend(names.into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// A root filesystem with `files` (regular, empty) and `links` (path, target).
    fn rootfs(files: &[&str], links: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"").unwrap();
        }
        for (link, target) in links {
            let path = dir.path().join(link);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            symlink(target, path).unwrap();
        }
        dir
    }

    #[test]
    fn debian_keeps_lib() {
        // bookworm, merged /usr.
        let root = rootfs(
            &["usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"],
            &[
                ("lib", "usr/lib"),
                ("lib64", "usr/lib64"),
                (
                    "usr/lib64/ld-linux-x86-64.so.2",
                    "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                ),
            ],
        );
        assert_eq!(
            resolve_in(root.path(), Path::new(INTERPRETER)),
            Some(PathBuf::from(
                "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
            ))
        );
        assert_eq!(launcher_entry(root.path()), STABLE_LAUNCHER);
    }

    #[test]
    fn rhel_keeps_lib() {
        let root = rootfs(
            &["usr/lib64/ld-2.28.so"],
            &[
                ("lib64", "usr/lib64"),
                ("usr/lib64/ld-linux-x86-64.so.2", "ld-2.28.so"),
            ],
        );
        assert_eq!(launcher_entry(root.path()), STABLE_LAUNCHER);
    }

    #[test]
    fn arch_gets_the_plain_path() {
        let root = rootfs(
            &["usr/lib/ld-linux-x86-64.so.2"],
            &[("lib", "usr/lib"), ("lib64", "usr/lib")],
        );
        assert_eq!(launcher_entry(root.path()), STABLE_LAUNCHER_PLAIN);
    }

    #[test]
    fn nix_store_glibc_gets_the_plain_path() {
        let root = rootfs(
            &[
                "nix/store/2x6ab-glibc-2.40-66/lib/ld-linux-x86-64.so.2",
                "nix/store/9qk3m-bash-5.2/bin/bash",
            ],
            &[],
        );
        assert_eq!(launcher_entry(root.path()), STABLE_LAUNCHER_PLAIN);
    }

    #[test]
    fn images_without_a_glibc_loader_keep_lib() {
        // busybox-static, Alpine (musl), scratch, or a root filesystem that cannot be read.
        let musl = rootfs(&["lib/ld-musl-x86_64.so.1", "bin/busybox"], &[]);
        assert_eq!(launcher_entry(musl.path()), STABLE_LAUNCHER);
        assert_eq!(
            launcher_entry(Path::new("/nonexistent/rootfs")),
            STABLE_LAUNCHER
        );
    }

    #[test]
    fn links_stay_inside_the_root() {
        // Absolute and climbing targets resolve inside the root, never on this host.
        let root = rootfs(
            &["usr/lib/ld-linux-x86-64.so.2"],
            &[("lib64", "../../../../usr/lib")],
        );
        assert_eq!(
            resolve_in(root.path(), Path::new(INTERPRETER)),
            Some(PathBuf::from("/usr/lib/ld-linux-x86-64.so.2"))
        );
        let escaping = rootfs(&[], &[("lib64", "/etc")]);
        assert_eq!(
            resolve_in(escaping.path(), Path::new("/lib64/hostname")),
            None
        );
        let looping = rootfs(&[], &[("lib64", "lib64")]);
        assert_eq!(resolve_in(looping.path(), Path::new(INTERPRETER)), None);
        let directory = rootfs(&["lib64/ld-linux-x86-64.so.2/x"], &[]);
        assert_eq!(resolve_in(directory.path(), Path::new(INTERPRETER)), None);
    }
}
