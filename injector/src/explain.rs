//! `apm-inject explain`: the launcher's decision for a command, without running it.

use crate::{command, packages};
use analyzer::{Decision, Edit, Process};
use serde_json::json;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Answers the analyzer's file questions with `std::fs`.
pub struct StdHost;

impl analyzer::Host for StdHost {
    fn is_file(&self, path: &[u8]) -> bool {
        Path::new(OsStr::from_bytes(path))
            .metadata()
            .is_ok_and(|m| m.is_file())
    }
}

/// Prints the decision for `cmd` in this process's environment.
pub fn run(cmd: &[OsString], packages_root: Option<PathBuf>, json: bool) -> Result<(), String> {
    let env: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let exec = command::resolve(cmd, std::env::var_os("PATH").as_deref())?;
    let root = packages::find(packages_root, std::env::var_os("LD_PRELOAD").as_deref());
    let process = Process {
        exe: exec.exe.as_os_str().as_bytes(),
        args: exec.args.iter().map(|a| a.as_bytes()).collect(),
        env: env.iter().map(Vec::as_slice).collect(),
    };
    let decision = analyzer::decide(&process, &StdHost, Some(root.path.as_os_str().as_bytes()));
    if json {
        println!("{:#}", to_json(&exec, &root, &process, &decision));
    } else {
        print!("{}", to_text(&exec, &root, &process, &decision));
    }
    Ok(())
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
        Edit::Set { name, value } => ("set", name, Some(value), previous),
        Edit::Unset { name } => ("unset", name, None, previous),
    }
}

fn to_json(
    exec: &command::Exec,
    root: &packages::Root,
    process: &Process,
    d: &Decision,
) -> serde_json::Value {
    let changes: Vec<_> = d
        .edits
        .iter()
        .map(|edit| {
            let (action, name, value, previous) = change(edit, process);
            json!({"action": action, "name": name, "value": value.map(text), "previous": previous})
        })
        .collect();
    json!({
        "command": exec.args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        "executable": exec.exe.to_string_lossy(),
        "scripts": exec.scripts.iter().map(|s| s.to_string_lossy()).collect::<Vec<_>>(),
        "runtime": d.runtime.map(|r| r.name()),
        "outcome": d.outcome.kind(),
        "reason": d.outcome.reason().map(|r| json!({"id": r.id(), "description": r.describe()})),
        "packages_root": root.path.to_string_lossy(),
        "packages_root_source": root.source,
        "changes": changes,
    })
}

fn to_text(exec: &command::Exec, root: &packages::Root, process: &Process, d: &Decision) -> String {
    let mut out = String::new();
    let args: Vec<_> = exec.args.iter().map(|a| a.to_string_lossy()).collect();
    out += &format!("command:    {}\n", args.join(" "));
    for script in &exec.scripts {
        out += &format!("script:     {}\n", script.display());
    }
    out += &format!("executable: {}\n", exec.exe.display());
    out += &format!("runtime:    {}\n", d.runtime.map_or("none", |r| r.name()));
    out += &format!("outcome:    {}\n", d.outcome.kind());
    if let Some(reason) = d.outcome.reason() {
        out += &format!("reason:     {} ({})\n", reason.id(), reason.describe());
    }
    if d.runtime.is_none() && !exec.scripts.is_empty() {
        out += "note:       a script's interpreter that is not a runtime; a runtime it starts gets its own decision\n";
    }
    out += &format!(
        "packages:   {} (from {})\n",
        root.path.display(),
        root.source
    );
    if d.edits.is_empty() {
        out += "changes:    none\n";
    } else {
        out += "changes:\n";
        for edit in &d.edits {
            let (action, name, value, previous) = change(edit, process);
            let previous = previous.map_or("unset".to_string(), |p| format!("'{p}'"));
            match value {
                Some(v) => out += &format!("  {action} {name}='{}' (was {previous})\n", text(v)),
                None => out += &format!("  {action} {name} (was {previous})\n"),
            }
        }
    }
    out
}
