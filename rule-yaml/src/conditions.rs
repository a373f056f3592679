//! Rules and their conditions, read from YAML nodes (see `deny-list/deny-list.yaml` for the
//! language: `exe`, `program`, `no_program`, `module`, `options`, `subcommand`, `args`, `env`,
//! `cwd`, and `when` for alternatives).

use crate::tree::{Error, Fields, Node};
use contract::decision::Reason;
use contract::rules::{Action, Clause, Rule};
use contract::runtime::Runtime;

/// Keys that are conditions; the same keys make up one item of `when`.
pub const CONDITION_KEYS: &[&str] = &[
    "exe",
    "program",
    "no_program",
    "module",
    "options",
    "subcommand",
    "args",
    "env",
    "cwd",
];
const RULE_KEYS: &[&str] = &["id", "description", "runtime", "action", "when"];

/// Reads one rule. `extra_keys` are further keys the caller handles (e.g. `examples`);
/// `default_id` names a rule written without `id`.
pub fn rule(
    node: &Node,
    extra_keys: &[&str],
    default_id: impl FnOnce() -> String,
) -> Result<Rule, Error> {
    let allowed: Vec<&str> = RULE_KEYS
        .iter()
        .chain(CONDITION_KEYS)
        .chain(extra_keys)
        .copied()
        .collect();
    let fields = node.fields("rule", &allowed)?;
    let id = match fields.get("id") {
        Some(n) => {
            let id = n.string("id")?;
            if Reason::BUILTIN_IDS.contains(&id.as_str()) {
                return Err(Error::at(
                    n.pos,
                    format!("id: \"{id}\" is reserved (a built-in reason id)"),
                ));
            }
            id
        }
        None => default_id(),
    };
    let description = match fields.get("description") {
        Some(n) => n.string("description")?,
        None => String::new(),
    };
    let runtime = match fields.get("runtime") {
        Some(n) => {
            let name = n.string("runtime")?;
            if Runtime::from_name(&name).is_none() {
                let names: Vec<&str> = Runtime::ALL.iter().map(|r| r.name()).collect();
                return Err(Error::at(
                    n.pos,
                    format!(
                        "runtime: unknown runtime \"{name}\" (expected one of: {})",
                        names.join(", ")
                    ),
                ));
            }
            Some(name)
        }
        None => None,
    };
    let action = match fields.get("action") {
        None => Action::Deny,
        Some(n) => match n.string("action")?.as_str() {
            "deny" => Action::Deny,
            "allow" => Action::Allow,
            other => {
                return Err(Error::at(
                    n.pos,
                    format!("action: expected allow or deny, not \"{other}\""),
                ))
            }
        },
    };
    let top = clauses(&fields)?;
    let mut alternatives = Vec::new();
    match fields.get("when") {
        Some(when) => {
            for item in when.items("when")? {
                let mut all = top.clone();
                all.extend(clauses(&item.fields("when", CONDITION_KEYS)?)?);
                alternatives.push(all);
            }
        }
        None => alternatives.push(top),
    }
    if runtime.is_none() && alternatives.iter().any(Vec::is_empty) {
        return Err(Error::at(
            node.pos,
            format!("rule {id}: needs a runtime or at least one condition"),
        ));
    }
    Ok(Rule {
        id,
        description,
        runtime,
        action,
        alternatives,
    })
}

/// The conditions among `fields`.
pub fn clauses(fields: &Fields) -> Result<Vec<Clause>, Error> {
    let mut out = Vec::new();
    let list = |key: &str| fields.get(key).map(|n| n.strings(key)).transpose();
    if let Some(l) = list("exe")? {
        out.push(Clause::Exe(l));
    }
    if let Some(l) = list("program")? {
        out.push(Clause::Program(l));
    }
    if let Some(n) = fields.get("no_program") {
        if n.boolean("no_program")? {
            out.push(Clause::NoProgram);
        }
    }
    if let Some(l) = list("module")? {
        out.push(Clause::Module(l));
    }
    if let Some(l) = list("options")? {
        out.push(Clause::Options(l));
    }
    if let Some(l) = list("cwd")? {
        out.push(Clause::Cwd(l));
    }
    if let Some(l) = list("subcommand")? {
        out.push(Clause::Subcommand(l));
    }
    if let Some(args) = fields.get("args") {
        for arg in args.items("args")? {
            let arg_fields = arg.fields("args", &["position", "any"])?;
            let position = match arg_fields.get("position") {
                Some(p) if !p.is_null() => {
                    let n = p.integer("position")?;
                    Some(
                        u16::try_from(n)
                            .ok()
                            .filter(|&n| n != u16::MAX)
                            .ok_or_else(|| Error::at(p.pos, "position: too large"))?,
                    )
                }
                _ => None,
            };
            let any = arg_fields
                .get("any")
                .ok_or_else(|| Error::at(arg.pos, "args: each item needs `any`"))?;
            out.push(Clause::Arg {
                position,
                patterns: any.strings("any")?,
            });
        }
    }
    if let Some(env) = fields.get("env") {
        for (name, value) in env.entries("env")? {
            let name = name.string("env name")?;
            let value = if value.is_null() {
                None
            } else {
                Some(value.string("env value")?)
            };
            out.push(Clause::Env { name, value });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;

    #[test]
    fn reads_alternatives_and_conditions() {
        let node = parse("id: x\nruntime: java\nexe: '**/java'\nwhen:\n  - options: [-version]\n  - no_program: true\nenv: {A: null, B: 'v*'}\n").unwrap().unwrap();
        let r = rule(&node, &[], String::new).unwrap();
        assert_eq!(r.alternatives.len(), 2);
        assert_eq!(r.alternatives[1].last(), Some(&Clause::NoProgram));
        assert!(r.alternatives[0].contains(&Clause::Env {
            name: "B".into(),
            value: Some("v*".into())
        }));
    }

    #[test]
    fn errors_point_at_the_mistake() {
        let node = parse("id: x\nruntime: jvm\nexe: a\n").unwrap().unwrap();
        assert!(rule(&node, &[], String::new)
            .unwrap_err()
            .to_string()
            .starts_with("2:10: runtime: unknown runtime"));
        let node = parse("id: x\nargs: [{position: -1, any: [a]}]\n")
            .unwrap()
            .unwrap();
        assert_eq!(rule(&node, &[], String::new).unwrap_err().pos.line, 2);
        let node = parse("id: opted_out\nruntime: java\n").unwrap().unwrap();
        assert_eq!(
            rule(&node, &[], String::new).unwrap_err().to_string(),
            "1:5: id: \"opted_out\" is reserved (a built-in reason id)"
        );
        let node = parse("id: x\n").unwrap().unwrap();
        assert!(rule(&node, &[], String::new)
            .unwrap_err()
            .message
            .contains("needs a runtime or at least one condition"));
    }
}
