#!/usr/bin/env bash
# On a GPU machine (no Rust or CUDA toolkit needed): the CUDA attention
# kernel's parity with the CPU path, then its benchmark at 8K/32K/128K tokens
# with Qwen3-30B-A3B attention shapes (32 heads, 4 KV heads, head_dim 128),
# printed as one report. Exits nonzero when a parity check fails.
#
#   scripts/gpu-check.sh [BINARY] [-- extra `acc-probe gpu check` args]
#
# BINARY defaults to target/release/acc-probe (built by scripts/build-cuda.sh).
# Needs the NVIDIA driver (R580+, CUDA 13.0). A binary built with `--features
# cuda` also needs libcublas.so.13, libcublasLt.so.13, libcurand.so.10 and
# libnvrtc.so.13: they are looked up in LD_LIBRARY_PATH, then in the nvidia/cu13/lib
# folders of the Python installations found on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/acc-probe"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then BIN="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
[ -x "$BIN" ] || { echo "gpu-check.sh: no binary at $BIN (build it with scripts/build-cuda.sh)" >&2; exit 2; }

# CUDA 13 libraries of any Python venv / site-packages on the machine
need_libs() { ldd "$BIN" 2>/dev/null | grep -q 'not found'; }
if need_libs; then
  for py in python3 /usr/bin/python3 /opt/*/bin/python3 /root/*/bin/python3 /root/.venv*/bin/python3 /venv*/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    for dir in $("$py" - <<'EOF' 2>/dev/null
import site, sys, os
paths = set(site.getsitepackages() + [site.getusersitepackages()] + sys.path)
for p in paths:
    for sub in ("nvidia/cu13/lib", "nvidia/cublas/lib", "nvidia/curand/lib", "nvidia/cuda_nvrtc/lib"):
        d = os.path.join(p, sub)
        if os.path.isdir(d):
            print(d)
EOF
    ); do
      case ":${LD_LIBRARY_PATH:-}:" in *":$dir:"*) ;; *) export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;; esac
    done
    need_libs || break
  done
fi
if need_libs; then
  echo "gpu-check.sh: libraries the binary needs are missing:" >&2
  ldd "$BIN" | grep 'not found' >&2
  echo "put the CUDA 13 libraries on LD_LIBRARY_PATH (e.g. pip install nvidia-cublas nvidia-curand nvidia-cuda-nvrtc)" >&2
  exit 2
fi

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname)"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /'
fi
echo "binary: $BIN"
echo
set +e
"$BIN" gpu check "$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "gpu-check.sh: FAILED (exit $rc)" >&2; fi
exit $rc
