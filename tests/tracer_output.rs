//! An instrumented process prints exactly what it prints without the launcher: the library
//! sets `DD_TRACE_STARTUP_LOGS=false` where the user has not set it, so tracers that print a
//! configuration banner at start (dd-trace 6) stay quiet, and gives the Java tracer
//! `-Ddd.trace.startup.logs=false` (dd-java-agent ignores the variable for its banner). The real
//! tracers of `make libraries`: dd-trace 5 and 6 on Node.js 18, 20 and 22 (through the
//! package's bootstrap), ddtrace on Python, dd-java-agent on Java; the Spring Boot
//! application's output is checked in `tracers.rs`.
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::{npm_node, TestAgent};
use apm_inject_tests::{fixture, run, stderr, stdout, Packages};
use std::path::Path;
use std::process::{Command, Output};

fn without_launcher(program: &Path, args: &[&str]) -> Output {
    run(Command::new(program)
        .args(args)
        .env_remove("LD_PRELOAD")
        .env_remove("DD_TRACE_STARTUP_LOGS"))
}

fn with_launcher(p: &Packages, program: &Path, args: &[&str]) -> Output {
    run(p
        .command(program)
        .args(args)
        .env_remove("DD_TRACE_STARTUP_LOGS")
        .env_remove("DD_APM_INSTRUMENTATION_DEBUG"))
}

fn prints_as_without_the_launcher(program: &Path, args: &[&str]) {
    let p = Packages::with_tracers();
    let without = without_launcher(program, args);
    let with = with_launcher(&p, program, args);
    assert_eq!(
        (with.status.code(), stdout(&with), stderr(&with)),
        (without.status.code(), stdout(&without), stderr(&without)),
        "{program:?} {args:?}"
    );
}

#[test]
fn instrumented_node_prints_only_what_it_prints_without_the_launcher() {
    for node in [npm_node(18), "/usr/bin/node".into(), npm_node(22)] {
        prints_as_without_the_launcher(&node, &["-e", "console.log(1)"]);
    }
}

#[test]
fn instrumented_python_prints_only_what_it_prints_without_the_launcher() {
    prints_as_without_the_launcher(Path::new("/usr/bin/python3"), &["-c", "print(1)"]);
}

#[test]
fn a_users_startup_logs_setting_is_kept() {
    let p = Packages::with_tracers();
    let out = run(p
        .command(npm_node(22))
        .args(["-e", "console.log(1)"])
        .env("DD_TRACE_STARTUP_LOGS", "true"));
    assert_eq!(stdout(&out), "1\n");
    assert!(
        stderr(&out).contains("DATADOG TRACER CONFIGURATION"),
        "{}",
        stderr(&out)
    );
}

/// The real Java tracer, reporting to a test agent (an unreachable agent makes it warn, as it
/// should), in `java -jar`: the only line it adds is the JVM's own `Picked up
/// JAVA_TOOL_OPTIONS`, which no option silences (README: Known limitations). No configuration
/// banner (`-Ddd.trace.startup.logs=false`), no class-data sharing warning (`-Xshare:off`).
#[test]
fn instrumented_java_prints_only_what_it_prints_without_the_launcher() {
    let p = Packages::with_tracers();
    let agent = TestAgent::start();
    let jar = fixture("printenv.jar");
    let args = ["-jar", jar.to_str().unwrap(), "HOME"];
    let plain = run(Command::new("java")
        .args(args)
        .env_remove("LD_PRELOAD")
        .env_remove("JAVA_TOOL_OPTIONS"));
    let with = run(p
        .command("java")
        .args(args)
        .env_remove("DD_TRACE_STARTUP_LOGS")
        .env_remove("DD_APM_INSTRUMENTATION_DEBUG")
        .env_remove("JAVA_TOOL_OPTIONS")
        .env("DD_TRACE_AGENT_URL", agent.url()));
    let options = format!(
        "-javaagent:{}/dd-java-agent.jar -Ddd.trace.startup.logs=false -Xshare:off",
        p.library("java").display()
    );
    assert_eq!(
        (with.status.code(), stdout(&with), stderr(&with)),
        (
            plain.status.code(),
            stdout(&plain),
            format!("Picked up JAVA_TOOL_OPTIONS: {options}\n{}", stderr(&plain))
        )
    );
}
