//! `apm-inject explain`: the launcher's decision for a command, without running it.

use crate::output::say;
use crate::std_host::StdHost;
use crate::{command, config, packages};
use analyzer::config::Status;
use analyzer::process::{Libc, LibcFlavor};
use analyzer::{Decision, Edit, Outcome, Process, Reason, Runtime};
use contract::config::COMPILED_FILE;
use contract::render;
use contract::sdk::{self, Sdk};
use serde_json::json;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The C library `exe` would run on: musl if its interpreter is musl's loader, else glibc
/// (this machine's version).
pub fn libc_of(exe: &Path) -> Libc {
    let bytes = std::fs::read(exe).unwrap_or_default();
    let interpreter = goblin::elf::Elf::parse(&bytes)
        .ok()
        .and_then(|elf| elf.interpreter.map(str::to_owned));
    if interpreter.is_some_and(|i| i.contains("musl")) {
        return Libc {
            flavor: LibcFlavor::Musl,
            version: None,
        };
    }
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    Libc {
        flavor: LibcFlavor::Glibc,
        version: analyzer::process::major_minor(version.to_bytes()),
    }
}

/// Prints the decision for `cmd` in this process's environment.
pub fn run(cmd: &[OsString], packages_root: Option<PathBuf>, json: bool) -> Result<(), String> {
    let env: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let exec = command::resolve(cmd, std::env::var_os("PATH").as_deref())?;
    let root = packages::find(packages_root, std::env::var_os("LD_PRELOAD").as_deref());
    let cwd = std::env::current_dir().ok();
    let mut process = Process {
        exe: exec.exe.as_os_str().as_bytes(),
        args: exec.args.iter().map(|a| a.as_bytes()).collect(),
        env: env.iter().map(Vec::as_slice).collect(),
        env_index: Default::default(),
        cwd: cwd.as_deref().map(|c| c.as_os_str().as_bytes()),
        // SAFETY: geteuid cannot fail.
        euid: unsafe { libc::geteuid() },
        libc: libc_of(&exec.exe),
    };
    process.index_env(); // as the library does
    let config_dir = config::dir();
    let (decision, status) = decide(&process, &root.path, &config_dir);
    let context = Context {
        exec: &exec,
        root: &root,
        process: &process,
        config_dir: &config_dir,
        config: status,
    };
    if json {
        say!("{:#}", context.json(&decision));
    } else {
        crate::output::stdout(format_args!("{}", context.text(&decision)));
    }
    Ok(())
}

/// The launcher's decision for `process`, with its packages at `packages_root` and the host
/// configuration in `config_dir`; and how that configuration was found.
pub fn decide(process: &Process, packages_root: &Path, config_dir: &Path) -> (Decision, Status) {
    let mut host = StdHost::new();
    let mut storage = Vec::new();
    let (config, status) = analyzer::config::load(
        &host,
        config_dir.as_os_str().as_bytes(),
        process.euid,
        &mut storage,
    );
    host.budget_ms = config.time_budget_ms;
    let decision = analyzer::decide(
        process,
        &host,
        Some(packages_root.as_os_str().as_bytes()),
        &config,
    );
    (decision, status)
}

/// The entry point a `library_missing` decision looked for, e.g.
/// `/opt/datadog-packages/datadog-apm-library-java/stable/dd-java-agent.jar`.
fn missing_library(d: &Decision, process: &Process, packages_root: &Path) -> Option<PathBuf> {
    if d.outcome.reason() != Some(&Reason::LibraryMissing) {
        return None;
    }
    let runtime = d.runtime?;
    let (entry, _) = analyzer::library_entry_point(runtime, process.libc, d.sdk);
    let lib = contract::layout::library_dir(packages_root.as_os_str().as_bytes(), runtime, d.sdk);
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(&lib)).join(entry))
}

/// Everything shown besides the decision.
struct Context<'a> {
    exec: &'a command::Exec,
    root: &'a packages::Root,
    process: &'a Process<'a>,
    config_dir: &'a Path,
    config: Status,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A change as (action, name, new value, previous value).
fn change<'a>(
    edit: &'a Edit,
    process: &Process,
) -> (&'static str, &'static str, Option<&'a [u8]>, Option<String>) {
    let previous = process.var(edit.name()).map(text);
    match edit {
        Edit::Set { name, value } => (edit.action(), name, Some(value), previous),
        Edit::Unset { name } => (edit.action(), name, None, previous),
    }
}

/// Known limitations of the tracer a decision leads to, for people deciding whether to rely
/// on it (README.md, "Known limitations").
fn notes(d: &Decision) -> Vec<&'static str> {
    match (d.runtime, &d.outcome) {
        (Some(Runtime::Python), Outcome::Injected) if d.sdk == Sdk::Datadog => vec![
            "ddtrace's native runtime holds descriptors of its own: a daemon that closes every inherited descriptor (os.closerange(3, MAXFD), python-daemon's default) makes it print panics, exit seconds late and possibly write into the file that reuses one; opt such a daemon out with DD_INSTRUMENT_SERVICE_WITH_APM=false or a deny rule",
        ],
        _ => vec![],
    }
}

/// Where a rule that decided comes from, if one did.
fn rule_source(d: &Decision) -> Option<&str> {
    match d.outcome.reason() {
        Some(Reason::Rule { source, .. }) => Some(source),
        _ => None,
    }
}

impl Context<'_> {
    fn config_file(&self) -> PathBuf {
        self.config_dir.join(COMPILED_FILE)
    }

    /// Where the decision's SDK family came from: the process's variable, the compiled host
    /// configuration, or the default.
    fn sdk_source(&self) -> String {
        let variable = self.process.var(sdk::VARIABLE);
        if variable.and_then(Sdk::from_name).is_some() {
            sdk::VARIABLE.to_string()
        } else if self.config == Status::Loaded {
            self.config_file().display().to_string()
        } else {
            "default".to_string()
        }
    }

    fn json(&self, d: &Decision) -> serde_json::Value {
        let changes: Vec<_> = d
            .edits
            .iter()
            .map(|edit| {
                let (action, name, value, previous) = change(edit, self.process);
                json!({"action": action, "name": name, "value": value.map(text), "previous": previous})
            })
            .collect();
        json!({
            "command": self.exec.args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "executable": self.exec.exe.to_string_lossy(),
            "scripts": self.exec.scripts.iter().map(|s| s.to_string_lossy()).collect::<Vec<_>>(),
            "runtime": d.runtime.map(|r| r.name()),
            "outcome": d.outcome.kind(),
            "reason": d.outcome.reason().map(|r| json!({"id": r.id(), "description": r.describe(), "rule_source": rule_source(d)})),
            "forced": d.forced,
            "allowed_by": d.allowed_by,
            "sdk": {"name": d.sdk.name(), "source": self.sdk_source()},
            "packages_root": self.root.path.to_string_lossy(),
            "packages_root_source": self.root.source,
            "config": {"path": self.config_file().to_string_lossy(), "status": self.config.id()},
            "changes": changes,
            "missing": missing_library(d, self.process, &self.root.path).map(|p| p.to_string_lossy().into_owned()),
            "notes": notes(d),
        })
    }

    fn text(&self, d: &Decision) -> String {
        let mut out = String::new();
        let args: Vec<_> = self.exec.args.iter().map(|a| a.to_string_lossy()).collect();
        out += &format!("command:    {}\n", args.join(" "));
        for script in &self.exec.scripts {
            out += &format!("script:     {}\n", script.display());
        }
        out += &format!("executable: {}\n", self.exec.exe.display());
        out += &format!("runtime:    {}\n", d.runtime.map_or("none", |r| r.name()));
        out += &format!("outcome:    {}\n", text(&render::outcome(d)));
        if let Some(reason) = d.outcome.reason() {
            out += &format!("reason:     {}\n", text(&render::reason(reason)));
        }
        if let Some(missing) = missing_library(d, self.process, &self.root.path) {
            out += &format!("missing:    {}\n", missing.display());
        }
        if let Some(source) = rule_source(d) {
            out += &format!(
                "rule:       {} (from {source})\n",
                d.outcome.reason().map_or("", |r| r.id())
            );
        }
        if d.runtime.is_some() {
            out += &format!(
                "sdk:        {} (from {})\n",
                d.sdk.name(),
                self.sdk_source()
            );
        }
        if d.runtime.is_none() && !self.exec.scripts.is_empty() {
            out +=
                "note:       a script's interpreter that is not a runtime; a runtime it starts gets its own decision\n";
        }
        for note in notes(d) {
            out += &format!("note:       {note}\n");
        }
        out += &format!(
            "packages:   {} (from {})\n",
            self.root.path.display(),
            self.root.source
        );
        out += &format!(
            "config:     {} ({})\n",
            self.config_file().display(),
            self.config.id()
        );
        if d.edits.is_empty() {
            out += "changes:    none\n";
        } else {
            out += "changes:\n";
            for edit in &d.edits {
                let (action, name, value, previous) = change(edit, self.process);
                let previous = previous.map_or("unset".to_string(), |p| format!("'{p}'"));
                match value {
                    Some(v) => {
                        out += &format!("  {action} {name}='{}' (was {previous})\n", text(v))
                    }
                    None => out += &format!("  {action} {name} (was {previous})\n"),
                }
            }
        }
        out
    }
}
