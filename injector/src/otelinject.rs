//! The OpenTelemetry injector's configuration file, `/etc/opentelemetry/otelinject.conf`, read
//! by `apm-inject config check|apply` as a drop-in: its rules become rules of the compiled host
//! configuration, named by their line (`otelinject.conf:12`, described with the file's path and
//! line), so that `explain` and `status` say where a decision came from.
//!
//! The file is `key=value` lines (`#` comments, values optionally quoted, a key repeated adds to
//! it). What each key becomes:
//! - `exclude_paths`, `exclude_with_arguments` (comma-separated globs on the executable path or on
//!   any argument): a deny rule per line;
//! - `include_paths`, `include_with_arguments`: a requirement per key (a process must match one
//!   of its lines' globs, and every configured include key), `Action::Require`;
//! - `auto_instrumentation_disabled` (`*`, or `jvm`, `nodejs`, `python`, `dotnet`, `ruby`):
//!   disabled runtimes, as `languages:` does;
//! - the agent paths (`jvm_auto_instrumentation_agent_path`, `nodejs_…_agent_path`,
//!   `python_…`, `dotnet_…`, `ruby_…_agent_path_prefix`): apm-inject injects its own packages,
//!   so a path is not used; an empty one disables that runtime, as in the OpenTelemetry
//!   injector. The other keys it documents (minimum versions, the agents' environment file)
//!   are accepted and not used.
//!
//! A host with this file and no `sdk` in `host_config.yaml` gets the OpenTelemetry SDKs. The
//! host configuration's own rules come first: an explicit allow there wins.

use contract::rules::{Action, Clause, Rule};
use contract::runtime::Runtime;
use std::path::Path;

/// Where the OpenTelemetry injector's users keep it.
pub const PATH: &str = contract::config::DROPIN_FILE;
/// Largest file read.
const LIMIT: u64 = 1 << 20;

/// What the file asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropin {
    /// Rules in the host configuration's model, excludes first.
    pub rules: Vec<Rule>,
    /// Runtimes disabled.
    pub disabled: Vec<Runtime>,
    /// Settings read but not used, as `file:line: why`, for the user to see.
    pub notes: Vec<String>,
}

/// Reads `path` (shown as `shown`, e.g. `/etc/opentelemetry/otelinject.conf`); `None` if it does
/// not exist; errors as `file:line: message`.
pub fn read(path: &Path, shown: &str) -> Result<Option<Dropin>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    if !meta.is_file() || meta.len() > LIMIT {
        return Err(format!(
            "{shown}: not a regular file of at most {LIMIT} bytes"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse(&text, shown).map(Some)
}

/// The runtime a name of the OpenTelemetry injector stands for (`jvm`, `nodejs`, …).
fn runtime(name: &str) -> Option<Runtime> {
    match name {
        "jvm" => Some(Runtime::Java),
        "nodejs" => Some(Runtime::Node),
        "python" => Some(Runtime::Python),
        "dotnet" => Some(Runtime::Dotnet),
        "ruby" => Some(Runtime::Ruby),
        _ => None,
    }
}

/// The runtime whose agent path `key` sets, e.g. Java for `jvm_auto_instrumentation_agent_path`.
fn agent_path_runtime(key: &str) -> Option<Runtime> {
    let name = key
        .strip_suffix("_auto_instrumentation_agent_path")
        .or_else(|| key.strip_suffix("_auto_instrumentation_agent_path_prefix"))?;
    runtime(name)
}

/// Keys the OpenTelemetry injector documents that change nothing here.
const UNUSED: [&str; 3] = [
    "all_auto_instrumentation_agents_env_path",
    "jvm_auto_instrumentation_minimum_java_major_version",
    "dotnet_auto_instrumentation_minimum_dotnet_major_version",
];

/// Parses the file's text (see the module docs).
pub fn parse(text: &str, shown: &str) -> Result<Dropin, String> {
    let file_name = Path::new(shown)
        .file_name()
        .map_or(shown.into(), |n| n.to_string_lossy().into_owned());
    let mut dropin = Dropin::default();
    let mut includes: Vec<Rule> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{shown}:{number}");
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{at}: expected key=value"))?;
        let (key, value) = (key.trim(), unquote(value.trim()));
        let globs = || -> Vec<String> {
            value
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(String::from)
                .collect()
        };
        let clause = match key {
            "include_paths" | "exclude_paths" => Some(Clause::Exe(globs())),
            "include_with_arguments" | "exclude_with_arguments" => Some(Clause::Arg {
                position: None,
                patterns: globs(),
            }),
            _ => None,
        };
        if let Some(clause) = clause {
            if globs().is_empty() {
                continue;
            }
            if key.starts_with("exclude") {
                dropin.rules.push(Rule {
                    id: format!("{file_name}:{number}"),
                    description: format!("{key}={value} ({at})"),
                    runtime: None,
                    action: Action::Deny,
                    alternatives: vec![vec![clause]],
                });
            } else if let Some(rule) = includes
                .iter_mut()
                .find(|r| r.description.starts_with(&format!("{key} ")))
            {
                rule.alternatives.push(vec![clause]);
                rule.description = format!("{}, {number})", rule.description.trim_end_matches(')'));
            } else {
                includes.push(Rule {
                    id: format!("{file_name}:{number}"),
                    description: format!("{key} not matched ({at})"),
                    runtime: None,
                    action: Action::Require,
                    alternatives: vec![vec![clause]],
                });
            }
            continue;
        }
        if key == "auto_instrumentation_disabled" {
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if name == "*" {
                    dropin.disabled.extend(Runtime::ALL);
                } else {
                    let runtime =
                        runtime(name).ok_or_else(|| format!("{at}: unknown runtime \"{name}\""))?;
                    dropin.disabled.push(runtime);
                }
            }
        } else if let Some(runtime) = agent_path_runtime(key) {
            if value.is_empty() {
                dropin.disabled.push(runtime);
            } else {
                dropin.notes.push(format!(
                    "{at}: {key} not used: apm-inject injects its own {} package",
                    runtime.name()
                ));
            }
        } else if UNUSED.contains(&key) {
            dropin.notes.push(format!("{at}: {key} not used"));
        } else {
            return Err(format!("{at}: unknown key \"{key}\""));
        }
    }
    dropin.rules.extend(includes);
    Ok(dropin)
}

/// `value` without one pair of surrounding quotes.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOWN: &str = "/etc/opentelemetry/otelinject.conf";

    #[test]
    fn excludes_deny_and_includes_require() {
        let text = "# ours\njvm_auto_instrumentation_agent_path=/usr/lib/opentelemetry/jvm/javaagent.jar\n\
                    include_paths=/app/*,/utilities/*\nexclude_paths=/app/system/*\n\
                    include_paths=\"*.exe\"\nexclude_with_arguments=-javaagent:*\n";
        let dropin = parse(text, SHOWN).unwrap();
        let summary: Vec<(&str, Action, &str)> = dropin
            .rules
            .iter()
            .map(|r| (r.id.as_str(), r.action, r.description.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "otelinject.conf:4",
                    Action::Deny,
                    "exclude_paths=/app/system/* (/etc/opentelemetry/otelinject.conf:4)"
                ),
                (
                    "otelinject.conf:6",
                    Action::Deny,
                    "exclude_with_arguments=-javaagent:* (/etc/opentelemetry/otelinject.conf:6)"
                ),
                (
                    "otelinject.conf:3",
                    Action::Require,
                    "include_paths not matched (/etc/opentelemetry/otelinject.conf:3, 5)"
                ),
            ]
        );
        assert_eq!(
            dropin.rules[2].alternatives,
            [
                vec![Clause::Exe(vec!["/app/*".into(), "/utilities/*".into()])],
                vec![Clause::Exe(vec!["*.exe".into()])],
            ]
        );
        assert_eq!(dropin.notes.len(), 1, "{:?}", dropin.notes);
    }

    #[test]
    fn disabled_runtimes_and_empty_agent_paths() {
        let dropin = parse(
            "auto_instrumentation_disabled=dotnet,python\nnodejs_auto_instrumentation_agent_path=\n",
            SHOWN,
        )
        .unwrap();
        assert_eq!(
            dropin.disabled,
            [Runtime::Dotnet, Runtime::Python, Runtime::Node]
        );
        assert_eq!(
            parse("auto_instrumentation_disabled=*\n", SHOWN)
                .unwrap()
                .disabled,
            Runtime::ALL
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse("\nbogus=1\n", SHOWN).unwrap_err(),
            "/etc/opentelemetry/otelinject.conf:2: unknown key \"bogus\""
        );
        assert_eq!(
            parse("include_paths\n", SHOWN).unwrap_err(),
            "/etc/opentelemetry/otelinject.conf:1: expected key=value"
        );
        assert!(parse("auto_instrumentation_disabled=cobol", SHOWN)
            .unwrap_err()
            .contains("unknown runtime \"cobol\""));
    }
}
