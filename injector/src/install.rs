//! `apm-inject install`: the packages shipped beside this CLI go into
//! `<root>/opt/datadog-packages`, the new launcher is proven, then `<root>/etc/ld.so.preload`
//! lists it.
//!
//! Order, so that no process ever preloads a file that is missing or unproven:
//! 1. refuse early what cannot work (`/etc/ld.so.preload` not a regular file, launcher missing);
//! 2. copy every package under a staging name and make it durable;
//! 3. prove the staged launcher ([`loadcheck`]); on failure remove the copies and stop;
//! 4. put each version in place and switch its `stable` link (libraries first);
//! 5. with Docker, make the shim Docker's default runtime and confirm it ([`docker_install`]:
//!    `daemon.json` is checked in step 1);
//! 6. write `/etc/ld.so.preload` listing the `stable` launcher ([`preload_file`]), unless only
//!    Docker is wanted; if this fails, Docker's change is taken back;
//! 7. remove the versions `stable` named before, now that nothing refers to them.

use crate::layout::{self, Root, Source, INJECT_PACKAGE};
use crate::output::{say, say_err};
use crate::package::{Package, Staged};
use crate::{docker_install, loadcheck, lock, preload_file, signals, system_file, tree};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What an install instruments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    /// Every process of the host, through `/etc/ld.so.preload`.
    pub host: bool,
    /// Every Docker container, through the runtime shim.
    pub docker: bool,
}

/// The variable of Datadog's install script that chooses the targets: `host`, `docker`, `all`.
pub const ENABLED_VARIABLE: &str = "DD_APM_INSTRUMENTATION_ENABLED";

impl Targets {
    /// The targets from `--host`/`--docker`, else [`ENABLED_VARIABLE`] (`enabled`), else the host
    /// and Docker where `docker_present`.
    pub fn choose(
        host: bool,
        docker: bool,
        enabled: Option<&str>,
        docker_present: bool,
    ) -> Result<Targets, String> {
        let targets = |host, docker| Ok(Targets { host, docker });
        if host || docker {
            return targets(host, docker);
        }
        match enabled.map(str::trim).filter(|v| !v.is_empty()) {
            Some("host") => targets(true, false),
            Some("docker") => targets(false, true),
            Some("all") => targets(true, true),
            Some(other) => Err(format!(
                "{ENABLED_VARIABLE}={other}: expected host, docker or all"
            )),
            None => targets(true, docker_present),
        }
    }
}

/// Installs into `root`: the host (`host`), Docker (`docker`), or as [`Targets::choose`] says
/// when neither is asked; with `container`, also prints the `ENV LD_PRELOAD=…` line images
/// need (musl never reads `/etc/ld.so.preload`).
pub fn run(root: &Path, container: bool, host: bool, docker: bool) -> Result<(), String> {
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
    let enabled = std::env::var(ENABLED_VARIABLE).ok();
    let docker_present = docker_install::present(&root);
    let targets = Targets::choose(host, docker, enabled.as_deref(), docker_present)?;
    let docker_plan = targets
        .docker
        .then(|| docker_install::plan(&root))
        .transpose()?;
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

    let docker = docker_plan.map(docker_install::Plan::apply).transpose()?;
    if targets.host {
        if let Err(e) = list_launcher(&preload_path, previous.as_deref()) {
            let restored = docker.map(docker_install::Applied::rollback);
            return Err(format!("{e}\n{}", restored.unwrap_or_default()));
        }
    }

    for dir in unused {
        tree::remove(&dir)?;
        say!("removed {}", dir.display());
    }
    if container {
        // `\$`: Docker would substitute `$LIB` in an ENV instruction.
        let value = layout::stable_launcher()
            .display()
            .to_string()
            .replace('$', "\\$");
        say!("ENV LD_PRELOAD={value}");
    }
    Ok(())
}

/// Makes `/etc/ld.so.preload` (at `preload_path`, content `previous`) list the launcher.
fn list_launcher(preload_path: &Path, previous: Option<&[u8]>) -> Result<(), String> {
    let entry = layout::stable_launcher();
    let updated =
        preload_file::with_entry(previous.unwrap_or_default(), entry.as_os_str().as_bytes());
    if previous == Some(&updated[..]) {
        say!(
            "{}: already lists {}",
            preload_path.display(),
            entry.display()
        );
    } else {
        system_file::replace(preload_path, previous, Some(&updated))?;
        say!("{}: lists {}", preload_path.display(), entry.display());
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

#[cfg(test)]
mod targets_tests {
    use super::*;

    fn targets(host: bool, docker: bool) -> Result<Targets, String> {
        Ok(Targets { host, docker })
    }

    #[test]
    fn flags_win_then_the_variable_then_presence() {
        assert_eq!(
            Targets::choose(false, true, Some("host"), false),
            targets(false, true)
        );
        assert_eq!(
            Targets::choose(true, false, None, true),
            targets(true, false)
        );
        assert_eq!(
            Targets::choose(false, false, Some("docker"), false),
            targets(false, true)
        );
        assert_eq!(
            Targets::choose(false, false, Some("all"), false),
            targets(true, true)
        );
        assert_eq!(
            Targets::choose(false, false, Some("host"), true),
            targets(true, false)
        );
        assert_eq!(
            Targets::choose(false, false, None, true),
            targets(true, true)
        );
        assert_eq!(
            Targets::choose(false, false, Some(""), false),
            targets(true, false)
        );
        assert!(Targets::choose(false, false, Some("kubernetes"), true).is_err());
    }
}
