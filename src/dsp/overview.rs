//! The whole record at a glance: per lead, the lowest and highest value of each of a fixed
//! number of equal time buckets, computed in one pass (from a record in memory or window by
//! window from a file). An overview strip of any width up to the bucket count is drawn from the
//! buckets alone, so a 24 h record's strip costs the same as a 10 s one's each frame. Missing
//! samples (NaN) are left out; a bucket with none present is `None` and drawn as a gap.

use std::ops::Range;

use ndarray::ArrayView2;

/// Buckets per lead: more than any screen is wide, so that a strip never shows fewer columns
/// than it has pixels.
pub const OVERVIEW_BUCKETS: usize = 4096;

/// Per-lead min/max of `n_buckets` equal parts of a record of `n_samples`.
#[derive(Debug, Clone, PartialEq)]
pub struct MinMaxOverview {
    pub n_samples: usize,
    /// `buckets[lead][bucket]`: (min, max) in mV, `None` when the bucket holds no sample.
    pub buckets: Vec<Vec<Option<(f32, f32)>>>,
}

impl MinMaxOverview {
    /// An empty overview, to be filled by [`MinMaxOverview::add`] window after window.
    pub fn new(n_leads: usize, n_samples: usize, n_buckets: usize) -> MinMaxOverview {
        let n_buckets = n_buckets.clamp(1, n_samples.max(1));
        MinMaxOverview {
            n_samples,
            buckets: vec![vec![None; n_buckets]; n_leads],
        }
    }

    /// The overview of `samples` (leads x samples), in one pass.
    pub fn of_rows(samples: ArrayView2<'_, f32>, n_buckets: usize) -> MinMaxOverview {
        let mut overview = MinMaxOverview::new(samples.nrows(), samples.ncols(), n_buckets);
        for (lead, row) in samples.rows().into_iter().enumerate() {
            match row.as_slice() {
                Some(s) => overview.add_lead(lead, 0, s),
                None => overview.add_lead(lead, 0, &row.to_vec()),
            }
        }
        overview
    }

    pub fn n_buckets(&self) -> usize {
        self.buckets.first().map_or(0, Vec::len)
    }

    /// The bucket holding sample `i`.
    fn bucket_of(&self, i: usize) -> usize {
        // u128: 24 h at 1 kHz times 4096 buckets overflows no u64, but a hostile header might.
        ((i as u128 * self.n_buckets() as u128) / self.n_samples.max(1) as u128) as usize
    }

    /// The first sample of bucket `b`.
    fn bucket_start(&self, b: usize) -> usize {
        (b as u128 * self.n_samples as u128).div_ceil(self.n_buckets().max(1) as u128) as usize
    }

    /// Take in the samples `start..start + samples.len()` of one lead.
    pub fn add_lead(&mut self, lead: usize, start: usize, samples: &[f32]) {
        if lead >= self.buckets.len() {
            return;
        }
        let end = (start + samples.len()).min(self.n_samples);
        let mut i = start;
        while i < end {
            let b = self.bucket_of(i);
            let stop = self.bucket_start(b + 1).clamp(i + 1, end);
            let slot = &mut self.buckets[lead][b];
            for &v in &samples[i - start..stop - start] {
                if v.is_nan() {
                    continue;
                }
                *slot = Some(match *slot {
                    Some((lo, hi)) => (lo.min(v), hi.max(v)),
                    None => (v, v),
                });
            }
            i = stop;
        }
    }

    /// Take in a window: every lead's samples from `start` (rows in lead order).
    pub fn add(&mut self, start: usize, rows: &[Vec<f32>]) {
        for (lead, row) in rows.iter().enumerate() {
            self.add_lead(lead, start, row);
        }
    }

    /// The samples of bucket range `buckets`.
    pub fn samples_of(&self, buckets: Range<usize>) -> Range<usize> {
        self.bucket_start(buckets.start)..self.bucket_start(buckets.end).min(self.n_samples)
    }

    /// `columns` equal parts of the record for one lead, each the min/max of the buckets it
    /// covers (`None` where none holds a sample, or for a lead the overview lacks).
    pub fn columns(&self, lead: usize, columns: usize) -> Vec<Option<(f32, f32)>> {
        let mut out = vec![None; columns];
        let Some(buckets) = self.buckets.get(lead) else {
            return out;
        };
        let n = buckets.len();
        for (c, slot) in out.iter_mut().enumerate() {
            let a = c * n / columns.max(1);
            let b = ((c + 1) * n / columns.max(1)).max(a + 1).min(n);
            *slot = buckets[a.min(n)..b]
                .iter()
                .flatten()
                .fold(None, |acc, &(lo, hi)| match acc {
                    Some((l, h)) => Some((lo.min(l), hi.max(h))),
                    None => Some((lo, hi)),
                });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_sample_once_and_keep_spikes() {
        let s: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let o =
            MinMaxOverview::of_rows(ndarray::ArrayView2::from_shape((1, 1000), &s).unwrap(), 10);
        assert_eq!(o.buckets[0][0], Some((0.0, 99.0)));
        assert_eq!(o.buckets[0][9], Some((900.0, 999.0)));
        assert_eq!(o.columns(0, 5)[1], Some((200.0, 399.0)));
        // the same overview fed window by window, windows not aligned to buckets
        let mut streamed = MinMaxOverview::new(1, 1000, 10);
        for start in (0..1000).step_by(37) {
            let end = (start + 37).min(1000);
            streamed.add(start, &[s[start..end].to_vec()]);
        }
        assert_eq!(streamed, o);
        let mut spiky = vec![0.0f32; 100_000];
        spiky[77_777] = 5.0;
        let o = MinMaxOverview::of_rows(
            ndarray::ArrayView2::from_shape((1, 100_000), &spiky).unwrap(),
            OVERVIEW_BUCKETS,
        );
        assert_eq!(
            o.columns(0, 300)
                .iter()
                .flatten()
                .filter(|c| c.1 == 5.0)
                .count(),
            1
        );
    }

    #[test]
    fn missing_samples_are_gaps() {
        let mut s = vec![1.0f32; 100];
        s[20..40].fill(f32::NAN);
        s[45] = f32::NAN;
        let o = MinMaxOverview::of_rows(ndarray::ArrayView2::from_shape((1, 100), &s).unwrap(), 10);
        assert_eq!(o.buckets[0][2], None);
        assert_eq!(o.buckets[0][3], None);
        assert_eq!(o.buckets[0][4], Some((1.0, 1.0)));
        assert_eq!(o.samples_of(2..4), 20..40);
    }
}
