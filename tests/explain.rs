//! `apm-inject explain` shows the library's own decision, without running the command.

use apm_inject_tests::{cli, fixture, run, stderr, stdout, Packages};
use std::process::Command;

fn explain(p: &Packages, args: &[&str]) -> Command {
    let mut cmd = Command::new(cli());
    cmd.arg("explain")
        .arg("--packages-root")
        .arg(&p.root)
        .args(["--json", "--"])
        .args(args);
    cmd.env("PATH", "/usr/bin:/bin").env_remove("LD_PRELOAD");
    cmd
}

fn json(cmd: &mut Command) -> serde_json::Value {
    let out = run(cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn explains_an_injection_with_its_changes() {
    let p = Packages::with_libraries();
    let v = json(&mut explain(&p, &["python3", "app.py"]));
    assert_eq!(v["runtime"], "python");
    assert_eq!(v["outcome"], "injected");
    assert_eq!(v["executable"], "/usr/bin/python3.11");
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes[0]["name"], "PYTHONPATH");
    assert_eq!(changes[0]["value"], p.library("python").to_str().unwrap());
    assert_eq!(changes[1]["name"], "DD_SERVICE");
    assert_eq!(changes[1]["value"], "app");
    assert_eq!(changes[2]["name"], "DD_INJECTION_ENABLED");
    assert_eq!(changes[2]["value"], "tracer,service_name");
}

#[test]
fn explains_a_deny_rule() {
    let p = Packages::with_libraries();
    let v = json(&mut explain(&p, &["java", "-version"]));
    assert_eq!(v["outcome"], "skipped");
    assert_eq!(v["reason"]["id"], "java_version");
    let v = json(&mut explain(&p, &["npm", "install"]));
    assert_eq!(v["reason"]["id"], "node_package_manager");
    assert_eq!(v["scripts"][0], "/usr/bin/npm");
}

#[test]
fn explains_removal_of_inherited_additions() {
    let p = Packages::with_libraries();
    let agent = format!(
        " -javaagent:{}/dd-java-agent.jar",
        p.library("java").display()
    );
    let v = json(explain(&p, &["java", "-version"]).env("JAVA_TOOL_OPTIONS", &agent));
    assert_eq!(v["changes"][0]["action"], "unset");
    assert_eq!(v["changes"][0]["name"], "JAVA_TOOL_OPTIONS");
}

#[test]
fn text_output_names_runtime_outcome_and_reason() {
    let p = Packages::with_libraries();
    let mut cmd = Command::new(cli());
    cmd.arg("explain")
        .arg("--packages-root")
        .arg(&p.root)
        .args(["--", "ls", "-l"]);
    let out = run(&mut cmd);
    let text = stdout(&out);
    assert!(text.contains("runtime:    none"), "{text}");
    assert!(text.contains("reason:     not_a_runtime"), "{text}");
}

#[test]
fn unknown_command_is_a_clear_error() {
    let p = Packages::new();
    let out = run(&mut explain(&p, &["no-such-command-anywhere"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no-such-command-anywhere: command not found"),
        "{}",
        stderr(&out)
    );
}

/// The outcome line the library logs for `args`, e.g. `injected python`.
fn library_outcome(p: &Packages, args: &[&str]) -> String {
    let out = run(p
        .command(args[0])
        .args(&args[1..])
        .env("PATH", "/usr/bin:/bin")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("]: injected") || l.contains("]: skipped") || l.contains("]: failed"))
        .unwrap_or_else(|| panic!("{args:?}: {err}"));
    line.split("]: ")
        .nth(1)
        .unwrap()
        .split([' ', '('])
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end()
        .to_string()
}

#[test]
fn explain_agrees_with_the_library() {
    let p = Packages::with_libraries();
    let hello = fixture("hello.jar");
    let cases: &[&[&str]] = &[
        &["python3", "-c", "pass"],
        &["python3", "-m", "pip", "--version"],
        &["python3", "-I", "-c", "pass"],
        &["node", "-e", "0"],
        &["npm", "--version"],
        &["java", "-version"],
        &["java", "-jar", hello.to_str().unwrap()],
        &["keytool", "-help"],
    ];
    for args in cases {
        let v = json(&mut explain(&p, args));
        let expected = match v["outcome"].as_str().unwrap() {
            "injected" => format!("injected {}", v["runtime"].as_str().unwrap()),
            kind => format!("{kind}: {}", v["reason"]["id"].as_str().unwrap()),
        };
        assert_eq!(library_outcome(&p, args), expected, "{args:?}");
    }
}

#[test]
fn explain_names_the_python_daemon_limitation() {
    // ddtrace offers no setting that keeps its native runtime alive through a daemon closing
    // every descriptor: explain says so wherever it would inject Python (README.md).
    let p = Packages::with_libraries();
    let v = json(&mut explain(&p, &["python3", "daemon.py"]));
    assert_eq!(v["outcome"], "injected");
    let notes = v["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("os.closerange")),
        "{v}"
    );
    let text = run(Command::new(cli())
        .args(["explain", "--packages-root"])
        .arg(&p.root)
        .args(["--", "python3", "daemon.py"])
        .env("PATH", "/usr/bin:/bin")
        .env_remove("LD_PRELOAD"));
    assert!(
        stdout(&text).contains("note:       ddtrace's native runtime"),
        "{}",
        stdout(&text)
    );
}
