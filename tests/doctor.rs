//! `apm-inject doctor`: a pass/fail line per check with its fix, `--json`, and a non-zero exit
//! status when anything fails.
#![forbid(unsafe_code)]

use apm_inject_tests::{apm_inject, run, stderr, stdout, system_root, Packages};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn doctor(source: &Packages, root: &Path, json: bool) -> Command {
    let mut args = vec!["doctor", "--root", root.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    apm_inject(&source.shipped_cli(), &args)
}

fn doctor_report(cmd: &mut Command) -> (Output, Value) {
    let out = run(cmd);
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&out), stderr(&out)));
    (out, value)
}

/// The check with id `id`: (status, detail, fix).
fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {report:#}"))
}

fn installed() -> (Packages, tempfile::TempDir) {
    let source = Packages::with_libraries();
    let root = system_root();
    let out = run(&mut apm_inject(
        &source.shipped_cli(),
        &["install", "--root", root.path().to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    (source, root)
}

#[test]
fn healthy_installation_passes() {
    let (source, root) = installed();
    let (out, report) = doctor_report(&mut doctor(&source, root.path(), true));
    assert!(out.status.success(), "{report:#}");
    assert_eq!(report["ok"], true);
    for id in [
        "ld_so_preload_exists",
        "ld_so_preload_permissions",
        "ld_so_preload_lists_launcher",
        "launcher_loads",
        "ld_preload_variable",
        "inject_package",
        "library_java",
        "library_js",
        "library_python",
        "world_writable",
        "disk_space",
        "package_files",
        "interrupted_change",
    ] {
        assert_eq!(check(&report, id)["status"], "pass", "{id}: {report:#}");
    }
    assert_eq!(check(&report, "config")["status"], "n/a");
    assert_eq!(check(&report, "debug_logs")["status"], "n/a");
}

#[test]
fn deleted_packages_fail_with_the_fix_to_apply() {
    let (source, root) = installed();
    std::fs::remove_dir_all(root.path().join("opt/datadog-packages")).unwrap();
    let (out, report) = doctor_report(&mut doctor(&source, root.path(), true));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(report["ok"], false);
    let launcher = check(&report, "launcher_loads");
    assert_eq!(launcher["status"], "fail");
    assert!(
        launcher["detail"].as_str().unwrap().contains("is missing"),
        "{launcher}"
    );
    assert!(
        launcher["fix"]
            .as_str()
            .unwrap()
            .contains("apm-inject uninstall"),
        "{launcher}"
    );
    assert_eq!(check(&report, "inject_package")["status"], "fail");
    assert_eq!(check(&report, "libraries")["status"], "fail");

    let out = run(&mut doctor(&source, root.path(), false));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with("FAIL  launcher_loads")),
        "{text}"
    );
    // Fixes name the root checked: run as shown, they repair that root, not the host.
    assert!(
        text.contains(&format!(
            "      fix: run `apm-inject install --root {}`",
            root.path().display()
        )),
        "{text}"
    );
    assert!(stderr(&out).contains("check(s) failed"), "{}", stderr(&out));
}

#[test]
fn loose_permissions_are_reported() {
    let (source, root) = installed();
    let chmod = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    chmod(&root.path().join("etc/ld.so.preload"), 0o666);
    let installed_file = root
        .path()
        .join("opt/datadog-packages/datadog-apm-library-python/1.0.0/sitecustomize.py");
    chmod(&installed_file, 0o646);
    let (out, report) = doctor_report(&mut doctor(&source, root.path(), true));
    assert_eq!(out.status.code(), Some(2));
    let permissions = check(&report, "ld_so_preload_permissions");
    assert_eq!(permissions["status"], "fail");
    assert!(permissions["detail"]
        .as_str()
        .unwrap()
        .contains("mode 0666"));
    assert!(permissions["fix"].as_str().unwrap().contains("chmod 0644"));
    let world = check(&report, "world_writable");
    assert_eq!(world["status"], "fail");
    assert!(
        world["detail"]
            .as_str()
            .unwrap()
            .contains("sitecustomize.py"),
        "{world}"
    );
}

/// What a root Python with umask 002 used to leave in the package: a group-writable
/// `__pycache__`.
#[test]
fn group_writable_package_entries_are_flagged() {
    let (source, root) = installed();
    let cache = root
        .path()
        .join("opt/datadog-packages/datadog-apm-library-python/1.0.0/__pycache__");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o775)).unwrap();
    let (out, report) = doctor_report(&mut doctor(&source, root.path(), true));
    assert_eq!(out.status.code(), Some(2));
    let writable = check(&report, "world_writable");
    assert_eq!(writable["status"], "fail");
    assert!(
        writable["detail"].as_str().unwrap().contains("__pycache__"),
        "{writable}"
    );
    assert!(
        writable["fix"].as_str().unwrap().contains("chmod go-w"),
        "{writable}"
    );
}

#[test]
fn missing_installation_is_reported() {
    let source = Packages::new();
    let root = system_root();
    let (out, report) = doctor_report(&mut doctor(&source, root.path(), true));
    assert_eq!(out.status.code(), Some(2));
    let exists = check(&report, "ld_so_preload_exists");
    assert_eq!(exists["status"], "fail");
    assert_eq!(
        exists["fix"],
        format!("run `apm-inject install --root {}`", root.path().display())
    );
}

#[test]
fn debug_logs_are_reported_when_configured() {
    let (source, root) = installed();
    let log = root.path().join("inject.log");
    std::fs::write(&log, "apm-inject[1]: injected python\n").unwrap();
    let destinations = format!("stderr,file://{}", log.display());
    let (_, report) = doctor_report(
        doctor(&source, root.path(), true)
            .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &destinations),
    );
    let logs = check(&report, "debug_logs");
    assert_eq!(logs["status"], "pass", "{logs}");
    assert!(
        logs["detail"].as_str().unwrap().contains("31 bytes"),
        "{logs}"
    );

    std::fs::remove_file(&log).unwrap();
    let (out, report) = doctor_report(
        doctor(&source, root.path(), true)
            .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", &destinations),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(check(&report, "debug_logs")["status"], "fail");
}

#[test]
fn ld_preload_naming_a_missing_launcher_fails() {
    let (source, root) = installed();
    let missing = "/nonexistent/datadog-apm-inject/1.0/inject/launcher.preload.so";
    let (out, report) =
        doctor_report(doctor(&source, root.path(), true).env("LD_PRELOAD", missing));
    assert_eq!(out.status.code(), Some(2));
    let variable = check(&report, "ld_preload_variable");
    assert_eq!(variable["status"], "fail");
    assert!(
        variable["detail"].as_str().unwrap().contains(missing),
        "{variable}"
    );
}

#[test]
fn ld_preload_the_loader_cannot_load_fails() {
    let (source, root) = installed();
    // A launcher path of ours whose `$LIB` directory exists only literally (what musl reads):
    // glibc expands `$LIB` and finds nothing, so every program prints an error.
    let tree = tempfile::tempdir().unwrap();
    let literal = tree
        .path()
        .join("datadog-apm-inject/1.0/inject/$LIB/launcher.preload.so");
    std::fs::create_dir_all(literal.parent().unwrap()).unwrap();
    std::fs::copy(apm_inject_tests::built_library(), &literal).unwrap();
    for value in [literal.to_str().unwrap(), "relative/libfoo.so"] {
        let (out, report) =
            doctor_report(doctor(&source, root.path(), true).env("LD_PRELOAD", value));
        assert_eq!(out.status.code(), Some(2), "{value}");
        let variable = check(&report, "ld_preload_variable");
        assert_eq!(variable["status"], "fail", "{value}: {variable}");
        assert!(
            variable["detail"]
                .as_str()
                .unwrap()
                .contains("cannot be preloaded"),
            "{variable}"
        );
    }
}

#[test]
fn a_relative_log_destination_fails() {
    let (source, root) = installed();
    let (out, report) = doctor_report(
        doctor(&source, root.path(), true)
            .env("DD_APM_INSTRUMENTATION_OUTPUT_PATHS", "stderr,debug.log"),
    );
    assert_eq!(out.status.code(), Some(2));
    let logs = check(&report, "debug_logs");
    assert_eq!(logs["status"], "fail", "{logs}");
    assert!(
        logs["detail"]
            .as_str()
            .unwrap()
            .contains("\"debug.log\" (DD_APM_INSTRUMENTATION_OUTPUT_PATHS in this environment) is not an absolute path"),
        "{logs}"
    );
}

#[test]
fn installed_files_that_differ_from_their_manifest_fail() {
    let (source, root) = installed();
    let packages = root.path().join("opt/datadog-packages");
    let js = packages.join("datadog-apm-library-js/1.0.0/node_modules/dd-trace/init.js");
    let text = std::fs::read(&js).unwrap();
    std::fs::write(&js, &text[..text.len() - 1]).unwrap();
    let python = packages.join("datadog-apm-library-python/1.0.0/sitecustomize.py");
    let mut text = std::fs::read(&python).unwrap();
    text[0] ^= 1;
    std::fs::write(&python, text).unwrap();
    std::fs::remove_file(packages.join("datadog-apm-library-java/1.0.0/dd-java-agent.jar"))
        .unwrap();
    std::fs::write(
        packages.join(format!(
            "datadog-apm-inject/{}/inject/extra.so",
            source.version
        )),
        "",
    )
    .unwrap();
    let (out, report) = doctor_report(&mut doctor(&source, root.path(), true));
    assert_eq!(out.status.code(), Some(2));
    let files = check(&report, "package_files");
    assert_eq!(files["status"], "fail", "{files}");
    let detail = files["detail"].as_str().unwrap();
    for expected in [
        "datadog-apm-library-js 1.0.0: size changed: node_modules/dd-trace/init.js",
        "datadog-apm-library-python 1.0.0: content changed: sitecustomize.py",
        "datadog-apm-library-java 1.0.0: missing: dd-java-agent.jar",
        "not in the manifest: inject/extra.so",
    ] {
        assert!(detail.contains(expected), "{expected}: {detail}");
    }
    assert!(
        files["fix"]
            .as_str()
            .unwrap()
            .contains("apm-inject install --root"),
        "{files}"
    );
}
