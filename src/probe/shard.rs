//! Sharded captures: `--shard i/N` runs the models on every N-th probe input
//! (positions i, i+N, …), so independent processes (any batch scheduler) can
//! share the work; `acc-probe merge` joins the shards' captures, in the
//! original input order, into the capture cache of the whole run, where the
//! unsharded command then finds them. The merged capture equals the capture
//! of one unsharded run exactly: each example is computed alone either way.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::per_example::{AttnCapture, ExampleMeta};
use super::routing_capture::RoutingCapture;
use crate::error::{Error, Result};
use crate::io::write_atomic;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `i/N` with 0 ≤ i < N.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::Input(format!(
                "--shard {s}: expected i/N with 0 ≤ i < N, e.g. 0/4"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The items at positions index, index + count, …
    pub fn select<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items
            .iter()
            .skip(self.index)
            .step_by(self.count)
            .cloned()
            .collect()
    }
}

/// One model's part in a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardModel {
    /// "base" or "acc".
    pub label: String,
    /// The cache file name of the whole run's capture of this model.
    pub cache_file: String,
    /// This shard's capture, relative to the shard directory.
    pub file: String,
}

/// `shard.json`: what a shard run captured and where the whole run's capture goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardManifest {
    /// "attention" or "routing".
    pub kind: String,
    pub shard: Shard,
    /// Ids of every probe input of the whole run, in order.
    pub input_ids: Vec<String>,
    pub models: Vec<ShardModel>,
    /// The command line that made the shard.
    pub command: String,
}

impl ShardManifest {
    pub const FILE: &'static str = "shard.json";

    pub fn save(&self, dir: &Path) -> Result<()> {
        write_atomic(
            &dir.join(Self::FILE),
            &serde_json::to_vec_pretty(self).expect("manifest serialises"),
        )
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let p = dir.join(Self::FILE);
        let text = crate::io::read_text(&p, crate::io::MAX_DOC_BYTES)?;
        let m: ShardManifest = serde_json::from_str(&text)
            .map_err(|e| Error::Input(format!("{}: not a shard manifest: {e}", p.display())))?;
        let Shard { index, count } = m.shard;
        if count == 0 || index >= count {
            return Err(Error::OutOfRange {
                what: format!("{}: shard", p.display()),
                value: format!("{index}/{count}"),
                valid: "i/N with 0 ≤ i < N".into(),
            });
        }
        Ok(m)
    }
}

/// Positions of `examples` in `order`, checking they are exactly its ids.
fn permutation(examples: &[ExampleMeta], order: &[String]) -> Result<Vec<usize>> {
    let mut pos = Vec::with_capacity(order.len());
    for id in order {
        let found: Vec<usize> = examples
            .iter()
            .enumerate()
            .filter(|(_, e)| &e.id == id)
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [i] => pos.push(*i),
            [] => {
                return Err(Error::Input(format!(
                    "merge: input {id} is in no shard (is a shard missing?)"
                )))
            }
            _ => {
                return Err(Error::Input(format!(
                    "merge: input {id} appears in more than one shard"
                )))
            }
        }
    }
    if examples.len() != order.len() {
        return Err(Error::Input(format!(
            "merge: the shards hold {} inputs, the run has {}",
            examples.len(),
            order.len()
        )));
    }
    Ok(pos)
}

/// Joins attention captures of disjoint shards into the order of `order` (input ids).
pub fn merge_attention(parts: Vec<AttnCapture>, order: &[String]) -> Result<AttnCapture> {
    let all = AttnCapture::merge(parts)?;
    let pos = permutation(&all.examples, order)?;
    Ok(AttnCapture {
        examples: pos.iter().map(|&i| all.examples[i].clone()).collect(),
        summaries: pos.iter().map(|&i| all.summaries[i].clone()).collect(),
        ..all
    })
}

/// Joins routing captures of disjoint shards into the order of `order` (input ids).
pub fn merge_routing(parts: Vec<RoutingCapture>, order: &[String]) -> Result<RoutingCapture> {
    let mut it = parts.into_iter();
    let mut all = it
        .next()
        .ok_or_else(|| Error::Input("merge: no shards".into()))?;
    for p in it {
        if p.layers != all.layers
            || p.model != all.model
            || (p.num_experts, p.top_k) != (all.num_experts, all.top_k)
        {
            return Err(Error::Input(format!(
                "merge: routing captures of different models or layers ({} {:?} vs {} {:?})",
                all.model, all.layers, p.model, p.layers
            )));
        }
        all.examples.extend(p.examples);
        all.stats.extend(p.stats);
        all.topk.extend(p.topk);
        all.probs.extend(p.probs);
    }
    let pos = permutation(&all.examples, order)?;
    Ok(RoutingCapture {
        examples: pos.iter().map(|&i| all.examples[i].clone()).collect(),
        stats: pos.iter().map(|&i| all.stats[i].clone()).collect(),
        topk: pos.iter().map(|&i| all.topk[i].clone()).collect(),
        probs: pos.iter().map(|&i| all.probs[i].clone()).collect(),
        ..all
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_inputs() {
        let items: Vec<usize> = (0..10).collect();
        let parts: Vec<Vec<usize>> = (0..3)
            .map(|i| Shard { index: i, count: 3 }.select(&items))
            .collect();
        assert_eq!(parts[0], vec![0, 3, 6, 9]);
        assert_eq!(parts[2], vec![2, 5, 8]);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 10);
        assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 1, count: 4 });
        for bad in ["4/4", "1", "a/2", "0/0"] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains("i/N"), "{e}");
        }
    }

    fn meta(id: &str) -> ExampleMeta {
        ExampleMeta {
            id: id.into(),
            task: "t".into(),
            tokens: 3,
            rows: (0, 3),
        }
    }

    #[test]
    fn permutation_requires_each_id_once() {
        let ex = vec![meta("b"), meta("a")];
        assert_eq!(
            permutation(&ex, &["a".into(), "b".into()]).unwrap(),
            vec![1, 0]
        );
        assert!(permutation(&ex, &["a".into(), "c".into()]).is_err());
        let dup = vec![meta("a"), meta("a")];
        assert!(permutation(&dup, &["a".into()])
            .unwrap_err()
            .to_string()
            .contains("more than one"));
    }

    #[test]
    fn manifests_with_impossible_shards_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (shard, ok) in [
            ((0, 2), true),
            ((2, 2), false),
            ((0, 0), false),
            ((5, 3), false),
        ] {
            let m = ShardManifest {
                kind: "attention".into(),
                shard: Shard {
                    index: shard.0,
                    count: shard.1,
                },
                input_ids: vec!["a".into()],
                models: Vec::new(),
                command: "acc-probe attention".into(),
            };
            m.save(dir.path()).unwrap();
            let got = ShardManifest::load(dir.path());
            assert_eq!(got.is_ok(), ok, "{shard:?}");
            if !ok {
                let e = got.unwrap_err().to_string();
                assert!(e.contains("shard.json") && e.contains("0 ≤ i < N"), "{e}");
            }
        }
    }
}
