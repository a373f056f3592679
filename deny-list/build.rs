//! Compiles `deny-list.yaml` into the binary rule form embedded in the library.
extern crate alloc;

#[allow(dead_code)]
#[path = "src/model.rs"]
mod model;

use model::{Action, Clause, Rule};
use serde_yaml::{Mapping, Value};

fn main() {
    println!("cargo:rerun-if-changed=deny-list.yaml");
    println!("cargo:rerun-if-changed=src/model.rs");
    let text = std::fs::read_to_string("deny-list.yaml").expect("read deny-list.yaml");
    let rules = parse(&text).unwrap_or_else(|e| panic!("deny-list.yaml: {e}"));
    let blob = model::encode(&rules).unwrap_or_else(|e| panic!("deny-list.yaml: {e}"));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("default_rules.bin"), &blob).unwrap();
    let code = format!(
        "/// The compiled default deny list (see `model` for the encoding).\n\
         static DEFAULT_RULES: [u8; {}] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/default_rules.bin\"));\n",
        blob.len()
    );
    std::fs::write(out.join("default_rules.rs"), code).unwrap();
}

/// Keys a rule may have besides `when`; the same keys make up one alternative.
const CONDITION_KEYS: &[&str] = &[
    "exe",
    "program",
    "no_program",
    "module",
    "options",
    "args",
    "env",
    "cwd",
];
const RULE_KEYS: &[&str] = &["id", "description", "runtime", "when", "examples"];

fn parse(text: &str) -> Result<Vec<Rule>, String> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let root = doc.as_mapping().ok_or("top level must be a mapping")?;
    if root.get("version").and_then(Value::as_u64) != Some(1) {
        return Err("version: must be 1".into());
    }
    let list = root
        .get("rules")
        .and_then(Value::as_sequence)
        .ok_or("rules: must be a list")?;
    let mut ids = std::collections::HashSet::new();
    list.iter()
        .map(|v| {
            let rule = parse_rule(v)?;
            if !ids.insert(rule.id.clone()) {
                return Err(format!("duplicate rule id {}", rule.id));
            }
            Ok(rule)
        })
        .collect()
}

fn parse_rule(value: &Value) -> Result<Rule, String> {
    let map = value.as_mapping().ok_or("each rule must be a mapping")?;
    let id = string(map, "id")?.ok_or("rule without id")?;
    let context = |e: String| format!("rule {id}: {e}");
    for key in map.keys() {
        let key = key.as_str().unwrap_or("");
        if !RULE_KEYS.contains(&key) && !CONDITION_KEYS.contains(&key) {
            return Err(context(format!("unknown key {key}")));
        }
    }
    let description = string(map, "description")
        .map_err(context)?
        .ok_or_else(|| context("no description".into()))?;
    let runtime = string(map, "runtime").map_err(context)?;
    let mut alternatives = Vec::new();
    let top = conditions(map).map_err(context)?;
    if let Some(when) = map.get("when") {
        let when = when
            .as_sequence()
            .ok_or_else(|| context("when: must be a list".into()))?;
        for alt in when {
            let alt = alt
                .as_mapping()
                .ok_or_else(|| context("when: items must be mappings".into()))?;
            if let Some(key) = alt
                .keys()
                .filter_map(Value::as_str)
                .find(|k| !CONDITION_KEYS.contains(k))
            {
                return Err(context(format!("when: unknown key {key}")));
            }
            let mut clauses = top.clone();
            clauses.extend(conditions(alt).map_err(context)?);
            alternatives.push(clauses);
        }
    } else {
        alternatives.push(top);
    }
    if alternatives.iter().any(Vec::is_empty) {
        return Err(context("a rule needs at least one condition".into()));
    }
    Ok(Rule {
        id,
        description,
        runtime,
        action: Action::Deny,
        alternatives,
    })
}

fn conditions(map: &Mapping) -> Result<Vec<Clause>, String> {
    let mut clauses = Vec::new();
    if let Some(l) = strings(map, "exe")? {
        clauses.push(Clause::Exe(l));
    }
    if let Some(l) = strings(map, "program")? {
        clauses.push(Clause::Program(l));
    }
    if map.get("no_program").and_then(Value::as_bool) == Some(true) {
        clauses.push(Clause::NoProgram);
    }
    if let Some(l) = strings(map, "module")? {
        clauses.push(Clause::Module(l));
    }
    if let Some(l) = strings(map, "options")? {
        clauses.push(Clause::Options(l));
    }
    if let Some(l) = strings(map, "cwd")? {
        clauses.push(Clause::Cwd(l));
    }
    if let Some(args) = map.get("args") {
        for arg in args.as_sequence().ok_or("args: must be a list")? {
            let arg = arg.as_mapping().ok_or("args: items must be mappings")?;
            let position = match arg.get("position") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .filter(|&n| n != u16::MAX)
                        .ok_or("args: bad position")?,
                ),
            };
            let patterns = strings(arg, "any")?.ok_or("args: items need `any`")?;
            clauses.push(Clause::Arg { position, patterns });
        }
    }
    if let Some(env) = map.get("env") {
        for (name, value) in env.as_mapping().ok_or("env: must be a mapping")? {
            let name = name
                .as_str()
                .ok_or("env: names must be strings")?
                .to_string();
            let value = match value {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                _ => return Err("env: values must be strings or null".into()),
            };
            clauses.push(Clause::Env { name, value });
        }
    }
    Ok(clauses)
}

fn string(map: &Mapping, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key}: must be a string")),
    }
}

fn strings(map: &Mapping, key: &str) -> Result<Option<Vec<String>>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or(format!("{key}: items must be strings"))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(format!("{key}: must be a list of strings")),
    }
}
