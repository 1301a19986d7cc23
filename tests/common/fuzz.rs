//! Structure-aware mutation helpers shared by the fuzz tests: seeded
//! generators, JSON values real files get wrong, tree and byte mutations.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Mutations per target in the CI smoke run.
pub const FUZZ_SMOKE: usize = 300;

pub fn iters() -> usize {
    iters_or(FUZZ_SMOKE)
}

/// `ACC_PROBE_FUZZ_ITERS`, else `smoke`.
pub fn iters_or(smoke: usize) -> usize {
    std::env::var("ACC_PROBE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(smoke)
}

pub fn rng(salt: u64) -> StdRng {
    let seed: u64 = std::env::var("ACC_PROBE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    StdRng::seed_from_u64(seed ^ salt)
}

/// A value real files get wrong.
pub fn odd_value(r: &mut StdRng) -> Value {
    match r.random_range(0..14) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(1_000_000_000u64),
        3 => json!(u64::MAX),
        4 => json!(1e300),
        5 => json!(-1e-300),
        6 => json!(0.5),
        7 => Value::Null,
        8 => json!("x"),
        9 => json!([]),
        10 => json!({}),
        11 => json!(true),
        12 => json!(r.random_range(1..100_000u64)),
        _ => json!([1, 2, 3]),
    }
}

/// A random JSON pointer into `v`, up to three levels down.
pub fn random_pointer(v: &Value, r: &mut StdRng) -> String {
    let mut ptr = String::new();
    let mut node = v;
    for _ in 0..r.random_range(0..4) {
        match node {
            Value::Object(m) if !m.is_empty() => {
                let (k, next) = m.iter().nth(r.random_range(0..m.len())).expect("non-empty");
                ptr.push('/');
                ptr.push_str(&k.replace('~', "~0").replace('/', "~1"));
                node = next;
            }
            Value::Array(a) if !a.is_empty() => {
                let i = r.random_range(0..a.len());
                ptr.push_str(&format!("/{i}"));
                node = &a[i];
            }
            _ => break,
        }
    }
    ptr
}

/// Mutates one to three places of a JSON value: a field deleted, a list
/// cut short, or a value set to an odd one, anywhere in the tree.
pub fn mutate_json(v: &mut Value, r: &mut StdRng) {
    for _ in 0..r.random_range(1..=3) {
        let ptr = random_pointer(v, r);
        let Some(node) = v.pointer_mut(&ptr) else {
            continue;
        };
        let delete = r.random_bool(0.4);
        match node {
            Value::Object(m) if !m.is_empty() && delete => {
                let k = m.keys().nth(r.random_range(0..m.len())).cloned();
                if let Some(k) = k {
                    m.remove(&k);
                }
            }
            Value::Array(a) if !a.is_empty() && delete => {
                a.truncate(r.random_range(0..a.len()));
            }
            n => *n = odd_value(r),
        }
    }
}

/// Flips, deletes or inserts a few bytes, or cuts the data short.
pub fn mutate_bytes(b: &mut Vec<u8>, r: &mut StdRng, within: usize) {
    let within = within.clamp(1, b.len().max(1));
    match r.random_range(0..4) {
        0 => b.truncate(r.random_range(0..b.len().max(1))),
        1 if !b.is_empty() => {
            for _ in 0..r.random_range(1..4) {
                let i = r.random_range(0..within.min(b.len()));
                b[i] = r.random();
            }
        }
        2 if !b.is_empty() => {
            let i = r.random_range(0..within.min(b.len()));
            b.remove(i);
        }
        _ => {
            let i = r.random_range(0..=within.min(b.len()));
            b.insert(i, r.random());
        }
    }
}

/// Runs `f`, failing the test with the mutated input's description on a panic.
pub fn no_panic(what: &str, i: usize, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        panic!("{what}: mutation {i} panicked (replay with ACC_PROBE_FUZZ_SEED and this index)");
    }
}

/// Markers the text dialects key on (ReAct labels, text calls, fences,
/// patches, stop and finish words, task templates), and characters that
/// test boundaries.
const MARKERS: &[&str] = &[
    "Action 1: Finish[",
    "Action: search[",
    "Observation:",
    "Thought 2:",
    "Question:",
    "<function=x>",
    "<parameter=a>",
    "</function>",
    "<tool_call>",
    "</tool_call>",
    "```bash\n",
    "```",
    "diff --git a/x b/x\n--- /dev/null\n+++ b/x\n",
    "###STOP###",
    "FINISH(",
    "Final Answer:",
    "Act: bash\n```bash\nls\n```",
    "Action: Operation\n```sql\nSELECT 1\n```",
    "<returncode>1</returncode>",
    "EXECUTION RESULT of [",
    "[Request interrupted by user]",
    "ISSUE:\n",
    "\n\nINSTRUCTIONS:",
    "NEW TASK DESCRIPTION",
    "END OF NEW TASK DESCRIPTION",
    "END OF DEMONSTRATION",
    "We're currently solving the following",
    "BEGIN TRIAL",
    "<|im_start|>",
    "\n",
    "\r\n",
    "\u{0}",
    "é",
    "🙂",
];

/// Inserts a marker at a random character boundary, or cuts the text there.
pub fn mutate_text(s: &mut String, r: &mut StdRng) {
    let bounds: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    let at = bounds[r.random_range(0..bounds.len())];
    match r.random_range(0..5) {
        0 => s.truncate(at),
        1 => {
            let copy = s[at..].to_string();
            s.push_str(&copy);
        }
        _ => s.insert_str(at, MARKERS[r.random_range(0..MARKERS.len())]),
    }
}

/// [`mutate_json`], or a text mutation of one string in the tree.
pub fn mutate_record(v: &mut Value, r: &mut StdRng) {
    if r.random_bool(0.5) {
        return mutate_json(v, r);
    }
    // the strings of the tree, by pointer
    fn strings(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::String(_) => out.push(at),
            Value::Object(m) => {
                for (k, x) in m {
                    strings(
                        x,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    strings(x, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    strings(v, String::new(), &mut found);
    if found.is_empty() {
        return mutate_json(v, r);
    }
    for _ in 0..r.random_range(1..=3) {
        let ptr = &found[r.random_range(0..found.len())];
        if let Some(Value::String(s)) = v.pointer_mut(ptr) {
            mutate_text(s, r);
        }
    }
}
