//! The MRCR grader's ratio against values Python's difflib computed
//! (tests/fixtures/difflib_cases.json, made by scripts/difflib_expected.py):
//! short, long, repetitive (autojunk) and non-ASCII pairs, compared exactly.

use std::path::PathBuf;

#[derive(serde::Deserialize)]
struct Case {
    a: String,
    b: String,
    ratio: f64,
}

#[test]
fn ratio_equals_python_difflib_exactly() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/difflib_cases.json");
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() > 20);
    let mut autojunk = 0;
    for (n, c) in cases.iter().enumerate() {
        let got = acc_probe::tasks::difflib::ratio(&c.a, &c.b);
        assert_eq!(
            got,
            c.ratio,
            "case {n}: {:?} vs {:?}",
            &c.a.chars().take(40).collect::<String>(),
            &c.b.chars().take(40).collect::<String>()
        );
        autojunk += (c.b.chars().count() >= 200) as usize;
    }
    assert!(autojunk >= 5, "the autojunk heuristic must be exercised");
}

#[test]
fn mrcr_grade_uses_the_ratio_after_the_hash() {
    let h = "a1B2c3D4e5";
    let answer = format!("{h}Here is a poem about tapirs.");
    let resp = format!("{h}Here is a poem about tapir.");
    let expected = acc_probe::tasks::difflib::ratio(
        "Here is a poem about tapir.",
        "Here is a poem about tapirs.",
    );
    assert_eq!(acc_probe::tasks::grade::mrcr(&resp, &answer, h), expected);
    assert!(expected > 0.9 && expected < 1.0);
}
