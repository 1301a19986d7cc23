#!/usr/bin/env python3
"""Checks that a model directory written by acc-probe's trainer loads cleanly
in Hugging Face transformers (run by hand, not by CI).

The directory is expected to hold config.json (model_type qwen3_moe,
transformers-4.x keys), model.safetensors, tokenizer.json and
tokenizer_config.json with a ChatML `chat_template`.

Checks, each of which fails the run (exit status 1):
  * AutoConfig, AutoTokenizer and AutoModelForCausalLM load, the model with
    `output_loading_info=True`, and missing_keys, unexpected_keys,
    mismatched_keys and error_msgs are all empty;
  * transformers logs no warning (and Python emits no warning) while loading;
  * the chat template, applied to one user message "hello" with
    add_generation_prompt=True, ends with "<|im_start|>assistant\\n", and
    <|im_start|> / <|im_end|> are single tokens;
  * a forward pass on the tokenized prompt gives finite logits of shape
    [1, T, vocab_size];
  * greedy generation of 8 new tokens runs;
  * with `--logits FILE.json` ({"input_ids": [...], "logits_last": [...]},
    written by the Rust side), the last-position logits of transformers on
    those input_ids agree within 1e-3 (max abs difference).

The model is always loaded in float32 (a bf16 checkpoint is upcast), so the
tolerance is the float32 one.

Usage:
  python3 -m venv venv && venv/bin/pip install torch transformers safetensors
  venv/bin/python scripts/check_hf_load.py OUT_DIR [--logits logits.json]
"""

import argparse
import contextlib
import json
import logging
import os
import platform
import re
import sys
import warnings

import torch
import transformers
from packaging import version
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

GEN_PROMPT_SUFFIX = "<|im_start|>assistant\n"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
DEFAULT_TOL = 1e-3
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Failed(Exception):
    pass


class WarningCollector(logging.Handler):
    """Collects WARNING-and-above records of the "transformers" logger tree."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(f"[{record.name}] {record.getMessage()}")


@contextlib.contextmanager
def collected_warnings():
    """Yields a list that receives, as text, every warning transformers logs and
    every Python warning raised inside the block; transformers' own console
    handler and progress bars are off meanwhile."""
    collector = WarningCollector()
    tf_logger = logging.getLogger("transformers")
    transformers.logging.set_verbosity_warning()
    transformers.logging.disable_default_handler()
    transformers.logging.disable_progress_bar()
    tf_logger.addHandler(collector)
    out = []
    try:
        with warnings.catch_warnings(record=True) as py_warnings:
            warnings.simplefilter("always")
            yield out
    finally:
        tf_logger.removeHandler(collector)
        transformers.logging.enable_default_handler()
        transformers.logging.enable_progress_bar()
        out += collector.messages + [f"[{w.category.__name__}] {w.message}" for w in py_warnings]


def indented(msgs):
    lines = [ln.rstrip() for m in msgs for ln in ANSI.sub("", m).splitlines()]
    return "".join("\n        " + ln for ln in lines)


class Report:
    def __init__(self):
        self.failures = []

    def line(self, key, value):
        print(f"  {key:<28} {value}")

    def ok(self, what):
        print(f"  ok    {what}")

    def fail(self, what):
        print(f"  FAIL  {what}")
        self.failures.append(what)

    def check(self, cond, what, detail=""):
        if cond:
            self.ok(what)
        else:
            self.fail(what + (f": {detail}" if detail else ""))
        return cond


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="model directory (config.json, model.safetensors, tokenizer files)")
    p.add_argument("--logits", metavar="FILE.json",
                   help='{"input_ids": [...], "logits_last": [...]} from the Rust side, to compare with')
    p.add_argument("--tol", type=float, default=DEFAULT_TOL,
                   help=f"max abs difference allowed for --logits (default {DEFAULT_TOL})")
    p.add_argument("--max-new-tokens", type=int, default=8, help="greedy generation length (default 8)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    return p.parse_args()


def dtype_kwarg():
    """`dtype=` from transformers 4.56 on (`torch_dtype=` warns in 5.x), `torch_dtype=` before."""
    return "dtype" if version.parse(transformers.__version__) >= version.parse("4.56") else "torch_dtype"


def stored_dtypes(path):
    from safetensors import safe_open

    counts = {}
    with safe_open(path, framework="pt") as f:
        for k in f.keys():
            dt = str(f.get_slice(k).get_dtype())
            counts[dt] = counts.get(dt, 0) + 1
    return counts


def precheck(d, r):
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(d, f))]
    if missing:
        raise Failed(f"{d}: missing {', '.join(missing)}")
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    r.check(cfg.get("model_type") == "qwen3_moe", "config.json model_type is qwen3_moe",
            f"found {cfg.get('model_type')!r}")
    keys4 = [k for k in ("num_experts", "rope_theta") if k in cfg]
    r.line("config keys", "transformers-4.x (" + ", ".join(keys4) + ")" if keys4 else "no 4.x keys")
    with open(os.path.join(d, "tokenizer_config.json")) as f:
        tc = json.load(f)
    r.check(bool(tc.get("chat_template")), "tokenizer_config.json has a chat_template")
    return cfg


def load_all(d, r):
    """Loads config, tokenizer and model; a warning logged meanwhile is a failure."""
    error = None
    with collected_warnings() as msgs:
        try:
            config = AutoConfig.from_pretrained(d)
            tok = AutoTokenizer.from_pretrained(d)
            model, info = AutoModelForCausalLM.from_pretrained(
                d, output_loading_info=True, attn_implementation="eager",
                **{dtype_kwarg(): torch.float32})
        except Exception as e:  # noqa: BLE001 - any loader error is a failed check
            error = e
    if error is not None:
        raise Failed(f"loading failed: {type(error).__name__}: {error}" + indented(msgs))
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        v = sorted(map(str, info.get(key) or []))
        r.check(not v, f"loading info: {key} empty", f"{len(v)}: {v[:10]}{' ...' if len(v) > 10 else ''}")
    r.check(not msgs, "no warnings while loading", f"{len(msgs)} warning(s):{indented(msgs)}")
    return config, tok, model


def check_template(tok, r):
    messages = [{"role": "user", "content": "hello"}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    r.line("template rendering", repr(text))
    r.check(text.endswith(GEN_PROMPT_SUFFIX), f"rendering ends with {GEN_PROMPT_SUFFIX!r}")
    for special in ("<|im_start|>", "<|im_end|>"):
        ids = tok.encode(special, add_special_tokens=False)
        r.check(len(ids) == 1, f"{special} is a single token", f"encodes to {ids}")
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    r.line("prompt tokens", f"{ids.shape[1]}: {ids[0].tolist()}")
    return ids


@torch.no_grad()
def check_forward_generate(model, tok, config, ids, max_new, r):
    vocab = config.vocab_size
    if int(ids.max()) >= vocab:
        r.fail(f"prompt token id {int(ids.max())} >= vocab_size {vocab}")
        return
    logits = model(input_ids=ids).logits
    r.check(tuple(logits.shape) == (1, ids.shape[1], vocab), f"logits shape [1, {ids.shape[1]}, {vocab}]",
            f"got {list(logits.shape)}")
    r.check(bool(torch.isfinite(logits).all()), "logits finite")

    # The directory's generation settings, with EOS / padding from the tokenizer where it has none.
    gc = model.generation_config
    extra = {}
    if gc.eos_token_id is None and tok.eos_token_id is not None:
        extra["eos_token_id"] = tok.eos_token_id
    if gc.pad_token_id is None:
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        if pad is not None:
            extra["pad_token_id"] = pad
    r.line("generation eos / pad ids", f"{extra.get('eos_token_id', gc.eos_token_id)} / "
                                       f"{extra.get('pad_token_id', gc.pad_token_id)}")
    with collected_warnings() as msgs:
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=max_new, **extra)
    if msgs:
        r.line("notes from generate", indented(msgs))
    new = out[0, ids.shape[1]:].tolist()
    r.check(0 < len(new) <= max_new, f"greedy generation ({len(new)} of {max_new} new tokens)")
    r.line("generated ids", new)
    r.line("generated text", repr(tok.decode(new, skip_special_tokens=False)))
    if new:
        same = new[0] == int(logits[0, -1].argmax())
        r.line("first token = forward argmax", "yes" if same else "no (near-tie or cache path differs)")


@torch.no_grad()
def check_logits(model, config, path, tol, r):
    with open(path) as f:
        ref = json.load(f)
    ids = ref.get("input_ids")
    want = ref.get("logits_last")
    if not isinstance(ids, list) or not ids or not isinstance(want, list):
        r.fail(f"{path}: expected an object with non-empty lists input_ids and logits_last")
        return
    want = torch.tensor(want, dtype=torch.float32)
    if want.numel() != config.vocab_size:
        r.fail(f"{path}: logits_last has {want.numel()} values, vocab_size is {config.vocab_size}")
        return
    x = torch.tensor([ids], dtype=torch.long)
    if int(x.max()) >= config.vocab_size or int(x.min()) < 0:
        r.fail(f"{path}: input_ids out of [0, {config.vocab_size})")
        return
    got = model(input_ids=x).logits[0, -1].float()
    diff = (got - want).abs().max().item()
    r.line("reference", f"{path} ({len(ids)} tokens)")
    r.line("max abs diff (last logits)", f"{diff:.3e} (tolerance {tol:g})")
    r.line("argmax transformers / ref", f"{int(got.argmax())} / {int(want.argmax())}")
    r.check(diff <= tol, "last-position logits match the reference", f"max abs diff {diff:.3e} > {tol:g}")


def main():
    a = parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    d = a.dir
    r = Report()
    print(f"check_hf_load: {os.path.abspath(d)}")
    try:
        r.line("python / torch", f"{platform.python_version()} / {torch.__version__}")
        r.line("transformers", transformers.__version__)
        try:
            import safetensors
            import tokenizers
            r.line("tokenizers / safetensors", f"{tokenizers.__version__} / {safetensors.__version__}")
        except ImportError:
            pass
        precheck(d, r)
        r.line("stored dtypes", stored_dtypes(os.path.join(d, "model.safetensors")))

        config, tok, model = load_all(d, r)
        model.eval()
        n_params = sum(p.numel() for p in model.parameters())
        r.line("model", f"{type(model).__name__}, {config.num_hidden_layers} layers, {config.num_experts} "
                        f"experts top-{config.num_experts_per_tok}, vocab {config.vocab_size}")
        r.line("parameters", f"{n_params:,}")
        r.line("loaded dtype", str(next(model.parameters()).dtype))
        r.line("tokenizer", f"{type(tok).__name__}, {len(tok)} tokens, "
                            f"eos {tok.eos_token!r}, pad {tok.pad_token!r}")

        ids = check_template(tok, r)
        check_forward_generate(model, tok, config, ids, a.max_new_tokens, r)
        if a.logits:
            check_logits(model, config, a.logits, a.tol, r)
    except Failed as e:
        r.fail(str(e))
    except Exception as e:  # noqa: BLE001 - report any error as a failed check
        r.fail(f"{type(e).__name__}: {e}")

    if r.failures:
        print(f"FAILED: {len(r.failures)} check(s) failed in {d}", file=sys.stderr)
        for f in r.failures:
            print(f"  - {f.splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
    print("OK: loads cleanly in transformers")


if __name__ == "__main__":
    main()
