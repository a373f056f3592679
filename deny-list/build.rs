//! Compiles `deny-list.yaml` into the binary rule form embedded in the library.
//!
//! The YAML is read by the same crate as users' rule files (`rule-yaml`), so both speak one
//! rule language, and encoded by `contract::rules`.
#![forbid(unsafe_code)]

use contract::rules::{self, Action, Rule};
use rule_yaml::{conditions, tree};

fn main() {
    println!("cargo:rerun-if-changed=deny-list.yaml");
    let text = std::fs::read_to_string("deny-list.yaml").expect("read deny-list.yaml");
    let rules = parse(&text).unwrap_or_else(|e| panic!("deny-list.yaml:{e}"));
    let encode =
        |rules: &[Rule]| rules::encode(rules).unwrap_or_else(|e| panic!("deny-list.yaml: {e}"));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let blob = encode(&rules);
    std::fs::write(out.join("default_rules.bin"), &blob).unwrap();
    // Per runtime named by a rule, the rules that can apply to it (its own and those for any
    // runtime), in the list's order, so the first match is the whole list's; then the rules
    // for any runtime alone, for the other runtimes. One array of all, cut by offsets: no
    // pointers, hence no relocations in the library.
    let mut runtimes: Vec<&str> = rules.iter().filter_map(|r| r.runtime.as_deref()).collect();
    runtimes.sort_unstable();
    runtimes.dedup();
    let mut by_runtime = Vec::new();
    let mut arms = String::new();
    for runtime in runtimes.iter().map(|r| Some(*r)).chain([None]) {
        let subset: Vec<Rule> = rules
            .iter()
            .filter(|r| r.runtime.is_none() || r.runtime.as_deref() == runtime)
            .cloned()
            .collect();
        let (start, encoded) = (by_runtime.len(), encode(&subset));
        by_runtime.extend_from_slice(&encoded);
        let pattern = runtime.map_or("_".to_string(), |r| format!("{r:?}"));
        arms.push_str(&format!(
            "        {pattern} => {start}..{},\n",
            by_runtime.len()
        ));
    }
    std::fs::write(out.join("runtime_rules.bin"), &by_runtime).unwrap();
    let code = format!(
        "/// The compiled default deny list (see `contract::rules` for the encoding).\n\
         static DEFAULT_RULES: [u8; {}] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/default_rules.bin\"));\n\
         /// Per runtime, the compiled rules of the default deny list that can apply to it.\n\
         static RUNTIME_RULES: [u8; {}] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/runtime_rules.bin\"));\n\
         /// Where `runtime`'s rule set lies in `RUNTIME_RULES`.\n\
         fn runtime_range(runtime: &str) -> core::ops::Range<usize> {{\n    match runtime {{\n{arms}    }}\n}}\n",
        blob.len(),
        by_runtime.len(),
    );
    std::fs::write(out.join("default_rules.rs"), code).unwrap();
}

/// The rules of the file; every rule needs an id and a description and denies.
fn parse(text: &str) -> Result<Vec<Rule>, tree::Error> {
    let root =
        tree::parse(text)?.ok_or_else(|| tree::Error::at(tree::Pos::default(), "empty file"))?;
    let fields = root.fields("top level", &["version", "rules"])?;
    let version = fields
        .get("version")
        .ok_or_else(|| tree::Error::at(root.pos, "version: missing"))?;
    if version.integer("version")? != 1 {
        return Err(tree::Error::at(version.pos, "version: must be 1"));
    }
    let list = fields
        .get("rules")
        .ok_or_else(|| tree::Error::at(root.pos, "rules: missing"))?;
    let mut rules: Vec<Rule> = Vec::new();
    for node in list.items("rules")? {
        let rule = conditions::rule(node, &["examples"], String::new)?;
        if rule.id.is_empty() || rule.description.is_empty() || rule.action != Action::Deny {
            return Err(tree::Error::at(
                node.pos,
                "default rules need an id, a description, and deny",
            ));
        }
        if rules.iter().any(|r| r.id == rule.id) {
            return Err(tree::Error::at(
                node.pos,
                format!("duplicate rule id {}", rule.id),
            ));
        }
        rules.push(rule);
    }
    Ok(rules)
}
