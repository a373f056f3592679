//! `apm-inject install`/`uninstall` on the host's own paths (`/etc/ld.so.preload`,
//! `/opt/datadog-packages`), each test inside a private mount namespace whose `/etc` and `/opt`
//! are overlays: real processes see the result, the machine's files are never touched.
#![forbid(unsafe_code)]

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

/// The test's copy of the CLI, with a package tree around it.
fn shipped(source: &Packages) -> std::path::PathBuf {
    source.shipped_cli()
}

/// `doctor --json` on the private host (nothing installed unless `script` installs first),
/// with the agent looked for at `agent_url`.
fn host_doctor(source: &Packages, prepare: &str, agent_url: &str) -> serde_json::Value {
    let script = format!(
        r#"{prepare}
        DD_TRACE_AGENT_URL="$2" "$1" doctor --json"#
    );
    let out = on_private_host(
        &script,
        &[shipped(source).as_os_str(), OsStr::new(agent_url)],
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&out), stderr(&out)))
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {report:#}"))
}

#[test]
fn doctor_checks_the_agent_where_the_tracers_look() {
    let source = Packages::new();
    let agent = apm_inject_tests::tracers::TestAgent::start();
    let report = host_doctor(&source, "", &agent.url());
    let reached = check(&report, "agent");
    assert_eq!(reached["status"], "pass", "{reached}");
    assert!(
        reached["detail"]
            .as_str()
            .unwrap()
            .contains(&agent.url()[7..]),
        "{reached}"
    );
    let closed = format!(
        "http://127.0.0.1:{}",
        apm_inject_tests::tracers::free_port()
    );
    let report = host_doctor(&source, "", &closed);
    let missed = check(&report, "agent");
    assert_eq!(missed["status"], "fail", "{missed}");
    assert!(missed["fix"]
        .as_str()
        .unwrap()
        .contains("DD_TRACE_AGENT_URL"));
}

#[test]
fn doctor_says_which_tracer_supports_which_runtime_here() {
    let source = Packages::with_libraries();
    // The JavaScript package's only tracer asks for a Node.js newer than this host's.
    std::fs::write(
        source
            .root
            .join("datadog-apm-library-js/1.0.0/supported_runtimes.json"),
        r#"{"version": 1, "tracers": [{"tracer": "dd-trace 99", "dir": ".", "min": "99"}]}"#,
    )
    .unwrap();
    let closed = format!(
        "http://127.0.0.1:{}",
        apm_inject_tests::tracers::free_port()
    );
    let report = host_doctor(&source, r#""$1" install > /dev/null || exit 10"#, &closed);
    let python = check(&report, "runtime_python");
    assert_eq!(python["status"], "pass", "{python}");
    assert!(
        python["detail"]
            .as_str()
            .unwrap()
            .contains("traced by datadog-apm-library-python 1.0.0"),
        "{python}"
    );
    let node = check(&report, "runtime_node");
    assert_eq!(node["status"], "warn", "{node}");
    assert!(
        node["detail"]
            .as_str()
            .unwrap()
            .contains("runtime_version_unsupported"),
        "{node}"
    );
    assert_eq!(check(&report, "runtime_java")["status"], "pass");
    // Warnings do not fail the report: only the agent, missing here, does.
    let failed: Vec<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["agent"], "{report:#}");
}

#[test]
fn install_shows_progress_and_says_what_to_do_next() {
    let source = Packages::with_libraries();
    let closed = format!(
        "http://127.0.0.1:{}",
        apm_inject_tests::tracers::free_port()
    );
    let out = on_private_host(
        r#"DD_TRACE_AGENT_URL="$2" "$1" install"#,
        &[shipped(&source).as_os_str(), OsStr::new(&closed)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // Progress before the steps that take seconds: each package's copy (what it weighs), then
    // the launcher's proof, before the result.
    let lines: Vec<&str> = text.lines().collect();
    let at = |prefix: &str| lines.iter().position(|l| l.starts_with(prefix));
    let installed: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("installed "))
        .collect();
    assert!(installed.len() >= 2, "{text}");
    for package in &installed {
        let copying = at(&format!("copying {package}: ")).unwrap_or_else(|| panic!("{text}"));
        assert!(lines[copying].contains(" files, "), "{text}");
        assert!(lines[copying].contains(" MB"), "{text}");
        assert!(copying < at("checking the new launcher").unwrap(), "{text}");
    }
    assert!(
        at("checking the new launcher").unwrap() < at("launcher checked: ").unwrap()
            && at("launcher checked: ").unwrap() < at("installed ").unwrap(),
        "{text}"
    );
    assert!(text.contains("next: restart your services"), "{text}");
    assert!(
        text.contains(&format!("agent: not reachable at {}", &closed[7..])),
        "{text}"
    );
}

#[test]
fn flare_collects_the_logs_running_processes_write() {
    let source = Packages::new();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("svc.log");
    std::fs::write(
        &log,
        "apm-inject[9]: process_exe: '/usr/bin/python3.11'\napm-inject[9]: args: app --db-password=hunter2\n",
    )
    .unwrap();
    let mut service = std::process::Command::new("sleep")
        .arg("60")
        .env(
            "DD_APM_INSTRUMENTATION_OUTPUT_PATHS",
            format!("stderr,file://{}", log.display()),
        )
        .spawn()
        .unwrap();
    let archive = logs.path().join("flare.tar.gz");
    let out = on_private_host(
        r#"DD_API_KEY=secret-in-env DD_SERVICE=checkout "$1" flare -o "$2""#,
        &[shipped(&source).as_os_str(), archive.as_os_str()],
    );
    let _ = service.kill();
    let _ = service.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let untar = run(std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path()));
    assert!(untar.status.success(), "{}", stderr(&untar));
    let flare = dir.path().join("apm-inject-flare/logs");
    let sources = std::fs::read_to_string(flare.join("sources.txt")).unwrap();
    assert!(
        sources.contains(&format!("pid {} (/usr/bin/sleep)", service.id())),
        "{sources}"
    );
    let collected: Vec<_> = std::fs::read_dir(&flare)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-svc.log"))
        .collect();
    assert_eq!(collected.len(), 1, "{sources}");
    let text = std::fs::read_to_string(&collected[0]).unwrap();
    assert!(
        text.contains("process_exe: '/usr/bin/python3.11'"),
        "{text}"
    );
    assert!(text.contains("--db-password=<redacted>"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    // The host's own environment and launchers' decisions, this flare being of the host.
    let top = dir.path().join("apm-inject-flare");
    let environment = std::fs::read_to_string(top.join("environment.txt")).unwrap();
    assert!(
        environment.contains("DD_API_KEY=<redacted>\n"),
        "{environment}"
    );
    assert!(
        environment.contains("DD_SERVICE=checkout\n"),
        "{environment}"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(top.join("status.json")).unwrap()).unwrap();
    assert!(status["processes"].is_array(), "{status:#}");
}

/// Runs `script` (with `$1`, `$2`… set to `args`) on a private copy of the host whose `/etc`,
/// `/opt` and `/usr` are overlays and whose `/run` is new and says systemd is the init system
/// (`/run/systemd/system`): install's links and unit land in the copies only.
fn on_private_systemd_host(script: &str, args: &[&OsStr]) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    let setup = r#"for dir in etc opt usr; do
        mkdir -p "$1/$dir-upper" "$1/$dir-work" || exit 99
        mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$1/$dir-upper,workdir=$1/$dir-work" "/$dir" || exit 99
    done
    mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system || exit 99
    script=$2
    shift 2
    exec sh -c "$script" sh "$@""#;
    let mut argv = vec![scratch.path().as_os_str(), OsStr::new(script)];
    argv.extend_from_slice(args);
    let out = run(in_mount_namespace(setup, &argv)
        .env_remove("LD_PRELOAD")
        .env_remove("DD_APM_INSTRUMENTATION_DEBUG")
        .env_remove("DD_APM_INSTRUMENTATION_OUTPUT_PATHS"));
    assert_ne!(
        out.status.code(),
        Some(99),
        "mount failed: {}",
        stderr(&out)
    );
    out
}

#[test]
fn installed_cli_is_on_path_and_the_boot_unit_keeps_the_entry() {
    let source = Packages::with_libraries();
    let script = format!(
        r#""$1" install > /dev/null || exit 10
        command -v apm-inject
        apm-inject --version
        readlink /etc/systemd/system/sysinit.target.wants/apm-inject.service
        # Something takes the entry out; the unit's command, run at boot, puts it back.
        rm /etc/ld.so.preload
        boot=$(sed -n 's/^ExecStart=//p' /etc/systemd/system/apm-inject.service)
        $boot > /dev/null || exit 11
        {PRINT_PYTHONPATH}
        # A launcher that no longer loads: the entry goes, every program is silent again.
        real=$(readlink -f /opt/datadog-packages/datadog-apm-inject/stable/inject/lib/x86_64-linux-gnu/launcher.preload.so)
        echo "not a shared library" > "$real"
        $boot > /dev/null 2> /dev/null; echo "boot: $?"
        test -e /etc/ld.so.preload && echo "entry kept"
        /bin/true
        apm-inject uninstall > /dev/null || exit 12
        test ! -e /etc/systemd/system/apm-inject.service && echo "unit gone"
        test ! -L /etc/systemd/system/sysinit.target.wants/apm-inject.service && echo "unit disabled"
        test -L /usr/bin/apm-inject || echo "apm-inject gone""#
    );
    let out = on_private_systemd_host(&script, &[source.shipped_cli().as_os_str()]);
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "/usr/bin/apm-inject\napm-inject {}\n/etc/systemd/system/apm-inject.service\n{PYTHON_LIBRARY}\nboot: 2\nunit gone\nunit disabled\napm-inject gone\n",
            env!("CARGO_PKG_VERSION")
        ),
        "{}",
        stderr(&out)
    );
}
