//! The ranges a preset's fields must lie in, checked when a preset file is
//! read, before a run of up to an hour starts: a count of 10¹² problems or a
//! NaN learning rate is refused with the field's name and range.

use std::path::Path;

use serde_json::Value;

use super::preset::Preset;
use crate::error::{Error, Result};

/// The largest count a preset field may hold (episodes, problems, drills,
/// steps): ten million of anything is already days of work on a CPU.
pub const MAX_PRESET_COUNT: u64 = 10_000_000;

fn bad(source: &str, field: &str, value: impl std::fmt::Display, valid: &str) -> Error {
    Error::Input(format!(
        "{source}: preset field `{field}` = {value}: expected {valid}"
    ))
}

/// Every whole number in `v` (a field, or the items of a list field) is at
/// most [`MAX_PRESET_COUNT`].
fn counts_bounded(source: &str, field: &str, v: &Value) -> Result<()> {
    match v {
        Value::Number(n) if n.as_u64().is_some_and(|n| n > MAX_PRESET_COUNT) => Err(bad(
            source,
            field,
            n,
            &format!("at most {MAX_PRESET_COUNT}"),
        )),
        Value::Array(items) => items
            .iter()
            .try_for_each(|x| counts_bounded(source, field, x)),
        _ => Ok(()),
    }
}

fn positive(source: &str, field: &str, x: f64) -> Result<()> {
    if x.is_finite() && x > 0.0 {
        return Ok(());
    }
    Err(bad(source, field, x, "a finite number > 0"))
}

impl Preset {
    /// Checks every field against its range (see the module); `source`
    /// names the preset file in messages.
    pub fn validate(&self, source: &str) -> Result<()> {
        let v = serde_json::to_value(self).map_err(|e| Error::Input(format!("{source}: {e}")))?;
        if let Value::Object(fields) = v {
            for (k, v) in &fields {
                counts_bounded(source, k, v)?;
            }
        }
        // the model the preset describes is a model config like any other
        let cfg = self.model_config(self.vocab.max(1));
        cfg.validate(Path::new(&format!("{source} (the preset's model)")))?;
        let positions = cfg.max_position_embeddings;
        for (field, n) in [
            ("task_tokens", self.task_tokens),
            ("seq_len", self.seq_len),
            ("copy_seq_len", self.copy_seq_len),
            ("max_new_tokens", self.max_new_tokens),
        ] {
            if n == 0 || n > positions {
                let valid = format!("1..={positions} (the model's positions)");
                return Err(bad(source, field, n, &valid));
            }
        }
        let (lo, hi) = self.budget;
        if lo == 0 || lo > hi || hi > positions {
            let valid = format!("[MIN, MAX] with 1 <= MIN <= MAX <= {positions}");
            return Err(bad(source, "budget", format!("[{lo}, {hi}]"), &valid));
        }
        for (field, n) in [
            ("batch", self.batch),
            ("copy_batch", self.copy_batch),
            ("eval_n", self.eval_n),
        ] {
            if n == 0 {
                return Err(bad(source, field, n, "at least 1"));
            }
        }
        if !crate::environments::history::valid_commits(self.history_commits) {
            let (lo, hi) = self.history_commits;
            let valid = format!(
                "[MIN, MAX] with 2 <= MIN <= MAX <= {}",
                crate::environments::history::MAX_COMMITS
            );
            return Err(bad(
                source,
                "history_commits",
                format!("[{lo}, {hi}]"),
                &valid,
            ));
        }
        positive(source, "lr", self.lr)?;
        positive(source, "sft_lr", self.sft_lr)?;
        for (field, lr) in [
            ("lm_lr", self.lm_lr),
            ("long_lr", self.long_lr),
            ("acc_lr", self.acc_lr),
        ] {
            if let Some(lr) = lr {
                positive(source, field, lr)?;
            }
        }
        if let Some(c) = &self.copy_until {
            c.until()
                .validate()
                .and_then(|_| c.want().validate(source))
                .map_err(|e| Error::Input(format!("{source}: preset field `copy_until`: {e}")))?;
        }
        positive(source, "qk_norm_init", f64::from(self.qk_norm_init))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presets_pass_and_bad_overrides_are_named() {
        Preset::quick().validate("quick").unwrap();
        Preset::full().validate("full").unwrap();
        for (json, field) in [
            (r#"{"eval_n": 1000000000000}"#, "eval_n"),
            (r#"{"lr": -1.0}"#, "lr"),
            (r#"{"task_tokens": 100000}"#, "task_tokens"),
            (r#"{"budget": [500, 100]}"#, "budget"),
            (r#"{"layers": 0}"#, "num_hidden_layers"),
            (r#"{"history_commits": [1, 5]}"#, "history_commits"),
            (r#"{"batch": 0}"#, "batch"),
            (
                r#"{"copy_until": {"every": 0, "decay": 10, "per_kind": 4, "p_copy": 0.5}}"#,
                "copy_until",
            ),
            (
                r#"{"copy_until": {"every": 10, "decay": 10, "per_kind": 4, "p_copy": 1.5}}"#,
                "copy_until",
            ),
        ] {
            let v: Value = serde_json::from_str(json).unwrap();
            let e = Preset::quick()
                .with_overrides(&v, "p.json")
                .unwrap_err()
                .to_string();
            assert!(e.contains(field) && e.contains("p.json"), "{json}: {e}");
        }
    }
}
