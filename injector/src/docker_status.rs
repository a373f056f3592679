//! Docker in `doctor` and `status`: whether `daemon.json` names the shim, whether the shim can
//! work (its `docker_config.yaml` readable, the runtime it runs next present), whether the
//! running dockerd took it, and which running containers got the shim's edits (read from their
//! first process's environment in `/proc`).

use crate::daemon_json::Previous;
use crate::docker_api::{self, Running};
use crate::docker_config::{self, DockerConfig};
use crate::docker_install;
use crate::http_client::Endpoint;
use crate::layout::Root;
use crate::output::escaped;
use crate::shim::runtime::{self, Runtime};
use crate::{daemon_json, preload_file, system_file};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long `doctor` and `status` wait for the Docker API.
const BUDGET: Duration = Duration::from_secs(5);

/// A doctor check: id, outcome (`None`: not applicable), detail, fix.
pub type Finding = (&'static str, Option<bool>, String, Option<String>);

/// What Docker looks like under `root`.
struct Docker {
    configured: bool,
    api: Option<Endpoint>,
    /// `docker_config.yaml`, or its error (the shim then leaves every container alone).
    config: Result<DockerConfig, String>,
    /// What install recorded of the default runtime it replaced.
    previous: Option<Previous>,
}

fn look(root: &Root) -> Result<Docker, String> {
    let daemon_json = root.path(Path::new("/etc/docker/daemon.json"));
    let content = system_file::read(&daemon_json)?;
    let dockerds = docker_install::dockerds_reading(&daemon_json);
    let config_dir = root.path(Path::new(contract::config::DEFAULT_DIR));
    let config = docker_config::load(&config_dir.join(docker_config::FILE));
    let socket = config.as_ref().map_or_else(
        |_| DockerConfig::default().docker_socket,
        |c| c.docker_socket.clone(),
    );
    let api = dockerds.first().map(|&pid| {
        docker_install::dockerd_socket(pid)
            .map(Endpoint::Unix)
            .unwrap_or(socket)
    });
    let previous = std::fs::read(config_dir.join(daemon_json::PREVIOUS_FILE))
        .ok()
        .and_then(|bytes| Previous::from_json(&bytes));
    Ok(Docker {
        configured: daemon_json::has_shim(content.as_deref()),
        api,
        config,
        previous,
    })
}

/// `docker_config.yaml` readable, and the runtime the shim runs after its edits present (with
/// none, every container start fails). Programs are looked for under `root`, in `PATH`.
fn shim_setup(root: &Root, docker: &Docker) -> Vec<Finding> {
    let config = match &docker.config {
        Ok(config) => config,
        Err(e) => {
            return vec![(
                "docker_config",
                Some(false),
                format!("{e}: the shim leaves every container as it is"),
                Some(format!("correct {}", docker_config::FILE)),
            )]
        }
    };
    let candidates: Vec<Runtime> = runtime::candidates(&config.runtimes, docker.previous.as_ref())
        .into_iter()
        .map(|mut r| {
            if r.program.is_absolute() {
                r.program = root.path(&r.program);
            }
            r
        })
        .collect();
    let path_var =
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let under_root = std::env::join_paths(std::env::split_paths(&path_var).map(|d| root.path(&d)));
    let found = under_root
        .ok()
        .and_then(|p| runtime::find(&candidates, Some(&p)));
    let names = || {
        candidates
            .iter()
            .map(|r| root.inside(&r.program).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![match found {
        Some(r) => (
            "docker_chained_runtime",
            Some(true),
            format!(
                "the shim runs {}{}",
                root.inside(&r.program).display(),
                r.args
                    .iter()
                    .map(|a| format!(" {}", a.to_string_lossy()))
                    .collect::<String>()
            ),
            None,
        ),
        None => (
            "docker_chained_runtime",
            Some(false),
            format!("none of {} exists: every container start fails", names()),
            Some(format!(
                "install runc, or name an existing runtime in runtimes: of {}",
                docker_config::FILE
            )),
        ),
    }]
}

/// The doctor's Docker checks.
pub fn findings(root: &Root) -> Vec<Finding> {
    if !docker_install::present(root) {
        return vec![(
            "docker_runtime",
            None,
            "Docker is not installed here".into(),
            None,
        )];
    }
    let docker = match look(root) {
        Ok(d) => d,
        Err(e) => {
            let fix = "repair /etc/docker/daemon.json".to_owned();
            return vec![("docker_runtime", Some(false), e, Some(fix))];
        }
    };
    let mut findings = Vec::new();
    let shim = root.path(&docker_install::shim_path());
    if !docker.configured {
        findings.push((
            "docker_runtime",
            None,
            "daemon.json does not name the shim: containers are not instrumented".into(),
            None,
        ));
    } else if !shim.exists() {
        findings.push((
            "docker_runtime",
            Some(false),
            format!(
                "daemon.json names {}, which is missing: containers cannot start",
                shim.display()
            ),
            Some("apm-inject install --docker (or apm-inject uninstall)".into()),
        ));
    } else {
        findings.push((
            "docker_runtime",
            Some(true),
            format!("daemon.json: default runtime dd-shim ({})", shim.display()),
            None,
        ));
        findings.extend(shim_setup(root, &docker));
    }
    let Some(api) = docker.api else {
        findings.push((
            "docker_reloaded",
            None,
            "no dockerd reads daemon.json".into(),
            None,
        ));
        return findings;
    };
    match docker_api::info(&api, Instant::now() + BUDGET) {
        Ok(info) if (info.default_runtime == daemon_json::RUNTIME) == docker.configured => {
            findings.push((
                "docker_reloaded",
                Some(true),
                format!("dockerd's default runtime: {}", info.default_runtime),
                None,
            ));
        }
        Ok(info) => findings.push((
            "docker_reloaded",
            Some(false),
            format!(
                "dockerd's default runtime is {}, daemon.json says otherwise",
                info.default_runtime
            ),
            Some("reload dockerd: kill -HUP $(pidof dockerd)".into()),
        )),
        Err(e) => findings.push((
            "docker_reloaded",
            Some(false),
            e,
            Some("check that dockerd is running and its socket readable".into()),
        )),
    }
    if let Ok(running) = docker_api::running(&api, Instant::now() + BUDGET) {
        let (with, without): (Vec<&Running>, Vec<&Running>) =
            running.iter().partition(|r| instrumented(r.pid));
        let names = |list: &[&Running]| {
            list.iter()
                .map(|r| r.container.name.clone().unwrap_or_else(|| r.id.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        findings.push((
            "docker_containers",
            Some(true),
            format!(
                "{} running container(s) instrumented [{}], {} not [{}]",
                with.len(),
                names(&with),
                without.len(),
                names(&without)
            ),
            None,
        ));
    }
    findings
}

/// A running container as `status` shows it.
pub struct ContainerState {
    /// What the Docker API says of it.
    pub running: Running,
    /// Whether its first process started with the shim's edits.
    pub instrumented: bool,
}

impl ContainerState {
    /// Why it is not instrumented, e.g. `runtime runc`; `None` if it is.
    fn reason(&self) -> Option<String> {
        if self.instrumented {
            None
        } else if self.running.runtime != daemon_json::RUNTIME {
            Some(format!("runtime {}", self.running.runtime))
        } else {
            Some("left as is by the shim: see its debug log".into())
        }
    }
}

/// Docker's running containers: `None` if no dockerd reads `daemon.json` under `root`, else
/// the containers or why the API could not list them.
pub fn containers(root: &Root) -> Option<Result<Vec<ContainerState>, String>> {
    let Ok(Docker { api: Some(api), .. }) = look(root) else {
        return None;
    };
    Some(
        docker_api::running(&api, Instant::now() + BUDGET).map(|running| {
            running
                .into_iter()
                .map(|running| ContainerState {
                    instrumented: instrumented(running.pid),
                    running,
                })
                .collect()
        }),
    )
}

/// The `status` lines for Docker's running containers.
pub fn status_lines(containers: &Result<Vec<ContainerState>, String>) -> Vec<String> {
    let containers = match containers {
        Ok(containers) => containers,
        Err(e) => return vec![format!("Docker: {e}")],
    };
    let mut lines = vec![format!(
        "{:<12}  {:<20} {:<24} {:<8} INSTRUMENTED",
        "CONTAINER", "NAME", "IMAGE", "RUNTIME"
    )];
    for c in containers {
        let r = &c.running;
        let state = match c.reason() {
            None => "yes".to_owned(),
            Some(reason) => format!("no ({reason})"),
        };
        // Names and images may come from annotations anyone creating a container writes.
        lines.push(format!(
            "{:<12}  {:<20} {:<24} {:<8} {}",
            escaped(&r.id),
            escaped(r.container.name.as_deref().unwrap_or("")),
            escaped(r.container.image.as_deref().unwrap_or("")),
            escaped(&r.runtime),
            escaped(&state),
        ));
    }
    lines
}

/// The `docker` member of `status --json`: `{"containers": [...]}` or `{"error": "..."}`.
pub fn status_json(containers: &Result<Vec<ContainerState>, String>) -> Value {
    match containers {
        Err(e) => json!({ "error": e }),
        Ok(containers) => json!({
            "containers": containers.iter().map(|c| json!({
                "id": c.running.id,
                "name": c.running.container.name,
                "image": c.running.container.image,
                "runtime": c.running.runtime,
                "instrumented": c.instrumented,
                "reason": c.reason(),
            })).collect::<Vec<_>>(),
        }),
    }
}

/// Whether process `pid` started with the shim's edits: our launcher in `LD_PRELOAD` and
/// `DD_INJECT_SENDER_TYPE=docker`.
fn instrumented(pid: u32) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let vars: Vec<&[u8]> = environ.split(|&c| c == 0).collect();
    let preload = vars.iter().find_map(|v| v.strip_prefix(b"LD_PRELOAD="));
    preload.is_some_and(|p| {
        preload_file::entries(p)
            .into_iter()
            .any(preload_file::is_ours)
    }) && vars.contains(&&b"DD_INJECT_SENDER_TYPE=docker"[..])
}
