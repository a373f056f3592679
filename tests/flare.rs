//! `apm-inject flare`: one tar.gz with what support needs, secrets redacted.

use apm_inject_tests::{apm_inject, run, stderr, stdout, system_root, Packages, VERSION};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const STABLE_LAUNCHER: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so";

/// Extracts `archive` into `dir` with the system's tar.
fn extract(archive: &Path, dir: &Path) {
    let out = run(std::process::Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(dir));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn flare_collects_the_installation_with_secrets_redacted() {
    let source = Packages::with_libraries();
    let root = system_root();
    let cli = source.shipped_cli();
    let root_arg = root.path().to_str().unwrap();
    let out = run(&mut apm_inject(&cli, &["install", "--root", root_arg]));
    assert!(out.status.success(), "{}", stderr(&out));
    let config = root.path().join("etc/datadog-agent/inject");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("application_monitoring.yaml"),
        "apm_configuration_default:\n  DD_API_KEY: secret-in-config\nservice: checkout\n",
    )
    .unwrap();
    let log = root.path().join("inject.log");
    std::fs::write(
        &log,
        "apm-inject[7]: process_exe: '/usr/bin/java'\napm-inject[7]: args: java -Ddd.app.key=secret-in-log -jar app.jar\n",
    )
    .unwrap();
    let archive = root.path().join("flare.tar.gz");
    let out = run(apm_inject(
        &cli,
        &["flare", "--root", root_arg, "-o", archive.to_str().unwrap()],
    )
    .env(
        "DD_APM_INSTRUMENTATION_OUTPUT_PATHS",
        format!("file://{}", log.display()),
    )
    .env("DD_API_KEY", "secret-in-env")
    .env("DD_SERVICE", "checkout"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim_end(), archive.to_str().unwrap());
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let dir = tempfile::tempdir().unwrap();
    extract(&archive, dir.path());
    let flare = dir.path().join("apm-inject-flare");
    let read = |name: &str| {
        std::fs::read_to_string(flare.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(read("doctor.txt").contains("PASS  launcher_loads"));
    let doctor: serde_json::Value = serde_json::from_str(&read("doctor.json")).unwrap();
    assert_eq!(doctor["ok"], true, "{doctor:#}");
    assert!(read("versions.txt").contains(&format!("datadog-apm-inject: {VERSION}")));
    assert_eq!(read("ld.so.preload"), format!("{STABLE_LAUNCHER}\n"));
    let status: serde_json::Value = serde_json::from_str(&read("status.json")).unwrap();
    assert!(
        status["processes"].is_array() && status["summary"].is_array(),
        "{status:#}"
    );
    let listing = read("packages.txt");
    assert!(
        listing.contains("-rw-r--r-- 0:0 ") && listing.contains("lrwxrwxrwx 0:0 "),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("datadog-apm-inject/stable -> {VERSION}")),
        "{listing}"
    );
    let environment = read("environment.txt");
    assert!(
        environment.contains("DD_API_KEY=<redacted>\n"),
        "{environment}"
    );
    assert!(
        environment.contains("DD_SERVICE=checkout\n"),
        "{environment}"
    );
    let config = read("etc/datadog-agent/inject/application_monitoring.yaml");
    assert!(
        config.contains("  DD_API_KEY: <redacted>\nservice: checkout\n"),
        "{config}"
    );
    let log = read("logs/0-inject.log");
    assert!(log.contains("process_exe: '/usr/bin/java'"), "{log}");
    assert!(log.contains("-Ddd.app.key=<redacted>"), "{log}");

    let everything = run(std::process::Command::new("grep")
        .args(["-r", "secret-in"])
        .arg(&flare));
    assert_eq!(stdout(&everything), "", "a secret left the host");
}

#[test]
fn flare_never_overwrites_a_file() {
    let source = Packages::new();
    let root = system_root();
    let archive = root.path().join("existing.tar.gz");
    std::fs::write(&archive, "keep me").unwrap();
    let out = run(&mut apm_inject(
        &source.shipped_cli(),
        &[
            "flare",
            "--root",
            root.path().to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("File exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&archive).unwrap(), "keep me");
}
