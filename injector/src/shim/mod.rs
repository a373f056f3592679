//! `auto_inject_runc`: the OCI runtime shim Docker and containerd run instead of runc (a link
//! to the `apm-inject` binary, which dispatches on its name before anything else).
//!
//! Every call is passed to the real runtime ([`runtime::find`]) with its arguments unchanged,
//! by `exec`. Two calls are edited first:
//! - `create`/`run`: the bundle's `config.json` gets the packages mount and the launcher
//!   ([`edit::inject_config`]; its entry chosen from the image's root filesystem,
//!   [`image::launcher_entry`]), replaced atomically. `create` then runs runc as a child: if it
//!   fails, the original `config.json` is put back and runc is executed again with it, so
//!   that nothing the shim added can fail a container start (say, the packages deleted between
//!   the check and runc's mount).
//! - `exec --process FILE`: the process gets the launcher if its container got it
//!   ([`edit::inject_process`]; the container's `config.json` is found with `runc state`).
//!
//! The shim never writes to standard output or error (they are runc's, or the container's);
//! with `log_level: debug` in `docker_config.yaml` it appends what it did and why to the log
//! files there. Any failure means the original call, untouched.

pub mod args;
pub mod decision;
pub mod edit;
pub mod image;
pub mod runtime;

use crate::daemon_json::{Previous, PREVIOUS_FILE};
use crate::docker_config::{self, DockerConfig};
use crate::http_client::Endpoint;
use crate::{docker_api, layout};
use args::Call;
use decision::Skip;
use edit::{Container, Injection};
use runtime::Runtime;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// File name that makes `apm-inject` act as the shim.
pub const SHIM_NAME: &str = "auto_inject_runc";
/// How long the shim waits for the Docker API.
const API_BUDGET: Duration = Duration::from_secs(2);
/// The runtime chosen, for the panic hook.
static CHOSEN: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();

/// Whether this process was started as `…/auto_inject_runc`.
pub fn invoked_as_shim() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|argv0| Path::new(&argv0).file_name() == Some(OsStr::new(SHIM_NAME)))
}

/// Runs the shim: never returns.
pub fn run() -> ! {
    // A panic must not fail the call: abort is configured, so the hook passes the call on.
    std::panic::set_hook(Box::new(|_| pass_through_from_panic()));
    let args: Vec<OsString> = std::env::args_os().collect();
    let shim = args.first().map(PathBuf::from).unwrap_or_default();
    let arguments = &args[1.min(args.len())..];
    let (config, config_error) = match docker_config::load(&docker_config::path()) {
        Ok(c) => (c, None),
        Err(e) => (DockerConfig::default(), Some(e)),
    };
    let log = Log::new(&config);
    let path_var = std::env::var_os("PATH");
    let previous = std::fs::read(docker_config::path().with_file_name(PREVIOUS_FILE))
        .ok()
        .and_then(|bytes| Previous::from_json(&bytes));
    let candidates = runtime::candidates(&config.runtimes, previous.as_ref());
    let Some(runc) = runtime::find(&candidates, path_var.as_deref()) else {
        // The one case where nothing can be passed through: say so, as runc would.
        eprintln!(
            "{SHIM_NAME}: no runtime found (candidates {candidates:?}, from {}; PATH)",
            docker_config::path().display()
        );
        std::process::exit(127)
    };
    let _ = CHOSEN.set(runc.clone());
    let call = args::parse(arguments);
    let prepared = match (&call, config_error) {
        (Call::Other, _) => None,
        (_, _) if !config.inject => Some(Err(Skip::Disabled)),
        (_, Some(e)) => Some(Err(Skip::ConfigUnreadable(e))),
        (Call::Create { bundle, .. }, None) => {
            Some(prepare_create(&shim, bundle, arguments, &config))
        }
        (Call::Exec { process, id, root }, None) => {
            Some(prepare_exec(&runc, process, id, root.as_deref()))
        }
    };
    match prepared {
        None => {}
        Some(Err(skip)) => log.note(&format!("{} left as is: {skip}", describe(&call))),
        Some(Ok(edit)) => {
            log.note(&format!("{}: instrumented", describe(&call)));
            if matches!(
                call,
                Call::Create {
                    foreground: false,
                    ..
                }
            ) {
                run_or_restore(&runc, arguments, &edit, &log);
            }
        }
    }
    exec(&runc, arguments)
}

/// A file the shim replaced, with its original content.
struct Edit {
    path: PathBuf,
    original: Vec<u8>,
}

/// Edits the bundle's `config.json`.
fn prepare_create(
    shim: &Path,
    bundle: &Path,
    arguments: &[OsString],
    config: &DockerConfig,
) -> Result<Edit, Skip> {
    let packages = packages_beside(shim)?;
    let path = bundle.join("config.json");
    let original = read(&path)?;
    let id = arguments.last().and_then(|a| a.to_str()).unwrap_or("");
    let container = docker_container(&config.docker_socket, id)?;
    let start_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let agent_dir = Path::new(edit::AGENT_SOCKET_DIR);
    let injection = Injection {
        packages: &packages,
        start_time,
        deny: &config.deny,
        agent_dir: agent_dir.is_dir().then_some(agent_dir),
        sdk: host_sdk(),
        launcher: image::launcher_entry(&rootfs(bundle, &original)),
    };
    let edited = edit::inject_config(&original, &injection, &container)?;
    replace(&path, &edited)?;
    Ok(Edit { path, original })
}

/// The container's root filesystem: `root.path` of its `config.json`, relative to the bundle
/// unless absolute (containerd and Docker mount it there before `create`); the bundle's
/// `rootfs` if `config.json` names none (then unreadable as JSON, and left alone anyway).
fn rootfs(bundle: &Path, config: &[u8]) -> PathBuf {
    let config: serde_json::Value = serde_json::from_slice(config).unwrap_or_default();
    bundle.join(config["root"]["path"].as_str().unwrap_or("rootfs"))
}

/// The host configuration's SDK family (defaults when it cannot be read).
fn host_sdk() -> contract::sdk::Sdk {
    let dir = crate::config::dir();
    let mut storage = Vec::new();
    let host = crate::std_host::StdHost::new();
    let dir = std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str());
    analyzer::config::load(&host, dir, 0, &mut storage).0.sdk
}

/// Edits the `--process` file of `exec` in container `id`.
fn prepare_exec(
    runc: &Runtime,
    process: &Path,
    id: &OsStr,
    root: Option<&OsStr>,
) -> Result<Edit, Skip> {
    let original = read(process)?;
    let bundle = bundle_of(runc, id, root)?;
    let container_config = read(&bundle.join("config.json"))?;
    let launcher = launcher_source(&container_config)?;
    if !launcher.is_file() {
        return Err(Skip::PackagesMissing(launcher.display().to_string()));
    }
    let edited = edit::inject_process(&original, &container_config)?;
    replace(process, &edited)?;
    Ok(Edit {
        path: process.to_path_buf(),
        original,
    })
}

/// The host packages root around the shim,
/// `<root>/datadog-apm-inject/<version or stable>/inject/auto_inject_runc` -> `<root>`, with
/// the launcher present through `stable`.
fn packages_beside(shim: &Path) -> Result<PathBuf, Skip> {
    let shim = if shim.is_absolute() {
        shim.to_path_buf()
    } else {
        std::env::current_exe().map_err(|e| Skip::PackagesMissing(e.to_string()))?
    };
    let root = analyzer::layout::packages_root(shim.as_os_str().as_encoded_bytes())
        .map(|r| PathBuf::from(OsStr::from_bytes(r)))
        .ok_or_else(|| {
            Skip::PackagesMissing(format!("a package tree around {}", shim.display()))
        })?;
    let launcher = layout::launcher_in(&root.join(layout::INJECT_PACKAGE).join(layout::STABLE));
    if !launcher.is_file() {
        return Err(Skip::PackagesMissing(launcher.display().to_string()));
    }
    Ok(root)
}

/// The launcher on the host, through the source of the container's packages mount.
fn launcher_source(container_config: &[u8]) -> Result<PathBuf, Skip> {
    let config: serde_json::Value =
        serde_json::from_slice(container_config).map_err(|e| Skip::Malformed(e.to_string()))?;
    let source = config["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["destination"] == edit::CONTAINER_PACKAGES)
        .and_then(|m| m["source"].as_str())
        .ok_or(Skip::ContainerNotInjected)?;
    let inside = edit::CONTAINER_LAUNCHER
        .strip_prefix(edit::CONTAINER_PACKAGES)
        .unwrap_or_default()
        .trim_start_matches('/');
    Ok(Path::new(source).join(inside))
}

/// What Docker knows of container `id`, if Docker's socket is there; an error if it is there
/// but does not answer in time (its labels may opt the container out).
fn docker_container(api: &Endpoint, id: &str) -> Result<Container, Skip> {
    if matches!(api, Endpoint::Unix(socket) if !socket.exists()) {
        return Ok(Container::default());
    }
    docker_api::container(api, id, Instant::now() + API_BUDGET)
        .map(Option::unwrap_or_default)
        .map_err(Skip::DockerApi)
}

/// The bundle of container `id`, from `runc state`.
fn bundle_of(runc: &Runtime, id: &OsStr, root: Option<&OsStr>) -> Result<PathBuf, Skip> {
    let mut cmd = runc.command();
    if let Some(root) = root {
        cmd.arg("--root").arg(root);
    }
    let output = cmd
        .arg("state")
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| Skip::Malformed(format!("runc state: {e}")))?;
    let state: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Skip::Malformed(format!("runc state: {e}")))?;
    state["bundle"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| Skip::Malformed("runc state names no bundle".into()))
}

/// Runs `runc arguments` as a child; on success exits with its status, on failure puts the
/// original file back and returns (the caller then executes runc again).
fn run_or_restore(runc: &Runtime, arguments: &[OsString], edit: &Edit, log: &Log) {
    match runc.command().args(arguments).status() {
        Ok(status) if status.success() => std::process::exit(0),
        outcome => {
            let restored = replace(&edit.path, &edit.original);
            log.note(&format!(
                "runc failed with the edited {} ({outcome:?}); original put back ({restored:?}), \
                 running runc again",
                edit.path.display()
            ));
        }
    }
}

/// Reads an OCI file (at most [`edit::MAX_SIZE`] bytes, regular files only).
fn read(path: &Path) -> Result<Vec<u8>, Skip> {
    let meta =
        std::fs::metadata(path).map_err(|e| Skip::Malformed(format!("{}: {e}", path.display())))?;
    if !meta.is_file() || meta.len() > edit::MAX_SIZE as u64 {
        return Err(Skip::Malformed(format!(
            "{}: not a regular file of at most 4 MiB",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| Skip::Malformed(format!("{}: {e}", path.display())))
}

/// Replaces `path` with `content` through a temporary file beside it, keeping its mode.
fn replace(path: &Path, content: &[u8]) -> Result<(), Skip> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let mut temp_name = OsString::from(".");
    temp_name.push(path.file_name().unwrap_or_default());
    temp_name.push(format!(".dd-shim-{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(content)?;
            f.set_permissions(std::fs::Permissions::from_mode(mode))
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(|e| Skip::ReadOnly(format!("{}: {e}", path.display())))
}

/// Executes the real runtime with the original arguments.
fn exec(runc: &Runtime, arguments: &[OsString]) -> ! {
    let error = runc.command().args(arguments).exec();
    eprintln!(
        "{SHIM_NAME}: cannot run {}: {error}",
        runc.program.display()
    );
    std::process::exit(127)
}

/// After a panic: the call goes to runc untouched (any file edited was replaced whole, and a
/// panic happens before or after a replacement, never during one).
fn pass_through_from_panic() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if let Some(runc) = CHOSEN.get() {
        exec(runc, &args);
    }
    let path_var = std::env::var_os("PATH");
    if let Some(runc) = runtime::find(&[Runtime::plain("runc")], path_var.as_deref()) {
        exec(&runc, &args);
    }
    std::process::exit(127)
}

/// A short description of a call for the log, e.g. `create 5fcd9f208391`.
fn describe(call: &Call) -> String {
    match call {
        Call::Create { bundle, .. } => format!("create {}", bundle.display()),
        Call::Exec { id, .. } => format!("exec in {}", id.to_string_lossy()),
        Call::Other => "call".into(),
    }
}

/// The debug log: lines appended to the configured files, only with `log_level: debug`.
struct Log {
    files: Vec<PathBuf>,
}

impl Log {
    fn new(config: &DockerConfig) -> Log {
        Log {
            files: if config.debug {
                config.log_files.clone()
            } else {
                Vec::new()
            },
        }
    }

    fn note(&self, message: &str) {
        use std::os::unix::fs::OpenOptionsExt;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let line = format!("{now} {SHIM_NAME}[{}]: {message}\n", std::process::id());
        for file in &self.files {
            if let Some(dir) = file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o640)
                .open(file)
                .and_then(|mut f| f.write_all(line.as_bytes()));
        }
    }
}
