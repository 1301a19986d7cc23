//! AgentBench `runs.jsonl` rows `{index, error, info, output{status, result,
//! history[{role: user|agent, content}]}, time}` and AgentInstruct-style
//! rows (`conversations[{role|from, content|value}]` with the same text
//! actions). The agent writes one action per turn as text (`text_actions`);
//! the next user turn is its result. The task is the user text before the
//! first action (instructions, then the question); the answer is the
//! `FINISH(...)` / `Final Answer:` / `Act: answer(...)` turn. A row whose
//! status is not `completed`, or that carries an `error`, never finished.

use serde_json::Value;

use super::chat::{self, Msg, Role};
use super::sharegpt::turn;
use super::text_actions::{self, TextAction};
use super::Reject;
use crate::compile::trajectory::{content_text, SourceRef, Trajectory};

/// Whether a JSON record is an AgentBench run row.
pub fn detect(v: &Value) -> bool {
    v.get("output")
        .is_some_and(|o| o.is_object() && o.get("status").is_some() && o.get("history").is_some())
        && v.get("index").is_some()
}

/// Whether a `conversations` record speaks the AgentInstruct text actions
/// (its instructions ask for them and an agent turn writes one).
pub fn is_agent_instruct(v: &Value) -> bool {
    let Some(turns) = v.get("conversations").and_then(Value::as_array) else {
        return false;
    };
    let text = |m: &Value| turn(m).1;
    let speaker = |m: &Value| turn(m).0.to_string();
    let asks = turns.first().is_some_and(|m| {
        let t = text(m);
        t.contains("Action: Operation") || t.contains("Act: bash") || t.contains("Final Answer:")
    });
    // text actions only: a conversation with structured calls or results is ShareGPT
    let plain = turns.iter().all(|m| {
        matches!(
            speaker(m).as_str(),
            "human" | "user" | "gpt" | "assistant" | "agent" | "system"
        )
    });
    asks && plain
        && turns.iter().any(|m| {
            matches!(speaker(m).as_str(), "assistant" | "gpt" | "agent")
                && text_actions::parse(&text(m)).is_some()
        })
}

/// Whether a record is an AgentBench run row or an AgentInstruct row.
pub fn detect_any(v: &Value) -> bool {
    detect(v) || is_agent_instruct(v)
}

/// Reads either kind of row.
pub fn read_any(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    if detect(v) {
        read(v, source)
    } else {
        read_conversations(v, source)
    }
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        return Err(Reject::unfinished(format!(
            "the run failed ({}: {})",
            content_text(e),
            content_text(&v["info"])
        )));
    }
    let status = v["output"]["status"].as_str().unwrap_or("?");
    if status != "completed" {
        return Err(Reject::unfinished(format!(
            "the run ended with status `{status}`, not `completed`"
        )));
    }
    let history = v["output"]["history"]
        .as_array()
        .ok_or("output.history is not a list")?;
    let id = format!("agentbench-{}", v["index"]);
    let mut t = walk(history, id, source)?;
    if t.final_answer.is_none() {
        t.final_answer = v["output"]["result"]
            .as_str()
            .map(str::to_owned)
            .filter(|r| !r.trim().is_empty());
    }
    Ok(t)
}

/// An AgentInstruct `conversations` row.
pub fn read_conversations(v: &Value, source: SourceRef) -> Result<Trajectory, Reject> {
    let turns = v["conversations"]
        .as_array()
        .ok_or("no conversations list")?;
    let id = v["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| source.to_string());
    walk(turns, id, source)
}

/// Turns of user / agent text to a trajectory.
fn walk(turns: &[Value], id: String, source: SourceRef) -> Result<Trajectory, Reject> {
    let mut prompt: Vec<String> = Vec::new();
    let mut msgs: Vec<Msg> = Vec::new();
    let mut answer: Option<String> = None;
    let mut acted = false;
    // every turn's text so far: a user turn after an answer means all of it
    // was a worked example, and the instructions grow by it
    let mut seen: Vec<String> = Vec::new();
    for (i, m) in turns.iter().enumerate() {
        let (role, text) = turn(m);
        let user = matches!(role, "user" | "human");
        if user && answer.is_some() {
            prompt = vec![seen.join("\n\n")];
            msgs.clear();
            answer = None;
            acted = false;
        }
        seen.push(text.clone());
        match role {
            "user" | "human" if !acted => prompt.push(text),
            "user" | "human" => msgs.push(Msg::new(Role::User, text)),
            "agent" | "assistant" | "gpt" => match text_actions::parse(&text) {
                Some(TextAction::Call(c)) => {
                    acted = true;
                    let mut m = Msg::new(Role::Assistant, text);
                    m.calls.push(c);
                    msgs.push(m);
                }
                Some(TextAction::Finish(a)) => answer = Some(a),
                // acknowledgements ("Ok.") before the question, thoughts after it
                None if !acted => {}
                None => msgs.push(Msg::new(Role::Assistant, text)),
            },
            "system" => prompt.insert(0, text),
            other => return Err(format!("turn {i}: unknown speaker `{other}`").into()),
        }
    }
    if prompt.iter().all(|p| p.trim().is_empty()) {
        return Err(Reject::no_task("no user turn with the task"));
    }
    let (system, question) = split_prompt(&prompt);
    msgs.insert(0, Msg::new(Role::User, question));
    let chat = chat::walk(msgs)?;
    if answer.is_none() {
        return Err(Reject::unfinished(
            "the agent never answered (no FINISH, Final Answer or Act: answer turn)",
        ));
    }
    Ok(Trajectory {
        id,
        source_format: "agentbench".into(),
        source,
        question: chat.question.unwrap_or_default(),
        system,
        steps: chat.steps,
        final_answer: answer,
        patch: None,
        verified: None,
    })
}

/// The instructions and the question of the user text before the first
/// action: several turns are instructions then the question; one turn that
/// ends in `Question:` (after a `Context:`) keeps those as the question.
fn split_prompt(prompt: &[String]) -> (Option<String>, String) {
    let prompt: Vec<&str> = prompt
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    if let [instructions @ .., question] = prompt.as_slice() {
        if !instructions.is_empty() {
            return (Some(instructions.join("\n\n")), question.to_string());
        }
        if let Some(at) = question.rfind("\nQuestion:") {
            let start = question[..at].rfind("\nContext:").unwrap_or(at);
            return (
                Some(question[..start].trim().to_string()),
                question[start..].trim().to_string(),
            );
        }
        return (None, question.to_string());
    }
    (None, String::new())
}
