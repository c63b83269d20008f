//! From a [`Dataset`]'s index to the evaluation's true targets and folds.

use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::SurrogateError;
use super::evaluate::Truth;
use crate::io::Dataset;
use crate::model::config::Task;

/// The first `n` records of `ds` that can be evaluated for these outputs: for an age
/// regression, those with an age (PTB-XL leaves a few out; `tlc train` skips them too), else
/// all of them.
pub fn evaluated_records(
    ds: &dyn Dataset,
    n: usize,
    output_names: &[String],
    task: Task,
) -> Vec<usize> {
    let n = n.min(ds.len());
    let age = task == Task::Regression
        && output_names.len() == 1
        && crate::model::config::is_age_output(&output_names[0]);
    if !age {
        return (0..n).collect();
    }
    (0..n)
        .filter(|&i| ds.entry(i).is_some_and(|e| e.age_years.is_some()))
        .collect()
}

/// The true targets of records `indices` for a model with `output_names`; `None` when the
/// data set is unlabelled (fidelity only).
///
/// Multi-label: a record's labels that are not model outputs are ignored; a record with no label
/// is negative for every output. Multiclass: each record needs exactly one label among the
/// outputs. Regression: an output named `age` / `age_years` reads the record's age; other
/// regression outputs have no truth in a data set index (`None`).
pub fn dataset_truth(
    ds: &dyn Dataset,
    indices: &[usize],
    output_names: &[String],
    task: Task,
) -> Result<Option<Truth>, SurrogateError> {
    let entry = |i: usize| {
        ds.entry(i)
            .ok_or_else(|| SurrogateError::input(format!("{}: no record {i}", ds.name())))
    };
    match task {
        Task::Regression => {
            let is_age =
                output_names.len() == 1 && crate::model::config::is_age_output(&output_names[0]);
            if !is_age {
                return Ok(None);
            }
            let mut t = Array2::<f32>::zeros((indices.len(), 1));
            for (r, &i) in indices.iter().enumerate() {
                let e = entry(i)?;
                t[[r, 0]] = e.age_years.ok_or_else(|| {
                    SurrogateError::input(format!("{}: record {} has no age", ds.name(), e.id))
                })?;
            }
            Ok(Some(Truth::Regression(t)))
        }
        Task::Multilabel | Task::Multiclass => {
            let classes = ds.class_names();
            if classes.is_empty() {
                return Ok(None);
            }
            if !output_names.iter().any(|o| classes.contains(o)) {
                return Err(SurrogateError::input(format!(
                    "{}: labels {classes:?} share none of the model's outputs {output_names:?}",
                    ds.name()
                )));
            }
            let mut multi = Array2::<bool>::from_elem((indices.len(), output_names.len()), false);
            let mut single = Vec::with_capacity(indices.len());
            for (r, &i) in indices.iter().enumerate() {
                let e = entry(i)?;
                let hits: Vec<usize> = output_names
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| e.labels.contains(o))
                    .map(|(c, _)| c)
                    .collect();
                for &c in &hits {
                    multi[[r, c]] = true;
                }
                if task == Task::Multiclass {
                    if hits.len() != 1 {
                        return Err(SurrogateError::input(format!(
                            "{}: record {} has labels {:?}, a multiclass model needs exactly one of {output_names:?}",
                            ds.name(),
                            e.id,
                            e.labels
                        )));
                    }
                    single.push(hits[0]);
                }
            }
            Ok(Some(if task == Task::Multiclass {
                Truth::MultiClass(single)
            } else {
                Truth::MultiLabel(multi)
            }))
        }
    }
}

/// Folds of records `indices`: the data set's own folds when every record has one and their
/// number equals `n_folds` (or `n_folds` is `None`); otherwise a seeded shuffle dealt round-robin
/// into `n_folds` folds numbered 1..=n_folds (default 10).
pub fn dataset_folds(
    ds: &dyn Dataset,
    indices: &[usize],
    n_folds: Option<usize>,
    seed: u64,
) -> Result<Vec<u32>, SurrogateError> {
    let own: Option<Vec<u32>> = indices
        .iter()
        .map(|&i| ds.entry(i).and_then(|e| e.fold))
        .collect();
    if let Some(own) = own {
        let mut distinct = own.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if n_folds.is_none_or(|n| n == distinct.len()) && distinct.len() >= 2 {
            return Ok(own);
        }
    }
    let n = n_folds.unwrap_or(10);
    if n < 2 || n > indices.len() {
        return Err(SurrogateError::settings(format!(
            "{n} folds for {} records: need 2 <= folds <= records",
            indices.len()
        )));
    }
    let mut order: Vec<usize> = (0..indices.len()).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
    let mut folds = vec![0u32; indices.len()];
    for (pos, &r) in order.iter().enumerate() {
        folds[r] = 1 + (pos % n) as u32;
    }
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{IoError, RecordEntry};
    use crate::record::Ecg;

    struct Fake(Vec<RecordEntry>, Vec<String>);

    impl Dataset for Fake {
        fn name(&self) -> String {
            "fake".into()
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn entry(&self, index: usize) -> Option<&RecordEntry> {
            self.0.get(index)
        }
        fn load(&self, _index: usize) -> Result<Ecg, IoError> {
            Err(IoError::format("fake", "no samples"))
        }
        fn class_names(&self) -> Vec<String> {
            self.1.clone()
        }
    }

    fn entry(id: &str, labels: &[&str], fold: Option<u32>) -> RecordEntry {
        RecordEntry {
            id: id.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            fold,
            age_years: Some(50.0),
            ..Default::default()
        }
    }

    /// An age model is evaluated on the records that have an age; other tasks on all.
    #[test]
    fn an_age_model_is_evaluated_on_records_with_an_age() {
        let mut ageless = entry("b", &["MI"], Some(2));
        ageless.age_years = None;
        let ds = Fake(
            vec![
                entry("a", &["NORM"], Some(1)),
                ageless,
                entry("c", &[], Some(3)),
            ],
            vec!["NORM".into(), "MI".into()],
        );
        let age = vec!["age".to_string()];
        assert_eq!(
            evaluated_records(&ds, 3, &age, Task::Regression),
            vec![0, 2]
        );
        assert_eq!(evaluated_records(&ds, 2, &age, Task::Regression), vec![0]);
        let Some(Truth::Regression(t)) =
            dataset_truth(&ds, &[0, 2], &age, Task::Regression).unwrap()
        else {
            panic!()
        };
        assert_eq!(t.column(0).to_vec(), vec![50.0, 50.0]);
        let labels = vec!["NORM".to_string(), "MI".to_string()];
        assert_eq!(
            evaluated_records(&ds, 10, &labels, Task::Multilabel),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn truth_and_folds() {
        let ds = Fake(
            vec![
                entry("a", &["NORM"], Some(1)),
                entry("b", &["MI", "CD"], Some(2)),
                entry("c", &[], Some(2)),
            ],
            vec!["NORM".into(), "MI".into(), "CD".into()],
        );
        let names: Vec<String> = vec!["MI".into(), "NORM".into()];
        let Some(Truth::MultiLabel(t)) =
            dataset_truth(&ds, &[0, 1, 2], &names, Task::Multilabel).unwrap()
        else {
            panic!()
        };
        assert_eq!(t.row(0).to_vec(), vec![false, true]);
        assert_eq!(t.row(1).to_vec(), vec![true, false]);
        assert_eq!(t.row(2).to_vec(), vec![false, false]);
        // Two labels among the outputs: not a multiclass record.
        let both: Vec<String> = vec!["MI".into(), "CD".into()];
        assert!(dataset_truth(&ds, &[1], &both, Task::Multiclass).is_err());
        assert!(dataset_truth(&ds, &[0], &["X".to_string()], Task::Multilabel).is_err());
        let Some(Truth::Regression(a)) =
            dataset_truth(&ds, &[0], &["age".to_string()], Task::Regression).unwrap()
        else {
            panic!()
        };
        assert_eq!(a[[0, 0]], 50.0);
        let unlabelled = Fake(vec![entry("a", &[], None)], vec![]);
        assert!(
            dataset_truth(&unlabelled, &[0], &names, Task::Multilabel)
                .unwrap()
                .is_none()
        );

        assert_eq!(
            dataset_folds(&ds, &[0, 1, 2], None, 0).unwrap(),
            vec![1, 2, 2]
        );
        let f = dataset_folds(&ds, &[0, 1, 2], Some(3), 0).unwrap();
        let mut s = f.clone();
        s.sort();
        assert_eq!(s, vec![1, 2, 3]);
        assert!(dataset_folds(&ds, &[0, 1, 2], Some(4), 0).is_err());
    }
}
