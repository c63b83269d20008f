//! A direct 1D convolution kernel for x86-64 CPUs with AVX-512 or AVX2 + FMA (f32, any stride
//! and padding).
//!
//! Why our own kernel: im2col + the `gemm` crate (candle's CPU path) reaches 130-200 GFLOP/s on
//! this network's layers on 2 cores, below PyTorch (oneDNN's direct convolution), because im2col
//! writes a K = 17 times larger copy of the input and gemm then packs it once more, and
//! because gemm's blocking does not fit the skinny layers (C_out 64-320, L_out down to 16).
//! Here the input is read in place: the output tile `MR` channels x `NV` vectors of time steps
//! lives in registers (24 of AVX-512's 32 ZMM, 12 of AVX2's 16 YMM) while the kernel walks over
//! (input channel, tap); each step is `NV` vector loads of the input, `MR` broadcasts of the
//! weight and `MR NV` fused multiply-adds, so it is bound by the FMA units, not by memory.
//!
//! Stride s is handled by splitting the zero-padded input into s phases
//! (`phase[r][c][u] = xpad[c][u s + r]`), so tap j of output t reads
//! `phase[j % s][c][t + j / s]`: contiguous loads for every stride. Building the phases is one
//! copy of the input, the only copy made.
//!
//! [`conv1d`] returns `None` on CPUs with neither instruction set (and off x86-64), and the
//! caller keeps the im2col path.

// Off x86-64 no instruction set is supported and `conv1d_with` returns early: the driver below
// stays compiled (and type-checked) but unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unreachable_code))]

use rayon::prelude::*;

/// Shape of one convolution: x (B, C_in, L), w (C_out, C_in, K), zero padding on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub c_in: usize,
    pub length: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub padding: usize,
    pub stride: usize,
}

impl ConvShape {
    pub fn l_out(&self) -> usize {
        (self.length + 2 * self.padding - self.kernel) / self.stride + 1
    }
}

/// What the kernel applies to each output before storing it, in this order: add `residual`
/// (contiguous (B, C_out, L_out)), the per-channel affine map `v scale[o] + shift[o]` (an
/// eval-mode batch norm), then ReLU. Fusing these saves a pass over the output each.
#[derive(Debug, Clone, Copy, Default)]
pub struct Epilogue<'a> {
    pub residual: Option<&'a [f32]>,
    pub affine: Option<(&'a [f32], &'a [f32])>,
    pub relu: bool,
}

/// The vector instruction set a kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 16 lanes, 32 registers.
    Avx512,
    /// 8 lanes, 16 registers.
    Avx2Fma,
}

impl Isa {
    /// The best instruction set of this CPU (the standard library caches the detection).
    pub fn detect() -> Option<Isa> {
        Isa::all().into_iter().find(|isa| isa.supported())
    }

    pub fn all() -> [Isa; 2] {
        [Isa::Avx512, Isa::Avx2Fma]
    }

    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
                Isa::Avx2Fma => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = self;
            false
        }
    }

    fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2Fma => 8,
        }
    }
}

/// Whether this CPU runs the kernel.
pub fn available() -> bool {
    Isa::detect().is_some()
}

/// `x_at(b, c, i)` gives input sample i (0 <= i < L) of channel c of record b and `w` is the
/// contiguous (C_out, C_in, K) weight. Returns the contiguous (B, C_out, L_out) output, or `None`
/// without a supported instruction set or for a degenerate shape or epilogue (the caller
/// validates shapes first).
pub fn conv1d(
    shape: ConvShape,
    x_at: impl Fn(usize, usize, usize) -> f32 + Sync,
    w: &[f32],
    epilogue: Epilogue<'_>,
) -> Option<Vec<f32>> {
    conv1d_with(Isa::detect()?, shape, x_at, w, epilogue)
}

/// [`conv1d`] with a chosen instruction set (`None` if this CPU lacks it).
pub fn conv1d_with(
    isa: Isa,
    shape: ConvShape,
    x_at: impl Fn(usize, usize, usize) -> f32 + Sync,
    w: &[f32],
    epilogue: Epilogue<'_>,
) -> Option<Vec<f32>> {
    let ConvShape {
        batch,
        c_in,
        length,
        c_out,
        kernel,
        padding,
        stride,
    } = shape;
    if !isa.supported()
        || batch == 0
        || c_in == 0
        || c_out == 0
        || stride == 0
        || length + 2 * padding < kernel
        || w.len() != c_out * c_in * kernel
        || epilogue
            .residual
            .is_some_and(|r| r.len() != batch * c_out * shape.l_out())
        || epilogue
            .affine
            .is_some_and(|(a, b)| a.len() != c_out || b.len() != c_out)
    {
        return None;
    }
    let l_out = shape.l_out();
    // Register tile: MR channels x NV vectors; short outputs use fewer vectors and more
    // channels so few lanes are wasted.
    let lanes = isa.lanes();
    let max_nv = match isa {
        Isa::Avx512 => 4,
        // 12 accumulators + 2 loads + 1 broadcast of 16 YMM: a third vector spills.
        Isa::Avx2Fma => 2,
    };
    let nv = l_out.div_ceil(lanes).clamp(1, max_nv);
    let tile = lanes * nv;
    let n_tiles = l_out.div_ceil(tile);
    // Each phase row holds every sample any tile reads: (n_tiles tile + (K - 1) / s) values.
    let phase_len = n_tiles * tile + (kernel - 1) / stride + 1;
    // Every element is written below (the buffer comes from the pool with old values).
    let mut phases = Scratch::take(batch * stride * c_in * phase_len);
    phases
        .par_chunks_mut(phase_len)
        .enumerate()
        .for_each(|(row, dst)| {
            let c = row % c_in;
            let r = (row / c_in) % stride;
            let b = row / (c_in * stride);
            fill_phase(dst, r, stride, padding, length, |i| x_at(b, c, i));
        });
    // Offset of tap j inside one record's phases, relative to channel 0 and output 0.
    let tap_offset: Vec<usize> = (0..kernel)
        .map(|j| (j % stride) * c_in * phase_len + j / stride)
        .collect();
    let mut out = vec![0f32; batch * c_out * l_out];
    let job = Job {
        c_in,
        c_out,
        kernel,
        l_out,
        phase_len,
        tap_offset: &tap_offset,
        w,
        epilogue,
        record_len: stride * c_in * phase_len,
    };
    #[cfg(target_arch = "x86_64")]
    match (isa, nv) {
        (Isa::Avx512, 1) => job.run::<24, 1>(avx512::tile_kernel::<24, 1>, 16, &phases, &mut out),
        (Isa::Avx512, 2) => job.run::<12, 2>(avx512::tile_kernel::<12, 2>, 32, &phases, &mut out),
        (Isa::Avx512, 3) => job.run::<8, 3>(avx512::tile_kernel::<8, 3>, 48, &phases, &mut out),
        (Isa::Avx512, _) => job.run::<6, 4>(avx512::tile_kernel::<6, 4>, 64, &phases, &mut out),
        // Fewer rows for NV = 1: each row holds a weight pointer in a general register.
        (Isa::Avx2Fma, 1) => job.run::<8, 1>(avx2::tile_kernel::<8, 1>, 8, &phases, &mut out),
        (Isa::Avx2Fma, _) => job.run::<6, 2>(avx2::tile_kernel::<6, 2>, 16, &phases, &mut out),
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (job, phases, tile);
        return None;
    }
    Some(out)
}

/// A scratch buffer (polyphase copy, padded gradient rows) taken from a small pool and
/// returned to it on drop. Why: the training step makes these copies, up to ~70 MB each at
/// batch 32, dozens of times per step; fresh allocations are returned to the OS between
/// calls and cost a page fault and a page clearing per page when touched again, which the
/// profile showed beside the kernels. Its values are whatever the last user left: callers
/// write every element.
struct Scratch(Vec<f32>);

/// Buffers kept between calls (a training step's layers hold at most two at once).
const SCRATCH_KEEP: usize = 4;

static SCRATCH_POOL: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());

impl Scratch {
    /// A buffer of `len` floats with unspecified (finite, stale) values.
    fn take(len: usize) -> Scratch {
        let reused = {
            // A poisoned pool only means a panic elsewhere while it was locked: its buffers
            // are still plain vectors.
            let mut pool = SCRATCH_POOL.lock().unwrap_or_else(|e| e.into_inner());
            // The smallest buffer that fits, else the largest (grown below).
            let fit = (0..pool.len())
                .filter(|&i| pool[i].capacity() >= len)
                .min_by_key(|&i| pool[i].capacity())
                .or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
            fit.map(|i| pool.swap_remove(i))
        };
        let mut buf = reused.unwrap_or_default();
        buf.resize(len, 0.0);
        Scratch(buf)
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        let mut pool = SCRATCH_POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.push(buf);
        if pool.len() > SCRATCH_KEEP {
            // Keep the largest: they serve every smaller request.
            if let Some(i) = (0..pool.len()).min_by_key(|&i| pool[i].capacity()) {
                pool.swap_remove(i);
            }
        }
    }
}

/// Writes positions u = 0..dst.len() of phase r of one zero-padded input row into `dst`:
/// `dst[u] = xpad[u s + r] = x[u s + r - padding]`, with `x(i)` giving sample i < `length`
/// and zeros outside. The zero runs are found first so the copy loop has no branch.
fn fill_phase(
    dst: &mut [f32],
    r: usize,
    stride: usize,
    padding: usize,
    length: usize,
    x: impl Fn(usize) -> f32,
) {
    // The first u with u s + r >= padding, and the first with u s + r >= padding + length.
    let first = padding.saturating_sub(r).div_ceil(stride).min(dst.len());
    let end = (padding + length)
        .saturating_sub(r)
        .div_ceil(stride)
        .clamp(first, dst.len());
    let (head, rest) = dst.split_at_mut(first);
    let (body, tail) = rest.split_at_mut(end - first);
    head.fill(0.0);
    for (k, d) in body.iter_mut().enumerate() {
        *d = x((first + k) * stride + r - padding);
    }
    tail.fill(0.0);
}

struct Job<'a> {
    c_in: usize,
    c_out: usize,
    kernel: usize,
    l_out: usize,
    phase_len: usize,
    tap_offset: &'a [usize],
    w: &'a [f32],
    epilogue: Epilogue<'a>,
    /// Length of one record's phases.
    record_len: usize,
}

/// A raw output pointer shared by the workers; each writes a disjoint (channels x steps) block.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: the pointer is only dereferenced inside `Job::run`, whose work items write disjoint
// blocks of the output buffer, which outlives the parallel loop (it is borrowed mutably by
// `run` for the loop's whole duration).
unsafe impl Send for OutPtr {}
// SAFETY: as for `Send`: shared between workers that never touch the same element.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Through a method, so closures capture the whole (Send + Sync) wrapper, not the field.
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// One output tile: out[o][t] for o in `channels` (at most MR), t in `steps` (at most one
/// tile), written through `dst` (pointing at the tile's first element, row stride L_out);
/// `residual` points at the same element of the residual. x is one record's phases.
///
/// # Safety
/// The CPU must have the kernel's instruction set; `x` must hold `job.c_in` phase rows of
/// `job.phase_len` floats padded so that every tap of every step of the tile is inside it;
/// `dst` (and `residual`, when given) must be valid for the rows `channels` and steps `steps`
/// of the output (row stride `job.l_out`), and no other thread may access that block.
type TileKernel = unsafe fn(
    &Job,
    &[f32],
    std::ops::Range<usize>,
    std::ops::Range<usize>,
    *mut f32,
    Option<*const f32>,
);

impl Job<'_> {
    /// Runs `kernel` (an MR x `tile` kernel for an instruction set the CPU has) over the output.
    fn run<const MR: usize, const NV: usize>(
        &self,
        kernel: TileKernel,
        tile: usize,
        phases: &[f32],
        out: &mut [f32],
    ) {
        let batch = phases.len() / self.record_len;
        let n_tiles = self.l_out.div_ceil(tile);
        let n_blocks = self.c_out.div_ceil(MR);
        // Work items: (record, channel block, run of tiles). Runs of about 1024 steps keep a
        // block's weights (MR C_in K floats) hot in L2 and still give both cores many items.
        let tiles_per_item = (1024 / tile).clamp(1, n_tiles);
        let n_runs = n_tiles.div_ceil(tiles_per_item);
        let out_ptr = OutPtr(out.as_mut_ptr());
        (0..batch * n_blocks * n_runs)
            .into_par_iter()
            .for_each(|item| {
                let run = item % n_runs;
                let block = (item / n_runs) % n_blocks;
                let b = item / (n_runs * n_blocks);
                let x = &phases[b * self.record_len..(b + 1) * self.record_len];
                let o0 = block * MR;
                let rows = MR.min(self.c_out - o0);
                for t in run * tiles_per_item..((run + 1) * tiles_per_item).min(n_tiles) {
                    let t0 = t * tile;
                    let cols = tile.min(self.l_out - t0);
                    let first = (b * self.c_out + o0) * self.l_out + t0;
                    // SAFETY: `conv1d_with` checked that the CPU has the kernel's instruction
                    // set; every load stays inside `x` (phase rows are padded to whole tiles
                    // plus the taps) and `w` (rows clamped to C_out); the store covers rows
                    // o0..o0+rows and steps t0..t0+cols of record b, a block no other item
                    // writes.
                    unsafe {
                        kernel(
                            self,
                            x,
                            o0..o0 + rows,
                            t0..t0 + cols,
                            out_ptr.get().add(first),
                            self.epilogue.residual.map(|r| r[first..].as_ptr()),
                        );
                    }
                }
            });
    }
}

/// The tile kernel, written once over a small vector vocabulary that each instruction-set
/// module below defines (`V`, `LANES`, `zero`, `splat`, `loadu`, `fmadd`, `add`, `relu`,
/// `mask`, `load_masked`, `store_masked`), and compiled with that module's target feature.
#[cfg(target_arch = "x86_64")]
macro_rules! tile_kernel {
    ($feature:literal) => {
        /// One MR x (NV * LANES) output tile (see [`super::TileKernel`]).
        ///
        /// # Safety
        /// As for [`super::TileKernel`]: the CPU has `$feature`, `x` is padded for every tap
        /// of the tile, `dst`/`residual` are valid and exclusive for the tile's block.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn tile_kernel<const MR: usize, const NV: usize>(
            job: &Job,
            x: &[f32],
            channels: std::ops::Range<usize>,
            steps: std::ops::Range<usize>,
            dst: *mut f32,
            residual: Option<*const f32>,
        ) {
            let (o0, rows) = (channels.start, channels.len());
            let (t0, cols) = (steps.start, steps.len());
            let ck = job.c_in * job.kernel;
            // Rows past C_out repeat the last weight row; their results are not stored.
            // SAFETY: the row index is clamped to C_out - 1, so the offset stays inside `w`
            // (C_out x C_in x K floats).
            let w_rows: [*const f32; MR] = std::array::from_fn(|m| unsafe {
                job.w.as_ptr().add((o0 + m).min(job.c_out - 1) * ck)
            });
            // SAFETY: t0 is a step of the output, inside every phase row of `x`.
            let x0 = unsafe { x.as_ptr().add(t0) };
            let mut acc = [[zero(); NV]; MR];
            for c in 0..job.c_in {
                // SAFETY: c < C_in, so row c of the phases is inside `x`.
                let xc = unsafe { x0.add(c * job.phase_len) };
                let wc = c * job.kernel;
                for (j, &off) in job.tap_offset.iter().enumerate() {
                    // SAFETY: tap offsets stay inside the row's padding (caller's contract).
                    let xs = unsafe { xc.add(off) };
                    let mut xv = [zero(); NV];
                    for (v, xvv) in xv.iter_mut().enumerate() {
                        // SAFETY: rows are padded to whole tiles of NV * LANES steps.
                        *xvv = unsafe { loadu(xs.add(LANES * v)) };
                    }
                    for m in 0..MR {
                        // SAFETY: wc + j < C_in x K, inside the (clamped) weight row.
                        let wv = splat(unsafe { *w_rows[m].add(wc + j) });
                        for v in 0..NV {
                            acc[m][v] = fmadd(wv, xv[v], acc[m][v]);
                        }
                    }
                }
            }
            let Epilogue {
                affine,
                relu: with_relu,
                ..
            } = job.epilogue;
            for (m, acc_m) in acc.iter().enumerate().take(rows) {
                // SAFETY: m < rows, a row of the caller's block.
                let row = unsafe { dst.add(m * job.l_out) };
                let (scale, shift) = match affine {
                    Some((a, b)) => (splat(a[o0 + m]), splat(b[o0 + m])),
                    None => (splat(1.0), zero()),
                };
                for (v, &a) in acc_m.iter().enumerate() {
                    let first = LANES * v;
                    if first >= cols {
                        break;
                    }
                    let lane_mask = mask((cols - first).min(LANES));
                    let mut value = a;
                    if let Some(r) = residual {
                        // SAFETY: the mask keeps the load inside the block's `cols` steps.
                        let r = unsafe { load_masked(lane_mask, r.add(m * job.l_out + first)) };
                        value = add(value, r);
                    }
                    if affine.is_some() {
                        value = fmadd(value, scale, shift);
                    }
                    if with_relu {
                        value = relu(value);
                    }
                    // SAFETY: the mask keeps the store inside the block's `cols` steps.
                    unsafe { store_masked(row.add(first), lane_mask, value) };
                }
            }
        }
    };
}

/// The weight tile (see [`WeightTile`]) over the same vector vocabulary as `tile_kernel!`, plus
/// `hsum` (the sum of a vector's lanes).
#[cfg(target_arch = "x86_64")]
macro_rules! weight_tile {
    ($feature:literal) => {
        /// One MR x NQ tile of the weight gradient (see [`super::WeightTile`]).
        ///
        /// # Safety
        /// As for [`super::WeightTile`]: the CPU has `$feature`, the ranges are inside the
        /// operands and whole vectors, `dst` is valid and exclusive for the block.
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn weight_tile<const MR: usize, const NQ: usize>(
            job: &WeightJob,
            rows: std::ops::Range<usize>,
            cols: std::ops::Range<usize>,
            steps: std::ops::Range<usize>,
            dst: *mut f32,
        ) {
            let q_len = job.x_offset.len();
            // Rows and columns past the block repeat its last one; their sums are dropped.
            // SAFETY: the row index is clamped to rows.end - 1 < C_out, so the pointer is
            // inside G (C_out x red_len floats).
            let g_rows: [*const f32; MR] = std::array::from_fn(|m| unsafe {
                job.g
                    .as_ptr()
                    .add((rows.start + m).min(rows.end - 1) * job.red_len)
            });
            // SAFETY: x_offset[q] + red_len <= x.len() for every q (each view stays in its
            // phase row), and the index is clamped to cols.end - 1 < C_in K.
            let x_rows: [*const f32; NQ] = std::array::from_fn(|n| unsafe {
                job.x
                    .as_ptr()
                    .add(job.x_offset[(cols.start + n).min(cols.end - 1)])
            });
            // SAFETY: steps.start < red_len, inside every row.
            let g0: [*const f32; MR] =
                std::array::from_fn(|m| unsafe { g_rows[m].add(steps.start) });
            // SAFETY: as above, for the rows of X.
            let x0: [*const f32; NQ] =
                std::array::from_fn(|n| unsafe { x_rows[n].add(steps.start) });
            let mut sums = [[[0f32; LANES]; MR]; NQ];
            // SAFETY: every row holds steps.len() floats from these pointers on (the steps
            // are inside red_len), a multiple of LANES.
            unsafe { weight_dots(g0, x0, steps.len() / LANES, &mut sums) };
            for m in 0..rows.len() {
                for n in 0..cols.len() {
                    // SAFETY: (m, n) is inside the caller's block; sums[n][m] holds LANES
                    // floats.
                    unsafe { *dst.add(m * q_len + n) += hsum(loadu(sums[n][m].as_ptr())) };
                }
            }
        }

        /// The lane-wise dot products of `n_vec` vectors from each of the MR rows `g0` with
        /// each of the NQ rows `x0`, into `sums[n][m]`. Its own function, kept out of line:
        /// inlined into [`weight_tile`], the compiler kept only 20 vector registers and
        /// spilled accumulators inside the loop (seen in the assembly).
        ///
        /// # Safety
        /// The CPU has `$feature`; every pointer is valid for reading `n_vec * LANES` floats.
        #[target_feature(enable = $feature)]
        #[inline(never)]
        unsafe fn weight_dots<const MR: usize, const NQ: usize>(
            g0: [*const f32; MR],
            x0: [*const f32; NQ],
            n_vec: usize,
            sums: &mut [[[f32; LANES]; MR]; NQ],
        ) {
            let mut acc = [[zero(); MR]; NQ];
            for i in 0..n_vec {
                let k = i * LANES;
                let mut gv = [zero(); MR];
                for m in 0..MR {
                    // SAFETY: k + LANES <= n_vec LANES, inside each row (caller's contract).
                    gv[m] = unsafe { loadu(g0[m].add(k)) };
                }
                for (acc_n, x0_n) in acc.iter_mut().zip(&x0) {
                    // SAFETY: as above, for a row of X.
                    let xv = unsafe { loadu(x0_n.add(k)) };
                    for m in 0..MR {
                        acc_n[m] = fmadd(gv[m], xv, acc_n[m]);
                    }
                }
            }
            for (sums_n, acc_n) in sums.iter_mut().zip(&acc) {
                for (s, &a) in sums_n.iter_mut().zip(acc_n) {
                    // SAFETY: `s` holds LANES floats.
                    unsafe { storeu(s.as_mut_ptr(), a) };
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Epilogue, Job, WeightJob};
    use std::arch::x86_64::*;

    const LANES: usize = 16;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    /// # Safety
    /// `p` must be valid for reading 16 floats (no alignment needed).
    unsafe fn loadu(p: *const f32) -> __m512 {
        // SAFETY: the caller's contract.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn relu(a: __m512) -> __m512 {
        _mm512_max_ps(a, _mm512_setzero_ps())
    }
    #[inline]
    fn mask(lanes: usize) -> __mmask16 {
        if lanes >= 16 {
            0xffff
        } else {
            (1u16 << lanes) - 1
        }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    /// # Safety
    /// `p` must be valid for reading the lanes set in `m`.
    unsafe fn load_masked(m: __mmask16, p: *const f32) -> __m512 {
        // SAFETY: the caller's contract; masked-off lanes are not read.
        unsafe { _mm512_maskz_loadu_ps(m, p) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    /// # Safety
    /// `p` must be valid for writing the lanes set in `m`.
    unsafe fn store_masked(p: *mut f32, m: __mmask16, v: __m512) {
        // SAFETY: the caller's contract; masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_ps(p, m, v) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    /// # Safety
    /// `p` must be valid for writing 16 floats (no alignment needed).
    unsafe fn storeu(p: *mut f32, a: __m512) {
        // SAFETY: the caller's contract.
        unsafe { _mm512_storeu_ps(p, a) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn hsum(a: __m512) -> f32 {
        _mm512_reduce_add_ps(a)
    }

    tile_kernel!("avx512f");
    weight_tile!("avx512f");
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Epilogue, Job, WeightJob};
    use std::arch::x86_64::*;

    const LANES: usize = 8;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn zero() -> __m256 {
        _mm256_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    /// # Safety
    /// `p` must be valid for reading 8 floats (no alignment needed).
    unsafe fn loadu(p: *const f32) -> __m256 {
        // SAFETY: the caller's contract.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn relu(a: __m256) -> __m256 {
        _mm256_max_ps(a, _mm256_setzero_ps())
    }
    /// All bits set in the first `lanes` 32-bit lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn mask(lanes: usize) -> __m256i {
        let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes.min(8) as i32), index)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    /// # Safety
    /// `p` must be valid for reading the lanes set in `m`.
    unsafe fn load_masked(m: __m256i, p: *const f32) -> __m256 {
        // SAFETY: the caller's contract; masked-off lanes are not read.
        unsafe { _mm256_maskload_ps(p, m) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    /// # Safety
    /// `p` must be valid for writing the lanes set in `m`.
    unsafe fn store_masked(p: *mut f32, m: __m256i, v: __m256) {
        // SAFETY: the caller's contract; masked-off lanes are not written.
        unsafe { _mm256_maskstore_ps(p, m, v) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    /// # Safety
    /// `p` must be valid for writing 8 floats (no alignment needed).
    unsafe fn storeu(p: *mut f32, a: __m256) {
        // SAFETY: the caller's contract.
        unsafe { _mm256_storeu_ps(p, a) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(a: __m256) -> f32 {
        let quad = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
        _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps::<1>(pair, pair)))
    }

    tile_kernel!("avx2,fma");
    weight_tile!("avx2,fma");
}

/// The input gradient of [`conv1d`]: from the output gradient `grad` (contiguous
/// (B, C_out, L_out)) and the weight `w` (C_out, C_in, K), the contiguous (B, C_in, L) gradient
/// with respect to x. `None` without a supported instruction set or for a degenerate shape.
///
/// Why it is the forward kernel again: split x's positions by their residue r modulo the
/// stride s, i = u s + r. Input i meets output t through tap j = i + p - t s, so
/// `dx[c][u s + r] = sum_o sum_m g[o][u + d - m] w[o][c][m s + j0]` with j0 = (r + p) mod s,
/// d = (r + p) div s and m running over the taps with m s + j0 < K. That is a stride-1
/// correlation of g (C_out channels) with C_in s output channels (c, r) of about K / s taps,
/// so the transposed convolution costs the forward's products and no im2col buffer.
pub fn conv1d_backward_data(shape: ConvShape, grad: &[f32], w: &[f32]) -> Option<Vec<f32>> {
    let isa = Isa::detect()?;
    let ConvShape {
        batch,
        c_in,
        length,
        c_out,
        kernel,
        padding,
        stride,
    } = shape;
    if stride == 0 || length + 2 * padding < kernel || kernel == 0 {
        return None;
    }
    let l_out = shape.l_out();
    if grad.len() != batch * c_out * l_out || w.len() != c_out * c_in * kernel {
        return None;
    }
    // Per residue r: first tap j0, offset d and number of taps.
    let residues: Vec<(usize, usize, usize)> = (0..stride)
        .map(|r| {
            let j0 = (r + padding) % stride;
            let d = (r + padding) / stride;
            let taps = if kernel > j0 {
                (kernel - j0).div_ceil(stride)
            } else {
                0
            };
            (j0, d, taps)
        })
        .collect();
    // Left zero padding of g so that every tap index n = d - m + pad_left is >= 0.
    let pad_left = residues
        .iter()
        .map(|&(_, d, taps)| taps.saturating_sub(1 + d))
        .max()
        .unwrap_or(0);
    let taps_t = residues.iter().map(|&(_, d, _)| d).max().unwrap_or(0) + pad_left + 1;
    // W'[(c, r)][o][n] = w[o][c][m s + j0(r)] with m = d(r) + pad_left - n.
    let rows = c_in * stride;
    let mut w_t = vec![0f32; rows * c_out * taps_t];
    for c in 0..c_in {
        for (r, &(j0, d, taps)) in residues.iter().enumerate() {
            let q = c * stride + r;
            for o in 0..c_out {
                for m in 0..taps {
                    let n = d + pad_left - m;
                    w_t[(q * c_out + o) * taps_t + n] =
                        w[(o * c_in + c) * kernel + m * stride + j0];
                }
            }
        }
    }
    let u_len = length.div_ceil(stride);
    let shape_t = ConvShape {
        batch,
        c_in: c_out,
        length: u_len + taps_t - 1,
        c_out: rows,
        kernel: taps_t,
        padding: 0,
        stride: 1,
    };
    let g_at = |b: usize, o: usize, i: usize| {
        if i >= pad_left && i - pad_left < l_out {
            grad[(b * c_out + o) * l_out + i - pad_left]
        } else {
            0.0
        }
    };
    let by_residue = conv1d_with(isa, shape_t, g_at, &w_t, Epilogue::default())?;
    if stride == 1 {
        return Some(by_residue);
    }
    // Interleave the residues back into time order.
    let mut dx = vec![0f32; batch * c_in * length];
    dx.par_chunks_mut(length)
        .enumerate()
        .for_each(|(row, dst)| {
            let (b, c) = (row / c_in, row % c_in);
            for r in 0..stride {
                let src = &by_residue[((b * rows) + c * stride + r) * u_len..][..u_len];
                for (u, &v) in src.iter().enumerate() {
                    if let Some(d) = dst.get_mut(u * stride + r) {
                        *d = v;
                    }
                }
            }
        });
    Some(dx)
}

/// The weight gradient of [`conv1d`]: `x_at(b, c, i)` as for [`conv1d`] and the output gradient
/// `grad` (contiguous (B, C_out, L_out)); returns the contiguous (C_out, C_in, K) gradient.
/// `None` for a degenerate shape. Runs on [`Isa::detect`]'s kernel, or on a scalar loop on CPUs
/// with neither instruction set.
///
/// `dw[o][c][j] = sum_b sum_t g[b][o][t] xpad[b][c][t s + j]`. With x split into stride phases
/// laid out as one row per (phase, channel) holding every record one after another (each
/// padded to `L_out + (K - 1) / s` steps), tap j of all records is ONE shifted view of the
/// row of phase j mod s, and g padded with zeros to the same row length lines up with it. So
/// dw, seen as a (C_out, C_in K) matrix, is `G X^T` with a reduction along the (long,
/// contiguous) time axis of both: row q = c K + j of X is the view of channel c, tap j. The
/// zero columns of g cancel the values a view reads from the next record.
///
/// The register tile is `MR` rows of G x `NQ` rows of X (4 x 6 on AVX-512: 24 accumulators,
/// 10 loads per 24 fused multiply-adds), each accumulator a vector of time steps summed
/// across its lanes once per chunk of the time axis. A chunk of `CHUNK` steps keeps the tile's
/// rows of G in L1 and the X rows of neighbouring taps, which overlap, in L1 too. Workers
/// own disjoint ranges of output channels (no reduction between threads) and walk the chunks
/// in order, so the chunk of X they share stays in the caches for all their channel blocks.
pub fn conv1d_backward_weight(
    shape: ConvShape,
    x_at: impl Fn(usize, usize, usize) -> f32 + Sync,
    grad: &[f32],
) -> Option<Vec<f32>> {
    conv1d_backward_weight_with(Isa::detect(), shape, x_at, grad)
}

/// [`conv1d_backward_weight`] on a chosen instruction set (`None`: the scalar loop), `None`
/// if this CPU lacks it.
pub fn conv1d_backward_weight_with(
    isa: Option<Isa>,
    shape: ConvShape,
    x_at: impl Fn(usize, usize, usize) -> f32 + Sync,
    grad: &[f32],
) -> Option<Vec<f32>> {
    if isa.is_some_and(|isa| !isa.supported()) {
        return None;
    }
    let ConvShape {
        batch,
        c_in,
        length,
        c_out,
        kernel,
        padding,
        stride,
    } = shape;
    if stride == 0 || kernel == 0 || length + 2 * padding < kernel {
        return None;
    }
    let l_out = shape.l_out();
    if grad.len() != batch * c_out * l_out {
        return None;
    }
    let step_len = l_out + (kernel - 1) / stride;
    // The reduction length, whole vectors of the widest instruction set.
    let red_len = (batch * step_len).next_multiple_of(WG_ALIGN);
    // A phase row holds every view of it: red_len + the largest tap shift (K - 1) / s.
    let x_row = red_len + (kernel - 1) / stride;
    // Both buffers come from the pool with old values: every element is written.
    let mut phases = Scratch::take(stride * c_in * x_row);
    phases
        .par_chunks_mut(x_row)
        .enumerate()
        .for_each(|(row, dst)| {
            let (r, c) = (row / c_in, row % c_in);
            let (records, tail) = dst.split_at_mut(batch * step_len);
            for (b, rec) in records.chunks_mut(step_len).enumerate() {
                fill_phase(rec, r, stride, padding, length, |i| x_at(b, c, i));
            }
            tail.fill(0.0);
        });
    let mut g_rows = Scratch::take(c_out * red_len);
    g_rows
        .par_chunks_mut(red_len)
        .enumerate()
        .for_each(|(o, dst)| {
            let (records, tail) = dst.split_at_mut(batch * step_len);
            for (b, rec) in records.chunks_mut(step_len).enumerate() {
                let (steps, pad) = rec.split_at_mut(l_out);
                steps.copy_from_slice(&grad[(b * c_out + o) * l_out..][..l_out]);
                pad.fill(0.0);
            }
            tail.fill(0.0);
        });
    let x_offset: Vec<usize> = (0..c_in * kernel)
        .map(|q| {
            let (c, j) = (q / kernel, q % kernel);
            ((j % stride) * c_in + c) * x_row + j / stride
        })
        .collect();
    let job = WeightJob {
        g: &g_rows,
        x: &phases,
        red_len,
        x_offset: &x_offset,
        c_out,
    };
    let mut dw = vec![0f32; c_out * c_in * kernel];
    match isa {
        #[cfg(target_arch = "x86_64")]
        Some(Isa::Avx512) => job.run::<4, 6>(avx512::weight_tile::<4, 6>, &mut dw),
        #[cfg(target_arch = "x86_64")]
        Some(Isa::Avx2Fma) => job.run::<3, 4>(avx2::weight_tile::<3, 4>, &mut dw),
        _ => job.run::<1, 1>(weight_tile_scalar, &mut dw),
    }
    Some(dw)
}

/// Row lengths of the weight gradient's operands are multiples of this (AVX-512's lanes; a
/// multiple of AVX2's).
const WG_ALIGN: usize = 16;

/// Steps of the time axis per chunk (see [`conv1d_backward_weight`]): 4 rows of G take
/// 32 KiB, and a tile's lane sums cost about 6 % of its multiply-adds.
const WG_CHUNK: usize = 2048;

/// The operands of [`conv1d_backward_weight`]'s product `dw = G X^T`.
struct WeightJob<'a> {
    /// C_out rows of `red_len` floats.
    g: &'a [f32],
    /// The stride phases; row q of X starts at `x_offset[q]` and is read for `red_len` floats.
    x: &'a [f32],
    red_len: usize,
    x_offset: &'a [usize],
    c_out: usize,
}

/// One MR x NQ tile of dw: rows `rows` of G times rows `cols` of X over the steps `steps` (a
/// range of whole vectors), ADDED to dw's block at `dst` (row stride C_in K).
///
/// # Safety
/// The CPU must have the kernel's instruction set; `rows` must lie in 0..C_out, `cols` in
/// 0..C_in K, `steps` in 0..red_len with both ends multiples of `WG_ALIGN`; `dst` must be
/// valid for the block and no other thread may access it.
type WeightTile = unsafe fn(
    &WeightJob,
    std::ops::Range<usize>,
    std::ops::Range<usize>,
    std::ops::Range<usize>,
    *mut f32,
);

impl WeightJob<'_> {
    fn run<const MR: usize, const NQ: usize>(&self, tile: WeightTile, dw: &mut [f32]) {
        let q_len = self.x_offset.len();
        let n_blocks = self.c_out.div_ceil(MR);
        // Two ranges of channel blocks per thread balance the load and re-read X only that
        // many times.
        let n_ranges = (2 * rayon::current_num_threads()).clamp(1, n_blocks);
        let dw_ptr = OutPtr(dw.as_mut_ptr());
        (0..n_ranges).into_par_iter().for_each(|range| {
            let blocks = range * n_blocks / n_ranges..(range + 1) * n_blocks / n_ranges;
            for k0 in (0..self.red_len).step_by(WG_CHUNK) {
                let steps = k0..(k0 + WG_CHUNK).min(self.red_len);
                for block in blocks.clone() {
                    let o0 = block * MR;
                    let rows = o0..(o0 + MR).min(self.c_out);
                    for q0 in (0..q_len).step_by(NQ) {
                        let cols = q0..(q0 + NQ).min(q_len);
                        // SAFETY: `conv1d_backward_weight` picked the tile of an instruction
                        // set this CPU has (or the scalar one); rows < C_out, cols < C_in K and
                        // the steps are whole vectors inside red_len (a multiple of WG_ALIGN,
                        // as is WG_CHUNK); the block of dw (rows x cols) belongs to this range
                        // of channel blocks alone, and `dw` outlives the loop.
                        unsafe {
                            tile(
                                self,
                                rows.clone(),
                                cols,
                                steps.clone(),
                                dw_ptr.get().add(o0 * q_len + q0),
                            )
                        };
                    }
                }
            }
        });
    }
}

/// The weight tile on CPUs with neither instruction set (1 x 1: the compiler vectorises the
/// dot product as far as the target allows).
///
/// # Safety
/// As for [`WeightTile`] (no instruction set needed).
unsafe fn weight_tile_scalar(
    job: &WeightJob,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    steps: std::ops::Range<usize>,
    dst: *mut f32,
) {
    let q_len = job.x_offset.len();
    for (m, o) in rows.enumerate() {
        let g = &job.g[o * job.red_len..][steps.clone()];
        for (n, q) in cols.clone().enumerate() {
            let x = &job.x[job.x_offset[q] + steps.start..][..steps.len()];
            let sum: f32 = g.iter().zip(x).map(|(a, b)| a * b).sum();
            // SAFETY: (m, n) is inside the caller's block (caller's contract).
            unsafe { *dst.add(m * q_len + n) += sum };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reproducible values in [-0.5, 0.5) (a linear congruential generator).
    fn uniform_values(mut seed: u32) -> impl FnMut() -> f32 {
        move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        }
    }

    fn reference(shape: ConvShape, x: &[f32], w: &[f32]) -> Vec<f32> {
        let l_out = shape.l_out();
        let mut out = vec![0f32; shape.batch * shape.c_out * l_out];
        for b in 0..shape.batch {
            for o in 0..shape.c_out {
                for t in 0..l_out {
                    let mut s = 0f64;
                    for c in 0..shape.c_in {
                        for j in 0..shape.kernel {
                            let pos = t * shape.stride + j;
                            if pos >= shape.padding && pos - shape.padding < shape.length {
                                s += w[(o * shape.c_in + c) * shape.kernel + j] as f64
                                    * x[(b * shape.c_in + c) * shape.length + pos - shape.padding]
                                        as f64;
                            }
                        }
                    }
                    out[(b * shape.c_out + o) * l_out + t] = s as f32;
                }
            }
        }
        out
    }

    /// Every instruction set this CPU has, every tile variant (NV 1-4), channel remainders,
    /// tail tiles, strides 1-4, K = 1, with and without the fused epilogue.
    #[test]
    fn direct_kernel_matches_direct_sums() {
        let isas: Vec<Isa> = Isa::all().into_iter().filter(|i| i.supported()).collect();
        if isas.is_empty() {
            eprintln!("skipped: this CPU has neither AVX-512F nor AVX2+FMA (im2col is used)");
            return;
        }
        for isa in isas {
            check_isa(isa);
        }
    }

    /// Both gradients against f64 sums of the definition, at strides 1-4, K = 1, odd lengths
    /// (several input lengths give one output length when s > 1) and channel remainders.
    #[test]
    fn backward_kernels_match_direct_sums() {
        if !available() {
            eprintln!("skipped: this CPU has neither AVX-512F nor AVX2+FMA (im2col is used)");
            return;
        }
        let mut next = uniform_values(7);
        for (batch, c_in, length, c_out, kernel, padding, stride) in [
            (2, 3, 16, 5, 3, 1, 1),
            (2, 5, 40, 7, 17, 8, 1),
            (3, 4, 64, 13, 17, 7, 4),
            (2, 4, 67, 6, 17, 7, 4),
            (1, 7, 131, 9, 5, 2, 2),
            (2, 8, 64, 6, 1, 0, 1),
            (2, 3, 9, 3, 3, 0, 3),
            (1, 2, 10, 3, 2, 0, 3),
            // Several chunks of the weight gradient's time axis (B (L_out + 16) > 2048).
            (2, 3, 1501, 5, 17, 8, 1),
            (3, 5, 2999, 7, 17, 7, 2),
            (2, 6, 4097, 9, 17, 7, 4),
            (2, 5, 3001, 11, 1, 0, 3),
        ] {
            let shape = ConvShape {
                batch,
                c_in,
                length,
                c_out,
                kernel,
                padding,
                stride,
            };
            let l_out = shape.l_out();
            let x: Vec<f32> = (0..batch * c_in * length).map(|_| next()).collect();
            let w: Vec<f32> = (0..c_out * c_in * kernel).map(|_| next()).collect();
            let g: Vec<f32> = (0..batch * c_out * l_out).map(|_| next()).collect();
            let mut want_dx = vec![0f64; x.len()];
            let mut want_dw = vec![0f64; w.len()];
            for b in 0..batch {
                for o in 0..c_out {
                    for t in 0..l_out {
                        let gv = g[(b * c_out + o) * l_out + t] as f64;
                        for c in 0..c_in {
                            for j in 0..kernel {
                                let pos = t * stride + j;
                                if pos >= padding && pos - padding < length {
                                    let xi = (b * c_in + c) * length + pos - padding;
                                    let wi = (o * c_in + c) * kernel + j;
                                    want_dx[xi] += gv * w[wi] as f64;
                                    want_dw[wi] += gv * x[xi] as f64;
                                }
                            }
                        }
                    }
                }
            }
            let max_err = |ours: &[f32], want: &[f64]| {
                assert_eq!(ours.len(), want.len(), "{shape:?}");
                ours.iter()
                    .zip(want)
                    .map(|(a, b)| (*a as f64 - b).abs())
                    .fold(0f64, f64::max)
            };
            let dx = conv1d_backward_data(shape, &g, &w).expect("supported");
            let err = max_err(&dx, &want_dx);
            assert!(err < 1e-4, "{shape:?}: input gradient max error {err}");
            let x_at = |b: usize, c: usize, i: usize| x[(b * c_in + c) * length + i];
            let dw = conv1d_backward_weight(shape, x_at, &g).expect("supported");
            let err = max_err(&dw, &want_dw);
            assert!(err < 1e-4, "{shape:?}: weight gradient max error {err}");
            // Every weight-gradient tile this CPU runs, and the scalar one.
            for isa in Isa::all().into_iter().filter(|i| i.supported()).map(Some) {
                let dw = conv1d_backward_weight_with(isa, shape, x_at, &g).expect("supported");
                let err = max_err(&dw, &want_dw);
                assert!(
                    err < 1e-4,
                    "{isa:?} {shape:?}: weight gradient max error {err}"
                );
            }
            let dw = conv1d_backward_weight_with(None, shape, x_at, &g).expect("scalar");
            let err = max_err(&dw, &want_dw);
            assert!(
                err < 1e-4,
                "scalar {shape:?}: weight gradient max error {err}"
            );
        }
    }

    fn check_isa(isa: Isa) {
        let mut next = uniform_values(1);
        for (batch, c_in, length, c_out, kernel, padding, stride) in [
            (1, 3, 16, 5, 3, 1, 1),
            (2, 5, 40, 7, 17, 8, 1),
            (1, 4, 64, 13, 17, 7, 4),
            (3, 6, 200, 25, 17, 8, 1),
            (1, 7, 131, 9, 5, 2, 2),
            (2, 8, 64, 6, 1, 0, 1),
            (1, 12, 300, 30, 17, 7, 4),
            (1, 2, 9, 3, 3, 0, 3),
            (1, 3, 30, 11, 5, 2, 1),
        ] {
            let shape = ConvShape {
                batch,
                c_in,
                length,
                c_out,
                kernel,
                padding,
                stride,
            };
            let x: Vec<f32> = (0..batch * c_in * length).map(|_| next()).collect();
            let w: Vec<f32> = (0..c_out * c_in * kernel).map(|_| next()).collect();
            let x_at = |b: usize, c: usize, i: usize| x[(b * c_in + c) * length + i];
            let ours = conv1d_with(isa, shape, x_at, &w, Epilogue::default()).expect("supported");
            let want = reference(shape, &x, &w);
            assert_eq!(ours.len(), want.len(), "{shape:?}");
            let err = ours
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(err < 1e-4, "{isa:?} {shape:?}: max error {err}");
            // The fused epilogue: relu((conv + residual) scale + shift).
            let residual: Vec<f32> = (0..want.len()).map(|_| next()).collect();
            let scale: Vec<f32> = (0..c_out).map(|_| next() * 4.0).collect();
            let shift: Vec<f32> = (0..c_out).map(|_| next()).collect();
            let epilogue = Epilogue {
                residual: Some(&residual),
                affine: Some((&scale, &shift)),
                relu: true,
            };
            let fused = conv1d_with(isa, shape, x_at, &w, epilogue).expect("supported");
            let l_out = shape.l_out();
            let err = fused
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let o = (i / l_out) % c_out;
                    let v = ((want[i] + residual[i]) * scale[o] + shift[o]).max(0.0);
                    (f - v).abs()
                })
                .fold(0f32, f32::max);
            assert!(
                err < 1e-4,
                "{isa:?} {shape:?}: fused epilogue max error {err}"
            );
        }
    }
}
