//! How a runtime was asked to run (its own options, the program, the program's subcommand),
//! and the trait each runtime module implements.

use crate::decision::{Edit, Reason};
use crate::host::{FileKind, Host};
use crate::process::Process;
use crate::runtime::Runtime;
use alloc::vec::Vec;

/// A command line split the way the runtime reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation<'a> {
    /// The runtime's own options (and their values), before the program, e.g. `["-Xmx1g"]`.
    pub options: Vec<&'a [u8]>,
    /// The program: script path, jar path, Java main class, .NET assembly or SDK command, or
    /// the inline-code option itself (`-c`, `-e`); `None` when the runtime runs nothing.
    pub program: Option<&'a [u8]>,
    /// The module run with `python -m` or `java -m`.
    pub module: Option<&'a [u8]>,
    /// The program's first argument, e.g. `install` in `ruby /usr/bin/bundle install`.
    pub subcommand: Option<&'a [u8]>,
}

/// What the decision needs from each runtime; one implementation per runtime module.
pub trait Language {
    /// The runtime this is.
    fn runtime(&self) -> Runtime;
    /// Splits the command line into options and program.
    fn parse<'a>(&self, args: &[&'a [u8]]) -> Invocation<'a>;
    /// A reason specific to this runtime not to instrument, checked before any rule.
    fn builtin_skip(&self, _process: &Process, _invocation: &Invocation) -> Option<Reason> {
        None
    }
    /// Whether another tracer or agent is already configured (the library's own inherited
    /// additions do not count).
    fn instrumented_by_other(&self, process: &Process, invocation: &Invocation) -> bool;
    /// Edits that take out the library's additions inherited from an instrumented parent,
    /// keeping the user's value.
    fn remove_inherited(&self, process: &Process) -> Vec<Edit>;
    /// What the library package must contain (relative to its directory) for this process.
    fn entry_point(&self, process: &Process) -> (&'static str, FileKind);
    /// Whether the entry point at `path` can be used: readable by this process (the runtime
    /// would abort on an unreadable `-javaagent` or `--require`), and sound where a broken one
    /// would abort it.
    fn usable<H: Host + ?Sized>(&self, path: &[u8], host: &H) -> bool {
        host.peek(path, 0, 0).is_ok()
    }
    /// The runtime's version, if it can be found cheaply (no child process). Which versions
    /// are supported is the library package's word (`supported_runtimes.json`), not the code's.
    fn version<H: Host + ?Sized>(
        &self,
        _process: &Process,
        _invocation: &Invocation,
        _host: &H,
    ) -> Option<(u32, u32)> {
        None
    }
    /// A service name for the process, before normalisation (see `service`), if one can be
    /// derived from how it was started.
    fn service<H: Host + ?Sized>(
        &self,
        _process: &Process,
        _invocation: &Invocation,
        _host: &H,
    ) -> Option<Vec<u8>> {
        None
    }
    /// Edits that load the library from directory `lib`, or why that cannot be done.
    fn inject<H: Host + ?Sized>(
        &self,
        process: &Process,
        invocation: &Invocation,
        lib: &[u8],
        host: &H,
    ) -> Result<Vec<Edit>, Reason>;
}

/// `path` made absolute against the process's working directory (`None` if relative and the
/// working directory is unknown).
pub fn absolute(process: &Process, path: &[u8]) -> Option<Vec<u8>> {
    if path.starts_with(b"/") {
        return Some(path.to_vec());
    }
    let path = path.strip_prefix(b"./").unwrap_or(path);
    process.cwd.map(|cwd| [cwd, b"/", path].concat())
}

/// Whether an absolute path is in a system directory, where scripts are tools (`bundle`,
/// `puma`, `gunicorn`), not the application.
pub fn in_system_directory(path: &[u8]) -> bool {
    [&b"/usr/"[..], b"/bin/", b"/sbin/", b"/opt/rh/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The application directory's name for `script` (its own directory unless it is a system
/// tool, then the working directory), e.g. `shop` for `/var/www/shop/public/index.php`.
pub fn app_directory_name(process: &Process, script: Option<&[u8]>) -> Option<Vec<u8>> {
    let script = script
        .filter(|s| !s.starts_with(b"-"))
        .and_then(|s| absolute(process, s));
    let dir = match &script {
        Some(path) if !in_system_directory(path) => crate::process::parent(path)?.to_vec(),
        _ => process.cwd?.to_vec(),
    };
    Some(crate::service::app_directory(&dir).to_vec()).filter(|n| !n.is_empty())
}

/// Whether `path` can be put in an option string unquoted.
pub fn plain_path(path: &[u8]) -> bool {
    !path
        .iter()
        .any(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'\\'))
}

/// Splits `args` the common way: options start with `-`; `takes_value` options consume the
/// next argument; `inline` options (`-e`, `-c`) are the program themselves; the first other
/// argument is the program and the one after it the subcommand.
pub fn split<'a>(
    args: &[&'a [u8]],
    takes_value: fn(&[u8]) -> bool,
    inline: fn(&[u8]) -> bool,
) -> Invocation<'a> {
    let mut inv = Invocation::default();
    let mut rest = args.iter().skip(1);
    while let Some(&arg) = rest.next() {
        if arg == b"--" {
            inv.program = rest.next().copied();
            break;
        }
        if inline(arg) || arg == b"-" {
            inv.program = Some(arg);
            break;
        }
        if arg.starts_with(b"-") {
            inv.options.push(arg);
            if takes_value(arg) {
                if let Some(&value) = rest.next() {
                    inv.options.push(value);
                }
            }
            continue;
        }
        inv.program = Some(arg);
        break;
    }
    inv.subcommand = rest.next().copied();
    inv
}
