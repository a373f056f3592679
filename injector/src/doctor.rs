//! `apm-inject doctor`: the checks an operator would otherwise make by hand, each a line with
//! its status (pass, fail, n/a) and, when it fails, the fix to apply.
//!
//! To add a check, write a function from `Context` (what the checks look at, read once) to
//! checks and list it in `CHECKS`.

use crate::layout::{self, Root, INJECT_PACKAGE, LIBRARY_PREFIX};
use crate::output::say;
use crate::package::{self, Package};
use crate::support::{self, Support};
use crate::{agent, loadcheck, lock, logs, preload_file, system_file, transaction, tree};
use contract::sdk::Sdk;
use serde_json::json;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Free space wanted on the packages' filesystem: room for an upgrade beside the current version.
const MIN_FREE_BYTES: u64 = 1 << 30;
/// How many offending paths a failure lists.
const MAX_LISTED: usize = 5;

/// The checks, in the order they are reported.
const CHECKS: &[fn(&Context) -> Vec<Check>] = &[
    ld_so_preload,
    launcher_loads,
    ld_preload_variable,
    inject_package,
    libraries,
    package_files,
    interrupted_change,
    config,
    world_writable,
    disk_space,
    debug_logs,
    agent,
    runtimes,
    docker,
];

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// All good.
    Pass,
    /// Something to fix.
    Fail,
    /// Works, but not as one may expect (e.g. a runtime its tracer does not support); does
    /// not change the exit status.
    Warn,
    /// Does not apply here, e.g. no log file configured.
    NotApplicable,
}

impl Status {
    /// Stable id, e.g. `"n/a"`.
    pub fn id(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::NotApplicable => "n/a",
        }
    }
}

/// One check's result.
pub struct Check {
    /// Stable id, e.g. `ld_so_preload_permissions`.
    pub id: String,
    /// Its status.
    pub status: Status,
    /// What was found, e.g. `owned by 0:0, mode 0644`.
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

impl Check {
    fn pass(id: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            id: id.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(id: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            id: id.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn warn(id: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            id: id.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: None,
        }
    }

    fn not_applicable(id: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            id: id.into(),
            status: Status::NotApplicable,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// What the checks look at, read once.
struct Context {
    root: Root,
    /// `<root>/etc/ld.so.preload`, its content (`None`: missing) or why it cannot be read.
    preload: (PathBuf, Result<Option<Vec<u8>>, String>),
}

impl Context {
    /// How to run `apm-inject <verb>` for this root, quoted, e.g.
    /// `` `apm-inject install --root /img` ``.
    fn command(&self, verb: &str) -> String {
        match self.root.is_host() {
            true => format!("`apm-inject {verb}`"),
            false => format!("`apm-inject {verb} --root {}`", self.root.dir.display()),
        }
    }

    /// The launcher entry of ours in `/etc/ld.so.preload`, as seen inside the root.
    fn listed_launcher(&self) -> Option<PathBuf> {
        let content = self.preload.1.as_ref().ok()?.as_ref()?;
        preload_file::entries(content)
            .into_iter()
            .find(|e| preload_file::is_ours(e))
            .map(|e| PathBuf::from(std::ffi::OsStr::from_bytes(e)))
    }
}

/// Runs every check on `root`.
pub fn report(root: &Path) -> Result<Vec<Check>, String> {
    let root = Root::new(root)?;
    let path = root.ld_so_preload();
    let content = system_file::read(&path);
    let context = Context {
        root,
        preload: (path, content),
    };
    Ok(CHECKS.iter().flat_map(|check| check(&context)).collect())
}

/// Prints the report; an error if any check failed.
pub fn run(root: &Path, json: bool) -> Result<(), String> {
    let checks = report(root)?;
    if json {
        say!("{:#}", to_json(&checks));
    } else {
        crate::output::stdout(format_args!("{}", to_text(&checks)));
    }
    match checks.iter().filter(|c| c.status == Status::Fail).count() {
        0 => Ok(()),
        failed => Err(format!("{failed} check(s) failed")),
    }
}

/// The report as text: one line per check, a fix line under each failure, a summary.
pub fn to_text(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let status = check.status.id().to_uppercase();
        out += &format!("{status:<5} {:<28} {}\n", check.id, check.detail);
        if let Some(fix) = &check.fix {
            out += &format!("      fix: {fix}\n");
        }
    }
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    out += &format!(
        "{} passed, {} failed, {} warnings, {} not applicable\n",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Warn),
        count(Status::NotApplicable)
    );
    out
}

/// The report as JSON: `{"ok", "checks": [{"id", "status", "detail", "fix"}]}`.
pub fn to_json(checks: &[Check]) -> serde_json::Value {
    let list: Vec<_> = checks
        .iter()
        .map(|c| json!({"id": c.id, "status": c.status.id(), "detail": c.detail, "fix": c.fix}))
        .collect();
    json!({"ok": checks.iter().all(|c| c.status != Status::Fail), "checks": list})
}

fn docker(cx: &Context) -> Vec<Check> {
    crate::docker_status::findings(&cx.root)
        .into_iter()
        .map(|(id, outcome, detail, fix)| match outcome {
            Some(true) => Check::pass(id, detail),
            Some(false) => Check::fail(id, detail, fix.unwrap_or_default()),
            None => Check::not_applicable(id, detail),
        })
        .collect()
}

fn ld_so_preload(cx: &Context) -> Vec<Check> {
    let (path, content) = &cx.preload;
    let shown = path.display();
    let install = format!("run {}", cx.command("install"));
    let exists = match content {
        Err(e) => Check::fail(
            "ld_so_preload_exists",
            e.clone(),
            format!("move it away, then {install}"),
        ),
        Ok(None) => Check::fail(
            "ld_so_preload_exists",
            format!("{shown} is missing"),
            &install,
        ),
        Ok(Some(_)) => Check::pass("ld_so_preload_exists", format!("{shown} is a regular file")),
    };
    if exists.status == Status::Fail {
        return vec![
            exists,
            Check::not_applicable("ld_so_preload_permissions", "no file to check"),
            Check::not_applicable("ld_so_preload_lists_launcher", "no file to check"),
        ];
    }
    let permissions = match std::fs::metadata(path) {
        Ok(m) if m.uid() == 0 && m.gid() == 0 && m.mode() & 0o7777 == 0o644 => {
            Check::pass("ld_so_preload_permissions", "owned by root:root, mode 0644")
        }
        Ok(m) => Check::fail(
            "ld_so_preload_permissions",
            format!(
                "owned by {}:{}, mode {:04o}",
                m.uid(),
                m.gid(),
                m.mode() & 0o7777
            ),
            format!("chown root:root {shown} && chmod 0644 {shown}"),
        ),
        Err(e) => Check::fail("ld_so_preload_permissions", e.to_string(), &install),
    };
    let stable = layout::stable_launcher();
    let lists = match cx.listed_launcher() {
        Some(entry) if entry == stable => Check::pass(
            "ld_so_preload_lists_launcher",
            format!("lists {}", entry.display()),
        ),
        Some(entry) => Check::fail(
            "ld_so_preload_lists_launcher",
            format!(
                "lists {}, not the stable path {}",
                entry.display(),
                stable.display()
            ),
            &install,
        ),
        None => Check::fail(
            "ld_so_preload_lists_launcher",
            "the launcher is not listed",
            &install,
        ),
    };
    vec![exists, permissions, lists]
}

fn launcher_loads(cx: &Context) -> Vec<Check> {
    let launcher = cx.listed_launcher().unwrap_or_else(layout::stable_launcher);
    vec![match loadcheck::prove(&cx.root, &launcher) {
        Ok(proof) => Check::pass(
            "launcher_loads",
            format!("{} loads into {proof}", launcher.display()),
        ),
        Err(e) => Check::fail(
            "launcher_loads",
            e,
            format!(
                "run {} to reinstall it, or {} to remove its entry",
                cx.command("install"),
                cx.command("uninstall")
            ),
        ),
    }]
}

/// `LD_PRELOAD` in this environment: every entry must load (the loader's own verdict, with
/// `$LIB` expanded and relative paths resolved as it does), and a launcher of ours must exist.
fn ld_preload_variable(_: &Context) -> Vec<Check> {
    let id = "ld_preload_variable";
    let Some(value) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) else {
        return vec![Check::pass(
            id,
            "not set in this environment (hosts rely on /etc/ld.so.preload)",
        )];
    };
    let shown = value.to_string_lossy();
    let fix = format!(
        "set LD_PRELOAD='{}' or unset it",
        layout::stable_launcher().display()
    );
    let entries = preload_file::entries(value.as_bytes());
    let missing: Vec<_> = entries
        .iter()
        .map(|e| Path::new(std::ffi::OsStr::from_bytes(e)))
        .filter(|p| preload_file::is_ours(p.as_os_str().as_bytes()) && !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        return vec![Check::fail(
            id,
            format!(
                "LD_PRELOAD={shown} names a missing launcher: {}",
                missing.join(", ")
            ),
            fix,
        )];
    }
    if let Some(complaint) = loadcheck::loader_complaint(&value) {
        return vec![Check::fail(
            id,
            format!("LD_PRELOAD={shown}: every program started with it prints {complaint:?}"),
            fix,
        )];
    }
    vec![if entries.iter().any(|e| preload_file::is_ours(e)) {
        Check::pass(id, format!("LD_PRELOAD={shown} names the launcher"))
    } else {
        Check::pass(id, format!("LD_PRELOAD={shown}, without the launcher"))
    }]
}

fn inject_package(cx: &Context) -> Vec<Check> {
    let package = Package {
        dir: cx.root.packages().join(INJECT_PACKAGE),
    };
    let shown = package.dir.display();
    vec![match package.stable_version() {
        Some(v) if layout::launcher_in(&package.dir.join(&v)).is_file() => Check::pass(
            "inject_package",
            format!("{shown}: stable -> {}", v.to_string_lossy()),
        ),
        Some(v) => Check::fail(
            "inject_package",
            format!(
                "{shown}: stable -> {}, which has no launcher",
                v.to_string_lossy()
            ),
            format!("run {}", cx.command("install")),
        ),
        None => Check::fail(
            "inject_package",
            format!("{shown} has no stable version"),
            format!("run {}", cx.command("install")),
        ),
    }]
}

/// The library packages the launcher uses: (check id, package name, entry point for glibc
/// processes), e.g. `("library_js", "datadog-apm-library-js", "bootstrap.cjs")`; the
/// OpenTelemetry SDK's checks are `library_opentelemetry_<language>`.
fn languages() -> Vec<(String, String, &'static str)> {
    use analyzer::Runtime::*;
    let mut packages = Vec::new();
    for sdk in Sdk::ALL {
        for r in [Java, Node, Python, Ruby, Php, Dotnet] {
            let id = match sdk {
                Sdk::Datadog => format!("library_{}", r.package()),
                Sdk::OpenTelemetry => format!("library_{}_{}", sdk.name(), r.package()),
            };
            let entry = analyzer::library_entry_point(r, Default::default(), sdk).0;
            packages.push((
                id,
                format!("{}{}", sdk.library_prefix(), r.package()),
                entry,
            ));
        }
    }
    packages
}

fn libraries(cx: &Context) -> Vec<Check> {
    let mut checks = Vec::new();
    for (id, name, entry_point) in languages() {
        let package = Package {
            dir: cx.root.packages().join(name),
        };
        let shown = package.dir.display();
        if !package.dir.exists() {
            checks.push(Check::not_applicable(
                id,
                format!("{shown} is not installed"),
            ));
            continue;
        }
        let reinstall = format!(
            "run {} from a package tree that has it",
            cx.command("install")
        );
        checks.push(match package.stable_version() {
            Some(v) if package.dir.join(&v).join(entry_point).exists() => Check::pass(
                id,
                format!(
                    "{shown}: stable -> {}, has {entry_point}",
                    v.to_string_lossy()
                ),
            ),
            Some(v) => Check::fail(
                id,
                format!(
                    "{shown}: stable -> {} lacks {entry_point}",
                    v.to_string_lossy()
                ),
                reinstall,
            ),
            None => Check::fail(id, format!("{shown} has no stable version"), reinstall),
        });
    }
    if checks.iter().all(|c| c.status == Status::NotApplicable) {
        checks.push(Check::fail(
            "libraries",
            "no tracing library is installed: no process is instrumented",
            format!(
                "ship {LIBRARY_PREFIX}<language> packages beside apm-inject and run {}",
                cx.command("install")
            ),
        ));
    }
    checks
}

/// Every installed version `stable` names matches its manifest, byte for byte.
fn package_files(cx: &Context) -> Vec<Check> {
    let id = "package_files";
    let packages = match cx.root.our_packages() {
        Ok(p) if p.is_empty() => return vec![Check::not_applicable(id, "no packages installed")],
        Ok(p) => p,
        Err(e) => return vec![Check::fail(id, e, "check the packages directory")],
    };
    let mut verified = Vec::new();
    let mut problems = Vec::new();
    for dir in packages {
        let package = Package { dir };
        let name = package
            .dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some(version) = package.stable_version() else {
            continue;
        };
        let label = format!("{name} {}", version.to_string_lossy());
        match package::verify(&package.dir.join(&version), MAX_LISTED) {
            Ok(Some(differences)) if differences.is_empty() => verified.push(label),
            Ok(Some(differences)) => problems.push(format!("{label}: {}", differences.join(", "))),
            Ok(None) => problems.push(format!(
                "{label}: no manifest (installed by an earlier apm-inject), cannot be verified"
            )),
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    vec![if problems.is_empty() {
        Check::pass(
            id,
            format!("match their manifests: {}", verified.join(", ")),
        )
    } else {
        Check::fail(
            id,
            problems.join("; "),
            format!(
                "run {} to put the packages back as shipped",
                cx.command("install")
            ),
        )
    }]
}

/// No install or uninstall was interrupted: no journal, no leftovers.
fn interrupted_change(cx: &Context) -> Vec<Check> {
    let id = "interrupted_change";
    if let Some(pid) = lock::holder(&cx.root) {
        return vec![Check::not_applicable(
            id,
            format!(
                "an install or uninstall is running (pid {pid}): these checks may see it half done"
            ),
        )];
    }
    let finish = format!(
        "run {} (or {}): it finishes or rolls back the change first",
        cx.command("install"),
        cx.command("uninstall")
    );
    match transaction::interrupted(&cx.root) {
        Ok(Some((operation, pid, state))) => {
            let point = match state {
                transaction::State::Planned => "before its commit point: it will be rolled back",
                transaction::State::Committed => "after its commit point: it will be finished",
            };
            return vec![Check::fail(
                id,
                format!("an {operation} (pid {pid}) was interrupted {point}"),
                finish,
            )];
        }
        Ok(None) => {}
        Err(e) => return vec![Check::fail(id, e, "move the journal away")],
    }
    let leftovers = transaction::leftovers(&cx.root);
    vec![if leftovers.is_empty() {
        Check::pass(id, "no interrupted install or uninstall")
    } else {
        let listed: Vec<_> = leftovers
            .iter()
            .take(MAX_LISTED)
            .map(|p| p.display().to_string())
            .collect();
        Check::fail(
            id,
            format!("left by an interrupted run: {}", listed.join(" ")),
            finish,
        )
    }]
}

/// The host configuration: valid, and compiled into the form the library reads, current.
fn config(cx: &Context) -> Vec<Check> {
    let dir = cx.root.path(&crate::config::dir());
    let source = dir.join(contract::config::SOURCE_FILE);
    let compiled = dir.join(contract::config::COMPILED_FILE);
    let apply = format!("fix the errors, then run {}", cx.command("config apply"));
    let dropin_path = cx.root.path(std::path::Path::new(crate::otelinject::PATH));
    if !source.exists() && !dropin_path.exists() {
        return vec![match compiled.exists() {
            true => Check::fail(
                "config",
                format!("{} exists without {}", compiled.display(), source.display()),
                apply,
            ),
            false => Check::not_applicable(
                "config",
                format!("{} not present: defaults apply", source.display()),
            ),
        }];
    }
    let compiled_source = crate::otelinject::read(&dropin_path, crate::otelinject::PATH)
        .and_then(|dropin| crate::config::compile(&source, dropin.as_ref()));
    let bytes = match compiled_source {
        Ok(bytes) => bytes,
        Err(errors) => return vec![Check::fail("config", errors, apply)],
    };
    vec![match std::fs::read(&compiled) {
        Ok(current) if current == bytes => Check::pass(
            "config",
            format!("{} is valid and applied", source.display()),
        ),
        Ok(_) => Check::fail(
            "config",
            format!("{} changed since it was applied", source.display()),
            apply,
        ),
        Err(_) => Check::fail(
            "config",
            format!("{} is valid but not applied", source.display()),
            apply,
        ),
    }]
}

/// Entries of our packages that the group or others may write (the check keeps its first
/// name, `world_writable`): either is code execution as root for someone else.
fn world_writable(cx: &Context) -> Vec<Check> {
    let id = "world_writable";
    let packages = match cx.root.our_packages() {
        Ok(p) if p.is_empty() => return vec![Check::not_applicable(id, "no packages installed")],
        Ok(p) => p,
        Err(e) => return vec![Check::fail(id, e, "check the packages directory")],
    };
    let mut writable = Vec::new();
    for package in &packages {
        match tree::walk(package) {
            Ok(entries) => writable.extend(
                entries
                    .into_iter()
                    .filter(|e| !e.meta.file_type().is_symlink() && e.meta.mode() & 0o022 != 0)
                    .map(|e| e.path.display().to_string()),
            ),
            Err(e) => return vec![Check::fail(id, e, "check the packages directory")],
        }
    }
    vec![if writable.is_empty() {
        Check::pass(
            id,
            format!(
                "nothing group- or world-writable under {}",
                cx.root.packages().display()
            ),
        )
    } else {
        let listed = writable
            .iter()
            .take(MAX_LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        Check::fail(
            id,
            format!("{} group- or world-writable: {listed}", writable.len()),
            format!(
                "chmod go-w {listed} (or run {} again)",
                cx.command("install")
            ),
        )
    }]
}

fn disk_space(cx: &Context) -> Vec<Check> {
    let id = "disk_space";
    let dir = cx.root.packages();
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    vec![match rustix::fs::statvfs(existing) {
        Ok(s) => {
            let free = s.f_bavail * s.f_frsize;
            let detail = format!(
                "{:.1} GiB free on the filesystem of {}",
                free as f64 / (1u64 << 30) as f64,
                existing.display()
            );
            if free >= MIN_FREE_BYTES {
                Check::pass(id, detail)
            } else {
                Check::fail(
                    id,
                    detail,
                    "free at least 1 GiB there: an upgrade holds two versions at once",
                )
            }
        }
        Err(e) => Check::fail(
            id,
            format!("cannot read free space of {}: {e}", existing.display()),
            "check the filesystem",
        ),
    }]
}

/// The launcher's debug log destinations (this environment's and the host configuration's):
/// the files exist, and none is one the launcher would ignore (a relative path).
fn debug_logs(cx: &Context) -> Vec<Check> {
    let id = "debug_logs";
    let configured = logs::configured(&cx.root, true, false);
    if configured.is_empty() {
        return vec![Check::not_applicable(
            id,
            format!(
                "{} is not set and the host configuration has no output_paths",
                logs::OUTPUT_PATHS
            ),
        )];
    }
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for destinations in &configured {
        let origin = &destinations.origin;
        for ignored in logs::ignored(&destinations.value) {
            problems.push(format!(
                "{ignored:?} ({origin}) is not an absolute path: the launcher ignores it"
            ));
        }
        for file in destinations.files(&cx.root) {
            match std::fs::metadata(&file) {
                Ok(m) if m.is_file() => {
                    let age = m
                        .modified()
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .map_or(0, |d| d.as_secs());
                    found.push(format!(
                        "{}: {} bytes, last written {age} s ago",
                        file.display(),
                        m.len()
                    ));
                }
                _ => problems.push(format!("no log file {} ({origin})", file.display())),
            }
        }
    }
    vec![if problems.is_empty() {
        Check::pass(
            id,
            if found.is_empty() {
                "only stderr is configured".to_string()
            } else {
                found.join("; ")
            },
        )
    } else {
        Check::fail(
            id,
            problems.join("; "),
            "use stderr or absolute paths (file:///var/log/apm-inject.log); run a runtime with \
             DD_APM_INSTRUMENTATION_DEBUG=true and check the file's directory is writable",
        )
    }]
}

/// The agent, where the tracers will look for it (this environment's variables and defaults).
fn agent(cx: &Context) -> Vec<Check> {
    let id = "agent";
    if !cx.root.is_host() {
        return vec![Check::not_applicable(
            id,
            "checked on the host that runs the applications",
        )];
    }
    vec![match agent::probe() {
        (at, Ok(())) => Check::pass(id, format!("the agent at {at} accepts connections")),
        (at, Err(e)) => Check::fail(
            id,
            format!("nothing accepts connections at {at}, where the tracers will send: {e}"),
            "start the Datadog agent (apm_config enabled), or point the tracers at it with \
             DD_TRACE_AGENT_URL or DD_AGENT_HOST/DD_TRACE_AGENT_PORT",
        ),
    }]
}

/// Each runtime on this host and whether an installed tracer supports it.
fn runtimes(cx: &Context) -> Vec<Check> {
    if !cx.root.is_host() {
        return vec![Check::not_applicable(
            "runtimes",
            "checked on the host that runs the applications",
        )];
    }
    support::runtimes(&cx.root)
        .into_iter()
        .map(|(name, support)| {
            let id = format!("runtime_{name}");
            match support {
                Support::Traced(detail) => Check::pass(id, detail),
                Support::NotTraced(detail) => Check::warn(id, detail),
                Support::NotApplicable(detail) => Check::not_applicable(id, detail),
            }
        })
        .collect()
}
