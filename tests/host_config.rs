//! The user's host configuration: validated and compiled by `apm-inject config`, read by the
//! library in every runtime process.
#![forbid(unsafe_code)]

use apm_inject_tests::{cli, run, stderr, stdout, Packages};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PYTHON: &str = "/usr/bin/python3";
const PRINT: &str = "import os; print(os.environ.get('PYTHONPATH'), os.environ.get('DD_ENV'), os.environ.get('DD_VERSION'))";

/// A configuration directory beside the package tree.
fn config_dir(p: &Packages) -> PathBuf {
    let dir = p.dir.path().join("inject-config");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path, verb: &str, yaml: &str) -> Output {
    let file = dir.join("host_config.yaml");
    std::fs::write(&file, yaml).unwrap();
    run(Command::new(cli())
        .args(["config", verb])
        .arg(&file)
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", dir))
}

fn apply(p: &Packages, yaml: &str) -> PathBuf {
    let dir = config_dir(p);
    let out = config(&dir, "apply", yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    dir
}

fn python(p: &Packages, dir: &Path, args: &[&str]) -> Output {
    run(p
        .command(PYTHON)
        .args(args)
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", dir))
}

#[test]
fn deny_rule_keeps_a_matching_process_uninstrumented() {
    let p = Packages::with_libraries();
    let dir = apply(
        &p,
        "rules:\n  - action: deny\n    id: no-batch\n    runtime: python\n    env: {BATCH: null}\n",
    );
    let out = run(p
        .command(PYTHON)
        .args(["-c", PRINT])
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
        .env("BATCH", "1")
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(stdout(&out).starts_with("None"), "{}", stdout(&out));
    // A rule without a description is named by where it comes from.
    assert!(
        stderr(&out).contains("skipped: no-batch (a rule in host_config.yaml)"),
        "{}",
        stderr(&out)
    );
    let out = python(&p, &dir, &["-c", PRINT]);
    assert!(
        stdout(&out).starts_with(p.library("python").to_str().unwrap()),
        "rule does not match without BATCH"
    );
}

#[test]
fn first_matching_rule_wins_and_allow_overrides_the_default_deny_list() {
    let p = Packages::with_libraries();
    let yaml =
        "rules:\n  - action: allow\n    module: pip\n  - action: deny\n    runtime: python\n";
    let dir = apply(&p, yaml);
    let out = run(p
        .command(PYTHON)
        .args(["-m", "pip", "--version"])
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(
        stderr(&out).contains("injected python (allowed by rule host_config.yaml:2)"),
        "{}",
        stderr(&out)
    );
    let out = run(p
        .command(PYTHON)
        .args(["-c", "pass"])
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(
        stderr(&out).contains("skipped: host_config.yaml:4"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn opt_out_variable_wins_over_allow_rules() {
    let p = Packages::with_libraries();
    let dir = apply(&p, "rules:\n  - action: allow\n    runtime: python\n");
    let out = run(p
        .command(PYTHON)
        .args(["-c", PRINT])
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
        .env("DD_INSTRUMENT_SERVICE_WITH_APM", "false"));
    assert!(stdout(&out).starts_with("None"));
}

#[test]
fn disabled_language_env_version_and_log_settings_apply() {
    let p = Packages::with_libraries();
    let log = p.dir.path().join("inject.log");
    let yaml = format!("log_level: debug\noutput_paths: [\"file://{}\"]\nlanguages: {{node: false}}\nenv: staging\nversion: \"2.1\"\n", log.display());
    let dir = apply(&p, &yaml);
    let out = python(&p, &dir, &["-c", PRINT]);
    assert_eq!(
        stdout(&out),
        format!("{} staging 2.1\n", p.library("python").display())
    );
    let out = run(p
        .command(PYTHON)
        .args(["-c", PRINT])
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
        .env("DD_ENV", "prod"));
    assert!(
        stdout(&out).ends_with(" prod 2.1\n"),
        "the process's own DD_ENV wins: {}",
        stdout(&out)
    );
    let out = run(p
        .command("node")
        .args(["-e", "console.log(process.env.NODE_OPTIONS)"])
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir));
    assert_eq!(stdout(&out), "undefined\n");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("injected python") && text.contains("skipped: language_disabled"),
        "{text}"
    );
}

#[test]
fn explain_names_the_rule_that_decided() {
    let p = Packages::with_libraries();
    let legacy = p.dir.path().join("srv/legacy/app");
    std::fs::create_dir_all(&legacy).unwrap();
    let yaml = format!(
        "rules:\n  - action: deny\n    id: no-scripts\n    program: \"**/scripts/*\"\n  - action: deny\n    cwd: \"{}/srv/legacy/**\"\n",
        p.dir.path().display()
    );
    let dir = apply(&p, &yaml);
    let explain = |args: &[&str], cwd: &Path| {
        let out = run(Command::new(cli())
            .arg("explain")
            .arg("--packages-root")
            .arg(&p.root)
            .arg("--")
            .args(args)
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
            .env("PATH", "/usr/bin:/bin")
            .current_dir(cwd));
        stdout(&out)
    };
    let text = explain(&["python3", "/opt/scripts/x.py"], p.dir.path());
    assert!(
        text.contains("reason:     no-scripts") && text.contains("(from host_config.yaml)"),
        "{text}"
    );
    let text = explain(&["python3", "app.py"], &legacy);
    assert!(
        text.contains("reason:     host_config.yaml:5"),
        "unnamed rule named by its line: {text}"
    );
    let text = explain(&["python3", "app.py"], p.dir.path());
    assert!(text.contains("outcome:    injected"), "{text}");
}

#[test]
fn broken_yaml_gets_file_line_column_errors() {
    let p = Packages::new();
    let dir = config_dir(&p);
    let cases = [
        ("log_level: debug\n\tenv: x\n", "found a tab"),
        ("time_budget_ms: soon\n", "host_config.yaml:1:17: time_budget_ms: expected a whole number"),
        ("languages: {java: maybe}\n", "host_config.yaml:1:19: languages: expected true or false"),
        ("env: a\nenvironment: b\n", "host_config.yaml:2:1: host configuration: unknown key \"environment\""),
        ("env: a\nenv: b\n", "host_config.yaml:2:1: duplicate key \"env\""),
        ("rules:\n  - action: deny\n    exe: [a]\n    bogus: 1\n", "host_config.yaml:4:5: rule: unknown key \"bogus\""),
        ("rules:\n  - action: maybe\n    exe: a\n", "host_config.yaml:2:13: action: expected allow or deny"),
        ("rules:\n  - action: deny\n", "host_config.yaml:2:5: rule host_config.yaml:2: needs a runtime or at least one condition"),
    ];
    for (yaml, expected) in cases {
        let out = config(&dir, "check", yaml);
        assert_eq!(out.status.code(), Some(2), "{yaml:?}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{yaml:?}: {err}");
    }
    let huge = format!("env: {}\n", "x".repeat(2 << 20));
    let out = config(&dir, "check", &huge);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));
}

#[test]
fn rule_ids_that_would_be_ambiguous_are_refused() {
    let p = Packages::new();
    let dir = config_dir(&p);
    let cases = [
        ("rules:\n  - id: opted_out\n    runtime: java\n", "host_config.yaml:2:9: id: \"opted_out\" is reserved (a built-in reason id)"),
        ("rules:\n  - id: java_version\n    runtime: java\n", "host_config.yaml:2:9: id: \"java_version\" is reserved (a rule of the default deny list)"),
        ("rules:\n  - {id: batch, runtime: java}\n  - {id: batch, runtime: node}\n", "host_config.yaml:3:10: id: \"batch\" is used by an earlier rule"),
    ];
    for (yaml, expected) in cases {
        let out = config(&dir, "check", yaml);
        assert_eq!(out.status.code(), Some(2), "{yaml:?}");
        assert!(
            stderr(&out).contains(expected),
            "{yaml:?}: {}",
            stderr(&out)
        );
    }
    let out = config(&dir, "check", "rules:\n  - {id: batch, runtime: java}\n");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn malformed_file_never_replaces_a_good_compiled_one() {
    let p = Packages::with_libraries();
    let dir = apply(&p, "env: good\n");
    let compiled = std::fs::read(dir.join("host_config.bin")).unwrap();
    let out = config(&dir, "apply", "env: [not, a, string]\n");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read(dir.join("host_config.bin")).unwrap(),
        compiled
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn corrupt_or_missing_compiled_file_means_defaults() {
    let p = Packages::with_libraries();
    let dir = config_dir(&p);
    for bytes in [&b"APMC\x01garbage"[..], b"", b"\xff\xfe"] {
        std::fs::write(dir.join("host_config.bin"), bytes).unwrap();
        let out = python(&p, &dir, &["-c", PRINT]);
        assert!(out.status.success());
        assert!(
            stdout(&out).starts_with(p.library("python").to_str().unwrap()),
            "{bytes:?}: {}",
            stdout(&out)
        );
    }
    std::fs::remove_file(dir.join("host_config.bin")).unwrap();
    let out = python(&p, &dir, &["-c", PRINT]);
    assert!(stdout(&out).starts_with(p.library("python").to_str().unwrap()));
}

#[test]
fn untrusted_compiled_file_is_ignored() {
    let p = Packages::with_libraries();
    let dir = apply(&p, "languages: {python: false}\n");
    let out = python(&p, &dir, &["-c", PRINT]);
    assert!(stdout(&out).starts_with("None"), "trusted: applied");
    std::fs::set_permissions(
        dir.join("host_config.bin"),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let out = run(p
        .command(PYTHON)
        .args(["-c", PRINT])
        .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(
        stdout(&out).starts_with(p.library("python").to_str().unwrap()),
        "world-writable: ignored"
    );
    assert!(
        stderr(&out).contains("host configuration ignored: untrusted_file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let p = Packages::new();
    let dir = config_dir(&p);
    let out = config(&dir, "check", "\u{feff}log_level: debug\n");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn relative_log_destinations_are_refused() {
    let p = Packages::new();
    let dir = config_dir(&p);
    let out = config(&dir, "check", "output_paths: [stderr, debug.log]\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"debug.log\" is not stderr or an absolute path"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn apply_creates_the_configuration_directory_of_a_root() {
    let root = apm_inject_tests::system_root();
    let source = root.path().join("host_config.yaml");
    std::fs::write(&source, "env: prod\n").unwrap();
    let out = run(Command::new(cli())
        .args(["config", "apply", "--root"])
        .arg(root.path())
        .arg(&source)
        .env_remove("DD_APM_INSTRUMENTATION_CONFIG_DIR"));
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = root.path().join("etc/datadog-agent/inject");
    use std::os::unix::fs::MetadataExt;
    for d in [root.path().join("etc/datadog-agent"), dir.clone()] {
        let meta = std::fs::metadata(&d).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.uid()),
            (0o755, 0),
            "{}",
            d.display()
        );
    }
    assert!(dir.join("host_config.bin").is_file());
    let out = run(Command::new(cli())
        .args(["config", "check", "--root"])
        .arg(root.path())
        .env_remove("DD_APM_INSTRUMENTATION_CONFIG_DIR"));
    // The root's own host_config.yaml is meant: there is none.
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("{}/host_config.yaml", dir.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn apply_as_a_regular_user_says_it_must_run_as_root() {
    let p = Packages::new();
    let dir = config_dir(&p);
    let file = dir.join("host_config.yaml");
    std::fs::write(&file, "env: prod\n").unwrap();
    let out = run(apm_inject_tests::as_nobody(
        Command::new(cli())
            .args(["config", "apply"])
            .arg(&file)
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir),
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("config apply must run as root"),
        "{}",
        stderr(&out)
    );
}

/// `sdk: opentelemetry` points Python at the OpenTelemetry package with the OpenTelemetry
/// variables (the configured `env` in `OTEL_RESOURCE_ATTRIBUTES`, the user's attributes kept,
/// no Datadog variable); `DD_APM_INSTRUMENTATION_SDK=datadog` switches one process back, and
/// `explain` says where the choice came from.
#[test]
fn the_sdk_setting_chooses_the_opentelemetry_package() {
    let p = Packages::with_libraries();
    let bootstrap = p.dir.path().join("otel-sitecustomize.py");
    std::fs::write(&bootstrap, "").unwrap();
    p.install_opentelemetry("python", &[("sitecustomize.py", &bootstrap)]);
    let dir = apply(&p, "sdk: opentelemetry\nenv: staging\n");
    let script = p.dir.path().join("orders.py");
    std::fs::write(
        &script,
        "import os\nfor v in ['PYTHONPATH', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES', \
         'DD_SERVICE', 'DD_ENV']:\n    print(v, os.environ.get(v))\n",
    )
    .unwrap();
    let run_script = |sdk: Option<&str>| {
        let mut cmd = p.command(PYTHON);
        cmd.arg(&script)
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
            .env("OTEL_RESOURCE_ATTRIBUTES", "team=shop");
        if let Some(sdk) = sdk {
            cmd.env("DD_APM_INSTRUMENTATION_SDK", sdk);
        }
        stdout(&run(&mut cmd))
    };
    let otel = run_script(None);
    let library = p.root.join("opentelemetry-apm-library-python/stable");
    for line in [
        format!("PYTHONPATH {}", library.display()),
        "OTEL_SERVICE_NAME orders".into(),
        "OTEL_RESOURCE_ATTRIBUTES team=shop,deployment.environment.name=staging".into(),
        "DD_SERVICE None".into(),
        "DD_ENV None".into(),
    ] {
        assert!(otel.lines().any(|l| l == line), "{line:?} in\n{otel}");
    }
    let datadog = run_script(Some("datadog"));
    for line in [
        format!("PYTHONPATH {}", p.library("python").display()),
        "OTEL_SERVICE_NAME None".into(),
        "OTEL_RESOURCE_ATTRIBUTES team=shop".into(),
        "DD_SERVICE orders".into(),
        "DD_ENV staging".into(),
    ] {
        assert!(datadog.lines().any(|l| l == line), "{line:?} in\n{datadog}");
    }
    let explain = |sdk: Option<&str>| {
        let mut cmd = Command::new(cli());
        cmd.arg("explain")
            .arg("--packages-root")
            .arg(&p.root)
            .arg("--")
            .arg(PYTHON)
            .arg(&script)
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir);
        if let Some(sdk) = sdk {
            cmd.env("DD_APM_INSTRUMENTATION_SDK", sdk);
        }
        stdout(&run(&mut cmd))
    };
    let text = explain(None);
    let from_file = format!(
        "sdk:        opentelemetry (from {})",
        dir.join("host_config.bin").display()
    );
    assert!(text.contains(&from_file), "{text}");
    assert!(text.contains("set OTEL_SERVICE_NAME='orders'"), "{text}");
    let text = explain(Some("datadog"));
    assert!(
        text.contains("sdk:        datadog (from DD_APM_INSTRUMENTATION_SDK)"),
        "{text}"
    );
}

/// The OpenTelemetry injector's `otelinject.conf` is a drop-in: `config apply` compiles its
/// exclude and include rules (and chooses the OpenTelemetry SDK), and `explain` names the
/// file and line a decision came from.
#[test]
fn otelinject_conf_rules_apply_and_explain_names_their_line() {
    let p = Packages::with_libraries();
    let root = tempfile::tempdir().unwrap();
    let conf = root.path().join("etc/opentelemetry/otelinject.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(
        &conf,
        "jvm_auto_instrumentation_agent_path=/usr/lib/opentelemetry/jvm/javaagent.jar\n\
         exclude_paths=/usr/bin/python3*\n\
         include_with_arguments=*shop*\n",
    )
    .unwrap();
    let out = run(Command::new(cli())
        .args(["config", "apply", "--root"])
        .arg(root.path())
        .env_remove("DD_APM_INSTRUMENTATION_CONFIG_DIR"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("otelinject.conf:1: jvm_auto_instrumentation_agent_path not used"),
        "{}",
        stdout(&out)
    );
    let dir = root.path().join("etc/datadog-agent/inject");
    let explain = |args: &[&str]| {
        stdout(&run(Command::new(cli())
            .arg("explain")
            .arg("--packages-root")
            .arg(&p.root)
            .arg("--")
            .args(args)
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &dir)
            .env("PATH", "/usr/bin:/bin")))
    };
    let text = explain(&["/usr/bin/python3", "shop.py"]);
    assert!(
        text.contains("rule:       otelinject.conf:2 (from /etc/opentelemetry/otelinject.conf)")
            && text
                .contains("exclude_paths=/usr/bin/python3* (/etc/opentelemetry/otelinject.conf:2)"),
        "{text}"
    );
    let text = explain(&["node", "/srv/billing.js"]);
    assert!(
        text.contains("rule:       otelinject.conf:3 (from /etc/opentelemetry/otelinject.conf)")
            && text.contains("include_with_arguments not matched"),
        "{text}"
    );
    let text = explain(&["node", "/srv/shop.js"]);
    assert!(
        text.contains("sdk:        opentelemetry (from ") && !text.contains("rule:"),
        "{text}"
    );
}
