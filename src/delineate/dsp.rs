//! Small O(n) signal helpers for the delineator: derivative, centred moving average, quantiles.
//! Its filters are the zero-phase Butterworth filters of [`crate::dsp::filter`].

/// Central-difference derivative in units per second (one-sided at the ends).
pub fn derivative(x: &[f32], fs_hz: f64) -> Vec<f32> {
    let n = x.len();
    let mut d = vec![0.0f32; n];
    if n < 2 {
        return d;
    }
    let half = (fs_hz * 0.5) as f32;
    for i in 1..n - 1 {
        d[i] = (x[i + 1] - x[i - 1]) * half;
    }
    d[0] = (x[1] - x[0]) * fs_hz as f32;
    d[n - 1] = (x[n - 1] - x[n - 2]) * fs_hz as f32;
    d
}

/// Centred moving average with a window of `width` samples (shrinks at the edges).
pub fn moving_average(x: &[f32], width: usize) -> Vec<f32> {
    let n = x.len();
    let width = width.max(1);
    let half_before = width / 2;
    let half_after = width - 1 - half_before;
    let mut prefix = vec![0.0f64; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + x[i] as f64;
    }
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(half_before);
            let hi = (i + half_after + 1).min(n);
            ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
        })
        .collect()
}

/// The `q`-quantile (0..=1) of the values, by selection (the slice is reordered).
pub fn quantile_in_place(values: &mut [f32], q: f64) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let index = ((values.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (_, v, _) = values.select_nth_unstable_by(index, |a, b| a.total_cmp(b));
    *v
}

/// Median of a copy of the values.
pub fn median(values: &[f32]) -> f32 {
    let mut v = values.to_vec();
    quantile_in_place(&mut v, 0.5)
}

/// Median of usize values (lower median).
pub fn median_usize(values: &[usize]) -> Option<usize> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    let mid = (v.len() - 1) / 2;
    let (_, m, _) = v.select_nth_unstable(mid);
    Some(*m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_and_quantiles() {
        let x = [0.0, 3.0, 6.0, 3.0, 0.0];
        assert_eq!(moving_average(&x, 3)[2], 4.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median_usize(&[4, 1, 9, 7]), Some(4));
    }
}
