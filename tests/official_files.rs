//! Loading the official openai/graphwalks and openai/mrcr parquet layouts
//! (fixtures written by pyarrow: snappy and zstd, list<string> columns, extra
//! columns); a malformed row is reported with its row number, never scored.

use std::path::PathBuf;

use acc_probe::tasks::grade;
use acc_probe::tasks::graphwalks::GraphWalksRow;
use acc_probe::tasks::mrcr::MrcrRow;
use acc_probe::tasks::score::{read_slots, score_files, Task};
use acc_probe::tokenizer::approx_tokens;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/official")
        .join(name)
}

#[test]
fn graphwalks_parquet_rows() {
    let slots = read_slots(&fixture("graphwalks_sample.parquet")).unwrap();
    assert_eq!(slots.len(), 3);
    let rows: Vec<Result<GraphWalksRow, _>> = slots
        .iter()
        .map(|(_, v)| serde_json::from_value::<GraphWalksRow>(v.clone().unwrap()))
        .collect();
    let first = rows[0].as_ref().unwrap();
    assert_eq!(first.answer_nodes, vec!["aaaaaaaaaa"]);
    assert_eq!(first.problem_type, "bfs");
    assert_eq!(first.prompt_chars, first.prompt.len());
    assert_eq!(rows[1].as_ref().unwrap().answer_nodes, vec!["0a1b2c3d4e"]);
    assert!(rows[2].is_err(), "a row without answer_nodes is malformed");

    // score the file: the malformed row is an error with its row number
    let tmp = tempfile::tempdir().unwrap();
    let pred = tmp.path().join("p.jsonl");
    std::fs::write(&pred, "{\"response\": \"Final Answer: [aaaaaaaaaa]\"}\n{\"response\": \"Final Answer: []\"}\n{\"response\": \"x\"}\n").unwrap();
    let r = score_files(
        Task::Graphwalks,
        &pred,
        &fixture("graphwalks_sample.parquet"),
        &approx_tokens,
    )
    .unwrap();
    assert_eq!((r.gold_rows, r.scored), (3, 2));
    assert_eq!(r.per_row, vec![1.0, 0.0]);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].line, 3);
    assert!(
        r.errors[0].reason.contains("not a Graphwalks row"),
        "{:?}",
        r.errors
    );
}

#[test]
fn mrcr_parquet_rows() {
    let slots = read_slots(&fixture("mrcr_sample.parquet")).unwrap();
    let rows: Vec<MrcrRow> = slots
        .into_iter()
        .map(|(_, v)| serde_json::from_value(v.unwrap()).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].n_needles, 4);
    assert_eq!(rows[1].random_string_to_prepend, "KlMnOpQrSt");
    let msgs: Vec<acc_probe::chat::Message> = serde_json::from_str(&rows[1].prompt).unwrap();
    assert_eq!(msgs.len(), rows[1].total_messages);
    assert_eq!(
        format!("KlMnOpQrSt{}", msgs[rows[1].desired_msg_index].content),
        rows[1].answer
    );
    assert_eq!(
        grade::mrcr(
            &rows[1].answer,
            &rows[1].answer,
            &rows[1].random_string_to_prepend
        ),
        1.0
    );

    let e = read_slots(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("Cargo.toml")
            .with_extension("parquet"),
    );
    assert!(e.is_err());
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.parquet");
    std::fs::write(&junk, b"not parquet at all").unwrap();
    let e = read_slots(&junk).unwrap_err().to_string();
    assert!(
        e.contains("junk.parquet: not a readable parquet file"),
        "{e}"
    );
}

/// The current openai/mrcr layout, `{2,4,8}needle/{N}needle_{0,1}.parquet`
/// (fixtures by scripts/official_parquet_fixtures.py): read whole or by
/// needle count, scored with lm-eval's bins and AUC, and a missing needle
/// folder named.
#[test]
fn official_mrcr_folder() {
    use acc_probe::tasks::score::{read_rows, score_files_with, ScoreOptions};
    let dir = fixture("mrcr");
    let all = read_rows(&dir, None).unwrap();
    assert_eq!(all.len(), 12);
    let rows: Vec<MrcrRow> = all
        .iter()
        .map(|(_, v)| serde_json::from_value(v.clone().unwrap()).unwrap())
        .collect();
    let needles: Vec<usize> = rows.iter().map(|r| r.n_needles).collect();
    assert_eq!(needles, [2, 2, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8]);
    let numbers: Vec<usize> = all.iter().map(|(i, _)| *i).collect();
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
    let two_four = read_rows(&dir, Some(&[2, 4])).unwrap();
    assert_eq!(two_four.len(), 8);
    let e = read_rows(&dir, Some(&[16])).unwrap_err().to_string();
    assert!(e.contains("16needle"), "{e}");

    // perfect answers for the 2-needle rows, nothing right for the others
    let tmp = tempfile::tempdir().unwrap();
    let pred = tmp.path().join("p.jsonl");
    let lines: String = rows
        .iter()
        .map(|r| {
            let response = if r.n_needles == 2 {
                r.answer.clone()
            } else {
                "no".into()
            };
            format!("{}\n", serde_json::json!({ "response": response }))
        })
        .collect();
    std::fs::write(&pred, lines).unwrap();
    let opts = ScoreOptions {
        resamples: 200,
        ..ScoreOptions::default()
    };
    let r = score_files_with(Task::Mrcr, &pred, &dir, &approx_tokens, opts).unwrap();
    assert_eq!(r.scored, 12);
    assert!((r.mean - 4.0 / 12.0).abs() < 1e-12);
    assert_eq!(r.by_kind["2 needles"].mean, 1.0);
    assert_eq!(r.by_kind["8 needles"].mean, 0.0);
    // every fixture prompt is short: one bin, whose mean is the AUC
    assert_eq!(r.by_length.len(), 1);
    assert_eq!(r.by_length[0].bin, "(0,8K]");
    assert_eq!(r.auc, Some(r.mean));
    assert_eq!(r.conventions.empty_set.name(), "nemo");

    // a length limit drops and counts rows, as lm-eval does
    let opts = ScoreOptions {
        max_len: Some(1),
        allow_missing: true,
        ..ScoreOptions::default()
    };
    let e = score_files_with(Task::Mrcr, &pred, &dir, &approx_tokens, opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("12 longer than --max-len"), "{e}");
}
