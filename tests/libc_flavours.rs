//! glibc, musl, libc-free Go and fully static programs under the library.
#![forbid(unsafe_code)]

use apm_inject_tests::{fixture, install_as, run, stderr, stdout, Packages};
use std::path::Path;
use std::process::Command;

/// Open descriptors the probe reports when run without the library (the test harness may
/// pass some down): the library must leave none behind.
fn baseline_fds(probe: &Path) -> String {
    let out = run(&mut Command::new(probe));
    stdout(&out)
        .lines()
        .find(|l| l.starts_with("open_fds="))
        .unwrap()
        .to_string()
}

fn node_require(p: &Packages) -> String {
    format!("--require={}/bootstrap.cjs", p.library("js").display())
}

#[test]
fn musl_program_named_node_gets_node_options_through_musl_setenv() {
    let p = Packages::with_libraries();
    let node = install_as(&fixture("envprobe-musl"), p.dir.path(), "node");
    let out = run(p
        .command(&node)
        .args(["NODE_OPTIONS", "DD_INJECTION_ENABLED"])
        .env("NODE_OPTIONS", "--no-warnings"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "NODE_OPTIONS=--no-warnings {}\nDD_INJECTION_ENABLED=tracer,service_name,startup_logs\npreload_mapped=1\n{}\n",
            node_require(&p),
            baseline_fds(&node)
        )
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn glibc_program_named_node_gets_node_options() {
    let p = Packages::with_libraries();
    let node = install_as(&fixture("envprobe-glibc"), p.dir.path(), "node");
    let out = run(p.command(&node).arg("NODE_OPTIONS"));
    let expected = format!(
        "NODE_OPTIONS={}\npreload_mapped=1\n{}\n",
        node_require(&p),
        baseline_fds(&node)
    );
    assert_eq!(stdout(&out), expected);
}

#[test]
fn musl_non_runtime_is_untouched() {
    let p = Packages::with_libraries();
    let probe = install_as(&fixture("envprobe-musl"), p.dir.path(), "probe");
    let out = run(p.command(&probe).arg("NODE_OPTIONS"));
    assert_eq!(
        stdout(&out),
        format!(
            "NODE_OPTIONS unset\npreload_mapped=1\n{}\n",
            baseline_fds(&probe)
        )
    );
}

#[test]
fn libc_free_go_program_runs_normally() {
    let p = Packages::with_libraries();
    for name in ["goprobe", "node", "java", "python3"] {
        let program = install_as(&fixture("goprobe"), p.dir.path(), name);
        let out = run(p
            .command(&program)
            .args(["a", "b"])
            .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
        assert_eq!(out.status.code(), Some(7), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "go args=[a b] NODE_OPTIONS=\"\"\n", "{name}");
        assert_eq!(stderr(&out), "", "{name}");
    }
}

#[test]
fn go_program_really_loads_the_library() {
    // Proof that the Go test above exercises the library: the loader maps it.
    let p = Packages::new();
    let program = install_as(&fixture("goprobe"), p.dir.path(), "node");
    let out = run(p.command(&program).env("LD_DEBUG", "libs"));
    assert!(
        stderr(&out).contains("launcher.preload.so"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn static_launcher_starts_an_instrumented_java() {
    let p = Packages::with_libraries();
    let out = run(p
        .command(fixture("static-exec"))
        .arg("/usr/bin/java")
        .arg("-jar")
        .arg(fixture("hello.jar")));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!(
        "-javaagent:{}/dd-java-agent.jar",
        p.library("java").display()
    )));
    assert!(stderr(&out).contains("fixture java agent loaded"));
}
