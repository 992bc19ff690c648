//! Kubernetes label selectors (`matchLabels` and `matchExpressions` with
//! `In`, `NotIn`, `Exists`, `DoesNotExist`), with Kubernetes' matching rules
//! except for one: an empty selector selects nothing here (Kubernetes'
//! empty selector selects everything; OpenShift's render controller also
//! treats an empty pool selector as matching nothing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A label selector as Kubernetes writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// A selector of `matchLabels` only.
    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        LabelSelector {
            match_labels: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// No labels and no expressions.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Kubernetes' structural rules: `In`/`NotIn` need values,
    /// `Exists`/`DoesNotExist` must have none. The error names the
    /// offending expression by index.
    pub fn check(&self) -> Result<(), String> {
        for (i, e) in self.match_expressions.iter().enumerate() {
            match e.operator {
                Operator::In | Operator::NotIn if e.values.is_empty() => {
                    return Err(format!(
                        "matchExpressions[{i}] ({}): operator {:?} needs at least one value",
                        e.key, e.operator
                    ))
                }
                Operator::Exists | Operator::DoesNotExist if !e.values.is_empty() => {
                    return Err(format!(
                        "matchExpressions[{i}] ({}): operator {:?} takes no values",
                        e.key, e.operator
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the selector selects an object with these labels. Every
    /// requirement must hold (AND). An empty selector selects nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        if self.is_empty() {
            return false;
        }
        let labels_ok = self
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        labels_ok
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator {
                    Operator::In => value.is_some_and(|v| e.values.contains(v)),
                    Operator::NotIn => value.map_or(true, |v| !e.values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// Whether an optional selector selects the labels (a missing selector
/// selects nothing).
pub fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    selector.is_some_and(|s| s.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, operator: Operator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn kubernetes_semantics() {
        let worker = labels(&[("role", "worker")]);
        let infra = labels(&[("role", "infra")]);
        let none = labels(&[]);
        let cases: &[(LabelSelector, &BTreeMap<String, String>, bool)] = &[
            (LabelSelector::labels([("role", "worker")]), &worker, true),
            (LabelSelector::labels([("role", "worker")]), &infra, false),
            (LabelSelector::labels([("role", "worker")]), &none, false),
            (
                expr("role", Operator::In, &["worker", "infra"]),
                &infra,
                true,
            ),
            (expr("role", Operator::In, &["worker"]), &none, false),
            (expr("role", Operator::NotIn, &["worker"]), &infra, true),
            (expr("role", Operator::NotIn, &["worker"]), &none, true),
            (expr("role", Operator::NotIn, &["worker"]), &worker, false),
            (expr("role", Operator::Exists, &[]), &worker, true),
            (expr("role", Operator::Exists, &[]), &none, false),
            (expr("role", Operator::DoesNotExist, &[]), &none, true),
            (expr("role", Operator::DoesNotExist, &[]), &worker, false),
            (LabelSelector::default(), &worker, false),
        ];
        for (i, (sel, l, want)) in cases.iter().enumerate() {
            assert_eq!(sel.matches(l), *want, "case {i}: {sel:?} on {l:?}");
        }
    }

    #[test]
    fn structural_checks() {
        assert!(expr("a", Operator::In, &[]).check().is_err());
        assert!(expr("a", Operator::Exists, &["x"]).check().is_err());
        assert!(expr("a", Operator::NotIn, &["x"]).check().is_ok());
    }
}
