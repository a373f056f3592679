//! `apm-inject telemetry-forward` and `inject/telemetry-forward`: a tracer's entry-point
//! payload reaches Datadog's test agent; the forwarder never fails, prints or lingers.
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::{free_port, wait_for, TestAgent};
use apm_inject_tests::{cli, stderr, stdout, Packages};
use serde_json::json;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What dd-trace-js's guardrails send when the Node.js version is not supported.
const NODE_ABORT: &str = r#"{"metadata":{"language_name":"nodejs","language_version":"20.20.2","runtime_name":"nodejs","runtime_version":"20.20.2","tracer_version":"6.21.0","pid":7,"result":"abort","result_reason":"Incompatible runtime Node.js 20.20.2, supported runtimes: Node.js >=22 <27","result_class":"incompatible_runtime"},"points":[{"name":"library_entrypoint.abort","tags":["reason:incompatible_runtime"]},{"name":"library_entrypoint.abort.runtime","tags":[]}]}"#;

/// What ddtrace's `sitecustomize` sends once the tracer is loaded.
const PYTHON_COMPLETE: &str = r#"{"metadata": {"language_name": "python", "language_version": "3.11.2", "runtime_name": "cpython", "runtime_version": "3.11.2", "tracer_version": "4.16.0", "pid": 42}, "points": [{"name": "library_entrypoint.complete", "tags": ["injection_forced:false"]}]}"#;

/// Runs `program args` with `input` on standard input, in an environment without agent
/// settings but `env`.
fn forward(program: &Path, args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("DD_TRACE_AGENT_URL")
        .env_remove("DD_AGENT_HOST")
        .env_remove("DD_TRACE_AGENT_PORT")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn assert_quiet_success(out: &Output) {
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(stdout(out), "");
    assert_eq!(stderr(out), "");
}

#[test]
fn forwarder_delivers_a_tracer_payload_to_the_agent() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let url = agent.url();
    let out = forward(
        &p.forwarder(),
        &["library_entrypoint"],
        NODE_ABORT,
        &[("DD_TRACE_AGENT_URL", &url), ("DD_SERVICE", "shop-front")],
    );
    assert_quiet_success(&out);
    let abort = wait_for("library_entrypoint.abort", || {
        agent.metrics("library_entrypoint.abort").pop()
    });
    assert_eq!(abort["tags"], json!(["reason:incompatible_runtime"]));
    assert_eq!(abort["type"], "count");
    assert_eq!(abort["points"][0][1], 1);
    let app = &abort["application"];
    assert_eq!(app["service_name"], "shop-front");
    assert_eq!(app["language_name"], "nodejs");
    assert_eq!(app["runtime_version"], "20.20.2");
    assert_eq!(app["tracer_version"], "6.21.0");
    assert_eq!(agent.metrics("library_entrypoint.abort.runtime").len(), 1);
}

#[test]
fn apm_inject_telemetry_forward_is_the_same_command() {
    let agent = TestAgent::start();
    let port = agent.port.to_string();
    let out = forward(
        &cli(),
        &["telemetry-forward", "library_entrypoint"],
        PYTHON_COMPLETE,
        &[
            ("DD_AGENT_HOST", "127.0.0.1"),
            ("DD_TRACE_AGENT_PORT", &port),
        ],
    );
    assert_quiet_success(&out);
    let complete = wait_for("library_entrypoint.complete", || {
        agent.metrics("library_entrypoint.complete").pop()
    });
    assert_eq!(complete["tags"], json!(["injection_forced:false"]));
    assert_eq!(complete["application"]["language_name"], "python");
}

#[test]
fn forwarder_without_an_agent_exits_quietly() {
    let p = Packages::with_tracers();
    let url = format!("http://127.0.0.1:{}", free_port());
    let start = Instant::now();
    let out = forward(
        &p.forwarder(),
        &["library_entrypoint"],
        PYTHON_COMPLETE,
        &[("DD_TRACE_AGENT_URL", &url)],
    );
    assert_quiet_success(&out);
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "less than the budget"
    );
}

#[test]
fn forwarder_gives_up_on_a_silent_agent_within_a_second() {
    let p = Packages::with_tracers();
    // Connections complete in the backlog, but nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let start = Instant::now();
    let out = forward(
        &p.forwarder(),
        &["library_entrypoint"],
        PYTHON_COMPLETE,
        &[("DD_TRACE_AGENT_URL", &url)],
    );
    assert_quiet_success(&out);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2000),
        "{elapsed:?}"
    );
}

#[test]
fn forwarder_does_not_wait_for_a_stdin_that_never_closes() {
    let p = Packages::with_tracers();
    let start = Instant::now();
    let mut child = Command::new(p.forwarder())
        .arg("library_entrypoint")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    assert_quiet_success(&out);
    assert!(start.elapsed() < Duration::from_millis(2000));
}

#[test]
fn forwarder_ignores_what_is_not_a_tracer_payload() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let url = agent.url();
    for input in [
        "",
        "not json",
        "[]",
        r#"{"points": "none"}"#,
        r#"{"points": [{}]}"#,
    ] {
        let out = forward(
            &p.forwarder(),
            &["library_entrypoint"],
            input,
            &[("DD_TRACE_AGENT_URL", &url)],
        );
        assert_quiet_success(&out);
    }
    assert_eq!(agent.telemetry(), Vec::<serde_json::Value>::new());
}

#[test]
fn forwarder_accepts_any_arguments() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["telemetry-forward"][..],
        &["telemetry-forward", "--x", "y", "-z"],
    ] {
        let out = forward(&cli(), args, "{}", &[("DD_TRACE_AGENT_URL", &url)]);
        assert_quiet_success(&out);
    }
}
