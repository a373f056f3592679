//! `apm-inject flare`: one `tar.gz` with what support needs, secrets redacted ([`redact`]).
//!
//! Contents, under `apm-inject-flare/`: `doctor.txt` and `doctor.json`; `versions.txt`
//! (this CLI, each installed package's stable version, kernel, OS); `ld.so.preload`;
//! `packages.txt` (the package tree with modes, owners, sizes and link targets); the YAML and
//! JSON configuration files under `etc/datadog-agent/inject/`, parsed and re-emitted with
//! secret values redacted, and `config-files.txt` listing every file there (others, such as
//! the compiled `host_config.bin`, which holds the same values unredacted, are listed, never
//! included); under `logs/`, the tail of each debug log the launcher writes to, as configured
//! in this environment, the host configuration and the environments of running processes.
//! For the host, also `environment.txt` (this process's `DD_*`, `LD_PRELOAD` and runtime option
//! variables) and `status.json` (the launchers' decisions for running processes). With
//! `--root`, only the root's own files: nothing from this host's environment or processes.
//!
//! `-o FILE` writes a new file (never over an existing one), `-o DIR` a new file in that
//! directory, `-o -` standard output; by default, a new file in the temporary directory.

use crate::layout::Root;
use crate::output::say;
use crate::package::Package;
use crate::{doctor, errors, logs, manifest, redact, status, system_file, tree};
use flate2::write::GzEncoder;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Directory inside the archive.
const TOP: &str = "apm-inject-flare";
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

/// Writes the flare for `root` to `output` (see the module docs).
pub fn run(root: &Path, output: Option<PathBuf>) -> Result<(), String> {
    let root = Root::new(root)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("apm-inject-flare-{now}.tar.gz");
    let output = match output {
        Some(path) if path == Path::new("-") => None,
        Some(dir) if dir.is_dir() => Some(dir.join(name)),
        Some(file) => Some(file),
        None => Some(std::env::temp_dir().join(name)),
    };
    let contents = contents(&root)?;
    match &output {
        None => {
            let stdout = std::io::stdout().lock();
            write_archive(stdout, &contents, now)
                .map(drop)
                .map_err(|e| format!("cannot write the flare to standard output: {e}"))?;
        }
        Some(path) => {
            // Created 0600 and never over an existing file: the flare describes the host.
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(errors::io("create", path))?;
            let file = write_archive(file, &contents, now).map_err(errors::io("write", path))?;
            file.sync_all().map_err(errors::io("write", path))?;
            say!("{}", path.display());
        }
    }
    Ok(())
}

/// Writes `contents` to `out` as a gzip-compressed tar archive; returns `out`.
fn write_archive<W: Write>(
    out: W,
    contents: &[(PathBuf, Vec<u8>)],
    now: u64,
) -> std::io::Result<W> {
    let mut archive = tar::Builder::new(GzEncoder::new(out, flate2::Compression::default()));
    for (name, content) in contents {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(now);
        header.set_cksum();
        archive.append_data(&mut header, Path::new(TOP).join(name), &content[..])?;
    }
    let mut out = archive.into_inner()?.finish()?;
    out.flush()?;
    Ok(out)
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
        (PathBuf::from("packages.txt"), listing(root).into_bytes()),
    ];
    if root.is_host() {
        files.push((
            PathBuf::from("environment.txt"),
            redact::redact(environment().as_bytes()),
        ));
        files.push((
            PathBuf::from("status.json"),
            redact::redact(format!("{:#}\n", status::report()).as_bytes()),
        ));
    }
    let preload = root.ld_so_preload();
    files.push((
        PathBuf::from("ld.so.preload"),
        match system_file::read(&preload) {
            Ok(Some(content)) => content,
            Ok(None) => b"(missing)\n".to_vec(),
            Err(e) => format!("({e})\n").into_bytes(),
        },
    ));
    files.extend(configuration(root)?);
    files.extend(debug_logs(root));
    Ok(files)
}

/// The configuration directory's YAML and JSON files, redacted, and `config-files.txt`.
fn configuration(root: &Root) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    let config = crate::config::dir_in(root);
    let mut files = Vec::new();
    let mut listing = String::new();
    if config.is_dir() {
        for entry in tree::walk(&config)? {
            let relative = entry.path.strip_prefix(&root.dir).unwrap_or(&entry.path);
            let shown = tree::describe(&entry, &root.dir);
            if !entry.meta.is_file() {
                listing += &format!("{shown}\n");
                continue;
            }
            let structured = matches!(
                entry.path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            );
            let note = if !structured {
                "not included (only YAML and JSON files are, redacted)".to_string()
            } else if entry.meta.len() > FILE_LIMIT {
                "not included (too large)".to_string()
            } else {
                match std::fs::read_to_string(&entry.path)
                    .map_err(|e| e.to_string())
                    .and_then(|text| redact::yaml(&text))
                {
                    Ok(redacted) => {
                        let header =
                            "# apm-inject flare: parsed and re-emitted with secret values \
                                      redacted; comments and formatting are not kept\n";
                        files.push((
                            relative.to_path_buf(),
                            (header.to_string() + &redacted).into_bytes(),
                        ));
                        "included, redacted".to_string()
                    }
                    Err(e) => format!("not included ({e})"),
                }
            };
            let sha256 = manifest::hash_file(&entry.path).map_or_else(|e| e, |(_, h)| h);
            listing += &format!("{shown} sha256:{sha256} uid:{} {note}\n", entry.meta.uid());
        }
    } else {
        listing += &format!("{} is missing\n", config.display());
    }
    files.push((PathBuf::from("config-files.txt"), listing.into_bytes()));
    Ok(files)
}

/// The tail of each debug log file the launcher writes to (see the module docs), redacted,
/// with `logs/sources.txt` saying where each was configured.
fn debug_logs(root: &Root) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut sources = String::new();
    let mut seen = Vec::new();
    for destinations in logs::configured(root, root.is_host(), root.is_host()) {
        sources += &format!(
            "{}: {}\n",
            destinations.origin,
            String::from_utf8_lossy(&destinations.value)
        );
        for file in destinations.files(root) {
            if seen.contains(&file) {
                continue;
            }
            let name = file
                .file_name()
                .map_or("log".into(), |n| n.to_string_lossy().into_owned());
            files.push((
                PathBuf::from(format!("logs/{}-{name}", seen.len())),
                read_redacted(&file),
            ));
            seen.push(file);
        }
    }
    files.push((PathBuf::from("logs/sources.txt"), sources.into_bytes()));
    files
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
