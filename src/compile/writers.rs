//! Output writers: ACC-dataset rows, OpenAI fine-tuning messages, TRL
//! prompt/completion, LLaMA-Factory ShareGPT (+ dataset_info entry), and
//! pre-tokenised rows (input_ids + labels with -100 outside reasoning+answer).
//! Every row records domain, source, seed, token counts and the pieces used.

use serde_json::{json, Value};

use super::pipeline::Sample;
use crate::chat::{ChatTemplate, Message};
use crate::error::{Error, Result};

/// Output row formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    Acc,
    Openai,
    Trl,
    Llamafactory,
    Tokens,
}

impl Writer {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "acc" => Ok(Self::Acc),
            "openai" => Ok(Self::Openai),
            "trl" => Ok(Self::Trl),
            "llamafactory" => Ok(Self::Llamafactory),
            "tokens" => Ok(Self::Tokens),
            _ => Err(Error::Input(format!(
                "unknown writer `{s}`: expected acc, openai, trl, llamafactory or tokens"
            ))),
        }
    }
}

/// ACC-style length label: tokens rounded up to whole thousands of 1,024 ("64k").
pub fn length_label(tokens: usize) -> String {
    format!("{}k", tokens.div_ceil(1024).max(1))
}

fn meta(s: &Sample) -> Value {
    let mut m = json!({
        "id": s.id, "domain": s.domain, "source_format": s.source_format, "source": s.source, "seed": s.seed,
        "context_tokens": s.context.tokens, "budget": s.context.budget, "pieces": s.context.placed,
        "dropped_pieces": s.context.dropped, "notes": s.notes, "verified": s.verified,
    });
    if let Some(q) = &s.gold_sql {
        m["gold_sql"] = json!(q);
    }
    m
}

/// One output row (JSON) for `s`. `tokens` needs a tokenizer and chat template.
pub fn row(
    s: &Sample,
    writer: Writer,
    tok: Option<(&tokenizers::Tokenizer, &ChatTemplate)>,
) -> Result<Value> {
    let user = json!({"role": "user", "content": s.context.prompt});
    let target = s.target();
    Ok(match writer {
        Writer::Acc => json!({
            "dialogs": [user, {"role": "assistant", "content": target}],
            "ground_truth_answer": s.answer,
            "context_length": length_label(s.context.tokens),
            "meta": meta(s),
        }),
        Writer::Openai => json!({
            "messages": [user, {"role": "assistant", "content": target, "weight": 1}],
            "meta": meta(s),
        }),
        Writer::Trl => json!({
            "prompt": [user],
            "completion": [{"role": "assistant", "content": target}],
            "meta": meta(s),
        }),
        Writer::Llamafactory => json!({
            "conversations": [{"from": "human", "value": s.context.prompt}, {"from": "gpt", "value": target}],
            "meta": meta(s),
        }),
        Writer::Tokens => {
            let (tokenizer, template) =
                tok.ok_or_else(|| Error::Input("the tokens writer needs --tokenizer".into()))?;
            let prompt_msgs = [Message {
                role: "user".into(),
                content: s.context.prompt.clone(),
            }];
            let prefix = template.render(&prompt_msgs, true)?;
            let full = template.render(
                &[
                    prompt_msgs[0].clone(),
                    Message {
                        role: "assistant".into(),
                        content: target.clone(),
                    },
                ],
                false,
            )?;
            if !full.starts_with(&prefix) {
                return Err(Error::Input(
                    "chat template: the prompt rendering is not a prefix of the full conversation"
                        .into(),
                ));
            }
            let enc = |t: &str| -> Result<Vec<u32>> {
                Ok(tokenizer
                    .encode(t, false)
                    .map_err(|e| Error::Input(format!("tokenizer: {e}")))?
                    .get_ids()
                    .to_vec())
            };
            let p = enc(&prefix)?;
            let rest = enc(&full[prefix.len()..])?;
            let mut labels: Vec<i64> = vec![-100; p.len()];
            labels.extend(rest.iter().map(|&x| x as i64));
            let mut ids = p;
            ids.extend(rest);
            json!({"input_ids": ids, "labels": labels, "meta": meta(s)})
        }
    })
}

/// The LLaMA-Factory dataset_info.json entry for a file of `llamafactory` rows.
pub fn dataset_info_entry(name: &str, file_name: &str) -> Value {
    json!({ name: {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "conversations"},
                   "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}} })
}
