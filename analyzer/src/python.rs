//! Python: `PYTHONPATH` and the library's `sitecustomize.py`.
//!
//! The library directory is put first on `PYTHONPATH`; Python imports its `sitecustomize`
//! at start-up. Python ignores `PYTHONPATH` under `-E`/`-I` and imports no `site` under `-S`:
//! those processes are skipped with a reason instead of silently not loading.

use crate::decision::{Edit, Reason};
use crate::host::{FileKind, Host};
use crate::invocation::{Invocation, Language};
use crate::layout::in_library;
use crate::options::{prepend_entry, remove_entries, set_or_unset};
use crate::process::{file_name, major_minor, Process};
use crate::runtime::Runtime;
use crate::service;
use alloc::vec;
use alloc::vec::Vec;

const PYTHONPATH: &str = "PYTHONPATH";

/// Whether a `PYTHONPATH` entry is a version of the library's own package directory.
fn is_ours(entry: &[u8]) -> bool {
    in_library(entry, Runtime::Python)
}

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

    fn parse<'a>(&self, args: &[&'a [u8]]) -> Invocation<'a> {
        let mut inv = Invocation::default();
        let mut rest = args.iter().skip(1);
        while let Some(&arg) = rest.next() {
            if arg == b"-" {
                inv.program = Some(arg);
                break;
            }
            if arg == b"--" {
                inv.program = rest.next().copied();
                break;
            }
            if !arg.starts_with(b"-") {
                inv.program = Some(arg);
                break;
            }
            inv.options.push(arg);
            if arg.starts_with(b"--") {
                if arg == b"--check-hash-based-pycs" {
                    if let Some(&value) = rest.next() {
                        inv.options.push(value);
                    }
                }
                continue;
            }
            // A group of one-letter flags; `c`, `m`, `W` and `X` take the rest as their value.
            let group = &arg[1..];
            if let Some(at) = group
                .iter()
                .position(|c| matches!(c, b'c' | b'm' | b'W' | b'X'))
            {
                let letter = group[at];
                let attached = &group[at + 1..];
                let value = if attached.is_empty() {
                    rest.next().copied()
                } else {
                    Some(attached)
                };
                match letter {
                    b'c' => {
                        inv.program = Some(b"-c");
                        break;
                    }
                    b'm' => {
                        inv.module = value;
                        break;
                    }
                    _ => {
                        if attached.is_empty() {
                            if let Some(v) = value {
                                inv.options.push(v);
                            }
                        }
                    }
                }
            }
        }
        if inv.program.is_some() || inv.module.is_some() {
            inv.subcommand = rest.next().copied();
        }
        inv
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

    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool {
        let bootstrap = |e: &[u8]| !is_ours(e) && e.windows(17).any(|w| w == b"ddtrace/bootstrap");
        invocation
            .program
            .is_some_and(|p| file_name(p) == b"ddtrace-run")
            || invocation.module == Some(b"ddtrace.commands.ddtrace_run")
            || process
                .var(PYTHONPATH)
                .is_some_and(|v| v.split(|&c| c == b':').any(bootstrap))
    }

    fn remove_inherited(&self, process: &Process) -> Vec<Edit> {
        let rest = process
            .var(PYTHONPATH)
            .and_then(|v| remove_entries(v, is_ours));
        rest.map(|rest| set_or_unset(PYTHONPATH, rest))
            .into_iter()
            .collect()
    }

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

    fn inject<H: Host + ?Sized>(
        &self,
        process: &Process,
        _: &Invocation,
        lib: &[u8],
        _: &H,
    ) -> Result<Vec<Edit>, Reason> {
        if lib.contains(&b':') {
            return Err(Reason::UnsupportedLibraryPath);
        }
        let current = process.var(PYTHONPATH);
        if current.is_some_and(|v| v.split(|&c| c == b':').next() == Some(lib)) {
            return Ok(vec![]);
        }
        let user = current.map(|v| remove_entries(v, is_ours).unwrap_or_else(|| v.to_vec()));
        Ok(vec![Edit::Set {
            name: PYTHONPATH,
            value: prepend_entry(user.as_deref(), lib),
        }])
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
}
