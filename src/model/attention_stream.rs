//! The observe path of attention: causal GQA attention that streams over key
//! blocks with the online-softmax rescaling trick and produces the output and
//! the per-row statistics of [`crate::stats::attn`] together, never
//! holding an [L, L] matrix (not even per head): the largest temporary is one
//! query block × one key block of scores.
//!
//! Every statistic is an expectation under the row's attention distribution,
//! kept like FlashAttention keeps its output: running max m, running sum
//! ℓ = Σ e^{s−m}, accumulator Σ e^{s−m} f, rescaled by e^{m_old − m_new} when m
//! grows and divided by ℓ at the end. The entropy uses A = Σ e^{s−m}(s − m),
//! which rescales as A' = α(A + (m − m')ℓ), and H = ln ℓ − A/ℓ.
//!
//! Work is split over (head, query block) tasks with rayon; the kernel is
//! compiled twice (baseline and AVX2) and chosen at run time. Results do not
//! depend on the thread count: each row is computed by one task in a fixed
//! order, and per-head reductions are merged in task order.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::stats::attn::{AttnStatsSpec, AttnSummary, OneRow, RowStats};

/// Block sizes of the streaming kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamBlocks {
    pub block_q: usize,
    pub block_k: usize,
}

impl Default for StreamBlocks {
    fn default() -> Self {
        StreamBlocks {
            block_q: 64,
            block_k: 128,
        }
    }
}

/// Inputs of one layer's attention, all f32 and contiguous.
#[derive(Debug, Clone, Copy)]
pub struct StreamInput<'a> {
    /// Queries [heads, t, d].
    pub q: &'a [f32],
    /// Keys transposed per KV head: [kv_heads, d, t].
    pub kt: &'a [f32],
    /// Values [kv_heads, t, d].
    pub v: &'a [f32],
    pub heads: usize,
    pub kv_heads: usize,
    pub t: usize,
    pub d: usize,
    /// Softmax scale applied to q·k (1/√d).
    pub scale: f32,
}

/// Statistics produced by the streaming kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamStats {
    Rows(RowStats),
    Summary(AttnSummary),
}

/// Result of [`stream_attention`]: output laid out [t, heads, d] and the statistics if asked.
pub struct StreamOutput {
    pub out: Vec<f32>,
    pub stats: Option<StreamStats>,
}

/// Per-row values a task returns: [mean_distance, entropy, sink, local, max_weight] + argmax + hist.
struct TaskRows {
    head: usize,
    /// Absolute first row index of `vals`.
    first_row: usize,
    vals: Vec<[f64; 5]>,
    argmax: Vec<u32>,
    hist: Vec<f64>,
}

/// Causal attention with optional statistics, streaming over key blocks.
pub fn stream_attention(
    inp: StreamInput<'_>,
    blocks: StreamBlocks,
    spec: Option<&AttnStatsSpec>,
) -> Result<StreamOutput> {
    stream_attention_with(inp, blocks, spec, KernelChoice::Auto)
}

/// [`stream_attention`] with an explicit kernel variant.
pub fn stream_attention_with(
    inp: StreamInput<'_>,
    blocks: StreamBlocks,
    spec: Option<&AttnStatsSpec>,
    choice: KernelChoice,
) -> Result<StreamOutput> {
    let StreamInput {
        heads,
        kv_heads,
        t,
        d,
        ..
    } = inp;
    if blocks.block_q == 0 || blocks.block_k == 0 {
        return Err(Error::Input("attention block sizes must be > 0".into()));
    }
    if kv_heads == 0 || heads % kv_heads != 0 {
        return Err(Error::Input(format!(
            "{heads} query heads cannot share {kv_heads} key/value heads"
        )));
    }
    if inp.q.len() != heads * t * d
        || inp.kt.len() != kv_heads * t * d
        || inp.v.len() != kv_heads * t * d
    {
        return Err(Error::Input(format!(
            "attention inputs have lengths q={}, k={}, v={}; expected {}, {}, {}",
            inp.q.len(),
            inp.kt.len(),
            inp.v.len(),
            heads * t * d,
            kv_heads * t * d,
            kv_heads * t * d
        )));
    }
    let rows = match spec {
        Some(s) => Some(s.rows.range(t)?),
        None => None,
    };
    let bq = blocks.block_q;
    let nqb = t.div_ceil(bq);
    let mut padded = vec![0f32; heads * nqb * bq * d];
    let kernel = select_kernel(choice);

    let task_out: Vec<Option<TaskOut>> = padded
        .par_chunks_mut(bq * d)
        .enumerate()
        .map(|(task, acc)| {
            let h = task / nqb;
            let i0 = (task % nqb) * bq;
            let i1 = (i0 + bq).min(t);
            let sel = match (&rows, spec) {
                (Some(r), Some(s)) => {
                    let a = r.start.max(i0);
                    let b = r.end.min(i1);
                    (a < b).then_some((a..b, s))
                }
                _ => None,
            };
            let args = TaskArgs {
                inp: &inp,
                h,
                i0,
                i1,
                block_k: blocks.block_k,
            };
            match sel {
                Some((range, s)) => {
                    let mut tr = TaskRows {
                        head: h,
                        first_row: range.start,
                        vals: vec![[0.0; 5]; range.len()],
                        argmax: vec![0; range.len()],
                        hist: vec![0.0; range.len() * s.bins.len()],
                    };
                    kernel(&args, acc, Some((s, &mut tr)));
                    // reduce where the data is: a per-head summary keeps O(bins) per task
                    Some(if s.per_row {
                        TaskOut::Rows(tr)
                    } else {
                        TaskOut::Summary(h, reduce_task(&tr, s))
                    })
                }
                None => {
                    kernel(&args, acc, None);
                    None
                }
            }
        })
        .collect();

    // [heads, nqb*bq, d] → [t, heads, d]
    let mut out = vec![0f32; t * heads * d];
    out.par_chunks_mut(heads * d)
        .enumerate()
        .for_each(|(i, dst)| {
            for h in 0..heads {
                let src = &padded[(h * nqb * bq + i) * d..(h * nqb * bq + i + 1) * d];
                dst[h * d..(h + 1) * d].copy_from_slice(src);
            }
        });

    let stats = match (spec, rows) {
        (Some(s), Some(rows)) => Some(assemble(s, heads, rows, task_out)),
        _ => None,
    };
    Ok(StreamOutput { out, stats })
}

/// What one task hands back besides its output rows.
enum TaskOut {
    Rows(TaskRows),
    /// (head, one-head summary of the task's rows)
    Summary(usize, AttnSummary),
}

/// Reduces a task's rows to a one-head summary.
fn reduce_task(tr: &TaskRows, spec: &AttnStatsSpec) -> AttnSummary {
    let nb = spec.bins.len();
    let mut sum = AttnSummary::zeros(1, nb);
    let mut hist32 = vec![0f32; nb];
    for (k, vals) in tr.vals.iter().enumerate() {
        for (dst, &x) in hist32.iter_mut().zip(&tr.hist[k * nb..(k + 1) * nb]) {
            *dst = x as f32;
        }
        sum.add_row(
            0,
            &spec.bins,
            OneRow {
                mean_distance: vals[0],
                entropy: vals[1],
                sink: vals[2],
                local: vals[3],
                max_weight: vals[4],
                hist: &hist32,
            },
        );
    }
    sum
}

/// Gathers the tasks' results into per-row statistics or a per-head summary (in task order).
fn assemble(
    spec: &AttnStatsSpec,
    heads: usize,
    rows: std::ops::Range<usize>,
    tasks: Vec<Option<TaskOut>>,
) -> StreamStats {
    let nb = spec.bins.len();
    if spec.per_row {
        let mut rs = RowStats::zeros(heads, rows.clone(), nb);
        let r = rows.len();
        for tr in tasks.into_iter().flatten() {
            let TaskOut::Rows(tr) = tr else { continue };
            for (k, vals) in tr.vals.iter().enumerate() {
                let idx = tr.head * r + (tr.first_row + k - rows.start);
                rs.mean_distance[idx] = vals[0] as f32;
                rs.entropy[idx] = vals[1] as f32;
                rs.sink_mass[idx] = vals[2] as f32;
                rs.local_mass[idx] = vals[3] as f32;
                rs.max_weight[idx] = vals[4] as f32;
                rs.argmax_distance[idx] = tr.argmax[k];
                for (dst, &x) in rs.distance_hist[idx * nb..(idx + 1) * nb]
                    .iter_mut()
                    .zip(&tr.hist[k * nb..(k + 1) * nb])
                {
                    *dst = x as f32;
                }
            }
        }
        StreamStats::Rows(rs)
    } else {
        let mut sum = AttnSummary::zeros(heads, nb);
        for t in tasks.into_iter().flatten() {
            if let TaskOut::Summary(h, one) = t {
                sum.add_head(h, &one);
            }
        }
        StreamStats::Summary(sum)
    }
}

struct TaskArgs<'a, 'b> {
    inp: &'a StreamInput<'b>,
    h: usize,
    i0: usize,
    i1: usize,
    block_k: usize,
}

type Kernel = fn(&TaskArgs<'_, '_>, &mut [f32], Option<(&AttnStatsSpec, &mut TaskRows)>);

/// Which compiled variant of the kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelChoice {
    /// AVX2+FMA where the CPU has it, else portable.
    #[default]
    Auto,
    /// The portable variant (baseline instruction set), e.g. to test it against the fast one.
    Portable,
}

fn select_kernel(choice: KernelChoice) -> Kernel {
    if choice == KernelChoice::Portable {
        return task_generic;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return task_avx2_entry;
        }
    }
    task_generic
}

#[cfg(target_arch = "x86_64")]
fn task_avx2_entry(
    a: &TaskArgs<'_, '_>,
    acc: &mut [f32],
    st: Option<(&AttnStatsSpec, &mut TaskRows)>,
) {
    // SAFETY: only selected when the CPU reports AVX2 and FMA.
    unsafe { task_avx2(a, acc, st) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn task_avx2(
    a: &TaskArgs<'_, '_>,
    acc: &mut [f32],
    st: Option<(&AttnStatsSpec, &mut TaskRows)>,
) {
    task_body::<true>(a, acc, st)
}

fn task_generic(
    a: &TaskArgs<'_, '_>,
    acc: &mut [f32],
    st: Option<(&AttnStatsSpec, &mut TaskRows)>,
) {
    task_body::<false>(a, acc, st)
}

/// a·b + c, fused when the kernel is compiled with FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Running statistics accumulators of one row (relative to the running max).
#[derive(Clone, Copy, Default)]
struct RowAcc {
    md: f64,
    ent: f64,
    sink: f64,
    local: f64,
    argmax: usize,
}

/// One (head, query block) task: rows i0..i1 of head h. `acc` is the task's
/// [block_q, d] output slice; statistics rows are those in `st`.
#[inline(always)]
fn task_body<const FMA: bool>(
    a: &TaskArgs<'_, '_>,
    acc: &mut [f32],
    mut st: Option<(&AttnStatsSpec, &mut TaskRows)>,
) {
    let inp = a.inp;
    let (t, d) = (inp.t, inp.d);
    let g = a.h / (inp.heads / inp.kv_heads);
    let bk = a.block_k;
    let nrows = a.i1 - a.i0;
    let q = &inp.q[(a.h * t + a.i0) * d..(a.h * t + a.i1) * d];
    let kt = &inp.kt[g * d * t..(g + 1) * d * t];
    let v = &inp.v[g * t * d..(g + 1) * t * d];

    let mut m = vec![f32::NEG_INFINITY; nrows];
    let mut l = vec![0f64; nrows];
    let mut sblk = vec![0f32; nrows * bk];
    let mut pbuf = vec![0f32; bk];
    // key offsets 0, 1, 2, … within a block, as f64 (no integer conversions in the loop)
    let dist: Vec<f64> = (0..bk).map(|x| x as f64).collect();
    let nb = st.as_ref().map(|(sp, _)| sp.bins.len()).unwrap_or(0);
    let mut racc = vec![RowAcc::default(); nrows];
    let mut hist = vec![0f64; nrows * nb];
    let sel = st
        .as_ref()
        .map(|(_, tr)| tr.first_row..tr.first_row + tr.vals.len())
        .unwrap_or(0..0);

    let mut j0 = 0;
    while j0 < a.i1 {
        let j1 = (j0 + bk).min(a.i1);
        // 1. scores of every row of the block against keys j0..j1:
        //    s_ij = (q_i · k_j) · scale, in the order HF transformers computes them
        qk_block::<FMA>(q, nrows, d, kt, t, j0, j1 - j0, inp.scale, &mut sblk, bk);
        for r in 0..nrows {
            let i = a.i0 + r;
            if i < j0 {
                continue;
            }
            let n = (j1.min(i + 1)) - j0;
            let s = &mut sblk[r * bk..r * bk + n];
            // 2. block max (first occurrence)
            let mut bm = f32::NEG_INFINITY;
            let mut barg = 0;
            for (jl, &x) in s.iter().enumerate() {
                if x > bm {
                    bm = x;
                    barg = jl;
                }
            }
            let orow = &mut acc[r * d..(r + 1) * d];
            let stats_row = st.is_some() && sel.contains(&i);
            // 3. rescale when the running max grows
            if bm > m[r] {
                let alpha = (m[r] - bm).exp();
                if l[r] > 0.0 {
                    orow.iter_mut().for_each(|o| *o *= alpha);
                    if stats_row {
                        let ra = &mut racc[r];
                        let a64 = alpha as f64;
                        ra.ent = a64 * (ra.ent + (m[r] - bm) as f64 * l[r]);
                        ra.md *= a64;
                        ra.sink *= a64;
                        ra.local *= a64;
                        hist[r * nb..(r + 1) * nb]
                            .iter_mut()
                            .for_each(|x| *x *= a64);
                    }
                }
                l[r] *= alpha as f64;
                m[r] = bm;
                racc[r].argmax = j0 + barg;
            }
            let mr = m[r];
            // 4. p_j = e^{s_j − m}; statistics on the block (before s is overwritten)
            if stats_row {
                let (sp, _) = st.as_ref().expect("stats_row implies st");
                let ra = &mut racc[r];
                let pb = &mut pbuf[..n];
                for (x, p) in s.iter_mut().zip(pb.iter_mut()) {
                    *x -= mr;
                    *p = exp_f32::<FMA>(*x);
                }
                // A += Σ p (s − m)
                ra.ent += dot8(pb, s) as f64;
                block_stats(pb, i, j0, sp, ra, &mut hist[r * nb..(r + 1) * nb], &dist);
                s.copy_from_slice(pb);
            } else {
                for x in s.iter_mut() {
                    *x = exp_f32::<FMA>(*x - mr);
                }
            }
            l[r] += sum8(s) as f64;
            // 5. o += Σ_j p_j v_j
            pv_row::<FMA>(s, &v[j0 * d..(j0 + n) * d], d, orow);
        }
        j0 = j1;
    }

    // 6. normalise
    for r in 0..nrows {
        let inv = (1.0 / l[r]) as f32;
        acc[r * d..(r + 1) * d].iter_mut().for_each(|o| *o *= inv);
    }
    if let Some((_, tr)) = st.as_mut() {
        for (k, i) in sel.clone().enumerate() {
            let r = i - a.i0;
            let l64 = l[r];
            let ra = racc[r];
            tr.vals[k] = [
                ra.md / l64,
                l64.ln() - ra.ent / l64,
                ra.sink / l64,
                ra.local / l64,
                1.0 / l64,
            ];
            tr.argmax[k] = (i - ra.argmax) as u32;
            for (dst, &x) in tr.hist[k * nb..(k + 1) * nb]
                .iter_mut()
                .zip(&hist[r * nb..(r + 1) * nb])
            {
                *dst = x / l64;
            }
        }
    }
}

/// Scores of `rows` query rows (q: [rows, d]) against keys j0..j0+w (kt: [d, t]),
/// times `scale`, into `out[r * stride + jl]`. Register-tiled: 4 rows × 16 keys
/// per step, so each key load feeds four rows.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn qk_block<const FMA: bool>(
    q: &[f32],
    rows: usize,
    d: usize,
    kt: &[f32],
    t: usize,
    j0: usize,
    w: usize,
    scale: f32,
    out: &mut [f32],
    stride: usize,
) {
    const R: usize = 4;
    const K: usize = 16;
    let mut r = 0;
    while r < rows {
        let nr = (rows - r).min(R);
        // rows past the end repeat the last row; their results are not stored
        let qi: [usize; R] = std::array::from_fn(|k| (r + k.min(nr - 1)) * d);
        let mut c = 0;
        while c + K <= w {
            let mut acc = [[0f32; K]; R];
            for tt in 0..d {
                let base = tt * t + j0 + c;
                let krow: &[f32; K] = kt[base..base + K].try_into().expect("K keys");
                for (rr, accr) in acc.iter_mut().enumerate() {
                    let qv = q[qi[rr] + tt];
                    for k in 0..K {
                        accr[k] = madd::<FMA>(qv, krow[k], accr[k]);
                    }
                }
            }
            for (rr, accr) in acc.iter().enumerate().take(nr) {
                let o = &mut out[(r + rr) * stride + c..(r + rr) * stride + c + K];
                for k in 0..K {
                    o[k] = accr[k] * scale;
                }
            }
            c += K;
        }
        // remaining keys, one at a time
        for jl in c..w {
            for rr in 0..nr {
                let mut x = 0f32;
                for tt in 0..d {
                    x = madd::<FMA>(q[qi[rr] + tt], kt[tt * t + j0 + jl], x);
                }
                out[(r + rr) * stride + jl] = x * scale;
            }
        }
        r += R;
    }
}

/// o += Σ_j p_j v_j for one row (v: [p.len(), d]), accumulating 32 output
/// dimensions at a time in registers.
#[inline(always)]
fn pv_row<const FMA: bool>(p: &[f32], v: &[f32], d: usize, o: &mut [f32]) {
    const C: usize = 32;
    let mut c = 0;
    while c + C <= d {
        let mut acc = [0f32; C];
        for (jl, &pj) in p.iter().enumerate() {
            let vrow: &[f32; C] = v[jl * d + c..jl * d + c + C].try_into().expect("C dims");
            for k in 0..C {
                acc[k] = madd::<FMA>(pj, vrow[k], acc[k]);
            }
        }
        for k in 0..C {
            o[c + k] += acc[k];
        }
        c += C;
    }
    if c < d {
        let rest = d - c;
        let mut acc = [0f32; C];
        for (jl, &pj) in p.iter().enumerate() {
            let vrow = &v[jl * d + c..jl * d + d];
            for k in 0..rest {
                acc[k] = madd::<FMA>(pj, vrow[k], acc[k]);
            }
        }
        for k in 0..rest {
            o[c + k] += acc[k];
        }
    }
}

/// Adds one key block's weights `p` (keys j0..j0+p.len(), relative to the running max)
/// to row i's distance, sink, local and histogram accumulators. `offs` holds 0, 1, 2, … as f64.
#[inline(always)]
fn block_stats(
    p: &[f32],
    i: usize,
    j0: usize,
    sp: &AttnStatsSpec,
    ra: &mut RowAcc,
    hist: &mut [f64],
    offs: &[f64],
) {
    let n = p.len();
    // Σ p (i − j) with d = dmax − jl computed exactly in f32 (no cancellation)
    let dmax = (i - j0) as u64;
    ra.md += dist_dot(p, dmax as f64, &offs[..n]);
    if j0 < sp.sink_tokens {
        let e = (sp.sink_tokens - j0).min(n);
        ra.sink += sum8(&p[..e]) as f64;
    }
    // local: d < w  ⇔  j > i − w  ⇔  jl ≥ i + 1 − w − j0
    let lo = (i + 1).saturating_sub(sp.local_window);
    if lo < j0 + n {
        let start = lo.saturating_sub(j0);
        ra.local += sum8(&p[start..]) as f64;
    }
    // histogram: distances run from dmax (jl = 0) down to dmin = dmax − n + 1
    let dmin = dmax + 1 - n as u64;
    let mut b = sp.bins.bin_of(dmin);
    loop {
        let lo_d = (sp.bins.lower_edges()[b] as u64).max(dmin);
        let hi_d = sp.bins.upper(b).min(dmax + 1); // exclusive
                                                   // d in [lo_d, hi_d) ⇔ jl in (dmax − hi_d, dmax − lo_d]
        let jl_start = (dmax + 1 - hi_d) as usize;
        let jl_end = (dmax - lo_d) as usize + 1;
        hist[b] += sum8(&p[jl_start..jl_end]) as f64;
        if hi_d > dmax || b + 1 >= hist.len() {
            break;
        }
        b += 1;
    }
}

/// Σ x, with 8 independent lanes (vectorises; also more accurate than a serial sum).
#[inline(always)]
fn sum8(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    let mut tail = 0f32;
    for &v in rest {
        tail += v;
    }
    (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) + tail
}

/// Σ a·b with 8 lanes.
#[inline(always)]
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))) + tail
}

/// Σ p·(dmax − offs) in f64 with 4 lanes: distances reach 10⁵ and the mean
/// distance is compared at 10⁻⁵, beyond what f32 sums keep.
#[inline(always)]
fn dist_dot(p: &[f32], dmax: f64, offs: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let cp = p.chunks_exact(4);
    let co = offs.chunks_exact(4);
    let (rp, ro) = (cp.remainder(), co.remainder());
    for (x, o) in cp.zip(co) {
        for k in 0..4 {
            acc[k] += x[k] as f64 * (dmax - o[k]);
        }
    }
    let mut tail = 0f64;
    for (&x, o) in rp.iter().zip(ro) {
        tail += x as f64 * (dmax - o);
    }
    ((acc[0] + acc[2]) + (acc[1] + acc[3])) + tail
}

/// e^x for x ≤ 0 (Cephes expf: range reduction by ln 2 and a degree-6
/// polynomial; ~1 ulp), branch-free so that loops over it vectorise.
#[inline(always)]
fn exp_f32<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let xc = x.max(-87.0);
    let n = (xc * LOG2E + ROUND) - ROUND;
    let r = madd::<FMA>(-n, C2, madd::<FMA>(-n, C1, xc));
    let mut p = 1.987_569_1e-4f32;
    p = madd::<FMA>(p, r, 1.398_2e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 0.166_666_65);
    p = madd::<FMA>(p, r, 0.5);
    let y = madd::<FMA>(p, r * r, r) + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < -87.0 {
        0.0
    } else {
        y * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate_on_the_softmax_range() {
        let mut worst = 0f64;
        let mut x = -100.0f32;
        while x <= 0.0 {
            let exact = (x as f64).exp();
            for got in [exp_f32::<false>(x) as f64, exp_f32::<true>(x) as f64] {
                if exact > 1e-30 {
                    worst = worst.max(((got - exact) / exact).abs());
                } else {
                    assert!(got < 1e-30, "exp({x}) = {got}");
                }
            }
            x += 0.001;
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp_f32::<false>(0.0), 1.0);
        assert_eq!(exp_f32::<false>(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn lane_sums_match_serial_sums() {
        let x: Vec<f32> = (0..77).map(|i| (i as f32 * 0.37).sin()).collect();
        let y: Vec<f32> = (0..77).map(|i| (i as f32 * 0.11).cos()).collect();
        let serial: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((sum8(&x) as f64 - serial).abs() < 1e-5);
        let dot: f64 = x.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
        assert!((dot8(&x, &y) as f64 - dot).abs() < 1e-5);
        let offs: Vec<f64> = (0..77).map(|v| v as f64).collect();
        let dd: f64 = x
            .iter()
            .enumerate()
            .map(|(j, &a)| a as f64 * (100.0 - j as f64))
            .sum();
        assert!((dist_dot(&x, 100.0, &offs) - dd).abs() < 1e-9);
    }
}
