//! `requirements.json`: the guardrails a library package ships.
//!
//! ```text
//! {"version":1,
//!  "native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"2.17"}],"musl":[{"arch":"x64","supported":false}]},
//!  "deny":[{"id":"java_version","description":"…","cmds":["**/java"],
//!           "args":[{"args":["-version"],"position":1}],"envars":null}]}
//! ```
//! `native_deps`: the process's libc must be listed for this architecture, supported, and not
//! older than `min` (an unknown libc version passes). `deny`: an entry applies when one of its
//! `cmds` globs matches the executable, each `args` item has one of its globs at `position`
//! (argv index, 0 is the command; null: anywhere) and each `envars` variable is present (null)
//! or matches its value glob. A file that cannot be read or parsed blocks injection: the
//! tracer's guardrails cannot be checked. So does a malformed `deny` entry (no `id`, a value of
//! the wrong type, a `position` that is not a whole argv index): it is never skipped. An entry
//! without any condition matches nothing.

use crate::decision::Reason;
use crate::json::{self, Value};
use crate::process::{major_minor, Process};
use alloc::string::String;
use alloc::vec::Vec;
use contract::layout::REQUIREMENTS;
use contract::rules::{encode, Action, Clause, Rule, RuleSet, ANY_POSITION};
use deny_list::Subject;

/// Largest file read.
pub const LIMIT: usize = 256 << 10;
/// This machine's architecture as `requirements.json` names it.
pub const ARCH: &str = if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "x64"
};

/// Checks `text` (the file's contents) for `process`.
pub fn check(text: &[u8], process: &Process, subject: &Subject) -> Result<(), Reason> {
    let doc = json::parse(text).ok_or(Reason::InvalidRequirements)?;
    if let Some(deps) = doc.get("native_deps") {
        native_deps(deps, process)?;
    }
    let entries = match doc.get("deny") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(Reason::InvalidRequirements),
    };
    let mut rules: Vec<Rule> = Vec::new();
    for entry in entries {
        rules.extend(rule(entry).ok_or(Reason::InvalidRequirements)?);
    }
    let compiled = encode(&rules).map_err(|_| Reason::InvalidRequirements)?;
    let set = RuleSet::parse(&compiled).ok_or(Reason::InvalidRequirements)?;
    match deny_list::first_match(&set, subject) {
        Some(r) => Err(Reason::Rule {
            id: String::from_utf8_lossy(r.id).into_owned(),
            description: String::from_utf8_lossy(r.description).into_owned(),
            source: String::from(REQUIREMENTS),
        }),
        None => Ok(()),
    }
}

fn native_deps(deps: &Value, process: &Process) -> Result<(), Reason> {
    let entries = deps
        .get(process.libc.flavor.name())
        .map(Value::items)
        .unwrap_or_default();
    let entry = entries
        .iter()
        .find(|e| e.get("arch").and_then(Value::as_str) == Some(ARCH.as_bytes()));
    let Some(entry) = entry else {
        return Err(Reason::IncompatibleLibc);
    };
    if entry.get("supported") != Some(&Value::Bool(true)) {
        return Err(Reason::IncompatibleLibc);
    }
    let min = entry
        .get("min")
        .and_then(Value::as_str)
        .and_then(major_minor);
    match (min, process.libc.version) {
        (Some(min), Some(have)) if have < min => Err(Reason::IncompatibleLibc),
        _ => Ok(()),
    }
}

/// A `deny` entry as a rule: `Some(None)` for an entry without any condition (it matches
/// nothing), `None` for a malformed one: no `id`, a value of the wrong type, a `position` that
/// is not a whole argv index.
fn rule(entry: &Value) -> Option<Option<Rule>> {
    let id = entry.get("id")?.as_str().filter(|id| !id.is_empty())?;
    let description = match entry.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(value) => text(value.as_str()?),
    };
    let mut clauses = Vec::new();
    let cmds = strings(entry.get("cmds"))?;
    if !cmds.is_empty() {
        clauses.push(Clause::Exe(cmds));
    }
    for arg in list(entry.get("args"))? {
        let position = match arg.get("position") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                core::str::from_utf8(n)
                    .ok()?
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != ANY_POSITION)?,
            ),
            Some(_) => return None,
        };
        clauses.push(Clause::Arg {
            position,
            patterns: strings(arg.get("args"))?,
        });
    }
    match entry.get("envars") {
        None | Some(Value::Null) => {}
        Some(Value::Object(vars)) => {
            for (name, value) in vars {
                let value = match value {
                    Value::Null => None,
                    Value::String(glob) => Some(text(glob)),
                    _ => return None,
                };
                clauses.push(Clause::Env {
                    name: text(name),
                    value,
                });
            }
        }
        Some(_) => return None,
    }
    Some((!clauses.is_empty()).then(|| Rule {
        id: text(id),
        description,
        runtime: None,
        action: Action::Deny,
        alternatives: alloc::vec![clauses],
    }))
}

/// The items of an array member (none when absent or null); `None` for any other value.
fn list(value: Option<&Value>) -> Option<&[Value]> {
    match value {
        None | Some(Value::Null) => Some(&[]),
        Some(Value::Array(items)) => Some(items),
        Some(_) => None,
    }
}

/// An array member of strings (none when absent or null); `None` for anything else.
fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    list(value)?
        .iter()
        .map(|item| item.as_str().map(text))
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::process::{Libc, LibcFlavor};

    fn asset(name: &str) -> Vec<u8> {
        std::fs::read(
            [
                env!("CARGO_MANIFEST_DIR"),
                "/../test-assets/requirements/",
                name,
            ]
            .concat(),
        )
        .unwrap()
    }

    /// The guardrails of `file` for `line` (`java -version`) with `env`, on `libc`.
    fn verdict(file: &str, line: &str, env: &[&str], libc: Libc) -> Result<(), Reason> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let env: Vec<&[u8]> = env.iter().map(|e| e.as_bytes()).collect();
        let process = Process {
            exe: b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
            args: args.clone(),
            env: env.clone(),
            libc,
            ..Process::default()
        };
        let subject = Subject {
            runtime: "java",
            exe: process.exe,
            args: &args,
            env: &env,
            ..Subject::default()
        };
        check(&asset(file), &process, &subject)
    }

    const GLIBC: Libc = Libc {
        flavor: LibcFlavor::Glibc,
        version: Some((2, 36)),
    };
    const MUSL: Libc = Libc {
        flavor: LibcFlavor::Musl,
        version: None,
    };

    fn denied_by(result: Result<(), Reason>) -> String {
        String::from(result.unwrap_err().id())
    }

    #[test]
    fn deny_entries_match_commands_arguments_and_variables() {
        assert_eq!(
            denied_by(verdict("java.json", "java -version", &[], GLIBC)),
            "java_version_flag"
        );
        assert_eq!(
            verdict("java.json", "java -Xmx1g -version", &[], GLIBC),
            Ok(()),
            "position 1 only"
        );
        assert_eq!(
            verdict("java.json", "java -jar app.jar", &[], GLIBC),
            Ok(())
        );
        let tool = ["TOOL_HOME=/opt/t", "TOOL_MODE=batch-1"];
        assert_eq!(
            denied_by(verdict("java.json", "java -jar my-tool.jar", &tool, GLIBC)),
            "jar_tool"
        );
        assert_eq!(
            verdict("java.json", "java -jar my-tool.jar", &tool[..1], GLIBC),
            Ok(())
        );
    }

    #[test]
    fn native_deps_name_the_supported_c_libraries() {
        assert_eq!(verdict("java.json", "java -jar app.jar", &[], MUSL), Ok(()));
        let old = Libc {
            version: Some((2, 12)),
            ..GLIBC
        };
        assert_eq!(
            verdict("java.json", "java -jar app.jar", &[], old),
            Err(Reason::IncompatibleLibc)
        );
        assert_eq!(
            verdict("python.json", "java -jar app.jar", &[], MUSL),
            Err(Reason::IncompatibleLibc)
        );
        assert_eq!(
            verdict("python.json", "java -jar app.jar", &[], GLIBC),
            Ok(())
        );
    }

    #[test]
    fn malformed_deny_entries_block_injection() {
        let dir = [env!("CARGO_MANIFEST_DIR"), "/../test-assets/requirements"].concat();
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.starts_with("malformed-") {
                seen += 1;
                assert_eq!(
                    verdict(&name, "java -jar app.jar", &[], GLIBC),
                    Err(Reason::InvalidRequirements),
                    "{name}"
                );
            }
        }
        assert!(seen >= 7);
    }
}
