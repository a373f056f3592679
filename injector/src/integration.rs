//! What `install` adds outside the package tree so that the host finds the product, and
//! `uninstall` takes away, as steps of their transaction ([`crate::transaction`]):
//!
//! - links into the injector package through `stable`, each where its directory exists and
//!   nothing else holds the name (a file that is not our link is left alone, with a note):
//!   `/usr/bin/apm-inject` (the CLI on `PATH`), `/usr/share/man/man1/apm-inject*.1` (its manual
//!   pages) and `/usr/share/bash-completion/completions/apm-inject`, each only if the package
//!   ships the file (`make dist` generates the last two from the CLI's definition);
//! - where systemd is the init system (on the host: `/run/systemd/system` exists; in another
//!   root: it has systemd and `/etc/systemd/system`), the unit `apm-inject.service`, enabled
//!   (linked into `sysinit.target.wants`): early at every boot, before services start, it runs
//!   `apm-inject boot`, which finishes an interrupted change, proves the installed launcher and
//!   lists it in `/etc/ld.so.preload` again if something took it out (or takes the entry out if
//!   the launcher no longer loads) — as Datadog's installer keeps its entry. systemd is told
//!   (`systemctl daemon-reload`) once the change is committed.

use crate::layout::{Root, CLI, DEFAULT_ROOT, INJECT_PACKAGE, STABLE};
use crate::output::say;
use crate::transaction::{Plan, Step};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The unit's file.
const UNIT: &str = "/etc/systemd/system/apm-inject.service";
/// Where enabling links it.
const UNIT_WANTED_BY: &str = "/etc/systemd/system/sysinit.target.wants";
/// How long `systemctl daemon-reload` may take.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(30);

/// The fixed links: (where, file of the injector package's `inject/` directory).
const LINKS: &[(&str, &str)] = &[
    ("/usr/bin/apm-inject", CLI),
    (
        "/usr/share/bash-completion/completions/apm-inject",
        "apm-inject.bash",
    ),
];
/// Where manual pages are linked, one per page the package ships in `inject/man/`.
const MAN_DIR: &str = "/usr/share/man/man1";
/// The package's manual pages, inside `inject/`.
const SHIPPED_MAN: &str = "man";

/// Every link install makes for a package whose `inject/` directory is `shipped`: (where, what
/// it points to), both as seen inside the root.
fn links(shipped: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut links: Vec<(PathBuf, PathBuf)> = LINKS
        .iter()
        .filter(|(_, file)| shipped.join(file).exists())
        .map(|(link, file)| (PathBuf::from(link), in_stable(file)))
        .collect();
    let mut pages: Vec<_> = std::fs::read_dir(shipped.join(SHIPPED_MAN))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".1"))
        .collect();
    pages.sort();
    for page in pages {
        let file = Path::new(SHIPPED_MAN).join(&page);
        links.push((
            Path::new(MAN_DIR).join(&page),
            in_stable(&file.to_string_lossy()),
        ));
    }
    links
}

/// `<packages>/datadog-apm-inject/stable/inject/<file>`, as seen inside the root.
fn in_stable(file: &str) -> PathBuf {
    Path::new(DEFAULT_ROOT)
        .join(INJECT_PACKAGE)
        .join(STABLE)
        .join("inject")
        .join(file)
}

/// The unit, for the CLI at `cli` (inside the root).
fn unit(cli: &Path) -> String {
    format!(
        "# Installed by apm-inject install, removed by apm-inject uninstall.\n\
         [Unit]\n\
         Description=Keep the APM launcher listed in /etc/ld.so.preload (apm-inject)\n\
         Documentation=man:apm-inject(1)\n\
         DefaultDependencies=no\n\
         After=local-fs.target\n\
         Before=sysinit.target shutdown.target\n\
         Conflicts=shutdown.target\n\
         ConditionPathExists={cli}\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart={cli} boot\n\
         \n\
         [Install]\n\
         WantedBy=sysinit.target\n",
        cli = cli.display()
    )
}

/// Whether systemd runs (the host) or would run (another root) this root.
fn has_systemd(root: &Root) -> bool {
    if root.is_host() {
        return Path::new("/run/systemd/system").is_dir();
    }
    root.path(Path::new("/etc/systemd/system")).is_dir()
        && ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"]
            .iter()
            .any(|p| root.path(Path::new(p)).exists())
}

/// Adds the steps that put the links and (when the host is instrumented, `host`) the unit in
/// place, for an injector package whose `inject/` directory is `shipped`, to `plan`.
pub fn install(root: &Root, shipped: &Path, host: bool, plan: &mut Plan) {
    for (link, target) in links(shipped) {
        let path = root.path(&link);
        if !path.parent().expect("absolute").is_dir() {
            continue;
        }
        match std::fs::read_link(&path) {
            Ok(existing) if existing == target => {}
            _ if std::fs::symlink_metadata(&path).is_ok() => {
                say!("left alone: {} exists and is not ours", path.display())
            }
            _ => plan.steps.push(Step::Link { path: link, target }),
        }
    }
    if !host || !has_systemd(root) {
        return;
    }
    let unit_path = root.path(Path::new(UNIT));
    let content = unit(&in_stable(CLI)).into_bytes();
    let current = std::fs::read(&unit_path).ok();
    if current.as_ref() != Some(&content) {
        plan.steps.push(Step::File {
            path: PathBuf::from(UNIT),
            existed: current.is_some(),
            content: Some(content),
        });
    }
    let wanted_by = root.path(Path::new(UNIT_WANTED_BY));
    if !wanted_by.is_dir() {
        plan.created.push(PathBuf::from(UNIT_WANTED_BY));
    }
    let enabled = Path::new(UNIT_WANTED_BY).join("apm-inject.service");
    if std::fs::read_link(root.path(&enabled)).ok().as_deref() != Some(Path::new(UNIT)) {
        plan.steps.push(Step::Link {
            path: enabled,
            target: PathBuf::from(UNIT),
        });
    }
}

/// Adds the steps that take the links and the unit away (ours only) to `plan`.
pub fn uninstall(root: &Root, plan: &mut Plan) {
    let enabled = Path::new(UNIT_WANTED_BY).join("apm-inject.service");
    let mut candidates: Vec<PathBuf> = LINKS.iter().map(|(link, _)| PathBuf::from(link)).collect();
    candidates.push(enabled);
    let pages = std::fs::read_dir(root.path(Path::new(MAN_DIR)));
    candidates.extend(
        pages
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| Path::new(MAN_DIR).join(e.file_name())),
    );
    let inject = in_stable("");
    for link in candidates {
        let Ok(target) = std::fs::read_link(root.path(&link)) else {
            continue;
        };
        if target.starts_with(&inject) || target == Path::new(UNIT) {
            plan.steps.push(Step::Unlink { path: link, target });
        }
    }
    if root.path(Path::new(UNIT)).is_file() {
        plan.steps.push(Step::File {
            path: PathBuf::from(UNIT),
            existed: true,
            content: None,
        });
    }
    plan.prune.push(PathBuf::from(UNIT_WANTED_BY));
}

/// Once a change to the unit is committed: tells a running systemd to read it again.
pub fn reload(root: &Root, plan_changed_unit: bool) {
    if !plan_changed_unit || !root.is_host() || !has_systemd(root) {
        return;
    }
    let outcome = Command::new("systemctl")
        .arg("daemon-reload")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())
        .and_then(|mut child| {
            let started = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => return Ok(()),
                    Ok(Some(status)) => return Err(format!("exited with {status}")),
                    Ok(None) if started.elapsed() < SYSTEMCTL_TIMEOUT => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err("timed out".into());
                    }
                }
            }
        });
    match outcome {
        Ok(()) => say!("systemd: reloaded"),
        Err(e) => say!("systemd: `systemctl daemon-reload` failed ({e}): run it yourself"),
    }
}

/// Whether `steps` change the unit.
pub fn touches_unit(steps: &[Step]) -> bool {
    steps.iter().any(|s| match s {
        Step::File { path, .. } => path == Path::new(UNIT),
        _ => false,
    })
}
