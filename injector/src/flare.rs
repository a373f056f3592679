//! `apm-inject flare`: one `tar.gz` with what support needs, secrets redacted ([`redact`]).
//!
//! Contents, under `apm-inject-flare/`: `doctor.txt` and `doctor.json`; `versions.txt`
//! (this CLI, each installed package's stable version, kernel, OS); `environment.txt` (this
//! process's `DD_*`, `LD_PRELOAD` and runtime option variables); `ld.so.preload`;
//! `packages.txt` (the package tree with modes, owners, sizes and link targets); the
//! configuration files under `etc/datadog-agent/inject/`; the tail of each debug log named by
//! `DD_APM_INSTRUMENTATION_OUTPUT_PATHS` under `logs/`; `status.json`, the launchers'
//! decisions for running processes (`apm-inject status --json`, of this machine: with `--root`
//! it still describes the running host).

use crate::layout::Root;
use crate::output::say;
use crate::package::Package;
use crate::{doctor, errors, logs, redact, status, system_file, tree};
use flate2::write::GzEncoder;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Directory inside the archive.
const TOP: &str = "apm-inject-flare";
/// Configuration directory, inside the root.
const CONFIG_DIR: &str = "/etc/datadog-agent/inject";
/// Most bytes taken from one log or configuration file (the end of a log).
const FILE_LIMIT: u64 = 1 << 20;
/// Variables worth reporting besides `DD_*`.
const VARIABLES: &[&str] = &[
    "LD_PRELOAD",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "_JAVA_OPTIONS",
    "NODE_OPTIONS",
    "PYTHONPATH",
];

/// Writes the flare for `root` to `output` (or a new file in the temporary directory).
pub fn run(root: &Path, output: Option<PathBuf>) -> Result<(), String> {
    let root = Root::new(root)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let output = output
        .unwrap_or_else(|| std::env::temp_dir().join(format!("apm-inject-flare-{now}.tar.gz")));
    // Created 0600 and never over an existing file: the flare describes the host.
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&output)
        .map_err(errors::io("create", &output))?;
    let mut archive = tar::Builder::new(GzEncoder::new(file, flate2::Compression::default()));
    for (name, content) in contents(&root)? {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(now);
        header.set_cksum();
        archive
            .append_data(&mut header, Path::new(TOP).join(name), &content[..])
            .map_err(errors::io("write", &output))?;
    }
    archive
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|file| file.sync_all())
        .map_err(errors::io("write", &output))?;
    say!("{}", output.display());
    Ok(())
}

/// The archive's files: (path inside the archive, content), secrets already redacted.
fn contents(root: &Root) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    let checks = doctor::report(&root.dir)?;
    let mut files = vec![
        (
            PathBuf::from("doctor.txt"),
            doctor::to_text(&checks).into_bytes(),
        ),
        (
            PathBuf::from("doctor.json"),
            format!("{:#}\n", doctor::to_json(&checks)).into_bytes(),
        ),
        (PathBuf::from("versions.txt"), versions(root)?.into_bytes()),
        (
            PathBuf::from("environment.txt"),
            redact::redact(environment().as_bytes()),
        ),
        (PathBuf::from("packages.txt"), listing(root).into_bytes()),
        (
            PathBuf::from("status.json"),
            redact::redact(format!("{:#}\n", status::report()).as_bytes()),
        ),
    ];
    let preload = root.ld_so_preload();
    files.push((
        PathBuf::from("ld.so.preload"),
        match system_file::read(&preload) {
            Ok(Some(content)) => content,
            Ok(None) => b"(missing)\n".to_vec(),
            Err(e) => format!("({e})\n").into_bytes(),
        },
    ));
    let config = root.path(Path::new(CONFIG_DIR));
    if config.is_dir() {
        for entry in tree::walk(&config)?
            .into_iter()
            .filter(|e| e.meta.is_file())
        {
            let relative = entry
                .path
                .strip_prefix(&root.dir)
                .expect("walked under the root");
            files.push((relative.to_path_buf(), read_redacted(&entry.path)));
        }
    }
    for (i, log) in logs::from_env().unwrap_or_default().iter().enumerate() {
        let name = log
            .file_name()
            .map_or("log".into(), |n| n.to_string_lossy().into_owned());
        files.push((
            PathBuf::from(format!("logs/{i}-{name}")),
            read_redacted(log),
        ));
    }
    Ok(files)
}

/// The end of a file, redacted; or why it could not be read.
fn read_redacted(path: &Path) -> Vec<u8> {
    match logs::tail(path, FILE_LIMIT) {
        Ok(content) => redact::redact(&content),
        Err(e) => format!("(cannot read {}: {e})\n", path.display()).into_bytes(),
    }
}

fn versions(root: &Root) -> Result<String, String> {
    let mut out = format!("apm-inject {}\n", env!("CARGO_PKG_VERSION"));
    for dir in root.our_packages()? {
        let package = Package { dir };
        let version = package
            .stable_version()
            .map_or("(no stable version)".into(), |v| {
                v.to_string_lossy().into_owned()
            });
        out += &format!("{}: {version}\n", package.dir.display());
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    out += &format!("kernel: {}\n", kernel.trim());
    let os_release =
        std::fs::read_to_string(root.path(Path::new("/etc/os-release"))).unwrap_or_default();
    if let Some(name) = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
    {
        out += &format!("os: {}\n", name.trim_matches('"'));
    }
    Ok(out)
}

fn environment() -> String {
    let mut lines: Vec<String> = std::env::vars_os()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            name.starts_with("DD_") || VARIABLES.contains(&&*name)
        })
        .map(|(name, value)| format!("{}={}\n", name.to_string_lossy(), value.to_string_lossy()))
        .collect();
    lines.sort();
    lines.concat()
}

fn listing(root: &Root) -> String {
    let packages = root.packages();
    match tree::walk(&packages) {
        Ok(entries) => entries
            .iter()
            .map(|e| tree::describe(e, &packages) + "\n")
            .collect(),
        Err(e) => format!("({e})\n"),
    }
}
