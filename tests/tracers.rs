//! The real tracers (ddtrace from PyPI, dd-trace from npm, packaged by `make libraries`) in
//! unmodified web applications started under the library, reporting to Datadog's test agent.

use apm_inject_tests::tracers::{
    app_python, flask_app, node22, node_app, wait_for, TestAgent, WebApp,
};
use apm_inject_tests::Packages;
use serde_json::Value;
use std::path::Path;
use tempfile::TempDir;

/// Variables that make the tracers report their configuration within a second.
const QUICK_TELEMETRY: (&str, &str) = ("DD_TELEMETRY_HEARTBEAT_INTERVAL", "1");

/// The Flask application (`Shop_API.py`) under the library, with `env` added.
/// The directory holding the script lives as long as the returned guard.
fn python_app(p: &Packages, agent: &TestAgent, env: &[(&str, &str)]) -> (WebApp, TempDir) {
    let (dir, script) = flask_app();
    let app = WebApp::start(p, agent, &app_python(), &[script.as_path()], env);
    (app, dir)
}

/// The Node.js application (`shop-front`) under the library, run by `node`.
fn node_app_with(p: &Packages, agent: &TestAgent, node: &Path, env: &[(&str, &str)]) -> WebApp {
    WebApp::start(p, agent, node, &[node_app().as_path()], env)
}

/// Spans named `name` received so far.
fn spans_named(agent: &TestAgent, name: &str) -> Vec<Value> {
    agent
        .spans()
        .into_iter()
        .filter(|s| s["name"] == name)
        .collect()
}

/// Waits until the agent holds at least `count` spans named `name`.
fn wait_for_spans(agent: &TestAgent, name: &str, count: usize) -> Vec<Value> {
    wait_for(&format!("{count} {name} spans"), || {
        let spans = spans_named(agent, name);
        (spans.len() >= count).then_some(spans)
    })
}

/// Waits until `language`'s entry point has reported `metric` (Python's `complete` comes with
/// ddtrace's own telemetry, the others through the forwarder).
fn wait_for_entrypoint_metric(agent: &TestAgent, language: &str, metric: &str) -> Value {
    wait_for(&format!("{metric} from {language}"), || {
        agent
            .metrics(metric)
            .into_iter()
            .find(|m| m["application"]["language_name"] == language)
    })
}

#[test]
fn python_web_app_is_traced() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let (app, _dir) = python_app(&p, &agent, &[]);
    assert_eq!(app.get("/"), "shop api\n");
    assert_eq!(app.get("/checkout"), "checked out\n");
    let spans = wait_for_spans(&agent, "flask.request", 2);
    let mut resources: Vec<&str> = spans
        .iter()
        .map(|s| s["resource"].as_str().unwrap())
        .collect();
    resources.sort();
    assert_eq!(resources, ["GET /", "GET /checkout"]);
    assert!(spans.iter().all(|s| s["meta"]["language"] == "python"));
}

#[test]
fn node_web_app_is_traced() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let app = node_app_with(&p, &agent, &node22(), &[]);
    assert_eq!(app.get("/"), "shop front\n");
    assert_eq!(app.get("/cart"), "cart\n");
    let spans = wait_for_spans(&agent, "web.request", 2);
    let mut urls: Vec<&str> = spans
        .iter()
        .map(|s| s["meta"]["http.url"].as_str().unwrap())
        .collect();
    urls.sort();
    let base = format!("http://127.0.0.1:{}", app.port);
    assert_eq!(urls, [format!("{base}/"), format!("{base}/cart")]);
    assert!(spans.iter().all(|s| s["meta"]["language"] == "javascript"));
}

/// Needs the library's service naming: `Shop_API.py` → `shop_api`, and the `name` of the
/// `package.json` above the Node.js entry script.
#[test]
fn derived_service_name_reaches_the_agent() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let (python, _dir) = python_app(&p, &agent, &[]);
    let node = node_app_with(&p, &agent, &node22(), &[]);
    python.get("/");
    node.get("/");
    for (span, service) in [("flask.request", "shop_api"), ("web.request", "shop-front")] {
        let spans = wait_for_spans(&agent, span, 1);
        assert_eq!(spans[0]["service"], service, "{span}: {:#}", spans[0]);
    }
}

#[test]
fn python_tracer_reports_single_step_injection() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let (_app, _dir) = python_app(&p, &agent, &[QUICK_TELEMETRY]);
    let enabled = wait_for("DD_INJECTION_ENABLED from ddtrace", || {
        let entries = agent.configuration("python", "DD_INJECTION_ENABLED");
        entries.into_iter().find(|c| c["origin"] == "env_var")
    });
    assert!(enabled["value"].as_str().unwrap().starts_with("tracer"));
    wait_for("instrumentation_source ssi from ddtrace", || {
        let entries = agent.configuration("python", "instrumentation_source");
        entries.into_iter().find(|c| c["value"] == "ssi")
    });
}

#[test]
fn node_tracer_reports_single_step_injection() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let _app = node_app_with(&p, &agent, &node22(), &[QUICK_TELEMETRY]);
    let enabled = wait_for("DD_INJECTION_ENABLED from dd-trace", || {
        let entries = agent.configuration("nodejs", "DD_INJECTION_ENABLED");
        entries.into_iter().find(|c| c["origin"] == "env_var")
    });
    assert!(enabled["value"].as_str().unwrap().starts_with("tracer"));
    wait_for("instrumentationSource ssi from dd-trace", || {
        let entries = agent.configuration("nodejs", "instrumentationSource");
        entries.into_iter().find(|c| c["value"] == "ssi")
    });
}

#[test]
fn entry_points_report_their_outcome() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let forwarder = p.forwarder();
    let env = [
        ("DD_TELEMETRY_FORWARDER_PATH", forwarder.to_str().unwrap()),
        QUICK_TELEMETRY,
    ];
    let (_python, _dir) = python_app(&p, &agent, &env);
    let _node = node_app_with(&p, &agent, &node22(), &env);
    for language in ["python", "nodejs"] {
        let metric = wait_for_entrypoint_metric(&agent, language, "library_entrypoint.complete");
        assert_eq!(
            metric["tags"],
            serde_json::json!(["injection_forced:false"])
        );
        assert_eq!(metric["type"], "count");
    }
}

/// Needs the library to set `DD_TELEMETRY_FORWARDER_PATH` to the tree's forwarder.
#[test]
fn library_points_the_tracers_at_the_forwarder() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let (_python, _dir) = python_app(&p, &agent, &[QUICK_TELEMETRY]);
    let _node = node_app_with(&p, &agent, &node22(), &[]);
    for language in ["python", "nodejs"] {
        wait_for_entrypoint_metric(&agent, language, "library_entrypoint.complete");
    }
}

#[test]
fn node_20_runs_uninstrumented_and_says_why() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let forwarder = p.forwarder();
    let env = [("DD_TELEMETRY_FORWARDER_PATH", forwarder.to_str().unwrap())];
    let app = node_app_with(&p, &agent, Path::new("/usr/bin/node"), &env);
    assert_eq!(app.get("/"), "shop front\n");
    let abort = wait_for_entrypoint_metric(&agent, "nodejs", "library_entrypoint.abort");
    assert_eq!(
        abort["tags"],
        serde_json::json!(["reason:incompatible_runtime"])
    );
    assert!(abort["application"]["runtime_version"]
        .as_str()
        .unwrap()
        .starts_with("20."));
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        agent.spans(),
        Vec::<Value>::new(),
        "dd-trace 6 does not run on Node.js 20"
    );
}
