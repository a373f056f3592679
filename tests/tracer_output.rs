//! An instrumented process prints exactly what it prints without the launcher: the library
//! sets `DD_TRACE_STARTUP_LOGS=false` where the user has not set it, so tracers that print a
//! configuration banner at start (dd-trace 6, the Java tracer) stay quiet. Real Node.js 22 with
//! dd-trace 6 and real Python with ddtrace; Java with the fixture agent until the real Java
//! tracer is packaged.

use apm_inject_tests::tracers::npm_node;
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
fn instrumented_node_22_prints_only_what_it_prints_without_the_launcher() {
    prints_as_without_the_launcher(&npm_node(22), &["-e", "console.log(1)"]);
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

#[test]
fn instrumented_java_gets_startup_logs_off_and_its_own_output_unchanged() {
    let p = Packages::with_libraries();
    let jar = fixture("printenv.jar");
    let args = ["-jar", jar.to_str().unwrap(), "DD_TRACE_STARTUP_LOGS"];
    let without = without_launcher(Path::new("java"), &args);
    assert_eq!(stdout(&without), "DD_TRACE_STARTUP_LOGS unset\n");
    let with = with_launcher(&p, Path::new("java"), &args);
    assert_eq!(stdout(&with), "DD_TRACE_STARTUP_LOGS=false\n");
    // The JVM itself announces JAVA_TOOL_OPTIONS on standard error (README: Java); the fixture
    // agent says it loaded. Nothing else is printed.
    let agent = p.library("java").join("dd-java-agent.jar");
    assert_eq!(
        stderr(&with),
        format!(
            "Picked up JAVA_TOOL_OPTIONS: -javaagent:{}\nfixture java agent loaded\n",
            agent.display()
        )
    );
}
