//! `apm-inject flare`: one tar.gz with what support needs, secrets redacted.
#![forbid(unsafe_code)]

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
    // The root's own debug log, configured in its host configuration.
    std::fs::write(
        config.join("host_config.yaml"),
        "output_paths: [/inject.log]\n",
    )
    .unwrap();
    let out = run(&mut apm_inject(
        &cli,
        &["config", "apply", "--root", root_arg],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let log = root.path().join("inject.log");
    std::fs::write(
        &log,
        "apm-inject[7]: process_exe: '/usr/bin/java'\napm-inject[7]: args: java -Ddd.app.key=secret-in-log -jar app.jar\n",
    )
    .unwrap();
    let archive = root.path().join("flare.tar.gz");
    let out = run(&mut apm_inject(
        &cli,
        &["flare", "--root", root_arg, "-o", archive.to_str().unwrap()],
    ));
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
    let listing = read("packages.txt");
    assert!(
        listing.contains("-rw-r--r-- 0:0 ") && listing.contains("lrwxrwxrwx 0:0 "),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("datadog-apm-inject/stable -> {VERSION}")),
        "{listing}"
    );
    let config = read("etc/datadog-agent/inject/application_monitoring.yaml");
    let config = &yaml_rust2::YamlLoader::load_from_str(&config).unwrap()[0];
    assert_eq!(
        config["apm_configuration_default"]["DD_API_KEY"].as_str(),
        Some("<redacted>")
    );
    assert_eq!(config["service"].as_str(), Some("checkout"));
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

/// Runs `flare` on `root` into a new archive, extracts it, returns the extracted directory.
fn flare_of(source: &Packages, root: &Path, env: &[(&str, &str)]) -> tempfile::TempDir {
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = apm_inject(
        &source.shipped_cli(),
        &[
            "flare",
            "--root",
            root.to_str().unwrap(),
            "-o",
            out_dir.path().to_str().unwrap(),
        ],
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    // `-o DIR` writes a new archive into DIR, and says which.
    let archive = Path::new(stdout(&out).trim_end()).to_path_buf();
    assert_eq!(archive.parent().unwrap(), out_dir.path());
    let dir = tempfile::tempdir().unwrap();
    extract(&archive, dir.path());
    dir
}

#[test]
fn configuration_is_redacted_structurally_and_the_compiled_file_never_leaves() {
    let source = Packages::with_libraries();
    let root = system_root();
    let root_arg = root.path().to_str().unwrap();
    let out = run(&mut apm_inject(
        &source.shipped_cli(),
        &["install", "--root", root_arg],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let config = root.path().join("etc/datadog-agent/inject");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("host_config.yaml"),
        "env: prod\nrules:\n  - action: deny\n    id: no-prod-batch\n    runtime: java\n    \
         env: {DB_PASSWORD: \"hunter2*\", STAGE: prod}\n    args: [{any: [\"--password=hunter2*\"]}]\n  \
         - action: allow\n    when:\n      - env: {API_TOKEN: null}\n      - env: {SERVICE_TOKEN: s3cr3t-when}\n",
    )
    .unwrap();
    std::fs::write(
        config.join("application_monitoring.yaml"),
        "apm_configuration_default:\n  API_TOKEN: null\n  DD_API_KEY: {nested: s3cr3t-value}\n",
    )
    .unwrap();
    let out = run(&mut apm_inject(
        &source.shipped_cli(),
        &["config", "apply", "--root", root_arg],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(config.join("host_config.bin"))
        .unwrap()
        .windows(7)
        .any(|w| w == b"hunter2"));

    let dir = flare_of(&source, root.path(), &[]);
    let flare = dir.path().join("apm-inject-flare");
    let leaks = run(std::process::Command::new("grep")
        .args(["-r", "-l", "-e", "hunter2", "-e", "s3cr3t"])
        .arg(&flare));
    assert_eq!(stdout(&leaks), "", "a secret left the host");
    let parse = |name: &str| {
        let text = std::fs::read_to_string(flare.join("etc/datadog-agent/inject").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        yaml_rust2::YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{name} no longer parses: {e}\n{text}"))
            .remove(0)
    };
    let host_config = parse("host_config.yaml");
    let rule = &host_config["rules"][0];
    assert_eq!(rule["env"]["DB_PASSWORD"].as_str(), Some("<redacted>"));
    assert_eq!(rule["env"]["STAGE"].as_str(), Some("prod"));
    assert_eq!(rule["id"].as_str(), Some("no-prod-batch"));
    assert_eq!(
        rule["args"][0]["any"][0].as_str(),
        Some("--password=<redacted>")
    );
    let when = &host_config["rules"][1]["when"];
    assert!(when[0]["env"]["API_TOKEN"].is_null(), "{when:?}");
    assert_eq!(when[1]["env"]["SERVICE_TOKEN"].as_str(), Some("<redacted>"));
    let monitoring = parse("application_monitoring.yaml");
    // Nothing was there to hide.
    assert!(monitoring["apm_configuration_default"]["API_TOKEN"].is_null());
    assert_eq!(
        monitoring["apm_configuration_default"]["DD_API_KEY"]["nested"].as_str(),
        Some("<redacted>")
    );
    assert!(!flare
        .join("etc/datadog-agent/inject/host_config.bin")
        .exists());
    let listing = std::fs::read_to_string(flare.join("config-files.txt")).unwrap();
    assert!(
        listing
            .lines()
            .any(|l| l.contains("host_config.bin") && l.contains("not included")),
        "{listing}"
    );
}

#[test]
fn flare_to_standard_output() {
    let source = Packages::new();
    let root = system_root();
    let out = run(&mut apm_inject(
        &source.shipped_cli(),
        &["flare", "--root", root.path().to_str().unwrap(), "-o", "-"],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let archive = root.path().join("from-stdout.tar.gz");
    std::fs::write(&archive, &out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    extract(&archive, dir.path());
    assert!(dir.path().join("apm-inject-flare/doctor.txt").is_file());
}

#[test]
fn flare_of_a_root_holds_only_that_roots_files() {
    let source = Packages::new();
    let root = system_root();
    // A debug log configured in the root's own configuration, at a path inside the root.
    let config = root.path().join("etc/datadog-agent/inject");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("host_config.yaml"),
        "output_paths: [/var/log/apm.log]\n",
    )
    .unwrap();
    let out = run(&mut apm_inject(
        &source.shipped_cli(),
        &["config", "apply", "--root", root.path().to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::create_dir_all(root.path().join("var/log")).unwrap();
    std::fs::write(
        root.path().join("var/log/apm.log"),
        "apm-inject[3]: process_exe: '/usr/bin/node'\n",
    )
    .unwrap();
    let host_log = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(host_log.path(), "a line of this host\n").unwrap();
    let destinations = format!("file://{}", host_log.path().display());
    let dir = flare_of(
        &source,
        root.path(),
        &[
            ("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &destinations),
            ("DD_SERVICE", "of-this-host"),
        ],
    );
    let flare = dir.path().join("apm-inject-flare");
    assert!(!flare.join("environment.txt").exists());
    assert!(!flare.join("status.json").exists());
    let log = std::fs::read_to_string(flare.join("logs/0-apm.log")).unwrap();
    assert!(log.contains("process_exe: '/usr/bin/node'"), "{log}");
    let everything = run(std::process::Command::new("grep")
        .args(["-r", "-e", "of-this-host", "-e", "a line of this host"])
        .arg(&flare));
    assert_eq!(stdout(&everything), "");
}
