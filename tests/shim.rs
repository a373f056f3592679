//! The OCI runtime shim (`auto_inject_runc`) driving Debian's real `runc` on OCI bundles with a
//! busybox-static root filesystem: what containers get, and that nothing the shim does can
//! fail a container start.
#![forbid(unsafe_code)]

use apm_inject_tests::containers::{Bundle, ShimConfig};
use apm_inject_tests::{names_in, stderr, stdout, Packages};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const LAUNCHER: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so";
/// The real launcher's plain path, for images whose 64-bit loader expands `$LIB` to `lib`.
const PLAIN_LAUNCHER: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so";

/// Configuration that keeps the shim off any real Docker socket.
fn no_docker() -> ShimConfig {
    ShimConfig::new("docker_socket: /nonexistent/docker.sock\n")
}

/// runc as the shim finds it: the first in `PATH`.
fn runc() -> &'static Path {
    static RUNC: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RUNC.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join("runc"))
            .find(|p| p.is_file())
            .expect("runc (scripts/install-deps.sh)")
    })
}

/// Standard error without runc's log timestamps (the two runs may straddle a second).
fn messages(out: &std::process::Output) -> String {
    stderr(out)
        .lines()
        .map(|l| match l.split_once("time=\"") {
            Some((before, rest)) => {
                format!("{before}{}", rest.split_once("\" ").map_or("", |r| r.1))
            }
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn container_gets_the_launcher_and_read_only_packages() {
    let p = Packages::new();
    let config = no_docker();
    let script = format!(
        "env; ls '{LAUNCHER}' && echo packages-visible; touch /opt/datadog-packages/x || echo read-only"
    );
    let bundle = Bundle::busybox(&["sh", "-c", &script]);
    let out = bundle.run(&p.shim(), &config, "injected");
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}\n{}", config.log());
    assert!(text.contains(&format!("LD_PRELOAD={LAUNCHER}\n")), "{text}");
    assert!(text.contains("DD_INJECT_SENDER_TYPE=docker\n"), "{text}");
    assert!(text.contains("DD_INJECT_START_TIME="), "{text}");
    assert!(text.contains("packages-visible"), "{text}");
    assert!(text.contains("read-only"), "{text}");
    assert!(!p.root.join("x").exists());
    assert!(config.log().contains("instrumented"), "{}", config.log());
}

#[test]
fn create_start_state_delete_go_through() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["sleep", "30"]);
    let path = bundle.path().to_str().unwrap().to_owned();
    let shim = p.shim();
    let create = bundle.runtime_detached(&shim, &config, &["create", "--bundle", &path, "c1"]);
    assert!(create.success(), "{}\n{}", bundle.output(), config.log());
    let started = bundle.runtime(&shim, &config, &["start", "c1"]);
    assert!(started.status.success(), "{started:?}");
    let state = bundle.runtime(&shim, &config, &["state", "c1"]);
    let state: serde_json::Value = serde_json::from_slice(&state.stdout).unwrap();
    assert_eq!(state["status"], "running");
    let edited: serde_json::Value = serde_json::from_slice(&bundle.config()).unwrap();
    assert!(edited["process"]["env"]
        .as_array()
        .unwrap()
        .contains(&format!("LD_PRELOAD={LAUNCHER}").into()));
    let killed = bundle.runtime(&shim, &config, &["delete", "--force", "c1"]);
    assert!(killed.status.success(), "{killed:?}");
}

#[test]
fn docker_exec_style_process_gets_the_launcher() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["sleep", "30"]);
    let path = bundle.path().to_str().unwrap().to_owned();
    let shim = p.shim();
    assert!(bundle
        .runtime_detached(
            &shim,
            &config,
            &["run", "--detach", "--bundle", &path, "c2"]
        )
        .success());
    let process = bundle.path().join("process.json");
    std::fs::write(
        &process,
        r#"{"args":["env"],"env":["PATH=/bin","EXTRA=1"],"cwd":"/","user":{"uid":0,"gid":0}}"#,
    )
    .unwrap();
    let process_arg = process.to_str().unwrap().to_owned();
    let out = bundle.runtime(&shim, &config, &["exec", "--process", &process_arg, "c2"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}\n{}", config.log());
    assert!(text.contains(&format!("LD_PRELOAD={LAUNCHER}\n")), "{text}");
    assert!(text.contains("EXTRA=1\n"), "{text}");
    assert!(text.contains("DD_INJECT_SENDER_TYPE=docker\n"), "{text}");
    bundle.runtime(&shim, &config, &["delete", "--force", "c2"]);
}

#[test]
fn exec_into_a_container_left_alone_adds_nothing() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["sleep", "30"]);
    let path = bundle.path().to_str().unwrap().to_owned();
    assert!(bundle
        .runtime_detached(
            runc(),
            &config,
            &["run", "--detach", "--bundle", &path, "c3"]
        )
        .success());
    let process = bundle.path().join("process.json");
    std::fs::write(
        &process,
        r#"{"args":["env"],"env":["PATH=/bin"],"cwd":"/","user":{"uid":0,"gid":0}}"#,
    )
    .unwrap();
    let process_arg = process.to_str().unwrap().to_owned();
    let out = bundle.runtime(
        &p.shim(),
        &config,
        &["exec", "--process", &process_arg, "c3"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!stdout(&out).contains("LD_PRELOAD"), "{}", stdout(&out));
    assert!(
        config.log().contains("container_not_injected"),
        "{}",
        config.log()
    );
    bundle.runtime(runc(), &config, &["delete", "--force", "c3"]);
}

#[test]
fn musl_program_in_a_busybox_container_runs_with_the_launcher() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["/bin/probe", "LD_PRELOAD"]);
    bundle.add_musl_probe();
    let out = bundle.run(&p.shim(), &config, "musl");
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("preload_mapped=1"), "{text}");
    assert_eq!(stderr(&out), "");
}

#[test]
fn image_whose_64_bit_loader_is_in_lib_gets_the_plain_launcher_path() {
    // Arch Linux's layout: `/lib64 -> usr/lib`, the loader in `/usr/lib`; its glibc expands
    // `$LIB` to `lib`, where the package has i386's no-op object, so the `$LIB` entry would
    // make every 64-bit process print `wrong ELF class: ELFCLASS32`.
    let p = Packages::new();
    let config = no_docker();
    let script = format!("env; ls '{PLAIN_LAUNCHER}' > /dev/null && echo launcher-present");
    let bundle = Bundle::busybox(&["sh", "-c", &script]);
    let rootfs = bundle.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("usr/lib")).unwrap();
    std::fs::copy(
        "/lib64/ld-linux-x86-64.so.2",
        rootfs.join("usr/lib/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    std::os::unix::fs::symlink("usr/lib", rootfs.join("lib64")).unwrap();
    let out = bundle.run(&p.shim(), &config, "arch");
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}\n{}", config.log());
    assert!(
        text.contains(&format!("LD_PRELOAD={PLAIN_LAUNCHER}\n")),
        "{text}"
    );
    assert!(text.contains("launcher-present"), "{text}");
}

#[test]
fn image_whose_64_bit_loader_is_in_a_multiarch_directory_keeps_the_lib_entry() {
    // Debian's layout: `/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/…`.
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["env"]);
    let rootfs = bundle.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("lib/x86_64-linux-gnu")).unwrap();
    std::fs::create_dir_all(rootfs.join("lib64")).unwrap();
    std::fs::copy(
        "/lib64/ld-linux-x86-64.so.2",
        rootfs.join("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        rootfs.join("lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    let out = bundle.run(&p.shim(), &config, "debian");
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}\n{}", config.log());
    assert!(text.contains(&format!("LD_PRELOAD={LAUNCHER}\n")), "{text}");
}

#[test]
fn own_ld_preload_is_kept() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["env"]);
    bundle.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("LD_PRELOAD=/lib/own.so".into())
    });
    let out = bundle.run(&p.shim(), &config, "own");
    assert!(
        stdout(&out).contains(&format!("LD_PRELOAD=/lib/own.so:{LAUNCHER}\n")),
        "{out:?}"
    );
}

#[test]
fn opted_out_container_is_untouched() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["env"]);
    bundle.edit(|c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("DD_INSTRUMENT_SERVICE_WITH_APM=false".into())
    });
    let before = bundle.config();
    let out = bundle.run(&p.shim(), &config, "optout");
    assert!(out.status.success());
    assert!(!stdout(&out).contains("LD_PRELOAD"));
    assert_eq!(bundle.config(), before, "config.json untouched");
    assert!(config.log().contains("opted_out"), "{}", config.log());
}

#[test]
fn malformed_config_fails_exactly_as_with_runc() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["true"]);
    std::fs::write(bundle.path().join("config.json"), b"{\"ociVersion\": ").unwrap();
    let with_runc = bundle.run(runc(), &config, "bad1");
    let with_shim = bundle.run(&p.shim(), &config, "bad2");
    assert_eq!(with_shim.status.code(), with_runc.status.code());
    assert!(!with_shim.status.success());
    assert_eq!(bundle.config(), b"{\"ociVersion\": ");
    assert!(
        config.log().contains("malformed_oci_file"),
        "{}",
        config.log()
    );
}

#[test]
fn missing_packages_mean_a_plain_container() {
    let p = Packages::new();
    let shim = p.shim();
    std::fs::remove_file(&p.launcher).unwrap();
    let config = no_docker();
    let bundle = Bundle::busybox(&["env"]);
    let before = bundle.config();
    let out = bundle.run(&shim, &config, "nopkg");
    assert!(out.status.success(), "{out:?}");
    assert!(!stdout(&out).contains("LD_PRELOAD"));
    assert_eq!(bundle.config(), before);
    assert!(
        config.log().contains("packages_missing"),
        "{}",
        config.log()
    );
}

/// The packages vanish after the shim checked them and before runc mounts them: runc fails
/// with the edited config.json, the shim puts the original back and the container starts.
#[test]
fn packages_deleted_during_create_still_start_the_container() {
    let p = Packages::new();
    let chained = tempfile::tempdir().unwrap();
    let runtime = chained.path().join("deleting-runc");
    std::fs::write(
        &runtime,
        format!(
            "#!/bin/sh\nrm -rf '{}'\nexec /usr/bin/runc \"$@\"\n",
            p.root.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = ShimConfig::new(&format!(
        "docker_socket: /nonexistent/docker.sock\nruntimes: [{}]\n",
        runtime.display()
    ));
    let shim = p.shim();
    let bundle = Bundle::busybox(&["sleep", "30"]);
    let before = bundle.config();
    let path = bundle.path().to_str().unwrap().to_owned();
    let create = bundle.runtime_detached(&shim, &config, &["create", "--bundle", &path, "gone"]);
    assert!(create.success(), "{}\n{}", bundle.output(), config.log());
    assert_eq!(bundle.config(), before, "original config.json put back");
    assert!(
        config.log().contains("original put back"),
        "{}",
        config.log()
    );
    bundle.runtime(runc(), &config, &["delete", "--force", "gone"]);
}

#[test]
fn nonsense_arguments_get_runcs_own_answer() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["true"]);
    for args in [
        &["--frobnicate"][..],
        &["create"],
        &["create", "--bundle"],
        &["exec", "--process", "/nonexistent", "nope"],
        &["state", "nope"],
        &["--version"],
        &["features"],
        &[],
    ] {
        let with_runc = bundle.runtime(runc(), &config, args);
        let with_shim = bundle.runtime(&p.shim(), &config, args);
        assert_eq!(with_shim.status.code(), with_runc.status.code(), "{args:?}");
        assert_eq!(stdout(&with_shim), stdout(&with_runc), "{args:?}");
        assert_eq!(messages(&with_shim), messages(&with_runc), "{args:?}");
    }
}

/// The bundle on a read-only mount: the shim cannot replace config.json, so the container
/// starts exactly as runc alone starts it, and the bundle is untouched.
#[test]
fn read_only_bundle_starts_the_container_untouched() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&["sh", "-c", "echo started; echo ${LD_PRELOAD:-none}"]);
    // Mount points runc would otherwise create in the (read-only) root filesystem.
    for dir in ["proc", "dev", "sys"] {
        std::fs::create_dir(bundle.path().join("rootfs").join(dir)).unwrap();
    }
    let before = bundle.config();
    let read_only = r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99"#;
    let with_runc = bundle.run_in_namespace(read_only, runc(), &config, "ro1");
    assert_eq!(stdout(&with_runc), "started\nnone\n", "{with_runc:?}");
    let out = bundle.run_in_namespace(read_only, &p.shim(), &config, "ro2");
    assert!(out.status.success(), "{out:?}\n{}", config.log());
    assert_eq!(stdout(&out), "started\nnone\n");
    assert_eq!(bundle.config(), before);
    let names = names_in(bundle.path());
    assert!(
        names.iter().all(|n| !n.contains("dd-shim")),
        "no temporary file left: {names:?}"
    );
    assert!(
        config.log().contains("read_only_bundle"),
        "{}",
        config.log()
    );
}

/// The host's agent socket directory is visible in the container, read-only (a socket there
/// can still be connected to: connecting needs no write access to the mount).
#[test]
fn agent_socket_directory_is_mounted_read_only() {
    let p = Packages::new();
    let config = no_docker();
    let bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /var/run/datadog/marker; touch /var/run/datadog/x 2>/dev/null || echo read-only",
    ]);
    let agent = r#"mount -t tmpfs tmpfs /run || exit 99
        mkdir -p /run/datadog && echo agent-dir > /run/datadog/marker"#;
    let out = bundle.run_in_namespace(agent, &p.shim(), &config, "agent");
    assert!(out.status.success(), "{out:?}\n{}", config.log());
    assert_eq!(stdout(&out), "agent-dir\nread-only\n");
    // Without it on the host, no mount.
    let bundle = Bundle::busybox(&["sh", "-c", "ls /var/run/datadog 2>/dev/null || echo absent"]);
    let out = bundle.run_in_namespace(
        "mount -t tmpfs tmpfs /run || exit 99",
        &p.shim(),
        &config,
        "noagent",
    );
    assert_eq!(stdout(&out), "absent\n", "{out:?}");
}

/// Before the install, Docker's default runtime was a custom one declared in daemon.json
/// (with arguments of its own): the shim runs it, not runc, and passes it those arguments.
#[test]
fn runtime_docker_used_before_the_install_is_chained() {
    let p = Packages::new();
    let config = no_docker();
    let wrapper_dir = tempfile::tempdir().unwrap();
    let wrapper = wrapper_dir.path().join("custom-runc");
    let calls = wrapper_dir.path().join("calls");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n[ \"$1\" = --custom-flag ] || exit 42\nshift\necho \"$@\" >> '{}'\nexec /usr/bin/runc \"$@\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let previous = serde_json::json!({
        "daemon_json_existed": true,
        "default_runtime": "custom",
        "declared": {"path": wrapper, "runtimeArgs": ["--custom-flag"]},
    });
    std::fs::write(
        config.dir.path().join("docker_runtime.previous.json"),
        previous.to_string(),
    )
    .unwrap();
    let bundle = Bundle::busybox(&["sh", "-c", "echo $LD_PRELOAD"]);
    let out = bundle.run(&p.shim(), &config, "chained");
    assert!(out.status.success(), "{out:?}\n{}", config.log());
    assert_eq!(stdout(&out), format!("{LAUNCHER}\n"));
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert!(calls.contains("run --bundle"), "{calls}");
}

/// A malformed `docker_config.yaml` (its deny rules unknown): containers start untouched.
#[test]
fn malformed_docker_config_means_plain_containers() {
    let p = Packages::new();
    let config = ShimConfig::new("library_inject: maybe\n");
    let bundle = Bundle::busybox(&["sh", "-c", "echo ${LD_PRELOAD:-none}"]);
    let before = bundle.config();
    let out = bundle.run(&p.shim(), &config, "badyaml");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "none\n");
    assert_eq!(bundle.config(), before);
}
