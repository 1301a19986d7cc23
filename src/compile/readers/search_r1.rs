//! Search-R1 traces: plain text in the Qwen chat template, one trajectory per
//! `<|im_start|>system` block. The question follows `Question: ` in the user
//! block; the generated stream after `<|im_start|>assistant` holds
//! `<think>…</think>`, `<search> q </search>` (a call), `<information>…</information>`
//! (its result: `Doc N(Title: "…") text` passages) and `<answer>…</answer>`.
//! Tags are parsed only in the assistant stream: the instruction shows them as examples.
//!
//! The retrieval corpus (`{id, contents}` rows) is refused: it holds no trajectory.

use serde_json::{json, Value};

use super::{Reject, Rejection};
use crate::compile::trajectory::{Observation, SourceRef, Step, ToolCall, Trajectory};

const ASSISTANT: &str = "<|im_start|>assistant";

/// Whether plain text is a Search-R1 trace.
pub fn detect_text(text: &str) -> bool {
    text.contains(ASSISTANT) && (text.contains("<search>") || text.contains("<information>"))
}

/// Whether a JSON record is a row of the retrieval corpus.
pub fn is_corpus_row(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.get("contents").is_some_and(Value::is_string)
            && o.contains_key("id")
            && o.keys()
                .all(|k| matches!(k.as_str(), "id" | "contents" | "title"))
    })
}

/// JSON records: only corpus rows reach this reader, and they are refused.
pub fn read(v: &Value, _source: SourceRef) -> Result<Trajectory, Reject> {
    if is_corpus_row(v) {
        return Err(Reject::not_a_trajectory("Search-R1 retrieval corpus (id + contents passages); no queries, actions or answers; not a trajectory"));
    }
    Err(Reject::not_a_trajectory("a Search-R1 trace is plain text in the chat template (<|im_start|>… turns), not a JSON record"))
}

/// The text between `open` and `close` starting at `s`, and the rest after it
/// (an unclosed tag runs to the end).
fn tagged<'a>(s: &'a str, open: &str, close: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let i = s.find(open)?;
    let inner = &s[i + open.len()..];
    Some(match inner.find(close) {
        Some(e) => (&s[..i], &inner[..e], &inner[e + close.len()..]),
        None => (&s[..i], inner, ""),
    })
}

/// Reasoning text without think tags.
fn prose(s: &str) -> String {
    s.replace("<think>", "")
        .replace("</think>", "")
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// The steps and last answer of one assistant stream.
pub fn parse_stream(stream: &str) -> (Vec<Step>, Option<String>) {
    let mut steps: Vec<Step> = Vec::new();
    let mut answer = None;
    let mut reasoning = String::new();
    let mut rest = stream;
    loop {
        let next = ["<search>", "<information>", "<answer>"]
            .iter()
            .filter_map(|t| rest.find(t).map(|i| (i, *t)))
            .min();
        let Some((_, tag)) = next else { break };
        let close = tag.replacen('<', "</", 1);
        let Some((before, inner, after)) = tagged(rest, tag, &close) else {
            break;
        };
        reasoning.push_str(before);
        let inner = inner.trim().to_string();
        match tag {
            "<search>" => steps.push(Step {
                reasoning: prose(&std::mem::take(&mut reasoning)),
                call: Some(ToolCall {
                    name: "search".into(),
                    args: json!({ "query": inner }),
                    id: None,
                }),
                ..Default::default()
            }),
            "<information>" => {
                let obs = Observation {
                    content: inner,
                    is_error: false,
                };
                match steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.call.is_some() && s.observation.is_none())
                {
                    Some(s) => s.observation = Some(obs),
                    None => steps.push(Step {
                        observation: Some(obs),
                        ..Default::default()
                    }),
                }
            }
            _ => {
                answer = Some(inner.clone());
                steps.push(Step {
                    reasoning: prose(&std::mem::take(&mut reasoning)),
                    text: inner,
                    ..Default::default()
                });
            }
        }
        rest = after;
    }
    reasoning.push_str(rest);
    let tail = prose(&reasoning);
    if !tail.is_empty() {
        steps.push(Step {
            reasoning: tail,
            ..Default::default()
        });
    }
    (steps, answer)
}

/// The body of the first `<|im_start|>role` block, up to `<|im_end|>`.
fn block<'a>(chunk: &'a str, role: &str) -> Option<&'a str> {
    let open = format!("<|im_start|>{role}");
    let i = chunk.find(&open)?;
    let body = &chunk[i + open.len()..];
    Some(body.split("<|im_end|>").next().unwrap_or(body).trim())
}

fn read_one(chunk: &str, source: SourceRef) -> Result<Trajectory, String> {
    let user = block(chunk, "user").ok_or("no <|im_start|>user block")?;
    let question = match user.rfind("Question:") {
        Some(i) => user[i + "Question:".len()..]
            .lines()
            .next()
            .unwrap_or("")
            .trim(),
        None => user,
    };
    if question.is_empty() {
        return Err("no question in the user block".into());
    }
    let a = chunk
        .find(ASSISTANT)
        .ok_or("no <|im_start|>assistant turn")?;
    let stream = chunk[a + ASSISTANT.len()..]
        .replace("<|im_end|>", "")
        .replace("<|endoftext|>", "");
    let (steps, answer) = parse_stream(&stream);
    if !steps.iter().any(|s| s.call.is_some() || !s.text.is_empty()) {
        return Err("empty trajectory: no <search> or <answer> in the assistant turn".into());
    }
    Ok(Trajectory {
        id: source.to_string(),
        source_format: "search-r1".into(),
        source,
        question: question.to_string(),
        system: block(chunk, "system").map(str::to_owned),
        steps,
        final_answer: answer,
        patch: None,
        verified: None,
    })
}

/// A whole text file: one trajectory per `<|im_start|>system` block (records are 1-based).
pub fn read_text(text: &str, file: &str) -> (Vec<Trajectory>, Vec<Rejection>) {
    let mut starts: Vec<usize> = text
        .match_indices("<|im_start|>system")
        .map(|(i, _)| i)
        .collect();
    if starts.is_empty() {
        starts.push(0);
    }
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(text.len());
        let source = SourceRef {
            file: file.to_string(),
            record: k + 1,
            part: None,
        };
        match read_one(&text[s..end], source.clone()) {
            Ok(t) => out.push(t),
            Err(why) => rejected.push(Reject::from(why).at(source)),
        }
    }
    (out, rejected)
}

/// Retrieved passages of one observation: `Doc N(Title: "T") text` → (T, text).
/// Text without that shape is one untitled passage.
pub fn split_docs(info: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in info.lines() {
        let head = line
            .strip_prefix("Doc ")
            .and_then(|r| r.split_once("(Title:"))
            .filter(|(n, _)| !n.is_empty() && n.trim().chars().all(|c| c.is_ascii_digit()))
            .and_then(|(_, r)| r.split_once(')'));
        match head {
            Some((title, body)) => {
                out.extend(cur.take());
                cur = Some((
                    title.trim().trim_matches('"').to_string(),
                    body.trim().to_string(),
                ));
            }
            None => match &mut cur {
                Some((_, b)) => {
                    b.push('\n');
                    b.push_str(line);
                }
                None => cur = Some((String::new(), line.to_string())),
            },
        }
    }
    out.extend(cur);
    out.into_iter()
        .map(|(t, b)| (t, b.trim().to_string()))
        .filter(|(_, b)| !b.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_are_split_with_titles() {
        let d = split_docs("Doc 1(Title: \"Paul Walker\") also had a car collection\nDoc 2(Title: \"Sinoatrial node\") The SA node (Title: x) beats");
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[0],
            ("Paul Walker".into(), "also had a car collection".into())
        );
        assert_eq!(d[1].0, "Sinoatrial node");
        assert_eq!(d[1].1, "The SA node (Title: x) beats");
        assert_eq!(
            split_docs("plain text"),
            vec![(String::new(), "plain text".into())]
        );
    }

    #[test]
    fn stream_with_stray_think_close_and_two_searches() {
        let (steps, answer) = parse_stream(
            "<think>need facts</think>\n<search> a b </search>\n\n<information>Doc 1(Title: \"A\") x</information>\n\nSo far so good. </think>\n<search>c</search><information>y</information>\n<answer> Charger </answer>",
        );
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].reasoning, "need facts");
        assert_eq!(steps[0].call.as_ref().unwrap().args["query"], "a b");
        assert_eq!(
            steps[0].observation.as_ref().unwrap().content,
            "Doc 1(Title: \"A\") x"
        );
        assert_eq!(steps[1].reasoning, "So far so good.");
        assert_eq!(steps[1].observation.as_ref().unwrap().content, "y");
        assert_eq!(steps[2].text, "Charger");
        assert_eq!(answer.as_deref(), Some("Charger"));
    }
}
