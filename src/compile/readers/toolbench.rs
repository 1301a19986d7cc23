//! ToolBench / StableToolBench answers (DFSDT trees and CoT chains): an
//! object with `answer_generation{query, valid_data, final_answer,
//! finish_type, train_messages[[…]]}` beside `tree` or `trys`.
//! `train_messages` holds one message list per decision node, each the full
//! prefix of the chain; the last list is the whole chain. Messages are legacy
//! OpenAI: `function_call{name, arguments}` answered by `role: function`.
//! The run answers with a `Finish` pseudo-call whose arguments hold
//! `return_type` (`give_answer` | `give_up_and_restart`) and `final_answer`.

use serde_json::Value;

use super::chat::{self, Msg};
use super::Reject;
use crate::compile::trajectory::{parse_args, SourceRef, Trajectory};

/// Whether a JSON record is a ToolBench answer file.
pub fn detect(v: &Value) -> bool {
    v.get("answer_generation").is_some_and(Value::is_object)
        && (v.get("tree").is_some() || v.get("trys").is_some() || v.get("win").is_some())
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let ag = &v["answer_generation"];
    let chains = ag["train_messages"]
        .as_array()
        .ok_or("answer_generation.train_messages is not a list")?;
    let Some(chain) = chains.iter().rev().find_map(Value::as_array) else {
        return Err(Reject::unfinished(format!(
            "the search found no answer (valid_data {}, win {}): no chain to train on",
            ag["valid_data"], v["win"]
        )));
    };
    let mut msgs: Vec<Msg> = Vec::with_capacity(chain.len());
    let mut finish: Option<Value> = None;
    for (i, m) in chain.iter().enumerate() {
        let Some(mut msg) = Msg::openai(m, i)? else {
            continue;
        };
        // the Finish pseudo-call is the answer, not a tool
        if let Some(k) = msg.calls.iter().position(|c| c.name == "Finish") {
            finish = Some(parse_args(&msg.calls.remove(k).args));
            if msg.calls.is_empty() && msg.text.trim().is_empty() {
                continue;
            }
        }
        msgs.push(msg);
    }
    let walked = chat::walk(msgs)?;
    let answer = finish
        .as_ref()
        .and_then(|f| match f["return_type"].as_str() {
            Some("give_answer") => f["final_answer"].as_str().map(str::to_owned),
            _ => None,
        });
    let Some(answer) = answer.filter(|a| !a.trim().is_empty()) else {
        let how = finish
            .as_ref()
            .and_then(|f| f["return_type"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "no Finish call".into());
        return Err(Reject::unfinished(format!(
            "the chain ends without an answer ({how})"
        )));
    };
    let question = ag["query"]
        .as_str()
        .map(str::to_owned)
        .or(walked
            .question
            .map(|q| q.trim().trim_end_matches("Begin!").trim().to_string()))
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Reject::no_task("no query"))?;
    Ok(Trajectory {
        id: v["query_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "toolbench".into(),
        source,
        question: question.trim().to_string(),
        system: walked.system,
        steps: walked.steps,
        final_answer: Some(answer),
        patch: None,
        verified: v["win"].as_bool(),
    })
}
