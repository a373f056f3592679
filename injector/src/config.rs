//! `apm-inject config check|apply`: the host configuration, from YAML to the compiled form the
//! library reads.
//!
//! ```yaml
//! log_level: debug          # debug turns the library's debug log on (off, error, warn, info: off)
//! output_paths: [stderr]    # or file paths / file:// URLs; a string or a list
//! languages: {java: true, python: false}   # disable runtimes (java, node, python, ruby, php, dotnet)
//! env: prod                 # DD_ENV for processes that have none
//! version: "1.4"            # DD_VERSION for processes that have none
//! time_budget_ms: 1000      # bound on one process's decision
//! sdk: datadog              # or opentelemetry (otel): which SDKs are injected; a process's
//!                           # DD_APM_INSTRUMENTATION_SDK overrides it
//! rules:                    # first match wins; DD_INSTRUMENT_SERVICE_WITH_APM=false wins over all
//!   - action: deny          # or allow (allow also overrides the default deny list)
//!     id: batch-jobs        # optional; defaults to host_config.yaml:LINE
//!     runtime: java
//!     exe: "**/java"
//!     args: [{any: ["--batch"]}]
//!     env: {STAGE: "prod*"}
//!     cwd: "/srv/batch/**"
//! ```
//! Conditions are those of the default deny list (`deny-list/deny-list.yaml`). Errors are
//! reported as `file:line:column: message`; `apply` never replaces a good compiled file with a
//! bad one, and writes atomically.

use crate::layout::Root;
use crate::otelinject;
use crate::output::say;
use crate::{system_file, tree};
use contract::config::{self, Source};
use contract::runtime::Runtime;
use contract::sdk::Sdk;
use rule_yaml::tree::{self as yaml, Error, Node, Pos};
use std::path::{Path, PathBuf};

/// Largest configuration file accepted.
const MAX_SOURCE: u64 = 1 << 20;
const KEYS: &[&str] = &[
    "log_level",
    "output_paths",
    "languages",
    "env",
    "version",
    "time_budget_ms",
    "sdk",
    "rules",
];

/// The configuration directory: `DD_APM_INSTRUMENTATION_CONFIG_DIR`, else the default.
pub fn dir() -> PathBuf {
    std::env::var_os(config::DIR_VARIABLE)
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(config::DEFAULT_DIR), PathBuf::from)
}

/// Reads and validates `path` with the OpenTelemetry injector's file `dropin` (its rules after
/// the YAML's; a missing YAML is then no error); errors as `file:line[:column]: message`.
pub fn compile(path: &Path, dropin: Option<&otelinject::Dropin>) -> Result<Vec<u8>, String> {
    if dropin.is_some() && !path.exists() {
        let source = parse_with(&empty_mapping(), "host_config.yaml", dropin)
            .map_err(|e| format!("{}:{e}", path.display()))?;
        return config::encode(&source).map_err(|e| format!("{}: {e}", path.display()));
    }
    let at = |e: Error| format!("{}:{e}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > MAX_SOURCE {
        return Err(format!(
            "{}:1:1: larger than {} bytes",
            path.display(),
            MAX_SOURCE
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{}:1:1: not UTF-8 text", path.display()))?;
    // Editors on some systems start UTF-8 files with a byte order mark: not part of the YAML.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let file_name = path.file_name().map_or("host_config.yaml".into(), |n| {
        n.to_string_lossy().into_owned()
    });
    let root = yaml::parse(text).map_err(at)?.unwrap_or_else(empty_mapping);
    let source = parse_with(&root, &file_name, dropin).map_err(at)?;
    config::encode(&source).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
fn parse(root: &Node, file_name: &str) -> Result<Source, Error> {
    parse_with(root, file_name, None)
}

/// The configuration of an empty file.
fn empty_mapping() -> Node {
    yaml::parse("{}")
        .ok()
        .flatten()
        .expect("an empty mapping parses")
}

/// The configuration of `root`, with the drop-in's rules after its own,
/// its disabled runtimes added, and the OpenTelemetry SDK unless `sdk` says otherwise.
fn parse_with(
    root: &Node,
    file_name: &str,
    dropin: Option<&otelinject::Dropin>,
) -> Result<Source, Error> {
    let fields = root.fields("host configuration", KEYS)?;
    let mut source = Source::default();
    if dropin.is_some() {
        source.sdk = Sdk::OpenTelemetry;
    }
    if let Some(n) = fields.get("log_level") {
        let level = n.string("log_level")?;
        source.debug = match level.to_ascii_lowercase().as_str() {
            "debug" | "trace" => true,
            "off" | "error" | "warn" | "warning" | "info" => false,
            _ => {
                return Err(Error::at(
                    n.pos,
                    format!("log_level: unknown level \"{level}\""),
                ))
            }
        };
    }
    if let Some(n) = fields.get("output_paths") {
        let paths = n.strings("output_paths")?;
        for path in &paths {
            check_output_path(n, path)?;
        }
        source.output_paths = paths.join(",");
    }
    if let Some(n) = fields.get("languages") {
        for (key, value) in n.entries("languages")? {
            let runtime = runtime(key)?;
            if !value.boolean("languages")? {
                source.disabled.push(runtime);
            }
        }
    }
    if let Some(n) = fields.get("env") {
        source.env = n.string("env")?;
    }
    if let Some(n) = fields.get("version") {
        source.version = n.string("version")?;
    }
    if let Some(n) = fields.get("time_budget_ms") {
        let ms = n.integer("time_budget_ms")?;
        source.time_budget_ms = u32::try_from(ms)
            .ok()
            .filter(|ms| (1..=60_000).contains(ms))
            .ok_or_else(|| Error::at(n.pos, "time_budget_ms: must be between 1 and 60000"))?;
    }
    if let Some(n) = fields.get("sdk") {
        let name = n.string("sdk")?;
        source.sdk = Sdk::from_name(name.as_bytes()).ok_or_else(|| {
            Error::at(
                n.pos,
                format!("sdk: unknown SDK \"{name}\" (datadog or opentelemetry)"),
            )
        })?;
    }
    let mut rules: Vec<contract::rules::Rule> = Vec::new();
    if let Some(n) = fields.get("rules") {
        for item in n.items("rules")? {
            let rule = rule_yaml::conditions::rule(item, &[], || {
                format!("{file_name}:{}", item.pos.line)
            })?;
            check_id(item, &rule.id, &rules)?;
            rules.push(rule);
        }
    }
    if let Some(dropin) = dropin {
        rules.extend(dropin.rules.iter().cloned());
        source.disabled.extend(dropin.disabled.iter().copied());
    }
    source.rules =
        contract::rules::encode(&rules).map_err(|e| Error::at(Pos { line: 1, column: 1 }, e))?;
    Ok(source)
}

/// Refuses a log destination the launcher would ignore: anything but `stderr` or an absolute
/// path (with an optional `file://` prefix), or one holding the list separator `,`.
fn check_output_path(node: &Node, path: &str) -> Result<(), Error> {
    let file = path.strip_prefix("file://").unwrap_or(path);
    if path == "stderr" || (file.starts_with('/') && !file.contains(',')) {
        return Ok(());
    }
    Err(Error::at(
        node.pos,
        format!(
            "output_paths: \"{path}\" is not stderr or an absolute path: the launcher would \
             ignore it"
        ),
    ))
}

/// Refuses a rule id that would be ambiguous in `explain` and `status`: one of the default deny
/// list's (built-in reason ids are refused by `rule_yaml`) or one an earlier rule has.
fn check_id(item: &Node, id: &str, earlier: &[contract::rules::Rule]) -> Result<(), Error> {
    let pos = item
        .entries("rule")?
        .iter()
        .find(|(k, _)| k.text() == Some("id"))
        .map_or(item.pos, |(_, v)| v.pos);
    if deny_list::default_rules()
        .rules()
        .any(|r| r.id == id.as_bytes())
    {
        return Err(Error::at(
            pos,
            format!("id: \"{id}\" is reserved (a rule of the default deny list)"),
        ));
    }
    if earlier.iter().any(|r| r.id == id) {
        return Err(Error::at(
            pos,
            format!("id: \"{id}\" is used by an earlier rule"),
        ));
    }
    Ok(())
}

/// The runtime a `languages` key names: its name (`java`, `node`, …) or a common alias.
fn runtime(key: &Node) -> Result<Runtime, Error> {
    let name = key.string("languages")?;
    let canonical = match name.as_str() {
        "jvm" => "java",
        "nodejs" | "js" => "node",
        ".net" => "dotnet",
        other => other,
    };
    Runtime::from_name(canonical)
        .ok_or_else(|| Error::at(key.pos, format!("languages: unknown language \"{name}\"")))
}

/// The configuration directory inside `root`, e.g. `<root>/etc/datadog-agent/inject`.
pub fn dir_in(root: &Root) -> PathBuf {
    root.path(&dir())
}

/// `config check [--root DIR] [FILE]`: validates, printing errors; exit status 2 if invalid.
pub fn check(root: &Path, file: Option<PathBuf>) -> Result<(), String> {
    let root = Root::new(root)?;
    let path = file.unwrap_or_else(|| dir_in(&root).join(config::SOURCE_FILE));
    let dropin = read_dropin(&root)?;
    compile(&path, dropin.as_ref())?;
    say!("{}: ok", path.display());
    Ok(())
}

/// The OpenTelemetry injector's file in `root`, if there is one; its unused settings said.
fn read_dropin(root: &Root) -> Result<Option<otelinject::Dropin>, String> {
    let dropin = otelinject::read(&root.path(Path::new(otelinject::PATH)), otelinject::PATH)?;
    if let Some(dropin) = &dropin {
        say!("{}: read ({} rules)", otelinject::PATH, dropin.rules.len());
        for note in &dropin.notes {
            say!("{note}");
        }
    }
    Ok(dropin)
}

/// `config apply [--root DIR] [FILE]`: validates and atomically replaces the compiled file in
/// the root's configuration directory, creating the directory (0755, root) if needed.
pub fn apply(root: &Path, file: Option<PathBuf>) -> Result<(), String> {
    crate::privilege::require_root("config apply")?;
    let root = Root::new(root)?;
    let dir = dir_in(&root);
    let path = file.unwrap_or_else(|| dir.join(config::SOURCE_FILE));
    let dropin = read_dropin(&root)?;
    let compiled = compile(&path, dropin.as_ref())?;
    tree::create_dir_all(&dir)?;
    let target = dir.join(config::COMPILED_FILE);
    system_file::write_durably(&target, &compiled)?;
    say!("{} compiled into {}", path.display(), target.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> String {
        let root = yaml::parse(text).unwrap().unwrap();
        parse(&root, "host_config.yaml").unwrap_err().to_string()
    }

    #[test]
    fn every_key_is_read_or_refused() {
        assert_eq!(
            errors("config_sources: BASIC\n"),
            "1:1: host configuration: unknown key \"config_sources\" (expected one of: \
             log_level, output_paths, languages, env, version, time_budget_ms, sdk, rules)"
        );
    }

    #[test]
    fn sdk_names_a_family() {
        let source = |text: &str| parse(&yaml::parse(text).unwrap().unwrap(), "h.yaml");
        assert_eq!(
            source("sdk: opentelemetry").unwrap().sdk,
            Sdk::OpenTelemetry
        );
        assert_eq!(source("sdk: OTel").unwrap().sdk, Sdk::OpenTelemetry);
        assert_eq!(source("sdk: datadog").unwrap().sdk, Sdk::Datadog);
        assert_eq!(source("env: x").unwrap().sdk, Sdk::Datadog);
        assert_eq!(
            errors("sdk: zipkin"),
            "1:6: sdk: unknown SDK \"zipkin\" (datadog or opentelemetry)"
        );
    }

    #[test]
    fn output_paths_must_be_destinations_the_launcher_uses() {
        for bad in ["relative.log", "file://logs/x.log", "/var/log/a,b.log"] {
            assert!(
                errors(&format!("output_paths: ['{bad}']"))
                    .contains("is not stderr or an absolute path"),
                "{bad}"
            );
        }
        let good = "output_paths: [stderr, /var/log/a.log, 'file:///var/log/b.log']";
        assert!(parse(&yaml::parse(good).unwrap().unwrap(), "host_config.yaml").is_ok());
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_config.yaml");
        std::fs::write(&path, "\u{feff}log_level: debug\n").unwrap();
        assert!(compile(&path, None).is_ok(), "{:?}", compile(&path, None));
    }

    #[test]
    fn rule_ids_must_not_be_reason_or_default_rule_ids_or_repeat() {
        assert!(errors("rules: [{id: opted_out, runtime: java}]")
            .contains("reserved (a built-in reason id)"));
        assert!(errors("rules: [{id: jdk_tool, runtime: java}]")
            .contains("reserved (a built-in reason id)"));
        assert!(errors("rules: [{id: java_version, runtime: java}]")
            .contains("reserved (a rule of the default deny list)"));
        assert_eq!(
            errors("rules:\n  - {id: a, runtime: java}\n  - {id: a, runtime: node}\n"),
            "3:10: id: \"a\" is used by an earlier rule"
        );
    }
}
