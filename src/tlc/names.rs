//! Cluster names a cardiologist can tell apart.
//!
//! A cluster is named by the wave segment most of its steps fall in ("C3 QRS"). When several
//! clusters share that segment, the name alone would repeat ("C1 TP", "C3 TP"), so each of them
//! also says where it sits in the beat: its mean time from the nearest R peak, rounded to
//! 10 ms ("C1 QRS, 20 ms before R", "C4 QRS, 30 ms after R"). Clusters still equal after that
//! are numbered. The descriptive part of every name is therefore unique.

use crate::tlc::ClusterDescription;

/// Display names for `k` clusters: "C{c}" plus the distinguishing description when the
/// explainer has one for that cluster.
pub fn cluster_names(descriptions: &[Option<ClusterDescription>], k: usize) -> Vec<String> {
    let base: Vec<Option<&str>> = (0..k)
        .map(|c| {
            descriptions
                .get(c)
                .and_then(|d| d.as_ref())
                .map(|d| d.dominant_segment.trim())
                .filter(|s| !s.is_empty())
        })
        .collect();
    let mut described: Vec<Option<String>> = base.iter().map(|b| b.map(str::to_string)).collect();
    for c in 0..k {
        let Some(segment) = base[c] else { continue };
        let shared = base.iter().filter(|b| **b == Some(segment)).count() > 1;
        if shared {
            let offset_s = descriptions
                .get(c)
                .and_then(|d| d.as_ref())
                .and_then(|d| d.mean_offset_from_r_s);
            described[c] = Some(match offset_s {
                Some(s) => format!("{segment}, {}", position_from_r(s)),
                None => segment.to_string(),
            });
        }
    }
    number_repeats(&mut described);
    described
        .into_iter()
        .enumerate()
        .map(|(c, d)| match d {
            Some(d) => format!("C{c} {d}"),
            None => format!("C{c}"),
        })
        .collect()
}

/// "20 ms before R", "30 ms after R", "at R" (rounded to 10 ms).
fn position_from_r(offset_s: f32) -> String {
    let ms = (offset_s * 100.0).round() as i64 * 10;
    match ms {
        0 => "at R".to_string(),
        m if m < 0 => format!("{} ms before R", -m),
        m => format!("{m} ms after R"),
    }
}

/// Append " #2", " #3", ... to the later of any descriptions that are still equal.
fn number_repeats(described: &mut [Option<String>]) {
    for c in 0..described.len() {
        let Some(name) = described[c].clone() else {
            continue;
        };
        let mut n = 1;
        for other in described.iter_mut().skip(c + 1) {
            if other.as_deref() == Some(name.as_str()) {
                n += 1;
                *other = Some(format!("{name} #{n}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(segment: &str, offset_s: Option<f32>) -> Option<ClusterDescription> {
        Some(ClusterDescription {
            dominant_segment: segment.to_string(),
            purity: 0.5,
            mean_offset_from_r_s: offset_s,
            prototype: None,
            prototype_fs_hz: None,
        })
    }

    #[test]
    fn shared_segments_are_told_apart_by_position() {
        let d = vec![
            described("QRS", Some(-0.021)),
            described("TP", Some(-0.35)),
            described("QRS", Some(0.032)),
            described("T", Some(0.3)),
            None,
            described("TP", Some(0.45)),
            described("TP", None),
            described("TP", None),
        ];
        let names = cluster_names(&d, 9);
        assert_eq!(
            names,
            vec![
                "C0 QRS, 20 ms before R",
                "C1 TP, 350 ms before R",
                "C2 QRS, 30 ms after R",
                "C3 T",
                "C4",
                "C5 TP, 450 ms after R",
                "C6 TP",
                "C7 TP #2",
                "C8",
            ]
        );
        let descriptive: Vec<&str> = names
            .iter()
            .filter_map(|n| n.split_once(' ').map(|(_, d)| d))
            .collect();
        let mut unique = descriptive.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), descriptive.len(), "{names:?}");
    }

    #[test]
    fn equal_positions_are_numbered() {
        let d = vec![
            described("QRS", Some(0.001)),
            described("QRS", Some(-0.002)),
        ];
        assert_eq!(
            cluster_names(&d, 2),
            vec!["C0 QRS, at R", "C1 QRS, at R #2"]
        );
    }
}
