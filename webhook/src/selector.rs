//! Label selectors (`matchLabels` and `matchExpressions`), as Kubernetes evaluates them.

use std::collections::BTreeMap;

/// Labels of a pod or namespace.
pub type Labels = BTreeMap<String, String>;

/// A selector: every label and every expression must match (an empty selector matches all).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    /// `matchLabels`: each key must have exactly this value.
    pub labels: Labels,
    /// `matchExpressions`.
    pub expressions: Vec<Expression>,
}

/// One `matchExpressions` entry, e.g. `{key: tier, operator: In, values: [web]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expression {
    /// The label key.
    pub key: String,
    /// The operator and its values.
    pub operator: Operator,
}

/// A `matchExpressions` operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Operator {
    /// The label is present with one of these values.
    In(Vec<String>),
    /// The label is absent, or present with none of these values.
    NotIn(Vec<String>),
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl Operator {
    /// The operator named `name` with `values`, checked as the API server checks it.
    pub fn new(name: &str, values: Vec<String>) -> Result<Operator, String> {
        let operator = match name {
            "In" => Operator::In(values),
            "NotIn" => Operator::NotIn(values),
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(format!("operator {name} takes no values"))
            }
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(format!(
                    "unknown operator {other:?} (expected In, NotIn, Exists or DoesNotExist)"
                ))
            }
        };
        if matches!(&operator, Operator::In(v) | Operator::NotIn(v) if v.is_empty()) {
            return Err(format!("operator {name} needs at least one value"));
        }
        Ok(operator)
    }
}

impl Selector {
    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match &e.operator {
                    Operator::In(values) => value.is_some_and(|v| values.contains(v)),
                    Operator::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let selector = Selector {
            labels: labels(&[("app", "web")]),
            expressions: vec![
                Expression {
                    key: "tier".into(),
                    operator: Operator::In(vec!["front".into(), "back".into()]),
                },
                Expression {
                    key: "canary".into(),
                    operator: Operator::DoesNotExist,
                },
            ],
        };
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "back")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "back"), ("canary", "")])));
        assert!(!selector.matches(&labels(&[("tier", "back")])));
        assert!(Selector::default().matches(&Labels::new()));
    }

    #[test]
    fn not_in_matches_absent_labels() {
        let selector = Selector {
            labels: Labels::new(),
            expressions: vec![Expression {
                key: "env".into(),
                operator: Operator::NotIn(vec!["dev".into()]),
            }],
        };
        assert!(selector.matches(&Labels::new()));
        assert!(!selector.matches(&labels(&[("env", "dev")])));
    }

    #[test]
    fn operators_are_checked() {
        assert!(Operator::new("In", vec![]).is_err());
        assert!(Operator::new("Exists", vec!["x".into()]).is_err());
        assert!(Operator::new("Equals", vec!["x".into()]).is_err());
        assert_eq!(Operator::new("Exists", vec![]), Ok(Operator::Exists));
    }
}
