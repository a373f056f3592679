//! Support for the container tests: the shim in a package tree, OCI bundles with a
//! busybox-static root filesystem run by Debian's `runc`, and a private `dockerd`.

use crate::{cli, fixture, Packages};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Debian's busybox-static (`scripts/install-deps.sh`).
pub const BUSYBOX: &str = "/bin/busybox";
/// musl's dynamic loader (musl-tools).
pub const MUSL_LOADER: &str = "/lib/ld-musl-x86_64.so.1";

impl Packages {
    /// The shim as shipped: `<root>/datadog-apm-inject/stable/inject/auto_inject_runc`, a link to
    /// the built `apm-inject` (made on first use).
    pub fn shim(&self) -> PathBuf {
        let path = self.launcher.with_file_name("auto_inject_runc");
        if !path.exists() {
            std::os::unix::fs::symlink(cli(), &path).unwrap();
        }
        path
    }
}

/// A configuration directory with `docker_config.yaml` holding `yaml` plus a debug log in it,
/// for `DD_APM_INSTRUMENTATION_CONFIG_DIR`.
pub struct ShimConfig {
    /// The directory.
    pub dir: tempfile::TempDir,
}

impl ShimConfig {
    /// `docker_config.yaml` = debug logging to `shim.log` beside it, then `yaml`.
    pub fn new(yaml: &str) -> ShimConfig {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("shim.log");
        std::fs::write(
            dir.path().join("docker_config.yaml"),
            format!(
                "log_level: debug\noutput_paths: [{}]\n{yaml}",
                log.display()
            ),
        )
        .unwrap();
        ShimConfig { dir }
    }

    /// The shim's debug log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shim.log")).unwrap_or_default()
    }
}

/// An OCI bundle whose root filesystem holds busybox-static (`sh`, `cat`, …), plus whatever a
/// test copies in; its `config.json` comes from `runc spec`.
pub struct Bundle {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// runc's state directory for this test (`--root` is its `state` subdirectory), outside
    /// the bundle (which a test may make read-only).
    pub state_dir: tempfile::TempDir,
}

impl Bundle {
    /// A bundle whose process is `args`.
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("apm-inject-bundle")
            .tempdir()
            .unwrap();
        let bin = dir.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
        for applet in ["sh", "cat", "env", "ls", "touch", "sleep", "grep", "true"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let spec = Command::new("runc")
            .arg("spec")
            .current_dir(dir.path())
            .output()
            .expect("runc (scripts/install-deps.sh)");
        assert!(spec.status.success(), "runc spec: {spec:?}");
        let state_dir = tempfile::Builder::new()
            .prefix("apm-inject-runc-state")
            .tempdir()
            .unwrap();
        let bundle = Bundle { state_dir, dir };
        bundle.edit(|c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = serde_json::json!(args);
        });
        bundle
    }

    /// runc's state directory (`--root`).
    pub fn state(&self) -> PathBuf {
        self.state_dir.path().join("state")
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `config.json`'s bytes.
    pub fn config(&self) -> Vec<u8> {
        std::fs::read(self.path().join("config.json")).unwrap()
    }

    /// Applies `f` to `config.json`.
    pub fn edit(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let mut config: serde_json::Value = serde_json::from_slice(&self.config()).unwrap();
        f(&mut config);
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
    }

    /// Copies the musl-linked environment probe and musl's loader into the root filesystem,
    /// as `/bin/probe`.
    pub fn add_musl_probe(&self) {
        let rootfs = self.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("lib")).unwrap();
        std::fs::copy(MUSL_LOADER, rootfs.join(&MUSL_LOADER[1..])).unwrap();
        let probe = rootfs.join("bin/probe");
        std::fs::copy(fixture("envprobe-musl"), &probe).unwrap();
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `runtime --root <state> args…` with the shim configuration `config`, run to completion.
    pub fn runtime(&self, runtime: &Path, config: &ShimConfig, args: &[&str]) -> Output {
        crate::run(&mut self.command(runtime, config, args))
    }

    /// `runtime --root <state> args…` for a call whose container outlives it (`create`,
    /// `run --detach`): the container inherits the call's output streams, so they go to the
    /// file `output` in the bundle rather than to pipes that would stay open. Its exit status.
    pub fn runtime_detached(
        &self,
        runtime: &Path,
        config: &ShimConfig,
        args: &[&str],
    ) -> std::process::ExitStatus {
        let output = std::fs::File::create(self.path().join("output")).unwrap();
        self.command(runtime, config, args)
            .stdin(std::process::Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .status()
            .unwrap()
    }

    /// What detached containers and calls wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.path().join("output")).unwrap_or_default()
    }

    fn command(&self, runtime: &Path, config: &ShimConfig, args: &[&str]) -> Command {
        let mut cmd = Command::new(runtime);
        cmd.arg("--root")
            .arg(self.state())
            .args(args)
            .current_dir(self.path())
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", config.dir.path())
            .env_remove("LD_PRELOAD");
        cmd
    }

    /// `runtime run --bundle <bundle> <id>`: the container in the foreground, its output.
    pub fn run(&self, runtime: &Path, config: &ShimConfig, id: &str) -> Output {
        let bundle = self.path().to_str().unwrap().to_owned();
        self.runtime(runtime, config, &["run", "--bundle", &bundle, id])
    }

    /// [`Bundle::run`] in a private mount namespace prepared by `setup`, a shell script run
    /// first with the bundle directory as `$1` (it must `exit 99` if a mount fails).
    pub fn run_in_namespace(
        &self,
        setup: &str,
        runtime: &Path,
        config: &ShimConfig,
        id: &str,
    ) -> Output {
        let bundle = self.path().to_str().unwrap().to_owned();
        let inner = self.command(runtime, config, &["run", "--bundle", &bundle, id]);
        let script = format!("{setup}\nshift\nexec \"$@\"");
        let mut args: Vec<&std::ffi::OsStr> = vec![self.path().as_os_str(), inner.get_program()];
        args.extend(inner.get_args());
        let mut cmd = crate::in_mount_namespace(&script, &args);
        cmd.current_dir(self.path())
            .env("DD_APM_INSTRUMENTATION_CONFIG_DIR", config.dir.path())
            .env_remove("LD_PRELOAD");
        crate::run(&mut cmd)
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Containers left by a failed test: removed with their state.
        if let Ok(entries) = std::fs::read_dir(self.state()) {
            for entry in entries.flatten() {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(self.state())
                    .args(["delete", "--force"])
                    .arg(entry.file_name())
                    .output();
            }
        }
    }
}

/// A private `dockerd` for one test, in a mount namespace of its own whose `/etc`, `/opt` and
/// `/usr` (where install links the CLI, its manual pages and completions) are overlays (upper
/// layers in the test's directory) and whose `/run` is empty: what it and
/// `apm-inject install` (run in the same namespace with [`Dockerd::in_namespace`]) write there
/// never reaches the machine. Own `--data-root`, `--exec-root` and socket,
/// `--iptables=false --bridge=none`; ended by its pid when dropped.
pub struct Dockerd {
    pid: u32,
    child: std::process::Child,
    /// The test's directory: overlays' upper layers, Docker's roots, the socket.
    pub dir: tempfile::TempDir,
    /// The API socket.
    pub socket: PathBuf,
}

/// How long dockerd may take to answer on its socket.
const DOCKERD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(90);

impl Dockerd {
    /// Starts dockerd after writing `docker_config` as the namespace's
    /// `/etc/datadog-agent/inject/docker_config.yaml` (its socket is set to this dockerd's).
    pub fn start(docker_config: &str) -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("apm-inject-docker")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("docker.sock");
        let inject = dir.path().join("etc-upper/datadog-agent/inject");
        std::fs::create_dir_all(&inject).unwrap();
        std::fs::write(
            inject.join("docker_config.yaml"),
            format!("docker_socket: {}\n{docker_config}", socket.display()),
        )
        .unwrap();
        let script = r#"for d in etc opt usr; do
            mkdir -p "$1/$d-upper" "$1/$d-work" || exit 99
            mount -t overlay overlay -o "lowerdir=/$d,upperdir=$1/$d-upper,workdir=$1/$d-work" "/$d" || exit 99
        done
        mount -t tmpfs tmpfs /run || exit 99
        exec dockerd --iptables=false --bridge=none \
            --data-root "$1/data" --exec-root "$1/exec" -H "unix://$1/docker.sock" \
            --pidfile "$1/dockerd.pid" --shutdown-timeout 2 > "$1/dockerd.log" 2>&1"#;
        let child = crate::in_mount_namespace(script, &[dir.path().as_os_str()])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("unshare");
        let dockerd = Dockerd {
            pid: child.id(),
            child,
            dir,
            socket,
        };
        let start = std::time::Instant::now();
        while dockerd.docker(&["version"]).status.code() != Some(0) {
            assert!(
                start.elapsed() < DOCKERD_PATIENCE,
                "dockerd did not start:\n{}",
                dockerd.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        dockerd
    }

    /// dockerd's own output.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// Debian's `docker` CLI on this daemon.
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("/usr/bin/docker");
        cmd.arg("--host")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env_remove("LD_PRELOAD")
            .env("DOCKER_CONFIG", self.dir.path().join("client"));
        cmd
    }

    /// `docker args…`, run to completion.
    pub fn docker(&self, args: &[&str]) -> Output {
        crate::run(&mut self.docker_command(args))
    }

    /// `docker args…`, which must succeed; its standard output.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}\n{}",
            crate::stderr(&out),
            self.log()
        );
        crate::stdout(&out)
    }

    /// `program args…` in dockerd's mount namespace (its `/etc`, `/opt` and `/run`).
    pub fn in_namespace(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.pid.to_string())
            .arg("--mount")
            .arg("--")
            .arg(program)
            .args(args)
            .env_remove("LD_PRELOAD");
        cmd
    }

    /// Writes `content` to `inside` (creating its directory) in dockerd's namespace: an overlay's
    /// upper layer must not be changed from outside while it is mounted.
    pub fn write(&self, inside: &str, content: &[u8]) {
        use std::io::Write;
        let mut child = self
            .in_namespace(
                Path::new("/bin/sh"),
                &[
                    "-c",
                    "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"",
                    "sh",
                    inside,
                ],
            )
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(content).unwrap();
        assert!(child.wait().unwrap().success(), "writing {inside}");
    }

    /// A path of dockerd's namespace as seen from here: its `/etc`, `/opt` or `/usr` upper
    /// layer.
    pub fn upper(&self, inside: &str) -> PathBuf {
        let inside = inside.trim_start_matches('/');
        let (top, rest) = inside.split_once('/').unwrap_or((inside, ""));
        self.dir.path().join(format!("{top}-upper")).join(rest)
    }

    /// Imports the root filesystem `tree` as image `name`.
    pub fn import(&self, tree: &Path, name: &str) {
        let mut cmd = self.docker_command(&["import", "-", name]);
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(tree)
            .args(["-c", "."])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        cmd.stdin(tar.stdout.take().unwrap());
        let out = cmd.output().unwrap();
        assert!(tar.wait().unwrap().success(), "tar of {}", tree.display());
        assert!(out.status.success(), "docker import: {out:?}");
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Containers first, so that their containerd shims exit with them.
        let ids = self.docker(&["ps", "-aq"]);
        for id in crate::stdout(&ids).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        // SAFETY: signals the dockerd this test started (unshare exec'd into it).
        unsafe { libc_kill(self.pid as i32, 15) };
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // containerd shims outlive containerd by design: end those of this daemon (their
        // command line names its directory), by pid.
        for pid in shims_of(self.dir.path()) {
            // SAFETY: a containerd shim started for this test's daemon.
            unsafe { libc_kill(pid, 9) };
        }
    }
}

/// The containerd shims whose command line names `dir`.
fn shims_of(dir: &Path) -> Vec<i32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                c.starts_with(b"/usr/bin/containerd-shim")
                    && c.windows(needle.len()).any(|w| w == needle)
            })
        })
        .collect()
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// The Debian root filesystem with Python and Flask made by `make images`.
pub fn bookworm_tree() -> PathBuf {
    let tree = crate::workspace().join("target/images/bookworm");
    assert!(
        tree.join("usr/bin/python3").exists(),
        "{} is missing: run `make images` (`make test` does)",
        tree.display()
    );
    tree
}
