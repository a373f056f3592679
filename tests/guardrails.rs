//! Library package guardrails (`requirements.json`, runtime versions), trust in files, the
//! time budget and `DD_INJECT_FORCE`, on real processes.
#![forbid(unsafe_code)]

use apm_inject_tests::{fixture, install_as, run, stderr, stdout, Packages};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";
const PRINT: &str = "import os; print(os.environ.get('PYTHONPATH'))";

fn debug(cmd: &mut Command) -> (String, String) {
    let out = run(cmd.env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    (stdout(&out), stderr(&out))
}

fn requirements(p: &Packages, lang: &str, json: &str) {
    std::fs::write(p.library(lang).join("requirements.json"), json).unwrap();
}

#[test]
fn requirements_deny_entry_skips_the_process() {
    let p = Packages::with_libraries();
    requirements(
        &p,
        "python",
        r#"{"version":1,"deny":[{"id":"no_batch","description":"batch","cmds":["**/python3*"],"args":[{"args":["batch.py"],"position":1}],"envars":null}]}"#,
    );
    let (out, err) = debug(p.command(PYTHON).arg("batch.py"));
    assert!(err.contains("skipped: no_batch"), "{out}{err}");
    let (out, _) = debug(p.command(PYTHON).args(["-c", PRINT]));
    assert!(
        out.starts_with(p.library("python").to_str().unwrap()),
        "other commands still injected: {out}"
    );
}

#[test]
fn requirements_envars_and_force() {
    let p = Packages::with_libraries();
    requirements(
        &p,
        "python",
        r#"{"version":1,"deny":[{"id":"solr_like","cmds":[],"args":[],"envars":{"SOLR_*":null}}]}"#,
    );
    let (out, err) = debug(
        p.command(PYTHON)
            .args(["-c", PRINT])
            .env("SOLR_PORT", "8983"),
    );
    assert!(
        out.starts_with("None") && err.contains("skipped: solr_like"),
        "{out}{err}"
    );
    let (out, err) = debug(
        p.command(PYTHON)
            .args(["-c", PRINT])
            .env("SOLR_PORT", "8983")
            .env("DD_INJECT_FORCE", "1"),
    );
    assert!(
        out.starts_with(p.library("python").to_str().unwrap()),
        "{out}"
    );
    assert!(
        err.contains("injected python (forced: DD_INJECT_FORCE)"),
        "{err}"
    );
}

#[test]
fn force_does_not_bypass_user_rules_or_opt_out() {
    let p = Packages::with_libraries();
    let (out, _) = debug(
        p.command(PYTHON)
            .args(["-c", PRINT])
            .env("DD_INJECT_FORCE", "true")
            .env("DD_INSTRUMENT_SERVICE_WITH_APM", "false"),
    );
    assert!(out.starts_with("None"));
}

#[test]
fn unsupported_libc_is_not_instrumented() {
    let p = Packages::with_libraries();
    requirements(
        &p,
        "js",
        r#"{"version":1,"native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"2.17"}],"musl":[{"arch":"x64","supported":false}]},"deny":[]}"#,
    );
    let musl_node = install_as(&fixture("envprobe-musl"), p.dir.path(), "node");
    let (out, err) = debug(p.command(&musl_node).arg("NODE_OPTIONS"));
    assert!(out.starts_with("NODE_OPTIONS unset"), "{out}");
    assert!(err.contains("skipped: incompatible_libc"), "{err}");
    let (out, err) = debug(
        p.command("node")
            .args(["-e", "console.log(process.env.NODE_OPTIONS)"]),
    );
    assert!(out.contains("--require="), "glibc 2.36 >= 2.17: {out}{err}");
    requirements(
        &p,
        "js",
        r#"{"version":1,"native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"99.0"}]}}"#,
    );
    let (out, err) = debug(
        p.command("node")
            .args(["-e", "console.log(process.env.NODE_OPTIONS)"]),
    );
    assert!(
        out.starts_with("undefined") && err.contains("skipped: incompatible_libc"),
        "{out}{err}"
    );
}

#[test]
fn broken_requirements_file_blocks_injection() {
    let p = Packages::with_libraries();
    for broken in [
        "{\"version\":1,\"deny\":[",
        "",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ] {
        requirements(&p, "python", broken);
        let (out, err) = debug(p.command(PYTHON).args(["-c", PRINT]));
        assert!(
            out.starts_with("None") && err.contains("skipped: invalid_requirements"),
            "{broken:?}: {out}{err}"
        );
    }
    std::fs::remove_file(p.library("python").join("requirements.json")).unwrap();
    std::fs::create_dir(p.library("python").join("requirements.json")).unwrap();
    let (out, _) = debug(p.command(PYTHON).args(["-c", PRINT]));
    assert!(
        out.starts_with("None"),
        "a directory is not a requirements file"
    );
}

/// Makes a FIFO at `path` (nobody ever writes to it).
fn fifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn fifo_requirements_and_config_do_not_block_start_up() {
    let p = Packages::with_libraries();
    fifo(&p.library("python").join("requirements.json"));
    let config = p.dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    fifo(&config.join("host_config.bin"));
    let started = Instant::now();
    let (out, err) = debug(
        p.command(PYTHON)
            .args(["-c", PRINT])
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", &config),
    );
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1100), "took {took:?}");
    assert!(out.starts_with("None"), "not instrumented: {out}");
    assert!(err.contains("skipped: invalid_requirements"), "{err}");
    assert!(
        err.contains("host configuration ignored: unreadable"),
        "{err}"
    );
}

#[test]
fn runtime_versions_the_package_does_not_support_are_skipped() {
    let p = Packages::with_libraries();
    // The executable's name tells Python's version: a copy named python3.7 stands for 3.7.
    let old = install_as(Path::new("/usr/bin/python3.11"), p.dir.path(), "python3.7");
    let (out, err) = debug(p.command(&old).args(["-c", PRINT]));
    assert!(
        out.starts_with("None") && err.contains("skipped: runtime_version_unsupported"),
        "{out}{err}"
    );
    assert!(
        err.contains("version 3.7; the package supports 3.9 to 3.13"),
        "{err}"
    );
    let (out, _) = debug(
        p.command(&old)
            .args(["-c", PRINT])
            .env("DD_INJECT_FORCE", "true"),
    );
    assert!(
        out.starts_with(p.library("python").to_str().unwrap()),
        "forced: {out}"
    );
    // A JDK's release file tells Java's version.
    for (version, expected) in [
        ("1.7.0_80", "skipped: runtime_version_unsupported"),
        ("1.8.0_292", "injected java"),
        ("21.0.1", "injected java"),
    ] {
        let home = p.dir.path().join(format!("jdk-{version}"));
        std::fs::create_dir_all(home.join("bin")).unwrap();
        std::fs::write(
            home.join("release"),
            format!("IMPLEMENTOR=\"x\"\nJAVA_VERSION=\"{version}\"\n"),
        )
        .unwrap();
        let java = install_as(&fixture("envprobe-glibc"), &home.join("bin"), "java");
        let (out, err) = debug(p.command(&java).arg("-jar").arg("app.jar"));
        assert!(err.contains(expected), "{version}: {out}{err}");
    }
}

#[test]
fn supported_versions_come_from_the_package() {
    let p = Packages::with_libraries();
    let python = install_as(Path::new("/usr/bin/python3.11"), p.dir.path(), "python3.8");
    let (out, err) = debug(p.command(&python).args(["-c", PRINT]));
    assert!(
        out.starts_with("None") && err.contains("skipped: runtime_version_unsupported"),
        "{out}{err}"
    );
    p.write(
        "python",
        "supported_runtimes.json",
        r#"{"version":1,"tracers":[{"dir":".","min":"3.8"}]}"#,
    );
    let (out, err) = debug(p.command(&python).args(["-c", PRINT]));
    assert!(
        out.starts_with(p.library("python").to_str().unwrap()),
        "{out}{err}"
    );
    std::fs::remove_file(p.library("python").join("supported_runtimes.json")).unwrap();
    let (out, err) = debug(p.command(&python).args(["-c", PRINT]));
    assert!(
        out.starts_with(p.library("python").to_str().unwrap()),
        "a package without the file supports every version: {out}{err}"
    );
}

#[test]
fn untrusted_or_broken_supported_runtimes_block_injection() {
    let p = Packages::with_libraries();
    let manifest = p.library("python").join("supported_runtimes.json");
    std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (out, err) = debug(p.command(PYTHON).args(["-c", PRINT]));
    assert!(
        out.starts_with("None") && err.contains("skipped: untrusted_file"),
        "{out}{err}"
    );
    std::fs::remove_file(&manifest).unwrap();
    fifo(&manifest);
    let started = Instant::now();
    let (out, err) = debug(p.command(PYTHON).args(["-c", PRINT]));
    assert!(started.elapsed() < Duration::from_millis(1100));
    assert!(
        out.starts_with("None") && err.contains("skipped: invalid_requirements"),
        "{out}{err}"
    );
}

#[test]
fn writable_library_files_are_untrusted() {
    let p = Packages::with_libraries();
    let entry = p.library("python").join("sitecustomize.py");
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (out, err) = debug(p.command(PYTHON).args(["-c", PRINT]));
    assert!(
        out.starts_with("None") && err.contains("skipped: untrusted_file"),
        "{out}{err}"
    );
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o644)).unwrap();
    let package = p.root.join("datadog-apm-library-python");
    std::fs::set_permissions(&package, std::fs::Permissions::from_mode(0o775)).unwrap();
    let (_, err) = debug(p.command(PYTHON).args(["-c", PRINT]));
    assert!(
        err.contains("skipped: untrusted_file"),
        "group-writable package directory: {err}"
    );
}

#[test]
fn root_processes_ignore_files_owned_by_other_users() {
    let p = Packages::with_libraries();
    let entry = p.library("python").join("sitecustomize.py");
    assert!(Command::new("chown")
        .arg("nobody")
        .arg(&entry)
        .status()
        .unwrap()
        .success());
    let (out, err) = debug(p.command(PYTHON).args(["-c", PRINT]));
    assert!(
        out.starts_with("None") && err.contains("skipped: untrusted_file"),
        "{out}{err}"
    );
}

#[test]
fn directory_shaped_entry_point_is_skipped() {
    let p = Packages::with_libraries();
    let jar = p.library("java").join("dd-java-agent.jar");
    std::fs::remove_file(&jar).unwrap();
    std::fs::create_dir(&jar).unwrap();
    let out = run(p
        .command("java")
        .arg("-jar")
        .arg(fixture("hello.jar"))
        .env("DD_APM_INSTRUMENTATION_DEBUG", "true"));
    assert!(out.status.success(), "java must start: {}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped: library_missing"),
        "{}",
        stderr(&out)
    );
    // The debug log names what it looked for.
    assert!(
        stderr(&out).contains(&format!("missing: {}\n", jar.display())),
        "{}",
        stderr(&out)
    );
}
