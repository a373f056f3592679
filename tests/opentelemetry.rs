//! The OpenTelemetry SDKs (the Java agent from Maven Central, the Python distro from PyPI,
//! Node.js's auto-instrumentations from npm, packaged by `make libraries`) in the same unmodified
//! web applications as `tests/tracers.rs`, chosen by `DD_APM_INSTRUMENTATION_SDK=opentelemetry`,
//! sending spans with the derived service names over OTLP to a real OpenTelemetry Collector
//! (`make otelcol`); the setting switched back sends them to Datadog's test agent instead; JDK
//! tools and npm stay untouched.
#![forbid(unsafe_code)]

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

/// The status record of process `pid`, after checking that it has `family`'s SDK and the
/// other family's tracer is not in it at all: the launcher decided for `family`, its package
/// is on the variables the launcher set and the other family's package is on none of them, and
/// the process is in `state` (`traced` where the SDK reports itself loaded; Java's agent does
/// not, so a JVM stays `injected`). What the other family's sink could have got from this
/// process is then nothing, however long one waited.
fn instrumented_by_only(pid: u32, family: &str, state: &str) -> serde_json::Value {
    let status = status_of(pid);
    assert_eq!(
        (&status["state"], &status["sdk"]),
        (&state.into(), &family.into()),
        "{status:#}"
    );
    let other = match family {
        "opentelemetry" => "datadog",
        _ => "opentelemetry",
    };
    let changes = status["launcher"]["changes"].as_array().unwrap();
    let names = |family: &str| {
        let package = format!("/{family}-apm-library-");
        changes
            .iter()
            .any(|c| c.as_str().is_some_and(|c| c.contains(&package)))
    };
    assert!(
        names(family) && !names(other),
        "{family}'s package only: {status:#}"
    );
    status
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
    let status = instrumented_by_only(app.pid(), "opentelemetry", "traced");
    assert_eq!(status["service"], "shop_api", "{status:#}");
    drop(app);

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
    instrumented_by_only(app.pid(), "datadog", "traced");
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
    instrumented_by_only(app.pid(), "opentelemetry", "traced");
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
    instrumented_by_only(app.pid(), "opentelemetry", "injected");
}

/// `java -version` and `npm --version` with the OpenTelemetry SDK chosen are skipped (the debug
/// log, written to a file, says why), so no SDK is loaded to send anything: they print exactly
/// what they print without the launcher.
#[test]
fn denied_processes_get_nothing() {
    let p = Packages::with_both_sdks();
    let collector = Collector::start();
    let logs = tempfile::tempdir().unwrap();
    for (program, args, reason) in [
        ("java", &["-version"][..], "java_version"),
        ("npm", &["--version"][..], "node_package_manager"),
    ] {
        let plain = run(Command::new(program).args(args).env_remove("LD_PRELOAD"));
        let log = logs.path().join(program);
        let mut cmd = p.command(program);
        cmd.args(args)
            .envs(otel_env(&collector))
            .env("DD_APM_INSTRUMENTATION_DEBUG", "true")
            .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &log);
        let launched = run(&mut cmd);
        assert_eq!(
            (&launched.stdout, &launched.stderr, launched.status.code()),
            (&plain.stdout, &plain.stderr, plain.status.code()),
            "{program} {args:?}"
        );
        let decisions = std::fs::read_to_string(&log).unwrap();
        assert!(
            decisions.contains(&format!("skipped: {reason}")) && !decisions.contains("injected"),
            "{program}: {decisions}"
        );
    }
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
