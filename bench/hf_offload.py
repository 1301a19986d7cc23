#!/usr/bin/env python3
"""HF transformers with accelerate's disk offload on the checkpoint and the
inputs of `acc-probe bench big`: the anchor for its wall time and peak memory
(run by hand, not by CI).

What it runs, to match one model of a `bench big` cell:
  * the checkpoint loaded with `device_map="auto"`, `max_memory={"cpu": M}`
    and `offload_folder`: the modules that do not fit M are offloaded to disk
    and read back by accelerate's hooks at every forward pass (safetensors
    checkpoints are read in place, not copied);
  * `--layers N` keeps the first N decoder layers (acc-probe's pass stops
    after the last captured layer: 21 layers for `--layers 6,20`);
  * float32 compute (acc-probe's), sdpa attention, no statistics, the logits
    of the last position only;
  * the token ids `bench big --save-inputs FILE` wrote, one forward per input.
It prints load time, forward time per input and peak RSS (ru_maxrss, which
counts mapped pages as the OOM killer does).

Usage:
  python3 -m venv venv && venv/bin/pip install torch transformers accelerate safetensors
  acc-probe bench big --base BASE --acc ACC --tokens 2048 --save-inputs /tmp/ids-2048.json
  venv/bin/python bench/hf_offload.py --model BASE --ids /tmp/ids-2048.json --layers 21 \\
      --max-memory 8GiB --offload-folder /tmp/offload --threads 2
"""

import argparse
import json
import resource
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--ids", required=True, help="JSON list of token-id lists (bench big --save-inputs)")
    p.add_argument("--layers", type=int, default=None, help="keep the first N decoder layers")
    p.add_argument("--max-memory", default="8GiB", help="CPU memory accelerate may fill before offloading to disk")
    p.add_argument("--offload-folder", default="/tmp/hf-offload")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cfg = AutoConfig.from_pretrained(a.model)
    if a.layers is not None:
        cfg.num_hidden_layers = a.layers
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        a.model,
        config=cfg,
        torch_dtype=getattr(torch, a.dtype),
        device_map="auto",
        max_memory={"cpu": a.max_memory},
        offload_folder=a.offload_folder,
        attn_implementation="sdpa",
    )
    model.eval()
    load_s = time.perf_counter() - t0
    placement = {}
    for v in getattr(model, "hf_device_map", {}).values():
        placement[str(v)] = placement.get(str(v), 0) + 1
    inputs = json.load(open(a.ids))
    times = []
    with torch.inference_mode():
        for ids in inputs:
            x = torch.tensor([ids], dtype=torch.long)
            t = time.perf_counter()
            out = model(input_ids=x, logits_to_keep=1, use_cache=False)
            times.append(time.perf_counter() - t)
            del out
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    r = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "layers": cfg.num_hidden_layers,
        "tokens": [len(i) for i in inputs],
        "max_memory": a.max_memory,
        "placement": placement,
        "load_seconds": load_s,
        "forward_seconds": times,
        "total_seconds": load_s + sum(times),
        "peak_rss_bytes": peak,
        "rss_after_imports_bytes": rss_imports,
    }
    if a.json:
        print(json.dumps(r))
    else:
        print(
            f"HF transformers {r['transformers']} (torch {r['torch']}), {r['layers']} layers, "
            f"modules placed {placement}: load {load_s:.1f} s, forward "
            + ", ".join(f"{s:.1f} s" for s in times)
            + f" ({len(times)} inputs of {r['tokens']} tokens), total {r['total_seconds']:.1f} s, "
            f"peak RSS {peak / 2**30:.2f} GiB"
        )


if __name__ == "__main__":
    sys.exit(main())
