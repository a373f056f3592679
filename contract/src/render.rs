//! How a decision reads for people: the one rendering used by the library's debug log and
//! `apm-inject explain` (the status record stores the ids alone, see [`crate::status`]).
//!
//! ```text
//! injected java (forced: DD_INJECT_FORCE) (allowed by rule batch) - set JAVA_TOOL_OPTIONS, set DD_INJECTION_ENABLED
//! injected python (sdk: opentelemetry) - set PYTHONPATH, set OTEL_SERVICE_NAME
//! skipped: java_version (java -version and friends print the JVM version and exit; …) - unset JAVA_TOOL_OPTIONS
//! failed: setenv_failed (the environment could not be changed)
//! ```

use crate::decision::{Decision, Outcome, Reason};
use crate::sdk::Sdk;
use alloc::vec::Vec;

/// The debug log's line for `decision` (see the module docs): the outcome with the runtime
/// (injected) or the reason (skipped, failed), then the variables changed.
pub fn summary(decision: &Decision) -> Vec<u8> {
    let mut out = Vec::new();
    match &decision.outcome {
        Outcome::Injected => {
            out.extend_from_slice(b"injected ");
            out.extend_from_slice(decision.runtime.map_or("", |r| r.name()).as_bytes());
            if decision.sdk != Sdk::Datadog {
                out.extend_from_slice(b" (sdk: ");
                out.extend_from_slice(decision.sdk.name().as_bytes());
                out.push(b')');
            }
            notes(decision, &mut out);
        }
        Outcome::Skipped(why) | Outcome::Failed(why) => {
            out.extend_from_slice(decision.outcome.kind().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&reason(why));
        }
    }
    for (i, edit) in decision.edits.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b" - " } else { b", " });
        out.extend_from_slice(edit.action().as_bytes());
        out.push(b' ');
        out.extend_from_slice(edit.name().as_bytes());
    }
    out
}

/// The outcome's kind, noting a bypass of the guardrails and the user rule that allowed the
/// process: `skipped`, or `injected (forced: DD_INJECT_FORCE) (allowed by rule batch)`.
pub fn outcome(decision: &Decision) -> Vec<u8> {
    let mut out = decision.outcome.kind().as_bytes().to_vec();
    notes(decision, &mut out);
    out
}

/// A reason as people read it: `<id> (<description>)`, e.g.
/// `python_no_site (python runs with -S and loads no sitecustomize)`; a rule without a
/// description is named by where it comes from: `no-batch (a rule in host_config.yaml)`.
pub fn reason(reason: &Reason) -> Vec<u8> {
    let description = match reason {
        Reason::Rule {
            description,
            source,
            ..
        } if description.is_empty() => [b"a rule in ", source.as_bytes()].concat(),
        other => other.describe().as_bytes().to_vec(),
    };
    [reason.id().as_bytes(), b" (", &description, b")"].concat()
}

/// ` (forced: DD_INJECT_FORCE)` if the decision bypassed the guardrails, then
/// ` (allowed by rule <id>)` if a user rule allowed the process.
fn notes(decision: &Decision, out: &mut Vec<u8>) {
    if decision.forced {
        out.extend_from_slice(b" (forced: DD_INJECT_FORCE)");
    }
    if let Some(rule) = &decision.allowed_by {
        out.extend_from_slice(b" (allowed by rule ");
        out.extend_from_slice(rule.as_bytes());
        out.push(b')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Edit;
    use crate::runtime::Runtime;
    use alloc::string::String;
    use alloc::vec;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn injections_name_the_runtime_and_the_changes() {
        let decision = Decision {
            runtime: Some(Runtime::Java),
            outcome: Outcome::Injected,
            edits: vec![
                Edit::Set {
                    name: "JAVA_TOOL_OPTIONS",
                    value: vec![],
                },
                Edit::Unset { name: "DD_SERVICE" },
            ],
            forced: true,
            allowed_by: Some("batch".into()),
            sdk: Sdk::Datadog,
        };
        assert_eq!(
            text(summary(&decision)),
            "injected java (forced: DD_INJECT_FORCE) (allowed by rule batch) \
             - set JAVA_TOOL_OPTIONS, unset DD_SERVICE"
        );
        assert_eq!(
            text(outcome(&decision)),
            "injected (forced: DD_INJECT_FORCE) (allowed by rule batch)"
        );
        let otel = Decision {
            sdk: Sdk::OpenTelemetry,
            forced: false,
            allowed_by: None,
            edits: vec![],
            ..decision
        };
        assert_eq!(text(summary(&otel)), "injected java (sdk: opentelemetry)");
    }

    #[test]
    fn a_rule_without_description_is_named_by_its_source() {
        let rule = Reason::Rule {
            id: "no-batch".into(),
            description: String::new(),
            source: "host_config.yaml".into(),
        };
        assert_eq!(text(reason(&rule)), "no-batch (a rule in host_config.yaml)");
    }

    #[test]
    fn skips_name_the_reason() {
        let decision = Decision::skip(Some(Runtime::Python), Reason::PythonNoSite, vec![]);
        assert_eq!(
            text(summary(&decision)),
            "skipped: python_no_site (python runs with -S and loads no sitecustomize)"
        );
        assert_eq!(text(outcome(&decision)), "skipped");
    }
}
