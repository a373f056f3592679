//! Docker's part of `install` and `uninstall`: `<root>/etc/docker/daemon.json` names the shim
//! as runtime `dd-shim` and makes it the default ([`daemon_json`]); dockerd reloads it on
//! SIGHUP; the Docker API then confirms the default runtime, with retries.
//!
//! The changes are file steps of install's and uninstall's transaction ([`crate::transaction`]).
//! The file is checked before anything changes ([`plan_install`]), so a malformed one stops the
//! install with `daemon.json:line:column` and nothing changed. If dockerd does not confirm the
//! shim, the transaction rolls back (the previous file, `/etc/ld.so.preload` and the packages)
//! and dockerd is reloaded again. What the shim replaced is kept in
//! `<root>/etc/datadog-agent/inject/docker_runtime.previous.json` for uninstall.
//!
//! The dockerd reloaded is the one reading this file: a `dockerd` process in this mount
//! namespace whose `--config-file` (default `/etc/docker/daemon.json`) is this file. None
//! running means nothing to reload or verify: the file applies when dockerd starts.

use crate::daemon_json::{self, Previous};
use crate::http_client::Endpoint;
use crate::layout::{Root, INJECT_PACKAGE, STABLE};
use crate::shim::SHIM_NAME;
use crate::transaction::Step;
use crate::{docker_api, docker_config, system_file};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How many times install reloads dockerd and asks for its default runtime.
const ATTEMPTS: u32 = 10;
/// Pause between attempts.
const PAUSE: Duration = Duration::from_millis(500);

/// Whether Docker is present under `root` (its configuration directory exists).
pub fn present(root: &Root) -> bool {
    root.path(Path::new("/etc/docker")).is_dir()
}

/// The shim as `daemon.json` names it, through `stable`.
pub fn shim_path() -> PathBuf {
    Path::new(crate::layout::DEFAULT_ROOT)
        .join(INJECT_PACKAGE)
        .join(STABLE)
        .join("inject")
        .join(SHIM_NAME)
}

/// Docker's files under a root.
struct Files {
    daemon_json: PathBuf,
    previous: PathBuf,
    socket: Endpoint,
}

impl Files {
    fn of(root: &Root) -> Result<Files, String> {
        let config_dir = root.path(Path::new(contract::config::DEFAULT_DIR));
        let config = docker_config::load(&config_dir.join(docker_config::FILE))?;
        Ok(Files {
            daemon_json: root.path(Path::new("/etc/docker/daemon.json")),
            previous: config_dir.join(daemon_json::PREVIOUS_FILE),
            socket: config.docker_socket,
        })
    }
}

/// Docker's part of an install or uninstall: the file steps of the transaction, and how to
/// reload and check dockerd once they are applied.
pub struct Change {
    files: Files,
    /// The transaction's steps: `daemon.json`, then the previous-runtime record.
    pub steps: Vec<Step>,
    /// Directories the steps need, parents first, that do not exist yet.
    pub created: Vec<PathBuf>,
    /// What to say once committed.
    pub message: String,
}

/// Install: reads and checks `daemon.json` (and `docker_config.yaml`) under `root`, before
/// anything changes; no steps if the shim is already the default runtime.
pub fn plan_install(root: &Root) -> Result<Change, String> {
    let files = Files::of(root)?;
    let content = system_file::read(&files.daemon_json)?;
    let shim = shim_path();
    let update = daemon_json::with_shim(content.as_deref(), &shim.to_string_lossy())
        .map_err(|e| format!("{}:{e}\nnothing was changed", files.daemon_json.display()))?;
    let Some((new, previous)) = update else {
        let message = format!(
            "{}: already runs containers through {SHIM_NAME}",
            files.daemon_json.display()
        );
        return Ok(Change {
            files,
            steps: Vec::new(),
            created: Vec::new(),
            message,
        });
    };
    let mut created = Vec::new();
    for file in [&files.daemon_json, &files.previous] {
        let mut missing: Vec<PathBuf> = file
            .ancestors()
            .skip(1)
            .take_while(|d| !d.exists())
            .map(|d| root.inside(d))
            .collect();
        missing.reverse();
        for dir in missing {
            if !created.contains(&dir) {
                created.push(dir);
            }
        }
    }
    let mut steps = vec![Step::File {
        path: root.inside(&files.daemon_json),
        existed: content.is_some(),
        content: Some(new),
    }];
    // Already the default (the shim's path changes): the record of what came before stays.
    let replaces_shim = previous.default_runtime.as_deref() == Some(daemon_json::RUNTIME);
    if !(replaces_shim && files.previous.exists()) {
        steps.push(Step::File {
            path: root.inside(&files.previous),
            existed: files.previous.exists(),
            content: Some(previous.to_json()),
        });
    }
    let message = format!(
        "{}: default runtime {} ({})",
        files.daemon_json.display(),
        daemon_json::RUNTIME,
        shim.display()
    );
    Ok(Change {
        files,
        steps,
        created,
        message,
    })
}

/// Uninstall: `daemon.json` without the shim, the previous default runtime restored (or
/// `runc`); no steps if it does not name the shim.
pub fn plan_uninstall(root: &Root) -> Result<Change, String> {
    let files = Files::of(root)?;
    let content = system_file::read(&files.daemon_json)?;
    let none = |files| Change {
        files,
        steps: Vec::new(),
        created: Vec::new(),
        message: String::new(),
    };
    let Some(content) = content.filter(|c| daemon_json::has_shim(Some(c)) || content_names_shim(c))
    else {
        return Ok(none(files));
    };
    let previous = std::fs::read(&files.previous)
        .ok()
        .and_then(|b| Previous::from_json(&b))
        .unwrap_or(Previous {
            existed: true,
            default_runtime: None,
            declared: None,
        });
    let updated = daemon_json::without_shim(&content, &previous)
        .map_err(|e| format!("{}:{e}", files.daemon_json.display()))?;
    let mut steps = vec![Step::File {
        path: root.inside(&files.daemon_json),
        existed: true,
        content: Some(updated),
    }];
    if files.previous.exists() {
        steps.push(Step::File {
            path: root.inside(&files.previous),
            existed: true,
            content: None,
        });
    }
    let message = format!(
        "{}: default runtime {} restored",
        files.daemon_json.display(),
        previous.default_runtime.as_deref().unwrap_or("runc")
    );
    Ok(Change {
        files,
        steps,
        created: Vec::new(),
        message,
    })
}

impl Change {
    /// Creates the directories the steps need (listed in the plan, so a rollback removes them).
    pub fn create_directories(&self, root: &Root) -> Result<(), String> {
        for dir in &self.created {
            let dir = root.path(dir);
            if !dir.exists() {
                std::fs::create_dir(&dir).map_err(crate::errors::io("create", &dir))?;
            }
        }
        Ok(())
    }

    /// After the steps are applied: reloads dockerd and waits until it confirms the shim
    /// (`install`) or no longer names it. An error means the transaction must roll back.
    pub fn reload(&self, install: bool) -> Result<String, String> {
        if self.steps.is_empty() && !install {
            return Ok(String::new());
        }
        reload_and_verify(&self.files, install)
    }

    /// After a rollback of an install: dockerd rereads the restored file (best effort).
    pub fn reload_after_rollback(&self) {
        if !self.steps.is_empty() {
            let _ = reload_and_verify(&self.files, false);
        }
    }
}

fn content_names_shim(content: &[u8]) -> bool {
    content
        .windows(daemon_json::RUNTIME.len())
        .any(|w| w == daemon_json::RUNTIME.as_bytes())
}

/// Sends SIGHUP to the dockerd reading `files.daemon_json` and asks its API until the default
/// runtime is the shim (`expect_shim`) or is not.
fn reload_and_verify(files: &Files, expect_shim: bool) -> Result<String, String> {
    let daemons = dockerds_reading(&files.daemon_json);
    if daemons.is_empty() {
        return Ok("no dockerd reads it now: it applies when dockerd starts".into());
    }
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        for pid in &daemons {
            // SAFETY: kill has no memory effects; the pid was a dockerd a moment ago.
            unsafe { libc::kill(*pid, libc::SIGHUP) };
        }
        std::thread::sleep(PAUSE);
        let socket = dockerd_socket(daemons[0])
            .map(Endpoint::Unix)
            .unwrap_or_else(|| files.socket.clone());
        match docker_api::info(&socket, Instant::now() + Duration::from_secs(5)) {
            Ok(info) if (info.default_runtime == daemon_json::RUNTIME) == expect_shim => {
                return Ok(format!(
                    "dockerd reloaded: default runtime {}",
                    info.default_runtime
                ));
            }
            Ok(info) => last = format!("default runtime is still {}", info.default_runtime),
            Err(e) => last = e,
        }
    }
    Err(format!(
        "dockerd (pid {daemons:?}) did not take daemon.json after {ATTEMPTS} reloads: {last}"
    ))
}

/// The dockerd processes of this mount namespace whose configuration file is `daemon_json`.
pub fn dockerds_reading(daemon_json: &Path) -> Vec<i32> {
    let own_namespace = std::fs::read_link("/proc/self/ns/mnt").ok();
    let Ok(wanted) = daemon_json
        .parent()
        .map_or(Ok(PathBuf::new()), Path::canonicalize)
        .map(|d| d.join(daemon_json.file_name().unwrap_or_default()))
    else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let proc = PathBuf::from(format!("/proc/{pid}"));
            std::fs::read_link(proc.join("ns/mnt")).ok() == own_namespace
                && std::fs::read(proc.join("comm")).is_ok_and(|c| c == b"dockerd\n")
                && std::fs::read(proc.join("cmdline"))
                    .is_ok_and(|c| config_file(&c, &proc) == wanted)
        })
        .collect()
}

/// The Unix socket dockerd `pid` listens on, from its `-H unix://PATH` (or `--host`).
pub fn dockerd_socket(pid: i32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    unix_socket(&cmdline)
}

fn unix_socket(cmdline: &[u8]) -> Option<PathBuf> {
    let args: Vec<&[u8]> = cmdline.split(|&c| c == 0).collect();
    args.iter().enumerate().find_map(|(i, arg)| {
        let value = match *arg {
            b"-H" | b"--host" => *args.get(i + 1)?,
            other => other
                .strip_prefix(b"--host=")
                .or_else(|| other.strip_prefix(b"-H="))?,
        };
        let path = value.strip_prefix(b"unix://")?;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(path)))
    })
}

/// The daemon configuration file named by a dockerd command line (`--config-file F` or
/// `--config-file=F`, relative to its working directory), default `/etc/docker/daemon.json`.
fn config_file(cmdline: &[u8], proc: &Path) -> PathBuf {
    let args: Vec<&[u8]> = cmdline.split(|&c| c == 0).collect();
    let mut named: Option<OsString> = None;
    for (i, arg) in args.iter().enumerate() {
        if let Some(v) = arg.strip_prefix(b"--config-file=") {
            named = Some(std::ffi::OsStr::from_bytes(v).into());
        } else if *arg == b"--config-file" {
            named = args
                .get(i + 1)
                .map(|v| std::ffi::OsStr::from_bytes(v).into());
        }
    }
    let path = PathBuf::from(named.unwrap_or_else(|| "/etc/docker/daemon.json".into()));
    let path = if path.is_relative() {
        std::fs::read_link(proc.join("cwd"))
            .unwrap_or_default()
            .join(path)
    } else {
        path
    };
    path.parent()
        .and_then(|d| d.canonicalize().ok())
        .map(|d| d.join(path.file_name().unwrap_or_default()))
        .unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_of_a_command_line() {
        assert_eq!(
            unix_socket(b"dockerd\0-H\0unix:///tmp/d.sock\0"),
            Some(PathBuf::from("/tmp/d.sock"))
        );
        assert_eq!(
            unix_socket(b"dockerd\0--host=unix:///run/x.sock\0"),
            Some(PathBuf::from("/run/x.sock"))
        );
        assert_eq!(unix_socket(b"dockerd\0-H\0tcp://0.0.0.0:2375\0"), None);
        assert_eq!(unix_socket(b"dockerd\0"), None);
    }

    #[test]
    fn config_file_of_a_command_line() {
        let proc = Path::new("/proc/self");
        assert_eq!(
            config_file(b"dockerd\0--iptables=false\0", proc),
            Path::new("/etc/docker/daemon.json")
        );
        assert_eq!(
            config_file(b"dockerd\0--config-file\0/tmp/d.json\0", proc),
            std::fs::canonicalize("/tmp").unwrap().join("d.json")
        );
        assert_eq!(
            config_file(b"dockerd\0--config-file=/tmp/e.json\0", proc),
            std::fs::canonicalize("/tmp").unwrap().join("e.json")
        );
    }

    #[test]
    fn reinstall_over_an_older_shim_path_keeps_the_record_of_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("etc/docker")).unwrap();
        std::fs::write(
            dir.path().join("etc/docker/daemon.json"),
            r#"{"default-runtime": "dd-shim", "runtimes": {"dd-shim": {"path": "/old/auto_inject_runc"}}}"#,
        )
        .unwrap();
        let with_record = plan_install(&root).unwrap();
        assert_eq!(with_record.steps.len(), 2, "no record yet: one is written");
        let config_dir = dir.path().join("etc/datadog-agent/inject");
        std::fs::create_dir_all(&config_dir).unwrap();
        std::fs::write(config_dir.join(daemon_json::PREVIOUS_FILE), b"{}").unwrap();
        let kept = plan_install(&root).unwrap();
        assert_eq!(kept.steps.len(), 1, "only daemon.json changes");
    }
}
