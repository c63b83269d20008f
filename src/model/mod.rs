//! The 1D-ResNet of Ribeiro et al. in candle: config, weights, forward with activations, training.

pub mod batch_norm;
pub mod config;
pub mod conv;
pub mod conv_direct;
pub mod optim;
pub mod resnet;
pub mod train;

pub use config::{ModelConfig, Task};
pub use resnet::{ForwardOutput, GradOutput, ResNet1d};

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ndarray::Array2;
use sha2::{Digest, Sha256};

/// Everything that can go wrong with a model; file errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The JSON config is missing, unreadable or describes an impossible architecture.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// The weights do not fit the config: missing tensor, wrong shape, unsupported dtype.
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
    /// An input does not fit the model (lead count, length, non-finite values).
    #[error("model {model}: input {index}: {message}")]
    Input {
        model: String,
        index: usize,
        message: String,
    },
    /// A forward/explain request that does not fit the model (block or output index).
    #[error("invalid request: {0}")]
    Request(String),
    #[error("training: {0}")]
    Training(String),
    #[error("cancelled")]
    Cancelled,
    #[error("tensor computation")]
    Candle(#[from] candle_core::Error),
}

/// Refuses a weight tensor holding NaN or infinity (a diverged training run, a corrupt file):
/// such a model would give NaN everywhere and the explainer fit would blame the data.
fn check_finite(name: &str, tensor: &Tensor) -> Result<(), String> {
    let values = tensor
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| format!("tensor '{name}' cannot be read: {e}"))?;
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(non_finite_message(name, i)),
        None => Ok(()),
    }
}

/// [`check_finite`] on a tensor's bytes as stored (little-endian f32, f16, bf16 or f64): a
/// value is NaN or infinite exactly when its exponent bits are all ones. Other dtypes pass.
fn check_finite_bytes(name: &str, dtype: safetensors::Dtype, bytes: &[u8]) -> Result<(), String> {
    use safetensors::Dtype as D;
    let first_bad = match dtype {
        D::F32 => bytes.chunks_exact(4).position(|b| {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000 == 0x7f80_0000
        }),
        D::F16 => bytes
            .chunks_exact(2)
            .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
        D::BF16 => bytes
            .chunks_exact(2)
            .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80),
        D::F64 => bytes.chunks_exact(8).position(|b| {
            let bits = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            bits & 0x7ff0_0000_0000_0000 == 0x7ff0_0000_0000_0000
        }),
        _ => None,
    };
    match first_bad {
        Some(i) => Err(non_finite_message(name, i)),
        None => Ok(()),
    }
}

/// A tensor's stored little-endian values as f32 (f16 and bf16 converted with the CPU's
/// conversion instructions where it has them); `None` for a dtype that is not a float.
fn f32_values(dtype: safetensors::Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
    use safetensors::Dtype as D;
    let bits16 = || -> Vec<u16> {
        bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect()
    };
    Some(match dtype {
        D::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        D::F16 | D::BF16 => {
            let bits = bits16();
            let mut out = vec![0.0f32; bits.len()];
            if dtype == D::F16 {
                bits.reinterpret_cast::<half::f16>()
                    .convert_to_f32_slice(&mut out);
            } else {
                bits.reinterpret_cast::<half::bf16>()
                    .convert_to_f32_slice(&mut out);
            }
            out
        }
        D::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        _ => return None,
    })
}

fn non_finite_message(name: &str, index: usize) -> String {
    format!(
        "tensor '{name}' holds a non-finite value (NaN or infinity) at index {index}: the \
         weights are broken (a diverged training run?)"
    )
}

/// The device used unless told otherwise: the first CUDA GPU when built with `--features cuda`
/// and one is present, else the CPU.
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        if let Ok(d) = Device::cuda_if_available(0) {
            return d;
        }
    }
    Device::Cpu
}

/// Default number of inputs per forward batch in [`LoadedModel::predict`]: bounds the memory of
/// the convolution buffers (im2col: ~ 1 GB for 32 inputs of Ribeiro's size; the direct kernel
/// needs about 1/17 of that, and gains nothing from larger batches: 15.0 ms for one ECG, 14.1
/// ms per ECG in a batch of 32).
pub const DEFAULT_BATCH_SIZE: usize = 8;

/// A model ready to run: network, config, and where it came from.
#[derive(Debug)]
pub struct LoadedModel {
    pub net: ResNet1d,
    pub config: ModelConfig,
    /// File stem of the weights (`synth_resnet`).
    pub name: String,
    /// Hex SHA-256 of the weights file (explainers record it to detect a changed model).
    pub sha256: String,
    pub path: PathBuf,
    pub device: Device,
    /// Inputs per forward batch in [`LoadedModel::predict`] (default [`DEFAULT_BATCH_SIZE`]).
    pub batch_size: usize,
    /// Forward passes run so far: how tests check what an operation costs (explaining a record
    /// takes one, whatever its Grad-CAM target).
    forward_passes: AtomicUsize,
}

/// Where a `.pth` file's state dict may sit: the top level, or under one of these keys of a
/// training checkpoint (Ribeiro et al. save `{"model": state_dict, ...}`).
const PTH_STATE_KEYS: [Option<&str>; 3] = [None, Some("model"), Some("state_dict")];

/// `<dir>/<stem>.json` beside a weights file.
pub fn config_path_for(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Reads and validates a model config.
pub fn read_config(path: &Path) -> Result<ModelConfig, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let config: ModelConfig = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.to_path_buf(),
        message: format!("invalid model config: {e}"),
    })?;
    config.validate().map_err(|message| ModelError::Config {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(config)
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks a file's tensors (name -> (dtype, shape)) against the config before building, so a
/// mismatch is reported by name and shape rather than as a failure deep inside the network.
fn check_tensors(
    path: &Path,
    config_path: &Path,
    config: &ModelConfig,
    found: &HashMap<String, (DType, Vec<usize>)>,
) -> Result<(), ModelError> {
    let err = |message: String| ModelError::Weights {
        path: path.to_path_buf(),
        message,
    };
    for (name, shape) in config.parameter_shapes() {
        match found.get(&name) {
            None => {
                return Err(err(format!(
                    "missing tensor `{name}` (shape {shape:?}) required by the config {}",
                    config_path.display()
                )));
            }
            Some((dtype, got)) => {
                if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
                    return Err(err(format!(
                        "tensor `{name}` has dtype {dtype:?}; expected a float type (f32, f16, bf16)"
                    )));
                }
                if got != &shape {
                    return Err(err(format!(
                        "tensor `{name}` has shape {got:?} but the config {} expects {shape:?} \
                         (check blocks_dim, input_channels, kernel_size, n_outputs)",
                        config_path.display()
                    )));
                }
            }
        }
    }
    Ok(())
}

impl LoadedModel {
    /// Opens `weights` (safetensors, or a PyTorch `.pth`/`.pt` state dict) with the config
    /// `<stem>.json` beside it, on [`default_device`].
    pub fn open(weights: &Path) -> Result<LoadedModel, ModelError> {
        Self::open_with_config(weights, &config_path_for(weights))
    }

    pub fn open_with_config(weights: &Path, config_path: &Path) -> Result<LoadedModel, ModelError> {
        Self::open_on(weights, config_path, &default_device())
    }

    /// Opens on a given device. Weights may be f32/f16/bf16 on disk; computation is in f32.
    /// Keys the network does not use (e.g. `*.num_batches_tracked`, I64) are ignored.
    pub fn open_on(
        weights: &Path,
        config_path: &Path,
        device: &Device,
    ) -> Result<LoadedModel, ModelError> {
        let config = read_config(config_path)?;
        let werr = |message: String| ModelError::Weights {
            path: weights.to_path_buf(),
            message,
        };
        if !weights.exists() {
            return Err(ModelError::Io {
                path: weights.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "weights file not found"),
            });
        }
        let ext = weights
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let vb = if ext == "pth" || ext == "pt" || ext == "bin" {
            // A bare state dict, or a training checkpoint holding it under a usual key.
            let mut chosen = None;
            for key in PTH_STATE_KEYS {
                let infos = candle_core::pickle::read_pth_tensor_info(weights, false, key)
                    .map_err(|e| werr(format!("not a readable PyTorch file: {e}")));
                match infos {
                    Ok(infos) if !infos.is_empty() => {
                        chosen = Some((key, infos));
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if key.is_none() => return Err(e),
                    Err(_) => {}
                }
            }
            let Some((key, infos)) = chosen else {
                return Err(werr(format!(
                    "no tensors found (looked at the top level and under the keys {:?})",
                    &PTH_STATE_KEYS[1..]
                )));
            };
            let found = infos
                .into_iter()
                .map(|i| (i.name, (i.dtype, i.layout.shape().dims().to_vec())))
                .collect();
            check_tensors(weights, config_path, &config, &found)?;
            let vb = match key {
                None => VarBuilder::from_pth(weights, DType::F32, device),
                Some(k) => VarBuilder::from_pth_with_state(weights, DType::F32, k, device),
            };
            vb.map_err(|e| werr(format!("not a readable PyTorch state dict: {e}")))?
        } else {
            // SAFETY: the file is mapped read-only; as everywhere with mmap, it must not be
            // truncated by another process while the model is open.
            let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(weights) }
                .map_err(|e| werr(format!("not a readable safetensors file: {e}")))?;
            let mut found = HashMap::new();
            for (name, view) in st.tensors() {
                let dtype = match DType::try_from(view.dtype()) {
                    Ok(d) => d,
                    // Unsupported dtypes only matter for tensors the network needs.
                    Err(_) => DType::U8,
                };
                found.insert(name, (dtype, view.shape().to_vec()));
            }
            check_tensors(weights, config_path, &config, &found)?;
            // On the mapped bytes: no copy, no conversion (the check used to load every
            // tensor and convert it to f32, three copies of the weights at start-up).
            for name in found.keys() {
                let view = st.get(name)?;
                check_finite_bytes(name, view.dtype(), view.data()).map_err(&werr)?;
            }
            // The network's tensors in f32 straight from the mapped bytes, one allocation each
            // (candle's mapped loader copies each tensor, then converts it one value at a time).
            let mut tensors = HashMap::new();
            for (name, shape) in config.parameter_shapes() {
                let view = st.get(&name)?;
                let values = f32_values(view.dtype(), view.data())
                    .ok_or_else(|| werr(format!("tensor `{name}` is not f32, f16, bf16 or f64")))?;
                tensors.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
            }
            VarBuilder::from_tensors(tensors, DType::F32, device)
        };
        // The file's hash (the explainer's check that it was fitted on these weights) on a
        // second thread while the network is built (f16 -> f32 weights): both read the whole
        // file once, and one-record commands wait for the longer of the two, not their sum.
        let (net, sha256) = std::thread::scope(|scope| {
            let hashing = scope.spawn(|| sha256_file(weights));
            let net = ResNet1d::new(&config, vb).map_err(|e| werr(e.to_string()));
            let sha256 = hashing.join().unwrap_or_else(|_| {
                Err(werr("the thread hashing the weights file panicked".into()))
            });
            (net, sha256)
        });
        let (net, sha256) = (net?, sha256?);
        let name = weights
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string();
        Ok(LoadedModel {
            net,
            config,
            name,
            sha256,
            path: weights.to_path_buf(),
            device: device.clone(),
            batch_size: DEFAULT_BATCH_SIZE,
            forward_passes: AtomicUsize::new(0),
        })
    }

    /// Builds a model from in-memory tensors with PyTorch's key names (e.g. right after
    /// training); `name` and `path` describe where it will be or was saved.
    pub fn from_tensors(
        config: ModelConfig,
        tensors: HashMap<String, Tensor>,
        name: &str,
        device: &Device,
    ) -> Result<LoadedModel, ModelError> {
        let path = PathBuf::from(format!("{name}.safetensors"));
        config.validate().map_err(|message| ModelError::Config {
            path: path.clone(),
            message,
        })?;
        let found = tensors
            .iter()
            .map(|(k, t)| (k.clone(), (t.dtype(), t.dims().to_vec())))
            .collect();
        check_tensors(&path, &config_path_for(&path), &config, &found)?;
        for (name, tensor) in &tensors {
            if tensor.dtype().is_float() {
                check_finite(name, tensor).map_err(|message| ModelError::Weights {
                    path: path.clone(),
                    message,
                })?;
            }
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let net = ResNet1d::new(&config, vb)?;
        Ok(LoadedModel {
            net,
            config,
            name: name.to_string(),
            sha256: String::new(),
            path,
            device: device.clone(),
            batch_size: DEFAULT_BATCH_SIZE,
            forward_passes: AtomicUsize::new(0),
        })
    }

    /// Checks one prepared input (model leads x model length, mV).
    fn check_input(&self, index: usize, input: &Array2<f32>) -> Result<(), ModelError> {
        let err = |message: String| ModelError::Input {
            model: self.name.clone(),
            index,
            message,
        };
        let (leads, length) = input.dim();
        if leads != self.config.input_channels {
            return Err(err(format!(
                "has {leads} leads but the model expects {} ({})",
                self.config.input_channels,
                self.config
                    .leads()
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if length < self.config.input_length {
            return Err(err(format!(
                "is too short: {length} samples, the model expects {} at {} Hz (prepare the \
                 record with dsp::prepare, which pads)",
                self.config.input_length, self.config.sampling_rate
            )));
        }
        if length != self.config.input_length {
            return Err(err(format!(
                "has {length} samples, the model expects exactly {} (prepare the record with \
                 dsp::prepare, which crops)",
                self.config.input_length
            )));
        }
        if input.iter().any(|v| !v.is_finite()) {
            return Err(err("holds non-finite samples (NaN or infinity)".into()));
        }
        Ok(())
    }

    /// Forward passes run by this model so far (each batch of [`LoadedModel::predict`] and each
    /// explain forward counts one).
    pub fn forward_passes(&self) -> usize {
        self.forward_passes.load(Ordering::Relaxed)
    }

    /// Stacks prepared inputs into a (B, leads, length) tensor on the model's device, scaled
    /// by `input_scale`.
    pub fn input_tensor(&self, inputs: &[Array2<f32>]) -> Result<Tensor, ModelError> {
        if inputs.is_empty() {
            return Err(ModelError::Request("no inputs".into()));
        }
        let (c, l) = (self.config.input_channels, self.config.input_length);
        let mut data = Vec::with_capacity(inputs.len() * c * l);
        for (i, input) in inputs.iter().enumerate() {
            self.check_input(i, input)?;
            let scale = self.config.input_scale;
            data.extend(input.iter().map(|v| v * scale));
        }
        Ok(Tensor::from_vec(data, (inputs.len(), c, l), &self.device)?)
    }

    /// [`Self::input_tensor`] for a forward pass, counted.
    fn forward_input(&self, inputs: &[Array2<f32>]) -> Result<Tensor, ModelError> {
        self.forward_passes.fetch_add(1, Ordering::Relaxed);
        self.input_tensor(inputs)
    }

    /// Raw outputs (logits for classification) of each prepared input, in batches of
    /// `batch_size`.
    pub fn predict(&self, inputs: &[Array2<f32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut out = Vec::with_capacity(inputs.len());
        for (chunk_index, chunk) in inputs.chunks(self.batch_size.max(1)).enumerate() {
            let x = self.forward_input(chunk).map_err(|e| match e {
                ModelError::Input {
                    model,
                    index,
                    message,
                } => ModelError::Input {
                    model,
                    index: index + chunk_index * self.batch_size.max(1),
                    message,
                },
                e => e,
            })?;
            let logits = self.net.forward_t(&x, false)?;
            out.extend(logits.to_dtype(DType::F32)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// [`LoadedModel::predict`] followed by the task's activation (sigmoid, softmax, identity).
    pub fn predict_probabilities(
        &self,
        inputs: &[Array2<f32>],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(self
            .predict(inputs)?
            .iter()
            .map(|raw| self.config.task.activate(raw))
            .collect())
    }

    /// [`ResNet1d::forward_explain`] on prepared inputs.
    pub fn explain_forward(
        &self,
        inputs: &[Array2<f32>],
        blocks: &[usize],
        grad: Option<(usize, usize)>,
    ) -> Result<ForwardOutput, ModelError> {
        let x = self.forward_input(inputs)?;
        self.net.forward_explain(&x, blocks, grad)
    }

    /// [`Self::explain_forward`] with the gradient's output chosen after the forward pass
    /// (see [`ResNet1d::forward_explain_for`]).
    pub fn explain_forward_for(
        &self,
        inputs: &[Array2<f32>],
        blocks: &[usize],
        grad: Option<(usize, GradOutput)>,
    ) -> Result<ForwardOutput, ModelError> {
        let x = self.forward_input(inputs)?;
        self.net.forward_explain_for(&x, blocks, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::{check_finite_bytes, f32_values};
    use safetensors::Dtype;

    fn bytes_u16(v: &[u16]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn finite_check_on_stored_bytes_finds_nan_and_infinity_in_every_float_type() {
        let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let f64s = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        // bf16 is the upper half of an f32.
        let bf16s = |v: &[f32]| {
            bytes_u16(
                &v.iter()
                    .map(|x| (x.to_bits() >> 16) as u16)
                    .collect::<Vec<_>>(),
            )
        };
        // The largest finite values and subnormals pass.
        let fine = [1.0, -0.0, 1e-40, -3.0e38, 3.0e38];
        assert!(check_finite_bytes("w", Dtype::F32, &f32s(&fine)).is_ok());
        assert!(check_finite_bytes("w", Dtype::BF16, &bf16s(&fine)).is_ok());
        assert!(check_finite_bytes("w", Dtype::F64, &f64s(&[f64::MAX, 1e-310])).is_ok());
        // f16: 1.0, 65504 (the largest), a subnormal, -2.0.
        assert!(
            check_finite_bytes(
                "w",
                Dtype::F16,
                &bytes_u16(&[0x3c00, 0x7bff, 0x0001, 0xc000])
            )
            .is_ok()
        );
        // f16 NaN, +infinity, -infinity at index 2.
        for bad in [0x7e00u16, 0x7c00, 0xfc00] {
            let err = check_finite_bytes(
                "conv1.weight",
                Dtype::F16,
                &bytes_u16(&[0x3c00, 0x4000, bad]),
            )
            .unwrap_err();
            assert!(
                err.contains("conv1.weight") && err.contains("index 2"),
                "{err}"
            );
        }
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let v = [0.5, 2.0, bad];
            for (dtype, bytes) in [
                (Dtype::F32, f32s(&v)),
                (Dtype::BF16, bf16s(&v)),
                (Dtype::F64, f64s(&[0.5, 2.0, bad as f64])),
            ] {
                let err = check_finite_bytes("conv1.weight", dtype, &bytes).unwrap_err();
                assert!(
                    err.contains("conv1.weight") && err.contains("index 2"),
                    "{dtype:?}: {err}"
                );
            }
        }
    }

    #[test]
    fn stored_values_read_as_f32_from_every_float_type() {
        // f16 1.0, -2.0, 65504, the smallest subnormal (2^-24).
        let f16 = bytes_u16(&[0x3c00, 0xc000, 0x7bff, 0x0001]);
        let got = f32_values(Dtype::F16, &f16).unwrap();
        assert_eq!(got, vec![1.0, -2.0, 65504.0, 2f32.powi(-24)]);
        let bf16 = bytes_u16(&[0x3f80, 0xc040]);
        assert_eq!(f32_values(Dtype::BF16, &bf16).unwrap(), vec![1.0, -3.0]);
        let f32s: Vec<u8> = [0.25f32, -7.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(f32_values(Dtype::F32, &f32s).unwrap(), vec![0.25, -7.5]);
        let f64s: Vec<u8> = [0.5f64, 1e3].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(f32_values(Dtype::F64, &f64s).unwrap(), vec![0.5, 1000.0]);
        assert!(f32_values(Dtype::I64, &[0; 8]).is_none());
    }
}
