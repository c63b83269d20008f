//! The inner loops of k-means: dot products of a block of rows with a few centres, and row
//! accumulation. On x86-64 with AVX2 and FMA (detected at run time) they use 8-lane fused
//! multiply-adds with one accumulator per centre (up to 8 independent chains); elsewhere a
//! portable loop. A general matrix product (matrixmultiply) packs the tall data block on every
//! call, which costs as much as the product itself when there are only K = 8 centres.

/// `out[r * m + j] = rows[r] . centres[j]` for `rows` (n x f) and `centres` (m x f), both
/// row-major and contiguous.
pub(crate) fn dots(rows: &[f32], centres: &[f32], f: usize, out: &mut [f32]) {
    if f == 0 {
        out.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let n = rows.len() / f;
    let m = centres.len() / f;
    assert!(rows.len() == n * f && centres.len() == m * f && out.len() == n * m);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked above); lengths checked above.
            unsafe { avx2::dots(rows, centres, f, out) };
            return;
        }
    }
    for (r, row) in rows.chunks_exact(f).enumerate() {
        for (j, c) in centres.chunks_exact(f).enumerate() {
            out[r * m + j] = portable_dot(row, c);
        }
    }
}

fn portable_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `acc += x` element-wise.
pub(crate) fn add_assign(acc: &mut [f32], x: &[f32]) {
    assert_eq!(acc.len(), x.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available; equal lengths checked above.
            unsafe { avx2::add_assign(acc, x) };
            return;
        }
    }
    acc.iter_mut().zip(x).for_each(|(a, &v)| *a += v);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn add_assign(acc: &mut [f32], x: &[f32]) {
        // Plain loop: compiled with AVX2 enabled, it vectorises to 8 lanes.
        acc.iter_mut().zip(x).for_each(|(a, &v)| *a += v);
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let hi = _mm256_extractf128_ps(v, 1);
        let lo = _mm256_castps256_ps128(v);
        let s = _mm_add_ps(hi, lo);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// Dots of one row with `N` consecutive centres starting at `centres`.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `row` must hold at least `f` floats, `centres` at least
    /// `N * f` and `out` at least `N`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_dots<const N: usize>(row: &[f32], centres: &[f32], f: usize, out: &mut [f32]) {
        let chunks = f / 8;
        let mut acc = [_mm256_setzero_ps(); N];
        let xp = row.as_ptr();
        let cp = centres.as_ptr();
        for j in 0..chunks {
            // SAFETY: j * 8 + 8 <= f <= row.len(), and centre i spans [i * f, i * f + f).
            unsafe {
                let xv = _mm256_loadu_ps(xp.add(j * 8));
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(xv, _mm256_loadu_ps(cp.add(i * f + j * 8)), *a);
                }
            }
        }
        for i in 0..N {
            // SAFETY: this function runs only where AVX2 and FMA are available.
            let mut s = unsafe { hsum(acc[i]) };
            for t in chunks * 8..f {
                s += row[t] * centres[i * f + t];
            }
            out[i] = s;
        }
    }

    /// `out[r * m + j] = rows[r] . centres[j]` (see [`super::dots`]).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `rows` and `centres` hold whole rows of `f` floats and
    /// `out` one value per (row, centre).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dots(rows: &[f32], centres: &[f32], f: usize, out: &mut [f32]) {
        let m = centres.len() / f;
        for (r, row) in rows.chunks_exact(f).enumerate() {
            let o = &mut out[r * m..(r + 1) * m];
            let mut j = 0;
            while j + 8 <= m {
                // SAFETY: the slices passed hold 8 whole centres and 8 outputs.
                unsafe { row_dots::<8>(row, &centres[j * f..(j + 8) * f], f, &mut o[j..j + 8]) };
                j += 8;
            }
            while j + 4 <= m {
                // SAFETY: the slices passed hold 4 whole centres and 4 outputs.
                unsafe { row_dots::<4>(row, &centres[j * f..(j + 4) * f], f, &mut o[j..j + 4]) };
                j += 4;
            }
            while j < m {
                // SAFETY: the slices passed hold 1 whole centre and 1 output.
                unsafe { row_dots::<1>(row, &centres[j * f..(j + 1) * f], f, &mut o[j..j + 1]) };
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_match_a_plain_loop_for_odd_sizes() {
        for &(n, m, f) in &[
            (3usize, 8usize, 772usize),
            (2, 5, 13),
            (1, 1, 7),
            (4, 12, 16),
        ] {
            let rows: Vec<f32> = (0..n * f)
                .map(|i| ((i * 7919) % 113) as f32 / 50.0 - 1.0)
                .collect();
            let centres: Vec<f32> = (0..m * f)
                .map(|i| ((i * 104_729) % 97) as f32 / 40.0 - 1.2)
                .collect();
            let mut out = vec![0.0; n * m];
            dots(&rows, &centres, f, &mut out);
            for r in 0..n {
                for j in 0..m {
                    let want: f64 = (0..f)
                        .map(|t| rows[r * f + t] as f64 * centres[j * f + t] as f64)
                        .sum();
                    assert!(
                        (out[r * m + j] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()),
                        "{n} {m} {f}"
                    );
                }
            }
        }
        let mut acc = vec![1.0f32; 19];
        add_assign(&mut acc, &[2.0; 19]);
        assert!(acc.iter().all(|&v| v == 3.0));
    }
}
