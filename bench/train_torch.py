#!/usr/bin/env python3
"""PyTorch-eager training throughput for a Qwen3-MoE config, for comparison
with `acc-probe bench train` (run by hand, not by CI).

It trains `transformers.Qwen3MoeForCausalLM` built from the same config.json,
with the same number of tokens per optimizer step, on the CPU, and reports
what the Rust trainer's bench reports: parameters, tokens per optimizer step,
mean step time, tokens/s and peak resident memory (the peak includes the
interpreter, torch and transformers; the RSS right after the imports is
printed too). Run both with the same config, sequence length, batch and
thread count for a like-for-like number.

One optimizer step here:
  * random token ids in [0, vocab_size), shape [batch, seq_len], labels = inputs;
  * forward in float32 with eager attention and `output_router_logits=True`,
    so the loss is the causal-LM loss plus router_aux_loss_coef times the
    load-balancing loss;
  * backward, clip_grad_norm_(1.0), AdamW(lr 1e-3, weight_decay 0.1).
The first `--warmup` steps are not timed; the batch is drawn before the clock
starts, so a timed step is forward + backward + clip + optimizer update.
acc-probe accumulates gradients over `--batch` packs of one sequence each
(`--segments 1`) where this script runs one [batch, seq_len] tensor: the same
tokens and the same mean loss per step.

No torch.compile: this is the eager baseline. With transformers 5.x the MoE
experts run through the `experts_implementation` transformers picks (usually
"grouped_mm"); `--experts-impl eager` selects the per-expert loop instead. The
implementation used is printed with the results.

Timings need an otherwise idle machine: with `--threads` equal to the core
count, another busy process can stretch single steps by more than 10x. The
median step time (in the table and the JSON) shows when that happened.

Usage:
  python3 -m venv venv && venv/bin/pip install torch transformers safetensors
  venv/bin/python bench/train_torch.py --config DIR/config.json --seq-len 512 --batch 1 --threads 2
  acc-probe --threads 2 bench train --config DIR/config.json --seq-len 512 --batch 1 --segments 1
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import transformers
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True,
                   help="an HF config.json of model_type qwen3_moe (or a directory holding one)")
    p.add_argument("--seq-len", type=int, default=512, help="tokens per sequence (default 512)")
    p.add_argument("--batch", type=int, default=1, help="sequences per optimizer step (default 1)")
    p.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the init and the token ids (default 0)")
    p.add_argument("--experts-impl", default="default",
                   help="transformers>=5 experts_implementation: default (the library's choice), "
                        "eager, grouped_mm, batched_mm")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    a = p.parse_args()
    for name in ("seq_len", "batch", "steps", "threads"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if a.warmup < 0:
        p.error("--warmup must be at least 0")
    return a


def load_config(path, experts_impl):
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    with open(path) as f:
        d = json.load(f)
    if d.get("model_type") != "qwen3_moe":
        sys.exit(f"{path}: model_type is {d.get('model_type')!r}, expected 'qwen3_moe'")
    d = {k: v for k, v in d.items() if k not in ("architectures", "model_type", "transformers_version")}
    d["output_router_logits"] = True
    d["attn_implementation"] = "eager"
    if experts_impl != "default":
        d["experts_implementation"] = experts_impl
    cfg = Qwen3MoeConfig(**d)
    cfg._attn_implementation = "eager"
    return cfg


def peak_rss_mib():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def main():
    a = parse_args()
    rss_import = peak_rss_mib()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)

    cfg = load_config(a.config, a.experts_impl)
    model = Qwen3MoeForCausalLM(cfg).to(torch.float32)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    gen = torch.Generator().manual_seed(a.seed)
    tokens_per_step = a.batch * a.seq_len

    times, losses, aux = [], [], []
    for step in range(a.warmup + a.steps):
        ids = torch.randint(0, cfg.vocab_size, (a.batch, a.seq_len), generator=gen)
        t0 = time.perf_counter()
        out = model(input_ids=ids, labels=ids, output_router_logits=True, use_cache=False)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if step >= a.warmup:
            times.append(dt)
        losses.append(out.loss.item())
        aux.append(out.aux_loss.item() if out.aux_loss is not None else float("nan"))

    mean = statistics.fmean(times)
    res = {
        "impl": "pytorch-eager",
        "config": os.path.abspath(a.config),
        "layers": cfg.num_hidden_layers,
        "hidden_size": cfg.hidden_size,
        "vocab_size": cfg.vocab_size,
        "num_experts": cfg.num_experts,
        "num_experts_per_tok": cfg.num_experts_per_tok,
        "attn_implementation": model.config._attn_implementation,
        "experts_implementation": getattr(model.config, "_experts_implementation", None) or "per-expert loop",
        "params": params,
        "seq_len": a.seq_len,
        "batch": a.batch,
        "tokens_per_step": tokens_per_step,
        "steps": a.steps,
        "warmup": a.warmup,
        "threads": a.threads,
        "mean_step_s": mean,
        "median_step_s": statistics.median(times),
        "min_step_s": min(times),
        "stdev_step_s": statistics.stdev(times) if len(times) > 1 else 0.0,
        "tokens_per_s": tokens_per_step / mean,
        "tokens_per_s_median": tokens_per_step / statistics.median(times),
        "peak_rss_mib": peak_rss_mib(),
        "rss_after_import_mib": rss_import,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "aux_loss_last": aux[-1],
        "step_s": [round(t, 4) for t in times],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu": platform.machine(),
    }
    if a.json:
        print(json.dumps(res))
        return

    print(f"pytorch-eager Qwen3MoeForCausalLM: {res['layers']} layers, hidden {res['hidden_size']}, "
          f"{res['num_experts']} experts top-{res['num_experts_per_tok']}, vocab {res['vocab_size']}; "
          f"torch {res['torch']}, transformers {res['transformers']}, "
          f"attention {res['attn_implementation']}, experts {res['experts_implementation']}; "
          f"RSS after imports {rss_import:.0f} MiB (included in the peak)")
    print()
    print("| params | seq_len | batch | tokens/step | threads | mean step s | median step s | tokens/s "
          "| peak RSS MiB | loss first → last |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {params:,} | {a.seq_len} | {a.batch} | {tokens_per_step} | {a.threads} | "
          f"{mean:.3f} ± {res['stdev_step_s']:.3f} | {res['median_step_s']:.3f} | "
          f"{res['tokens_per_s']:.1f} | {res['peak_rss_mib']:.0f} | "
          f"{res['loss_first']:.3f} → {res['loss_last']:.3f} |")


if __name__ == "__main__":
    main()
