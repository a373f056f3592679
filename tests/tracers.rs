//! The real tracers (dd-java-agent from Maven Central, ddtrace from PyPI, dd-trace 5 and 6 from
//! npm, packaged by `make libraries`) in unmodified web applications started under the library,
//! reporting to Datadog's test agent; JDK and build tools left untouched.
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::{
    app_command, app_python, dist_library, flask_app, java_app, node_app, node_of_unknown_version,
    npm_node, programs_started_by, status_of, tools_tempdir, wait_for, TestAgent, WebApp,
};
use apm_inject_tests::{cli, fixture, pyenv, run, stderr, stdout, Packages};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

/// Variables that make the tracers report their configuration within a second.
const QUICK_TELEMETRY: (&str, &str) = ("DD_TELEMETRY_HEARTBEAT_INTERVAL", "1");

/// The Flask application (`Shop_API.py`) under the library, with `env` added.
/// The directory holding the script lives as long as the returned guard.
fn python_app(p: &Packages, agent: &TestAgent, env: &[(&str, &str)]) -> (WebApp, TempDir) {
    let (dir, script) = flask_app();
    let app = WebApp::start(p, agent, &app_python(), &[script.as_os_str()], env);
    (app, dir)
}

/// The Node.js application (`shop-front`) under the library, run by `node`.
fn node_app_with(p: &Packages, agent: &TestAgent, node: &Path, env: &[(&str, &str)]) -> WebApp {
    WebApp::start(p, agent, node, &[node_app().as_os_str()], env)
}

/// Waits until `language`'s entry point has reported `metric` (`complete` comes with the
/// tracer's own telemetry for Python and Node.js, through the forwarder for Java; aborts and
/// errors through the forwarder).
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
    let spans = agent.wait_for_spans("flask.request", 2);
    let mut resources: Vec<&str> = spans
        .iter()
        .map(|s| s["resource"].as_str().unwrap())
        .collect();
    resources.sort();
    assert_eq!(resources, ["GET /", "GET /checkout"]);
    assert!(spans.iter().all(|s| s["meta"]["language"] == "python"));
}

/// An unchanged script on the standard library's `sqlite3`, which ddtrace patches by default.
const SQLITE_APP: &str = "\
import sqlite3
db = sqlite3.connect(':memory:')
db.execute('create table orders (item text)')
db.execute(\"insert into orders values ('book')\")
print(db.execute('select item from orders').fetchall())
";

/// Each CPython the package serves (pyenv's 3.9 to 3.13) runs the script as `orders_3N.py`:
/// its queries reach the agent as `sqlite.query` spans of the service the library derived from
/// the script's name (`orders_3N`, which ddtrace gives the integration's spans as
/// `_dd.base_service`, their own service being `sqlite`), sent by the packaged ddtrace.
#[test]
fn python_3_9_to_3_13_apps_are_traced() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let dir = tempfile::tempdir().unwrap();
    let minors = 9..=13;
    for minor in minors.clone() {
        let script = dir.path().join(format!("orders_3{minor}.py"));
        std::fs::write(&script, SQLITE_APP).unwrap();
        let out = run(app_command(&p, &agent, &pyenv(&format!("3.{minor}"))).arg(&script));
        assert_eq!(stdout(&out), "[('book',)]\n", "3.{minor}: {}", stderr(&out));
    }
    let queries = [
        "create table orders (item text)",
        "insert into orders values ('book')",
        "select item from orders",
    ];
    for minor in minors.clone() {
        let service = format!("orders_3{minor}");
        let spans = wait_for(&format!("the queries of {service}"), || {
            let spans: Vec<Value> = agent
                .spans_named("sqlite.query")
                .into_iter()
                .filter(|s| s["meta"]["_dd.base_service"] == service.as_str())
                .collect();
            (spans.len() >= queries.len()).then_some(spans)
        });
        let mut resources: Vec<&str> = spans
            .iter()
            .map(|s| s["resource"].as_str().unwrap())
            .collect();
        resources.sort();
        assert_eq!(resources, queries, "{service}");
        assert!(spans.iter().all(|s| s["service"] == "sqlite"), "{spans:#?}");
    }
    let packaged = std::fs::read_to_string(dist_library("python").join("stable/version")).unwrap();
    let senders = agent.trace_senders();
    let mut runtimes: Vec<String> = senders
        .iter()
        .map(|(tracer, runtime)| {
            assert_eq!(tracer, packaged.trim(), "{senders:?}");
            runtime
                .rsplit_once('.')
                .map_or(runtime.clone(), |(minor, _)| minor.to_owned())
        })
        .collect();
    runtimes.sort_by_key(|r| r.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()));
    runtimes.dedup();
    let expected: Vec<String> = minors.map(|minor| format!("3.{minor}")).collect();
    assert_eq!(runtimes, expected, "{senders:?}");
}

/// The Node.js application run by `node`, traced: two requests, two `web.request` spans, sent
/// by dd-trace `tracer_major` running on Node.js `node_major`.
fn node_app_is_traced_by(node: &Path, node_major: u32, tracer_major: u32) {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let app = node_app_with(&p, &agent, node, &[]);
    assert_eq!(app.get("/"), "shop front\n");
    assert_eq!(app.get("/cart"), "cart\n");
    let spans = agent.wait_for_spans("web.request", 2);
    let mut urls: Vec<&str> = spans
        .iter()
        .map(|s| s["meta"]["http.url"].as_str().unwrap())
        .collect();
    urls.sort();
    let base = format!("http://127.0.0.1:{}", app.port);
    assert_eq!(urls, [format!("{base}/"), format!("{base}/cart")]);
    assert!(spans.iter().all(|s| s["meta"]["language"] == "javascript"));
    let senders = agent.trace_senders();
    assert!(
        senders.iter().all(|(tracer, runtime)| {
            tracer.starts_with(&format!("{tracer_major}."))
                && runtime.starts_with(&format!("v{node_major}."))
        }) && !senders.is_empty(),
        "dd-trace {tracer_major} on Node.js {node_major}: {senders:?}"
    );
    // `status` tells it is traced: the tracer itself reported that it started.
    let status = status_of(app.pid());
    assert_eq!(status["state"], "traced", "{status:#}");
    assert_eq!(status["tracer"]["outcome"], "complete", "{status:#}");
}

#[test]
fn node_18_is_traced_by_dd_trace_5() {
    node_app_is_traced_by(&npm_node(18), 18, 5);
}

#[test]
fn node_20_is_traced_by_dd_trace_5() {
    node_app_is_traced_by(Path::new("/usr/bin/node"), 20, 5);
}

/// Debian's Node.js 18 has no `include/node/node_version.h` (libnode-dev brings it), so the
/// launcher cannot read its version: it picks dd-trace 5, the tracer for the most versions.
#[test]
fn node_18_of_unknown_version_is_traced_by_dd_trace_5() {
    let dir = tools_tempdir();
    node_app_is_traced_by(&node_of_unknown_version(dir.path(), 18), 18, 5);
}

#[test]
fn node_22_is_traced_by_dd_trace_6() {
    node_app_is_traced_by(&npm_node(22), 22, 6);
}

/// Needs the library's service naming: `Shop_API.py` → `shop_api`, and the `name` of the
/// `package.json` above the Node.js entry script.
#[test]
fn derived_service_name_reaches_the_agent() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let (python, _dir) = python_app(&p, &agent, &[]);
    let node = node_app_with(&p, &agent, &npm_node(22), &[]);
    python.get("/");
    node.get("/");
    for (span, service) in [("flask.request", "shop_api"), ("web.request", "shop-front")] {
        let spans = agent.wait_for_spans(span, 1);
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
    let _app = node_app_with(&p, &agent, &npm_node(22), &[QUICK_TELEMETRY]);
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
    let _node = node_app_with(&p, &agent, &npm_node(22), &env);
    for language in ["python", "nodejs"] {
        let metric = wait_for_entrypoint_metric(&agent, language, "library_entrypoint.complete");
        assert_eq!(
            metric["tags"],
            serde_json::json!(["injection_forced:false"])
        );
        assert_eq!(metric["type"], "count");
    }
}

/// Needs the library to set `DD_TELEMETRY_FORWARDER_PATH` to the tree's forwarder (unset in
/// the environment here): an abort, with no tracer running to report it, goes through the
/// forwarder. A Python 3.8 forced past the launcher's guardrails (no ddtrace for it), and a
/// Node.js 16 whose version the launcher cannot read (dd-trace 5's guardrails abort).
#[test]
fn library_points_the_tracers_at_the_forwarder() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let dir = tools_tempdir();
    let env = |cmd: &mut Command| {
        cmd.env("DD_TRACE_AGENT_URL", agent.url())
            .env_remove("DD_TELEMETRY_FORWARDER_PATH")
            .env_remove("DD_INJECT_FORCE")
            .env_remove("NODE_OPTIONS")
            .env_remove("PYTHONPATH");
    };
    let mut python = p.command(pyenv("3.8"));
    env(python.args(["-c", "pass"]));
    python.env("DD_INJECT_FORCE", "1");
    let mut node = p.command(node_of_unknown_version(dir.path(), 16));
    env(node.args(["-e", "0"]));
    for mut cmd in [python, node] {
        assert!(run(&mut cmd).status.success(), "{cmd:?}");
    }
    for language in ["python", "nodejs"] {
        let metric = wait_for_entrypoint_metric(&agent, language, "library_entrypoint.abort");
        assert_eq!(
            metric["tags"],
            serde_json::json!(["reason:incompatible_runtime"]),
            "{language}"
        );
    }
}

/// An ES module application (`.mjs`) gets the ES module bootstrap too (`--import`), which
/// registers dd-trace's ES module hook; it is traced by dd-trace 6 on Node.js 22 and dd-trace 5
/// on the machine's Node.js 20, and prints nothing of ours.
#[test]
fn es_module_node_app_is_traced() {
    for (node, tracer_major) in [(npm_node(22), 6), (Path::new("/usr/bin/node").into(), 5)] {
        let p = Packages::with_tracers();
        let agent = TestAgent::start();
        let script = p.dir.path().join("server.mjs");
        std::fs::write(
            &script,
            "import http from 'node:http'\n\
             http.createServer((req, res) => res.end('esm\\n'))\n\
             .listen(Number(process.env.PORT), '127.0.0.1')\n",
        )
        .unwrap();
        let app = WebApp::start(&p, &agent, &node, &[script.as_os_str()], &[]);
        assert_eq!(app.get("/"), "esm\n");
        let spans = agent.wait_for_spans("web.request", 1);
        assert_eq!(spans[0]["service"], "server", "{:#}", spans[0]);
        let senders = agent.trace_senders();
        assert!(
            senders
                .iter()
                .all(|(tracer, _)| tracer.starts_with(&format!("{tracer_major}."))),
            "{senders:?}"
        );
        assert_eq!(app.output(), "", "{node:?}");
    }
}

#[test]
fn node_16_runs_untouched_and_explain_says_why() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let log = p.dir.path().join("inject.log");
    let debug = [
        ("DD_APM_INSTRUMENTATION_DEBUG", "true"),
        ("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", log.to_str().unwrap()),
    ];
    let app = node_app_with(&p, &agent, &npm_node(16), &debug);
    assert_eq!(app.get("/"), "shop front\n");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("skipped: runtime_version_unsupported (version 16.20; the package supports 22 to 26 (dd-trace 6.21.0), 18 to 26 (dd-trace 5."),
        "{logged}"
    );
    let explained = run(Command::new(cli())
        .args(["explain", "--json", "--packages-root"])
        .arg(&p.root)
        .arg("--")
        .arg(npm_node(16))
        .arg(node_app()));
    let explained: Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(explained["outcome"], "skipped");
    assert_eq!(explained["reason"]["id"], "runtime_version_unsupported");
    // Untouched: the application's record shows the launcher changed nothing, and `WebApp`
    // starts it without `NODE_OPTIONS`, the tracer's only way in. (Waiting for spans that do
    // not come would prove nothing: they could merely be late.)
    let status = run(Command::new(cli()).args(["status", "--json"]));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let record = status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == app.pid())
        .unwrap_or_else(|| panic!("the application is not listed: {status:#}"));
    assert_eq!(
        (record["state"].as_str(), record["reason"].as_str()),
        (Some("skipped"), Some("runtime_version_unsupported")),
        "{record:#}"
    );
    assert_eq!(
        record["launcher"]["changes"],
        Value::Array(vec![]),
        "{record:#}"
    );
    assert_eq!(app.output(), "", "nothing printed");
}

#[test]
fn spring_boot_app_is_traced_by_the_java_tracer() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let jar = java_app();
    let args = [std::ffi::OsStr::new("-jar"), jar.as_os_str()];
    let app = WebApp::start(&p, &agent, Path::new("/usr/bin/java"), &args, &[]);
    assert_eq!(app.get("/"), "inventory\n");
    assert_eq!(app.get("/items/42"), "item 42\n");
    let spans = agent.wait_for_spans("servlet.request", 2);
    let mut resources: Vec<&str> = spans
        .iter()
        .map(|s| s["resource"].as_str().unwrap())
        .collect();
    resources.sort();
    assert_eq!(resources, ["GET /", "GET /items/{id}"]);
    for span in &spans {
        assert_eq!(span["service"], "inventory-service", "{span:#}");
        assert_eq!(span["meta"]["language"], "jvm", "{span:#}");
    }
    let senders = agent.trace_senders();
    assert!(
        !senders.is_empty()
            && senders
                .iter()
                .all(|(tracer, _)| tracer.starts_with("1.68.1")),
        "{senders:?}"
    );
    // Nothing of the tracer's among the application's own output: no configuration banner, no
    // log line; only the JVM's announcement of JAVA_TOOL_OPTIONS names it.
    let output = app.output();
    let tracer_lines: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("dd.trace") || l.contains("DATADOG") || l.contains("datadog"))
        .collect();
    assert_eq!(tracer_lines.len(), 1, "{output}");
    assert!(!output.contains("Sharing is only supported"), "{output}");
    assert!(
        tracer_lines[0].starts_with("Picked up JAVA_TOOL_OPTIONS: -javaagent:"),
        "{output}"
    );
}

/// A traced JVM runs no program of ours: dd-java-agent would run the telemetry forwarder at
/// every start to report `complete`, so the launcher gives Java none. What remains is the
/// tracer's own: its service discovery loads JNA, whose first use runs `/sbin/ldconfig -p`
/// (through the JDK's `jspawnhelper`) on JDKs before 22 (README: Known limitations).
#[test]
fn a_traced_jvm_starts_no_program_of_ours() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let jar = fixture("printenv.jar");
    let mut cmd = p.command("java");
    // The JVM stays 10 s: its tracer starts about 2 s in and reports then (one that exits at
    // once may report nothing), and any program it would start in that time is seen.
    cmd.args(["-jar", jar.to_str().unwrap(), "DD_TELEMETRY_FORWARDER_PATH"])
        .env_remove("DD_TELEMETRY_FORWARDER_PATH")
        .env_remove("JAVA_TOOL_OPTIONS")
        .env("PRINTENV_LINGER_MS", "10000")
        .env("DD_TRACE_AGENT_URL", agent.url());
    let (out, started) = programs_started_by(&cmd);
    assert_eq!(stdout(&out), "DD_TELEMETRY_FORWARDER_PATH unset\n");
    let tracers_own =
        |program: &String| program.ends_with("/lib/jspawnhelper") || program == "/sbin/ldconfig";
    let others: Vec<&String> = started.iter().filter(|s| !tracers_own(s)).collect();
    assert_eq!(others, Vec::<&String>::new(), "{started:?}");
    // The agent did start: it reports to the test agent.
    wait_for("the Java tracer's telemetry", || {
        let telemetry = agent.telemetry();
        telemetry
            .iter()
            .any(|t| t["application"]["language_name"] == "jvm")
            .then_some(())
    });
}

/// `cmd` run with and without the launcher (and the real Java package): standard output,
/// standard error and exit status must be byte-identical.
fn untouched(p: &Packages, program: &str, args: &[&str]) {
    let plain = run(Command::new(program).args(args).env_remove("LD_PRELOAD"));
    let launched = run(p.command(program).args(args));
    assert_eq!(
        (&launched.stdout, &launched.stderr, launched.status.code()),
        (&plain.stdout, &plain.stderr, plain.status.code()),
        "{program} {args:?}:\n{}",
        String::from_utf8_lossy(&launched.stderr)
    );
}

#[test]
fn jdk_and_build_tools_are_untouched() {
    let p = Packages::with_tracers();
    let commands: [(&str, &[&str]); 5] = [
        ("java", &["-version"]),
        ("java", &["--version"]),
        ("jar", &[]),
        ("jar", &["--version"]),
        ("mvn", &["-v"]),
    ];
    for (program, args) in commands {
        untouched(&p, program, args);
    }
    // And no agent was loaded: every JVM the launcher saw was skipped, with its reason.
    let log = p.dir.path().join("inject.log");
    for (program, args) in commands {
        let out = run(p
            .command(program)
            .args(args)
            .env("DD_APM_INSTRUMENTATION_DEBUG", "true")
            .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &log));
        assert!(out.status.code().is_some(), "{program} {args:?}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    let outcomes: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains(": skipped") || l.contains(": injected") || l.contains(": failed"))
        .collect();
    assert_eq!(outcomes.len(), commands.len(), "{logged}");
    for reason in ["java_version", "jdk_tool", "jvm_build_tool"] {
        assert!(
            outcomes
                .iter()
                .any(|l| l.contains(&format!("skipped: {reason}"))),
            "{reason}: {logged}"
        );
    }
    assert!(!logged.contains("injected"), "{logged}");
}
