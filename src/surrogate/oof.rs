//! Out-of-fold CNN predictions written by `tlc train --folds`: a CSV `id,fold,<output names...>`
//! with one row per record and the probabilities (or regression values) of the fold model that
//! did not train on it.

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;

use super::SurrogateError;

/// The parsed CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct OofPredictions {
    pub names: Vec<String>,
    /// id -> (fold, outputs).
    pub rows: HashMap<String, (u32, Vec<f32>)>,
}

impl OofPredictions {
    pub fn read(path: &Path) -> Result<Self, SurrogateError> {
        let mut r = csv::Reader::from_path(path).map_err(|e| SurrogateError::file(path, e))?;
        let header = r
            .headers()
            .map_err(|e| SurrogateError::file(path, e))?
            .clone();
        if header.len() < 3 || &header[0] != "id" || &header[1] != "fold" {
            return Err(SurrogateError::file(
                path,
                "expected a header 'id,fold,<output names...>'",
            ));
        }
        let names: Vec<String> = header.iter().skip(2).map(str::to_string).collect();
        let mut rows = HashMap::new();
        for (line, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| SurrogateError::file(path, e))?;
            let at = |what: &str| format!("row {}: {what}", line + 2);
            if rec.len() != header.len() {
                return Err(SurrogateError::file(
                    path,
                    at(&format!("{} fields, expected {}", rec.len(), header.len())),
                ));
            }
            let fold: u32 = rec[1]
                .trim()
                .parse()
                .map_err(|_| SurrogateError::file(path, at(&format!("fold '{}'", &rec[1]))))?;
            let values = rec
                .iter()
                .skip(2)
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| {
                            SurrogateError::file(
                                path,
                                at(&format!("output '{v}' is not a finite number")),
                            )
                        })
                })
                .collect::<Result<Vec<f32>, _>>()?;
            if rows.insert(rec[0].to_string(), (fold, values)).is_some() {
                return Err(SurrogateError::file(
                    path,
                    at(&format!("id '{}' appears twice", &rec[0])),
                ));
            }
        }
        Ok(OofPredictions { names, rows })
    }

    /// Outputs (N, n_outputs) and folds in the order of `ids`; every id must be present and the
    /// output names must equal `expected_names`.
    pub fn aligned(
        &self,
        path: &Path,
        ids: &[String],
        expected_names: &[String],
    ) -> Result<(Array2<f32>, Vec<u32>), SurrogateError> {
        if self.names != expected_names {
            return Err(SurrogateError::file(
                path,
                format!(
                    "outputs {:?} differ from the model's {:?}",
                    self.names, expected_names
                ),
            ));
        }
        let mut values = Array2::<f32>::zeros((ids.len(), self.names.len()));
        let mut folds = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let (fold, v) = self.rows.get(id).ok_or_else(|| {
                SurrogateError::file(path, format!("no prediction for record '{id}'"))
            })?;
            values.row_mut(i).assign(&ndarray::ArrayView1::from(&v[..]));
            folds.push(*fold);
        }
        Ok((values, folds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_aligns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("oof.csv");
        std::fs::write(&p, "id,fold,NORM,MI\nb,2,0.1,0.9\na,1,0.8,0.2\n").unwrap();
        let o = OofPredictions::read(&p).unwrap();
        let names = vec!["NORM".to_string(), "MI".to_string()];
        let (v, f) = o.aligned(&p, &["a".into(), "b".into()], &names).unwrap();
        assert_eq!(f, vec![1, 2]);
        assert_eq!(v[[0, 0]], 0.8);
        assert_eq!(v[[1, 1]], 0.9);
        assert!(o.aligned(&p, &["c".into()], &names).is_err());
        assert!(o.aligned(&p, &["a".into()], &names[..1]).is_err());
        std::fs::write(&p, "id,fold,NORM\na,1,x\n").unwrap();
        let e = OofPredictions::read(&p).unwrap_err().to_string();
        assert!(e.contains("oof.csv") && e.contains("row 2"), "{e}");
        std::fs::write(&p, "name,NORM\na,1\n").unwrap();
        assert!(OofPredictions::read(&p).is_err());
    }
}
