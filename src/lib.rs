//! Support for the end-to-end tests in `tests/`: the built artifacts, the fixtures built by
//! `build.rs`, and throw-away package trees laid out like `/opt/datadog-packages`.
//!
//! The tests exercise the release build (`make test` builds it first): the library as
//! shipped, not a debug variant.

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

/// The built `apm-inject` CLI.
pub fn cli() -> PathBuf {
    release_artifact("apm-inject")
}

/// A package tree in a temporary directory:
/// `<dir>/opt/datadog-packages/datadog-apm-inject/<VERSION>/inject/launcher.preload.so` with a
/// `stable` link, plus whichever library packages a test installs. Everything is world-readable
/// so that tests may run programs as an unprivileged user.
pub struct Packages {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// `<dir>/opt/datadog-packages`.
    pub root: PathBuf,
    /// The launcher, through the `stable` link.
    pub launcher: PathBuf,
}

impl Packages {
    /// A tree with the injector only.
    pub fn new() -> Packages {
        let dir = tempfile::Builder::new()
            .prefix("apm-inject-test")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("opt/datadog-packages");
        let inject = root.join("datadog-apm-inject").join(VERSION).join("inject");
        std::fs::create_dir_all(&inject).unwrap();
        std::fs::copy(built_library(), inject.join("launcher.preload.so")).unwrap();
        std::os::unix::fs::symlink(VERSION, root.join("datadog-apm-inject/stable")).unwrap();
        let launcher = root.join("datadog-apm-inject/stable/inject/launcher.preload.so");
        let packages = Packages {
            dir,
            root,
            launcher,
        };
        packages.open_up();
        packages
    }

    /// A tree with the injector and fixture libraries for Java, Node.js and Python.
    pub fn with_libraries() -> Packages {
        let p = Packages::new();
        p.install(
            "java",
            &[("dd-java-agent.jar", &fixture("dd-java-agent.jar"))],
        );
        p.install(
            "js",
            &[(
                "node_modules/dd-trace/init.js",
                &source_fixture("dd-trace/init.js"),
            )],
        );
        p.install(
            "python",
            &[("sitecustomize.py", &source_fixture("sitecustomize.py"))],
        );
        p
    }

    /// Installs library package `lang` (`java`, `js`, `python`, …) with `files`
    /// (path inside the package, source file).
    pub fn install(&self, lang: &str, files: &[(&str, &Path)]) {
        let package = self.root.join(format!("datadog-apm-library-{lang}"));
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
        // Only on time-out: once the sender is gone the child has been reaped, and its pid
        // may already belong to another process.
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

/// A command that runs `program args...` in a private mount namespace whose `/etc` is an
/// overlay with `/etc/ld.so.preload` listing `launcher`: the real file is never touched.
pub fn with_ld_so_preload(
    scratch: &Path,
    launcher: &Path,
    program: &[&std::ffi::OsStr],
) -> Command {
    let upper = scratch.join("etc-upper");
    let work = scratch.join("etc-work");
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        upper.join("ld.so.preload"),
        format!("{}\n", launcher.display()),
    )
    .unwrap();
    let script = r#"mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 99; shift 2; exec "$@""#;
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
    .arg(&upper)
    .arg(&work)
    .args(program);
    cmd
}
