//! Programs that are not runtimes behave exactly as without the library: same standard
//! output, standard error, exit status and environment.
#![forbid(unsafe_code)]

use apm_inject_tests::{fixture, run, Packages};
use std::process::{Command, Output};

/// Common commands with deterministic output, including failures and stderr output.
const COMMANDS: &[&[&str]] = &[
    &["true"],
    &["false"],
    &["echo", "hello"],
    &["printf", "%s-%s\\n", "a", "b"],
    &["ls", "/"],
    &["ls", "-la", "/etc/os-release"],
    &["ls", "/nonexistent"],
    &["cat", "/etc/os-release"],
    &["cat", "/nonexistent"],
    &["head", "-c", "200", "/etc/services"],
    &["wc", "-l", "/etc/services"],
    &["sort", "/etc/shells"],
    &["uname", "-s"],
    &["id", "-u"],
    &["basename", "/a/b/c"],
    &["dirname", "/a/b/c"],
    &["expr", "1", "+", "2"],
    &["seq", "5"],
    &["sh", "-c", "echo $((6*7)); echo oops >&2; exit 3"],
    &["bash", "-c", "echo $BASH_VERSION; exit 4"],
    &["dash", "-c", "echo dash"],
    &["grep", "root", "/etc/passwd"],
    &["sed", "-n", "1p", "/etc/passwd"],
    &["awk", "BEGIN { print 42 }"],
    &["cut", "-d:", "-f1", "/etc/passwd"],
    &["md5sum", "/etc/os-release"],
    &["sha256sum", "/etc/os-release"],
    &["stat", "-c", "%s %a", "/etc/os-release"],
    &["test", "-d", "/tmp"],
    &["find", "/etc", "-maxdepth", "1", "-name", "os-release"],
    &["tar", "--version"],
    &["gzip", "--version"],
    &["perl", "-e", "print 1+1"],
    &["git", "--version"],
    &["ssh", "-V"],
    &["openssl", "version"],
    &["readlink", "/proc/self/exe"],
    &["getconf", "ARG_MAX"],
    &["env"],
    &["sleep", "0"],
];

/// Runs `argv` with `preload` in `LD_PRELOAD`; the `LD_PRELOAD=` line `env` prints is dropped
/// since it necessarily names the library.
fn run_with(preload: &std::path::Path, argv: &[&str]) -> Output {
    let mut out = run(Command::new(argv[0])
        .args(&argv[1..])
        .env("LD_PRELOAD", preload)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    let text = String::from_utf8_lossy(&out.stdout);
    out.stdout = text
        .lines()
        .filter(|l| !l.starts_with("LD_PRELOAD="))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes();
    out
}

#[test]
fn common_commands_are_byte_identical() {
    let p = Packages::with_libraries();
    let empty = fixture("empty-preload.so");
    for argv in COMMANDS {
        let baseline = run_with(&empty, argv);
        let ours = run_with(&p.launcher, argv);
        assert_eq!(
            ours.status.code(),
            baseline.status.code(),
            "{argv:?}: exit status"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&baseline.stdout),
            "{argv:?}: stdout"
        );
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&baseline.stderr),
            "{argv:?}: stderr"
        );
    }
    println!("compared {} commands", COMMANDS.len());
    assert!(COMMANDS.len() >= 30);
}

#[test]
fn the_environment_is_unchanged_even_with_our_variables_inherited() {
    // A shell started by an instrumented python inherits PYTHONPATH and DD_INJECTION_ENABLED:
    // it is not a runtime, so nothing is taken out or added.
    let p = Packages::with_libraries();
    let inherited = format!("{}:/app", p.library("python").display());
    let out = run(p
        .command("env")
        .env_clear()
        .env("LD_PRELOAD", &p.launcher)
        .env("PYTHONPATH", &inherited)
        .env("DD_INJECTION_ENABLED", "tracer")
        .env("A", "1"));
    // (Command passes the variables sorted by name.)
    let expected = format!(
        "A=1\nDD_INJECTION_ENABLED=tracer\nLD_PRELOAD={}\nPYTHONPATH={inherited}\n",
        p.launcher.display()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}
