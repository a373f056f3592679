//! `apm-inject install`: the packages shipped beside this CLI go into
//! `<root>/opt/datadog-packages`, the new launcher is proven, then `<root>/etc/ld.so.preload`
//! lists it; all of it one transaction ([`crate::transaction`]).
//!
//! Order, so that no process ever preloads a file that is missing or unproven:
//! 1. refuse early what cannot work (not root, `/etc/ld.so.preload` not a regular file,
//!    launcher missing); take the root's lock and finish what an interrupted run left;
//! 2. plan: the journal lists every step and how to undo it;
//! 3. copy every package under a staging name, exactly what its manifest lists, checking
//!    every byte ([`crate::manifest`]), and make it durable;
//! 4. prove the staged launcher ([`loadcheck`]);
//! 5. put each version in place and switch its `stable` link (libraries first), then write
//!    `/etc/ld.so.preload` listing the `stable` launcher ([`preload_file`]) unless only Docker
//!    is wanted, and, with Docker, `daemon.json` naming the shim ([`docker_install`]: checked in
//!    step 1), reloading dockerd until it confirms the shim; then the links and (for the host)
//!    the systemd unit of [`integration`];
//! 6. commit; then remove the versions `stable` named before and the backups.
//!
//! An error or a terminating signal before the commit rolls everything back.

use crate::layout::{self, Root, Source, INJECT_PACKAGE};
use crate::manifest::{Kind, Manifest};
use crate::output::say;
use crate::package::{self, Package};
use crate::transaction::{self, Plan, Step, Transaction};
use crate::{
    agent, docker_install, integration, loadcheck, preload_file, privilege, signals, system_file,
    tree,
};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// One package to install.
struct Item {
    package: Package,
    /// Where it comes from: the version directory in the shipped tree.
    source: PathBuf,
    version: String,
}

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
    privilege::require_root("install")?;
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
    system_file::read(&preload_path)?;
    let enabled = std::env::var(ENABLED_VARIABLE).ok();
    let docker_present = docker_install::present(&root);
    let targets = Targets::choose(host, docker, enabled.as_deref(), docker_present)?;
    let source_launcher = layout::launcher_in(&source.inject_dir());
    if !source_launcher.is_file() {
        return Err(format!("{} is missing", source_launcher.display()));
    }
    // daemon.json must never name a shim the installed package lacks: every container start
    // would fail. Asked for (`--docker`, or the variable), that is an error; chosen because
    // Docker is present, Docker is skipped.
    let source_shim = source
        .inject_dir()
        .join("inject")
        .join(crate::shim::SHIM_NAME);
    if targets.docker && !source_shim.exists() {
        if docker || enabled.is_some() {
            return Err(format!(
                "{} is missing: this package cannot instrument containers\nnothing was changed",
                source_shim.display()
            ));
        }
        say!(
            "Docker: skipped, {} is missing from this package",
            source_shim.display()
        );
    }
    let docker = (targets.docker && source_shim.exists())
        .then(|| docker_install::plan_install(&root))
        .transpose()?;
    let items = items(&root, &source)?;

    let mut tx = Transaction::begin(&root)?;
    let touches_unit = match prepare(&root, &items, &mut tx, targets.host, docker.as_ref()) {
        Ok(touches_unit) => touches_unit,
        Err(e) => return Err(tx.abort(e)),
    };
    let reloaded = tx
        .apply()
        .and_then(|()| docker.as_ref().map(|d| d.reload(true)).transpose())
        .and_then(|reloaded| tx.commit().map(|()| reloaded));
    let reloaded = match reloaded {
        Ok(reloaded) => reloaded,
        Err(e) => {
            let message = tx.abort(e);
            if let Some(d) = &docker {
                d.reload_after_rollback();
            }
            return Err(message);
        }
    };
    for item in &items {
        say!(
            "installed {} {}",
            item.package
                .dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            item.version
        );
    }
    let entry = layout::stable_launcher();
    if targets.host {
        say!("{}: lists {}", preload_path.display(), entry.display());
    }
    if let (Some(d), Some(reloaded)) = (&docker, reloaded) {
        say!("{}", d.message);
        say!("{reloaded}");
    }
    tx.finish()?;
    integration::reload(&root, touches_unit);
    if container {
        // `\$`: Docker would substitute `$LIB` in an ENV instruction.
        let value = entry.display().to_string().replace('$', "\\$");
        say!("ENV LD_PRELOAD={value}");
    }
    next_steps(&root);
    transaction::note_late_signal();
    Ok(())
}

/// What to do now: processes already running keep running uninstrumented; where the tracers
/// will send their data, and whether anything listens there.
fn next_steps(root: &Root) {
    if !root.is_host() {
        say!(
            "next: processes started from {} are instrumented; the agent must be reachable \
             from where they run (DD_AGENT_HOST, DD_TRACE_AGENT_URL)",
            root.dir.display()
        );
        return;
    }
    say!("next: restart your services: processes already running are not instrumented");
    match agent::probe() {
        (at, Ok(())) => say!("agent: reachable at {at}"),
        (at, Err(e)) => say!(
            "agent: not reachable at {at} ({e}): start the Datadog agent, or set \
             DD_TRACE_AGENT_URL for your services, or traces go nowhere"
        ),
    }
}

/// The packages shipped beside this CLI: libraries (by name), then the injector, last, so that
/// the launcher switches once the libraries it uses are in place.
fn items(root: &Root, source: &Source) -> Result<Vec<Item>, String> {
    let packages = root.packages();
    let mut items = Vec::new();
    for (name, version, dir) in source.libraries()? {
        items.push(Item {
            package: Package {
                dir: packages.join(&name),
            },
            source: dir,
            version: version_name(&version)?,
        });
    }
    items.push(Item {
        package: Package {
            dir: packages.join(INJECT_PACKAGE),
        },
        source: source.inject_dir(),
        version: version_name(&source.version)?,
    });
    Ok(items)
}

/// A version directory name as text; versions are plain UTF-8 names.
fn version_name(version: &std::ffi::OsStr) -> Result<String, String> {
    version
        .to_str()
        .filter(|v| layout::is_plain_name(Path::new(v)) && !v.starts_with('.'))
        .map(str::to_owned)
        .ok_or_else(|| format!("{:?} is not a usable version name", version))
}

/// Plans the change, then stages and proves everything it needs, with checkpoints. Returns
/// whether the change touches the systemd unit.
fn prepare(
    root: &Root,
    items: &[Item],
    tx: &mut Transaction,
    host: bool,
    docker: Option<&docker_install::Change>,
) -> Result<bool, String> {
    let preload_path = root.ld_so_preload();
    let previous = system_file::read(&preload_path)?;
    let mut plan = Plan::default();
    for dir in [root.path(Path::new("/opt")), root.packages()]
        .into_iter()
        .chain(items.iter().map(|i| i.package.dir.clone()))
    {
        if !dir.exists() {
            plan.created.push(root.inside(&dir));
        }
    }
    for item in items {
        let dir = &item.package.dir;
        let previous = item
            .package
            .stable_version()
            .and_then(|v| v.into_string().ok());
        let replaces = std::fs::symlink_metadata(dir.join(&item.version)).is_ok();
        if let Some(old) = previous.as_ref().filter(|v| **v != item.version) {
            plan.remove.push(root.inside(&dir.join(old)));
        }
        if replaces {
            // Where the copy it replaces ends up once exchanged.
            let staging = package::staging_dir(dir, &item.version);
            plan.remove.push(root.inside(&staging));
        }
        plan.steps.push(Step::Package {
            package: root.inside(dir),
            version: item.version.clone(),
            previous,
            replaces,
            staged_inode: None,
        });
    }
    let entry = layout::stable_launcher();
    let updated = preload_file::with_entry(
        previous.as_deref().unwrap_or_default(),
        entry.as_os_str().as_bytes(),
    );
    if !host {
    } else if previous.as_deref() == Some(&updated[..]) {
        say!(
            "{}: already lists {}",
            preload_path.display(),
            entry.display()
        );
    } else {
        plan.steps.push(Step::File {
            path: root.inside(&preload_path),
            existed: previous.is_some(),
            content: Some(updated),
        });
    }
    if let Some(docker) = docker {
        plan.created.extend(docker.created.iter().cloned());
        plan.steps.extend(docker.steps.iter().cloned());
    }
    let inject = items.last().expect("the injector comes last");
    integration::install(root, &inject.source.join("inject"), host, &mut plan);
    let touches_unit = integration::touches_unit(&plan.steps);
    tx.plan("install", plan)?;
    if let Some(docker) = docker {
        docker.create_directories(root)?;
    }
    tx.checkpoint()?;

    for (i, item) in items.iter().enumerate() {
        let (manifest, shipped) = package::manifest_of(&item.source)?;
        say!(
            "copying {} {}: {}{}",
            item.package
                .dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            item.version,
            size_of(&manifest),
            if shipped {
                ""
            } else {
                " (no manifest shipped: checked against the files as read)"
            }
        );
        let inode = item.package.stage(&item.source, &item.version, &manifest)?;
        if let Step::Package { staged_inode, .. } = &mut tx.steps_mut()[i] {
            *staged_inode = Some(inode);
        }
        tx.checkpoint()?;
    }
    tree::sync_filesystem(&root.packages())?;
    tx.save()?;

    let staged = package::staging_dir(&inject.package.dir, &inject.version);
    say!("checking the new launcher");
    let proof = loadcheck::prove(root, &layout::launcher_in(&root.inside(&staged)))?;
    say!("launcher checked: {proof}");
    tx.checkpoint()?;
    Ok(touches_unit)
}

/// How much a manifest lists, e.g. `1,234 files, 56.7 MB`.
fn size_of(manifest: &Manifest) -> String {
    let (files, bytes) = manifest
        .entries
        .iter()
        .fold((0u64, 0u64), |(n, b), e| match &e.kind {
            Kind::File { size, .. } => (n + 1, b + size),
            _ => (n, b),
        });
    format!("{files} files, {:.1} MB", bytes as f64 / 1e6)
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
