//! Qwen3-MoE configuration as Hugging Face writes it (`config.json`).
//!
//! Both transformers-4.x keys (`num_experts`, `rope_theta`) and transformers-5.x
//! keys (`num_local_experts`, `rope_parameters.rope_theta`) are accepted.
//! Features acc-probe does not implement (sliding-window attention, RoPE
//! scaling, activations other than SiLU) are refused with an error naming the
//! field, never silently ignored.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A validated Qwen3-MoE configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qwen3MoeConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    /// Intermediate size of dense MLP layers (`mlp_only_layers`, `decoder_sparse_step`).
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub moe_intermediate_size: usize,
    pub num_experts: usize,
    pub num_experts_per_tok: usize,
    pub norm_topk_prob: bool,
    pub decoder_sparse_step: usize,
    pub mlp_only_layers: Vec<usize>,
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    pub attention_bias: bool,
    pub router_aux_loss_coef: f64,
}

/// The most tensors a config may imply (Qwen3-30B-A3B has about 18,500).
pub const MAX_TENSORS: f64 = 1e6;
/// The most elements one tensor may have (2^53: sizes stay exact and their
/// byte counts far from overflow; what the disk or memory cannot hold is
/// refused by those checks, with the sizes).
pub const MAX_TENSOR_ELEMENTS: f64 = 9_007_199_254_740_992.0;

impl Qwen3MoeConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::io::read_text(path, crate::io::MAX_DOC_BYTES)?;
        let value: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&value, path)
    }

    /// Validates a parsed `config.json`; `path` is used in error messages.
    pub fn from_json(value: &Value, path: &Path) -> Result<Self> {
        let obj = value.as_object().ok_or_else(|| Error::Config {
            path: path.to_path_buf(),
            field: "<root>".into(),
            reason: "expected a JSON object".into(),
        })?;
        let r = Reader { obj, path };

        match r.opt_str("model_type")? {
            Some("qwen3_moe") => {}
            Some(other) => {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    reason: format!("model_type is `{other}`, expected `qwen3_moe`"),
                })
            }
            None => return Err(r.missing("model_type")),
        }

        let hidden_size = r.usize("hidden_size")?;
        let num_attention_heads = r.usize("num_attention_heads")?;
        let num_key_value_heads = r
            .opt_usize("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        let head_dim = match r.opt_usize("head_dim")? {
            Some(d) => d,
            None => hidden_size / num_attention_heads.max(1),
        };
        let num_experts = match (
            r.opt_usize("num_experts")?,
            r.opt_usize("num_local_experts")?,
        ) {
            (Some(a), Some(b)) if a != b => {
                return Err(r.bad(
                    "num_local_experts",
                    format!("disagrees with num_experts ({b} vs {a})"),
                ))
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => return Err(r.missing("num_experts (or num_local_experts)")),
        };
        let rope_theta = r.rope_theta()?;

        if r.opt_bool("use_sliding_window")?.unwrap_or(false) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: "use_sliding_window is true; sliding-window attention is not supported"
                    .into(),
            });
        }
        if let Some(types) = obj.get("layer_types").and_then(Value::as_array) {
            if let Some((i, t)) = types
                .iter()
                .enumerate()
                .find(|(_, t)| t.as_str() != Some("full_attention"))
            {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    reason: format!("layer_types[{i}] is {t}; only full_attention is supported"),
                });
            }
        }
        if let Some(act) = r.opt_str("hidden_act")? {
            if act != "silu" {
                return Err(r.bad(
                    "hidden_act",
                    format!("`{act}` is not supported (expected silu)"),
                ));
            }
        }

        let cfg = Qwen3MoeConfig {
            vocab_size: r.usize("vocab_size")?,
            hidden_size,
            intermediate_size: r.opt_usize("intermediate_size")?.unwrap_or(0),
            num_hidden_layers: r.usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            moe_intermediate_size: r.usize("moe_intermediate_size")?,
            num_experts,
            num_experts_per_tok: r.usize("num_experts_per_tok")?,
            norm_topk_prob: r.opt_bool("norm_topk_prob")?.unwrap_or(false),
            decoder_sparse_step: r.opt_usize("decoder_sparse_step")?.unwrap_or(1),
            mlp_only_layers: r.opt_usize_list("mlp_only_layers")?.unwrap_or_default(),
            rope_theta,
            rms_norm_eps: r.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
            max_position_embeddings: r.usize("max_position_embeddings")?,
            tie_word_embeddings: r.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            attention_bias: r.opt_bool("attention_bias")?.unwrap_or(false),
            router_aux_loss_coef: r.opt_f64("router_aux_loss_coef")?.unwrap_or(0.001),
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks internal consistency; `path` is used in error messages.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, reason: String| Error::Config {
            path: path.to_path_buf(),
            field: field.into(),
            reason,
        };
        for (field, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("decoder_sparse_step", self.decoder_sparse_step),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return Err(bad(field, "must be > 0".into()));
            }
        }
        // sizes are checked before anything is allocated for them
        let tensors = self.expected_tensor_count();
        if tensors > MAX_TENSORS {
            return Err(bad(
                if self.num_experts > self.num_hidden_layers {
                    "num_experts"
                } else {
                    "num_hidden_layers"
                },
                format!(
                    "{} layers of {} experts need {tensors:.1e} tensors; at most {MAX_TENSORS:.0e} are supported",
                    self.num_hidden_layers, self.num_experts
                ),
            ));
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err(bad(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(bad(
                "head_dim",
                format!("{} is odd; RoPE needs an even head_dim", self.head_dim),
            ));
        }
        let moe_layers = self.moe_layer_count();
        let any_moe = moe_layers > 0;
        if any_moe {
            if self.num_experts_per_tok == 0 || self.num_experts_per_tok > self.num_experts {
                return Err(bad(
                    "num_experts_per_tok",
                    format!(
                        "{} must be in 1..={} (num_experts)",
                        self.num_experts_per_tok, self.num_experts
                    ),
                ));
            }
            if self.moe_intermediate_size == 0 {
                return Err(bad("moe_intermediate_size", "must be > 0".into()));
            }
        }
        let any_dense = moe_layers < self.num_hidden_layers;
        if any_dense && self.intermediate_size == 0 {
            return Err(bad(
                "intermediate_size",
                "missing or 0, but some layers use a dense MLP (mlp_only_layers / decoder_sparse_step)".into(),
            ));
        }
        if let Some(&l) = self
            .mlp_only_layers
            .iter()
            .find(|&&l| l >= self.num_hidden_layers)
        {
            return Err(bad(
                "mlp_only_layers",
                format!("layer {l} is out of range 0..{}", self.num_hidden_layers),
            ));
        }
        for (field, v) in [
            ("rope_theta", self.rope_theta),
            ("rms_norm_eps", self.rms_norm_eps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(field, format!("{v} must be a finite number > 0")));
            }
        }
        let widest = [
            (
                "vocab_size",
                self.vocab_size as f64 * self.hidden_size as f64,
            ),
            (
                "num_attention_heads",
                self.num_attention_heads as f64 * self.head_dim as f64 * self.hidden_size as f64,
            ),
            (
                "intermediate_size",
                self.intermediate_size as f64 * self.hidden_size as f64,
            ),
            (
                "moe_intermediate_size",
                self.moe_intermediate_size as f64 * self.hidden_size as f64,
            ),
        ];
        for (field, elems) in widest {
            if elems > MAX_TENSOR_ELEMENTS {
                return Err(bad(
                    field,
                    format!(
                        "makes a tensor of {elems:.1e} elements; at most {MAX_TENSOR_ELEMENTS:.0e} are supported"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How many of the layers use the sparse MoE block (arithmetic, no
    /// loop over the layers).
    pub fn moe_layer_count(&self) -> usize {
        if self.num_experts == 0 || self.decoder_sparse_step == 0 {
            return 0;
        }
        let mut dense: Vec<usize> = self
            .mlp_only_layers
            .iter()
            .copied()
            .filter(|&l| {
                l < self.num_hidden_layers && (l + 1).is_multiple_of(self.decoder_sparse_step)
            })
            .collect();
        dense.sort_unstable();
        dense.dedup();
        self.num_hidden_layers / self.decoder_sparse_step - dense.len()
    }

    /// How many tensors the config implies (no allocation; checkpoint
    /// validation compares it with the files before listing them).
    pub fn expected_tensor_count(&self) -> f64 {
        let l = self.num_hidden_layers as f64;
        let moe = self.moe_layer_count() as f64;
        let per_layer = 8.0 + if self.attention_bias { 4.0 } else { 0.0 };
        let top = if self.tie_word_embeddings { 2.0 } else { 3.0 };
        top + l * per_layer + moe * (1.0 + 3.0 * self.num_experts as f64) + (l - moe) * 3.0
    }

    /// Whether layer `l` uses the sparse MoE block (the rule of HF transformers'
    /// `Qwen3MoeDecoderLayer`) rather than a dense MLP.
    pub fn is_moe_layer(&self, l: usize) -> bool {
        !self.mlp_only_layers.contains(&l)
            && self.num_experts > 0
            && (l + 1).is_multiple_of(self.decoder_sparse_step)
    }

    /// Number of query heads sharing one key/value head.
    pub fn gqa_group(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// Serialises to a transformers-4.x style `config.json` object.
    pub fn to_hf_json(&self) -> Value {
        serde_json::json!({
            "architectures": ["Qwen3MoeForCausalLM"],
            "model_type": "qwen3_moe",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "moe_intermediate_size": self.moe_intermediate_size,
            "num_experts": self.num_experts,
            "num_experts_per_tok": self.num_experts_per_tok,
            "norm_topk_prob": self.norm_topk_prob,
            "decoder_sparse_step": self.decoder_sparse_step,
            "mlp_only_layers": self.mlp_only_layers,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_norm_eps,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "attention_dropout": 0.0,
            "hidden_act": "silu",
            "use_sliding_window": false,
            "sliding_window": null,
            "router_aux_loss_coef": self.router_aux_loss_coef,
            "output_router_logits": false,
            "torch_dtype": "float32",
        })
    }
}

/// Field accessors that produce errors naming the file and the field.
struct Reader<'a> {
    obj: &'a Map<String, Value>,
    path: &'a Path,
}

impl Reader<'_> {
    fn missing(&self, field: &str) -> Error {
        Error::Config {
            path: self.path.to_path_buf(),
            field: field.into(),
            reason: "missing".into(),
        }
    }

    fn bad(&self, field: &str, reason: String) -> Error {
        Error::Config {
            path: PathBuf::from(self.path),
            field: field.into(),
            reason,
        }
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    fn usize(&self, field: &str) -> Result<usize> {
        self.opt_usize(field)?.ok_or_else(|| self.missing(field))
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_u64().map(|x| Some(x as usize)).ok_or_else(|| {
                self.bad(field, format!("expected a non-negative integer, found {v}"))
            }),
        }
    }

    fn opt_f64(&self, field: &str) -> Result<Option<f64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.bad(field, format!("expected a number, found {v}"))),
        }
    }

    fn opt_bool(&self, field: &str) -> Result<Option<bool>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.bad(field, format!("expected true or false, found {v}"))),
        }
    }

    fn opt_str(&self, field: &str) -> Result<Option<&str>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.bad(field, format!("expected a string, found {v}"))),
        }
    }

    fn opt_usize_list(&self, field: &str) -> Result<Option<Vec<usize>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64().map(|x| x as usize).ok_or_else(|| {
                        self.bad(
                            field,
                            format!("expected a list of layer indices, found {v}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.bad(field, format!("expected a list, found {v}"))),
        }
    }

    /// `rope_theta` (4.x) or `rope_parameters.rope_theta` (5.x); RoPE scaling is refused.
    fn rope_theta(&self) -> Result<f64> {
        let check_type = |field: &str, params: &Map<String, Value>| -> Result<()> {
            match params
                .get("rope_type")
                .or_else(|| params.get("type"))
                .and_then(Value::as_str)
            {
                None | Some("default") => Ok(()),
                Some(t) => Err(Error::Unsupported {
                    path: self.path.to_path_buf(),
                    reason: format!("{field}.rope_type is `{t}`; only default RoPE is supported"),
                }),
            }
        };
        if let Some(Value::Object(scaling)) = self.get("rope_scaling") {
            check_type("rope_scaling", scaling)?;
        }
        let nested = match self.get("rope_parameters") {
            Some(Value::Object(p)) => {
                check_type("rope_parameters", p)?;
                match p.get("rope_theta") {
                    Some(v) => Some(v.as_f64().ok_or_else(|| {
                        self.bad(
                            "rope_parameters.rope_theta",
                            format!("expected a number, found {v}"),
                        )
                    })?),
                    None => None,
                }
            }
            Some(v) => {
                return Err(self.bad("rope_parameters", format!("expected an object, found {v}")))
            }
            None => None,
        };
        match (self.opt_f64("rope_theta")?, nested) {
            (Some(a), Some(b)) if (a - b).abs() > 1e-9 * a.abs() => Err(self.bad(
                "rope_parameters.rope_theta",
                format!("disagrees with rope_theta ({b} vs {a})"),
            )),
            (Some(a), _) | (None, Some(a)) => Ok(a),
            (None, None) => Err(self.missing("rope_theta (or rope_parameters.rope_theta)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::loader::expected_tensors;
    use crate::model::synth::{bench_config, shape_config};

    #[test]
    fn the_tensor_count_is_the_expected_list_without_building_it() {
        let mut cfgs = vec![bench_config(), shape_config("qwen3-30b-a3b").unwrap()];
        let mut c = bench_config();
        c.tie_word_embeddings = true;
        c.attention_bias = true;
        c.mlp_only_layers = vec![0, 2, 2];
        c.intermediate_size = 64;
        cfgs.push(c.clone());
        c.decoder_sparse_step = 2;
        c.mlp_only_layers = vec![1];
        cfgs.push(c);
        for c in cfgs {
            assert_eq!(c.expected_tensor_count(), expected_tensors(&c).len() as f64);
            let moe = (0..c.num_hidden_layers)
                .filter(|&l| c.is_moe_layer(l))
                .count();
            assert_eq!(c.moe_layer_count(), moe);
        }
    }

    #[test]
    fn impossible_and_unbounded_configs_are_refused_before_allocating() {
        let path = Path::new("config.json");
        let refused = |edit: &dyn Fn(&mut Qwen3MoeConfig)| {
            let mut c = bench_config();
            edit(&mut c);
            c.validate(path).unwrap_err().to_string()
        };
        for theta in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = refused(&|c| c.rope_theta = theta);
            assert!(
                e.contains("rope_theta") && e.contains("finite number > 0"),
                "{e}"
            );
        }
        let e = refused(&|c| c.rms_norm_eps = -1e-6);
        assert!(e.contains("rms_norm_eps"), "{e}");
        // 10^9 experts or layers: refused with the number, without a loop over them
        let e = refused(&|c| c.num_experts = 1_000_000_000);
        assert!(e.contains("num_experts") && e.contains("tensors"), "{e}");
        let e = refused(&|c| c.num_hidden_layers = 1_000_000_000);
        assert!(
            e.contains("num_hidden_layers") && e.contains("tensors"),
            "{e}"
        );
        let e = refused(&|c| c.vocab_size = usize::MAX / 2);
        assert!(e.contains("vocab_size") && e.contains("elements"), "{e}");
        bench_config().validate(path).unwrap();
    }
}
