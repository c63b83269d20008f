//! A small CSV table with named columns, whose errors name the file and the missing column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::io::IoError;
use crate::record::Sex;

/// A CSV file read into memory: a header row and string records.
#[derive(Debug, Clone)]
pub struct Table {
    pub path: PathBuf,
    columns: HashMap<String, usize>,
    pub rows: Vec<csv::StringRecord>,
}

/// A quoted field may span lines, but one that holds whole rows of the table is an unbalanced
/// quote that swallowed them (the rows would silently lose their labels): refused, naming the
/// line where the field starts.
fn check_no_swallowed_rows(
    row: &csv::StringRecord,
    n_columns: usize,
    path: &Path,
) -> Result<(), IoError> {
    if n_columns < 2 {
        return Ok(());
    }
    for field in row.iter() {
        let swallowed = field
            .lines()
            .skip(1)
            .any(|line| line.matches(',').count() + 1 >= n_columns);
        if swallowed {
            let line = row.position().map_or(0, |p| p.line());
            return Err(IoError::format(
                path,
                format!(
                    "line {line}: a quoted field runs over the following rows (an unbalanced \
                     quote \"?): fix the quote"
                ),
            ));
        }
    }
    Ok(())
}

impl Table {
    /// Read a CSV file (first row = column names).
    pub fn read(path: &Path) -> Result<Table, IoError> {
        let bytes = crate::io::files::read_regular_file(path, crate::io::files::MAX_TEXT_BYTES)?;
        Table::parse(&bytes, path)
    }

    /// Parse CSV bytes; `path` names the file in errors. Rows may have fewer or more fields
    /// than the header (a missing field reads as empty).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Table, IoError> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let header = reader
            .headers()
            .map_err(|e| IoError::format(path, format!("bad CSV header: {e}")))?
            .clone();
        let mut columns = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            // a UTF-8 byte-order mark on the first column name is not part of the name
            columns
                .entry(name.trim().trim_start_matches('\u{feff}').to_string())
                .or_insert(i);
        }
        let mut rows = Vec::new();
        for (i, row) in reader.records().enumerate() {
            let row =
                row.map_err(|e| IoError::format(path, format!("bad CSV row {}: {e}", i + 2)))?;
            check_no_swallowed_rows(&row, header.len(), path)?;
            rows.push(row);
        }
        Ok(Table {
            path: path.to_path_buf(),
            columns,
            rows,
        })
    }

    /// The index of a required column; the error names the file and the column.
    pub fn column(&self, name: &str) -> Result<usize, IoError> {
        self.columns
            .get(name)
            .copied()
            .ok_or_else(|| IoError::format(&self.path, format!("missing column '{name}'")))
    }

    pub fn optional_column(&self, name: &str) -> Option<usize> {
        self.columns.get(name).copied()
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.columns.contains_key(name)
    }

    /// The trimmed field of a row (empty when the row is short).
    pub fn field<'a>(&self, row: &'a csv::StringRecord, column: usize) -> &'a str {
        row.get(column).unwrap_or("").trim()
    }

    /// An optional number; empty is `None`, anything unparsable an error naming the row.
    pub fn parse_opt<T: std::str::FromStr>(
        &self,
        row_index: usize,
        column_name: &str,
        value: &str,
    ) -> Result<Option<T>, IoError> {
        if value.is_empty() || value.eq_ignore_ascii_case("nan") {
            return Ok(None);
        }
        value.parse().map(Some).map_err(|_| {
            IoError::format(
                &self.path,
                format!("row {}: bad {column_name} '{value}'", row_index + 2),
            )
        })
    }
}

/// `0`/`1` as PTB-XL codes sex (0 male, 1 female), also `M`/`F`/`male`/`female`.
pub fn parse_sex_field(value: &str, zero_is_male: bool) -> Option<Sex> {
    match value.trim().to_ascii_lowercase().as_str() {
        "m" | "male" => Some(Sex::Male),
        "f" | "female" => Some(Sex::Female),
        "0" | "0.0" => Some(if zero_is_male { Sex::Male } else { Sex::Female }),
        "1" | "1.0" => Some(if zero_is_male { Sex::Female } else { Sex::Male }),
        _ => None,
    }
}

/// Order a set of labels: the PTB-XL super-classes first in their usual order (NORM, MI,
/// STTC, CD, HYP), then any other label alphabetically.
pub fn ordered_class_names<'a>(labels: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    const SUPER: [&str; 5] = ["NORM", "MI", "STTC", "CD", "HYP"];
    let mut set: std::collections::BTreeSet<&str> =
        labels.into_iter().map(String::as_str).collect();
    let mut out: Vec<String> = Vec::new();
    for s in SUPER {
        if set.remove(s) {
            out.push(s.to_string());
        }
    }
    out.extend(set.into_iter().map(str::to_string));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbalanced_quote_is_refused_naming_its_line() {
        let text = b"id,labels,age\n1,NORM,50\n2,\"MI,60\n3,CD,70\n4,HYP,80\n";
        let err = Table::parse(text, Path::new("labels.csv")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("labels.csv"), "{message}");
        assert!(message.contains("line 3"), "{message}");
    }

    #[test]
    fn free_text_over_several_lines_is_kept() {
        let text = b"id,report,age\n1,\"sinus rhythm\nnormal ECG, no change\",50\n2,x,60\n";
        let table = Table::parse(text, Path::new("db.csv")).unwrap();
        assert_eq!(table.rows.len(), 2);
        assert!(table.field(&table.rows[0], 1).contains("normal ECG"));
    }
}
