//! Rendering an [`Episode`] in the formats real agent frameworks write
//! (field names as in the project's FORMATS notes).

use serde_json::{json, Value};

use super::{Episode, Format};
use crate::error::{Error, Result};

/// The episode as the text of one file in `format`.
pub fn render(ep: &Episode, format: Format) -> Result<String> {
    Ok(match format {
        Format::Openai => serde_json::to_string_pretty(&openai(ep)).expect("json"),
        Format::ClaudeCode => claude_code(ep),
        Format::Sharegpt => serde_json::to_string_pretty(&sharegpt(ep)).expect("json"),
        Format::SweAgent => {
            if ep.domain != crate::domain::Domain::Swe {
                return Err(Error::Input(format!(
                    "{}: the SWE-agent .traj format holds software-engineering episodes only",
                    ep.id
                )));
            }
            serde_json::to_string_pretty(&swe_agent(ep)).expect("json")
        }
    })
}

fn tool_list(ep: &Episode) -> Value {
    Value::Array(
        ep.tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect(),
    )
}

/// OpenAI chat messages: assistant `tool_calls` (arguments as a JSON string), `role: "tool"` results.
pub fn openai(ep: &Episode) -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": ep.system}),
        json!({"role": "user", "content": ep.question}),
    ];
    for (k, s) in ep.steps.iter().enumerate() {
        let id = format!("call_{}_{k}", ep.id);
        messages.push(json!({
            "role": "assistant",
            "content": s.thought,
            "tool_calls": [{"id": id, "type": "function", "function": {"name": s.tool, "arguments": s.args.to_string()}}],
        }));
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": s.observation}));
    }
    messages.push(json!({"role": "assistant", "content": ep.final_answer}));
    json!({"id": ep.id, "messages": messages, "tools": tool_list(ep)})
}

/// Claude Code session JSONL. Each assistant turn is split over two lines
/// sharing `message.id` (a thinking block, then the tool_use block), as Claude
/// Code writes them; tool results come back in user lines with `toolUseResult`.
pub fn claude_code(ep: &Episode) -> String {
    let session = format!("session-{}", ep.id);
    let mut lines = Vec::new();
    let mut parent: Value = Value::Null;
    let mut n = 0usize;
    let mut push = |lines: &mut Vec<String>,
                    parent: &mut Value,
                    kind: &str,
                    message: Value,
                    extra: Option<(&str, Value)>| {
        n += 1;
        let uuid = format!("{}-{n:04}", ep.id);
        let mut line = json!({
            "type": kind, "uuid": uuid, "parentUuid": parent.clone(), "isSidechain": false,
            "sessionId": session, "cwd": "/workspace", "message": message,
        });
        if let Some((k, v)) = extra {
            line[k] = v;
        }
        lines.push(line.to_string());
        *parent = Value::String(uuid);
    };
    push(
        &mut lines,
        &mut parent,
        "user",
        json!({"role": "user", "content": ep.question}),
        None,
    );
    for (k, s) in ep.steps.iter().enumerate() {
        let msg_id = format!("msg_{}_{k}", ep.id);
        let tool_id = format!("toolu_{}_{k}", ep.id);
        push(
            &mut lines,
            &mut parent,
            "assistant",
            json!({"id": msg_id, "type": "message", "role": "assistant", "content": [{"type": "thinking", "thinking": s.thought}]}),
            None,
        );
        push(
            &mut lines,
            &mut parent,
            "assistant",
            json!({"id": msg_id, "type": "message", "role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": s.tool, "input": s.args}]}),
            None,
        );
        push(
            &mut lines,
            &mut parent,
            "user",
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": s.observation, "is_error": s.is_error}]}),
            Some((
                "toolUseResult",
                json!({"stdout": s.observation, "stderr": "", "interrupted": false}),
            )),
        );
    }
    let final_id = format!("msg_{}_final", ep.id);
    push(
        &mut lines,
        &mut parent,
        "assistant",
        json!({"id": final_id, "type": "message", "role": "assistant", "content": [{"type": "text", "text": ep.final_answer}]}),
        None,
    );
    lines.join("\n") + "\n"
}

/// ShareGPT with function calling (LLaMA-Factory `sharegpt` formatting).
pub fn sharegpt(ep: &Episode) -> Value {
    let mut conv = vec![json!({"from": "human", "value": ep.question})];
    for s in &ep.steps {
        conv.push(json!({"from": "function_call", "value": json!({"name": s.tool, "arguments": s.args}).to_string()}));
        conv.push(json!({"from": "observation", "value": s.observation}));
    }
    conv.push(json!({"from": "gpt", "value": ep.final_answer}));
    let tools: Vec<Value> = ep
        .tools
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
        .collect();
    json!({"conversations": conv, "system": ep.system, "tools": Value::Array(tools).to_string()})
}

/// SWE-agent `.traj` (1.x layout): actions are shell commands.
pub fn swe_agent(ep: &Episode) -> Value {
    let action = |s: &super::Step| {
        s.args
            .get("command")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| s.args.to_string())
    };
    let trajectory: Vec<Value> = ep
        .steps
        .iter()
        .map(|s| {
            json!({
                "response": format!("{}\n\n```\n{}\n```", s.thought, action(s)),
                "thought": s.thought, "action": action(s), "observation": s.observation,
                "state": "{\"open_file\": \"n/a\", \"working_dir\": \"/repo\"}",
            })
        })
        .collect();
    let mut history = vec![
        json!({"role": "system", "content": ep.system, "agent": "primary", "message_type": "system_prompt"}),
        json!({"role": "user", "content": ep.question, "agent": "primary", "message_type": "observation"}),
    ];
    for s in &ep.steps {
        history.push(json!({"role": "assistant", "content": s.thought, "thought": s.thought, "action": action(s), "agent": "primary", "message_type": "action"}));
        history.push(json!({"role": "user", "content": s.observation, "agent": "primary", "message_type": "observation"}));
    }
    let submission = ep.ground_truth.get("patch").cloned().unwrap_or(Value::Null);
    json!({
        "environment": "swe_main",
        "trajectory": trajectory,
        "history": history,
        "info": {"submission": submission, "exit_status": "submitted", "model_stats": {"api_calls": ep.steps.len()}},
    })
}
