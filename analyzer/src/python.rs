//! Python: `PYTHONPATH` and the library's `sitecustomize.py`.
//!
//! The library directory is put first on `PYTHONPATH`; Python imports its `sitecustomize`
//! at start-up. Python ignores `PYTHONPATH` under `-E`/`-I` and imports no `site` under `-S`:
//! those processes are skipped with a reason instead of silently not loading.

use crate::decision::Reason;
use crate::host::{FileKind, Host};
use crate::invocation::{Invocation, Word};
use crate::language::Language;
use crate::process::{file_name, major_minor, Process};
use crate::runtime::Runtime;
use crate::service;
use crate::variable::{Shape, Variable};
use alloc::vec;
use alloc::vec::Vec;

const PYTHONPATH: &str = "PYTHONPATH";

/// Single-letter flags given to Python, e.g. `b"IS"` for `python -I -S app.py` or `-IS`.
fn flags(invocation: &Invocation) -> Vec<u8> {
    let mut letters = Vec::new();
    for option in &invocation.options {
        let Some(group) = option.strip_prefix(b"-") else {
            continue;
        };
        if group.starts_with(b"-") {
            continue;
        }
        for &c in group {
            if matches!(c, b'c' | b'm' | b'W' | b'X') {
                break;
            }
            letters.push(c);
        }
    }
    letters
}

/// The Python runtime.
pub struct Python;

impl Language for Python {
    fn runtime(&self) -> Runtime {
        Runtime::Python
    }

    fn word<'a>(&self, arg: &'a [u8]) -> Word<'a> {
        match arg {
            b"-" => return Word::Program,
            b"--" => return Word::ProgramFollows { keep: false },
            b"--check-hash-based-pycs" => return Word::Option { takes_value: true },
            _ if !arg.starts_with(b"-") => return Word::Program,
            _ if arg.starts_with(b"--") => return Word::Option { takes_value: false },
            _ => {}
        }
        // A group of one-letter flags; `c`, `m`, `W` and `X` take the rest as their value.
        let group = &arg[1..];
        let Some(at) = group
            .iter()
            .position(|c| matches!(c, b'c' | b'm' | b'W' | b'X'))
        else {
            return Word::Option { takes_value: false };
        };
        let attached = &group[at + 1..];
        match group[at] {
            b'c' => Word::Code {
                name: b"-c",
                attached: !attached.is_empty(),
            },
            b'm' => Word::Module {
                attached: Some(attached).filter(|m| !m.is_empty()),
                keep: true,
            },
            _ => Word::Option {
                takes_value: attached.is_empty(),
            },
        }
    }

    fn builtin_skip(&self, _: &Process, invocation: &Invocation) -> Option<Reason> {
        let flags = flags(invocation);
        if flags.iter().any(|c| matches!(c, b'E' | b'I')) {
            Some(Reason::PythonIgnoresEnvironment)
        } else if flags.contains(&b'S') {
            Some(Reason::PythonNoSite)
        } else {
            None
        }
    }

    /// ddtrace's or OpenTelemetry's own runner (`ddtrace-run`, `opentelemetry-instrument`), or
    /// either's bootstrap directory on `PYTHONPATH`.
    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool {
        const BOOTSTRAPS: [&[u8]; 2] = [
            b"ddtrace/bootstrap",
            b"opentelemetry/instrumentation/auto_instrumentation",
        ];
        let bootstrap = |e: &[u8]| {
            !self.is_ours(e)
                && BOOTSTRAPS
                    .iter()
                    .any(|b| e.windows(b.len()).any(|w| w == *b))
        };
        invocation
            .program
            .is_some_and(|p| matches!(file_name(p), b"ddtrace-run" | b"opentelemetry-instrument"))
            || invocation.module == Some(b"ddtrace.commands.ddtrace_run")
            || process
                .var(PYTHONPATH)
                .is_some_and(|v| v.split(|&c| c == b':').any(bootstrap))
    }

    const VARIABLE: Variable = Variable {
        name: PYTHONPATH,
        shape: Shape::PathsFirst,
    };

    fn entry_point(&self, _: &Process) -> (&'static str, FileKind) {
        ("sitecustomize.py", FileKind::File)
    }

    /// From the executable's name, e.g. (3, 11) for `python3.11`; `python3` alone is unknown.
    fn version<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        _: &H,
    ) -> Option<(u32, u32)> {
        let digits = file_name(process.exe).strip_prefix(b"python")?;
        digits
            .contains(&b'.')
            .then(|| major_minor(digits))
            .flatten()
    }

    /// The app module of a WSGI/ASGI server (`gunicorn shop.wsgi:app` → `shop`), the `-m`
    /// module, or the script's name (`/srv/orders.py` → `orders`).
    fn service<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        _: &H,
    ) -> Option<Vec<u8>> {
        const SERVERS: [&[u8]; 5] = [
            b"gunicorn",
            b"uvicorn",
            b"hypercorn",
            b"daphne",
            b"waitress-serve",
        ];
        let server = invocation
            .module
            .or(invocation.program.map(file_name))
            .filter(|s| SERVERS.contains(s));
        if let Some(server) = server {
            let after = process
                .args
                .iter()
                .skip_while(|a| file_name(a) != server)
                .skip(1);
            let app = after
                .filter(|a| !a.starts_with(b"-"))
                .find(|a| a.contains(&b':'))?;
            let module = app.split(|&c| c == b':').next()?;
            return Some(module.split(|&c| c == b'.').next()?.to_vec());
        }
        if let Some(module) = invocation.module {
            return Some(module.to_vec());
        }
        let script = invocation.program.filter(|p| !matches!(*p, b"-c" | b"-"))?;
        Some(service::stem(script).to_vec())
    }

    /// The package directory, first on `PYTHONPATH` (its `sitecustomize.py` is the entry
    /// point).
    fn additions<H: Host + ?Sized>(
        &self,
        _: &Process,
        _: &Invocation,
        lib: &[u8],
        _: &H,
    ) -> Vec<Vec<u8>> {
        vec![lib.to_vec()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Invocation<'_> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        Python.parse(&args)
    }

    #[test]
    fn program_module_and_flags() {
        assert_eq!(
            parse("python3 -u app.py -m x").program,
            Some(&b"app.py"[..])
        );
        assert_eq!(parse("python3 -m pip install x").module, Some(&b"pip"[..]));
        assert_eq!(parse("python3 -mpip").module, Some(&b"pip"[..]));
        assert_eq!(
            parse("python3 -W ignore -X dev app.py").program,
            Some(&b"app.py"[..])
        );
        assert_eq!(parse("python3 -c pass").program, Some(&b"-c"[..]));
        assert_eq!(flags(&parse("python3 -IS -Wx app.py")), b"IS");
        assert_eq!(flags(&parse("python3 -c -E")), b"");
    }

    #[test]
    fn another_sdk_is_recognised() {
        let p = Process::default();
        assert!(Python.instrumented_by_other(
            &p,
            &parse("python3 /venv/bin/opentelemetry-instrument flask run")
        ));
        let theirs = Process {
            env: vec![b"PYTHONPATH=/venv/lib/site-packages/opentelemetry/instrumentation/auto_instrumentation"],
            ..Process::default()
        };
        assert!(Python.instrumented_by_other(&theirs, &parse("python3 app.py")));
        let ours = Process {
            env: vec![b"PYTHONPATH=/p/opentelemetry-apm-library-python/stable"],
            ..Process::default()
        };
        assert!(!Python.instrumented_by_other(&ours, &parse("python3 app.py")));
    }
}
