//! MRCR generator: an independent solver finds the needle from the prompt
//! alone; generation is deterministic; lengths follow the target.

use acc_probe::tasks::grade;
use acc_probe::tasks::mrcr::{counted_text, generate, ordinal, Message};

fn approx_tokens(s: &str) -> usize {
    s.len().div_ceil(4)
}

/// Reads the final request and returns (hash, desired index, expected answer).
fn solve(prompt: &str) -> (String, usize, String) {
    let messages: Vec<Message> = serde_json::from_str(prompt).unwrap();
    let last = &messages.last().unwrap().content;
    let rest = last.strip_prefix("Prepend ").unwrap();
    let (hash, rest) = rest.split_once(" to the ").unwrap();
    let (nth, rest) = rest.split_once(" (1 indexed) ").unwrap();
    let k: usize = nth
        .trim_end_matches(|c: char| c.is_alphabetic())
        .parse()
        .unwrap();
    let (what, _) = rest.split_once(". Do not include any other text").unwrap();
    let wanted_request = format!("write a {what}");
    let hits: Vec<usize> = (1..messages.len() - 1)
        .filter(|&i| messages[i].role == "user" && messages[i].content == wanted_request)
        .map(|i| i + 1)
        .collect();
    let idx = hits[k - 1];
    assert_eq!(messages[idx].role, "assistant");
    (
        hash.to_string(),
        idx,
        format!("{hash}{}", messages[idx].content),
    )
}

#[test]
fn needles_are_found_by_an_independent_solver() {
    for seed in 0..10 {
        for n in [2, 4, 8] {
            let row = generate(seed, 3000, n, &approx_tokens).unwrap();
            let (hash, idx, answer) = solve(&row.prompt);
            assert_eq!(hash, row.random_string_to_prepend);
            assert_eq!(hash.len(), 10);
            assert_eq!(idx, row.desired_msg_index, "seed {seed} n {n}");
            assert_eq!(answer, row.answer);
            let messages: Vec<Message> = serde_json::from_str(&row.prompt).unwrap();
            assert_eq!(messages.len(), row.total_messages);
            let needle = &messages[idx - 1].content;
            assert_eq!(
                messages.iter().filter(|m| &m.content == needle).count(),
                n,
                "{n} identical needle requests"
            );
            assert_eq!(grade::mrcr(&row.answer, &row.answer, &hash), 1.0);
            assert_eq!(
                row.n_chars,
                messages
                    .iter()
                    .map(|m| m.content.chars().count())
                    .sum::<usize>()
            );
        }
    }
}

#[test]
fn deterministic_and_sized_to_the_target() {
    for target in [1000usize, 16000] {
        let a = generate(3, target, 4, &approx_tokens).unwrap();
        assert_eq!(a, generate(3, target, 4, &approx_tokens).unwrap());
        let messages: Vec<Message> = serde_json::from_str(&a.prompt).unwrap();
        let n = approx_tokens(&counted_text(&messages));
        assert!(
            n <= target && n as f64 >= 0.9 * target as f64,
            "target {target}: {n}"
        );
    }
    assert!(generate(3, 100, 8, &approx_tokens)
        .unwrap_err()
        .to_string()
        .contains("the target is 100"));
    assert!(generate(3, 1000, 3, &approx_tokens)
        .unwrap_err()
        .to_string()
        .contains("must be 2, 4 or 8"));
    assert_eq!(
        [1, 2, 3, 4, 11, 12, 13, 21, 22, 103].map(ordinal),
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "103rd"]
    );
}
