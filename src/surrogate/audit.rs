//! Label-quality audit: records where the true label, the CNN and the (out-of-fold) forest
//! disagree, most suspicious first.
//!
//! Ranking score = CNN confidence x (1 - record's mean entropy): a confident CNN on a record whose
//! time steps sit firmly in their clusters, yet disagreeing with the label, is the best candidate
//! for a wrong label. Confidence is |2p - 1| for a multi-label output and the top probability for
//! multiclass.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SurrogateError;
use super::evaluate::{EvaluationReport, Truth};
use super::forest::argmax;
use crate::model::config::Task;

/// Which of the three stands alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Disagreement {
    /// CNN and forest agree, the label differs: a suspected label error.
    Label,
    /// Label and forest agree, the CNN differs.
    Cnn,
    /// Label and CNN agree, the surrogate differs.
    Forest,
    /// Multiclass: all three differ.
    All,
    /// No labels: the forest differs from the CNN.
    ForestVsCnn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: String,
    pub fold: u32,
    /// The output (multi-label) or "class" (multiclass).
    pub output: String,
    /// "1"/"0" per multi-label output, or class names; `None` without labels.
    pub label: Option<String>,
    pub cnn: String,
    pub forest: String,
    pub cnn_probability: f32,
    pub cnn_confidence: f32,
    pub mean_entropy: f32,
    pub kind: Disagreement,
    pub score: f32,
}

/// Audit settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AuditSettings {
    /// Keep only the `top` highest-scoring rows (default: all).
    pub top: Option<usize>,
}

fn kind(label: Option<&str>, cnn: &str, forest: &str) -> Option<Disagreement> {
    match label {
        None => (cnn != forest).then_some(Disagreement::ForestVsCnn),
        Some(l) => match (l == cnn, l == forest, cnn == forest) {
            (true, true, _) => None,
            (false, false, true) => Some(Disagreement::Label),
            (false, true, _) => Some(Disagreement::Cnn),
            (true, false, _) => Some(Disagreement::Forest),
            (false, false, false) => Some(Disagreement::All),
        },
    }
}

/// Lists disagreements from a cross-validation report (its out-of-fold forest outputs) and the
/// truth used for it (rows in the report's record order). Regression has no labels to audit.
pub fn audit(
    report: &EvaluationReport,
    truth: Option<&Truth>,
    settings: &AuditSettings,
) -> Result<Vec<AuditRow>, SurrogateError> {
    let n = report.records.len();
    let mut rows = Vec::new();
    match report.task {
        Task::Regression => return Err(SurrogateError::input("audit needs a classification task")),
        Task::Multilabel => {
            let t = match truth {
                Some(Truth::MultiLabel(t)) if t.dim() == (n, report.output_names.len()) => Some(t),
                None => None,
                Some(_) => {
                    return Err(SurrogateError::input("audit: labels do not fit the report"));
                }
            };
            let b = |v: bool| if v { "1".to_string() } else { "0".to_string() };
            for (i, r) in report.records.iter().enumerate() {
                for (o, name) in report.output_names.iter().enumerate() {
                    let (p, f) = (r.cnn[o], r.forest[o]);
                    let label = t.map(|t| b(t[[i, o]]));
                    let (cnn, forest) = (b(p >= 0.5), b(f >= 0.5));
                    let Some(kind) = kind(label.as_deref(), &cnn, &forest) else {
                        continue;
                    };
                    let confidence = (2.0 * p - 1.0).abs();
                    rows.push(AuditRow {
                        id: r.id.clone(),
                        fold: r.fold,
                        output: name.clone(),
                        label,
                        cnn,
                        forest,
                        cnn_probability: p,
                        cnn_confidence: confidence,
                        mean_entropy: r.mean_entropy,
                        kind,
                        score: confidence * (1.0 - r.mean_entropy),
                    });
                }
            }
        }
        Task::Multiclass => {
            let t = match truth {
                Some(Truth::MultiClass(t)) if t.len() == n => Some(t),
                None => None,
                Some(_) => {
                    return Err(SurrogateError::input("audit: labels do not fit the report"));
                }
            };
            let name = |c: usize| {
                report
                    .output_names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| c.to_string())
            };
            for (i, r) in report.records.iter().enumerate() {
                let (c, f) = (argmax(&r.cnn), argmax(&r.forest));
                let label = t.map(|t| name(t[i]));
                let (cnn, forest) = (name(c), name(f));
                let Some(kind) = kind(label.as_deref(), &cnn, &forest) else {
                    continue;
                };
                let confidence = r.cnn.get(c).copied().unwrap_or(0.0);
                rows.push(AuditRow {
                    id: r.id.clone(),
                    fold: r.fold,
                    output: "class".into(),
                    label,
                    cnn,
                    forest,
                    cnn_probability: confidence,
                    cnn_confidence: confidence,
                    mean_entropy: r.mean_entropy,
                    kind,
                    score: confidence * (1.0 - r.mean_entropy),
                });
            }
        }
    }
    rows.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    if let Some(top) = settings.top {
        rows.truncate(top);
    }
    Ok(rows)
}

/// Writes the rows as CSV.
pub fn write_audit_csv(rows: &[AuditRow], path: &Path) -> Result<(), SurrogateError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "fold",
        "output",
        "label",
        "cnn",
        "forest",
        "cnn_probability",
        "cnn_confidence",
        "mean_entropy",
        "kind",
        "score",
    ])
    .map_err(|e| SurrogateError::file(path, e))?;
    for r in rows {
        w.write_record([
            r.id.clone(),
            r.fold.to_string(),
            r.output.clone(),
            r.label.clone().unwrap_or_default(),
            r.cnn.clone(),
            r.forest.clone(),
            format!("{:.4}", r.cnn_probability),
            format!("{:.4}", r.cnn_confidence),
            format!("{:.4}", r.mean_entropy),
            format!("{:?}", r.kind),
            format!("{:.4}", r.score),
        ])
        .map_err(|e| SurrogateError::file(path, e))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SurrogateError::file(path, e.error()))?;
    super::evaluate::write_replacing(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disagreement_kinds() {
        assert_eq!(kind(Some("1"), "1", "1"), None);
        assert_eq!(kind(Some("0"), "1", "1"), Some(Disagreement::Label));
        assert_eq!(kind(Some("1"), "0", "1"), Some(Disagreement::Cnn));
        assert_eq!(kind(Some("1"), "1", "0"), Some(Disagreement::Forest));
        assert_eq!(kind(Some("A"), "B", "C"), Some(Disagreement::All));
        assert_eq!(kind(None, "B", "C"), Some(Disagreement::ForestVsCnn));
        assert_eq!(kind(None, "B", "B"), None);
    }
}
