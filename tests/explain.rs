//! `apm-inject explain` shows the library's own decision, without running the command.
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::npm_node;
use apm_inject_tests::{cli, fixture, install_as, pyenv, run, stderr, stdout, Packages};
use std::collections::BTreeMap;
use std::path::Path;
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
    assert_eq!(changes[2]["value"], "tracer,service_name,startup_logs");
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

/// The line the library logs for `args` with its decision, e.g.
/// `injected python - set PYTHONPATH, set DD_SERVICE`.
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
    line.split_once("]: ").unwrap().1.to_string()
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
        let mut expected = match v["outcome"].as_str().unwrap() {
            "injected" => format!("injected {}", v["runtime"].as_str().unwrap()),
            kind => format!(
                "{kind}: {} ({})",
                v["reason"]["id"].as_str().unwrap(),
                v["reason"]["description"].as_str().unwrap()
            ),
        };
        let changes: Vec<String> = v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c["action"].as_str().unwrap(),
                    c["name"].as_str().unwrap()
                )
            })
            .collect();
        if !changes.is_empty() {
            expected += &format!(" - {}", changes.join(", "));
        }
        assert_eq!(library_outcome(&p, args), expected, "{args:?}");
    }
}

#[test]
fn explain_and_the_library_agree_with_the_packages_supported_versions() {
    let p = Packages::with_tracers();
    let js = p.library("js");
    let (python38, python313) = (pyenv("3.8"), pyenv("3.13"));
    let (node16, node18, node22) = (npm_node(16), npm_node(18), npm_node(22));
    let cases: [(&Path, &str, Option<std::path::PathBuf>); 5] = [
        (&python38, "skipped: runtime_version_unsupported", None),
        (&python313, "injected python", None),
        (&node16, "skipped: runtime_version_unsupported", None),
        (&node18, "injected node", Some(js.join("dd-trace-5"))),
        (&node22, "injected node", Some(js.clone())),
    ];
    for (exe, expected, tracer) in cases {
        let exe = exe.to_str().unwrap();
        let inline = if exe.contains("python") { "-c" } else { "-e" };
        let args = [exe, inline, "0"];
        let logged = library_outcome(&p, &args);
        assert!(logged.starts_with(expected), "{exe}: {logged}");
        let v = json(&mut explain(&p, &args));
        let explained = match v["outcome"].as_str().unwrap() {
            "injected" => format!("injected {}", v["runtime"].as_str().unwrap()),
            kind => format!("{kind}: {}", v["reason"]["id"].as_str().unwrap()),
        };
        assert_eq!(explained, expected, "{exe}");
        if let Some(tracer) = tracer {
            let require = format!("--require={}/bootstrap.cjs", tracer.display());
            assert_eq!(v["changes"][0]["value"], require, "{exe}");
        }
    }
    let v = json(&mut explain(&p, &[python38.to_str().unwrap(), "app.py"]));
    assert_eq!(
        v["reason"]["description"],
        "version 3.8; the package supports 3.9 to 3.13 (ddtrace 4.16.0)"
    );
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

#[test]
fn a_file_that_is_not_executable_is_named_as_such() {
    let p = Packages::with_libraries();
    let out = run(&mut explain(&p, &["/etc/passwd"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/etc/passwd: not executable (mode 0644)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_library_is_named() {
    let p = Packages::new();
    let v = json(&mut explain(&p, &["python3", "app.py"]));
    assert_eq!(v["reason"]["id"], "library_missing");
    let missing = p
        .root
        .join("datadog-apm-library-python/stable/sitecustomize.py");
    assert_eq!(v["missing"], missing.to_str().unwrap());
    let out = run(Command::new(cli())
        .args(["explain", "--packages-root"])
        .arg(&p.root)
        .args(["--", "python3", "app.py"])
        .env("PATH", "/usr/bin:/bin")
        .env_remove("LD_PRELOAD"));
    assert!(
        stdout(&out).contains(&format!("missing:    {}\n", missing.display())),
        "{}",
        stdout(&out)
    );
}

/// Every variable the library may change.
const WATCHED: [&str; 15] = [
    "JAVA_TOOL_OPTIONS",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "RUBYOPT",
    "PHP_INI_SCAN_DIR",
    "CORECLR_ENABLE_PROFILING",
    "CORECLR_PROFILER",
    "CORECLR_PROFILER_PATH",
    "DD_DOTNET_TRACER_HOME",
    "DD_SERVICE",
    "DD_INJECTION_ENABLED",
    "DD_TELEMETRY_FORWARDER_PATH",
    "DD_TRACE_STARTUP_LOGS",
    "DD_ENV",
    "DD_VERSION",
];

/// The watched variables as `command` (the environment probe under a runtime's name) sees
/// them, run under the library with `env`.
fn variables_under_the_library(
    p: &Packages,
    command: &[&str],
    env: &[(&str, String)],
    cwd: &Path,
) -> BTreeMap<String, Option<String>> {
    let out = run(p
        .command(command[0])
        .args(&command[1..])
        .env_clear()
        .env("LD_PRELOAD", &p.launcher)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd));
    assert!(out.status.success(), "{command:?}: {}", stderr(&out));
    stdout(&out)
        .lines()
        .filter_map(|line| match line.split_once('=') {
            Some((name, value)) => Some((name.to_string(), Some(value.to_string()))),
            None => line
                .strip_suffix(" unset")
                .map(|name| (name.to_string(), None)),
        })
        .filter(|(name, _)| WATCHED.contains(&name.as_str()))
        .collect()
}

/// The watched variables after the changes `explain` shows for `command`, run with `env`.
fn variables_explained(
    p: &Packages,
    command: &[&str],
    env: &[(&str, String)],
    cwd: &Path,
) -> BTreeMap<String, Option<String>> {
    let mut cmd = Command::new(cli());
    cmd.arg("explain")
        .arg("--packages-root")
        .arg(&p.root)
        .args(["--json", "--"])
        .args(command)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd);
    let v = json(&mut cmd);
    let mut vars: BTreeMap<String, Option<String>> = WATCHED
        .iter()
        .map(|name| {
            let value = env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            (name.to_string(), value)
        })
        .collect();
    for change in v["changes"].as_array().unwrap() {
        let name = change["name"].as_str().unwrap().to_string();
        assert!(WATCHED.contains(&name.as_str()), "{name} is not watched");
        let value = match change["action"].as_str().unwrap() {
            "set" => Some(change["value"].as_str().unwrap().to_string()),
            _ => None,
        };
        vars.insert(name, value);
    }
    vars
}

/// A runtime (an environment probe under its name), its arguments and the environment.
type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, String)>);

#[test]
fn explain_shows_the_edits_the_library_makes() {
    let p = Packages::with_libraries();
    let bin = p.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let probe = fixture("envprobe-glibc");
    let runtimes = ["java", "node", "python3.11", "ruby", "php8.2", "dotnet"];
    for name in runtimes {
        install_as(&probe, &bin, name);
    }
    // A musl program: the library and explain must both tell its C library.
    std::fs::create_dir(bin.join("musl")).unwrap();
    install_as(&fixture("envprobe-musl"), &bin.join("musl"), "php8.2");
    let config = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let lib = |lang: &str| p.library(lang).to_str().unwrap().to_string();
    let agent = format!("-javaagent:{}/dd-java-agent.jar", lib("java"));
    let cases: Vec<Case> = vec![
        (
            "java",
            vec!["-jar", "shop.jar"],
            vec![("JAVA_TOOL_OPTIONS", "-Xmx1g".into())],
        ),
        (
            "java",
            vec!["-version"],
            vec![
                ("JAVA_TOOL_OPTIONS", format!("-Xmx1g {agent}")),
                ("DD_INJECTION_ENABLED", "tracer".into()),
            ],
        ),
        (
            "node",
            vec!["server.js"],
            vec![("NODE_OPTIONS", "--max-old-space-size=100".into())],
        ),
        (
            "python3.11",
            vec!["app.py"],
            vec![
                ("PYTHONPATH", "/srv/app".into()),
                ("DD_SERVICE", "orders".into()),
            ],
        ),
        (
            "python3.11",
            vec!["-I", "app.py"],
            vec![
                ("PYTHONPATH", format!("{}:/srv/app", lib("python"))),
                ("DD_INJECTION_ENABLED", "tracer,service_name".into()),
                ("DD_SERVICE", "app".into()),
            ],
        ),
        ("ruby", vec!["app.rb"], vec![("RUBYOPT", "-W0".into())]),
        ("php8.2", vec!["index.php"], vec![]),
        (
            "musl/php8.2",
            vec!["index.php"],
            vec![("PHP_INI_SCAN_DIR", "/etc/php/conf.d".into())],
        ),
        (
            "dotnet",
            vec!["Shop.Api.dll"],
            vec![("DD_TRACE_STARTUP_LOGS", "true".into())],
        ),
    ];
    for (runtime, args, vars) in cases {
        let exe = bin.join(runtime);
        let mut command = vec![exe.to_str().unwrap()];
        command.extend(args);
        command.extend(WATCHED);
        let mut env = vec![
            ("PATH", "/usr/bin:/bin".to_string()),
            (
                "DD_APM_INSTRUMENTATION_CONFIG_DIR",
                config.path().to_str().unwrap().to_string(),
            ),
        ];
        env.extend(vars);
        let explained = variables_explained(&p, &command, &env, cwd.path());
        let applied = variables_under_the_library(&p, &command, &env, cwd.path());
        assert_eq!(explained, applied, "{runtime} {:?}", &command[1..]);
        let unchanged = WATCHED.iter().all(|name| {
            applied[*name] == env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        });
        assert!(!unchanged, "{runtime}: every case changes something");
    }
}
