//! Official graders.
//!
//! - MRCR (openai/mrcr): 0 unless the response starts with the random hash;
//!   otherwise the hash is removed from both and the score is Python's
//!   `difflib.SequenceMatcher(None, response, answer).ratio()`.
//! - GraphWalks (openai/graphwalks): a `Final Answer: [...]` line is parsed
//!   and compared with the gold nodes as a set (F1). *Strict* takes the last
//!   line only (the dataset card, NeMo Gym, lm-eval's `f1`); *flexible* the
//!   last line anywhere that holds one (lm-eval's `flexible_f1`). A response
//!   without one scores 0, and exactly one empty set scores 0. Both sets
//!   empty is where harnesses differ: 1 in NeMo Gym, 0 in lm-eval
//!   ([`EmptySet`]; NeMo's by default).

use serde::{Deserialize, Serialize};

use super::difflib;

/// What a GraphWalks answer scores when it and the gold set are both empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmptySet {
    /// NeMo Gym: 1 (the empty answer to a question whose answer is empty).
    #[default]
    Nemo,
    /// lm-evaluation-harness: 0 (its F1 is 0 whenever precision + recall is 0).
    LmEval,
}

impl EmptySet {
    pub const NAMES: [&'static str; 2] = ["nemo", "lm-eval"];

    pub fn name(self) -> &'static str {
        match self {
            EmptySet::Nemo => "nemo",
            EmptySet::LmEval => "lm-eval",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "nemo" => Some(EmptySet::Nemo),
            "lm-eval" => Some(EmptySet::LmEval),
            _ => None,
        }
    }
}

/// Where a GraphWalks `Final Answer: [...]` may stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerLine {
    /// The last line only (strict).
    Last,
    /// The last line that holds one, anywhere (flexible).
    Any,
}

/// MRCR score of one response.
pub fn mrcr(response: &str, answer: &str, random_string_to_prepend: &str) -> f64 {
    let Some(resp) = response.strip_prefix(random_string_to_prepend) else {
        return 0.0;
    };
    let ans = answer
        .strip_prefix(random_string_to_prepend)
        .unwrap_or(answer);
    difflib::ratio(resp, ans)
}

/// Parses the node list of the last line's `Final Answer: [...]`; `None` when
/// the last line holds no such list.
pub fn graphwalks_parse(response: &str) -> Option<Vec<String>> {
    graphwalks_parse_at(response, AnswerLine::Last)
}

/// Parses the node list of the `Final Answer: [...]` that `line` picks.
pub fn graphwalks_parse_at(response: &str, line: AnswerLine) -> Option<Vec<String>> {
    let mut lines = response.trim_end_matches(['\n', '\r']).rsplit('\n');
    match line {
        AnswerLine::Last => parse_line(lines.next().unwrap_or("")),
        AnswerLine::Any => lines.find_map(parse_line),
    }
}

/// The node list of one line's `Final Answer: [...]` (the text between the
/// first `[` after it and the line's last `]`).
fn parse_line(line: &str) -> Option<Vec<String>> {
    let (_, rest) = line.split_once("Final Answer:")?;
    let inner = rest.trim_start().strip_prefix('[')?;
    let (list, _) = inner.rsplit_once(']')?;
    Some(
        list.split(',')
            .map(|s| {
                s.trim()
                    .trim_matches(|c| c == '"' || c == '\'')
                    .trim()
                    .to_string()
            })
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// GraphWalks strict set F1 of one response against the gold node list,
/// both sets empty scoring 1 (NeMo Gym).
pub fn graphwalks(response: &str, gold: &[String]) -> f64 {
    graphwalks_f1(response, gold, AnswerLine::Last, EmptySet::Nemo)
}

/// GraphWalks set F1 with the answer line and empty-set convention given.
pub fn graphwalks_f1(response: &str, gold: &[String], line: AnswerLine, empty: EmptySet) -> f64 {
    let Some(pred) = graphwalks_parse_at(response, line) else {
        return 0.0;
    };
    let pred: std::collections::BTreeSet<&str> = pred.iter().map(String::as_str).collect();
    let gold: std::collections::BTreeSet<&str> = gold.iter().map(String::as_str).collect();
    match (pred.is_empty(), gold.is_empty()) {
        (true, true) if empty == EmptySet::Nemo => return 1.0,
        (true, true) => return 0.0,
        (true, false) | (false, true) => return 0.0,
        _ => {}
    }
    let overlap = pred.intersection(&gold).count() as f64;
    let (p, r) = (overlap / pred.len() as f64, overlap / gold.len() as f64);
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn mrcr_requires_the_hash() {
        assert_eq!(mrcr("abc poem", "XyZ12345ab abc poem", "XyZ12345ab"), 0.0);
        assert_eq!(
            mrcr("XyZ12345ab abc poem", "XyZ12345ab abc poem", "XyZ12345ab"),
            1.0
        );
        assert_eq!(mrcr("XyZ12345ab", "XyZ12345ab", "XyZ12345ab"), 1.0);
    }

    #[test]
    fn graphwalks_edge_cases() {
        let gold = s(&["a1", "b2", "c3"]);
        assert_eq!(
            graphwalks("reasoning\nFinal Answer: [a1, b2, c3]", &gold),
            1.0
        );
        assert_eq!(graphwalks("Final Answer: [c3, a1, b2]\n", &gold), 1.0);
        let f = graphwalks("x\nFinal Answer: [a1, zz]", &gold);
        assert!((f - 2.0 * 0.5 * (1.0 / 3.0) / (0.5 + 1.0 / 3.0)).abs() < 1e-12);
        // the answer must be on the last line
        assert_eq!(
            graphwalks("Final Answer: [a1, b2, c3]\nmore text", &gold),
            0.0
        );
        assert_eq!(graphwalks("no answer", &gold), 0.0);
        assert_eq!(graphwalks("Final Answer: []", &[]), 1.0);
        assert_eq!(graphwalks("Final Answer: []", &gold), 0.0);
        assert_eq!(graphwalks("Final Answer: [a1]", &[]), 0.0);
        assert_eq!(graphwalks("Final Answer: ['a1', \"b2\", c3]", &gold), 1.0);
        assert_eq!(graphwalks("Final Answer: [q, r]", &gold), 0.0);
    }

    /// Hand-computed: strict and flexible F1 under both empty-set conventions.
    #[test]
    fn strict_and_flexible_f1_under_both_conventions() {
        use AnswerLine::{Any, Last};
        use EmptySet::{LmEval, Nemo};
        let gold = s(&["a", "b", "c", "d"]);
        // answer on the last line: both parsers agree; P = 2/3, R = 2/4, F1 = 4/7
        let r = "thinking\nFinal Answer: [a, b, x]";
        for line in [Last, Any] {
            assert!((graphwalks_f1(r, &gold, line, Nemo) - 4.0 / 7.0).abs() < 1e-12);
        }
        // answer followed by more text: strict 0, flexible finds it (F1 = 1)
        let r = "Final Answer: [d, c, b, a]\nThat is all.";
        assert_eq!(graphwalks_f1(r, &gold, Last, Nemo), 0.0);
        assert_eq!(graphwalks_f1(r, &gold, Any, Nemo), 1.0);
        // two answers: flexible takes the later one (P = 1, R = 1/4, F1 = 0.4)
        let r = "Final Answer: [a, b, c, d]\nno, wait\nFinal Answer: [a]\nDone.";
        assert!((graphwalks_f1(r, &gold, Any, LmEval) - 0.4).abs() < 1e-12);
        // both empty: 1 in NeMo Gym, 0 in lm-eval, under either parser
        for line in [Last, Any] {
            assert_eq!(graphwalks_f1("Final Answer: []", &[], line, Nemo), 1.0);
            assert_eq!(graphwalks_f1("Final Answer: []", &[], line, LmEval), 0.0);
        }
        // no answer line scores 0 whatever the gold set
        assert_eq!(graphwalks_f1("I don't know", &[], Any, Nemo), 0.0);
        // one side empty: 0 under both conventions
        assert_eq!(graphwalks_f1("Final Answer: [a]", &[], Last, Nemo), 0.0);
        assert_eq!(graphwalks_f1("Final Answer: []", &gold, Last, LmEval), 0.0);
    }
}
