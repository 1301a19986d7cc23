//! A faithful port of Python's `difflib.SequenceMatcher(None, a, b).ratio()`
//! over Unicode code points, including its "autojunk" heuristic: when b has
//! 200 or more items, every item occurring more than len(b)/100 + 1 times is
//! "popular" and cannot start a match (matches may still extend through it).
//! MRCR's official grader is this ratio, so scores must agree with Python to
//! the last bit; tests compare against values Python computed.

use std::collections::HashMap;

/// A matching block (i, j, size): a[i..i+size] == b[j..j+size].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Match {
    pub a: usize,
    pub b: usize,
    pub size: usize,
}

/// `SequenceMatcher(isjunk=None, a, b, autojunk=True)`.
pub struct SequenceMatcher<'s> {
    a: &'s [char],
    b: &'s [char],
    /// b's items (minus popular ones) → their ascending indices in b.
    b2j: HashMap<char, Vec<usize>>,
}

impl<'s> SequenceMatcher<'s> {
    pub fn new(a: &'s [char], b: &'s [char]) -> Self {
        let mut b2j: HashMap<char, Vec<usize>> = HashMap::new();
        for (j, &c) in b.iter().enumerate() {
            b2j.entry(c).or_default().push(j);
        }
        // autojunk: purge popular elements (isjunk is None, so there is no other junk)
        let n = b.len();
        if n >= 200 {
            let ntest = n / 100 + 1;
            b2j.retain(|_, idxs| idxs.len() <= ntest);
        }
        SequenceMatcher { a, b, b2j }
    }

    /// Longest matching block in a[alo..ahi] × b[blo..bhi], earliest in a, then in b.
    pub fn find_longest_match(&self, alo: usize, ahi: usize, blo: usize, bhi: usize) -> Match {
        let (a, b) = (self.a, self.b);
        let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0usize);
        let mut j2len: HashMap<usize, usize> = HashMap::new();
        let mut newj2len: HashMap<usize, usize> = HashMap::new();
        for (i, c) in a.iter().enumerate().take(ahi).skip(alo) {
            newj2len.clear();
            if let Some(idxs) = self.b2j.get(c) {
                for &j in idxs {
                    if j < blo {
                        continue;
                    }
                    if j >= bhi {
                        break;
                    }
                    let k = j
                        .checked_sub(1)
                        .and_then(|jm| j2len.get(&jm))
                        .copied()
                        .unwrap_or(0)
                        + 1;
                    newj2len.insert(j, k);
                    if k > bestsize {
                        besti = i + 1 - k;
                        bestj = j + 1 - k;
                        bestsize = k;
                    }
                }
            }
            std::mem::swap(&mut j2len, &mut newj2len);
        }
        // extend by equal (non-junk; with isjunk=None every item is non-junk) elements on both ends
        while besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1] {
            besti -= 1;
            bestj -= 1;
            bestsize += 1;
        }
        while besti + bestsize < ahi
            && bestj + bestsize < bhi
            && a[besti + bestsize] == b[bestj + bestsize]
        {
            bestsize += 1;
        }
        Match {
            a: besti,
            b: bestj,
            size: bestsize,
        }
    }

    /// All matching blocks, ascending (without Python's trailing sentinel).
    pub fn matching_blocks(&self) -> Vec<Match> {
        let mut queue = vec![(0, self.a.len(), 0, self.b.len())];
        let mut blocks = Vec::new();
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let m = self.find_longest_match(alo, ahi, blo, bhi);
            if m.size > 0 {
                blocks.push(m);
                if alo < m.a && blo < m.b {
                    queue.push((alo, m.a, blo, m.b));
                }
                if m.a + m.size < ahi && m.b + m.size < bhi {
                    queue.push((m.a + m.size, ahi, m.b + m.size, bhi));
                }
            }
        }
        blocks.sort();
        blocks
    }

    /// 2·M / (len(a) + len(b)), 1.0 when both are empty.
    pub fn ratio(&self) -> f64 {
        let matches: usize = self.matching_blocks().iter().map(|m| m.size).sum();
        let total = self.a.len() + self.b.len();
        if total == 0 {
            1.0
        } else {
            2.0 * matches as f64 / total as f64
        }
    }
}

/// `difflib.SequenceMatcher(None, a, b).ratio()` on two strings.
pub fn ratio(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    SequenceMatcher::new(&a, &b).ratio()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases_from_the_python_docs() {
        // SequenceMatcher(None, "abcd", "bcde").ratio() == 0.75
        assert_eq!(ratio("abcd", "bcde"), 0.75);
        assert_eq!(ratio("", ""), 1.0);
        assert_eq!(ratio("abc", ""), 0.0);
        let a: Vec<char> = "qabxcd".chars().collect();
        let b: Vec<char> = "abycdf".chars().collect();
        let m = SequenceMatcher::new(&a, &b).matching_blocks();
        assert_eq!(
            m,
            vec![
                Match {
                    a: 1,
                    b: 0,
                    size: 2
                },
                Match {
                    a: 4,
                    b: 3,
                    size: 2
                }
            ]
        );
    }
}
