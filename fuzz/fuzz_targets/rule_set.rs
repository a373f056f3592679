//! The compiled rule-set reader and matcher (the default deny list, user rules, compiled
//! requirements). Input: rule-set length (u32 LE), rule set, then a subject whose fields are
//! separated by 0xFF: runtime, exe, args, options, program, module, env, cwd, subcommand
//! (lists NUL-separated). Seeds: the compiled default deny list with real subjects.
#![no_main]

use contract::rules::RuleSet;
use deny_list::Subject;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (rules, subject) = rest.split_at(len);
    let Some(set) = RuleSet::parse(rules) else {
        return;
    };
    for rule in set.rules() {
        let _ = (rule.id, rule.description, rule.runtime, rule.action);
    }
    let fields: Vec<&[u8]> = subject.split(|&c| c == 0xff).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let list = |i: usize| -> Vec<&[u8]> { field(i).split(|&c| c == 0).collect() };
    let optional = |i: usize| Some(field(i)).filter(|b| !b.is_empty());
    let (args, options, env) = (list(2), list(3), list(6));
    let subject = Subject {
        runtime: std::str::from_utf8(field(0)).unwrap_or("java"),
        exe: field(1),
        args: &args,
        options: &options,
        program: optional(4),
        module: optional(5),
        env: &env,
        cwd: optional(7),
        subcommand: optional(8),
    };
    if let Some(rule) = deny_list::first_match(&set, &subject) {
        assert!(deny_list::applies(&rule, &subject));
    }
});
