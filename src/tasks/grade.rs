//! Official graders.
//!
//! - MRCR (openai/mrcr): 0 unless the response starts with the random hash;
//!   otherwise the hash is removed from both and the score is Python's
//!   `difflib.SequenceMatcher(None, response, answer).ratio()`.
//! - GraphWalks (openai/graphwalks): the last line's `Final Answer: [...]` is
//!   parsed and compared as a set (F1). Harnesses differ on edge cases; acc-probe
//!   follows NeMo's: a parse failure scores 0, both sets empty score 1, exactly
//!   one empty scores 0.

use super::difflib;

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
    let line = response
        .trim_end_matches(['\n', '\r'])
        .rsplit('\n')
        .next()
        .unwrap_or("");
    let at = line.find("Final Answer:")?;
    let rest = line[at + "Final Answer:".len()..].trim_start();
    let inner = rest.strip_prefix('[')?;
    let end = inner.rfind(']')?;
    Some(
        inner[..end]
            .split(',')
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

/// GraphWalks set F1 of one response against the gold node list.
pub fn graphwalks(response: &str, gold: &[String]) -> f64 {
    let Some(pred) = graphwalks_parse(response) else {
        return 0.0;
    };
    let pred: std::collections::BTreeSet<&str> = pred.iter().map(String::as_str).collect();
    let gold: std::collections::BTreeSet<&str> = gold.iter().map(String::as_str).collect();
    match (pred.is_empty(), gold.is_empty()) {
        (true, true) => return 1.0,
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
}
