//! Single LLM-call logs (litellm style, as OpenHands and its SDK write them
//! under `logs/llm/`): the prompt `messages` of one completion request and
//! the model's reply in `response.choices[0].message` (or `raw_response`).
//! The reply is the final turn of the trajectory. Tool calls are native
//! (`tool_calls`) or written in the text as `<function=NAME><parameter=…>`
//! blocks whose results come back as user turns `EXECUTION RESULT of [NAME]:`
//! (lifted by `text_calls`). The task is the first user turn, without the
//! worked example that non-native function calling puts before it.

use serde_json::Value;

use super::{chat, util, Reject};
use crate::compile::trajectory::{SourceRef, Trajectory};

/// The reply message of a completion log: `response`, else `raw_response`
/// (a parsed response may hold empty `tool_calls: [{}]` when the calls were
/// written as text; the raw one keeps them).
fn reply(v: &Value) -> Option<&Value> {
    let message = |k: &str| {
        v.get(k)?
            .get("choices")?
            .as_array()?
            .first()?
            .get("message")
            .filter(|m| m.is_object())
    };
    let whole = |m: &&Value| {
        m["tool_calls"].as_array().is_none_or(|calls| {
            calls
                .iter()
                .all(|c| c.get("function").unwrap_or(c)["name"].is_string())
        })
    };
    let candidates = ["response", "raw_response", "fncall_response"];
    candidates
        .iter()
        .find_map(|k| message(k).filter(whole))
        .or_else(|| candidates.iter().find_map(|k| message(k)))
}

/// Whether a JSON record is one logged completion: prompt messages and a reply.
pub fn detect(v: &Value) -> bool {
    v.get("messages").is_some_and(Value::is_array) && reply(v).is_some()
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let mut msgs = v["messages"].as_array().cloned().unwrap_or_default();
    let mut last = reply(v).cloned().ok_or("no response.choices[0].message")?;
    if last.get("role").is_none() {
        last["role"] = "assistant".into();
    }
    msgs.push(last);
    let chat = chat::walk_openai(&msgs)?;
    let question = chat
        .question
        .as_deref()
        .map(util::task_statement)
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Reject::no_task("no user turn with the task in the logged prompt"))?;
    let id = v["response"]["id"]
        .as_str()
        .or(v["id"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| source.to_string());
    Ok(Trajectory {
        id,
        source_format: "llm-call".into(),
        source,
        question,
        system: chat.system,
        steps: chat.steps,
        final_answer: chat.final_answer,
        patch: None,
        verified: None,
    })
}
