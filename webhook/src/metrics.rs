//! Counters served on `GET /metrics` in Prometheus' text format, named as Datadog's:
//! `admission_webhooks_library_injection_attempts{language,injected}` and
//! `admission_webhooks_library_injection_errors{language}`, plus
//! `apm_inject_webhook_reviews{outcome}` for every review answered.

use crate::review::Outcome;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// The counters.
#[derive(Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    /// (language, injected) → attempts.
    attempts: BTreeMap<(&'static str, bool), u64>,
    /// language → errors.
    errors: BTreeMap<&'static str, u64>,
    /// outcome → reviews.
    reviews: BTreeMap<&'static str, u64>,
}

impl Metrics {
    /// Counts one answered review.
    pub fn record(&self, outcome: &Outcome) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let kind = match outcome {
            Outcome::Ignored(_) => "ignored",
            Outcome::Skipped(_) => "skipped",
            Outcome::Injected(languages) => {
                for l in languages {
                    *counts.attempts.entry((l.id(), true)).or_default() += 1;
                }
                "injected"
            }
            Outcome::Failed(languages, _) => {
                // A failure before libraries were chosen still counts, as "unknown".
                let ids: Vec<&'static str> = if languages.is_empty() {
                    vec!["unknown"]
                } else {
                    languages.iter().map(|l| l.id()).collect()
                };
                for id in ids {
                    *counts.attempts.entry((id, false)).or_default() += 1;
                    *counts.errors.entry(id).or_default() += 1;
                }
                "failed"
            }
        };
        *counts.reviews.entry(kind).or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let _ = writeln!(out, "# HELP admission_webhooks_library_injection_attempts Library injection attempts, by language and whether the pod was instrumented.");
        let _ = writeln!(
            out,
            "# TYPE admission_webhooks_library_injection_attempts counter"
        );
        for ((language, injected), n) in &counts.attempts {
            let _ = writeln!(
                out,
                "admission_webhooks_library_injection_attempts{{language=\"{language}\",injected=\"{injected}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP admission_webhooks_library_injection_errors Library injections that failed, by language.");
        let _ = writeln!(
            out,
            "# TYPE admission_webhooks_library_injection_errors counter"
        );
        for (language, n) in &counts.errors {
            let _ = writeln!(
                out,
                "admission_webhooks_library_injection_errors{{language=\"{language}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP apm_inject_webhook_reviews AdmissionReviews answered, by outcome."
        );
        let _ = writeln!(out, "# TYPE apm_inject_webhook_reviews counter");
        for (outcome, n) in &counts.reviews {
            let _ = writeln!(
                out,
                "apm_inject_webhook_reviews{{outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Language;

    #[test]
    fn counts_attempts_and_errors_per_language() {
        let m = Metrics::default();
        m.record(&Outcome::Injected(vec![Language::Js, Language::Python]));
        m.record(&Outcome::Injected(vec![Language::Python]));
        m.record(&Outcome::Failed(vec![Language::Python], "too small".into()));
        m.record(&Outcome::Failed(vec![], "unknown namespace".into()));
        let text = m.render();
        for line in [
            "admission_webhooks_library_injection_attempts{language=\"python\",injected=\"true\"} 2",
            "admission_webhooks_library_injection_attempts{language=\"python\",injected=\"false\"} 1",
            "admission_webhooks_library_injection_attempts{language=\"js\",injected=\"true\"} 1",
            "admission_webhooks_library_injection_errors{language=\"python\"} 1",
            "admission_webhooks_library_injection_errors{language=\"unknown\"} 1",
            "apm_inject_webhook_reviews{outcome=\"injected\"} 2",
            "apm_inject_webhook_reviews{outcome=\"failed\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }
}
