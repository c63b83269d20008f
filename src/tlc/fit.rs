//! Fitting an explainer over a corpus: batched forward passes, features of the valid steps,
//! a seeded reservoir sample bounded by the time-step budget, then standardisation, k-means and
//! the temperature.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::dsp::Preprocessing;
use crate::io::Dataset;
use crate::model::LoadedModel;
use crate::progress::{ProgressSink, StageSink};
use crate::tlc::TlcError;
use crate::tlc::cluster::{ClusterSettings, fit_clusters};
use crate::tlc::explainer::{Explainer, FitDescription, utc_now_rfc3339};
use crate::tlc::features::FeatureSettings;
use crate::tlc::pipeline::for_each_record_features;

/// Everything `fit_explainer` needs besides the model and the data.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FitSettings {
    pub features: FeatureSettings,
    pub clusters: ClusterSettings,
    /// The filtering of the fitting records, stored in the explainer. `None`: the model's
    /// ([`crate::model::ModelConfig::preprocessing`]). Stating it is for models whose config does
    /// not record it; one that differs from what the model records is refused.
    pub preprocessing: Option<Preprocessing>,
    /// Name of the explainer; `None` = `<model name> k<K>`.
    pub name: Option<String>,
}

/// A uniform random sample of at most `budget` rows from a stream of rows (Vitter's algorithm
/// R, seeded): memory is bounded by the budget however long the corpus.
#[derive(Debug)]
pub struct StepReservoir {
    budget: Option<usize>,
    n_features: usize,
    rows: Vec<f32>,
    seen: usize,
    rng: Xoshiro256PlusPlus,
}

impl StepReservoir {
    /// `budget = None` keeps every row.
    pub fn new(budget: Option<usize>, n_features: usize, seed: u64) -> Self {
        StepReservoir {
            budget,
            n_features,
            rows: Vec::new(),
            seen: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// Rows offered so far.
    pub fn seen(&self) -> usize {
        self.seen
    }

    pub fn len(&self) -> usize {
        self.rows.len() / self.n_features.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Offer every row of `x` (n, F).
    pub fn push(&mut self, x: &Array2<f32>) -> Result<(), TlcError> {
        if x.ncols() != self.n_features {
            return Err(TlcError::shape("features", self.n_features, x.ncols()));
        }
        for row in x.rows() {
            let keep_at = match self.budget {
                Some(b) if self.len() >= b => {
                    let j = self.rng.gen_range(0..=self.seen);
                    (j < b).then_some(j)
                }
                _ => None,
            };
            match keep_at {
                Some(j) => {
                    let f = self.n_features;
                    self.rows[j * f..(j + 1) * f]
                        .iter_mut()
                        .zip(row)
                        .for_each(|(a, &v)| *a = v);
                }
                None if self.budget.is_none_or(|b| self.len() < b) => self.rows.extend(row.iter()),
                None => {}
            }
            self.seen += 1;
        }
        Ok(())
    }

    pub fn into_array(self) -> Array2<f32> {
        let n = self.len();
        Array2::from_shape_vec((n, self.n_features), self.rows)
            .unwrap_or_else(|_| Array2::zeros((0, self.n_features)))
    }
}

/// The time steps an explainer is fitted on, and what produced them.
#[derive(Debug)]
pub struct CorpusSteps {
    /// (N, F): the valid steps' features of the records (a seeded sample of at most
    /// `max_time_steps` of them), before standardisation.
    pub steps: Array2<f32>,
    /// Valid steps of all the records, before the budget.
    pub n_seen: usize,
    pub features: FeatureSettings,
    pub preprocessing: Preprocessing,
}

/// The features of records `indices` of `dataset` that [`fit_explainer`] clusters: batched
/// forward passes, valid steps only, the seeded reservoir bounded by the time-step budget.
pub fn corpus_steps(
    model: &LoadedModel,
    dataset: &dyn Dataset,
    indices: &[usize],
    settings: &FitSettings,
    progress: &dyn ProgressSink,
) -> Result<CorpusSteps, TlcError> {
    settings.clusters.validate()?;
    if indices.is_empty() {
        return Err(TlcError::NoRecords);
    }
    if let Some(&bad) = indices.iter().find(|&&i| i >= dataset.len()) {
        return Err(TlcError::setting(
            "records",
            format!(
                "index {bad} is outside the data set '{}' of {} records",
                dataset.name(),
                dataset.len()
            ),
        ));
    }
    let preprocessing = fit_preprocessing(model, settings.preprocessing.as_ref())?;
    let features = settings.features.resolved(&model.config)?;
    let (_, n_features) = features.dims(&model.config)?;
    let mut reservoir = StepReservoir::new(
        settings.clusters.max_time_steps,
        n_features,
        settings.clusters.seed,
    );
    for_each_record_features(
        model,
        &features,
        dataset,
        indices,
        &preprocessing.settings(None),
        progress,
        |_, r| reservoir.push(&r.features),
    )?;
    Ok(CorpusSteps {
        n_seen: reservoir.seen(),
        steps: reservoir.into_array(),
        features,
        preprocessing,
    })
}

/// Fit an explainer for `model` on records `indices` of `dataset`.
pub fn fit_explainer(
    model: &LoadedModel,
    dataset: &dyn Dataset,
    indices: &[usize],
    settings: &FitSettings,
    progress: &dyn ProgressSink,
) -> Result<Explainer, TlcError> {
    // One progress bar over both stages: the forward passes take most of a fit.
    const FEATURES_SHARE: f32 = 0.7;
    let corpus = corpus_steps(
        model,
        dataset,
        indices,
        settings,
        &StageSink::new(progress, 0.0, FEATURES_SHARE),
    )?;
    // The reservoir already holds at most the budget: no second subsampling.
    let clusters = fit_clusters(
        &[corpus.steps],
        &settings.clusters,
        &StageSink::new(progress, FEATURES_SHARE, 1.0),
    )?;
    let fit = FitDescription {
        dataset: dataset.name(),
        n_records: indices.len(),
        n_time_steps: clusters.n_time_steps,
        n_time_steps_seen: corpus.n_seen,
        seed: settings.clusters.seed,
        settings: settings.clusters.clone(),
        inertia: clusters.inertia,
        date: utc_now_rfc3339(),
    };
    let name = settings
        .name
        .clone()
        .unwrap_or_else(|| format!("{} k{}", model.name, settings.clusters.k));
    Explainer::from_clusters(
        name,
        model.name.clone(),
        model.sha256.clone(),
        model.config.clone(),
        corpus.preprocessing,
        corpus.features,
        clusters,
        fit,
    )
}

/// The filtering to fit with: the stated one, unless the model records another.
fn fit_preprocessing(
    model: &LoadedModel,
    stated: Option<&Preprocessing>,
) -> Result<Preprocessing, TlcError> {
    match (stated, &model.config.preprocessing) {
        (Some(stated), Some(recorded)) if stated != recorded => Err(TlcError::setting(
            "preprocessing",
            format!(
                "{stated} was asked for, but model '{}' was trained with {recorded}",
                model.name
            ),
        )),
        (Some(stated), _) => Ok(stated.clone()),
        (None, _) => Ok(model.config.preprocessing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_keeps_the_budget_uniformly() {
        let x = Array2::from_shape_fn((1000, 1), |(i, _)| i as f32);
        let mut r = StepReservoir::new(Some(100), 1, 3);
        r.push(&x).unwrap();
        assert_eq!((r.len(), r.seen()), (100, 1000));
        let a = r.into_array();
        // A uniform sample of 0..1000: mean near 500, later rows present.
        let mean = a.mean().unwrap();
        assert!((350.0..650.0).contains(&mean), "{mean}");
        assert!(a.iter().any(|&v| v >= 900.0));
        let mut all = StepReservoir::new(None, 1, 3);
        all.push(&x).unwrap();
        assert_eq!(all.len(), 1000);
    }
}
