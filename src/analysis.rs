//! Analysing one record: explain it with a model and its explainer, name the explainer's
//! clusters, delineate its waves. The one function behind the app's record view and
//! `tlc figure`, so the two cannot drift apart.
//!
//! Each step's failure is kept apart from the others: a front end decides whether a failed step
//! stops it (`tlc figure` without an explanation) or only goes beside the record (the app shows
//! the ECG whatever failed). Measurements are not a step here: they follow from the delineation
//! where they are shown (`figure::measurement_line::figure_measurements`).

use crate::delineate::{DelineateError, Delineation, DelineatorParams, delineate};
use crate::model::LoadedModel;
use crate::record::Ecg;
use crate::tlc::pipeline::{ExplainSettings, explain_record};
use crate::tlc::{Explainer, Explanation, TlcError};

/// A model, the explainer fitted for it, and how to explain with them.
#[derive(Clone, Copy)]
pub struct ExplainWith<'a> {
    pub model: &'a LoadedModel,
    pub explainer: &'a Explainer,
    pub settings: &'a ExplainSettings,
}

/// What to compute for a record; a step left `None` is skipped.
#[derive(Clone, Copy, Default)]
pub struct AnalysisSteps<'a> {
    pub explain: Option<ExplainWith<'a>>,
    pub delineate: Option<&'a DelineatorParams>,
}

/// The outcome of [`analyse_record`]: `None` for a step that was not asked for.
#[derive(Debug)]
pub struct RecordAnalysis {
    pub explanation: Option<Result<Explanation, TlcError>>,
    /// The explainer's cluster names ([`crate::tlc::cluster_names`]), present when the
    /// explanation step was asked for: the names belong to the explainer that explained.
    pub cluster_names: Option<Vec<String>>,
    pub delineation: Option<Result<Delineation, DelineateError>>,
}

/// Explain, name the clusters and delineate `ecg`, as `steps` asks.
pub fn analyse_record(ecg: &Ecg, steps: AnalysisSteps<'_>) -> RecordAnalysis {
    let explanation = steps
        .explain
        .map(|with| explain_record(with.model, with.explainer, ecg, with.settings));
    let cluster_names = steps.explain.map(|with| {
        crate::tlc::cluster_names(&with.explainer.cluster_descriptions, with.explainer.k)
    });
    let delineation = steps.delineate.map(|params| delineate(ecg, params));
    RecordAnalysis {
        explanation,
        cluster_names,
        delineation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_steps_asked_for_are_run() {
        let params = crate::synth::SynthParams::default();
        let ecg = crate::synth::generate_record(&params, 0).unwrap().ecg;
        let nothing = analyse_record(&ecg, AnalysisSteps::default());
        assert!(nothing.explanation.is_none() && nothing.cluster_names.is_none());
        assert!(nothing.delineation.is_none());

        let delineator = DelineatorParams::default();
        let delineated = analyse_record(
            &ecg,
            AnalysisSteps {
                explain: None,
                delineate: Some(&delineator),
            },
        );
        let beats = delineated
            .delineation
            .expect("asked for")
            .expect("a synthetic record delineates")
            .beats;
        assert!(!beats.is_empty());
        assert!(delineated.explanation.is_none());
    }
}
