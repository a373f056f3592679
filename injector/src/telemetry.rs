//! `apm-inject telemetry-forward`: forwards a tracer's entry-point telemetry to the local agent.
//!
//! The tracers' entry points (ddtrace's `sitecustomize`, dd-trace-js's guardrails, …) report
//! whether they loaded by running `$DD_TELEMETRY_FORWARDER_PATH library_entrypoint` with JSON
//! on standard input:
//!
//! ```json
//! {"metadata": {"language_name": "python", "language_version": "3.11.2",
//!               "runtime_name": "cpython", "runtime_version": "3.11.2",
//!               "tracer_version": "4.16.0", "pid": 42},
//!  "points": [{"name": "library_entrypoint.complete", "tags": ["injection_forced:false"]}]}
//! ```
//!
//! Each point becomes one count in a telemetry v2 `generate-metrics` request, POSTed to the
//! agent's telemetry proxy (`/telemetry/proxy/api/v2/apmtelemetry`), which adds the API key and
//! passes it on to Datadog. The agent is found as the tracers find it: `DD_TRACE_AGENT_URL`
//! (`http://host:port` or `unix:///path`), else `DD_AGENT_HOST` and `DD_TRACE_AGENT_PORT`, else
//! the agent's socket `/var/run/datadog/apm.socket` if it exists, else `127.0.0.1:8126`.
//!
//! The forwarder runs in the application's shadow: it never prints, always exits 0, and ends
//! within [`BUDGET`] whatever the agent does (stdin read, DNS, connect, send and reply included).

use crate::http_client::{self, Endpoint};
use serde_json::{json, Map, Value};
use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// File name that makes the `apm-inject` binary act as the forwarder (`inject/telemetry-forward`
/// is a link to `apm-inject`, and tracers run it as `$DD_TELEMETRY_FORWARDER_PATH`).
pub const FORWARDER_NAME: &str = contract::layout::FORWARDER;

/// Longest the forwarder runs, from start to exit.
pub const BUDGET: Duration = Duration::from_secs(1);

/// The agent's telemetry proxy endpoint.
const PROXY_PATH: &str = "/telemetry/proxy/api/v2/apmtelemetry";

/// Telemetry namespace of the forwarded counts: the one tracers use for their own metrics.
const NAMESPACE: &str = "tracers";

/// Largest payload read from standard input; tracers send well under 1 KiB.
const MAX_INPUT: u64 = 64 * 1024;

/// Largest agent reply read; the proxy answers with an empty body.
const MAX_REPLY: usize = 64 * 1024;

/// The agent's default Unix socket, used by the tracers when nothing else is configured.
pub(crate) const DEFAULT_SOCKET: &str = "/var/run/datadog/apm.socket";

/// Whether this process was started through a file named [`FORWARDER_NAME`], e.g.
/// `/opt/datadog-packages/datadog-apm-inject/stable/inject/telemetry-forward`.
pub fn invoked_as_forwarder() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|argv0| Path::new(&argv0).file_name() == Some(OsStr::new(FORWARDER_NAME)))
}

/// Forwards standard input to the agent (see the module docs); arguments are ignored.
pub fn run() -> ExitCode {
    // Release builds abort on panic: exit 0 instead, silently, whatever happens.
    std::panic::set_hook(Box::new(|_| std::process::exit(0)));
    let deadline = Instant::now() + BUDGET;
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        forward(deadline);
        let _ = done.send(());
    });
    let _ = finished.recv_timeout(BUDGET);
    ExitCode::SUCCESS
}

/// Reads the payload, builds the request and sends it; gives up silently on any failure.
fn forward(deadline: Instant) -> Option<()> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_end(&mut input)
        .ok()?;
    let payload: Value = serde_json::from_slice(&input).ok()?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let request = Request::new(&payload, &env, &host(), now)?;
    let endpoint = agent(&env, Path::new(DEFAULT_SOCKET).exists())?;
    http_client::send(&endpoint, request.to_http(), deadline, MAX_REPLY).ok()?;
    Some(())
}

/// One `generate-metrics` request: its JSON body and the client headers.
#[derive(Debug)]
struct Request {
    body: String,
    language: String,
    tracer_version: String,
}

impl Request {
    /// The request for a tracer `payload`, or `None` if it has no well-formed point.
    /// `env` reads the application's `DD_SERVICE`, `DD_ENV` and `DD_VERSION`.
    fn new(
        payload: &Value,
        env: &dyn Fn(&str) -> Option<String>,
        host: &Value,
        now: u64,
    ) -> Option<Request> {
        let meta = payload.get("metadata").and_then(Value::as_object);
        let text = |key: &str| {
            meta.and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let series: Vec<Value> = payload
            .get("points")?
            .as_array()?
            .iter()
            .filter_map(|point| series(point, now))
            .collect();
        if series.is_empty() {
            return None;
        }
        let language = text("language_name");
        let mut application = Map::new();
        let service = env("DD_SERVICE").unwrap_or_else(|| format!("unnamed-{language}-service"));
        application.insert("service_name".into(), service.into());
        for (key, var) in [("env", "DD_ENV"), ("service_version", "DD_VERSION")] {
            if let Some(value) = env(var) {
                application.insert(key.into(), value.into());
            }
        }
        for key in [
            "language_name",
            "language_version",
            "runtime_name",
            "runtime_version",
            "tracer_version",
        ] {
            application.insert(key.into(), text(key).into());
        }
        let body = json!({
            "api_version": "v2",
            "request_type": "generate-metrics",
            "tracer_time": now,
            "runtime_id": runtime_id(),
            "seq_id": 1,
            "application": application,
            "host": host,
            "payload": {"namespace": NAMESPACE, "series": series},
        });
        Some(Request {
            body: body.to_string(),
            language,
            tracer_version: text("tracer_version"),
        })
    }

    /// The HTTP request to the agent's telemetry proxy.
    fn to_http(&self) -> hyper::Request<Vec<u8>> {
        let mut request = hyper::Request::post(PROXY_PATH)
            .header("Content-Type", "application/json")
            .header("DD-Telemetry-API-Version", "v2")
            .header("DD-Telemetry-Request-Type", "generate-metrics");
        for (name, value) in [
            ("DD-Client-Library-Language", &self.language),
            ("DD-Client-Library-Version", &self.tracer_version),
        ] {
            let value: String = value.chars().filter(|c| matches!(c, ' '..='~')).collect();
            if !value.is_empty() {
                request = request.header(name, value);
            }
        }
        request
            .body(self.body.clone().into_bytes())
            .expect("method, path and printable headers are valid")
    }
}

/// A tracer point `{"name": "library_entrypoint.complete", "tags": ["k:v", …]}` as one count.
fn series(point: &Value, now: u64) -> Option<Value> {
    let name = point.get("name")?.as_str().filter(|n| !n.is_empty())?;
    let tags: Vec<&str> = match point.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(tags) => tags.as_array()?.iter().filter_map(Value::as_str).collect(),
    };
    Some(json!({
        "metric": name,
        "type": "count",
        "common": true,
        "points": [[now, 1]],
        "tags": tags,
    }))
}

/// The `host` object of a telemetry request, from `/proc/sys/kernel`.
fn host() -> Value {
    let kernel = |name: &str| {
        std::fs::read_to_string(Path::new("/proc/sys/kernel").join(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    json!({
        "hostname": kernel("hostname"),
        "os": "Linux",
        "architecture": std::env::consts::ARCH,
        "kernel_name": "Linux",
        "kernel_release": kernel("osrelease"),
        "kernel_version": kernel("version"),
    })
}

/// A fresh UUID from the kernel, identifying this report.
fn runtime_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// The agent as the tracers find it (module docs); `socket_exists` tells whether the default
/// socket is there. `None` for a URL this forwarder cannot use (e.g. `https://`).
pub(crate) fn agent(env: &dyn Fn(&str) -> Option<String>, socket_exists: bool) -> Option<Endpoint> {
    if let Some(url) = env("DD_TRACE_AGENT_URL") {
        return agent_url(&url);
    }
    let host = env("DD_AGENT_HOST");
    let port = env("DD_TRACE_AGENT_PORT");
    if host.is_none() && port.is_none() && socket_exists {
        return Some(Endpoint::Unix(DEFAULT_SOCKET.into()));
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 8126,
    };
    let host = host.unwrap_or_else(|| "127.0.0.1".into());
    Some(Endpoint::Tcp(host, port))
}

/// `http://host[:port][/…]`, `http://[v6]:port` or `unix:///path`.
fn agent_url(url: &str) -> Option<Endpoint> {
    if let Some(path) = url.strip_prefix("unix://") {
        return Some(Endpoint::Unix(path.into()));
    }
    let authority = url.strip_prefix("http://")?.split('/').next()?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']')?;
            (host, rest.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 80,
    };
    (!host.is_empty()).then(|| Endpoint::Tcp(host.into(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What ddtrace's lib-injection `sitecustomize` sends after loading the tracer.
    const PYTHON_COMPLETE: &str = r#"{"metadata": {"language_name": "python", "language_version": "3.11.2", "runtime_name": "cpython", "runtime_version": "3.11.2", "tracer_version": "4.16.0", "pid": 42}, "points": [{"name": "library_entrypoint.complete", "tags": ["injection_forced:false"]}]}"#;
    /// What dd-trace-js's guardrails send when the Node.js version is not supported.
    const NODE_ABORT: &str = r#"{"metadata":{"language_name":"nodejs","language_version":"20.20.2","runtime_name":"nodejs","runtime_version":"20.20.2","tracer_version":"6.21.0","pid":7,"result":"abort","result_reason":"Incompatible runtime Node.js 20.20.2, supported runtimes: Node.js >=22 <27","result_class":"incompatible_runtime"},"points":[{"name":"library_entrypoint.abort","tags":["reason:incompatible_runtime"]},{"name":"library_entrypoint.abort.runtime","tags":[]}]}"#;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn body(payload: &str, vars: &[(&str, &str)]) -> Value {
        let payload = serde_json::from_str(payload).unwrap();
        let request = Request::new(&payload, &env(vars), &json!({"hostname": "h"}), 1700).unwrap();
        serde_json::from_str(&request.body).unwrap()
    }

    #[test]
    fn each_point_becomes_a_count_in_generate_metrics() {
        let body = body(NODE_ABORT, &[]);
        assert_eq!(body["api_version"], "v2");
        assert_eq!(body["request_type"], "generate-metrics");
        assert_eq!(body["payload"]["namespace"], "tracers");
        let series = body["payload"]["series"].as_array().unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0]["metric"], "library_entrypoint.abort");
        assert_eq!(series[0]["type"], "count");
        assert_eq!(series[0]["points"], json!([[1700, 1]]));
        assert_eq!(series[0]["tags"], json!(["reason:incompatible_runtime"]));
        assert_eq!(series[1]["metric"], "library_entrypoint.abort.runtime");
        assert_eq!(series[1]["tags"], json!([]));
    }

    #[test]
    fn metadata_describes_the_application() {
        let body = body(
            PYTHON_COMPLETE,
            &[("DD_SERVICE", "shop_api"), ("DD_ENV", "prod")],
        );
        let app = &body["application"];
        assert_eq!(app["service_name"], "shop_api");
        assert_eq!(app["env"], "prod");
        assert_eq!(app["language_name"], "python");
        assert_eq!(app["tracer_version"], "4.16.0");
        assert_eq!(app["runtime_version"], "3.11.2");
        assert!(app.get("service_version").is_none());
        assert_eq!(body["host"]["hostname"], "h");
        assert_eq!(
            body["runtime_id"].as_str().unwrap().len(),
            36,
            "a kernel UUID"
        );
    }

    #[test]
    fn service_defaults_to_an_unnamed_one() {
        let body = body(PYTHON_COMPLETE, &[]);
        assert_eq!(
            body["application"]["service_name"],
            "unnamed-python-service"
        );
    }

    #[test]
    fn payloads_without_points_are_not_sent() {
        for payload in [
            r#"{"metadata": {}}"#,
            r#"{"points": []}"#,
            r#"{"points": [{"tags": []}, {"name": ""}, {"name": 3}]}"#,
            r#"[1, 2]"#,
        ] {
            let payload = serde_json::from_str(payload).unwrap();
            assert!(Request::new(&payload, &env(&[]), &json!({}), 1).is_none());
        }
    }

    #[test]
    fn http_request_carries_the_telemetry_headers() {
        let payload = serde_json::from_str(PYTHON_COMPLETE).unwrap();
        let request = Request::new(&payload, &env(&[]), &json!({}), 1).unwrap();
        let http = request.to_http();
        assert_eq!(http.method(), "POST");
        assert_eq!(http.uri(), "/telemetry/proxy/api/v2/apmtelemetry");
        for (name, value) in [
            ("Content-Type", "application/json"),
            ("DD-Telemetry-API-Version", "v2"),
            ("DD-Telemetry-Request-Type", "generate-metrics"),
            ("DD-Client-Library-Language", "python"),
            ("DD-Client-Library-Version", "4.16.0"),
        ] {
            assert_eq!(http.headers()[name], value, "{name}");
        }
        assert_eq!(http.body(), request.body.as_bytes());
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let payload = json!({"metadata": {"language_name": "py\r\nX-Evil: 1"},
                             "points": [{"name": "library_entrypoint.complete"}]});
        let request = Request::new(&payload, &env(&[]), &json!({}), 1).unwrap();
        let http = request.to_http();
        assert_eq!(http.headers()["DD-Client-Library-Language"], "pyX-Evil: 1");
        assert!(!http.headers().contains_key("X-Evil"));
    }

    #[test]
    fn agent_is_found_like_the_tracers_find_it() {
        let tcp = |h: &str, p| Some(Endpoint::Tcp(h.into(), p));
        let from = |vars: &[(&str, &str)], socket| agent(&env(vars), socket);
        assert_eq!(from(&[], false), tcp("127.0.0.1", 8126));
        assert_eq!(
            from(&[], true),
            Some(Endpoint::Unix("/var/run/datadog/apm.socket".into()))
        );
        assert_eq!(
            from(&[("DD_AGENT_HOST", "agent")], true),
            tcp("agent", 8126)
        );
        assert_eq!(
            from(&[("DD_TRACE_AGENT_PORT", "9126")], false),
            tcp("127.0.0.1", 9126)
        );
        assert_eq!(from(&[("DD_AGENT_HOST", "::1")], false), tcp("::1", 8126));
        assert_eq!(from(&[("DD_TRACE_AGENT_PORT", "x")], false), None);
        let url = |u: &str| from(&[("DD_TRACE_AGENT_URL", u), ("DD_AGENT_HOST", "no")], false);
        assert_eq!(url("http://10.0.0.1:1234"), tcp("10.0.0.1", 1234));
        assert_eq!(url("http://agent:1234/"), tcp("agent", 1234));
        assert_eq!(url("http://agent"), tcp("agent", 80));
        assert_eq!(url("http://[::1]:8126"), tcp("::1", 8126));
        assert_eq!(
            url("unix:///var/run/datadog/apm.socket"),
            Some(Endpoint::Unix("/var/run/datadog/apm.socket".into()))
        );
        assert_eq!(url("https://agent:443"), None);
        assert_eq!(url("http://:80"), None);
    }
}
