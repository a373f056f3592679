//! A real Docker engine (Debian's dockerd 20.10, its containerd and runc), private to each test,
//! with `apm-inject install --docker`: unchanged applications in containers are traced, and
//! everything the shim must leave alone is left alone.
#![forbid(unsafe_code)]

use apm_inject_tests::containers::{bookworm_tree, Bundle, Dockerd};
use apm_inject_tests::tracers::{dist_library, free_port, wait_for, TestAgent};
use apm_inject_tests::{run, stderr, stdout, workspace, Packages};
use std::path::{Path, PathBuf};

const LAUNCHER: &str =
    "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so";

/// A package tree to install from, as shipped: the injector (with its CLI, forwarder and shim
/// links) and the real Python library of `make libraries`.
fn shipped() -> (Packages, PathBuf) {
    let (p, cli) = injector_only();
    std::os::unix::fs::symlink(
        dist_library("python"),
        p.root.join("datadog-apm-library-python"),
    )
    .unwrap();
    (p, cli)
}

/// A package tree of the injector alone, with its CLI, forwarder and shim links.
fn injector_only() -> (Packages, PathBuf) {
    let p = Packages::new();
    let cli = p.shipped_cli();
    for link in ["auto_inject_runc", "telemetry-forward"] {
        std::os::unix::fs::symlink("apm-inject", cli.with_file_name(link)).unwrap();
    }
    (p, cli)
}

/// Imports a busybox-static root filesystem (with `sleep`, `sh`, `env`) as image `name`.
fn busybox_image(docker: &Dockerd, name: &str) {
    let bundle = Bundle::busybox(&["true"]);
    docker.import(&bundle.path().join("rootfs"), name);
}

/// `apm-inject args…` in dockerd's namespace; must succeed.
fn apm_inject(docker: &Dockerd, cli: &Path, args: &[&str]) -> String {
    let out = run(&mut docker.in_namespace(cli, args));
    assert!(
        out.status.success(),
        "apm-inject {args:?}: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

fn default_runtime(docker: &Dockerd) -> String {
    docker
        .docker_ok(&["info", "--format", "{{.DefaultRuntime}}"])
        .trim()
        .to_owned()
}

/// The shim's debug log, written in dockerd's namespace.
fn shim_log(docker: &Dockerd) -> String {
    std::fs::read_to_string(docker.upper("/etc/datadog-agent/inject/shim.log")).unwrap_or_default()
}

/// `docker run --rm --network host args…`: its output.
fn docker_run(docker: &Dockerd, args: &[&str]) -> String {
    let mut all = vec!["run", "--rm", "--network", "host"];
    all.extend_from_slice(args);
    docker.docker_ok(&all)
}

/// `ctr run --rm --runc-binary shim options…` of Docker image `image` imported into containerd
/// (the one dockerd runs), in a namespace of its own: the output.
fn ctr_run(docker: &Dockerd, shim: &Path, options: &[&str], image: &str, args: &[&str]) -> String {
    let socket = docker.dir.path().join("exec/containerd/containerd.sock");
    let socket = socket.to_str().unwrap();
    // In dockerd's namespace: ctr makes the container's FIFOs under /run/containerd, which
    // must be the one containerd sees.
    let ctr = |extra: &[&str]| {
        let mut args = vec!["--address", socket, "--namespace", "apm-inject-test"];
        args.extend_from_slice(extra);
        docker.in_namespace(Path::new("/usr/bin/ctr"), &args)
    };
    let archive = docker.dir.path().join("image.tar");
    docker.docker_ok(&["save", "-o", archive.to_str().unwrap(), image]);
    let imported = run(&mut ctr(&["images", "import", archive.to_str().unwrap()]));
    assert!(imported.status.success(), "{imported:?}");
    let reference = format!("docker.io/library/{image}");
    let shim = shim.to_str().unwrap();
    let mut run_args = vec!["run", "--rm", "--runc-binary", shim];
    run_args.extend_from_slice(options);
    run_args.extend_from_slice(&[&reference, "ctr-probe"]);
    run_args.extend_from_slice(args);
    let mut cmd = ctr(&run_args);
    let out = run(&mut cmd);
    assert!(out.status.success(), "ctr run: {out:?}");
    stdout(&out)
}

#[test]
fn containers_are_instrumented_through_the_shim() {
    let agent = TestAgent::start();
    let docker = Dockerd::start(
        "log_level: debug\noutput_paths: [/etc/datadog-agent/inject/shim.log]\n\
         deny:\n  - image: \"batch/*\"\n  - name: \"*-migrations\"\n",
    );
    docker.import(&bookworm_tree(), "shop-api:1");
    let (_tree, cli) = shipped();
    let installed = apm_inject(&docker, &cli, &["install", "--docker"]);
    assert!(installed.contains("default runtime dd-shim"), "{installed}");
    assert_eq!(default_runtime(&docker), "dd-shim");
    assert!(
        !docker.upper("/etc/ld.so.preload").exists(),
        "--docker alone leaves the host alone"
    );

    // An unchanged Flask application, traced, its service named after the image.
    let app = tempfile::tempdir().unwrap();
    std::fs::copy(
        workspace().join("tests/fixtures/apps/Shop_API.py"),
        app.path().join("Shop_API.py"),
    )
    .unwrap();
    let port = free_port();
    let volume = format!("{}:/app:ro", app.path().display());
    let port_env = format!("PORT={port}");
    let agent_env = format!("DD_TRACE_AGENT_URL={}", agent.url());
    docker.docker_ok(&[
        "run",
        "-d",
        "--network",
        "host",
        "--name",
        "shop",
        "-v",
        &volume,
        "-e",
        &port_env,
        "-e",
        &agent_env,
        "shop-api:1",
        "python3",
        "/app/Shop_API.py",
    ]);
    wait_for("the application in its container", || {
        apm_inject_tests::tracers::http_get(port, "/").filter(|(status, _)| *status == 200)
    });
    let spans = agent.wait_for_spans("flask.request", 1);
    assert_eq!(spans[0]["service"], "shop-api", "{:#}", spans[0]);
    assert!(
        shim_log(&docker).contains("instrumented"),
        "{}",
        shim_log(&docker)
    );

    // `docker exec` processes get the launcher too, and Python loads the tracer.
    let exec = docker.docker_ok(&[
        "exec",
        "shop",
        "python3",
        "-c",
        "import os, sys; print(os.environ['LD_PRELOAD']); print('ddtrace' in sys.modules)",
    ]);
    assert_eq!(exec, format!("{LAUNCHER}\nTrue\n"));

    // `--runtime runc` bypasses the shim.
    let bypass = docker_run(
        &docker,
        &[
            "--runtime",
            "runc",
            "shop-api:1",
            "sh",
            "-c",
            "echo ${LD_PRELOAD:-none}; ls /opt",
        ],
    );
    assert_eq!(bypass, "none\n");

    // A container's own LD_PRELOAD is kept, ours after it.
    let own = docker_run(
        &docker,
        &[
            "-e",
            "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libm.so.6",
            "shop-api:1",
            "sh",
            "-c",
            "echo $LD_PRELOAD",
        ],
    );
    assert_eq!(
        own,
        format!("/usr/lib/x86_64-linux-gnu/libm.so.6:{LAUNCHER}\n")
    );

    // Opted out by label: untouched.
    let opted_out = docker_run(
        &docker,
        &[
            "--label",
            "DD_INSTRUMENT_SERVICE_WITH_APM=false",
            "shop-api:1",
            "sh",
            "-c",
            "echo ${LD_PRELOAD:-none}",
        ],
    );
    assert_eq!(opted_out, "none\n");

    // Denied by image, then by name: untouched.
    docker.docker_ok(&["tag", "shop-api:1", "batch/nightly:1"]);
    let denied = docker_run(
        &docker,
        &["batch/nightly:1", "sh", "-c", "echo ${LD_PRELOAD:-none}"],
    );
    assert_eq!(denied, "none\n");
    let denied = docker_run(
        &docker,
        &[
            "--name",
            "db-migrations",
            "shop-api:1",
            "sh",
            "-c",
            "echo ${LD_PRELOAD:-none}",
        ],
    );
    assert_eq!(denied, "none\n");
    assert!(
        shim_log(&docker).contains("deny rule docker_config.yaml:"),
        "{}",
        shim_log(&docker)
    );

    // A musl container (static busybox and a musl-linked program) runs, with the launcher.
    let musl = Bundle::busybox(&["true"]);
    musl.add_musl_probe();
    docker.import(&musl.path().join("rootfs"), "musl-probe:1");
    let probe = docker_run(&docker, &["musl-probe:1", "/bin/probe", "LD_PRELOAD"]);
    assert!(probe.contains("preload_mapped=1"), "{probe}");

    // containerd alone: `ctr run --runc-binary SHIM` on an imported image.
    let tree = Packages::new();
    let ctr_out = ctr_run(
        &docker,
        &tree.shim(),
        &[],
        "musl-probe:1",
        &["/bin/probe", "LD_PRELOAD"],
    );
    assert!(
        ctr_out.contains(&format!("LD_PRELOAD={LAUNCHER}")),
        "{ctr_out}"
    );
    assert!(ctr_out.contains("preload_mapped=1"), "{ctr_out}");
    // The image as containerd's CRI plugin annotates it (ctr writes labels as annotations)
    // matches a deny rule: untouched.
    let denied = ctr_run(
        &docker,
        &tree.shim(),
        &["--label", "io.kubernetes.cri.image-name=batch/nightly:1"],
        "musl-probe:1",
        &["sh", "-c", "echo ${LD_PRELOAD:-none}"],
    );
    assert_eq!(denied, "none\n");
    let log = shim_log(&docker);
    assert!(
        log.lines()
            .any(|l| l.contains("ctr-probe left as is: denied: deny rule")),
        "{log}"
    );

    // A read-only root filesystem: the mount points are made before it is made read-only.
    let read_only = docker_run(
        &docker,
        &["--read-only", "shop-api:1", "sh", "-c", "echo $LD_PRELOAD"],
    );
    assert_eq!(read_only, format!("{LAUNCHER}\n"));

    // Uninstall: the previous default runtime, and new containers untouched.
    let removed = apm_inject(&docker, &cli, &["uninstall"]);
    assert!(removed.contains("restored"), "{removed}");
    assert_eq!(default_runtime(&docker), "runc");
    let after = docker_run(
        &docker,
        &["shop-api:1", "sh", "-c", "echo ${LD_PRELOAD:-none}"],
    );
    assert_eq!(after, "none\n");
    let _ = docker.docker(&["rm", "-f", "shop"]);
}

#[test]
fn broken_daemon_json_fails_the_install_and_changes_nothing() {
    let docker = Dockerd::start("");
    let (_tree, cli) = shipped();
    let daemon_json = docker.upper("/etc/docker/daemon.json");
    let broken = b"{\n  \"log-level\": \"warn\",\n  \"runtimes\": {\n}\n";
    docker.write("/etc/docker/daemon.json", broken);
    // A comment only: a real entry would be preloaded into every process of the namespace.
    let preload = docker.upper("/etc/ld.so.preload");
    docker.write("/etc/ld.so.preload", b"# kept as it is\n");
    let out = run(&mut docker.in_namespace(&cli, &["install", "--host", "--docker"]));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains("/etc/docker/daemon.json:5:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&daemon_json).unwrap(), broken);
    assert_eq!(std::fs::read(&preload).unwrap(), b"# kept as it is\n");
    assert!(!docker.upper("/opt/datadog-packages").exists());
    assert_eq!(default_runtime(&docker), "runc");
}

/// `doctor` and `status` (text and JSON) after the install: the runtime configured, dockerd
/// reloaded, and which running containers got the shim's edits.
#[test]
fn doctor_and_status_show_dockers_runtime_and_containers() {
    let docker = Dockerd::start("");
    busybox_image(&docker, "box:1");
    let (_tree, cli) = injector_only();
    apm_inject(&docker, &cli, &["install", "--docker"]);
    assert!(
        docker.upper("/usr/bin/apm-inject").is_symlink(),
        "the CLI's link is made in the test's namespace, never on the machine"
    );
    docker.docker_ok(&["run", "-d", "--name", "box-a", "box:1", "sleep", "300"]);
    docker.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "box-b",
        "box:1",
        "sleep",
        "300",
    ]);

    let out = run(&mut docker.in_namespace(&cli, &["doctor", "--json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {report:#}"))
    };
    assert_eq!(check("docker_runtime")["status"], "pass", "{report:#}");
    assert_eq!(check("docker_reloaded")["status"], "pass", "{report:#}");
    let chained = check("docker_chained_runtime");
    assert_eq!(chained["status"], "pass", "{report:#}");
    assert!(
        chained["detail"].as_str().unwrap().ends_with("/runc"),
        "{chained:#}"
    );
    let containers = check("docker_containers");
    assert_eq!(
        containers["detail"], "1 running container(s) instrumented [box-a], 1 not [box-b]",
        "{report:#}"
    );

    let status = run(&mut docker.in_namespace(&cli, &["status", "--json"]));
    assert!(status.status.success(), "{status:?}");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("status --json is not one JSON document: {e}"));
    let listed = status["docker"]["containers"].as_array().unwrap();
    let entry = |name: &str| listed.iter().find(|c| c["name"] == name).unwrap().clone();
    assert_eq!(entry("box-a")["instrumented"], true, "{status:#}");
    assert_eq!(entry("box-a")["runtime"], "dd-shim");
    assert_eq!(entry("box-b")["instrumented"], false);
    assert_eq!(entry("box-b")["reason"], "runtime runc");

    let text = stdout(&run(&mut docker.in_namespace(&cli, &["status"])));
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" {name} ")) && l.contains("box:1"))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_owned()
    };
    assert!(line("box-a").ends_with(" yes"), "{text}");
    assert!(line("box-b").ends_with("no (runtime runc)"), "{text}");

    // What would make the shim fail every start, or leave every container alone.
    let doctor_check = |id: &str| {
        let out = run(&mut docker.in_namespace(&cli, &["doctor", "--json"]));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["ok"], false, "{report:#}");
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {report:#}"))
    };
    let config = "/etc/datadog-agent/inject/docker_config.yaml";
    let original = std::fs::read(docker.upper(config)).unwrap();
    docker.write(config, b"runtimes: [/nonexistent/runc]\n");
    let missing = doctor_check("docker_chained_runtime");
    assert_eq!(missing["status"], "fail", "{missing:#}");
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/runc exists: every container start fails"),
        "{missing:#}"
    );
    docker.write(config, b"library_inject: maybe\n");
    let malformed = doctor_check("docker_config");
    assert_eq!(malformed["status"], "fail", "{malformed:#}");
    assert!(
        malformed["detail"]
            .as_str()
            .unwrap()
            .contains("docker_config.yaml:1:"),
        "{malformed:#}"
    );
    docker.write(config, &original);

    // dockerd not reloaded (its default runtime changed behind apm-inject's back): doctor says
    // so and how to fix it.
    docker.write("/etc/docker/daemon.json", b"{}\n");
    let out = run(&mut docker.in_namespace(&cli, &["doctor", "--json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reloaded = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "docker_reloaded")
        .cloned()
        .unwrap();
    assert_eq!(reloaded["status"], "fail", "{report:#}");
    assert!(
        reloaded["fix"].as_str().unwrap().contains("kill -HUP"),
        "{reloaded:#}"
    );
}

/// Docker's default runtime before the install was a custom one declared in daemon.json: the
/// shim chains to it (with its runtimeArgs), and uninstall makes it the default again.
#[test]
fn custom_default_runtime_is_chained_and_restored() {
    let wrapper_dir = tempfile::tempdir().unwrap();
    let wrapper = wrapper_dir.path().join("custom-runc");
    let calls = wrapper_dir.path().join("calls");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n[ \"$1\" = --custom-flag ] || exit 42\nshift\necho \"$@\" >> '{}'\nexec /usr/sbin/runc \"$@\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let docker = Dockerd::start("");
    let daemon_json = serde_json::json!({
        "default-runtime": "custom",
        "runtimes": {"custom": {"path": wrapper, "runtimeArgs": ["--custom-flag"]}},
    });
    docker.write(
        "/etc/docker/daemon.json",
        daemon_json.to_string().as_bytes(),
    );
    let (_tree, cli) = injector_only();
    // dockerd reads the file first at the install's reload.
    apm_inject(&docker, &cli, &["install", "--docker"]);
    assert_eq!(default_runtime(&docker), "dd-shim");
    busybox_image(&docker, "box:1");
    let out = docker_run(&docker, &["box:1", "sh", "-c", "echo $LD_PRELOAD"]);
    assert_eq!(out, format!("{LAUNCHER}\n"));
    let called = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(called.contains(" create "), "{called}");

    let removed = apm_inject(&docker, &cli, &["uninstall"]);
    assert!(
        removed.contains("default runtime custom restored"),
        "{removed}"
    );
    assert_eq!(default_runtime(&docker), "custom");
    let restored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker.upper("/etc/docker/daemon.json")).unwrap())
            .unwrap();
    assert_eq!(restored, daemon_json);
}

/// The agent listens on `/var/run/datadog/apm.socket` on the host only: a container without
/// any network, from an image that knows nothing of Datadog, gets its spans to it through the
/// socket directory the shim mounts.
#[test]
fn unix_socket_agent_is_reached_from_a_container_without_network() {
    let sockets = tempfile::tempdir().unwrap();
    let agent = TestAgent::start_with_socket(&sockets.path().join("apm.socket"));
    let docker = Dockerd::start("");
    // The host's /var/run/datadog (-> /run/datadog) in dockerd's namespace is the agent's.
    let bind = run(&mut docker.in_namespace(
        Path::new("/bin/sh"),
        &[
            "-c",
            "mkdir -p /run/datadog && mount --bind \"$1\" /run/datadog",
            "sh",
            sockets.path().to_str().unwrap(),
        ],
    ));
    assert!(bind.status.success(), "{bind:?}");
    docker.import(&bookworm_tree(), "probe:1");
    let (_tree, cli) = shipped();
    apm_inject(&docker, &cli, &["install", "--docker"]);
    let script = "from ddtrace.trace import tracer\n\
                  with tracer.trace('uds.probe'):\n    pass\n\
                  tracer.flush()\n";
    docker.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "probe:1",
        "python3",
        "-c",
        script,
    ]);
    let spans = agent.wait_for_spans("uds.probe", 1);
    assert_eq!(spans[0]["service"], "probe", "{:#}", spans[0]);
}
