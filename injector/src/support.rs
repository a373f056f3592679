//! Which installed tracer supports which runtime on this host, for `doctor`: each runtime
//! found on the host (the first `java`, `node`, `python3`, `ruby`, `php`, `dotnet` executable
//! in `PATH`, then `/usr/local/bin` and `/usr/bin`; scripts such as pyenv's shims are passed
//! over), the launcher's own decision for a typical application command, and what the
//! library package itself requires where that is known: a ddtrace build for the Python ABI,
//! the Node.js versions in dd-trace's `engines`.

use crate::explain;
use crate::layout::Root;
use analyzer::{Outcome, Process, Reason, Runtime};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a runtime may take to say its version.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// Where runtimes are looked for after `PATH`.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin";

/// What a runtime on this host gets.
pub enum Support {
    /// Traced: what by, e.g. `datadog-apm-library-python 4.16.0 (cpython-311-x86_64-linux-gnu)`.
    Traced(String),
    /// Not traced, and why; something to look at.
    NotTraced(String),
    /// Nothing to check: no such runtime, or no library package for it.
    NotApplicable(String),
}

/// One line per runtime: (runtime name, what it gets).
pub fn runtimes(root: &Root) -> Vec<(&'static str, Support)> {
    Runtime::ALL
        .into_iter()
        .map(|runtime| (runtime.name(), support(root, runtime)))
        .collect()
}

fn support(root: &Root, runtime: Runtime) -> Support {
    let (program, arguments) = typical_command(runtime);
    let Some(exe) = find(program) else {
        return Support::NotApplicable(format!("no {program} found"));
    };
    let shown = format!("{program} ({})", exe.display());
    let mut args: Vec<&[u8]> = vec![exe.as_os_str().as_bytes()];
    args.extend(arguments.iter().map(|a| a.as_bytes()));
    let env: [&[u8]; 1] = [b"PATH=/usr/local/bin:/usr/bin:/bin"];
    let process = Process {
        exe: exe.as_os_str().as_bytes(),
        args,
        env: env.to_vec(),
        cwd: Some(b"/"),
        euid: 0,
        libc: explain::libc_of(&exe),
    };
    let (decision, _) = explain::decide(&process, &root.packages(), &crate::config::dir_in(root));
    let package = format!("{}{}", contract::layout::LIBRARY_PREFIX, runtime.package());
    let library = root
        .packages()
        .join(&package)
        .join(contract::layout::STABLE);
    let version = std::fs::read_link(&library)
        .map(|v| v.display().to_string())
        .unwrap_or_default();
    match &decision.outcome {
        Outcome::Injected => match requirement_unmet(runtime, &exe, &library) {
            Some(why) => Support::NotTraced(format!("{shown}: {package} {version} {why}")),
            None => Support::Traced(format!("{shown}: traced by {package} {version}")),
        },
        Outcome::Skipped(Reason::LibraryMissing) => {
            Support::NotApplicable(format!("{shown}: not traced, no {package} installed"))
        }
        Outcome::Skipped(reason) | Outcome::Failed(reason) => Support::NotTraced(format!(
            "{shown}: the launcher leaves `{}` alone: {} ({})",
            arguments.join(" "),
            reason.id(),
            reason.describe()
        )),
    }
}

/// The program and arguments of a typical application of `runtime`.
fn typical_command(runtime: Runtime) -> (&'static str, &'static [&'static str]) {
    match runtime {
        Runtime::Java => ("java", &["-jar", "app.jar"]),
        Runtime::Node => ("node", &["app.js"]),
        Runtime::Python => ("python3", &["app.py"]),
        Runtime::Ruby => ("ruby", &["app.rb"]),
        Runtime::Php => ("php", &["index.php"]),
        Runtime::Dotnet => ("dotnet", &["app.dll"]),
    }
}

/// The first executable named `program` in `PATH`, then in [`FALLBACK_PATH`], that is not a
/// `#!` script, with symbolic links resolved (as `/proc/self/exe` shows it).
fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::env::split_paths(FALLBACK_PATH))
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                && !is_script(candidate)
        })
        .and_then(|p| p.canonicalize().ok())
}

fn is_script(path: &Path) -> bool {
    let mut head = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"#!")
}

/// What the library package needs that this runtime lacks, if known, e.g. `needs node >=22
/// (dd-trace's engines), this is v20.19.2: its tracer will not start`.
fn requirement_unmet(runtime: Runtime, exe: &Path, library: &Path) -> Option<String> {
    match runtime {
        Runtime::Python => {
            let builds = library.join("ddtrace_pkgs");
            if !builds.is_dir() {
                return None;
            }
            let abi = probe(
                exe,
                &[
                    "-c",
                    "import sysconfig; print(sysconfig.get_config_var('SOABI') or '')",
                ],
            )?;
            (!builds.join(&abi).is_dir()).then(|| {
                format!(
                    "has no ddtrace build for {abi}: the bootstrap leaves this interpreter alone"
                )
            })
        }
        Runtime::Node => {
            let manifest = library.join("node_modules/dd-trace/package.json");
            let text = std::fs::read(manifest).ok()?;
            let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
            let engines = json["engines"]["node"].as_str()?;
            let minimum: u32 = engines
                .strip_prefix(">=")?
                .trim()
                .split('.')
                .next()?
                .parse()
                .ok()?;
            let version = probe(exe, &["--version"])?;
            let major: u32 = version
                .trim_start_matches('v')
                .split('.')
                .next()?
                .parse()
                .ok()?;
            (major < minimum).then(|| {
                format!("needs node {engines} (dd-trace's engines), this is {version}: its tracer will not start")
            })
        }
        _ => None,
    }
}

/// The first line `exe args…` prints, run with a minimal environment, the launcher told to
/// stand down and no byte-code written.
fn probe(exe: &Path, args: &[&str]) -> Option<String> {
    let mut child = Command::new(exe)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("DD_INSTRUMENT_SERVICE_WITH_APM", "false")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(None) if started.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    out.lines()
        .next()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
}
