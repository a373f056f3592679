//! Under secure execution (setuid, file capabilities) the library does nothing at all.
//!
//! glibc ignores `LD_PRELOAD` paths for such programs but still loads `/etc/ld.so.preload`,
//! so these tests list the launcher there, inside a private mount namespace.
#![forbid(unsafe_code)]

use apm_inject_tests::{fixture, install_as, run, stderr, stdout, with_ld_so_preload, Packages};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `program args` as `nobody` with debug logging on, the launcher in /etc/ld.so.preload.
fn run_as_nobody(p: &Packages, program: &Path, args: &[&str]) -> Output {
    let mut argv: Vec<&OsStr> = vec![
        OsStr::new("setpriv"),
        OsStr::new("--reuid=65534"),
        OsStr::new("--regid=65534"),
        OsStr::new("--clear-groups"),
        program.as_os_str(),
    ];
    argv.extend(args.iter().map(OsStr::new));
    let scratch = p.dir.path().join("scratch");
    let mut cmd = with_ld_so_preload(&scratch, &p.launcher, &argv);
    cmd.env_remove("LD_PRELOAD")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true");
    let out = run(&mut cmd);
    assert_ne!(
        out.status.code(),
        Some(99),
        "overlay mount failed: {}",
        stderr(&out)
    );
    out
}

fn sh(args: &[&str]) {
    assert!(
        Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap()
            .success(),
        "{args:?}"
    );
}

#[test]
fn unprivileged_program_is_instrumented_through_ld_so_preload() {
    // The control case: same program, no secure execution.
    let p = Packages::with_libraries();
    let java = install_as(&fixture("envprobe-glibc"), p.dir.path(), "java");
    let out = run_as_nobody(&p, &java, &["JAVA_TOOL_OPTIONS"]);
    assert!(
        stdout(&out).contains("JAVA_TOOL_OPTIONS=-javaagent:"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("injected java"));
}

#[test]
fn setuid_program_is_left_alone() {
    let p = Packages::with_libraries();
    let java = install_as(&fixture("envprobe-glibc"), p.dir.path(), "java");
    sh(&["chown", "root:root", java.to_str().unwrap()]);
    sh(&["chmod", "4755", java.to_str().unwrap()]);
    let out = run_as_nobody(&p, &java, &["JAVA_TOOL_OPTIONS", "DD_INJECTION_ENABLED"]);
    assert_eq!(
        stdout(&out).lines().take(3).collect::<Vec<_>>(),
        [
            "JAVA_TOOL_OPTIONS unset",
            "DD_INJECTION_ENABLED unset",
            "preload_mapped=1"
        ]
    );
    assert_eq!(stderr(&out), "", "nothing is logged under secure execution");
}

#[test]
fn file_capability_program_is_left_alone() {
    let p = Packages::with_libraries();
    let node = install_as(&fixture("envprobe-glibc"), p.dir.path(), "node");
    sh(&["setcap", "cap_net_bind_service+ep", node.to_str().unwrap()]);
    let out = run_as_nobody(&p, &node, &["NODE_OPTIONS"]);
    assert_eq!(
        stdout(&out).lines().take(2).collect::<Vec<_>>(),
        ["NODE_OPTIONS unset", "preload_mapped=1"]
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn real_python_is_instrumented_through_ld_so_preload_alone() {
    let p = Packages::with_libraries();
    let scratch = p.dir.path().join("scratch");
    let argv = [
        "/usr/bin/python3",
        "-c",
        "import os; print(os.environ['PYTHONPATH'])",
    ]
    .map(OsStr::new);
    let mut cmd = with_ld_so_preload(&scratch, &p.launcher, &argv);
    let out = run(cmd.env_remove("LD_PRELOAD"));
    assert_eq!(
        stdout(&out),
        format!("{}\n", p.library("python").display()),
        "{}",
        stderr(&out)
    );
}
