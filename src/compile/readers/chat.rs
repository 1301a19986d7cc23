//! The one chat walker. Most agent formats are a dialect of "messages with
//! tool calls and tool results": each dialect maps its messages to [`Msg`],
//! and [`walk`] pairs calls with results (by id, else by order), takes the
//! task from the first user turn and the answer from the last assistant turn
//! without a call.

use serde_json::Value;

use super::text_calls;
use crate::compile::trajectory::{content_text, parse_args, Observation, Step, ToolCall};

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result (`role: tool`, `function`, `observation`).
    Tool,
    /// A later user turn that is never a tool's result (a follow-up
    /// request): kept as context.
    FollowUp,
}

/// One message in the walker's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub role: Role,
    pub text: String,
    pub reasoning: String,
    /// The assistant's tool calls.
    pub calls: Vec<ToolCall>,
    /// The call a tool result answers, when the dialect names it.
    pub call_id: Option<String>,
    pub is_error: bool,
    /// The message's number in its source, for errors (else its place in the walk).
    pub at: Option<usize>,
}

impl Msg {
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Msg {
            role,
            text: text.into(),
            reasoning: String::new(),
            calls: Vec::new(),
            call_id: None,
            is_error: false,
            at: None,
        }
    }

    /// An OpenAI chat message: `tool_calls[] {id, function{name, arguments}}`
    /// (Spider2 omits the `function` wrapper), the legacy `function_call`,
    /// results as `role: tool | function` with `tool_call_id`, reasoning in
    /// `reasoning_content` / `reasoning`. `None` for roles a walk skips.
    pub fn openai(m: &Value, i: usize) -> Result<Option<Msg>, String> {
        let role = match m["role"].as_str().unwrap_or("") {
            "system" | "developer" => Role::System,
            "user" | "human" => Role::User,
            "assistant" | "ai" | "gpt" => Role::Assistant,
            "tool" | "function" | "observation" | "ipython" => Role::Tool,
            _ => return Ok(None),
        };
        let mut msg = Msg::new(role, content_text(&m["content"]));
        msg.at = Some(i);
        msg.reasoning = content_text(
            m.get("reasoning_content")
                .or_else(|| m.get("reasoning"))
                .filter(|r| r.is_string() || r.is_array())
                .unwrap_or(&Value::Null),
        );
        if role == Role::Assistant {
            for c in m["tool_calls"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let f = c.get("function").unwrap_or(c);
                let name = f["name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .ok_or(format!("message {i}: tool call without a name"))?;
                msg.calls.push(ToolCall {
                    name: name.to_string(),
                    args: parse_args(f.get("arguments").unwrap_or(&Value::Null)),
                    id: c["id"].as_str().map(str::to_owned),
                });
            }
            if let Some(f) = m.get("function_call").filter(|f| f.is_object()) {
                let name = f["name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .ok_or(format!("message {i}: function_call without a name"))?;
                msg.calls.push(ToolCall {
                    name: name.to_string(),
                    args: parse_args(f.get("arguments").unwrap_or(&Value::Null)),
                    id: None,
                });
            }
        }
        if role == Role::Tool {
            msg.call_id = m["tool_call_id"].as_str().map(str::to_owned);
        }
        Ok(Some(msg))
    }
}

/// A walked conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chat {
    pub system: Option<String>,
    /// The first user turn.
    pub question: Option<String>,
    pub steps: Vec<Step>,
    /// The last assistant turn that made no call.
    pub final_answer: Option<String>,
}

/// Pairs calls with results and collects the task and the answer. Results
/// link to the call with their id, else to the earliest call still waiting;
/// a later user turn answers the latest waiting call (text-based agents
/// read their observations as user turns), else it is kept as a step.
pub fn walk(msgs: impl IntoIterator<Item = Msg>) -> Result<Chat, String> {
    let mut chat = Chat::default();
    for (i, m) in msgs.into_iter().enumerate() {
        match m.role {
            Role::System => {
                if chat.system.is_none() {
                    chat.system = Some(m.text);
                }
            }
            Role::User | Role::FollowUp if chat.question.is_none() => chat.question = Some(m.text),
            Role::FollowUp => chat.steps.push(Step {
                observation: Some(Observation {
                    content: m.text,
                    is_error: m.is_error,
                }),
                ..Default::default()
            }),
            Role::Assistant => assistant(&mut chat.steps, &mut chat.final_answer, m),
            Role::Tool => tool_result(&mut chat.steps, m.at.unwrap_or(i), m)?,
            Role::User => {
                let obs = Observation {
                    content: m.text,
                    is_error: m.is_error,
                };
                match chat
                    .steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.observation.is_none() && s.call.is_some())
                {
                    Some(s) => s.observation = Some(obs),
                    None => chat.steps.push(Step {
                        observation: Some(obs),
                        ..Default::default()
                    }),
                }
            }
        }
    }
    // a run that ends by calling its finish tool answers with that call
    if let Some(answer) = chat
        .steps
        .last()
        .and_then(|s| s.call.as_ref())
        .and_then(text_calls::terminal_answer)
    {
        chat.final_answer = Some(answer);
    }
    Ok(chat)
}

fn assistant(steps: &mut Vec<Step>, final_answer: &mut Option<String>, m: Msg) {
    // an empty turn (a call the dialect dropped, a blank reply) says nothing
    if m.calls.is_empty() && m.text.trim().is_empty() && m.reasoning.trim().is_empty() {
        return;
    }
    if m.calls.is_empty() {
        if !m.text.trim().is_empty() {
            *final_answer = Some(m.text.clone());
        }
        steps.push(Step {
            text: m.text,
            reasoning: m.reasoning,
            ..Default::default()
        });
        return;
    }
    for (k, call) in m.calls.into_iter().enumerate() {
        let first = k == 0;
        steps.push(Step {
            text: if first { m.text.clone() } else { String::new() },
            reasoning: if first {
                m.reasoning.clone()
            } else {
                String::new()
            },
            call: Some(call),
            observation: None,
        });
    }
}

fn tool_result(steps: &mut Vec<Step>, i: usize, m: Msg) -> Result<(), String> {
    let id = m.call_id.as_deref();
    let obs = Observation {
        content: m.text,
        is_error: m.is_error,
    };
    let by_id = id.and_then(|id| {
        steps.iter().position(|s| {
            s.observation.is_none() && s.call.as_ref().is_some_and(|c| c.id.as_deref() == Some(id))
        })
    });
    let ids_used = steps
        .iter()
        .any(|s| s.call.as_ref().is_some_and(|c| c.id.is_some()));
    let slot = match by_id {
        Some(k) => k,
        None if id.is_some() && ids_used => {
            return Err(format!(
                "message {i}: tool result for unknown call id {}",
                id.unwrap_or("")
            ));
        }
        None => match steps
            .iter()
            .position(|s| s.call.is_some() && s.observation.is_none())
        {
            Some(k) => k,
            // results of calls written in the text: paired by text_calls::lift
            None if text_calls::awaiting_results(steps) => {
                steps.push(Step {
                    observation: Some(obs),
                    ..Default::default()
                });
                return Ok(());
            }
            None => {
                return Err(format!(
                    "message {i}: tool result without a preceding tool call"
                ))
            }
        },
    };
    match steps.get_mut(slot) {
        Some(s) => s.observation = Some(obs),
        None => {
            return Err(format!(
                "message {i}: tool result for call {slot} of {}",
                steps.len()
            ))
        }
    }
    Ok(())
}

/// Walks a list of OpenAI-dialect messages.
pub fn walk_openai(msgs: &[Value]) -> Result<Chat, String> {
    let mut out = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        if let Some(m) = Msg::openai(m, i)? {
            out.push(m);
        }
    }
    walk(out)
}

/// Whether a JSON list is one conversation of chat messages (a saved
/// `messages` array): every item an object with a string `role` and a
/// `content`, a user turn and an assistant turn among them.
pub fn is_message_list(items: &[Value]) -> bool {
    fn role(m: &Value) -> Option<&str> {
        m.get("role").and_then(Value::as_str)
    }
    items.len() >= 2
        && items
            .iter()
            .all(|m| role(m).is_some() && m.get("content").is_some())
        && items.iter().any(|m| role(m) == Some("user"))
        && items.iter().any(|m| role(m) == Some("assistant"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_pair_by_id_then_by_order() {
        let msgs = json!([
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "task"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "a", "function": {"name": "ls", "arguments": "{}"}},
                {"id": "b", "function": {"name": "cat", "arguments": {"p": 1}}}]},
            {"role": "tool", "tool_call_id": "b", "content": "B"},
            {"role": "tool", "tool_call_id": "a", "content": "A"},
            {"role": "assistant", "function_call": {"name": "grep", "arguments": "{}"}, "content": null},
            {"role": "function", "name": "grep", "content": "G"},
            {"role": "assistant", "content": "done"}
        ]);
        let c = walk_openai(msgs.as_array().unwrap()).unwrap();
        assert_eq!(c.system.as_deref(), Some("sys"));
        assert_eq!(c.question.as_deref(), Some("task"));
        let obs: Vec<&str> = c
            .steps
            .iter()
            .filter_map(|s| s.observation.as_ref().map(|o| o.content.as_str()))
            .collect();
        assert_eq!(obs, ["A", "B", "G"]);
        assert_eq!(c.final_answer.as_deref(), Some("done"));
    }

    #[test]
    fn a_result_for_an_unknown_id_is_refused() {
        let msgs = json!([
            {"role": "user", "content": "task"},
            {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "ls"}}]},
            {"role": "tool", "tool_call_id": "zz", "content": "?"}
        ]);
        let e = walk_openai(msgs.as_array().unwrap()).unwrap_err();
        assert!(e.contains("unknown call id zz"), "{e}");
    }

    #[test]
    fn message_lists_are_told_from_record_lists() {
        let chat = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]);
        assert!(is_message_list(chat.as_array().unwrap()));
        let records = json!([{"messages": []}, {"messages": []}]);
        assert!(!is_message_list(records.as_array().unwrap()));
    }
}
