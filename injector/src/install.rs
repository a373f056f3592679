//! `apm-inject install`: the packages shipped beside this CLI go into
//! `<root>/opt/datadog-packages`, the new launcher is proven, then `<root>/etc/ld.so.preload`
//! lists it.
//!
//! Order, so that no process ever preloads a file that is missing or unproven:
//! 1. refuse early what cannot work (`/etc/ld.so.preload` not a regular file, launcher missing);
//! 2. copy every package under a staging name and make it durable;
//! 3. prove the staged launcher ([`loadcheck`]); on failure remove the copies and stop;
//! 4. put each version in place and switch its `stable` link (libraries first);
//! 5. write `/etc/ld.so.preload` listing the `stable` launcher ([`preload_file`]);
//! 6. remove the versions `stable` named before, now that nothing refers to them.

use crate::layout::{self, Root, Source, INJECT_PACKAGE};
use crate::output::{say, say_err};
use crate::package::{Package, Staged};
use crate::{loadcheck, lock, preload_file, signals, system_file, tree};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Installs into `root`; with `container`, also prints the `ENV LD_PRELOAD=…` line images need
/// (musl never reads `/etc/ld.so.preload`).
pub fn run(root: &Path, container: bool) -> Result<(), String> {
    require_root("install")?;
    signals::defer();
    let root = Root::new(root)?;
    let source = Source::of_this_cli()?;
    let preload_path = root.ld_so_preload();
    let etc = preload_path.parent().expect("etc");
    if !etc.is_dir() {
        return Err(format!(
            "{} is not a directory: is {} the root of a system?",
            etc.display(),
            root.dir.display()
        ));
    }
    let _lock = lock::exclusive(&root)?;
    let previous = system_file::read(&preload_path)?;
    let source_launcher = layout::launcher_in(&source.inject_dir());
    if !source_launcher.is_file() {
        return Err(format!("{} is missing", source_launcher.display()));
    }

    let packages = root.packages();
    let mut staged: Vec<(String, Staged)> = Vec::new();
    for (name, version, dir) in source.libraries()? {
        let package = Package {
            dir: packages.join(&name),
        };
        let label = format!("{} {}", name.to_string_lossy(), version.to_string_lossy());
        staged.push((label, package.stage(&dir, &version)?));
    }
    let inject = Package {
        dir: packages.join(INJECT_PACKAGE),
    };
    let inject_staged = inject.stage(&source.inject_dir(), &source.version)?;
    tree::sync_filesystem(&packages)?;

    let staged_launcher = layout::launcher_in(&root.inside(inject_staged.dir()));
    let proof = loadcheck::prove(&root, &staged_launcher)
        .map_err(|e| format!("{e}\nnothing was changed"))?;
    say!("launcher checked: {proof}");
    if let Some(signal) = signals::checkpoint() {
        drop(staged);
        drop(inject_staged);
        say_err!(
            "interrupted by {}: nothing was changed",
            signals::name(signal)
        );
        signals::die_by(signal);
    }

    staged.push((
        format!("{INJECT_PACKAGE} {}", source.version.to_string_lossy()),
        inject_staged,
    ));
    let mut unused = Vec::new();
    for (label, version) in staged {
        unused.extend(version.commit()?);
        say!("installed {label}");
    }

    let entry = layout::stable_launcher();
    let updated = preload_file::with_entry(
        previous.as_deref().unwrap_or_default(),
        entry.as_os_str().as_bytes(),
    );
    if previous.as_deref() == Some(&updated[..]) {
        say!(
            "{}: already lists {}",
            preload_path.display(),
            entry.display()
        );
    } else {
        system_file::replace(&preload_path, previous.as_deref(), Some(&updated))?;
        say!("{}: lists {}", preload_path.display(), entry.display());
    }

    for dir in unused {
        tree::remove(&dir)?;
        say!("removed {}", dir.display());
    }
    if container {
        // `\$`: Docker would substitute `$LIB` in an ENV instruction.
        let value = entry.display().to_string().replace('$', "\\$");
        say!("ENV LD_PRELOAD={value}");
    }
    Ok(())
}

/// Refuses to go on unless running as root: `command` changes files only root may change and
/// makes root own what it installs.
pub fn require_root(command: &str) -> Result<(), String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "{command} must run as root (it changes system files and installs files owned by root): \
             run it with sudo"
        ));
    }
    Ok(())
}
