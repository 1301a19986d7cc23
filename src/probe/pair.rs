//! A base / fine-tuned model pair probed on identical inputs: the checks a
//! pair must pass (one architecture, one tokenizer) and the layers neither
//! model writes to the residual stream.

use crate::error::{Error, Result};
use crate::model::Checkpoint;
use crate::model_dir::ModelDir;

/// Refuses a pair whose architectures or tokenizers differ (paired statistics
/// need the same layers, heads and experts, and the same token ids).
pub fn check_pair(base: &Checkpoint, acc: &Checkpoint) -> Result<()> {
    let (a, b) = (&base.config, &acc.config);
    let fields = [
        (
            "num_hidden_layers",
            a.num_hidden_layers,
            b.num_hidden_layers,
        ),
        (
            "num_attention_heads",
            a.num_attention_heads,
            b.num_attention_heads,
        ),
        (
            "num_key_value_heads",
            a.num_key_value_heads,
            b.num_key_value_heads,
        ),
        ("head_dim", a.head_dim, b.head_dim),
        ("num_experts", a.num_experts, b.num_experts),
        (
            "num_experts_per_tok",
            a.num_experts_per_tok,
            b.num_experts_per_tok,
        ),
        ("vocab_size", a.vocab_size, b.vocab_size),
    ];
    let diff: Vec<String> = fields
        .iter()
        .filter(|(_, x, y)| x != y)
        .map(|(n, x, y)| format!("{n}: {x} vs {y}"))
        .collect();
    if !diff.is_empty() {
        return Err(Error::Input(format!(
            "{} and {} have different architectures ({}); a paired comparison needs the same layers, heads and experts",
            base.dir.display(),
            acc.dir.display(),
            diff.join(", ")
        )));
    }
    let (ta, tb) = (base.tokenizer_path(), acc.tokenizer_path());
    if let (Some(ta), Some(tb)) = (&ta, &tb) {
        let va = std::fs::read(ta).map_err(|e| Error::io(ta, e))?;
        let vb = std::fs::read(tb).map_err(|e| Error::io(tb, e))?;
        if va != vb {
            return Err(Error::Input(format!(
                "{} and {} differ: the pair must share one tokenizer so that both see identical token ids",
                ta.display(),
                tb.display()
            )));
        }
    }
    Ok(())
}

/// The layers that write nothing to the residual stream in both models
/// (`Qwen3Moe::silent_layers`): a change of their attention or routing
/// cannot change what either model computes.
pub fn silent_in_both(base: &ModelDir, acc: &ModelDir) -> Result<Vec<usize>> {
    let b = base.model.silent_layers()?;
    let a = acc.model.silent_layers()?;
    Ok(b.into_iter().filter(|l| a.contains(l)).collect())
}
