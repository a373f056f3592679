//! The OpenTelemetry SDKs (the Java agent from Maven Central, the Python distro from PyPI,
//! Node.js's auto-instrumentations from npm, packaged by `make libraries`) in the same unmodified
//! web applications as `tests/tracers.rs`, chosen by `DD_APM_INSTRUMENTATION_SDK=opentelemetry`,
//! sending spans with the derived service names over OTLP to a real OpenTelemetry Collector
//! (`make otelcol`); the setting switched back sends them to Datadog's test agent instead; JDK
//! tools and npm stay untouched.

use apm_inject_tests::collector::{Collector, Span};
use apm_inject_tests::tracers::{
    app_python, flask_app, java_app, node_app, npm_node, status_of, wait_for, TestAgent, WebApp,
};
use apm_inject_tests::{run, Packages};
use std::path::Path;
use std::process::Command;

/// The variables of an application given the OpenTelemetry SDK, sending to `collector`.
fn otel_env(collector: &Collector) -> Vec<(&'static str, String)> {
    let mut env = collector.sdk_env();
    env.push(("DD_APM_INSTRUMENTATION_SDK", "opentelemetry".into()));
    env
}

fn start(
    p: &Packages,
    agent: &TestAgent,
    program: &Path,
    args: &[&Path],
    env: &[(&str, String)],
) -> WebApp {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    WebApp::start(p, agent, program, &args, &env)
}

fn names(spans: &[Span]) -> Vec<String> {
    let mut names: Vec<String> = spans.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn flask_app_sends_otlp_spans_and_switches_back_to_datadog() {
    let p = Packages::with_both_sdks();
    let collector = Collector::start();
    let agent = TestAgent::start();
    let (_dir, script) = flask_app();
    let mut env = otel_env(&collector);
    env.push(("OTEL_RESOURCE_ATTRIBUTES", "team=shop".into()));
    let app = start(&p, &agent, &app_python(), &[&script], &env);
    app.get("/");
    let spans = collector.wait_for_service("shop_api");
    assert!(
        names(&spans).iter().any(|n| n.starts_with("GET")),
        "{spans:?}"
    );
    assert!(
        spans[0].resource.contains(&"team=shop".to_string()),
        "{spans:?}"
    );
    let status = status_of(app.pid());
    assert_eq!(
        (&status["state"], &status["sdk"], &status["service"]),
        (
            &"traced".into(),
            &"opentelemetry".into(),
            &"shop_api".into()
        ),
        "{status:#}"
    );
    drop(app);
    assert!(agent.spans().is_empty(), "nothing for the Datadog agent");

    let mut env = collector.sdk_env();
    env.push(("DD_APM_INSTRUMENTATION_SDK", "datadog".into()));
    let before = collector.spans().len();
    let app = start(&p, &agent, &app_python(), &[&script], &env);
    app.get("/");
    wait_for("Datadog spans of shop_api", || {
        let spans = agent.spans();
        spans
            .iter()
            .any(|s| s["service"] == "shop_api")
            .then_some(())
    });
    drop(app);
    assert_eq!(collector.spans().len(), before, "nothing more over OTLP");
}

#[test]
fn node_app_sends_otlp_spans() {
    let p = Packages::with_both_sdks();
    let collector = Collector::start();
    let agent = TestAgent::start();
    let app = start(
        &p,
        &agent,
        &npm_node(22),
        &[&node_app()],
        &otel_env(&collector),
    );
    app.get("/");
    let spans = collector.wait_for_service("shop-front");
    assert!(
        names(&spans).iter().any(|n| n.starts_with("GET")),
        "{spans:?}"
    );
    let status = status_of(app.pid());
    assert_eq!(
        (&status["state"], &status["sdk"]),
        (&"traced".into(), &"opentelemetry".into()),
        "{status:#}"
    );
    assert!(agent.spans().is_empty());
}

#[test]
fn spring_boot_app_sends_otlp_spans() {
    let p = Packages::with_both_sdks();
    let collector = Collector::start();
    let agent = TestAgent::start();
    let jar = java_app();
    let app = WebApp::start(
        &p,
        &agent,
        Path::new("/usr/bin/java"),
        &[std::ffi::OsStr::new("-jar"), jar.as_os_str()],
        &otel_env(&collector)
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(app.get("/items/42"), "item 42\n");
    let spans = collector.wait_for_service("inventory-service");
    assert!(
        names(&spans).iter().any(|n| n.contains("/items/")),
        "{spans:?}"
    );
    assert!(
        !app.output().contains("Sharing is only supported"),
        "{}",
        app.output()
    );
    assert!(agent.spans().is_empty());
}

/// `java -version` and `npm --version` with the OpenTelemetry SDK chosen print exactly what they
/// print without the launcher, and send nothing.
#[test]
fn denied_processes_get_nothing() {
    let p = Packages::with_both_sdks();
    let collector = Collector::start();
    for (program, args) in [("java", &["-version"][..]), ("npm", &["--version"][..])] {
        let plain = run(Command::new(program).args(args).env_remove("LD_PRELOAD"));
        let mut cmd = p.command(program);
        cmd.args(args).envs(otel_env(&collector));
        let launched = run(&mut cmd);
        assert_eq!(
            (&launched.stdout, &launched.stderr, launched.status.code()),
            (&plain.stdout, &plain.stderr, plain.status.code()),
            "{program} {args:?}"
        );
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(collector.spans().is_empty(), "{}", collector.output());
}
