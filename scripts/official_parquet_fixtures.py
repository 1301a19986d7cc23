#!/usr/bin/env python3
"""Writes small parquet files with the column layout of the official
openai/graphwalks and openai/mrcr releases (as pyarrow / HF datasets write
them: snappy and zstd compression, list<string> answer_nodes, int64 counts,
extra columns) into tests/fixtures/official/. Run by hand; needs pyarrow."""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

out = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "official"
out.mkdir(parents=True, exist_ok=True)

edges = "0a1b2c3d4e -> 5f6a7b8c9d\n5f6a7b8c9d -> aaaaaaaaaa\n0a1b2c3d4e -> bbbbbbbbbb\n"
gw_prompt = lambda op: (
    "You will be given a graph as a list of directed edges. ...\n\nHere is the graph to operate on:\n"
    "The graph has the following edges:\n" + edges + "\nOperation:\n" + op + "\n\n"
    "Format your final answer as a list on the last line, like: Final Answer: [node1, node2, ...]\n"
)
rows = [
    (gw_prompt("Perform a BFS from node 0a1b2c3d4e with depth 2."), ["aaaaaaaaaa"], "bfs"),
    (gw_prompt("Find the parents of node 5f6a7b8c9d."), ["0a1b2c3d4e"], "parents"),
    (gw_prompt("Find the parents of node 0a1b2c3d4e."), None, "parents"),  # malformed: no answer
]
gw = pa.table({
    "prompt": [r[0] for r in rows],
    "answer_nodes": pa.array([r[1] for r in rows], type=pa.list_(pa.string())),
    "prompt_chars": pa.array([len(r[0]) for r in rows], type=pa.int64()),
    "problem_type": [r[2] for r in rows],
})
pq.write_table(gw, out / "graphwalks_sample.parquet", compression="snappy")

def mrcr_row(h, k, n):
    msgs = [{"role": "user", "content": "Here are some examples ..."}]
    for i in range(n):
        msgs += [{"role": "user", "content": "write a poem about tapirs"},
                 {"role": "assistant", "content": f"tapir poem number {i + 1}"}]
    msgs.append({"role": "user", "content": f"Prepend {h} to the {k}th (1 indexed) poem about tapirs. Do not include any other text in your response."})
    return {
        "prompt": json.dumps(msgs), "answer": f"{h}tapir poem number {k}", "random_string_to_prepend": h,
        "n_needles": n, "desired_msg_index": 2 * k, "total_messages": len(msgs),
        "n_chars": sum(len(m["content"]) for m in msgs), "date_added": "04-12-2025",
    }
mr = [mrcr_row("AbCdEfGhIj", 2, 2), mrcr_row("KlMnOpQrSt", 3, 4)]
mt = pa.table({k: pa.array([r[k] for r in mr], type=pa.int64() if isinstance(mr[0][k], int) else pa.string()) for k in mr[0]})
pq.write_table(mt, out / "mrcr_sample.parquet", compression="zstd")
print("wrote", sorted(p.name for p in out.iterdir()))

# the current openai/mrcr layout: {2,4,8}needle/{N}needle_{0,1}.parquet, two
# rows per shard (the 8-needle rows with 2 needles' poems: only the column
# layout matters here)
hashes = iter(f"{c}{c.lower()}Xy0{c}{c}Zq9" for c in "ABCDEFGHIJKLMNOPQRSTUVWX")
for n in (2, 4, 8):
    d = out / "mrcr" / f"{n}needle"
    d.mkdir(parents=True, exist_ok=True)
    for shard in (0, 1):
        rows = [mrcr_row(next(hashes), 1 + (shard + j) % 2, n) for j in range(2)]
        t = pa.table({k: pa.array([r[k] for r in rows], type=pa.int64() if isinstance(rows[0][k], int) else pa.string()) for k in rows[0]})
        pq.write_table(t, d / f"{n}needle_{shard}.parquet", compression="zstd")
print("wrote", sorted(str(p.relative_to(out)) for p in (out / "mrcr").rglob("*.parquet")))
