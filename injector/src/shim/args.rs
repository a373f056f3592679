//! The runc command line, as Docker and containerd write it:
//! `runc [global flags] COMMAND [flags] [ID] [args]`, e.g.
//! `runc --root /run/docker/runtime-runc/moby --log F --log-format json create --bundle B
//! --pid-file P ID`. Flags follow Go's conventions: `-name` or `--name`, a value after `=` or
//! as the next argument. Only what the shim acts on is extracted; anything not understood makes
//! the call a pass-through.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// runc's global flags that take a value.
const GLOBAL_VALUES: &[&str] = &["log", "log-format", "root", "criu", "rootless"];
/// runc's global flags without a value.
const GLOBAL_SWITCHES: &[&str] = &["debug", "systemd-cgroup", "help", "h", "version", "v"];
/// `create` and `run` flags that take a value.
const CREATE_VALUES: &[&str] = &["bundle", "b", "console-socket", "pid-file", "preserve-fds"];
/// `create` and `run` flags without a value.
const CREATE_SWITCHES: &[&str] = &[
    "no-pivot",
    "no-new-keyring",
    "detach",
    "d",
    "keep",
    "no-subreaper",
];
/// `exec` flags that take a value.
const EXEC_VALUES: &[&str] = &[
    "console-socket",
    "cwd",
    "env",
    "e",
    "user",
    "u",
    "additional-gids",
    "g",
    "process",
    "p",
    "pid-file",
    "process-label",
    "apparmor",
    "cap",
    "c",
    "preserve-fds",
    "cgroup",
];
/// `exec` flags without a value.
const EXEC_SWITCHES: &[&str] = &[
    "tty",
    "t",
    "detach",
    "d",
    "no-new-privs",
    "ignore-paused",
    "no-subreaper",
];

/// What a call asks of the runtime, as far as the shim cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Call {
    /// `create` or `run`: a container from a bundle (the working directory if not given).
    Create {
        /// The bundle directory.
        bundle: PathBuf,
        /// `run` (create and start in one): runc stays in the foreground.
        foreground: bool,
    },
    /// `exec --process FILE ID`.
    Exec {
        /// The process file.
        process: PathBuf,
        /// The container.
        id: OsString,
        /// runc's `--root`, if given (for `runc state`).
        root: Option<OsString>,
    },
    /// Anything else: passed through.
    Other,
}

/// Reads `args` (without the program name).
pub fn parse(args: &[OsString]) -> Call {
    parse_known(args).unwrap_or(Call::Other)
}

fn parse_known(args: &[OsString]) -> Option<Call> {
    let mut rest = args;
    let mut root = None;
    let command = loop {
        let (first, tail) = rest.split_first()?;
        match flag(first) {
            None => break first.to_str()?,
            Some((name, inline)) => {
                let (value, tail) = take_value(name, inline, tail, GLOBAL_VALUES, GLOBAL_SWITCHES)?;
                if name == "root" {
                    root = value;
                }
                rest = tail;
            }
        }
    };
    let rest = &rest[1..];
    match command {
        "create" | "run" => {
            let (values, operands) = flags(rest, CREATE_VALUES, CREATE_SWITCHES)?;
            if operands.len() != 1 {
                return None;
            }
            let bundle = values
                .into_iter()
                .rev()
                .find(|(n, _)| *n == "bundle" || *n == "b")
                .and_then(|(_, v)| v)
                .map(PathBuf::from)
                .or_else(|| std::env::current_dir().ok())?;
            Some(Call::Create {
                bundle,
                foreground: command == "run",
            })
        }
        "exec" => {
            let (values, operands) = flags(rest, EXEC_VALUES, EXEC_SWITCHES)?;
            let process = values
                .into_iter()
                .rev()
                .find(|(n, _)| *n == "process" || *n == "p")
                .and_then(|(_, v)| v)?;
            Some(Call::Exec {
                process: PathBuf::from(process),
                id: operands.first()?.clone(),
                root,
            })
        }
        _ => Some(Call::Other),
    }
}

/// The command's flags (name, value) up to the first operand, and the operands.
#[allow(clippy::type_complexity)]
fn flags<'a>(
    mut rest: &'a [OsString],
    values: &[&str],
    switches: &[&str],
) -> Option<(Vec<(&'a str, Option<OsString>)>, &'a [OsString])> {
    let mut found = Vec::new();
    while let Some((first, tail)) = rest.split_first() {
        if first == "--" {
            return Some((found, tail));
        }
        let Some((name, inline)) = flag(first) else {
            break;
        };
        let (value, tail) = take_value(name, inline, tail, values, switches)?;
        found.push((name, value));
        rest = tail;
    }
    Some((found, rest))
}

/// `-name`, `--name` or `--name=value` split into name and inline value; `None` for an operand.
fn flag(arg: &OsStr) -> Option<(&str, Option<&OsStr>)> {
    let bytes = arg.as_bytes();
    let body = bytes
        .strip_prefix(b"--")
        .or_else(|| bytes.strip_prefix(b"-"))?;
    if body.is_empty() || body.starts_with(b"-") {
        return None;
    }
    match body.iter().position(|&c| c == b'=') {
        Some(i) => Some((
            std::str::from_utf8(&body[..i]).ok()?,
            Some(OsStr::from_bytes(&body[i + 1..])),
        )),
        None => Some((std::str::from_utf8(body).ok()?, None)),
    }
}

/// The value of flag `name` (inline or the next argument) and what follows; `None` for an
/// unknown flag or a missing value.
fn take_value<'a>(
    name: &str,
    inline: Option<&OsStr>,
    tail: &'a [OsString],
    values: &[&str],
    switches: &[&str],
) -> Option<(Option<OsString>, &'a [OsString])> {
    if switches.contains(&name) {
        return Some((None, tail));
    }
    if !values.contains(&name) {
        return None;
    }
    match inline {
        Some(v) => Some((Some(v.to_os_string()), tail)),
        None => {
            let (value, tail) = tail.split_first()?;
            Some((Some(value.clone()), tail))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(line: &str) -> Call {
        let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        parse(&args)
    }

    #[test]
    fn dockers_create() {
        assert_eq!(
            call("--root /run/r --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid abc"),
            Call::Create { bundle: "/b".into(), foreground: false }
        );
    }

    #[test]
    fn flag_spellings() {
        for line in [
            "create -b /b x",
            "create --bundle=/b x",
            "-root=/r create -bundle /b x",
            "--debug run --detach --bundle /b x",
            "--systemd-cgroup create --no-pivot -b /b --console-socket /s x",
        ] {
            assert!(
                matches!(call(line), Call::Create { bundle, .. } if bundle == std::path::Path::new("/b")),
                "{line}"
            );
        }
        assert!(matches!(
            call("run -d -b /b x"),
            Call::Create {
                foreground: true,
                ..
            }
        ));
    }

    #[test]
    fn create_without_bundle_uses_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            call("create x"),
            Call::Create {
                bundle: cwd,
                foreground: false
            }
        );
    }

    #[test]
    fn dockers_exec() {
        assert_eq!(
            call("--root /run/r --log /l --log-format json exec --process /tmp/runc-process1 --detach --pid-file /p.pid abc"),
            Call::Exec { process: "/tmp/runc-process1".into(), id: "abc".into(), root: Some("/run/r".into()) }
        );
        assert_eq!(call("exec -t abc sh"), Call::Other, "no process file");
    }

    #[test]
    fn other_commands_and_nonsense_pass_through() {
        for line in [
            "",
            "start abc",
            "--root /r state abc",
            "features",
            "--version",
            "create --frobnicate /b x",
            "--unknown-global create -b /b x",
            "create --bundle",
            "--root",
            "- create",
            "exec --process",
            "create",
            "create -b /b",
            "create -b /b x y",
        ] {
            assert_eq!(call(line), Call::Other, "{line}");
        }
        let binary = vec![
            OsString::from(OsStr::from_bytes(b"\xff\xfe")),
            "create".into(),
        ];
        assert_eq!(parse(&binary), Call::Other);
    }
}
