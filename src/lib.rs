//! Support for the end-to-end tests in `tests/`: the built artifacts, the fixtures built by
//! `build.rs`, and throw-away package trees laid out like `/opt/datadog-packages`.
//!
//! The tests exercise the release build (`make test` builds it first): the library as
//! shipped, not a debug variant.
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod collector;
pub mod containers;
pub mod kube;
pub mod kubelet;
pub mod tracers;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Version directory used in test package trees.
pub const VERSION: &str = "0.0.0-test";

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Directory of the fixtures built by `build.rs` (probes, Go program, agent jar).
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("APM_FIXTURES")).join(name);
    assert!(path.exists(), "fixture {} missing", path.display());
    path
}

/// A source fixture from `tests/fixtures`.
pub fn source_fixture(name: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(name)
}

fn release_artifact(name: &str) -> PathBuf {
    let path = workspace().join("target/release").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `make test` (it builds the release artifacts first)",
        path.display()
    );
    path
}

/// The built `launcher.preload.so`.
pub fn built_library() -> PathBuf {
    release_artifact("liblauncher_preload.so")
}

/// Lays out the `$LIB` directories of `inject` (which holds `launcher.preload.so`) with
/// `make dist`'s own script.
pub fn lay_out_lib_directories(inject: &Path) {
    let out = run(Command::new("/usr/bin/python3")
        .arg(workspace().join("scripts/noop_preload.py"))
        .arg(inject));
    assert!(out.status.success(), "noop_preload.py: {}", stderr(&out));
}

/// The built `apm-inject` CLI.
pub fn cli() -> PathBuf {
    release_artifact("apm-inject")
}

/// A package tree in a temporary directory:
/// `<dir>/opt/datadog-packages/datadog-apm-inject/<VERSION>/inject/launcher.preload.so` (and its
/// `$LIB` directories with the no-op objects, as `make dist` lays them out) with a `stable` link, plus whichever library packages a test installs. Everything is world-readable
/// so that tests may run programs as an unprivileged user.
pub struct Packages {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// `<dir>/opt/datadog-packages`.
    pub root: PathBuf,
    /// The launcher, through the `stable` link.
    pub launcher: PathBuf,
    /// The injector's version directory name.
    pub version: String,
}

impl Packages {
    /// A tree with the injector only.
    pub fn new() -> Packages {
        Packages::versioned(VERSION)
    }

    /// A tree with the injector only, at version `version`.
    pub fn versioned(version: &str) -> Packages {
        let dir = tempfile::Builder::new()
            .prefix("apm-inject-test")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("opt/datadog-packages");
        let inject = root.join("datadog-apm-inject").join(version).join("inject");
        std::fs::create_dir_all(&inject).unwrap();
        std::fs::copy(built_library(), inject.join("launcher.preload.so")).unwrap();
        lay_out_lib_directories(&inject);
        std::os::unix::fs::symlink(version, root.join("datadog-apm-inject/stable")).unwrap();
        let launcher = root.join("datadog-apm-inject/stable/inject/launcher.preload.so");
        let packages = Packages {
            dir,
            root,
            launcher,
            version: version.to_string(),
        };
        packages.open_up();
        packages
    }

    /// A tree with the injector and fixture libraries for Java, Node.js (the real bootstrap
    /// with a fixture dd-trace), Python, Ruby, PHP and .NET.
    pub fn with_libraries() -> Packages {
        let p = Packages::new();
        p.install(
            "java",
            &[("dd-java-agent.jar", &fixture("dd-java-agent.jar"))],
        );
        // The real bootstrap, in front of a fixture tracer.
        let bootstrap = workspace().join("libraries/js");
        p.install(
            "js",
            &[
                ("bootstrap.cjs", &bootstrap.join("bootstrap.cjs")),
                ("bootstrap.mjs", &bootstrap.join("bootstrap.mjs")),
                (
                    "node_modules/dd-trace/init.js",
                    &source_fixture("dd-trace/init.js"),
                ),
                (
                    "node_modules/dd-trace/initialize.mjs",
                    &source_fixture("dd-trace/initialize.mjs"),
                ),
            ],
        );
        p.install(
            "python",
            &[("sitecustomize.py", &source_fixture("sitecustomize.py"))],
        );
        p.install(
            "ruby",
            &[("host_inject.rb", &source_fixture("host_inject.rb"))],
        );
        let ini = source_fixture("php-loader/datadog.ini");
        p.install(
            "php",
            &[
                ("linux-gnu/loader/datadog.ini", &ini),
                ("linux-musl/loader/datadog.ini", &ini),
            ],
        );
        // .NET cannot be installed here: any file stands for the profiler library.
        p.install("dotnet", &[("Datadog.Trace.ClrProfiler.Native.so", &ini)]);
        // The versions the real tracers support (`make libraries` writes these files for Java,
        // Node.js and Python from the tracers' metadata).
        for (lang, min, max) in [
            ("java", "8", None),
            ("js", "18", Some("26")),
            ("python", "3.9", Some("3.13")),
            ("php", "7.0", None),
            ("dotnet", "3.1", None),
        ] {
            let max = max.map_or(String::new(), |max| format!(r#","max":"{max}""#));
            let text = format!(r#"{{"version":1,"tracers":[{{"dir":".","min":"{min}"{max}}}]}}"#);
            p.write(lang, "supported_runtimes.json", &text);
        }
        p
    }

    /// Writes `text` as `relative` into library package `lang` (installed before), mode 0644.
    pub fn write(&self, lang: &str, relative: &str, text: &str) {
        let path = self.library(lang).join(relative);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// Installs library package `lang` (`java`, `js`, `python`, …) with `files`
    /// (path inside the package, source file).
    pub fn install(&self, lang: &str, files: &[(&str, &Path)]) {
        self.install_package(&format!("datadog-apm-library-{lang}"), files);
    }

    /// Installs the OpenTelemetry library package `lang` with `files`, as [`Packages::install`].
    pub fn install_opentelemetry(&self, lang: &str, files: &[(&str, &Path)]) {
        self.install_package(&format!("opentelemetry-apm-library-{lang}"), files);
    }

    /// Installs package `name` (version 1.0.0, `stable` linked to it) with `files`.
    fn install_package(&self, name: &str, files: &[(&str, &Path)]) {
        let package = self.root.join(name);
        let version = package.join("1.0.0");
        for (relative, source) in files {
            let target = version.join(relative);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(source, &target).unwrap();
        }
        std::fs::create_dir_all(&version).unwrap();
        if !package.join("stable").exists() {
            std::os::unix::fs::symlink("1.0.0", package.join("stable")).unwrap();
        }
        self.open_up();
    }

    /// The injector's version directory, `<root>/datadog-apm-inject/<version>`.
    pub fn inject_dir(&self) -> PathBuf {
        self.root.join("datadog-apm-inject").join(&self.version)
    }

    /// The `apm-inject` CLI in the injector package, as shipped: `install` takes the packages
    /// from around it. A hard link to the built CLI (made on first use), so that no descriptor
    /// open for writing exists that a concurrent test's fork could inherit, which would make
    /// executing it fail with "Text file busy"; a copy only across filesystems.
    pub fn shipped_cli(&self) -> PathBuf {
        let path = self.inject_dir().join("inject/apm-inject");
        if !path.exists() && std::fs::hard_link(cli(), &path).is_err() {
            std::fs::copy(cli(), &path).unwrap();
            self.open_up();
        }
        path
    }

    /// Directory of library package `lang` as the launcher names it.
    pub fn library(&self, lang: &str) -> PathBuf {
        self.root.join(format!("datadog-apm-library-{lang}/stable"))
    }

    /// A command with the launcher in `LD_PRELOAD`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("LD_PRELOAD", &self.launcher);
        cmd
    }

    fn open_up(&self) {
        let status = Command::new("chmod")
            .arg("-R")
            .arg("a+rX")
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Default for Packages {
    fn default() -> Self {
        Packages::new()
    }
}

/// pyenv's `python<version>`, e.g. `/root/.pyenv/versions/3.12.1/bin/python3.12`.
pub fn pyenv(version: &str) -> PathBuf {
    let versions = Path::new("/root/.pyenv/versions");
    let found = std::fs::read_dir(versions)
        .unwrap_or_else(|e| panic!("{}: {e}", versions.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path().join("bin").join(format!("python{version}")))
        .find(|path| path.exists());
    found.unwrap_or_else(|| panic!("no python{version} under {}", versions.display()))
}

/// Runs `cmd` with stdin closed and a 120 s limit; panics if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(std::process::Stdio::null());
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // A program copied just now may be "busy" while a concurrent test's fork still holds the
    // copy's descriptor: retry briefly.
    let mut attempts = 0;
    let child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(26) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")),
        }
    };
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        // Only a time-out kills: when the child is done the sender is dropped (disconnected),
        // and its pid may already belong to another process.
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(std::time::Duration::from_secs(120))
        {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    });
    let output = child.wait_with_output().unwrap();
    drop(tx);
    let _ = watchdog.join();
    output
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Copies `source` to `dir/name` as an executable (e.g. a probe named `node`).
pub fn install_as(source: &Path, dir: &Path, name: &str) -> PathBuf {
    let target = dir.join(name);
    std::fs::copy(source, &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    target
}

/// The names in directory `dir`, sorted, e.g. `["1.0.0", "stable"]` for a package directory.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A command that runs `sh -c script sh args...` in a private mount namespace: mounts made by
/// the script are invisible outside it and vanish with it. The script must `exit 99` if a mount
/// fails, before touching anything.
pub fn in_mount_namespace(script: &str, args: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ])
    .args(args);
    cmd
}

/// A command that runs `program args...` with overlays on `/etc` and `/opt` (upper layers in
/// `scratch`), so that it may install into the host's real paths: the machine's files are never
/// touched.
pub fn private_host(scratch: &Path, program: &[&std::ffi::OsStr]) -> Command {
    let script = r#"for dir in etc opt; do
        mkdir -p "$1/$dir-upper" "$1/$dir-work" || exit 99
        mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$1/$dir-upper,workdir=$1/$dir-work" "/$dir" || exit 99
    done
    shift
    exec "$@""#;
    let mut args = vec![scratch.as_os_str()];
    args.extend_from_slice(program);
    in_mount_namespace(script, &args)
}

/// A command that runs `program args...` in a private mount namespace whose `/etc` and `/opt`
/// are overlays, with `/etc/ld.so.preload` listing `launcher`: the real file is never touched.
pub fn with_ld_so_preload(
    scratch: &Path,
    launcher: &Path,
    program: &[&std::ffi::OsStr],
) -> Command {
    let upper = scratch.join("etc-upper");
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::write(
        upper.join("ld.so.preload"),
        format!("{}\n", launcher.display()),
    )
    .unwrap();
    private_host(scratch, program)
}

/// An empty system root for `apm-inject install --root`: a temporary directory with `etc/`.
pub fn system_root() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("apm-inject-root")
        .tempdir()
        .unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    dir
}

/// `cli args...` under umask 077 (what it installs must not depend on it), without the
/// caller's `LD_PRELOAD` or debug log destinations.
pub fn apm_inject(cli: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 077; exec \"$@\"", "sh"])
        .arg(cli)
        .args(args)
        .env_remove("LD_PRELOAD")
        .env_remove("DD_APM_INSTRUMENTATION_OUTPUT_PATHS");
    cmd
}

impl Packages {
    /// The baseline for "with and without the library": a tree laid out like
    /// [`Packages::with_libraries`] whose `launcher.preload.so` is the empty preload library.
    /// Its paths have the same length as any other tree's, so outputs that name the tree (the
    /// `LD_PRELOAD=` line `env` prints) compare equal after [`Packages::normalise`].
    pub fn baseline() -> Packages {
        let p = Packages::with_libraries();
        std::fs::copy(fixture("empty-preload.so"), &p.launcher).unwrap();
        p
    }

    /// `output` with every mention of this tree's directory replaced by `<packages>`.
    pub fn normalise(&self, output: &Output) -> Output {
        let dir = self.dir.path().as_os_str().as_encoded_bytes();
        let replace = |bytes: &[u8]| {
            let mut out = Vec::with_capacity(bytes.len());
            let mut rest = bytes;
            while !rest.is_empty() {
                if rest.starts_with(dir) {
                    out.extend_from_slice(b"<packages>");
                    rest = &rest[dir.len()..];
                } else {
                    out.push(rest[0]);
                    rest = &rest[1..];
                }
            }
            out
        };
        Output {
            status: output.status,
            stdout: replace(&output.stdout),
            stderr: replace(&output.stderr),
        }
    }
}

extern "C" {
    fn setsid() -> i32;
    fn kill(pid: i32, signal: i32) -> i32;
    fn setgroups(size: usize, list: *const u32) -> i32;
    fn setgid(gid: u32) -> i32;
    fn setuid(uid: u32) -> i32;
    fn signal(signum: i32, handler: usize) -> usize;
    fn close(fd: i32) -> i32;
}

/// `nobody`'s user and group id.
pub const NOBODY: u32 = 65534;

/// Makes `cmd` run as `nobody` (no supplementary groups).
pub fn as_nobody(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if setgroups(0, std::ptr::null()) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Makes `cmd` start with `SIGCHLD` ignored (an ignored disposition survives `execve`).
pub fn with_sigchld_ignored(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    const SIGCHLD: i32 = 17;
    const SIG_IGN: usize = 1;
    // SAFETY: `signal` is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            signal(SIGCHLD, SIG_IGN);
            Ok(())
        })
    }
}

/// Makes `cmd` start with descriptors 0, 1 and 2 closed.
pub fn with_std_fds_closed(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: `close` is async-signal-safe; runs after the standard streams were set up.
    unsafe {
        cmd.pre_exec(|| {
            for fd in 0..3 {
                close(fd);
            }
            Ok(())
        })
    }
}

/// Runs `cmd` in a session of its own (no controlling terminal) with stdin closed; after
/// `limit` the whole process group is killed and `None` returned.
pub fn run_limited(cmd: &mut Command, limit: std::time::Duration) -> Option<Output> {
    use std::os::unix::process::CommandExt;
    // SAFETY: `setsid` is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            setsid();
            Ok(())
        });
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = spawn_retrying(cmd);
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let expired = matches!(
            rx.recv_timeout(limit),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        if expired {
            // SAFETY: kills the child's process group (the child leads it after `setsid`).
            unsafe { kill(-pid, 9) };
        }
        expired
    });
    let output = child.wait_with_output().unwrap();
    drop(tx);
    let timed_out = watchdog.join().unwrap();
    (!timed_out).then_some(output)
}

/// Starts `cmd`, retrying while the executable is "busy" (a copy made just now may still be
/// held open for writing by a concurrent test's fork).
pub fn spawn_retrying(cmd: &mut Command) -> std::process::Child {
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(26) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")),
        }
    }
}

/// Everything under `dir`, one line per entry in path order: kind, mode, owner, size, a hash
/// of the content (files) or the target (links), e.g.
/// `f 644 0:0 12 9f3a… opt/datadog-packages/x`. Two equal snapshots are the same tree.
pub fn snapshot(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let relative = path.strip_prefix(base).unwrap().display().to_string();
            let (kind, content) = if meta.is_dir() {
                ('d', Vec::new())
            } else if meta.file_type().is_symlink() {
                (
                    'l',
                    std::fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_vec(),
                )
            } else {
                ('f', std::fs::read(&path).unwrap())
            };
            out.push(format!(
                "{kind} {:o} {}:{} {} {:016x} {relative}",
                meta.mode() & 0o7777,
                meta.uid(),
                meta.gid(),
                content.len(),
                fnv1a(&content)
            ));
            if meta.is_dir() {
                walk(base, &path, out);
            }
        }
    }
    use std::os::unix::ffi::OsStringExt;
    let mut lines = Vec::new();
    walk(dir, dir, &mut lines);
    lines.join("\n")
}

/// A 64-bit FNV-1a hash: enough to tell contents apart in [`snapshot`].
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// Waits (at most a minute, else panics) until process `pid` sleeps in `nanosleep` or
/// `clock_nanosleep`: its program is running, so the library's constructor has finished with
/// it. A synchronisation point for tests that look at running processes, instead of a delay.
pub fn wait_until_asleep(pid: u32) {
    const NANOSLEEP: &str = "35";
    const CLOCK_NANOSLEEP: &str = "230";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        if matches!(syscall.split(' ').next(), Some(NANOSLEEP | CLOCK_NANOSLEEP)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} never went to sleep (system call: {syscall})"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
