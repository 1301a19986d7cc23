// Runs kernels/attn_stats.cu on the CPU, one std::thread per CUDA thread
// (barriers for __syncthreads, a per-warp exchange for __shfl_xor_sync), and
// compares it with a materialised double-precision reference of the
// statistics' definitions. This checks the kernel's logic (tiling, masking,
// online rescaling, histogram bin store, reductions) without a GPU; it says
// nothing about the GPU's timing, memory model or compiler.
//
//   g++ -std=c++20 -O2 -pthread -o /tmp/emulate kernels/test/emulate_attn_stats.cpp && /tmp/emulate
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

// ---- CUDA dialect on the host
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(x)
#define __align__(x)
#define __shared__

struct dim3 { unsigned x = 0, y = 0, z = 0; };
thread_local dim3 threadIdx, blockIdx;
struct float2 { float x, y; };
inline float2 make_float2(float a, float b) { return {a, b}; }
inline float __int_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
using std::min;
using std::max;
inline float expf(float x) { return std::exp(x); }
inline float fmaf(float a, float b, float c) { return std::fma(a, b, c); }
inline float fmaxf(float a, float b) { return std::fmax(a, b); }
using std::fmax;
using std::log;

struct __nv_bfloat16 {
  uint16_t bits = 0;
  __nv_bfloat16() = default;
  explicit __nv_bfloat16(float f) {  // round to nearest even
    uint32_t u; std::memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    bits = (uint16_t)(u >> 16);
  }
};
inline float __bfloat162float(__nv_bfloat16 b) {
  uint32_t u = (uint32_t)b.bits << 16; float f; std::memcpy(&f, &u, 4); return f;
}

constexpr int EMU_NT = 128;
std::barrier<> *g_block_bar;
std::barrier<> *g_warp_bar[EMU_NT / 32];
uint64_t g_xchg[EMU_NT];
std::mutex g_atomic;

inline void __syncthreads() { g_block_bar->arrive_and_wait(); }
template <typename V> V __shfl_xor_sync(unsigned, V val, int lanemask) {
  static_assert(sizeof(V) <= 8);
  const int t = threadIdx.x, w = t / 32;
  uint64_t raw = 0; std::memcpy(&raw, &val, sizeof(V));
  g_xchg[t] = raw;
  g_warp_bar[w]->arrive_and_wait();
  uint64_t o = g_xchg[(t & ~31) | ((t & 31) ^ lanemask)];
  g_warp_bar[w]->arrive_and_wait();
  V r; std::memcpy(&r, &o, sizeof(V)); return r;
}
template <typename V> V atomicAdd(V *p, V x) {
  std::lock_guard<std::mutex> g(g_atomic); V old = *p; *p = old + x; return old;
}
namespace attn_stats {
alignas(16) unsigned char smem[240 * 1024];  // the dynamic shared memory of the running block
}

#include "../attn_stats.cu"

// ---- launch: blocks one after another, NT threads each
template <typename F> void launch(unsigned gx, unsigned gy, F f) {
  for (unsigned by = 0; by < gy; ++by)
    for (unsigned bx = 0; bx < gx; ++bx) {
      std::memset(attn_stats::smem, 0xcd, sizeof(attn_stats::smem));  // garbage, as on a GPU
      std::barrier<> bb(EMU_NT);
      std::vector<std::unique_ptr<std::barrier<>>> wb;
      for (int w = 0; w < EMU_NT / 32; ++w) {
        wb.emplace_back(new std::barrier<>(32));
        g_warp_bar[w] = wb.back().get();
      }
      g_block_bar = &bb;
      std::vector<std::thread> th;
      for (int t = 0; t < EMU_NT; ++t)
        th.emplace_back([&, t] {
          threadIdx.x = t; blockIdx.x = bx; blockIdx.y = by;
          f();
        });
      for (auto &x : th) x.join();
    }
}

using EntryF32 = void (*)(const float *, const float *, const float *, float *, const unsigned *,
                          float *, float *, float *, float *, float *, unsigned *, float *,
                          double *, unsigned long long *, double *, unsigned long long *, int, int,
                          int, int, int, int, int, int, int, float);
using EntryBF = void (*)(const __nv_bfloat16 *, const __nv_bfloat16 *, const __nv_bfloat16 *,
                         float *, const unsigned *, float *, float *, float *, float *, float *,
                         unsigned *, float *, double *, unsigned long long *, double *,
                         unsigned long long *, int, int, int, int, int, int, int, int, int, float);

struct Case {
  int t, heads, kv, d;
  bool bf16, stats, per_row;
  std::vector<unsigned> edges;
  int n_sink, local_w, row_lo, row_hi;
};

int g_fail = 0;
void check(const char *what, double got, double want, double tol, const std::string &where) {
  double err = std::fabs(got - want) / std::max(1.0, std::fabs(want));
  if (!(err <= tol)) {
    if (g_fail < 20) std::printf("  MISMATCH %s %s: got %.9g want %.9g\n", what, where.c_str(), got, want);
    ++g_fail;
  }
}

void run_case(const Case &c, std::mt19937 &rng) {
  const int T = c.t, H = c.heads, G = c.kv, D = c.d, nb = (int)c.edges.size();
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto rnd = [&](size_t n, float sc) {
    std::vector<float> x(n);
    for (auto &y : x) y = nd(rng) * sc;
    if (c.bf16) for (auto &y : x) y = __bfloat162float(__nv_bfloat16(y));
    return x;
  };
  // scores of a few units so that the distributions are neither flat nor one-hot
  auto q = rnd((size_t)H * T * D, 1.5f), k = rnd((size_t)G * T * D, 1.5f), v = rnd((size_t)G * T * D, 1.0f);
  const float scale = 1.0f / std::sqrt((float)D);
  const int nrows = c.row_hi - c.row_lo;
  std::vector<float> out((size_t)T * H * D, NAN);
  std::vector<float> md(H * nrows, NAN), ent(H * nrows, NAN), sink(H * nrows, NAN), loc(H * nrows, NAN),
      mw(H * nrows, NAN), hist((size_t)H * nrows * nb, NAN);
  std::vector<unsigned> arg(H * nrows, 0xffffffffu);
  std::vector<double> shist(H * nb, 0.0), sscal(H * 6, 0.0);
  std::vector<unsigned long long> smdh(H * nb, 0), srows(H, 0);
  const int nqb = (T + attn_stats::BQ - 1) / attn_stats::BQ;
  std::string name = std::string("attn_stats_") + (c.bf16 ? "bf16" : "f32") + "_d" + std::to_string(D) +
                     (c.stats ? "_stats" : "_plain");
  std::vector<__nv_bfloat16> qb, kb, vb;
  auto tob = [](const std::vector<float> &x) {
    std::vector<__nv_bfloat16> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = __nv_bfloat16(x[i]);
    return y;
  };
  if (c.bf16) { qb = tob(q); kb = tob(k); vb = tob(v); }
  EntryF32 ef = nullptr; EntryBF eb = nullptr;
  if (name == "attn_stats_f32_d64_stats") ef = attn_stats_f32_d64_stats;
  if (name == "attn_stats_f32_d64_plain") ef = attn_stats_f32_d64_plain;
  if (name == "attn_stats_f32_d128_stats") ef = attn_stats_f32_d128_stats;
  if (name == "attn_stats_f32_d128_plain") ef = attn_stats_f32_d128_plain;
  if (name == "attn_stats_bf16_d64_stats") eb = attn_stats_bf16_d64_stats;
  if (name == "attn_stats_bf16_d64_plain") eb = attn_stats_bf16_d64_plain;
  if (name == "attn_stats_bf16_d128_stats") eb = attn_stats_bf16_d128_stats;
  if (name == "attn_stats_bf16_d128_plain") eb = attn_stats_bf16_d128_plain;
  launch(nqb, H, [&] {
    if (ef)
      ef(q.data(), k.data(), v.data(), out.data(), c.edges.data(), md.data(), ent.data(), sink.data(),
         loc.data(), mw.data(), arg.data(), hist.data(), shist.data(), smdh.data(), sscal.data(),
         srows.data(), T, H, G, nb, c.n_sink, c.local_w, c.row_lo, c.row_hi, c.per_row, scale);
    else
      eb(qb.data(), kb.data(), vb.data(), out.data(), c.edges.data(), md.data(), ent.data(),
         sink.data(), loc.data(), mw.data(), arg.data(), hist.data(), shist.data(), smdh.data(),
         sscal.data(), srows.data(), T, H, G, nb, c.n_sink, c.local_w, c.row_lo, c.row_hi,
         c.per_row, scale);
  });

  // reference: materialised rows in double
  const int before = g_fail;
  std::vector<double> rs_hist(H * nb, 0.0), rs_scal(H * 6, 0.0);
  std::vector<unsigned long long> rs_mdh(H * nb, 0);
  auto bin_of = [&](unsigned long long dd) {
    int b = 0; while (b + 1 < nb && c.edges[b + 1] <= dd) ++b; return b;
  };
  for (int h = 0; h < H; ++h) {
    const int g = h / (H / G);
    for (int i = 0; i < T; ++i) {
      std::vector<double> s(i + 1);
      double mx = -1e300;
      for (int j = 0; j <= i; ++j) {
        double x = 0;
        for (int e = 0; e < D; ++e) x += (double)q[((size_t)h * T + i) * D + e] * k[((size_t)g * T + j) * D + e];
        s[j] = x * scale; mx = std::max(mx, s[j]);
      }
      double l = 0;
      for (auto &x : s) { x = std::exp(x - mx); l += x; }
      for (auto &x : s) x /= l;
      for (int e = 0; e < D; ++e) {
        double o = 0;
        for (int j = 0; j <= i; ++j) o += s[j] * v[((size_t)g * T + j) * D + e];
        check("out", out[((size_t)i * H + h) * D + e], o, c.bf16 ? 1e-5 : 1e-5,
              "h" + std::to_string(h) + " i" + std::to_string(i) + " e" + std::to_string(e));
      }
      if (!c.stats || i < c.row_lo || i >= c.row_hi) continue;
      double rmd = 0, rent = 0, rsink = 0, rloc = 0, rmw = -1; unsigned rarg = 0;
      std::vector<double> rh(nb, 0.0);
      for (int j = 0; j <= i; ++j) {
        double a = s[j]; int dd = i - j;
        rmd += a * dd; if (a > 0) rent -= a * std::log(a);
        rh[bin_of(dd)] += a;
        if (j < c.n_sink) rsink += a;
        if (dd < c.local_w) rloc += a;
        if (a > rmw) { rmw = a; rarg = dd; }
      }
      const std::string where = "h" + std::to_string(h) + " i" + std::to_string(i);
      if (c.per_row) {
        const size_t x = (size_t)h * nrows + (i - c.row_lo);
        check("mean_distance", md[x], rmd, 1e-5, where);
        check("entropy", ent[x], rent, 1e-5, where);
        check("sink", sink[x], rsink, 1e-5, where);
        check("local", loc[x], rloc, 1e-5, where);
        check("max_weight", mw[x], rmw, 1e-5, where);
        if (arg[x] != rarg) check("argmax_distance", arg[x], rarg, 0.0, where);
        for (int b = 0; b < nb; ++b) check("hist", hist[x * nb + b], rh[b], 1e-5, where + " b" + std::to_string(b));
      } else {
        for (int b = 0; b < nb; ++b) rs_hist[h * nb + b] += rh[b];
        rs_mdh[h * nb + bin_of((unsigned long long)std::max(rmd, 0.0))] += 1;
        double vals[6] = {rmd, rmd * rmd, rent, rsink, rloc, rmw};
        for (int t2 = 0; t2 < 6; ++t2) rs_scal[h * 6 + t2] += vals[t2];
      }
    }
    if (c.stats && !c.per_row) {
      const std::string where = "h" + std::to_string(h);
      check("n_rows", (double)srows[h], (double)nrows, 0.0, where);
      for (int b = 0; b < nb; ++b) {
        check("hist_sum", shist[h * nb + b], rs_hist[h * nb + b], 1e-5, where + " b" + std::to_string(b));
        check("mean_distance_hist", (double)smdh[h * nb + b], (double)rs_mdh[h * nb + b], 0.0, where);
      }
      for (int t2 = 0; t2 < 6; ++t2) check("scalar_sum", sscal[h * 6 + t2], rs_scal[h * 6 + t2], 1e-5, where + " s" + std::to_string(t2));
    }
  }
  std::printf("%-28s t=%-5d heads=%d/%d nb=%-2d rows=%d..%d per_row=%d: %s\n", name.c_str(), T, H, G, nb,
              c.row_lo, c.row_hi, (int)c.per_row, g_fail == before ? "ok" : "FAILED");
}

int main() {
  std::mt19937 rng(7);
  std::vector<unsigned> def = {0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384,
                               512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384,
                               24576, 32768, 65536};
  std::vector<unsigned> odd = {0, 1, 5, 7, 30, 31, 33, 100};
  std::vector<Case> cases;
  for (int t : {1, 63, 64, 65, 130, 200})
    for (bool bf : {false, true}) {
      cases.push_back({t, 4, 2, 64, bf, true, true, def, 4, 64, 0, t});
      cases.push_back({t, 4, 2, 64, bf, false, true, def, 4, 64, 0, t});
    }
  cases.push_back({200, 4, 2, 64, false, true, false, def, 4, 64, 0, 200});
  cases.push_back({200, 4, 1, 128, false, true, true, odd, 3, 17, 150, 197});
  cases.push_back({200, 4, 1, 128, true, true, false, odd, 3, 17, 70, 200});
  cases.push_back({129, 2, 2, 128, false, true, true, def, 4, 64, 0, 129});
  cases.push_back({129, 2, 2, 128, true, false, true, def, 4, 64, 0, 129});
  cases.push_back({1100, 2, 1, 64, false, true, true, def, 4, 64, 0, 1100});
  cases.push_back({1100, 2, 1, 64, true, true, false, def, 4, 64, 0, 1100});
  for (auto &c : cases) run_case(c, rng);
  std::printf("%d mismatches\n", g_fail);
  return g_fail ? 1 : 0;
}
