//! What the worker actually does for each [`Job`]: thin calls into the core.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::analysis::{AnalysisSteps, ExplainWith, RecordAnalysis, analyse_record};
use crate::delineate::Delineation;
use crate::io::Dataset;
use crate::model::LoadedModel;
use crate::progress::{Progress, ProgressSink};
use crate::record::Ecg;
use crate::tlc::pipeline::{ExplainSettings, explain_record};
use crate::tlc::{Explainer, Explanation, fit_explainer};

pub use super::browser::RecordMeasures;
use super::worker::Task;

/// The models and settings a record is analysed with (shared, read-only, cheap to clone).
#[derive(Clone, Default)]
pub struct AnalysisContext {
    pub model: Option<Arc<LoadedModel>>,
    pub explainer: Option<Arc<Explainer>>,
    pub explain: ExplainSettings,
    /// Delineate P/QRS/T waves of each record shown.
    pub delineate: Option<crate::delineate::DelineatorParams>,
}

/// A record with whatever analysis succeeded. A failed step does not hide the ECG: its error
/// is kept in `problems` and shown beside the record.
#[derive(Debug, Clone)]
pub struct AnalysedRecord {
    pub index: Option<usize>,
    pub ecg: Arc<Ecg>,
    pub explanation: Option<Arc<Explanation>>,
    pub delineation: Option<Arc<Delineation>>,
    /// P/PR/QRS/ST/T/TP label of every sample, from the fused beats of `delineation`.
    pub segment_labels: Option<Arc<Vec<crate::delineate::SegmentLabel>>>,
    /// Names of the clusters of `explanation`, from the explainer that explained it (`None`
    /// for a record explained elsewhere: the loaded explainer names it then).
    pub cluster_names: Option<Vec<String>>,
    /// The clinical measurements from `delineation` (default settings, as the figures print).
    pub measurements: Option<Arc<crate::measure::Measurements>>,
    /// Annotation files beside the record (for the reference layer).
    pub annotators: Vec<crate::figure::AnnotatorFile>,
    pub problems: Vec<String>,
    /// Min/max buckets of every lead over the whole record (the overview strip), computed once
    /// here, on the thread that loads the record.
    pub overview: Arc<crate::dsp::overview::MinMaxOverview>,
}

impl AnalysedRecord {
    /// A record without analysis.
    pub fn plain(ecg: Arc<Ecg>, index: Option<usize>) -> Self {
        let overview = Arc::new(crate::dsp::overview::MinMaxOverview::of_rows(
            ecg.samples_mv.view(),
            crate::dsp::overview::OVERVIEW_BUCKETS,
        ));
        AnalysedRecord {
            overview,
            index,
            ecg,
            explanation: None,
            delineation: None,
            segment_labels: None,
            cluster_names: None,
            measurements: None,
            annotators: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Attach a delineation (its per-sample segment labels, and the measurements from it; a
    /// record they cannot be made for keeps the reason among its problems).
    pub fn with_delineation(mut self, d: Delineation) -> Self {
        let labels = crate::delineate::labels_per_sample(&d.beats, self.ecg.n_samples());
        self.segment_labels = Some(Arc::new(labels));
        match crate::measure::measure(&self.ecg, &d, &crate::measure::MeasureParams::default()) {
            Ok(m) => self.measurements = Some(Arc::new(m)),
            Err(err) => self.problems.push(format!(
                "measuring {}: {}",
                self.ecg.meta.id,
                crate::error_text::describe(&err)
            )),
        }
        self.delineation = Some(Arc::new(d));
        self
    }
}

/// One record's result when a whole data set is explained.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordResult {
    pub index: usize,
    pub predicted: Vec<String>,
    pub mean_entropy: f32,
    pub proportions: Vec<f32>,
    /// Raw model outputs (logits or values).
    pub raw: Vec<f32>,
    /// Probabilities (or values for regression).
    pub probabilities: Vec<f32>,
}

/// A data set explained record by record; failures are listed, the rest kept.
#[derive(Debug, Clone, Default)]
pub struct DatasetExplained {
    pub results: Vec<RecordResult>,
    pub failures: Vec<String>,
    pub cancelled: bool,
}

/// Work the UI can ask for. Each variant is run by [`run`].
pub enum Job {
    /// Open a record, a folder or a data set (index only; records load lazily).
    OpenDataset { path: PathBuf },
    /// Load one record of an opened data set and analyse it with what is available.
    LoadRecord {
        dataset: Arc<dyn Dataset>,
        index: usize,
        analysis: AnalysisContext,
    },
    /// Analyse a record that is already in memory (e.g. after the model or settings changed).
    Analyse {
        ecg: Arc<Ecg>,
        index: Option<usize>,
        analysis: AnalysisContext,
    },
    /// Open a model (weights + config) and optionally its explainer.
    LoadModels {
        model: PathBuf,
        explainer: Option<PathBuf>,
    },
    /// Fit a new explainer on records of a data set.
    Fit {
        model: Arc<crate::model::LoadedModel>,
        dataset: Arc<dyn Dataset>,
        indices: Vec<usize>,
        settings: crate::tlc::FitSettings,
    },
    /// Render a figure to an image (export preview, clipboard).
    RenderFigure {
        source: super::export::FigureSource,
        spec: crate::figure::FigureSpec,
        purpose: super::export::FigurePurpose,
    },
    /// Write a figure file (SVG, PNG or PDF by extension).
    ExportFigure {
        source: super::export::FigureSource,
        path: PathBuf,
        spec: crate::figure::FigureSpec,
        overwrite: bool,
    },
    /// Write the record's data (CSV, JSON) and optionally WFDB cluster annotations.
    ExportData {
        source: super::export::FigureSource,
        dir: PathBuf,
        annotations: bool,
        overwrite: bool,
    },
    /// Cross-validate the random-forest surrogate on the whole data set (`folds` folds), list the
    /// label-quality audit, and optionally sweep K.
    Evaluate {
        model: Arc<crate::model::LoadedModel>,
        explainer: Arc<crate::tlc::Explainer>,
        dataset: Arc<dyn Dataset>,
        folds: usize,
        k_sweep: bool,
    },
    /// Read a reference annotation file beside the record on screen.
    LoadReference {
        file: crate::figure::AnnotatorFile,
        n_samples: usize,
    },
    /// Explain every model window of a record longer than the model's input.
    ExplainWindows {
        ecg: Arc<Ecg>,
        model: Arc<LoadedModel>,
        explainer: Arc<Explainer>,
    },
    /// Delineate and measure records of a data set (the browser's HR, QRS and QTc columns).
    MeasureDataset {
        dataset: Arc<dyn Dataset>,
        indices: Vec<usize>,
        delineate: crate::delineate::DelineatorParams,
    },
    /// Explain records of a data set (predictions, proportions, entropy per record).
    ExplainDataset {
        dataset: Arc<dyn Dataset>,
        indices: Vec<usize>,
        analysis: AnalysisContext,
    },
}

impl Task for Job {
    type Output = JobOutput;

    fn run(self, sink: &dyn ProgressSink) -> anyhow::Result<JobOutput> {
        run(self, sink)
    }

    fn describe(&self) -> String {
        match self {
            Job::OpenDataset { path } => format!("Opening {}", path.display()),
            Job::LoadRecord { dataset, index, .. } => {
                let id = dataset
                    .entry(*index)
                    .map(|e| e.id.clone())
                    .unwrap_or_else(|| index.to_string());
                format!("Loading record {id}")
            }
            Job::Analyse { ecg, .. } => format!("Analysing record {}", ecg.meta.id),
            Job::LoadModels { model, .. } => format!("Loading model {}", model.display()),
            Job::Fit {
                indices, settings, ..
            } => {
                format!(
                    "Fitting K = {} on {} records",
                    settings.clusters.k,
                    indices.len()
                )
            }
            Job::ExplainDataset { indices, .. } => format!("Explaining {} records", indices.len()),
            Job::LoadReference { file, .. } => {
                format!("Reading annotations {}", file.path.display())
            }
            Job::MeasureDataset { indices, .. } => format!("Measuring {} records", indices.len()),
            Job::ExplainWindows { ecg, .. } => {
                format!("Explaining the windows of record {}", ecg.meta.id)
            }
            Job::Evaluate { dataset, folds, .. } => format!(
                "Evaluating the surrogate ({folds}-fold) on {} records",
                dataset.len()
            ),
            Job::RenderFigure { source, .. } => {
                format!("Rendering a figure of {}", source.ecg.meta.id)
            }
            Job::ExportFigure { path, .. } => format!("Exporting {}", path.display()),
            Job::ExportData { dir, .. } => format!("Exporting data to {}", dir.display()),
        }
    }
}

/// What a finished job hands back.
pub enum JobOutput {
    Dataset {
        path: PathBuf,
        dataset: Arc<dyn Dataset>,
    },
    Record(Box<AnalysedRecord>),
    Models {
        model: Arc<crate::model::LoadedModel>,
        explainer: Option<Arc<crate::tlc::Explainer>>,
        problems: Vec<String>,
    },
    Fitted(Arc<crate::tlc::Explainer>),
    DatasetExplained(DatasetExplained),
    Evaluated(Box<Evaluated>),
    FigureImage {
        purpose: super::export::FigurePurpose,
        image: egui::ColorImage,
    },
    Written(Vec<PathBuf>),
    Reference(Box<crate::figure::ReferenceLayer>),
    DatasetMeasured(DatasetMeasured),
    Windows {
        record_id: String,
        windows: Vec<crate::tlc::windows::WindowExplained>,
    },
}

/// Records of a data set measured; failures are listed, the rest kept.
#[derive(Debug, Clone, Default)]
pub struct DatasetMeasured {
    pub results: Vec<(usize, RecordMeasures)>,
    pub failures: Vec<String>,
    pub cancelled: bool,
}

/// Run `job` (on the worker thread).
fn run(job: Job, sink: &dyn ProgressSink) -> anyhow::Result<JobOutput> {
    match job {
        Job::OpenDataset { path } => {
            sink.report(Progress {
                stage: "reading the index".into(),
                done: 0,
                total: 1,
                share: None,
            });
            let dataset = crate::io::open_dataset(&path)?;
            // Entries a data set fills on first use (WFDB headers, device files' metadata)
            // are read here, not by the browser's first sort on the UI thread.
            let n = dataset.len();
            for i in 0..n {
                if sink.is_cancelled() {
                    anyhow::bail!("cancelled");
                }
                if i % 64 == 0 {
                    sink.report(Progress {
                        stage: "reading the index".into(),
                        done: i,
                        total: n,
                        share: None,
                    });
                }
                let _ = dataset.entry(i);
            }
            Ok(JobOutput::Dataset {
                path,
                dataset: Arc::from(dataset),
            })
        }
        Job::LoadModels { model, explainer } => load_models(model, explainer, sink),
        Job::LoadRecord {
            dataset,
            index,
            analysis,
        } => load_record(dataset.as_ref(), index, &analysis, sink),
        Job::Analyse {
            ecg,
            index,
            analysis,
        } => Ok(JobOutput::Record(Box::new(analyse(
            ecg, index, &analysis, sink,
        )))),
        Job::Fit {
            model,
            dataset,
            indices,
            settings,
        } => {
            let explainer = fit_explainer(&model, dataset.as_ref(), &indices, &settings, sink)?;
            Ok(JobOutput::Fitted(Arc::new(explainer)))
        }
        Job::RenderFigure {
            source,
            spec,
            purpose,
        } => {
            let png = crate::figure::render_png(&source.input(), &spec)?;
            let image = super::export::png_to_image(&png)?;
            Ok(JobOutput::FigureImage { purpose, image })
        }
        Job::ExportFigure {
            source,
            path,
            spec,
            overwrite,
        } => {
            crate::figure::export_figure(&path, &source.input(), &spec, overwrite)?;
            Ok(JobOutput::Written(vec![path]))
        }
        Job::ExportData {
            source,
            dir,
            annotations,
            overwrite,
        } => export_data(&source, &dir, annotations, overwrite),
        Job::Evaluate {
            model,
            explainer,
            dataset,
            folds,
            k_sweep,
        } => Ok(JobOutput::Evaluated(Box::new(evaluate(
            &model,
            &explainer,
            dataset.as_ref(),
            folds,
            k_sweep,
            sink,
        )?))),
        Job::ExplainWindows {
            ecg,
            model,
            explainer,
        } => Ok(JobOutput::Windows {
            record_id: ecg.meta.id.clone(),
            windows: crate::tlc::windows::explain_windows(&model, &explainer, &ecg, sink)?,
        }),
        Job::LoadReference { file, n_samples } => Ok(JobOutput::Reference(Box::new(
            crate::figure::reference::read_layer(&file, n_samples)?,
        ))),
        Job::MeasureDataset {
            dataset,
            indices,
            delineate,
        } => Ok(JobOutput::DatasetMeasured(measure_dataset(
            dataset.as_ref(),
            &indices,
            &delineate,
            sink,
        ))),
        Job::ExplainDataset {
            dataset,
            indices,
            analysis,
        } => Ok(JobOutput::DatasetExplained(explain_dataset(
            dataset.as_ref(),
            &indices,
            &analysis,
            sink,
        )?)),
    }
}

/// Load record `index` of `dataset` and analyse it.
fn load_record(
    dataset: &dyn Dataset,
    index: usize,
    analysis: &AnalysisContext,
    sink: &dyn ProgressSink,
) -> anyhow::Result<JobOutput> {
    sink.report(Progress {
        stage: "loading".into(),
        done: 0,
        total: 2,
        share: None,
    });
    let ecg = dataset.load(index).with_context(|| {
        let id = dataset.entry(index).map(|e| e.id.as_str()).unwrap_or("?");
        format!("record {id} of {}", dataset.name())
    })?;
    if sink.is_cancelled() {
        anyhow::bail!("cancelled");
    }
    let record = analyse(Arc::new(ecg), Some(index), analysis, sink);
    Ok(JobOutput::Record(Box::new(record)))
}

/// Write the data behind the figure of `source` into `dir`, and its cluster annotations beside
/// the record when asked.
fn export_data(
    source: &super::export::FigureSource,
    dir: &std::path::Path,
    annotations: bool,
    overwrite: bool,
) -> anyhow::Result<JobOutput> {
    let stem = super::export::file_stem(&source.ecg.meta.id);
    let mut written = crate::figure::export_data(dir, &stem, &source.input(), overwrite)?;
    if annotations {
        match (&source.explanation, &source.ecg.meta.source) {
            (Some(ex), Some(record)) => {
                written.push(crate::figure::annotations::write_cluster_annotations(
                    record,
                    ex,
                    source.ecg.n_samples(),
                    Some(&source.cluster_names),
                    overwrite,
                )?)
            }
            _ => anyhow::bail!("WFDB annotations need an explained record read from a file"),
        }
    }
    Ok(JobOutput::Written(written))
}

fn load_models(
    model: PathBuf,
    explainer: Option<PathBuf>,
    sink: &dyn ProgressSink,
) -> anyhow::Result<JobOutput> {
    sink.report(Progress {
        stage: "model".into(),
        done: 0,
        total: 2,
        share: None,
    });
    let loaded = LoadedModel::open(&model).with_context(|| format!("model {}", model.display()))?;
    let mut problems = Vec::new();
    sink.report(Progress {
        stage: "explainer".into(),
        done: 1,
        total: 2,
        share: None,
    });
    let explainer = match explainer {
        Some(path) => match Explainer::load(&path) {
            Ok(e) => match e.check_model(&loaded) {
                Ok(()) => Some(Arc::new(e)),
                Err(err) => {
                    problems.push(format!(
                        "explainer {} does not fit model {}: {}",
                        path.display(),
                        model.display(),
                        crate::error_text::describe(&err)
                    ));
                    None
                }
            },
            Err(err) => {
                problems.push(format!(
                    "explainer {}: {}",
                    path.display(),
                    crate::error_text::describe(&err)
                ));
                None
            }
        },
        None => None,
    };
    Ok(JobOutput::Models {
        model: Arc::new(loaded),
        explainer,
        problems,
    })
}

/// Explain and delineate a loaded record with what the context provides
/// ([`crate::analysis::analyse_record`]); a failed step becomes one of the record's problems.
fn analyse(
    ecg: Arc<Ecg>,
    index: Option<usize>,
    analysis: &AnalysisContext,
    sink: &dyn ProgressSink,
) -> AnalysedRecord {
    sink.report(Progress {
        stage: "explaining".into(),
        done: 1,
        total: 2,
        share: None,
    });
    let explain = match (&analysis.model, &analysis.explainer) {
        (Some(model), Some(explainer)) => Some(ExplainWith {
            model,
            explainer,
            settings: &analysis.explain,
        }),
        _ => None,
    };
    let steps = AnalysisSteps {
        explain,
        delineate: analysis.delineate.as_ref(),
    };
    let RecordAnalysis {
        explanation,
        cluster_names,
        delineation,
    } = analyse_record(&ecg, steps);
    let id = ecg.meta.id.clone();
    let mut record = AnalysedRecord::plain(ecg, index);
    match crate::figure::reference::list_annotators(&record.ecg) {
        Ok(files) => record.annotators = files,
        Err(err) => record.problems.push(format!(
            "listing the annotation files of {id}: {}",
            crate::error_text::describe(&err)
        )),
    }
    match explanation {
        Some(Ok(ex)) => {
            record.explanation = Some(Arc::new(ex));
            record.cluster_names = cluster_names;
        }
        Some(Err(err)) => record.problems.push(format!(
            "explaining {id}: {}",
            crate::error_text::describe(&err)
        )),
        None => {}
    }
    match delineation {
        Some(Ok(d)) => record = record.with_delineation(d),
        Some(Err(err)) => record.problems.push(format!(
            "delineating {id}: {}",
            crate::error_text::describe(&err)
        )),
        None => {}
    }
    record
}

/// Records of a data set, one by one: what `each` made of each, the failures (record id and
/// cause), and whether it was cancelled (it stops between records, keeping what was done).
struct EachRecord<T> {
    results: Vec<(usize, T)>,
    failures: Vec<String>,
    cancelled: bool,
}

fn for_each_record<T>(
    dataset: &dyn Dataset,
    indices: &[usize],
    stage: &str,
    sink: &dyn ProgressSink,
    mut each: impl FnMut(&Ecg) -> anyhow::Result<T>,
) -> EachRecord<T> {
    let mut out = EachRecord {
        results: Vec::new(),
        failures: Vec::new(),
        cancelled: false,
    };
    for (done, &index) in indices.iter().enumerate() {
        if sink.is_cancelled() {
            out.cancelled = true;
            break;
        }
        sink.report(Progress {
            stage: stage.into(),
            done,
            total: indices.len(),
            share: None,
        });
        let result = dataset
            .load(index)
            .map_err(anyhow::Error::from)
            .and_then(|ecg| each(&ecg));
        match result {
            Ok(v) => out.results.push((index, v)),
            Err(err) => {
                let id = dataset
                    .entry(index)
                    .map(|e| e.id.clone())
                    .unwrap_or_else(|| index.to_string());
                out.failures.push(format!(
                    "{id}: {}",
                    crate::error_text::describe_anyhow(&err)
                ))
            }
        }
    }
    sink.report(Progress {
        stage: stage.into(),
        done: indices.len(),
        total: indices.len(),
        share: None,
    });
    out
}

/// Delineate and measure each record (what the browser's HR, QRS and QTc columns show).
fn measure_dataset(
    dataset: &dyn Dataset,
    indices: &[usize],
    params: &crate::delineate::DelineatorParams,
    sink: &dyn ProgressSink,
) -> DatasetMeasured {
    let each = for_each_record(dataset, indices, "measuring records", sink, |ecg| {
        let steps = AnalysisSteps {
            explain: None,
            delineate: Some(params),
        };
        let d = match analyse_record(ecg, steps).delineation {
            Some(d) => d?,
            None => anyhow::bail!("not delineated"),
        };
        let m = crate::measure::measure(ecg, &d, &crate::measure::MeasureParams::default())?;
        Ok(RecordMeasures::of(&m))
    });
    DatasetMeasured {
        results: each.results,
        failures: each.failures,
        cancelled: each.cancelled,
    }
}

fn explain_dataset(
    dataset: &dyn Dataset,
    indices: &[usize],
    analysis: &AnalysisContext,
    sink: &dyn ProgressSink,
) -> anyhow::Result<DatasetExplained> {
    let (Some(model), Some(explainer)) = (&analysis.model, &analysis.explainer) else {
        anyhow::bail!("load a model and an explainer first");
    };
    let settings = ExplainSettings {
        gradcam: None,
        ..analysis.explain.clone()
    };
    let each = for_each_record(dataset, indices, "explaining records", sink, |ecg| {
        Ok(explain_record(model, explainer, ecg, &settings)?)
    });
    Ok(DatasetExplained {
        results: each
            .results
            .into_iter()
            .map(|(index, ex)| RecordResult {
                index,
                predicted: ex.prediction.predicted_labels.clone(),
                mean_entropy: ex.mean_entropy(),
                proportions: ex.proportions.clone(),
                raw: ex.prediction.raw.clone(),
                probabilities: ex.prediction.probabilities.clone(),
            })
            .collect(),
        failures: each.failures,
        cancelled: each.cancelled,
    })
}

/// The surrogate evaluation of a data set, as the cohort view shows it.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub report: crate::surrogate::EvaluationReport,
    /// Present when the K sweep was asked for.
    pub sweep: Option<crate::surrogate::KSweep>,
    /// Disagreements between label, CNN and out-of-fold forest, most suspicious first.
    pub audit: Vec<crate::surrogate::AuditRow>,
    /// Record id -> index in the data set (to open an audit row).
    pub index_of: std::collections::HashMap<String, usize>,
    /// Where the CNN outputs and features came from (said above the table).
    pub source: crate::surrogate::prepare::CnnSource,
}

/// Cross-validates the surrogate on every record of `dataset` with the core functions that
/// `tlc evaluate` and `tlc audit` use (forest and k-means settings: their defaults and the
/// explainer's).
fn evaluate(
    model: &LoadedModel,
    explainer: &Explainer,
    dataset: &dyn Dataset,
    folds: usize,
    k_sweep: bool,
    sink: &dyn ProgressSink,
) -> anyhow::Result<Evaluated> {
    use crate::surrogate::{
        AuditSettings, ForestSettings, PrepareSettings, TlcBackend, audit, cohort, cross_validate,
        prepare_evaluation,
    };
    let settings = PrepareSettings {
        folds: Some(folds),
        forest: if model.config.task == crate::model::config::Task::Regression {
            ForestSettings::regression_default()
        } else {
            ForestSettings::default()
        },
        ..PrepareSettings::default()
    };
    // The most leak-free outputs shipped with the model for this data set (see CnnSource).
    let source = crate::surrogate::prepare::cnn_source_for(&model.path, dataset, dataset.len());
    if let crate::surrogate::prepare::CnnSource::FoldModels { oof } = &source {
        let report = crate::surrogate::prepare::evaluate_fold_models(
            &model.path,
            explainer,
            dataset,
            oof,
            &settings,
            sink,
        )
        .with_context(|| format!("data set {}", dataset.name()))?;
        let ids: std::collections::HashSet<&str> =
            report.records.iter().map(|r| r.id.as_str()).collect();
        let indices: Vec<usize> = (0..dataset.len()).collect();
        let truth = crate::surrogate::data::dataset_truth(
            dataset,
            &indices,
            &model.config.class_names,
            model.config.task,
        )?;
        let rows = audit(&report, truth.as_ref(), &AuditSettings::default())?;
        let index_of = (0..dataset.len())
            .filter_map(|i| dataset.entry(i).map(|e| (e.id.clone(), i)))
            .filter(|(id, _)| ids.contains(id.as_str()))
            .collect();
        return Ok(Evaluated {
            report,
            // One clustering per fold model: no single feature set to sweep K over.
            sweep: None,
            audit: rows,
            index_of,
            source,
        });
    }
    let oof = match &source {
        crate::surrogate::prepare::CnnSource::OutOfFold(p) => Some(p.as_path()),
        _ => None,
    };
    // One progress bar over the forward passes, the folds and the K sweep (which refits every
    // fold once per K, so it gets the larger share).
    let (features_end, folds_end) = if k_sweep { (0.3, 0.4) } else { (0.5, 1.0) };
    let p = prepare_evaluation(
        model,
        explainer,
        dataset,
        oof,
        &settings,
        &crate::progress::StageSink::new(sink, 0.0, features_end),
    )
    .with_context(|| format!("data set {}", dataset.name()))?;
    let report = cross_validate(
        &p.data,
        &p.backend,
        &p.settings,
        &crate::progress::StageSink::new(sink, features_end, folds_end),
    )?;
    let rows = audit(&report, p.data.truth.as_ref(), &AuditSettings::default())?;
    let sweep = if k_sweep {
        let base = p.backend.settings.clone();
        Some(cohort::k_sweep(
            &p.data,
            &cohort::DEFAULT_K_SWEEP,
            |k| TlcBackend {
                settings: crate::tlc::ClusterSettings { k, ..base.clone() },
            },
            &p.settings,
            &crate::progress::StageSink::new(sink, folds_end, 1.0),
        )?)
    } else {
        None
    };
    let index_of = p
        .data
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i))
        .collect();
    Ok(Evaluated {
        report,
        sweep,
        audit: rows,
        index_of,
        source,
    })
}
