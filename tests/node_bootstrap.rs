//! The Node.js package's bootstrap (`libraries/js/bootstrap.cjs`, first in `NODE_OPTIONS`) with
//! the real dd-trace 5 and 6 (`make libraries`) on Node.js from npm and the machine's: the
//! tracer loads only in a process the launcher decided on, a traced start runs no telemetry
//! forwarder (its `complete` joins dd-trace's own telemetry), and only an abort runs it.
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::{
    free_port, node_of_unknown_version, npm_node, programs_started_by, tools_tempdir,
    RecordingForwarder,
};
use apm_inject_tests::{run, stderr, stdout, Packages};
use std::path::{Path, PathBuf};
use std::process::Command;

/// JavaScript that says whether dd-trace runs in this process (it keeps its tracer in
/// `global._ddtrace`).
const TRACING: &str = "Boolean(global._ddtrace)";

/// The nodes this machine traces: Node.js 18 and 20 (dd-trace 5), 22 (dd-trace 6).
fn traced_nodes() -> [PathBuf; 3] {
    [npm_node(18), PathBuf::from("/usr/bin/node"), npm_node(22)]
}

/// `node` under the launcher, with an agent that is not there, in an environment free of other
/// Node.js and Datadog settings (the launcher sets the package's telemetry forwarder).
fn node(p: &Packages, node: &Path) -> Command {
    let mut cmd = p.command(node);
    for name in [
        "NODE_OPTIONS",
        "DD_SERVICE",
        "DD_INJECTION_ENABLED",
        "DD_INJECT_FORCE",
        "DD_TRACE_STARTUP_LOGS",
        "DD_APM_INSTRUMENTATION_DEBUG",
        "DD_TELEMETRY_FORWARDER_PATH",
    ] {
        cmd.env_remove(name);
    }
    cmd.env(
        "DD_TRACE_AGENT_URL",
        format!("http://127.0.0.1:{}", free_port()),
    );
    cmd
}

/// `node` as above, with `forwarder` as the user's telemetry forwarder.
fn node_reporting_to(p: &Packages, program: &Path, forwarder: &RecordingForwarder) -> Command {
    let mut cmd = node(p, program);
    cmd.env("DD_TELEMETRY_FORWARDER_PATH", &forwarder.path);
    cmd
}

/// A traced start runs no other program: the launcher gives node the package's forwarder, and
/// the bootstrap sends `complete` with dd-trace's own telemetry instead of running it (dd-trace
/// alone runs it at every start).
#[test]
fn a_traced_node_starts_no_other_program() {
    let p = Packages::with_tracers();
    for program in traced_nodes() {
        let mut cmd = node(&p, &program);
        cmd.args(["-p", TRACING]);
        let (out, started) = programs_started_by(&cmd);
        assert_eq!(
            (stdout(&out).as_str(), stderr(&out).as_str()),
            ("true\n", ""),
            "{program:?}"
        );
        assert_eq!(started, Vec::<String>::new(), "{program:?}");
    }
}

/// The same with a forwarder of the user's own, which the library keeps.
#[test]
fn a_traced_node_runs_no_forwarder_of_the_users() {
    let p = Packages::with_tracers();
    let forwarder = RecordingForwarder::new(p.dir.path());
    for program in traced_nodes() {
        let out = run(node_reporting_to(&p, &program, &forwarder).args(["-p", TRACING]));
        assert_eq!(
            (stdout(&out).as_str(), stderr(&out).as_str()),
            ("true\n", ""),
            "{program:?}"
        );
        assert_eq!(forwarder.runs(), Vec::<String>::new(), "{program:?}");
    }
}

/// The other side of the test above: the forwarder is what reports when no tracer runs.
#[test]
fn an_aborting_tracer_runs_the_forwarder_once() {
    let p = Packages::with_tracers();
    let forwarder = RecordingForwarder::new(p.dir.path());
    let dir = tools_tempdir();
    let old = node_of_unknown_version(dir.path(), 16);
    let out = run(node_reporting_to(&p, &old, &forwarder).args(["-p", TRACING]));
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("false\n", "")
    );
    assert_eq!(forwarder.runs(), ["library_entrypoint"]);
}

/// A node started without the launcher (here: `LD_PRELOAD` removed by its parent) inherits
/// `NODE_OPTIONS` from an instrumented parent, bootstrap included, and loads no tracer.
#[test]
fn a_node_without_the_launcher_loads_nothing_from_inherited_node_options() {
    let p = Packages::with_tracers();
    let forwarder = RecordingForwarder::new(p.dir.path());
    let child =
        format!("[{TRACING}, process.env.NODE_OPTIONS.includes('/bootstrap.cjs')].join(' ')");
    let parent = format!(
        "const env = Object.assign({{}}, process.env); delete env.LD_PRELOAD;
        const child = require('child_process').execFileSync(process.execPath, ['-p', {child:?}], {{ env }});
        console.log({TRACING} + ' ' + String(child).trim())"
    );
    for program in [npm_node(18), npm_node(22)] {
        let out = run(node_reporting_to(&p, &program, &forwarder).args(["-e", &parent]));
        assert_eq!(
            (stdout(&out).as_str(), stderr(&out).as_str()),
            ("true false true\n", ""),
            "{program:?}: parent traced, child not, though NODE_OPTIONS names the bootstrap"
        );
    }
    assert_eq!(forwarder.runs(), Vec::<String>::new());
}

/// An application that depends on its own dd-trace keeps it: the package's stands down with
/// `dd_trace_already_present`, reported through the forwarder (no tracer of ours runs).
#[test]
fn an_application_with_its_own_dd_trace_keeps_it() {
    let p = Packages::with_tracers();
    let forwarder = RecordingForwarder::new(p.dir.path());
    let app = p.dir.path().join("app");
    let own = app.join("node_modules/dd-trace");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(
        own.join("package.json"),
        r#"{"name":"dd-trace","version":"0.0.1"}"#,
    )
    .unwrap();
    std::fs::write(own.join("index.js"), "module.exports = { own: true }\n").unwrap();
    std::fs::write(
        app.join("main.js"),
        format!("console.log(require('dd-trace').own, {TRACING})\n"),
    )
    .unwrap();
    let out = run(node_reporting_to(&p, &npm_node(22), &forwarder).arg(app.join("main.js")));
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("true false\n", "")
    );
    assert_eq!(forwarder.runs(), ["library_entrypoint"]);
}
