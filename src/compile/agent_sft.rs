//! Standard agent SFT data (the paper's baseline) from a canonical trajectory:
//! the multi-turn conversation as the agent had it — question, then per step
//! an assistant turn (its text and a `<tool_call>` block) and the tool result —
//! ending with the final answer (or the patch). Trained with the `agent-sft`
//! objective: loss on assistant turns, tool results masked.

use serde_json::{json, Value};

use super::trajectory::Trajectory;
use crate::chat::Message;

fn msg(role: &str, content: String) -> Message {
    Message {
        role: role.into(),
        content,
    }
}

/// The conversation of `t`, or `None` when it has no final answer or patch.
pub fn messages(t: &Trajectory) -> Option<Vec<Message>> {
    let last = t
        .final_answer
        .clone()
        .filter(|a| !a.trim().is_empty())
        .or_else(|| t.patch.clone())?;
    let mut out = Vec::new();
    if let Some(s) = t.system.as_ref().filter(|s| !s.trim().is_empty()) {
        out.push(msg("system", s.clone()));
    }
    out.push(msg("user", t.question.clone()));
    for s in &t.steps {
        let text = [s.reasoning.trim(), s.text.trim()]
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let Some(call) = &s.call else {
            if !text.is_empty() {
                out.push(msg("assistant", text));
            }
            continue;
        };
        let call_json = json!({"name": call.name, "arguments": call.args});
        let mut content = text;
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str(&format!("<tool_call>\n{call_json}\n</tool_call>"));
        out.push(msg("assistant", content));
        if let Some(o) = &s.observation {
            out.push(msg("tool", o.content.clone()));
        }
    }
    // the last assistant turn is the answer (a trailing text step already saying it is kept)
    if out.last().map(|m| m.role.as_str()) != Some("assistant")
        || !out.last().is_some_and(|m| m.content.contains(last.trim()))
    {
        out.push(msg("assistant", last));
    }
    Some(out)
}

/// A `{"messages": [...], "meta": {...}}` row of `t`.
pub fn row(t: &Trajectory) -> Option<Value> {
    let m = messages(t)?;
    Some(json!({
        "messages": m,
        "meta": {"id": t.id, "source_format": t.source_format, "source": t.source.to_string()},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::trajectory::{Observation, SourceRef, Step, ToolCall};

    #[test]
    fn steps_become_assistant_calls_and_tool_results() {
        let t = Trajectory {
            id: "x".into(),
            source_format: "openai".into(),
            source: SourceRef {
                file: "f".into(),
                record: 1,
                part: None,
            },
            question: "Q?".into(),
            system: None,
            steps: vec![Step {
                text: "Look it up.".into(),
                reasoning: String::new(),
                call: Some(ToolCall {
                    name: "search".into(),
                    args: json!({"query": "q"}),
                    id: None,
                }),
                observation: Some(Observation {
                    content: "R".into(),
                    is_error: false,
                }),
            }],
            final_answer: Some("A".into()),
            patch: None,
            verified: None,
        };
        let m = messages(&t).unwrap();
        let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
        assert_eq!(
            m[1].content,
            "Look it up.\n<tool_call>\n{\"arguments\":{\"query\":\"q\"},\"name\":\"search\"}\n</tool_call>"
        );
        assert_eq!(m[3].content, "A");
        let none = Trajectory {
            final_answer: None,
            ..t
        };
        assert!(messages(&none).is_none());
    }
}
