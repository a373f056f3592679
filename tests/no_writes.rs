//! Nothing is ever written into `/opt/datadog-packages` at run time, and nothing there is
//! group- or world-writable: a file that a root process creates there with a loose umask is
//! code that any local user can plant for root to run.
//!
//! The real packages of `make dist libraries` (ddtrace for CPython 3.9 to 3.13, dd-trace, and
//! the OpenTelemetry Python and Node.js packages, run with `DD_APM_INSTRUMENTATION_SDK=
//! opentelemetry`) and
//! the Ruby bootstrap with the fixture gem are installed with `apm-inject install --root`, as
//! on a host; then instrumented Pythons of every version on this machine (supported ones, and
//! unsupported ones forced with `DD_INJECT_FORCE`), Node.js 18, 20 and 22 and Ruby run as root
//! with umask 000 and 002 and as `nobody`, importing modules that make the tracers load more
//! of themselves, and every Python again with `-O`, `-OO` and `PYTHONOPTIMIZE=2` (each reads,
//! and would write, byte-code of its own level); and the package tree must be byte-identical,
//! with the same modes, owners and times. The installed Python packages lose the bootstrap's
//! byte-code for Python 2.7 and 3.8 first, as a build machine without those would make them:
//! an interpreter the package has no byte-code for must write none either.
//! `PYTHONDONTWRITEBYTECODE`, which these machines export, is removed: real hosts do not set
//! it, and it hides byte-code writes.
#![forbid(unsafe_code)]

use apm_inject_tests::tracers::{dist_library, dist_package, free_port, npm_node};
use apm_inject_tests::{
    as_nobody, cli, lay_out_lib_directories, run, source_fixture, stderr, workspace,
};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Python's program: standard modules that ddtrace patches when they are imported (each pulls
/// in more of ddtrace), a subprocess and a query.
const PYTHON_WORK: &str = "\
import json, logging, sqlite3, subprocess, threading, http.client, urllib.request, asyncio
logging.getLogger('x').warning('')
sqlite3.connect(':memory:').execute('select 1').fetchall()
subprocess.run(['true'])
print('ran')";

/// The same for interpreters the package does not trace (Python 2.7 included): only the
/// bootstrap runs there.
const PYTHON_2_WORK: &str = "import json, logging, sqlite3\nprint('ran')";

/// How a Python is told to optimise, each reading byte-code of its own level (`.pyc`,
/// `.opt-1.pyc`, `.opt-2.pyc`): an option, or the value of `PYTHONOPTIMIZE`.
const OPTIMISATIONS: [(Option<&str>, Option<&str>); 4] = [
    (None, None),
    (Some("-O"), None),
    (Some("-OO"), None),
    (None, Some("2")),
];

/// The interpreters a build machine lacked, in [`forget_byte_code`]: Python 2.7 and 3.8.
const LACKED: [&str; 2] = ["py2", "cpython-38"];

/// Node.js's program: modules dd-trace instruments.
const NODE_WORK: &str = "\
const http = require('http'); require('child_process').execFileSync('true');
require('dns'); require('net'); require('fs'); console.log('ran')";

/// A host root with the packages installed by `apm-inject install --root`.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    /// Installs the dist tree's packages (injector, Python, Node.js) and a Ruby package (the
    /// real bootstrap, the fixture gem) into a fresh root.
    fn install() -> Host {
        let dir = tempfile::Builder::new()
            .prefix("apm-inject-no-writes")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // The packages to ship, linked from the dist tree (no copy of 300 MB), plus Ruby.
        let shipped = dir.path().join("shipped");
        let inject = shipped.join("datadog-apm-inject/1.0.0/inject");
        std::fs::create_dir_all(&inject).unwrap();
        std::fs::hard_link(
            workspace().join("target/release/liblauncher_preload.so"),
            inject.join("launcher.preload.so"),
        )
        .unwrap();
        std::fs::hard_link(cli(), inject.join("apm-inject")).unwrap();
        lay_out_lib_directories(&inject);
        std::os::unix::fs::symlink("1.0.0", shipped.join("datadog-apm-inject/stable")).unwrap();
        let otel =
            ["python", "js"].map(|l| dist_package(&format!("opentelemetry-apm-library-{l}")));
        for package in ["python", "js"].map(dist_library).into_iter().chain(otel) {
            let ok = Command::new("cp")
                .arg("-al")
                .arg(package)
                .arg(&shipped)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        ruby_package(&shipped.join("datadog-apm-library-ruby"));
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let out = run(Command::new(inject.join("apm-inject"))
            .args(["install", "--root"])
            .arg(&root));
        assert!(out.status.success(), "install: {}", stderr(&out));
        Host { dir }
    }

    /// `<root>/opt/datadog-packages`.
    fn packages(&self) -> PathBuf {
        self.dir.path().join("root/opt/datadog-packages")
    }

    /// `python [option] -c program` under the installed launcher, with `PYTHONOPTIMIZE` set
    /// to `optimise` if given.
    fn python(
        &self,
        umask: &str,
        python: &Path,
        (option, optimise): (Option<&str>, Option<&str>),
        program: &str,
    ) -> Command {
        let args: Vec<&str> = option.into_iter().chain(["-c", program]).collect();
        let mut cmd = self.command(umask, python, &args);
        if let Some(level) = optimise {
            cmd.env("PYTHONOPTIMIZE", level);
        }
        cmd
    }

    /// `program args…` under the installed launcher, in a host's plain environment (no
    /// `PYTHONDONTWRITEBYTECODE`), with the file creation mask `umask`, reporting to no agent.
    fn command(&self, umask: &str, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "umask \"$0\" && exec \"$@\"", umask])
            .arg(program)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", "/tmp")
            .env(
                "DD_TRACE_AGENT_URL",
                format!("http://127.0.0.1:{}", free_port()),
            )
            .env(
                "LD_PRELOAD",
                self.packages()
                    .join("datadog-apm-inject/stable/inject/launcher.preload.so"),
            )
            .current_dir("/tmp");
        cmd
    }
}

/// Removes from the installed Python `package` the bootstrap's byte-code for the interpreters
/// of [`LACKED`], as a build machine without them would have left it: every byte-code file
/// outside the SDK's own directories (`*_pkgs`) whose cache tag is theirs, and for Python 2
/// the `.pyc` and `.pyo` files beside their sources. Returns how many it removed.
fn forget_byte_code(package: &Path) -> usize {
    let mut removed = 0;
    let mut pending = vec![package.join("stable/")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() && !name.ends_with("_pkgs") {
                pending.push(path);
                continue;
            }
            let in_cache = dir.file_name().is_some_and(|d| d == "__pycache__");
            let lacked = LACKED.iter().any(|tag| match *tag {
                "py2" => !in_cache && (name.ends_with(".pyc") || name.ends_with(".pyo")),
                tag => in_cache && name.contains(&format!(".{tag}.")),
            });
            if meta.is_file() && lacked {
                std::fs::remove_file(&path).unwrap();
                removed += 1;
            }
        }
    }
    removed
}

/// A Ruby library package as a build would lay it out: the bootstrap and the fixture tracer
/// gem under `gems/` (RubyGems is not reachable from these machines).
fn ruby_package(package: &Path) {
    let version = package.join("1.0.0");
    std::fs::create_dir_all(&version).unwrap();
    std::fs::copy(
        workspace().join("libraries/ruby/host_inject.rb"),
        version.join("host_inject.rb"),
    )
    .unwrap();
    let build = package.join("gem-build");
    let ok = |cmd: &mut Command| assert!(run(cmd).status.success(), "{cmd:?}");
    ok(Command::new("cp")
        .arg("-r")
        .arg(source_fixture("datadog-gem"))
        .arg(&build));
    ok(Command::new("gem")
        .args(["build", "datadog.gemspec"])
        .current_dir(&build));
    ok(Command::new("gem")
        .args(["install", "--local", "--no-document", "--install-dir"])
        .arg(version.join("gems"))
        .arg(build.join("datadog-0.0.1.gem")));
    std::fs::remove_dir_all(&build).unwrap();
    std::os::unix::fs::symlink("1.0.0", package.join("stable")).unwrap();
}

/// Every entry under `dir` (links not followed): type, mode, owner, size, time and a hash of
/// the contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let content = if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
            0
        } else if meta.is_file() {
            let mut hasher = DefaultHasher::new();
            hasher.write(&std::fs::read(&path).unwrap());
            hasher.finish()
        } else {
            0
        };
        let description = format!(
            "mode {:o} owner {}:{} size {} mtime {}.{} ctime {}.{} content {content:x}",
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        );
        entries.insert(path, description);
    }
    entries
}

/// Entries (not links) that the group or others may write.
fn writable_by_others(tree: &BTreeMap<PathBuf, String>) -> Vec<&PathBuf> {
    tree.keys()
        .filter(|path| {
            let meta = std::fs::symlink_metadata(path).unwrap();
            !meta.file_type().is_symlink() && meta.mode() & 0o022 != 0
        })
        .collect()
}

/// What changed between two snapshots.
fn differences(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
) -> Vec<String> {
    let mut changed = Vec::new();
    for (path, was) in before {
        match after.get(path) {
            None => changed.push(format!("removed {}", path.display())),
            Some(now) if now != was => {
                changed.push(format!("changed {}: {was} -> {now}", path.display()))
            }
            Some(_) => {}
        }
    }
    for (path, now) in after {
        if !before.contains_key(path) {
            changed.push(format!("created {}: {now}", path.display()));
        }
    }
    changed
}

/// pyenv's interpreters, e.g. `/root/.pyenv/versions/3.12.1/bin/python3.12`, and
/// `/usr/bin/python3`, each with whether the package supports it (CPython 3.9 to 3.13).
fn pythons() -> Vec<(PathBuf, bool)> {
    let versions = Path::new("/root/.pyenv/versions");
    let mut found = vec![(PathBuf::from("/usr/bin/python3"), true)];
    for entry in std::fs::read_dir(versions).unwrap_or_else(|e| panic!("{versions:?}: {e}")) {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let minor: Vec<&str> = name.split('.').take(2).collect();
        let program = dir.join("bin").join(format!("python{}", minor.join(".")));
        let supported = matches!(minor[..], ["3", "9" | "10" | "11" | "12" | "13"]);
        found.push((program, supported));
    }
    assert!(found.len() >= 6, "pyenv's Pythons are missing: {found:?}");
    found
}

/// Runs `cmd` (as root, or as `nobody`) and checks it ran to the end.
fn run_app(mut cmd: Command, nobody: bool, what: &str) {
    if nobody {
        as_nobody(&mut cmd);
    }
    let out = run(&mut cmd);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ran"),
        "{what}: {:?}\n{}",
        out.status,
        stderr(&out)
    );
}

#[test]
fn instrumented_runtimes_never_write_into_the_packages() {
    let host = Host::install();
    for package in ["datadog", "opentelemetry"] {
        let package = host
            .packages()
            .join(format!("{package}-apm-library-python"));
        assert!(forget_byte_code(&package) > 0, "{}", package.display());
    }
    let before = snapshot(&host.packages());
    assert_eq!(
        writable_by_others(&before),
        Vec::<&PathBuf>::new(),
        "installed writable"
    );
    let ruby_app = host.dir.path().join("app.rb");
    std::fs::write(&ruby_app, "require 'json'\nputs 'ran'\n").unwrap();
    std::fs::set_permissions(&ruby_app, std::fs::Permissions::from_mode(0o644)).unwrap();
    let node20 = PathBuf::from("/usr/bin/node");
    let every_python: Vec<PathBuf> = pythons().into_iter().map(|(p, _)| p).collect();
    for (umask, nobody) in [("000", false), ("002", false), ("000", true)] {
        let who = if nobody { "nobody" } else { "root" };
        // pyenv lives under /root, which `nobody` cannot enter: Debian's Python stands for all.
        let pythons = match nobody {
            true => vec![(PathBuf::from("/usr/bin/python3"), true)],
            false => pythons(),
        };
        // Each way to optimise once: which byte-code is read does not depend on the umask.
        let optimisations = match (umask, nobody) {
            ("000", false) => &OPTIMISATIONS[..],
            _ => &OPTIMISATIONS[..1],
        };
        for (python, supported) in pythons {
            let work = if supported {
                PYTHON_WORK
            } else {
                PYTHON_2_WORK
            };
            for &optimisation in optimisations {
                let mut cmd = host.python(umask, &python, optimisation, work);
                if !supported {
                    cmd.env("DD_INJECT_FORCE", "1");
                }
                let what = format!(
                    "{} {optimisation:?} as {who}, umask {umask}",
                    python.display()
                );
                run_app(cmd, nobody, &what);
            }
        }
        for node in [node20.clone(), npm_node(18), npm_node(22)] {
            let cmd = host.command(umask, &node, &["-e", NODE_WORK]);
            run_app(
                cmd,
                nobody,
                &format!("{} as {who}, umask {umask}", node.display()),
            );
        }
        // The OpenTelemetry SDKs, every Python forced (the package serves 3.10 to 3.13).
        let otel_pythons: Vec<PathBuf> = match nobody {
            true => vec![PathBuf::from("/usr/bin/python3")],
            false => every_python.clone(),
        };
        let mut apps = Vec::new();
        for python in &otel_pythons {
            for &optimisation in optimisations {
                let cmd = host.python(umask, python, optimisation, PYTHON_2_WORK);
                apps.push((cmd, format!("{} {optimisation:?}", python.display())));
            }
        }
        let node = npm_node(22);
        let cmd = host.command(umask, &node, &["-e", NODE_WORK]);
        apps.push((cmd, node.display().to_string()));
        for (mut cmd, program) in apps {
            cmd.env("DD_APM_INSTRUMENTATION_SDK", "opentelemetry")
                .env("DD_INJECT_FORCE", "1");
            for signal in ["TRACES", "METRICS", "LOGS"] {
                cmd.env(format!("OTEL_{signal}_EXPORTER"), "none");
            }
            let what = format!("{program} (OpenTelemetry) as {who}, umask {umask}");
            run_app(cmd, nobody, &what);
        }
        let ruby = PathBuf::from("/usr/bin/ruby");
        let cmd = host.command(umask, &ruby, &[ruby_app.to_str().unwrap()]);
        run_app(cmd, nobody, &format!("ruby as {who}, umask {umask}"));
    }
    let after = snapshot(&host.packages());
    let changed = differences(&before, &after);
    assert!(
        changed.is_empty(),
        "{} changes in the package tree:\n{}",
        changed.len(),
        changed[..changed.len().min(40)].join("\n")
    );
    assert_eq!(writable_by_others(&after), Vec::<&PathBuf>::new());
}

#[test]
fn every_packaged_python_file_has_byte_code_for_its_interpreter() {
    let packages = [
        (dist_library("python"), "ddtrace_pkgs"),
        (
            dist_package("opentelemetry-apm-library-python"),
            "opentelemetry_pkgs",
        ),
    ];
    for (package, sdk_dir) in packages {
        let package = package.join("stable");
        // The entry point has none, and none can be written for it: a `__pycache__` file, and
        // directories where Python 2 would write.
        assert!(package.join("__pycache__").is_file());
        for py2 in ["sitecustomize.pyc", "sitecustomize.pyo"] {
            assert!(package.join(py2).is_dir(), "{py2}");
        }
        let bootstrap = package.join("sitecustomize.d/_apm_inject_bootstrap.py");
        for (python, supported) in pythons() {
            let tag = run(Command::new(&python).args([
                "-c",
                "import sys; print(getattr(getattr(sys, 'implementation', None), 'cache_tag', 'py2'))",
            ]));
            let tag = String::from_utf8_lossy(&tag.stdout).trim().to_owned();
            let missing: Vec<PathBuf> = byte_code(&bootstrap, &tag)
                .into_iter()
                .filter(|pyc| !pyc.is_file())
                .collect();
            assert!(missing.is_empty(), "{}: {missing:?}", python.display());
            if !supported || tag == "py2" {
                continue;
            }
            let abi = run(Command::new(&python).args([
                "-c",
                "import importlib.machinery as m; print(m.EXTENSION_SUFFIXES[0][1:-3])",
            ]));
            let abi = String::from_utf8_lossy(&abi.stdout).trim().to_owned();
            let site = package.join(sdk_dir).join(&abi);
            // The OpenTelemetry distro starts at CPython 3.10 (its supported_runtimes.json).
            if sdk_dir == "opentelemetry_pkgs" && !site.is_dir() {
                continue;
            }
            let missing: Vec<PathBuf> = walk_py(&site)
                .iter()
                .flat_map(|py| byte_code(py, &tag))
                .filter(|pyc| !pyc.is_file())
                .collect();
            assert!(
                missing.is_empty(),
                "{abi}: {} byte-code files missing, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
        }
    }
}

/// Where the interpreter of cache tag `tag` (e.g. `cpython-311`, or `py2`) reads the byte-code
/// of `py` at each optimisation level: `__pycache__/x.cpython-311.pyc`, `.opt-1.pyc` and
/// `.opt-2.pyc`; for Python 2 `x.pyc` and `x.pyo` beside the source.
fn byte_code(py: &Path, tag: &str) -> Vec<PathBuf> {
    let stem = py.file_stem().unwrap().to_string_lossy();
    let dir = py.parent().unwrap();
    match tag {
        "py2" => ["pyc", "pyo"].map(|e| py.with_extension(e)).to_vec(),
        tag => ["", ".opt-1", ".opt-2"]
            .map(|level| dir.join(format!("__pycache__/{stem}.{tag}{level}.pyc")))
            .to_vec(),
    }
}

/// Every `.py` file under `dir`.
fn walk_py(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "py") {
                found.push(path);
            }
        }
    }
    found
}
