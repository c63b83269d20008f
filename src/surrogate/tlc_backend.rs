//! The production [`ClusterBackend`]: `crate::tlc`'s standardisation + k-means
//! ([`fit_clusters`]) and soft assignment ([`assign`]), refitted per fold on cached features.

use ndarray::Array2;

use super::evaluate::{Assignment, BackendError, ClusterBackend};
use crate::progress::ProgressSink;
use crate::tlc::assign::{assign, proportions};
use crate::tlc::{ClusterModel, ClusterSettings, fit_clusters};

/// Refits TLC clusters with `settings` (K, inits, seed, time-step budget) on each fold's
/// training records.
#[derive(Debug, Clone)]
pub struct TlcBackend {
    pub settings: ClusterSettings,
}

impl ClusterBackend for TlcBackend {
    type Model = ClusterModel;

    fn k(&self) -> usize {
        self.settings.k
    }

    fn fit(
        &self,
        train: &[&Array2<f32>],
        progress: &dyn ProgressSink,
    ) -> Result<ClusterModel, BackendError> {
        // fit_clusters takes owned tables; the copy is one pass over the training features,
        // small next to k-means itself.
        let owned: Vec<Array2<f32>> = train.iter().map(|a| (*a).clone()).collect();
        Ok(fit_clusters(&owned, &self.settings, progress)?)
    }

    fn assign(
        &self,
        model: &ClusterModel,
        features: &Array2<f32>,
    ) -> Result<Assignment, BackendError> {
        let a = assign(features.view(), model)?;
        let n = a.labels.len();
        let mean_entropy = crate::tlc::assign::mean_entropy(&a.entropy.to_vec());
        // The features hold the valid steps only, so proportions are over all of them.
        Ok(Assignment {
            proportions: proportions(&a.labels, model.k(), 0..n),
            mean_entropy,
        })
    }
}
