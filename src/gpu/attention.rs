//! Host side of `kernels/attn_stats.cu`: module loading, buffers, launches,
//! and the assembly of [`StreamOutput`] exactly as the CPU streaming path
//! ([`crate::model::attention_stream::stream_attention`]) lays it out.

use std::sync::Arc;

use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags, CUfunction_attribute};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, LaunchConfig,
    PushKernelArg, ValidAsZeroBits,
};
use cudarc::nvrtc::Ptx;
use rayon::prelude::*;

use super::error::{DriverContext, GpuError, GpuResult};
use crate::model::attention_stream::{StreamInput, StreamOutput, StreamStats};
use crate::stats::attn::{AttnStatsSpec, AttnSummary, RowStats};

// must match kernels/attn_stats.cu
const NT: u32 = 128;
const BQ: usize = 64;
const BK: usize = 64;
const SS: usize = BK + 1;
const MAX_BINS: usize = 64;
const N_SCAL: usize = 6;
/// Head dimensions the kernel is instantiated for.
pub const HEAD_DIMS: [usize; 2] = [64, 128];

/// Element type of q, k and v on the device (accumulation is f32 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuDtype {
    F32,
    Bf16,
}

impl GpuDtype {
    pub fn name(self) -> &'static str {
        match self {
            GpuDtype::F32 => "f32",
            GpuDtype::Bf16 => "bf16",
        }
    }

    /// Parses `f32` or `bf16`.
    pub fn parse(s: &str) -> GpuResult<Self> {
        match s {
            "f32" => Ok(GpuDtype::F32),
            "bf16" => Ok(GpuDtype::Bf16),
            _ => Err(GpuError::Unsupported(format!(
                "unknown dtype `{s}`: expected f32 or bf16"
            ))),
        }
    }

    fn size(self) -> usize {
        match self {
            GpuDtype::F32 => 4,
            GpuDtype::Bf16 => 2,
        }
    }

    /// Row stride of the kernel's transposed Q/K tiles, in elements.
    fn tile_stride(self) -> usize {
        match self {
            GpuDtype::F32 => BQ + 1,
            GpuDtype::Bf16 => BQ + 2,
        }
    }
}

/// One layer's attention inputs on the host, f32, contiguous. Unlike
/// [`StreamInput`] the keys are not transposed.
#[derive(Debug, Clone, Copy)]
pub struct GpuInput<'a> {
    /// Queries [heads, t, d].
    pub q: &'a [f32],
    /// Keys [kv_heads, t, d].
    pub k: &'a [f32],
    /// Values [kv_heads, t, d].
    pub v: &'a [f32],
    pub heads: usize,
    pub kv_heads: usize,
    pub t: usize,
    pub d: usize,
    /// Softmax scale applied to q·k (1/√d).
    pub scale: f32,
}

impl GpuInput<'_> {
    fn validate(&self) -> GpuResult<()> {
        let (h, g, t, d) = (self.heads, self.kv_heads, self.t, self.d);
        if g == 0 || h % g != 0 {
            return Err(GpuError::Unsupported(format!(
                "{h} query heads cannot share {g} key/value heads"
            )));
        }
        if !HEAD_DIMS.contains(&d) {
            return Err(GpuError::Unsupported(format!(
                "the CUDA attention kernel is built for head_dim {HEAD_DIMS:?}, got {d}"
            )));
        }
        if t == 0 || t > i32::MAX as usize / 2 || h > 65_535 {
            return Err(GpuError::Unsupported(format!(
                "sequence length {t} / {h} heads out of the kernel's range (1..2^30 tokens, ≤ 65535 heads)"
            )));
        }
        if self.q.len() != h * t * d || self.k.len() != g * t * d || self.v.len() != g * t * d {
            return Err(GpuError::Unsupported(format!(
                "attention inputs have lengths q={}, k={}, v={}; expected {}, {}, {}",
                self.q.len(),
                self.k.len(),
                self.v.len(),
                h * t * d,
                g * t * d,
                g * t * d
            )));
        }
        Ok(())
    }
}

/// Keys [kv_heads, t, d] from the CPU path's transposed keys [kv_heads, d, t].
pub fn keys_from_transposed(inp: &StreamInput<'_>) -> Vec<f32> {
    let (g, t, d) = (inp.kv_heads, inp.t, inp.d);
    let mut k = vec![0f32; g * t * d];
    k.par_chunks_mut(t * d).enumerate().for_each(|(gi, dst)| {
        let src = &inp.kt[gi * d * t..(gi + 1) * d * t];
        for c in 0..d {
            for j in 0..t {
                dst[j * d + c] = src[c * t + j];
            }
        }
    });
    k
}

/// Rounds to the nearest bf16 and back (what the bf16 kernel sees).
pub fn round_bf16(x: &[f32]) -> Vec<f32> {
    x.par_iter()
        .map(|&v| half::bf16::from_f32(v).to_f32())
        .collect()
}

enum DevBuf {
    F32(CudaSlice<f32>),
    Bf16(CudaSlice<u16>),
}

/// q, k, v uploaded once (reused across runs, e.g. statistics on and off).
pub struct DeviceInputs {
    q: DevBuf,
    k: DevBuf,
    v: DevBuf,
    pub dtype: GpuDtype,
    pub heads: usize,
    pub kv_heads: usize,
    pub t: usize,
    pub d: usize,
    pub scale: f32,
}

impl DeviceInputs {
    /// Bytes of q, k and v on the device.
    pub fn bytes(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.t * self.d * self.dtype.size()
    }
}

/// One kernel run with its outputs copied back.
pub struct GpuRun {
    pub output: StreamOutput,
    /// Kernel time (CUDA events), milliseconds.
    pub kernel_ms: f32,
    /// Bytes of device buffers of the run: inputs, output and statistics.
    pub device_bytes: usize,
}

/// Timing of repeated launches (no copies back).
#[derive(Debug, Clone, Copy)]
pub struct GpuTiming {
    /// Fastest launch, milliseconds.
    pub min_ms: f32,
    /// Median launch, milliseconds.
    pub median_ms: f32,
    /// Bytes of device buffers: inputs, output and statistics.
    pub device_bytes: usize,
    /// Device memory in use (all processes) while the buffers were held.
    pub device_used: usize,
}

/// Device buffers of one run's outputs.
struct OutBufs {
    out: CudaSlice<f32>,
    edges: Option<CudaSlice<u32>>,
    row_f: Option<[CudaSlice<f32>; 5]>,
    row_arg: Option<CudaSlice<u32>>,
    row_hist: Option<CudaSlice<f32>>,
    sum_hist: Option<CudaSlice<f64>>,
    sum_mdhist: Option<CudaSlice<u64>>,
    sum_scal: Option<CudaSlice<f64>>,
    sum_rows: Option<CudaSlice<u64>>,
    rows: std::ops::Range<usize>,
    bytes: usize,
}

/// The CUDA attention kernel, loaded on one device.
pub struct GpuAttention {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    module: Arc<CudaModule>,
    /// Which embedded image the driver accepted: "sm_90 cubin" or "PTX (JIT)".
    pub image: &'static str,
}

impl GpuAttention {
    /// Opens device `ordinal` and loads the kernels (cubin, else PTX).
    pub fn new(ordinal: usize) -> GpuResult<Self> {
        let ctx = CudaContext::new(ordinal).ctx(&format!(
            "opening device {ordinal} (needs an NVIDIA driver, R580+ / CUDA 13.0)"
        ))?;
        let stream = ctx.default_stream();
        let (module, image) =
            match ctx.load_module(Ptx::from_binary(super::ATTN_STATS_CUBIN.to_vec())) {
                Ok(m) => (m, "sm_90 cubin"),
                Err(_) => (
                    ctx.load_module(Ptx::from_src(super::ATTN_STATS_PTX)).ctx(
                        "loading the attention kernel's PTX (ISA 9.0 needs a CUDA 13.0+ driver)",
                    )?,
                    "PTX (JIT)",
                ),
            };
        Ok(GpuAttention {
            ctx,
            stream,
            module,
            image,
        })
    }

    /// "NAME, sm_XY, N GiB, driver image".
    pub fn describe(&self) -> GpuResult<String> {
        let name = self.ctx.name().ctx("reading the device name")?;
        let (ma, mi) = self
            .ctx
            .compute_capability()
            .ctx("reading the compute capability")?;
        let total = self.ctx.total_mem().ctx("reading the device memory")?;
        Ok(format!(
            "{name}, sm_{ma}{mi}, {:.1} GiB, kernel from {}",
            total as f64 / (1u64 << 30) as f64,
            self.image
        ))
    }

    /// Device memory in use (total − free), all processes.
    pub fn device_used(&self) -> GpuResult<usize> {
        let (free, total) = self.ctx.mem_get_info().ctx("cuMemGetInfo")?;
        Ok(total.saturating_sub(free))
    }

    fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> GpuResult<CudaSlice<T>> {
        self.stream
            .alloc_zeros::<T>(n.max(1))
            .ctx(&format!("allocating {n} elements"))
    }

    /// Uploads q, k and v as `dtype`.
    pub fn upload(&self, inp: &GpuInput<'_>, dtype: GpuDtype) -> GpuResult<DeviceInputs> {
        inp.validate()?;
        let up = |x: &[f32], what: &str| -> GpuResult<DevBuf> {
            Ok(match dtype {
                GpuDtype::F32 => DevBuf::F32(
                    self.stream
                        .clone_htod(x)
                        .ctx(&format!("copying {what} to the device"))?,
                ),
                GpuDtype::Bf16 => {
                    let bits: Vec<u16> = x
                        .par_iter()
                        .map(|&v| half::bf16::from_f32(v).to_bits())
                        .collect();
                    DevBuf::Bf16(
                        self.stream
                            .clone_htod(&bits)
                            .ctx(&format!("copying {what} to the device"))?,
                    )
                }
            })
        };
        Ok(DeviceInputs {
            q: up(inp.q, "q")?,
            k: up(inp.k, "k")?,
            v: up(inp.v, "v")?,
            dtype,
            heads: inp.heads,
            kv_heads: inp.kv_heads,
            t: inp.t,
            d: inp.d,
            scale: inp.scale,
        })
    }

    fn function(&self, dev: &DeviceInputs, stats: bool) -> GpuResult<CudaFunction> {
        let name = format!(
            "attn_stats_{}_d{}_{}",
            dev.dtype.name(),
            dev.d,
            if stats { "stats" } else { "plain" }
        );
        self.module
            .load_function(&name)
            .ctx(&format!("looking up kernel {name}"))
    }

    /// Dynamic shared memory of one block (the layout of kernels/attn_stats.cu).
    fn smem_bytes(dtype: GpuDtype, d: usize, nbins: Option<usize>) -> usize {
        let st = dtype.tile_stride();
        let kv = (d * st).max(BK * d);
        let head = ((d * st + kv) * dtype.size() + 15) & !15;
        head + (BQ * SS + 2 * BQ + MAX_BINS) * 4 + nbins.map_or(0, |nb| BQ * 2 * nb * 8)
    }

    fn alloc_out(&self, dev: &DeviceInputs, spec: Option<&AttnStatsSpec>) -> GpuResult<OutBufs> {
        let (h, t, d) = (dev.heads, dev.t, dev.d);
        let mut b = OutBufs {
            out: self.zeros::<f32>(t * h * d)?,
            edges: None,
            row_f: None,
            row_arg: None,
            row_hist: None,
            sum_hist: None,
            sum_mdhist: None,
            sum_scal: None,
            sum_rows: None,
            rows: 0..0,
            bytes: t * h * d * 4,
        };
        let Some(spec) = spec else { return Ok(b) };
        let nb = spec.bins.len();
        if nb == 0 || nb > MAX_BINS {
            return Err(GpuError::Unsupported(format!(
                "the CUDA kernel supports 1..={MAX_BINS} distance bins, got {nb}"
            )));
        }
        b.rows = spec.rows.range(t)?;
        let edges: Vec<u32> = spec.bins.lower_edges().to_vec();
        b.edges = Some(
            self.stream
                .clone_htod(&edges)
                .ctx("copying the bin edges")?,
        );
        if spec.per_row {
            let n = h * b.rows.len();
            b.row_f = Some([
                self.zeros(n)?,
                self.zeros(n)?,
                self.zeros(n)?,
                self.zeros(n)?,
                self.zeros(n)?,
            ]);
            b.row_arg = Some(self.zeros(n)?);
            b.row_hist = Some(self.zeros(n * nb)?);
            b.bytes += n * (6 + nb) * 4;
        } else {
            b.sum_hist = Some(self.zeros(h * nb)?);
            b.sum_mdhist = Some(self.zeros(h * nb)?);
            b.sum_scal = Some(self.zeros(h * N_SCAL)?);
            b.sum_rows = Some(self.zeros(h)?);
            b.bytes += h * (nb * 16 + N_SCAL * 8 + 8);
        }
        b.bytes += nb * 4;
        Ok(b)
    }

    /// Launches once and returns the kernel time (ms).
    fn launch(
        &self,
        dev: &DeviceInputs,
        spec: Option<&AttnStatsSpec>,
        b: &mut OutBufs,
    ) -> GpuResult<f32> {
        let func = self.function(dev, spec.is_some())?;
        let nb = spec.map(|s| s.bins.len());
        let smem = Self::smem_bytes(dev.dtype, dev.d, nb);
        let optin = self
            .ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
            .ctx("reading the shared-memory limit")? as usize;
        if smem > optin {
            return Err(GpuError::Unsupported(format!(
                "the kernel needs {smem} bytes of shared memory per block ({} bins), the device allows {optin}",
                nb.unwrap_or(0)
            )));
        }
        func.set_attribute(
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            smem as i32,
        )
        .ctx("setting the kernel's shared-memory size")?;
        // reset the atomically accumulated sums
        for s in [&mut b.sum_hist, &mut b.sum_scal].into_iter().flatten() {
            self.stream.memset_zeros(s).ctx("clearing sums")?;
        }
        for s in [&mut b.sum_mdhist, &mut b.sum_rows].into_iter().flatten() {
            self.stream.memset_zeros(s).ctx("clearing sums")?;
        }

        let null = 0u64;
        let t = dev.t as i32;
        let heads = dev.heads as i32;
        let kv_heads = dev.kv_heads as i32;
        let nb_i = nb.unwrap_or(0) as i32;
        let clamp = |x: usize| x.min(i32::MAX as usize) as i32;
        let n_sink = spec.map_or(0, |s| clamp(s.sink_tokens));
        let local_w = spec.map_or(0, |s| clamp(s.local_window));
        let row_lo = b.rows.start as i32;
        let row_hi = b.rows.end as i32;
        let per_row = spec.map_or(0, |s| s.per_row as i32);
        let scale = dev.scale;

        let mut l = self.stream.launch_builder(&func);
        match (&dev.q, &dev.k, &dev.v) {
            (DevBuf::F32(q), DevBuf::F32(k), DevBuf::F32(v)) => l.arg(q).arg(k).arg(v),
            (DevBuf::Bf16(q), DevBuf::Bf16(k), DevBuf::Bf16(v)) => l.arg(q).arg(k).arg(v),
            _ => unreachable!("q, k and v are uploaded with one dtype"),
        };
        l.arg(&b.out);
        match &b.edges {
            Some(e) => l.arg(e),
            None => l.arg(&null),
        };
        match &b.row_f {
            Some(r) => {
                for x in r {
                    l.arg(x);
                }
            }
            None => {
                for _ in 0..5 {
                    l.arg(&null);
                }
            }
        }
        match &b.row_arg {
            Some(x) => l.arg(x),
            None => l.arg(&null),
        };
        match &b.row_hist {
            Some(x) => l.arg(x),
            None => l.arg(&null),
        };
        match &b.sum_hist {
            Some(x) => l.arg(x),
            None => l.arg(&null),
        };
        match &b.sum_mdhist {
            Some(x) => l.arg(x),
            None => l.arg(&null),
        };
        match &b.sum_scal {
            Some(x) => l.arg(x),
            None => l.arg(&null),
        };
        match &b.sum_rows {
            Some(x) => l.arg(x),
            None => l.arg(&null),
        };
        l.arg(&t)
            .arg(&heads)
            .arg(&kv_heads)
            .arg(&nb_i)
            .arg(&n_sink)
            .arg(&local_w)
            .arg(&row_lo)
            .arg(&row_hi)
            .arg(&per_row)
            .arg(&scale);
        let cfg = LaunchConfig {
            grid_dim: (dev.t.div_ceil(BQ) as u32, dev.heads as u32, 1),
            block_dim: (NT, 1, 1),
            shared_mem_bytes: smem as u32,
        };
        let start = self
            .stream
            .record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .ctx("recording an event")?;
        // SAFETY: the arguments match the kernel's signature in kernels/attn_stats.cu
        // (pointers to buffers of the sizes it indexes, validated above).
        unsafe { l.launch(cfg) }.ctx("launching the attention kernel")?;
        let end = self
            .stream
            .record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .ctx("recording an event")?;
        start.elapsed_ms(&end).ctx("running the attention kernel")
    }

    /// Causal attention with optional statistics: output [t, heads, d] and the
    /// statistics as [`StreamStats::Rows`] or [`StreamStats::Summary`], as
    /// [`crate::model::attention_stream::stream_attention`] returns them.
    pub fn run(&self, dev: &DeviceInputs, spec: Option<&AttnStatsSpec>) -> GpuResult<GpuRun> {
        let mut b = self.alloc_out(dev, spec)?;
        let kernel_ms = self.launch(dev, spec, &mut b)?;
        let s = &self.stream;
        let out = s.clone_dtoh(&b.out).ctx("copying the output back")?;
        let stats = match spec {
            None => None,
            Some(spec) => {
                let nb = spec.bins.len();
                let h = dev.heads;
                Some(if spec.per_row {
                    let n = h * b.rows.len();
                    let mut rs = RowStats::zeros(h, b.rows.clone(), nb);
                    let f = b.row_f.as_ref().expect("per-row buffers");
                    let get = |x: &CudaSlice<f32>, len: usize| -> GpuResult<Vec<f32>> {
                        let mut v = s.clone_dtoh(x).ctx("copying statistics back")?;
                        v.truncate(len);
                        Ok(v)
                    };
                    rs.mean_distance = get(&f[0], n)?;
                    rs.entropy = get(&f[1], n)?;
                    rs.sink_mass = get(&f[2], n)?;
                    rs.local_mass = get(&f[3], n)?;
                    rs.max_weight = get(&f[4], n)?;
                    let mut arg = s
                        .clone_dtoh(b.row_arg.as_ref().expect("argmax buffer"))
                        .ctx("copying statistics back")?;
                    arg.truncate(n);
                    rs.argmax_distance = arg;
                    rs.distance_hist = get(b.row_hist.as_ref().expect("histogram buffer"), n * nb)?;
                    StreamStats::Rows(rs)
                } else {
                    let mut sum = AttnSummary::zeros(h, nb);
                    sum.hist_sum = s
                        .clone_dtoh(b.sum_hist.as_ref().expect("sum buffer"))
                        .ctx("copying statistics back")?;
                    sum.mean_distance_hist = s
                        .clone_dtoh(b.sum_mdhist.as_ref().expect("sum buffer"))
                        .ctx("copying statistics back")?;
                    let mut rows = s
                        .clone_dtoh(b.sum_rows.as_ref().expect("sum buffer"))
                        .ctx("copying statistics back")?;
                    rows.truncate(h);
                    sum.n_rows = rows;
                    let scal = s
                        .clone_dtoh(b.sum_scal.as_ref().expect("sum buffer"))
                        .ctx("copying statistics back")?;
                    for hh in 0..h {
                        let x = &scal[hh * N_SCAL..(hh + 1) * N_SCAL];
                        sum.mean_distance_sum[hh] = x[0];
                        sum.mean_distance_sq_sum[hh] = x[1];
                        sum.entropy_sum[hh] = x[2];
                        sum.sink_sum[hh] = x[3];
                        sum.local_sum[hh] = x[4];
                        sum.max_weight_sum[hh] = x[5];
                    }
                    StreamStats::Summary(sum)
                })
            }
        };
        s.synchronize().ctx("waiting for the copies")?;
        Ok(GpuRun {
            output: StreamOutput { out, stats },
            kernel_ms,
            device_bytes: dev.bytes() + b.bytes,
        })
    }

    /// `warmup` + `repeat` launches without copies back.
    pub fn time(
        &self,
        dev: &DeviceInputs,
        spec: Option<&AttnStatsSpec>,
        warmup: usize,
        repeat: usize,
    ) -> GpuResult<GpuTiming> {
        let mut b = self.alloc_out(dev, spec)?;
        for _ in 0..warmup {
            self.launch(dev, spec, &mut b)?;
        }
        let device_used = self.device_used()?;
        let mut ms: Vec<f32> = (0..repeat.max(1))
            .map(|_| self.launch(dev, spec, &mut b))
            .collect::<GpuResult<_>>()?;
        ms.sort_by(f32::total_cmp);
        Ok(GpuTiming {
            min_ms: ms[0],
            median_ms: ms[ms.len() / 2],
            device_bytes: dev.bytes() + b.bytes,
            device_used,
        })
    }
}
