// Fused causal GQA attention with the per-row attention statistics of
// src/stats/attn.rs, in one pass over the keys (FlashAttention-style
// tiling with the online-softmax rescaling trick). The CPU reference is
// src/model/attention_stream.rs; definitions are those of the METRICS notes.
//
// Layouts (row-major, contiguous):
//   q   [heads, t, D]        k, v [kv_heads, t, D]        (float or bf16)
//   out [t, heads, D] float  (the CPU path's output layout)
// Query head h reads KV head h / (heads / kv_heads).
//
// Per query row i (keys j <= i, scores s_ij = scale * q_i . k_j, d = i - j),
// with running max m, l = sum e^{s-m} and, for every statistic f, an
// accumulator sum e^{s-m} f rescaled by e^{m_old - m_new} when m grows:
//   mean distance  sum a d;   entropy  H = ln l - A / l  with  A = sum e^{s-m} (s - m)
//   sink mass (j < n_sink);   local mass (d < window);   max weight 1 / l and
//   the distance of the first key reaching the max;   mass per distance bin
//   (lower edges, last bin open).
//
// Thread block: 128 threads, BQ = 64 query rows, key blocks of BK = 64.
// Per key block: (1) K tile to shared (transposed), S = scale Q K^T with a
// 4x8 register tile per thread; (2) V tile to shared while each row's two
// threads (32 keys each) take the block max, rescale, form P = e^{S - m} and
// accumulate the statistics; (3) O = alpha O + P V with a 4 x D/8 register
// tile per thread. Accumulation is f32 (bf16 inputs are widened on load);
// cross-block sums of l, A and the mean distance are f64, like the CPU path.
//
// Histogram: a thread visits its keys in order of decreasing distance (key
// blocks ascend, keys within its half ascend), so its bins are visited in
// decreasing order and only one bin is open at a time. The open bin's mass is
// kept relative to the running max like the other accumulators; when the
// thread leaves a bin it stores (mass, m) once to shared memory, and the
// final value is mass * e^{m_stored - m_final} / l. No per-bin rescaling.
//
// STATS = false compiles every statistic out: same tiling, same softmax.
//
// Statistics outputs (only rows row_lo <= i < row_hi are measured):
//   per_row = 1: row_{md,ent,sink,local,maxw} [heads, rows] float,
//                row_arg [heads, rows] uint32, row_hist [heads, rows, nb] float;
//   per_row = 0: per-head sums (atomics; the arrays must be zeroed):
//                sum_hist [heads, nb] f64, sum_mdhist [heads, nb] u64 (per-row
//                mean distances binned), sum_scal [heads, 6] f64 (mean distance,
//                its square, entropy, sink, local, max weight), sum_rows [heads] u64.

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <stdint.h>
#endif

namespace attn_stats {

constexpr int NT = 128;        // threads per block
constexpr int BQ = 64;         // query rows per block
constexpr int BK = 64;         // keys per key block
constexpr int MAX_BINS = 64;   // distance bins supported
constexpr int SS = BK + 1;     // row stride of the score tile (floats)
constexpr int N_SCAL = 6;      // scalar sums per head in summary mode

// widened load of one input element
__device__ __forceinline__ float widen(float x) { return x; }
__device__ __forceinline__ float widen(__nv_bfloat16 x) { return __bfloat162float(x); }

// shared-memory row stride of the transposed Q and K tiles, in elements:
// odd in 32-bit words so that the transposing stores do not conflict
template <typename T> struct Stride { static constexpr int value = BQ + 1; };
template <> struct Stride<__nv_bfloat16> { static constexpr int value = BQ + 2; };

// Dynamic shared memory (bytes), computed the same way by src/gpu:
//   align16((D*ST + max(D*ST, BK*D)) * sizeof(T))   Q^T tile, then K^T or V tile
//   + (BQ*SS + 2*BQ + MAX_BINS) * 4                   scores/P, alpha, 1/l, bin edges
//   + (STATS ? BQ*2*nb*8 : 0)                         per-(row, half) bin store

struct Params {
  int t, heads, kv_heads, nb, n_sink, local_w, row_lo, row_hi, per_row;
  float scale;
};

__device__ __forceinline__ int bin_of(const unsigned *edges, int nb, unsigned long long d) {
  // number of lower edges <= d, minus one (edges[0] == 0)
  int lo = 0, hi = nb;  // invariant: edges[lo] <= d, answer in [lo, hi)
  while (hi - lo > 1) {
    int mid = (lo + hi) >> 1;
    if ((unsigned long long)edges[mid] <= d) lo = mid; else hi = mid;
  }
  return lo;
}

template <typename T, int D, bool STATS>
__device__ __forceinline__ void attn_body(
    const T *__restrict__ q, const T *__restrict__ k, const T *__restrict__ v,
    float *__restrict__ out, const unsigned *__restrict__ bin_edges,
    float *__restrict__ row_md, float *__restrict__ row_ent, float *__restrict__ row_sink,
    float *__restrict__ row_local, float *__restrict__ row_maxw, unsigned *__restrict__ row_arg,
    float *__restrict__ row_hist, double *__restrict__ sum_hist,
    unsigned long long *__restrict__ sum_mdhist, double *__restrict__ sum_scal,
    unsigned long long *__restrict__ sum_rows, const Params p) {
  static_assert(D % 8 == 0 && D >= 32, "head_dim must be a multiple of 8");
  constexpr int ST = Stride<T>::value;
  constexpr int KV_ELEMS = (D * ST > BK * D) ? D * ST : BK * D;
  constexpr int DV = D / 8;  // output columns per thread

  extern __shared__ __align__(16) unsigned char smem[];
  T *sQt = reinterpret_cast<T *>(smem);                        // [D][ST]
  T *sKV = sQt + D * ST;                                       // Kt [D][ST] or V [BK][D]
  // float region, 16-byte aligned
  size_t off = ((size_t)(D * ST + KV_ELEMS) * sizeof(T) + 15) & ~(size_t)15;
  float *sS = reinterpret_cast<float *>(smem + off);           // [BQ][SS]
  float *sAlpha = sS + BQ * SS;                                 // [BQ]
  float *sInvL = sAlpha + BQ;                                   // [BQ]
  unsigned *sEdges = reinterpret_cast<unsigned *>(sInvL + BQ);  // [MAX_BINS]
  float2 *sBin = reinterpret_cast<float2 *>(sEdges + MAX_BINS); // [BQ][2][nb]

  const int tid = threadIdx.x;
  const int T_ = p.t;
  const int nqb = (T_ + BQ - 1) / BQ;
  const int qb = nqb - 1 - (int)blockIdx.x;  // longest query blocks first
  const int h = blockIdx.y;
  const int g = h / (p.heads / p.kv_heads);
  const int q0 = qb * BQ;
  const int nb = p.nb;

  const T *qh = q + (size_t)h * T_ * D;
  const T *kg = k + (size_t)g * T_ * D;
  const T *vg = v + (size_t)g * T_ * D;

  // Q tile, transposed: sQt[c][r]; rows past the end are zero
  for (int idx = tid; idx < BQ * D; idx += NT) {
    int r = idx / D, c = idx % D;
    int i = q0 + r;
    sQt[c * ST + r] = (i < T_) ? qh[(size_t)i * D + c] : T(0.0f);
  }
  if constexpr (STATS) {
    for (int b = tid; b < MAX_BINS; b += NT) sEdges[b] = (b < nb) ? bin_edges[b] : 0xffffffffu;
    for (int x = tid; x < BQ * 2 * nb; x += NT) sBin[x] = make_float2(0.0f, 0.0f);
  }

  // register tiles: thread (ty, tx), ty = tid / 8 in 0..15, tx = tid % 8;
  // rows ty + 16 a (a = 0..3); score columns tx + 8 b (b = 0..7); output
  // columns tx + 8 b (b = 0..DV-1)
  const int ty = tid >> 3, tx = tid & 7;
  float o[4][DV];
#pragma unroll
  for (int a = 0; a < 4; ++a)
#pragma unroll
    for (int b = 0; b < DV; ++b) o[a][b] = 0.0f;

  // softmax / statistics role: row r = tid / 2, half = tid % 2 (keys 32 half .. +31)
  const int sr = tid >> 1, half = tid & 1;
  const int si = q0 + sr;  // absolute query row
  float m = __int_as_float(0xff800000u);  // -inf
  double l = 0.0;
  // statistics accumulators (relative to m)
  double ent = 0.0, md = 0.0;
  float sink = 0.0f, local = 0.0f;
  int argmax = 0;
  int cur_bin = 0;
  unsigned cur_lo = 0;
  double hmass = 0.0;
  if constexpr (STATS) {
    cur_bin = nb - 1;
  }
  __syncthreads();
  if constexpr (STATS) cur_lo = sEdges[cur_bin];

  const int kend = min(q0 + BQ, T_);  // keys 0..kend-1 are needed by this block
  const int nkb = (kend + BK - 1) / BK;
  for (int kb = 0; kb < nkb; ++kb) {
    const int j0 = kb * BK;
    // (1) K tile, transposed: sKV[c][jl]
    __syncthreads();  // the previous PV step is done with sKV and sS
    for (int idx = tid; idx < BK * D; idx += NT) {
      int jl = idx / D, c = idx % D;
      int j = j0 + jl;
      sKV[c * ST + jl] = (j < T_) ? kg[(size_t)j * D + c] : T(0.0f);
    }
    __syncthreads();
    {
      float acc[4][8];
#pragma unroll
      for (int a = 0; a < 4; ++a)
#pragma unroll
        for (int b = 0; b < 8; ++b) acc[a][b] = 0.0f;
#pragma unroll 4
      for (int c = 0; c < D; ++c) {
        float qa[4], kb8[8];
#pragma unroll
        for (int a = 0; a < 4; ++a) qa[a] = widen(sQt[c * ST + ty + 16 * a]);
#pragma unroll
        for (int b = 0; b < 8; ++b) kb8[b] = widen(sKV[c * ST + tx + 8 * b]);
#pragma unroll
        for (int a = 0; a < 4; ++a)
#pragma unroll
          for (int b = 0; b < 8; ++b) acc[a][b] = fmaf(qa[a], kb8[b], acc[a][b]);
      }
#pragma unroll
      for (int a = 0; a < 4; ++a)
#pragma unroll
        for (int b = 0; b < 8; ++b) sS[(ty + 16 * a) * SS + tx + 8 * b] = acc[a][b] * p.scale;
    }
    __syncthreads();  // S complete; K no longer needed

    // (2a) V tile into sKV: sKV[jl][c]
    for (int idx = tid; idx < BK * D; idx += NT) {
      int jl = idx / D, c = idx % D;
      int j = j0 + jl;
      sKV[jl * D + c] = (j < T_) ? vg[(size_t)j * D + c] : T(0.0f);
    }

    // (2b) online softmax and statistics of row si over keys j0 + 32 half + (0..31)
    {
      float *srow = sS + sr * SS + 32 * half;
      const int jb = j0 + 32 * half;
      // valid keys: j <= si and j < T (si < T implies j <= si < T)
      int nvalid = (si < T_) ? min(32, si - jb + 1) : 0;
      if (nvalid < 0) nvalid = 0;
      float bm = __int_as_float(0xff800000u);
      int barg = 0;
      for (int kk = 0; kk < nvalid; ++kk) {
        float x = srow[kk];
        if (x > bm) { bm = x; barg = 32 * half + kk; }
      }
      // combine the row's two halves (lanes 2r and 2r+1 of one warp)
      float obm = __shfl_xor_sync(0xffffffffu, bm, 1);
      if constexpr (STATS) {
        int obarg = __shfl_xor_sync(0xffffffffu, barg, 1);
        // first occurrence: on a tie the lower half (smaller key index) wins
        if (obm > bm || (obm == bm && obarg < barg)) barg = obarg;
      }
      bm = fmaxf(bm, obm);
      float alpha = 1.0f;
      if (bm > m) {
        alpha = expf(m - bm);  // 0 when m = -inf
        if (l > 0.0) {
          double a64 = (double)alpha;
          if constexpr (STATS) {
            ent = a64 * (ent + (double)(m - bm) * l);
            md *= a64;
            sink *= alpha;
            local *= alpha;
            hmass *= a64;
          }
        } else {
          alpha = 0.0f;  // nothing accumulated yet (O is zero too)
        }
        l *= (double)alpha;
        m = bm;
        if constexpr (STATS) argmax = j0 + barg;
      }
      if (half == 0) sAlpha[sr] = alpha;
      float lb = 0.0f;
      if constexpr (STATS) {
        float entb = 0.0f, mdb = 0.0f, hpart = 0.0f;
        for (int kk = 0; kk < nvalid; ++kk) {
          const int j = jb + kk;
          const float x = srow[kk] - m;
          const float pj = expf(x);
          lb += pj;
          entb = fmaf(pj, x, entb);
          const int dist = si - j;
          mdb = fmaf(pj, (float)dist, mdb);
          if (j < p.n_sink) sink += pj;
          if (dist < p.local_w) local += pj;
          if ((unsigned)dist < cur_lo) {
            // leave the open bin (and any empty ones below it)
            hmass += (double)hpart;
            hpart = 0.0f;
            if (hmass > 0.0) sBin[(sr * 2 + half) * nb + cur_bin] = make_float2((float)hmass, m);
            hmass = 0.0;
            do { --cur_bin; cur_lo = sEdges[cur_bin]; } while ((unsigned)dist < cur_lo);
          }
          hpart += pj;
          srow[kk] = pj;
        }
        hmass += (double)hpart;
        ent += (double)entb;
        md += (double)mdb;
      } else {
        for (int kk = 0; kk < nvalid; ++kk) {
          const float pj = expf(srow[kk] - m);
          lb += pj;
          srow[kk] = pj;
        }
      }
      for (int kk = nvalid; kk < 32; ++kk) srow[kk] = 0.0f;
      l += (double)lb;
    }
    __syncthreads();  // P, alpha and V ready

    // (3) O = alpha O + P V
    {
      float al[4];
#pragma unroll
      for (int a = 0; a < 4; ++a) al[a] = sAlpha[ty + 16 * a];
#pragma unroll
      for (int a = 0; a < 4; ++a)
#pragma unroll
        for (int b = 0; b < DV; ++b) o[a][b] *= al[a];
#pragma unroll 2
      for (int jl = 0; jl < BK; ++jl) {
        float pa[4];
#pragma unroll
        for (int a = 0; a < 4; ++a) pa[a] = sS[(ty + 16 * a) * SS + jl];
#pragma unroll
        for (int b = 0; b < DV; ++b) {
          const float vb = widen(sKV[jl * D + tx + 8 * b]);
#pragma unroll
          for (int a = 0; a < 4; ++a) o[a][b] = fmaf(pa[a], vb, o[a][b]);
        }
      }
    }
  }

  // finalize the row: combine the two halves
  double lrow = l + __shfl_xor_sync(0xffffffffu, l, 1);
  if (half == 0) sInvL[sr] = (lrow > 0.0) ? (float)(1.0 / lrow) : 0.0f;
  if constexpr (STATS) {
    if (hmass > 0.0) sBin[(sr * 2 + half) * nb + cur_bin] = make_float2((float)hmass, m);
  }
  __syncthreads();

  // normalised output, [t, heads, D]
#pragma unroll
  for (int a = 0; a < 4; ++a) {
    const int r = ty + 16 * a;
    const int i = q0 + r;
    if (i < T_) {
      const float inv = sInvL[r];
      float *orow = out + ((size_t)i * p.heads + h) * D;
#pragma unroll
      for (int b = 0; b < DV; ++b) orow[tx + 8 * b] = o[a][b] * inv;
    }
  }

  if constexpr (STATS) {
    ent += __shfl_xor_sync(0xffffffffu, ent, 1);
    md += __shfl_xor_sync(0xffffffffu, md, 1);
    sink += __shfl_xor_sync(0xffffffffu, sink, 1);
    local += __shfl_xor_sync(0xffffffffu, local, 1);
    const bool sel = si < T_ && si >= p.row_lo && si < p.row_hi;
    const int nrows = p.row_hi - p.row_lo;
    const double inv = (lrow > 0.0) ? 1.0 / lrow : 0.0;
    // final histogram of the row: this thread takes bins half, half + 2, ...
    // (written in place into the half-0 slot; each bin is touched by one thread)
    for (int b = half; b < nb; b += 2) {
      const float2 e0 = sBin[(sr * 2 + 0) * nb + b];
      const float2 e1 = sBin[(sr * 2 + 1) * nb + b];
      double val = 0.0;
      if (e0.x > 0.0f) val += (double)e0.x * (double)expf(e0.y - m);
      if (e1.x > 0.0f) val += (double)e1.x * (double)expf(e1.y - m);
      const float hv = (float)(val * inv);
      if (sel && p.per_row) row_hist[((size_t)h * nrows + (si - p.row_lo)) * nb + b] = hv;
      sBin[(sr * 2 + 0) * nb + b].x = hv;
    }
    const double v_md = md * inv;
    const double v_ent = log(lrow) - ent * inv;
    const double v_sink = (double)sink * inv;
    const double v_local = (double)local * inv;
    const double v_maxw = inv;
    if (p.per_row) {
      if (sel && half == 0) {
        const size_t x = (size_t)h * nrows + (si - p.row_lo);
        row_md[x] = (float)v_md;
        row_ent[x] = (float)v_ent;
        row_sink[x] = (float)v_sink;
        row_local[x] = (float)v_local;
        row_maxw[x] = (float)v_maxw;
        row_arg[x] = (unsigned)(si - argmax);
      }
    } else {
      // per-head sums of this block's selected rows: per-row values to shared
      // (the score tile is free now), then one atomic per value and block
      __syncthreads();  // every row's final histogram is in sBin
      double *sRow = reinterpret_cast<double *>(sS);  // [N_SCAL][BQ]
      int *sRowBin = reinterpret_cast<int *>(sRow + N_SCAL * BQ);  // [BQ]
      if (half == 0) {
        sRow[0 * BQ + sr] = sel ? v_md : 0.0;
        sRow[1 * BQ + sr] = sel ? v_md * v_md : 0.0;
        sRow[2 * BQ + sr] = sel ? v_ent : 0.0;
        sRow[3 * BQ + sr] = sel ? v_sink : 0.0;
        sRow[4 * BQ + sr] = sel ? v_local : 0.0;
        sRow[5 * BQ + sr] = sel ? v_maxw : 0.0;
        sRowBin[sr] = sel ? bin_of(sEdges, nb, (unsigned long long)fmax(v_md, 0.0)) : -1;
      }
      __syncthreads();
      if (tid < nb) {
        double hs = 0.0;
        unsigned long long cnt = 0;
        for (int r = 0; r < BQ; ++r) {
          if (sRowBin[r] >= 0) hs += (double)sBin[(r * 2 + 0) * nb + tid].x;
          cnt += (sRowBin[r] == tid) ? 1ull : 0ull;
        }
        if (hs != 0.0) atomicAdd(&sum_hist[(size_t)h * nb + tid], hs);
        if (cnt) atomicAdd(&sum_mdhist[(size_t)h * nb + tid], cnt);
      } else if (tid >= MAX_BINS && tid < MAX_BINS + N_SCAL) {
        const int s = tid - MAX_BINS;
        double acc = 0.0;
        for (int r = 0; r < BQ; ++r) acc += sRow[s * BQ + r];
        if (acc != 0.0) atomicAdd(&sum_scal[(size_t)h * N_SCAL + s], acc);
      } else if (tid == NT - 1) {
        unsigned long long cnt = 0;
        for (int r = 0; r < BQ; ++r) cnt += (sRowBin[r] >= 0) ? 1ull : 0ull;
        if (cnt) atomicAdd(&sum_rows[h], cnt);
      }
    }
  }
}

}  // namespace attn_stats

// extern "C" entry points: attn_stats_{f32,bf16}_d{64,128}_{stats,plain}
#define ATTN_ENTRY(NAME, T, D, STATS)                                                          \
  extern "C" __global__ void __launch_bounds__(attn_stats::NT) NAME(                           \
      const T *q, const T *k, const T *v, float *out, const unsigned *bin_edges,               \
      float *row_md, float *row_ent, float *row_sink, float *row_local, float *row_maxw,       \
      unsigned *row_arg, float *row_hist, double *sum_hist, unsigned long long *sum_mdhist,    \
      double *sum_scal, unsigned long long *sum_rows, int t, int heads, int kv_heads, int nb,  \
      int n_sink, int local_w, int row_lo, int row_hi, int per_row, float scale) {             \
    const attn_stats::Params p{t, heads, kv_heads, nb, n_sink, local_w, row_lo, row_hi,        \
                               per_row, scale};                                                \
    attn_stats::attn_body<T, D, STATS>(q, k, v, out, bin_edges, row_md, row_ent, row_sink,     \
                                       row_local, row_maxw, row_arg, row_hist, sum_hist,       \
                                       sum_mdhist, sum_scal, sum_rows, p);                     \
  }

ATTN_ENTRY(attn_stats_f32_d64_stats, float, 64, true)
ATTN_ENTRY(attn_stats_f32_d64_plain, float, 64, false)
ATTN_ENTRY(attn_stats_f32_d128_stats, float, 128, true)
ATTN_ENTRY(attn_stats_f32_d128_plain, float, 128, false)
ATTN_ENTRY(attn_stats_bf16_d64_stats, __nv_bfloat16, 64, true)
ATTN_ENTRY(attn_stats_bf16_d64_plain, __nv_bfloat16, 64, false)
ATTN_ENTRY(attn_stats_bf16_d128_stats, __nv_bfloat16, 128, true)
ATTN_ENTRY(attn_stats_bf16_d128_plain, __nv_bfloat16, 128, false)
