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

/// An application that brings its own OpenTelemetry SDK keeps it: the bootstraps stand down
/// (`opentelemetry_already_present`) and load nothing of the package; the same scripts without
/// one get the package's SDK. (Python's own packages are those on its path when
/// `sitecustomize` runs: site-packages and `PYTHONPATH`, not yet the script's directory.)
#[test]
fn an_application_with_its_own_sdk_keeps_it() {
    let p = Packages::with_both_sdks();
    let collector = Collector::start();
    for own in [true, false] {
        let app = tempfile::tempdir().unwrap();
        if own {
            let sdk = app.path().join("lib/opentelemetry/sdk");
            std::fs::create_dir_all(&sdk).unwrap();
            std::fs::write(sdk.join("__init__.py"), "").unwrap();
            let node_sdk = app.path().join("node_modules/@opentelemetry/sdk-node");
            std::fs::create_dir_all(&node_sdk).unwrap();
            std::fs::write(
                node_sdk.join("package.json"),
                r#"{"name":"@opentelemetry/sdk-node","main":"index.js"}"#,
            )
            .unwrap();
            std::fs::write(node_sdk.join("index.js"), "").unwrap();
        }
        let python = app.path().join("orders.py");
        std::fs::write(
            &python,
            "import sys\nprint(any('opentelemetry_pkgs' in p for p in sys.path))\n",
        )
        .unwrap();
        let node = app.path().join("server.js");
        std::fs::write(
            &node,
            "console.log(Object.keys(require.cache).some(k => k.includes('auto-instrumentations-node')))\n",
        )
        .unwrap();
        for (program, script, loaded) in [
            (app_python(), &python, if own { "False" } else { "True" }),
            (npm_node(22), &node, if own { "false" } else { "true" }),
        ] {
            let mut cmd = p.command(&program);
            cmd.arg(script)
                .envs(otel_env(&collector))
                .env("PYTHONPATH", app.path().join("lib"));
            let out = run(&mut cmd);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                loaded,
                "{} (own SDK: {own}): {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
