//! Reading and writing named f32 arrays in safetensors files (explainers, test fixtures).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::tlc::TlcError;

/// The tensors of one safetensors file, read whole.
pub struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    pub fn open(path: &Path) -> Result<Self, TlcError> {
        let bytes = std::fs::read(path).map_err(|e| TlcError::io(path, e))?;
        // Parse once now so a corrupt file fails here, naming the file.
        SafeTensors::deserialize(&bytes)
            .map_err(|e| TlcError::format(path, format!("not a safetensors file: {e}")))?;
        Ok(TensorFile {
            path: path.to_path_buf(),
            bytes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn view(&self, name: &str) -> Result<TensorView<'_>, TlcError> {
        let st = SafeTensors::deserialize(&self.bytes)
            .map_err(|e| TlcError::format(&self.path, e.to_string()))?;
        st.tensor(name)
            .map_err(|_| TlcError::format(&self.path, format!("no tensor named '{name}'")))
    }

    pub fn names(&self) -> Vec<String> {
        SafeTensors::deserialize(&self.bytes)
            .map(|st| st.names().into_iter().map(String::from).collect())
            .unwrap_or_default()
    }

    /// A tensor as f32, converting from F16, F32, F64 or integer types.
    pub fn f32(&self, name: &str) -> Result<ArrayD<f32>, TlcError> {
        let view = self.view(name)?;
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            Dtype::I64 => data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            Dtype::I32 => data
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
                .collect(),
            other => {
                return Err(TlcError::format(
                    &self.path,
                    format!("tensor '{name}' has unsupported type {other:?}"),
                ));
            }
        };
        ArrayD::from_shape_vec(view.shape().to_vec(), values)
            .map_err(|e| TlcError::format(&self.path, format!("tensor '{name}': {e}")))
    }

    /// A tensor as i64 (from I64 or I32).
    pub fn i64(&self, name: &str) -> Result<ArrayD<i64>, TlcError> {
        let view = self.view(name)?;
        let data = view.data();
        let values: Vec<i64> = match view.dtype() {
            Dtype::I64 => data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .collect(),
            Dtype::I32 => data
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
                .collect(),
            other => {
                return Err(TlcError::format(
                    &self.path,
                    format!("tensor '{name}' has type {other:?}, not an integer type"),
                ));
            }
        };
        ArrayD::from_shape_vec(view.shape().to_vec(), values)
            .map_err(|e| TlcError::format(&self.path, format!("tensor '{name}': {e}")))
    }
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: value = f * 2^-24.
            let v = f as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Write named f32 arrays (name, shape, values) to `path` as safetensors.
pub fn write_f32(
    path: &Path,
    tensors: &[(&str, Vec<usize>, &[f32])],
    metadata: Option<HashMap<String, String>>,
) -> Result<(), TlcError> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            (
                name.to_string(),
                values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                shape.clone(),
            )
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, data, shape) in &bytes {
        let view = TensorView::new(Dtype::F32, shape.clone(), data)
            .map_err(|e| TlcError::format(path, format!("tensor '{name}': {e}")))?;
        views.push((name.clone(), view));
    }
    let out = safetensors::serialize(views, metadata)
        .map_err(|e| TlcError::format(path, format!("cannot serialise: {e}")))?;
    crate::io::files::write_atomic(path, &out, true)
        .map_err(|e| TlcError::format(path, crate::error_text::describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
    }
}
