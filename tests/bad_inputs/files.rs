//! Cases of damaged files: a bad byte, a cut or too deeply nested document,
//! a broken link, a device among the inputs (see `bad_inputs.rs`).

use super::*;

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "compile: one line with a bad byte costs that line",
            setup: |d| {
                with_bad_byte(&fixture(REACT), &d.join("r.jsonl"), 7);
                compile_args(d, &p(d, "r.jsonl"))
            },
            // 51 records read, as from the intact file
            expect: Expect::Done(&["51 records read"]),
            exist: &["out.jsonl", "rejects.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: a truncated JSON document is one record, with the place",
            setup: |d| {
                let doc = serde_json::json!({"messages": [
                    {"role": "user", "content": "Where is the order?"},
                    {"role": "assistant", "content": "In Tallinn."}]});
                let text = serde_json::to_string_pretty(&doc).unwrap();
                std::fs::write(d.join("t.json"), &text[..text.len() / 2]).unwrap();
                compile_args(d, &p(d, "t.json"))
            },
            expect: Expect::Done(&[
                "1 records read = 0 written + 1 rejected",
                "truncated JSON document",
                "byte offset",
            ]),
            exist: &["out.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: JSON nested past the parser's limit says so",
            setup: |d| {
                let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
                std::fs::write(d.join("deep.json"), deep).unwrap();
                compile_args(d, &p(d, "deep.json"))
            },
            expect: Expect::Done(&["1 records read", "nested deeper"]),
            exist: &["out.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: a broken link in an input folder is a skipped input",
            setup: |d| {
                let dir = d.join("in");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::copy(fixture(REACT), dir.join("a.jsonl")).unwrap();
                std::os::unix::fs::symlink(d.join("gone.jsonl"), dir.join("b.jsonl")).unwrap();
                compile_args(d, &dir.display().to_string())
            },
            expect: Expect::Done(&["2 files, 52 records read", "broken link"]),
            exist: &["out.jsonl"],
            absent: &[],
        },
        Case {
            name: "compile: a device says what it is",
            setup: |d| compile_args(d, "/dev/null"),
            expect: Expect::Done(&[
                "1 records read = 0 written + 1 rejected",
                "character device",
            ]),
            exist: &["out.jsonl"],
            absent: &[],
        },
        Case {
            name: "train: a row with a bad byte is one skipped row",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                let rows: String = (0..12)
                    .map(|i| format!("{{\"text\": \"the graph node {i} is a node\"}}\n"))
                    .collect();
                std::fs::write(d.join("good.jsonl"), rows).unwrap();
                with_bad_byte(&d.join("good.jsonl"), &d.join("data.jsonl"), 3);
                s(&[
                    "train",
                    "--data",
                    &p(d, "data.jsonl"),
                    "--model",
                    &m,
                    "--objective",
                    "lm",
                    "--out",
                    &p(d, "run"),
                    "--steps",
                    "1",
                    "--seq-len",
                    "32",
                    "--json",
                ])
            },
            expect: Expect::Done(&["\"rows\": 12"]),
            exist: &["run/train/run.json", "run/train/skipped.json"],
            absent: &[],
        },
        Case {
            name: "dump: token ids from an endless device are refused before reading",
            setup: |d| {
                let m = model_with_config(d, |_| {});
                s(&[
                    "dump",
                    "--model",
                    &m,
                    "--ids",
                    "/dev/zero",
                    "--out",
                    &p(d, "c.safetensors"),
                ])
            },
            expect: Expect::Refused(&["/dev/zero: a character device, not a file"]),
            exist: &[],
            absent: &["c.safetensors"],
        },
        Case {
            name: "score: a gold line with a bad byte costs that row",
            setup: |d| {
                gold_and_preds(d, 5, &[]);
                with_bad_byte(&d.join("g.jsonl"), &d.join("gb.jsonl"), 3);
                s(&[
                    "score",
                    "graphwalks",
                    "--gold",
                    &p(d, "gb.jsonl"),
                    "--pred",
                    &p(d, "p.jsonl"),
                    "--allow-missing",
                    "--approx-tokens",
                ])
            },
            expect: Expect::Done(&["gb.jsonl:3", "not valid UTF-8", "n=4"]),
            exist: &[],
            absent: &[],
        },
    ]
}
