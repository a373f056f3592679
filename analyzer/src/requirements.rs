//! `requirements.json`: the guardrails a library package ships.
//!
//! ```text
//! {"version":1,
//!  "native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"2.17"}],"musl":[{"arch":"x64","supported":false}]},
//!  "deny":[{"id":"java_version","description":"…","cmds":["**/java"],
//!           "args":[{"args":["-version"],"position":1}],"envars":null}]}
//! ```
//! `version` is 1, the only version known. `native_deps`: the process's libc must be listed
//! for this architecture, supported, and not older than `min` (an unknown libc version passes).
//! `deny`: an entry applies when one of its `cmds` globs matches the executable, each `args`
//! item has one of its globs at `position` (argv index, 0 is the command; null: anywhere) and
//! each `envars` variable is present (null) or matches its value glob. A file that cannot be
//! read or parsed blocks injection: the tracer's guardrails cannot be checked. So does a file
//! that is malformed anywhere, even in a part this process does not need: a top level that is
//! not an object, a `version` missing or other than 1, a `native_deps` entry with a value of the
//! wrong type (`min` not a version string, `supported` not a boolean), a `deny` entry without
//! an `id`, with a value of the wrong type or a `position` that is not a whole argv index.
//! Nothing malformed is skipped. A `deny` entry without any condition matches nothing.

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

/// The only `version` of the format known.
const VERSION: &[u8] = b"1";

/// Checks `text` (the file's contents) for `process`.
pub fn check(text: &[u8], process: &Process, subject: &Subject) -> Result<(), Reason> {
    let doc = json::parse(text).ok_or(Reason::InvalidRequirements)?;
    let file = read(&doc).ok_or(Reason::InvalidRequirements)?;
    if let Some(libcs) = &file.libcs {
        native_deps(libcs, process)?;
    }
    let compiled = encode(&file.rules).map_err(|_| Reason::InvalidRequirements)?;
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

/// One `native_deps` entry, e.g. `"glibc": [{"arch": "x64", "supported": true, "min": "2.17"}]`.
struct LibcEntry<'a> {
    /// The libc, e.g. `glibc`.
    libc: &'a [u8],
    /// The architecture, e.g. `x64`.
    arch: &'a [u8],
    /// Whether the tracer runs with this libc on this architecture.
    supported: bool,
    /// The oldest version it runs with, if it says.
    min: Option<(u32, u32)>,
}

/// A whole `requirements.json`, read.
struct Requirements<'a> {
    /// Its `native_deps` entries; `None` when it has none (any libc goes).
    libcs: Option<Vec<LibcEntry<'a>>>,
    /// Its `deny` entries as rules.
    rules: Vec<Rule>,
}

/// The file `doc`; `None` if anything in it is malformed.
fn read(doc: &Value) -> Option<Requirements<'_>> {
    let Value::Object(_) = doc else {
        return None;
    };
    match doc.get("version") {
        Some(Value::Number(version)) if version == VERSION => {}
        _ => return None,
    }
    let libcs = match doc.get("native_deps") {
        None | Some(Value::Null) => None,
        Some(Value::Object(libcs)) => {
            let mut entries = Vec::new();
            for (libc, list_of) in libcs {
                for entry in list(Some(list_of))? {
                    entries.push(libc_entry(libc, entry)?);
                }
            }
            Some(entries)
        }
        Some(_) => return None,
    };
    let mut rules: Vec<Rule> = Vec::new();
    for entry in list(doc.get("deny"))? {
        rules.extend(rule(entry)?);
    }
    Some(Requirements { libcs, rules })
}

/// A `native_deps` entry of `libc`; `None` for a malformed one: not an object, an `arch` that
/// is not a string, a `supported` that is not a boolean, a `min` that is not a version string, a
/// `description` that is not a string.
fn libc_entry<'a>(libc: &'a [u8], entry: &'a Value) -> Option<LibcEntry<'a>> {
    let Value::Object(_) = entry else {
        return None;
    };
    let supported = match entry.get("supported") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(supported)) => *supported,
        Some(_) => return None,
    };
    let min = match entry.get("min") {
        None | Some(Value::Null) => None,
        Some(Value::String(min)) => Some(major_minor(min)?),
        Some(_) => return None,
    };
    if let Some(description) = entry.get("description") {
        if !matches!(description, Value::Null | Value::String(_)) {
            return None;
        }
    }
    Some(LibcEntry {
        libc,
        arch: entry.get("arch")?.as_str()?,
        supported,
        min,
    })
}

/// The process's libc must be listed for this architecture, supported, and not older than
/// the entry's `min`.
fn native_deps(entries: &[LibcEntry], process: &Process) -> Result<(), Reason> {
    let entry = entries
        .iter()
        .find(|e| e.libc == process.libc.flavor.name().as_bytes() && e.arch == ARCH.as_bytes());
    match (entry, process.libc.version) {
        (Some(e), _) if !e.supported => Err(Reason::IncompatibleLibc),
        (Some(LibcEntry { min: Some(min), .. }), Some(have)) if have < *min => {
            Err(Reason::IncompatibleLibc)
        }
        (Some(_), _) => Ok(()),
        (None, _) => Err(Reason::IncompatibleLibc),
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
    fn malformed_files_block_injection() {
        let dir = [env!("CARGO_MANIFEST_DIR"), "/../test-assets/requirements"].concat();
        let mut malformed: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with("malformed-"))
            .collect();
        malformed.sort();
        assert!(malformed.len() >= 11, "{malformed:?}");
        let accepted: Vec<(&String, Result<(), Reason>)> = malformed
            .iter()
            .map(|name| (name, verdict(name, "java -jar app.jar", &[], GLIBC)))
            .filter(|(_, verdict)| *verdict != Err(Reason::InvalidRequirements))
            .collect();
        assert!(accepted.is_empty(), "{accepted:?}");
    }
}
