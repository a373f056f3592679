//! .NET: the CLR profiler variables.
//!
//! `dotnet app.dll`, `dotnet exec … app.dll`, `dotnet run` and apphost executables (a native
//! launcher next to `<name>.runtimeconfig.json`) get `CORECLR_ENABLE_PROFILING=1`,
//! `CORECLR_PROFILER`, `CORECLR_PROFILER_PATH` and `DD_DOTNET_TRACER_HOME`. Any profiler
//! variable already set by someone else means `already_instrumented`. The framework version
//! named in the application's `runtimeconfig.json` is the runtime version.

use crate::decision::{Edit, Reason};
use crate::host::{FileKind, Host};
use crate::invocation::{split, Invocation, Word};
use crate::json;
use crate::language::Language;
use crate::layout::{in_library, join};
use crate::process::{file_name, major_minor, Process};
use crate::runtime::Runtime;
use crate::variable::{Shape, Variable};
use alloc::vec;
use alloc::vec::Vec;

/// The Datadog CLR profiler's class id.
pub const PROFILER_ID: &str = "{846F5F1C-F9AE-4B07-969E-05C26BC060D8}";
const PROFILER_LIBRARY: &str = "Datadog.Trace.ClrProfiler.Native.so";
/// The variable naming the profiler library.
const PROFILER_PATH: &str = "CORECLR_PROFILER_PATH";
const PROFILER_VARIABLES: [&str; 4] = [
    "CORECLR_ENABLE_PROFILING",
    "CORECLR_PROFILER",
    "CORECLR_PROFILER_PATH",
    "CORECLR_PROFILER_PATH_64",
];
const TRACER_HOME: &str = "DD_DOTNET_TRACER_HOME";

/// Host options of `dotnet` (and of `dotnet exec`) whose value is the next argument.
fn takes_value(option: &[u8]) -> bool {
    matches!(
        option,
        b"--additionalprobingpath"
            | b"--additional-deps"
            | b"--depsfile"
            | b"--runtimeconfig"
            | b"--fx-version"
            | b"--roll-forward"
            | b"--roll-forward-on-no-candidate-fx"
    )
}

/// The .NET runtime: `dotnet` itself, or an apphost executable.
pub struct Dotnet {
    /// The executable is an apphost: the application itself, not `dotnet`.
    pub apphost: bool,
}

impl Dotnet {
    /// The `runtimeconfig.json` of the application: beside the apphost, or beside the
    /// assembly `dotnet` runs (relative paths against the working directory).
    fn runtimeconfig(&self, process: &Process, invocation: &Invocation) -> Option<Vec<u8>> {
        if self.apphost {
            return Some([process.exe, b".runtimeconfig.json"].concat());
        }
        let dll = invocation.program?.strip_suffix(b".dll")?;
        let config = [dll, b".runtimeconfig.json"].concat();
        match (config.starts_with(b"/"), process.cwd) {
            (true, _) => Some(config),
            (false, Some(cwd)) => Some([cwd, b"/", &config].concat()),
            (false, None) => None,
        }
    }
}

/// Whether a profiler variable's value is the library's own (inherited).
fn profiler_variable_is_ours(name: &str, value: &[u8]) -> bool {
    match name {
        "CORECLR_ENABLE_PROFILING" => value == b"1",
        "CORECLR_PROFILER" => value == PROFILER_ID.as_bytes(),
        _ => in_library(value, Runtime::Dotnet),
    }
}

impl Language for Dotnet {
    fn runtime(&self) -> Runtime {
        Runtime::Dotnet
    }

    fn word<'a>(&self, arg: &'a [u8]) -> Word<'a> {
        if arg.starts_with(b"-") {
            Word::Option {
                takes_value: takes_value(arg),
            }
        } else if arg == b"exec" {
            Word::Option { takes_value: false }
        } else {
            Word::Program
        }
    }

    /// An apphost is the application itself: its arguments are the application's.
    fn parse<'a>(&self, args: &[&'a [u8]]) -> Invocation<'a> {
        if self.apphost {
            return Invocation {
                program: args.first().copied(),
                subcommand: args.get(1).copied(),
                ..Invocation::default()
            };
        }
        split(args, |arg| self.word(arg))
    }

    fn instrumented_by_other(&self, process: &Process, _: &Invocation) -> bool {
        PROFILER_VARIABLES.iter().any(|name| {
            process
                .var(name)
                .is_some_and(|v| !profiler_variable_is_ours(name, v))
        })
    }

    /// The profiler's path; the other profiler variables go with it (see `inject`).
    const VARIABLE: Variable = Variable {
        name: PROFILER_PATH,
        shape: Shape::Path,
    };

    /// The profiler variables of ours, when the profiler path is ours.
    fn remove_inherited(&self, process: &Process) -> Vec<Edit> {
        if Self::VARIABLE
            .remove(process, |path| self.is_ours(path))
            .is_none()
        {
            return vec![];
        }
        let ours = |name: &&str| {
            process
                .var(name)
                .is_some_and(|v| profiler_variable_is_ours(name, v))
        };
        let mut edits: Vec<Edit> = PROFILER_VARIABLES
            .iter()
            .copied()
            .filter(ours)
            .map(|name| Edit::Unset { name })
            .collect();
        if process.var(TRACER_HOME).is_some_and(|v| self.is_ours(v)) {
            edits.push(Edit::Unset { name: TRACER_HOME });
        }
        edits
    }

    fn entry_point(&self, _: &Process) -> (&'static str, FileKind) {
        (PROFILER_LIBRARY, FileKind::File)
    }

    /// The framework version in `runtimeconfig.json` (`runtimeOptions.framework.version`, or
    /// the lowest of `runtimeOptions.frameworks[].version`).
    fn version<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        host: &H,
    ) -> Option<(u32, u32)> {
        let path = self.runtimeconfig(process, invocation)?;
        let text = host.read_file(&path, 256 << 10).ok()?;
        let doc = json::parse(&text)?;
        let options = doc.get("runtimeOptions")?;
        let single = options.get("framework").into_iter();
        let frameworks = single.chain(
            options
                .get("frameworks")
                .map(|f| f.items())
                .unwrap_or_default(),
        );
        frameworks
            .filter_map(|f| major_minor(f.get("version")?.as_str()?))
            .min()
    }

    /// The assembly's name (`dotnet Shop.Api.dll` → `Shop.Api`) or the apphost's.
    fn service<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        _: &H,
    ) -> Option<Vec<u8>> {
        if self.apphost {
            return Some(file_name(process.exe).to_vec());
        }
        Some(
            file_name(invocation.program?)
                .strip_suffix(b".dll")?
                .to_vec(),
        )
    }

    fn additions<H: Host + ?Sized>(
        &self,
        _: &Process,
        _: &Invocation,
        lib: &[u8],
        _: &H,
    ) -> Vec<Vec<u8>> {
        vec![join(lib, PROFILER_LIBRARY)]
    }

    /// The profiler path and, with it, the three variables that enable the profiler and tell
    /// it where the tracer is; nothing if the profiler path is already ours.
    fn inject<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        lib: &[u8],
        host: &H,
    ) -> Result<Vec<Edit>, Reason> {
        let profiler = self.additions(process, invocation, lib, host);
        let profiler: Vec<&[u8]> = profiler.iter().map(Vec::as_slice).collect();
        let Some(path) = Self::VARIABLE.add(process, &profiler, |p| self.is_ours(p)) else {
            return Ok(vec![]);
        };
        Ok(vec![
            Edit::Set {
                name: "CORECLR_ENABLE_PROFILING",
                value: b"1".to_vec(),
            },
            Edit::Set {
                name: "CORECLR_PROFILER",
                value: PROFILER_ID.as_bytes().to_vec(),
            },
            path,
            Edit::Set {
                name: TRACER_HOME,
                value: lib.to_vec(),
            },
        ])
    }
}

/// Whether `exe` may be a .NET apphost worth a look for `<exe>.runtimeconfig.json`: an absolute
/// path outside the system directories (where no .NET application is published), so the check
/// costs nothing for the programs most processes run.
pub fn apphost_candidate(exe: &[u8]) -> bool {
    exe.starts_with(b"/") && !in_system_directory(exe)
}

/// Whether `path` is a file of a system directory (`/usr/bin`, `/bin`, …, or anywhere under
/// `/usr/lib*`), read as written: a directory part that starts with `.` (such as `..`) makes
/// it none. The launcher's screen asks it of the path `execve` was given, before any system
/// call, with the same answer as for the canonical path unless a system directory is itself a
/// link to another place (`/bin -> usr/bin` leads to another system directory). Small: it runs
/// from the launcher's start-up page.
pub fn in_system_directory(path: &[u8]) -> bool {
    let Some(slash) = path.iter().rposition(|&c| c == b'/') else {
        return false;
    };
    match &path[..slash] {
        b"/usr/bin" | b"/usr/sbin" | b"/bin" | b"/sbin" | b"/usr/local/bin"
        | b"/usr/local/sbin" => true,
        dir => dir.starts_with(b"/usr/lib") && !dir.windows(2).any(|pair| pair == b"/."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Invocation<'_> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        Dotnet { apphost: false }.parse(&args)
    }

    #[test]
    fn program_is_the_assembly_or_sdk_command() {
        assert_eq!(
            parse("dotnet app.dll --port 1").program,
            Some(&b"app.dll"[..])
        );
        assert_eq!(
            parse("dotnet exec --depsfile x.json /p/csc.dll a.cs").program,
            Some(&b"/p/csc.dll"[..])
        );
        assert_eq!(
            parse("dotnet build -c Release").program,
            Some(&b"build"[..])
        );
        assert_eq!(parse("dotnet run -- -p build").program, Some(&b"run"[..]));
    }

    #[test]
    fn apphosts_are_looked_for_outside_system_directories() {
        assert!(apphost_candidate(b"/app/MyService"));
        assert!(apphost_candidate(b"/opt/shop/Shop.Api"));
        assert!(!apphost_candidate(b"/usr/bin/ls"));
        assert!(!apphost_candidate(b"/usr/lib/x86_64-linux-gnu/thing"));
        assert!(!apphost_candidate(b"relative"));
        assert!(!apphost_candidate(b"/usr/libexec/x/tool"));
    }

    #[test]
    fn system_directories_are_read_as_written() {
        assert!(in_system_directory(b"/bin/true"));
        assert!(in_system_directory(b"/usr/lib/jvm/bin/tool"));
        assert!(!in_system_directory(b"/usr/bin/../../app/Shop.Api"));
        assert!(!in_system_directory(b"/usr/lib/x/../../../app/Shop.Api"));
        assert!(!in_system_directory(b"/usr/bin/./sub/../x"));
        assert!(!in_system_directory(b"bin/true"));
        assert!(!in_system_directory(b"//usr/bin/true"));
        assert!(!in_system_directory(b"true"));
    }

    #[test]
    fn version_comes_from_runtimeconfig_json() {
        use crate::host::memory::Files;
        let cases = [("Shop.Api", (8, 0)), ("Worker", (6, 0)), ("Legacy", (3, 0))];
        for (app, version) in cases {
            let config = ["/app/", app, ".runtimeconfig.json"].concat();
            let files =
                Files::default().asset(&config, &["dotnet/", app, ".runtimeconfig.json"].concat());
            let apphost = ["/app/", app].concat();
            let process = Process {
                exe: apphost.as_bytes(),
                ..Process::default()
            };
            let host = Dotnet { apphost: true };
            let invocation = host.parse(&[apphost.as_bytes()]);
            assert_eq!(
                host.version(&process, &invocation, &files),
                Some(version),
                "{app}"
            );
            let dll = ["/app/", app, ".dll"].concat();
            let args = [&b"dotnet"[..], dll.as_bytes()];
            let dotnet = Dotnet { apphost: false };
            let process = Process {
                exe: b"/usr/bin/dotnet",
                ..Process::default()
            };
            let invocation = dotnet.parse(&args);
            assert_eq!(
                dotnet.version(&process, &invocation, &files),
                Some(version),
                "dotnet {app}.dll"
            );
        }
    }
}
