//! `apm-inject status`: which runtime processes are traced, and why the others are not.
//!
//! Per process it joins two outcomes, both read from the record the launcher keeps in the
//! process's memory (`launcher-preload/src/status.rs`; nothing on disk, read through
//! `/proc/<pid>/mem`): the launcher's decision, and the tracer's own outcome, which the
//! tracer's entry point writes into the record's tracer area (`complete`, or `abort` / `error`
//! with a reason). Runtime processes without a record that started before the launcher was
//! listed in `/etc/ld.so.preload` are listed too: they need a restart to be instrumented.
//!
//! Each process gets one [`State`]; the summary counts processes per state and reason. The
//! JSON (`--json`, also in the flare) is stable, described in the README, and carries
//! [`SCHEMA_VERSION`]: fields are only ever added.

use crate::docker_status;
use crate::output::{escaped, say};
use analyzer::runtime;
use contract::decision::kind;
use contract::sdk::Sdk;
use contract::status::{self, key, tracer_key};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Version of the `--json` schema.
pub const SCHEMA_VERSION: u32 = 1;
/// The file whose entry of ours marks the install time.
const LD_SO_PRELOAD: &str = "/etc/ld.so.preload";

/// What became of one runtime process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Injected, and the tracer reported it loaded.
    Traced,
    /// Injected; the tracer has not reported (yet, or it does not report: Java, PHP, .NET).
    Injected,
    /// Injected, but the tracer stood down (`reason` is its own, e.g. `incompatible_runtime`).
    Aborted,
    /// Injected, but the tracer failed to load (`reason` is the error's kind).
    Error,
    /// The launcher chose not to inject (`reason`: a deny rule, a guardrail, an opt-out).
    Skipped,
    /// The launcher could not decide (`reason`, e.g. `time_budget_exceeded`).
    Failed,
    /// A runtime that started before the install: restart it to instrument it.
    RestartToInstrument,
}

impl State {
    /// Stable id, e.g. `"restart_to_instrument"`.
    pub fn id(self) -> &'static str {
        match self {
            State::Traced => "traced",
            State::Injected => kind::INJECTED,
            State::Aborted => "aborted",
            State::Error => "error",
            State::Skipped => kind::SKIPPED,
            State::Failed => kind::FAILED,
            State::RestartToInstrument => "restart_to_instrument",
        }
    }
}

/// `key=value` lines of one part of a record, in order (`set`/`unset` repeat).
type Fields = Vec<(String, String)>;

fn get<'a>(fields: &'a Fields, key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// Decoded fields as text.
fn text_fields(fields: Vec<(&[u8], &[u8])>) -> Fields {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    fields
        .into_iter()
        .map(|(k, v)| (text(k), text(v)))
        .collect()
}

/// One runtime process.
#[derive(Debug, Default)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// The launcher's part of the record; empty for a process started before the install.
    pub launcher: Fields,
    /// The tracer's part, if its entry point reported.
    pub tracer: Option<Fields>,
    /// Executable path, e.g. `/usr/bin/python3.11`.
    pub exe: String,
    /// Runtime name, e.g. `python`.
    pub runtime: String,
    /// The SDK family the launcher chose, e.g. `opentelemetry`; empty for a process started
    /// before the install.
    pub sdk: String,
    /// Command line.
    pub args: Vec<String>,
    /// Service name: the one the launcher set, else the process's own `DD_SERVICE` (or
    /// `OTEL_SERVICE_NAME` under the OpenTelemetry SDK).
    pub service: String,
}

impl Process {
    /// A process from its record page (`contract::status`: the launcher's part, then the
    /// tracer's area); `None` if the page is not a record.
    pub fn from_record(pid: u32, page: &[u8]) -> Option<Process> {
        let launcher = text_fields(status::decode(page)?);
        let tracer = status::decode_tracer(page).map(text_fields);
        let sdk = get(&launcher, key::SDK).to_owned();
        let variable = if sdk == Sdk::OpenTelemetry.name() {
            "OTEL_SERVICE_NAME"
        } else {
            "DD_SERVICE"
        };
        let set_service = launcher.iter().find_map(|(k, v)| {
            (k == key::SET)
                .then(|| v.strip_prefix(variable)?.strip_prefix('='))
                .flatten()
                .map(str::to_owned)
        });
        Some(Process {
            pid,
            exe: get(&launcher, key::EXE).to_owned(),
            runtime: get(&launcher, key::RUNTIME).to_owned(),
            sdk,
            service: set_service
                .or_else(|| initial_variable(pid, variable))
                .unwrap_or_default(),
            args: command_line(pid),
            launcher,
            tracer,
        })
    }

    /// The process's state and its reason (empty when there is none).
    pub fn state(&self) -> (State, String) {
        if self.launcher.is_empty() {
            return (
                State::RestartToInstrument,
                "started_before_install".to_owned(),
            );
        }
        let reason = get(&self.launcher, key::REASON).to_owned();
        match get(&self.launcher, key::OUTCOME) {
            kind::INJECTED => {}
            kind::FAILED => return (State::Failed, reason),
            _ => return (State::Skipped, reason),
        }
        let Some(tracer) = &self.tracer else {
            return (State::Injected, String::new());
        };
        let reason = get(tracer, tracer_key::REASON).to_owned();
        match get(tracer, tracer_key::OUTCOME) {
            "complete" => (State::Traced, String::new()),
            "abort" => (State::Aborted, reason),
            _ => (State::Error, reason),
        }
    }

    /// Variables the launcher set (`NAME=value`) and unset (`-NAME`).
    fn changes(&self) -> Vec<String> {
        self.launcher
            .iter()
            .filter_map(|(k, v)| match k.as_str() {
                key::SET => Some(v.clone()),
                key::UNSET => Some(format!("-{v}")),
                _ => None,
            })
            .collect()
    }

    /// This process in `--json` form.
    fn json(&self) -> Value {
        let (state, reason) = self.state();
        let optional = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let launcher = (!self.launcher.is_empty()).then(|| {
            json!({
                "outcome": get(&self.launcher, key::OUTCOME),
                "reason": optional(get(&self.launcher, key::REASON)),
                "changes": self.changes(),
            })
        });
        let tracer = self.tracer.as_ref().map(|t| {
            json!({
                "outcome": get(t, tracer_key::OUTCOME),
                "reason": optional(get(t, tracer_key::REASON)),
                "version": optional(get(t, tracer_key::TRACER_VERSION)),
            })
        });
        json!({
            "pid": self.pid,
            "state": state.id(),
            "reason": optional(&reason),
            "runtime": self.runtime,
            "sdk": optional(&self.sdk),
            "service": optional(&self.service),
            "exe": self.exe,
            "command_line": self.args,
            "launcher": launcher,
            "tracer": tracer,
        })
    }
}

/// A variable from the process's initial environment.
fn initial_variable(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    environ
        .split(|&c| c == 0)
        .find_map(|e| e.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The process's arguments, e.g. `["python3", "app.py"]`.
fn command_line(pid: u32) -> Vec<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    analyzer::process::split_cmdline(&bytes)
        .into_iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Seconds since the epoch at which process `pid` started, from `/proc/<pid>/stat` (ticks
/// since boot) and the boot time in `/proc/stat`.
fn start_time(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and parentheses; starttime is the
    // 22nd field, the 20th after the name.
    let ticks: f64 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| boot + ticks / hz as f64)
}

/// When the launcher was listed in `/etc/ld.so.preload` (the file's modification time), if it is.
fn install_time() -> Option<f64> {
    let content = std::fs::read(LD_SO_PRELOAD).ok()?;
    let ours = crate::preload_file::entries(&content)
        .into_iter()
        .any(crate::preload_file::is_ours);
    let meta = std::fs::metadata(LD_SO_PRELOAD).ok()?;
    ours.then(|| meta.mtime() as f64 + meta.mtime_nsec() as f64 / 1e9)
}

/// What `/proc/<pid>` holds for us.
enum Found {
    /// A record.
    Record(Process),
    /// No record and no launcher: a runtime running since before `installed`.
    Unlaunched(Process),
    /// Nothing of ours (not a runtime, or a runtime the launcher did not record).
    Nothing,
}

/// Reads what process `pid` has for us; `installed` is the install time, if known.
fn examine(pid: u32, installed: Option<f64>) -> Result<Found, std::io::Error> {
    let maps = std::fs::read(format!("/proc/{pid}/maps"))?;
    let mut candidates = status::candidates(&maps).peekable();
    if candidates.peek().is_none() {
        return Ok(unlaunched(pid, installed).map_or(Found::Nothing, Found::Unlaunched));
    }
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    let mut page = vec![0u8; status::SIZE];
    for start in candidates {
        mem.seek(SeekFrom::Start(start))?;
        mem.read_exact(&mut page)?;
        if let Some(process) = Process::from_record(pid, &page) {
            return Ok(Found::Record(process));
        }
    }
    Ok(Found::Nothing)
}

/// Process `pid` as a runtime started before the install, if it is one.
fn unlaunched(pid: u32, installed: Option<f64>) -> Option<Process> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let exe = exe.to_string_lossy().into_owned();
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe).to_owned();
    let name = Path::new(&exe).file_name()?.to_string_lossy().into_owned();
    let runtime = runtime::detect(name.as_bytes())?;
    if start_time(pid)? > installed? {
        return None;
    }
    Some(Process {
        pid,
        runtime: runtime.name().to_owned(),
        args: command_line(pid),
        service: initial_variable(pid, "DD_SERVICE").unwrap_or_default(),
        exe,
        ..Process::default()
    })
}

/// Every runtime process of this machine we can tell about, by pid, and how many processes
/// could not be read.
pub fn scan() -> (Vec<Process>, usize) {
    let installed = install_time();
    let mut processes = Vec::new();
    let mut unreadable = 0;
    let pids = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok());
    for pid in pids {
        match examine(pid, installed) {
            Ok(Found::Record(p) | Found::Unlaunched(p)) => processes.push(p),
            Ok(Found::Nothing) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => unreadable += 1,
        }
    }
    processes.sort_by_key(|p| p.pid);
    (processes, unreadable)
}

/// Count of processes per (state, reason).
fn summarize(processes: &[Process]) -> BTreeMap<(State, String), usize> {
    let mut summary = BTreeMap::new();
    for p in processes {
        *summary.entry(p.state()).or_default() += 1;
    }
    summary
}

/// `processes` (and Docker's containers, `null` without a dockerd) as the `--json` document.
fn document(processes: &[Process], unreadable: usize, docker: Value) -> Value {
    let summary: Vec<_> = summarize(processes)
        .iter()
        .map(|((state, reason), n)| {
            json!({"state": state.id(), "reason": (!reason.is_empty()).then_some(reason), "count": n})
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "processes": processes.iter().map(Process::json).collect::<Vec<_>>(),
        "summary": summary,
        "unreadable_processes": unreadable,
        "docker": docker,
    })
}

/// The machine's processes as JSON (what `status --json` prints and `flare` keeps).
pub fn report() -> Value {
    let (processes, unreadable) = scan();
    document(
        &processes,
        unreadable,
        docker_json(docker_containers().as_ref()),
    )
}

/// Docker's running containers, if a dockerd reads the machine's `daemon.json`.
fn docker_containers() -> Option<Result<Vec<docker_status::ContainerState>, String>> {
    let root = crate::layout::Root::new(Path::new("/")).ok()?;
    docker_status::containers(&root)
}

fn docker_json(containers: Option<&Result<Vec<docker_status::ContainerState>, String>>) -> Value {
    containers.map_or(Value::Null, docker_status::status_json)
}

/// `text` cut to `width` characters, the last one `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// `text`, or `-` when empty, escaped for the terminal.
fn column(text: &str) -> Cow<'_, str> {
    if text.is_empty() {
        Cow::Borrowed("-")
    } else {
        escaped(text)
    }
}

/// The text `status` prints: a line per process, its changes, and a summary line per state
/// and reason. Everything the processes supplied (their records, command lines and
/// environment) is [`escaped`]: one process is one line, whatever its arguments hold.
fn text(processes: &[Process], unreadable: usize) -> String {
    let mut out = format!(
        "{:>7}  {:<21} {:<28} {:<7} {:<13} {:<20} COMMAND\n",
        "PID", "STATE", "REASON", "RUNTIME", "SDK", "SERVICE"
    );
    for p in processes {
        let (state, reason) = p.state();
        out += &format!(
            "{:>7}  {:<21} {:<28} {:<7} {:<13} {:<20} {}\n",
            p.pid,
            state.id(),
            column(&reason),
            escaped(&p.runtime),
            column(&p.sdk),
            column(&p.service),
            cut(&escaped(&p.args.join(" ")), 100),
        );
        for change in p.changes() {
            out += &format!("{:>9}{}\n", "", escaped(&change));
        }
    }
    out.push('\n');
    for ((state, reason), count) in summarize(processes) {
        let why = match (state, reason.as_str()) {
            (State::RestartToInstrument, _) => {
                " (started before the install: restart to instrument)".to_owned()
            }
            (_, "") => String::new(),
            (_, reason) => format!(" ({})", escaped(reason)),
        };
        out += &format!("{count} {}{why}\n", state.id());
    }
    if unreadable > 0 {
        // SAFETY: geteuid cannot fail.
        let hint = match unsafe { libc::geteuid() } {
            0 => "even as root: reading another process needs CAP_SYS_PTRACE, which this one lacks, or they ended meanwhile",
            _ => "run as root to see all",
        };
        out += &format!("{unreadable} processes could not be read ({hint})\n");
    }
    out
}

/// Prints the processes and the summary, as text or JSON.
pub fn run(json_output: bool) -> Result<(), String> {
    let (processes, unreadable) = scan();
    let docker = docker_containers();
    if json_output {
        let docker = docker_json(docker.as_ref());
        say!("{:#}", document(&processes, unreadable, docker));
        return Ok(());
    }
    crate::output::stdout(format_args!("{}", text(&processes, unreadable)));
    if let Some(containers) = &docker {
        say!();
        for line in docker_status::status_lines(containers) {
            say!("{line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record page: the launcher's text, and the tracer's at its offset.
    fn page(launcher: &str, tracer: &str) -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        page[..launcher.len()].copy_from_slice(launcher.as_bytes());
        let at = status::TRACER_OFFSET;
        page[at..at + tracer.len()].copy_from_slice(tracer.as_bytes());
        page
    }

    const INJECTED: &str = "apm-inject-status 1\nexe=/usr/bin/python3.11\nruntime=python\noutcome=injected\nreason=\nset=DD_SERVICE=shop\nunset=X\n";

    #[test]
    fn parses_the_launchers_part() {
        let p = Process::from_record(u32::MAX, &page(INJECTED, "")).unwrap();
        assert_eq!((p.runtime.as_str(), p.service.as_str()), ("python", "shop"));
        assert_eq!(p.changes(), ["DD_SERVICE=shop", "-X"]);
        assert_eq!(p.state(), (State::Injected, String::new()));
        assert!(Process::from_record(1, b"something else\n").is_none());
    }

    #[test]
    fn an_opentelemetry_process_shows_its_sdk_and_otel_service_name() {
        let record = "apm-inject-status 1\nexe=/usr/bin/node\nruntime=node\noutcome=injected\nreason=\nsdk=opentelemetry\nset=DD_SERVICE=not-this\nset=OTEL_SERVICE_NAME=orders\n";
        let p = Process::from_record(u32::MAX, &page(record, "")).unwrap();
        assert_eq!(
            (p.sdk.as_str(), p.service.as_str()),
            ("opentelemetry", "orders")
        );
        assert!(text(&[p], 0)
            .lines()
            .nth(1)
            .unwrap()
            .contains(" opentelemetry "));
    }

    #[test]
    fn the_tracers_outcome_decides_the_state() {
        let tracer = |text: &str| {
            let p = Process::from_record(u32::MAX, &page(INJECTED, text)).unwrap();
            p.state()
        };
        assert_eq!(
            tracer("apm-inject-tracer 1\noutcome=complete\ntracer_version=4.16.0\n"),
            (State::Traced, String::new())
        );
        assert_eq!(
            tracer("apm-inject-tracer 1\noutcome=abort\nreason=incompatible_runtime\n"),
            (State::Aborted, "incompatible_runtime".into())
        );
        assert_eq!(
            tracer("apm-inject-tracer 1\noutcome=error\nreason=import_ddtrace_importerror\n"),
            (State::Error, "import_ddtrace_importerror".into())
        );
        assert_eq!(
            tracer("not ours\noutcome=complete\n"),
            (State::Injected, String::new())
        );
    }

    #[test]
    fn a_skip_is_the_launchers_whatever_the_tracer_says() {
        let skipped = "apm-inject-status 1\nexe=/usr/bin/pip\nruntime=python\noutcome=skipped\nreason=python_pip\n";
        let p = Process::from_record(
            u32::MAX,
            &page(skipped, "apm-inject-tracer 1\noutcome=complete\n"),
        )
        .unwrap();
        assert_eq!(p.state(), (State::Skipped, "python_pip".into()));
    }

    #[test]
    fn json_and_text_show_each_state_and_a_summary() {
        let traced = Process::from_record(
            u32::MAX,
            &page(
                INJECTED,
                "apm-inject-tracer 1\noutcome=complete\ntracer_version=4.16.0\n",
            ),
        )
        .unwrap();
        let old = Process {
            pid: 7,
            runtime: "node".into(),
            exe: "/usr/bin/node".into(),
            args: vec!["node".into(), "server.js".into()],
            ..Process::default()
        };
        let doc = document(&[traced, old], 0, Value::Null);
        assert_eq!(doc["schema_version"], 1);
        let p = &doc["processes"][0];
        assert_eq!(p["state"], "traced");
        assert_eq!(p["reason"], Value::Null);
        assert_eq!(p["launcher"]["outcome"], "injected");
        assert_eq!(p["tracer"]["outcome"], "complete");
        assert_eq!(p["tracer"]["version"], "4.16.0");
        let old = &doc["processes"][1];
        assert_eq!(old["state"], "restart_to_instrument");
        assert_eq!(old["launcher"], Value::Null);
        assert_eq!(old["command_line"], json!(["node", "server.js"]));
        assert_eq!(doc["summary"].as_array().unwrap().len(), 2);
        let printed = text(
            &[Process {
                pid: 7,
                runtime: "node".into(),
                args: vec!["node".into(), "server.js".into()],
                ..Process::default()
            }],
            0,
        );
        assert!(printed.contains("restart_to_instrument"), "{printed}");
        assert!(
            printed.contains(
                "1 restart_to_instrument (started before the install: restart to instrument)"
            ),
            "{printed}"
        );
    }

    #[test]
    fn text_escapes_the_tracers_reason_in_rows_and_summary() {
        // The tracer's area is written by the process itself.
        let aborted = Process::from_record(
            u32::MAX,
            &page(
                INJECTED,
                "apm-inject-tracer 1\noutcome=abort\nreason=x\x1b[2J\r\n",
            ),
        )
        .unwrap();
        let printed = text(&[aborted], 0);
        assert!(!printed.contains(['\x1b', '\r']), "{printed:?}");
        assert_eq!(printed.matches(r"x\u{1b}[2J").count(), 2, "{printed}");
    }

    #[test]
    fn long_command_lines_are_cut() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abcd", 4), "abcd");
        assert_eq!(cut("é", 1), "é");
    }
}
