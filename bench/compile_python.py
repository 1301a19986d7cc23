#!/usr/bin/env python3
"""A straightforward Python implementation of the ACC compile steps, for
comparison with `acc-probe bench compile` (run by hand, not by CI).

Steps per trajectory, as in acc-probe: read the file (OpenAI messages,
ShareGPT, Claude Code JSONL, SWE-agent .traj), pair tool calls with their
observations, turn observations into pieces, de-duplicate, measure each piece
with the tokenizer, choose pieces while they fit a log-uniform budget,
truncate an oversized piece (bisection on characters), shuffle, render the
prompt, re-measure it, and write one JSONL row per sample.

Simplification, stated: every observation is a piece (acc-probe classifies
domains and separates evidence from distractors; the tokenizer work, which
dominates both, is the same).

Usage:
  acc-probe bench compile --dir /tmp/bc           # writes the corpus and tokenizer.json
  pip install tokenizers
  python3 bench/compile_python.py /tmp/bc --budget 2048..65536
"""

import argparse
import glob
import json
import math
import os
import random
import time

from tokenizers import Tokenizer

INSTRUCTION = "Please reason based on the following documents and answer the question."
MARKER = "\n[... truncated to fit the context budget ...]"


def text_of(c):
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "\n".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in c)
    return "" if c is None else str(c)


def read(path):
    """-> (question, [(tool, observation)], answer)"""
    raw = open(path, encoding="utf-8").read()
    if path.endswith(".jsonl"):  # Claude Code session
        q, steps, ans, calls = None, [], None, {}
        for line in raw.splitlines():
            if not line.strip():
                continue
            ev = json.loads(line)
            content = (ev.get("message") or {}).get("content")
            if ev.get("type") == "user":
                if isinstance(content, str):
                    q = q or content
                else:
                    for b in content or []:
                        if b.get("type") == "tool_result":
                            steps.append((calls.get(b.get("tool_use_id"), "tool"), text_of(b.get("content"))))
            elif ev.get("type") == "assistant":
                for b in content or []:
                    if b.get("type") == "tool_use":
                        calls[b["id"]] = b["name"]
                    elif b.get("type") == "text":
                        ans = b["text"]
        return q, steps, ans
    v = json.loads(raw)
    if "conversations" in v:
        q, steps, ans, last = None, [], None, "tool"
        for m in v["conversations"]:
            if m["from"] == "human" and q is None:
                q = m["value"]
            elif m["from"] == "function_call":
                last = json.loads(m["value"]).get("name", "tool")
            elif m["from"] == "observation":
                steps.append((last, m["value"]))
            elif m["from"] == "gpt":
                ans = m["value"]
        return q, steps, ans
    if "messages" in v:
        q, steps, ans, calls = None, [], None, {}
        for m in v["messages"]:
            if m["role"] == "user" and q is None:
                q = text_of(m["content"])
            elif m["role"] == "assistant":
                for c in m.get("tool_calls") or []:
                    calls[c["id"]] = c["function"]["name"]
                if not m.get("tool_calls"):
                    ans = text_of(m["content"])
            elif m["role"] == "tool":
                steps.append((calls.get(m.get("tool_call_id"), "tool"), text_of(m["content"])))
        return q, steps, ans
    if "trajectory" in v:  # SWE-agent
        steps = [(s["action"].split()[0] if s.get("action") else "tool", s["observation"]) for s in v["trajectory"]]
        q = next((h["content"] for h in v.get("history", []) if h.get("role") == "user"), "")
        return q, steps, (v.get("info") or {}).get("submission")
    raise ValueError(f"{path}: unknown format")


def compile_one(path, tok, budget_range, seed):
    q, steps, ans = read(path)
    if not q or not ans or not steps:
        return None
    rng = random.Random(f"{seed}:{path}")
    lo, hi = budget_range
    budget = round(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    seen, pieces = set(), []
    for name, obs in steps:
        if obs.strip() and obs.strip() not in seen:
            seen.add(obs.strip())
            pieces.append((name, obs))
    rng.shuffle(pieces)
    count = lambda t: len(tok.encode(t, add_special_tokens=False).ids)
    render_piece = lambda k, p: f"[Document {k}] (document; source: {p[0]})\n{p[1]}"
    render = lambda docs: f"{INSTRUCTION}\n\n" + "\n\n".join(docs) + f"\n\nQuestion: {q}"
    used = count(render([]))
    chosen = []
    for p in pieces:
        cost = count(render_piece(len(chosen) + 1, p)) + 2
        if used + cost <= budget:
            used += cost
            chosen.append(p)
        elif budget > used + 16:
            room = budget - used
            head = count(render_piece(len(chosen) + 1, (p[0], ""))) + 2
            lo_c, hi_c = 0, len(p[1])
            while lo_c < hi_c:
                mid = (lo_c + hi_c + 1) // 2
                if head + count(p[1][:mid] + MARKER) <= room:
                    lo_c = mid
                else:
                    hi_c = mid - 1
            cut = (p[0], p[1][:lo_c] + MARKER)
            used += count(render_piece(len(chosen) + 1, cut)) + 2
            chosen.append(cut)
    rng.shuffle(chosen)
    docs = [render_piece(k + 1, p) for k, p in enumerate(chosen)]
    prompt = render(docs)
    tokens = count(prompt)
    while tokens > budget and docs:
        docs.pop()
        prompt = render(docs)
        tokens = count(prompt)
    row = {
        "dialogs": [{"role": "user", "content": prompt}, {"role": "assistant", "content": ans}],
        "ground_truth_answer": ans,
        "meta": {"source": path, "tokens": tokens, "budget": budget},
    }
    return json.dumps(row), tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", help="corpus written by `acc-probe bench compile --dir DIR`")
    ap.add_argument("--budget", default="2048..65536")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.devnull)
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.budget.split(".."))
    tok = Tokenizer.from_file(os.path.join(a.dir, "tokenizer.json"))
    files = sorted(
        f
        for f in glob.glob(os.path.join(a.dir, "**", "*"), recursive=True)
        if os.path.isfile(f) and not f.endswith((".sqlite", "ground_truth.jsonl", "tokenizer.json"))
    )
    t0 = time.perf_counter()
    n = tokens = 0
    with open(a.out, "w") as out:
        for f in files:
            r = compile_one(f, tok, (lo, hi), a.seed)
            if r:
                out.write(r[0] + "\n")
                n += 1
                tokens += r[1]
    dt = time.perf_counter() - t0
    print(f"python: {len(files)} files, {n} samples, {dt:.2f} s, {len(files) / dt:.0f} traj/s, {tokens / dt:.0f} tokens/s")


if __name__ == "__main__":
    main()
