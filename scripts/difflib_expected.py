#!/usr/bin/env python3
"""Generates tests/fixtures/difflib_cases.json: string pairs with the ratio
Python's difflib.SequenceMatcher(None, a, b).ratio() gives them. Run by hand
(python3 scripts/difflib_expected.py); the Rust MRCR grader must reproduce
every value exactly."""
import json
import random
from difflib import SequenceMatcher
from pathlib import Path

rng = random.Random(20261121)
words = "the a needle haystack poem about tapirs sonnet riddle essay of ocean light and".split()


def text(n_words):
    return " ".join(rng.choice(words) for _ in range(n_words))


def mutate(s, rate):
    out = []
    for ch in s:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            out.append(rng.choice("abcdefghij éü中文🙂"))
        out.append(ch)
        if r > 1 - rate / 3:
            out.append(rng.choice("xyz"))
    return "".join(out)


pairs = [
    ("abcd", "bcde"), ("", ""), ("abc", ""), ("", "abc"), ("qabxcd", "abycdf"),
    ("private Thread currentThread;", "private volatile Thread currentThread;"),
    ("aaaa", "aa"), ("ababab", "bababa"), ("héllo wörld", "hello world"),
    ("中文字符测试", "中文测试字符"), ("🙂🙃🙂", "🙃🙂🙃"),
]
for n in [5, 20, 60, 150, 400]:
    base = text(n)
    for rate in [0.0, 0.05, 0.3]:
        pairs.append((mutate(base, rate), base))
# repetitive (autojunk: popular characters in b of 200+ items)
pairs.append(("ab" * 150, "ab" * 149 + "c"))
pairs.append(("x" * 250 + "needle" + "y" * 50, "y" * 50 + "needle" + "x" * 250))
pairs.append((text(300), text(300)))
pairs.append(("a" * 199 + "b", "a" * 199 + "b"))
pairs.append(("aaaa" + "b" * 300, "b" * 300 + "aaaa"))

cases = [{"a": a, "b": b, "ratio": SequenceMatcher(None, a, b).ratio()} for a, b in pairs]
out = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "difflib_cases.json"
out.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
print(f"wrote {len(cases)} cases to {out}")
