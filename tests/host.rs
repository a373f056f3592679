//! `apm-inject install`/`uninstall` on the host's own paths (`/etc/ld.so.preload`,
//! `/opt/datadog-packages`), each test inside a private mount namespace whose `/etc` and `/opt`
//! are overlays: real processes see the result, the machine's files are never touched.

use apm_inject_tests::{
    in_mount_namespace, private_host, run, stderr, stdout, system_root, Packages,
};
use std::ffi::OsStr;
use std::process::Output;

const PRINT_PYTHONPATH: &str =
    "/usr/bin/python3 -c 'import os; print(os.environ.get(\"PYTHONPATH\"))'";
const PYTHON_LIBRARY: &str = "/opt/datadog-packages/datadog-apm-library-python/stable";

/// Runs `script` (with `$1`, `$2`… set to `args`) on a private copy of the host.
fn on_private_host(script: &str, args: &[&OsStr]) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    let mut argv = vec![
        OsStr::new("sh"),
        OsStr::new("-c"),
        OsStr::new(script),
        OsStr::new("sh"),
    ];
    argv.extend_from_slice(args);
    let mut cmd = private_host(scratch.path(), &argv);
    let out = run(cmd
        .env_remove("LD_PRELOAD")
        .env_remove("DD_APM_INSTRUMENTATION_DEBUG")
        .env_remove("DD_APM_INSTRUMENTATION_OUTPUT_PATHS"));
    assert_ne!(
        out.status.code(),
        Some(99),
        "overlay mount failed: {}",
        stderr(&out)
    );
    out
}

#[test]
fn python_is_instrumented_through_etc_ld_so_preload_alone() {
    let source = Packages::with_libraries();
    let script = format!(r#""$1" install > /dev/null || exit 10; {PRINT_PYTHONPATH}"#);
    let out = on_private_host(&script, &[source.shipped_cli().as_os_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{PYTHON_LIBRARY}\n"));
    assert_eq!(stderr(&out), "fixture sitecustomize loaded\n");
}

#[test]
fn failed_upgrade_leaves_the_host_instrumented() {
    let good = Packages::with_libraries();
    let broken = Packages::versioned("9.9.9");
    std::fs::write(
        broken.inject_dir().join("inject/launcher.preload.so"),
        "not a shared library",
    )
    .unwrap();
    let script = format!(
        r#""$1" install > /dev/null || exit 10
        "$2" install > /dev/null 2>&1; echo "upgrade: $?"
        readlink /opt/datadog-packages/datadog-apm-inject/stable
        {PRINT_PYTHONPATH}"#
    );
    let out = on_private_host(
        &script,
        &[
            good.shipped_cli().as_os_str(),
            broken.shipped_cli().as_os_str(),
        ],
    );
    assert_eq!(
        stdout(&out),
        format!("upgrade: 2\n{}\n{PYTHON_LIBRARY}\n", good.version)
    );
}

#[test]
fn uninstall_leaves_processes_untouched_and_silent() {
    let source = Packages::with_libraries();
    let script = format!(
        r#""$1" install > /dev/null || exit 10
        "$1" uninstall > /dev/null || exit 11
        test ! -e /etc/ld.so.preload || exit 12
        test ! -e /opt/datadog-packages || exit 13
        {PRINT_PYTHONPATH}"#
    );
    let out = on_private_host(&script, &[source.shipped_cli().as_os_str()]);
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    assert_eq!(stdout(&out), "None\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn hand_deleted_packages_are_reported_by_doctor_and_repaired_by_uninstall() {
    let source = Packages::with_libraries();
    let script = r#""$1" install > /dev/null || exit 10
        rm -rf /opt/datadog-packages
        /bin/true 2>&1
        "$1" doctor 2> /dev/null | grep -o '^FAIL  launcher_loads'
        "$1" uninstall > /dev/null || exit 11
        /bin/true 2>&1
        test -e /etc/ld.so.preload || echo "entry gone""#;
    let out = on_private_host(script, &[source.shipped_cli().as_os_str()]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // The dangling entry makes the loader complain in every process until uninstall, after
    // which `/bin/true` is silent again.
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains("cannot be preloaded"), "{text}");
    assert_eq!(lines[1..], ["FAIL  launcher_loads", "entry gone"]);
}

#[test]
fn read_only_root_is_refused_and_left_as_it_was() {
    let source = Packages::new();
    let root = system_root();
    std::fs::write(
        root.path().join("etc/ld.so.preload"),
        "/usr/lib/libother.so\n",
    )
    .unwrap();
    let script = r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" || exit 99
        exec "$2" install --root "$1""#;
    let out = run(in_mount_namespace(
        script,
        &[root.path().as_os_str(), source.shipped_cli().as_os_str()],
    )
    .env_remove("LD_PRELOAD"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("etc/ld.so.preload")).unwrap(),
        "/usr/lib/libother.so\n"
    );
    assert!(!root.path().join("opt").exists());
}
