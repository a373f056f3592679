//! Which installed tracer supports which runtime on this host, for `doctor`: each runtime
//! found on the host (the first `java`, `node`, `python3`, `ruby`, `php`, `dotnet` executable
//! in `PATH`, then `/usr/local/bin` and `/usr/bin`; scripts such as pyenv's shims are passed
//! over) and the launcher's own decision for a typical application command, which weighs the
//! runtime's version against the package's `supported_runtimes.json` (the tracer per version),
//! its `requirements.json` and the host configuration.

use crate::explain;
use crate::layout::Root;
use analyzer::{Outcome, Process, Reason, Runtime};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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
        env_index: Default::default(),
        cwd: Some(b"/"),
        euid: 0,
        libc: explain::libc_of(&exe),
    };
    let (decision, _) = explain::decide(&process, &root.packages(), &crate::config::dir_in(root));
    let package = format!("{}{}", decision.sdk.library_prefix(), runtime.package());
    let library = root
        .packages()
        .join(&package)
        .join(contract::layout::STABLE);
    let version = std::fs::read_link(&library)
        .map(|v| v.display().to_string())
        .unwrap_or_default();
    match &decision.outcome {
        Outcome::Injected => Support::Traced(format!("{shown}: traced by {package} {version}")),
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
