//! ReAct text trajectories: `Thought: …\nAction: search[…]\nObservation: …`.
//!
//! Three containers:
//! - FireAct chat rows `{messages:[{role, content}]}`: the question is
//!   `messages[0]`, assistant turns hold Thought/Action, user turns hold
//!   `Observation: …`;
//! - FireAct alpaca rows `{instruction, input, output}` with the transcript in `output`;
//! - ReAct run records `{traj, reward, em, …}` whose `traj` is the whole
//!   prompt: few-shot exemplars, then `Question: …\nThought 1: …\nAction 1: …`
//!   (the last question is the real one).
//!
//! `search[x]` / `lookup[x]` become calls, `finish[x]` the final answer, and
//! `Episode finished, reward = True` the verified flag.

use serde_json::{json, Value};

use super::{one, Records, Reject, Rejection};

use crate::compile::trajectory::{Observation, SourceRef, Step, ToolCall, Trajectory};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Thought,
    Action,
    Observation,
}

/// `Thought: x`, `Action 3: x`, `Observation 2: x` → (label, x).
fn label(line: &str) -> Option<(Label, &str)> {
    for (word, l) in [
        ("Thought", Label::Thought),
        ("Action", Label::Action),
        ("Observation", Label::Observation),
    ] {
        let Some(rest) = line.strip_prefix(word) else {
            continue;
        };
        let rest = rest.trim_start_matches(|c: char| c == ' ' || c.is_ascii_digit());
        if let Some(v) = rest.strip_prefix(':') {
            return Some((l, v.strip_prefix(' ').unwrap_or(v)));
        }
    }
    None
}

/// A transcript as labelled segments (continuation lines join the segment above).
fn segments(text: &str) -> Vec<(Label, String)> {
    let mut out: Vec<(Label, String)> = Vec::new();
    for line in text.lines() {
        match label(line) {
            Some((l, v)) => out.push((l, v.to_string())),
            None => {
                if let Some((_, v)) = out.last_mut() {
                    v.push('\n');
                    v.push_str(line);
                }
            }
        }
    }
    for (_, v) in &mut out {
        *v = v.trim().to_string();
    }
    out
}

/// `search[Colorado orogeny]` → ("search", "Colorado orogeny"); names are lowercased.
pub fn parse_action(a: &str) -> Option<(String, String)> {
    // the action is its first line; what follows is text before the next label
    let a = a.trim().lines().next().unwrap_or("").trim();
    let (name, rest) = a.split_once('[')?;
    let arg = rest.strip_suffix(']')?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    Some((name.to_lowercase(), arg.to_string()))
}

/// `Episode finished, reward = True` → Some(true).
pub fn episode_reward(obs: &str) -> Option<bool> {
    let r = obs.trim().strip_prefix("Episode finished, reward = ")?;
    match r.trim() {
        "True" | "true" | "1" | "1.0" => Some(true),
        "False" | "false" | "0" | "0.0" => Some(false),
        _ => None,
    }
}

fn call_args(name: &str, arg: &str) -> Value {
    match name {
        "search" => json!({ "query": arg }),
        "lookup" => json!({ "keyword": arg }),
        _ => json!({ "input": arg }),
    }
}

struct Parsed {
    steps: Vec<Step>,
    answer: Option<String>,
    reward: Option<bool>,
}

fn parse_transcript(text: &str) -> Result<Parsed, String> {
    let mut steps: Vec<Step> = Vec::new();
    let mut thought = String::new();
    let mut answer = None;
    let mut reward = None;
    for (l, v) in segments(text) {
        match l {
            Label::Thought => {
                if !thought.is_empty() {
                    thought.push('\n');
                }
                thought.push_str(&v);
            }
            Label::Action => {
                let reasoning = std::mem::take(&mut thought);
                match parse_action(&v) {
                    // WebShop ends a run by buying: the answer is the item clicked last
                    Some((name, arg)) if name == "click" && arg.eq_ignore_ascii_case("buy now") => {
                        let item = steps
                            .iter()
                            .rev()
                            .filter_map(|s| s.call.as_ref())
                            .find(|c| {
                                c.name == "click"
                                    && !c.args["input"].as_str().is_some_and(|a| {
                                        a.starts_with('<')
                                            || a.contains("Search")
                                            || a.contains("Next")
                                    })
                            })
                            .and_then(|c| c.args["input"].as_str())
                            .unwrap_or("Buy Now")
                            .to_string();
                        answer = Some(item.clone());
                        steps.push(Step {
                            text: format!("buy {item}"),
                            reasoning,
                            ..Default::default()
                        });
                    }
                    Some((name, arg)) if name == "finish" => {
                        answer = Some(arg.trim().to_string());
                        steps.push(Step {
                            text: arg.trim().to_string(),
                            reasoning,
                            ..Default::default()
                        });
                    }
                    Some((name, arg)) => steps.push(Step {
                        reasoning,
                        call: Some(ToolCall {
                            args: call_args(&name, &arg),
                            name,
                            id: None,
                        }),
                        ..Default::default()
                    }),
                    // ReAct answers a malformed action with "Invalid action: …"; keep it as a step
                    None => steps.push(Step {
                        reasoning,
                        call: Some(ToolCall {
                            name: "action".into(),
                            args: json!({ "input": v }),
                            id: None,
                        }),
                        ..Default::default()
                    }),
                }
            }
            Label::Observation => {
                if let Some(r) = episode_reward(&v) {
                    reward = Some(r);
                    continue;
                }
                let open = steps
                    .iter_mut()
                    .rev()
                    .find(|s| s.call.is_some() && s.observation.is_none());
                match open {
                    Some(s) => {
                        s.observation = Some(Observation {
                            content: v,
                            is_error: false,
                        })
                    }
                    // a run log grades the finish: `Answer is CORRECT` / `INCORRECT`
                    None if answer.is_some() && v.starts_with("Answer is ") => {
                        reward = Some(!v.contains("INCORRECT"));
                    }
                    None => {
                        return Err(format!(
                            "observation `{}` answers no action",
                            v.chars().take(60).collect::<String>()
                        ))
                    }
                }
            }
        }
    }
    if !thought.is_empty() {
        steps.push(Step {
            reasoning: thought,
            ..Default::default()
        });
    }
    Ok(Parsed {
        steps,
        answer,
        reward,
    })
}

/// Whether `s` reads as a ReAct turn (`Thought…` then `Action…: name[…]`).
pub fn is_react_text(s: &str) -> bool {
    let segs = segments(s);
    matches!(segs.first(), Some((Label::Thought, _)))
        && segs
            .iter()
            .any(|(l, v)| *l == Label::Action && parse_action(v).is_some())
}

/// Whether a JSON object is a ReAct prompt collection: string values of
/// hand-written `Question: …` exemplars.
pub fn is_prompt_collection(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.len() >= 2
            && o.values().all(|x| {
                x.as_str().is_some_and(|s| {
                    (s.contains("Question:") || s.contains("Claim:") || s.contains("Instruction:"))
                        && (s.contains("Action 1:") || s.contains("Answer:"))
                })
            })
    })
}

/// Whether a JSON record is one of the ReAct / FireAct forms.
pub fn detect(v: &Value) -> bool {
    if is_prompt_collection(v) {
        return true;
    }
    if let Some(msgs) = v.get("messages").and_then(Value::as_array) {
        return msgs
            .iter()
            .any(|m| m["role"] == "assistant" && m["content"].as_str().is_some_and(is_react_text));
    }
    if v.get("instruction").is_some() {
        if let Some(out) = v.get("output").and_then(Value::as_str) {
            return is_react_text(out);
        }
    }
    v.get("traj")
        .and_then(Value::as_str)
        .is_some_and(|t| t.contains("Question:") && t.contains("Action 1:"))
}

/// A record's trajectories: a prompt collection holds one per exemplar
/// episode, the other forms one.
pub fn read_records(v: &Value, source: SourceRef) -> Records {
    let Some(prompts) = v.as_object().filter(|_| is_prompt_collection(v)) else {
        return one(read(v, source.clone()), source);
    };
    let mut out = Vec::new();
    for text in prompts.values().filter_map(Value::as_str) {
        for ep in split_episodes(text) {
            let src = source.part(out.len() + 1);
            out.push(read_episode(&ep, src.clone()).map_err(|e| e.at(src)));
        }
    }
    if out.is_empty() {
        return one::<Reject>(
            Err(Reject::no_tool_calls(
                "a ReAct prompt collection with no Question/Claim episode",
            )),
            source,
        );
    }
    out
}

/// One episode of a ReAct text: its question (or claim), the transcript
/// after it, and the grade of the section it sits in (run logs group
/// episodes under CORRECT / INCORRECT / HALTED headings).
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeText {
    pub question: String,
    pub transcript: String,
    pub graded: Option<bool>,
}

/// Whether a line is a heading of a run log (trial banners, summaries,
/// outcome sections), which ends the episode above it.
fn heading(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("####")
        || t.starts_with("----")
        || t.starts_with("BEGIN TRIAL")
        || t.starts_with("Trial summary:")
}

/// The text at `Question:` / `Claim:` lines, split into episodes. Text
/// before the first one (instructions) and headings are not episodes.
pub fn split_episodes(text: &str) -> Vec<EpisodeText> {
    let mut out: Vec<EpisodeText> = Vec::new();
    let mut open = false;
    let mut graded = None;
    let mut in_question = false;
    // inside an observation a page may show the task again (WebShop): no new episode
    let mut observing = false;
    for line in text.lines() {
        if heading(line) {
            if line.contains("BEGIN CORRECT") {
                graded = Some(true);
            } else if line.contains("BEGIN INCORRECT") {
                graded = Some(false);
            } else if line.contains("BEGIN ") {
                graded = None;
            }
            open = false;
            continue;
        }
        if let Some((l, _)) = label(line) {
            observing = l == Label::Observation;
        }
        let q = line
            .strip_prefix("Question:")
            .or_else(|| line.strip_prefix("Claim:"))
            .or_else(|| line.strip_prefix("Instruction:").filter(|_| !observing));
        if let Some(q) = q {
            out.push(EpisodeText {
                question: q.trim().to_string(),
                transcript: String::new(),
                graded,
            });
            open = true;
            in_question = true;
            continue;
        }
        let Some(ep) = out.last_mut().filter(|_| open) else {
            continue;
        };
        if in_question && label(line).is_none() {
            ep.question.push('\n');
            ep.question.push_str(line);
            continue;
        }
        in_question = false;
        ep.transcript.push_str(line);
        ep.transcript.push('\n');
    }
    for ep in &mut out {
        // a retried question carries the reflections of earlier trials
        for cut in ["You have attempted to answer", "\nReflections:"] {
            if let Some(at) = ep.question.find(cut) {
                ep.question.truncate(at);
            }
        }
        ep.question = ep.question.trim().to_string();
    }
    out
}

/// One episode as a trajectory: an episode that acts and reaches
/// `Finish[…]`; one that never acts is an exemplar, one that never finishes
/// halted.
pub fn read_episode(ep: &EpisodeText, source: SourceRef) -> Result<Trajectory, Reject> {
    if ep.question.is_empty() {
        return Err(Reject::no_task("an episode with an empty question"));
    }
    let p = parse_transcript(&ep.transcript)?;
    if !p.steps.iter().any(|s| s.call.is_some()) {
        return Err(Reject::no_tool_calls(
            "an episode with no Action (a chain-of-thought or direct-answer exemplar)",
        ));
    }
    let Some(answer) = p.answer.filter(|a| !a.is_empty()) else {
        return Err(Reject::unfinished(
            "halted: the episode never reached Finish[…]",
        ));
    };
    Ok(Trajectory {
        id: source.to_string(),
        source_format: "react".into(),
        source,
        question: ep.question.clone(),
        system: None,
        steps: p.steps,
        final_answer: Some(answer),
        patch: None,
        verified: p.reward.or(ep.graded),
    })
}

/// Whether a plain text is ReAct episodes (a run log): a `Question:` or
/// `Claim:` line, and a numbered or plain `Action: name[…]` line or a
/// `BEGIN TRIAL` banner.
pub fn is_episode_text(text: &str) -> bool {
    let q = text
        .lines()
        .any(|l| l.starts_with("Question:") || l.starts_with("Claim:"));
    let run_log = text.lines().any(|l| l.starts_with("BEGIN TRIAL"));
    q && (run_log
        || text
            .lines()
            .any(|l| matches!(label(l), Some((Label::Action, a)) if parse_action(a).is_some())))
}

/// A plain-text run log: a trajectory per episode.
pub fn read_text(text: &str, file: &str) -> (Vec<Trajectory>, Vec<Rejection>) {
    let src = SourceRef {
        file: file.to_string(),
        record: 1,
        part: None,
    };
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    for (k, ep) in split_episodes(text).iter().enumerate() {
        match read_episode(ep, src.part(k + 1)) {
            Ok(t) => out.push(t),
            Err(e) => rejected.push(e.at(src.part(k + 1))),
        }
    }
    (out, rejected)
}

fn strip_question(q: &str) -> String {
    let q = q.trim();
    q.strip_prefix("Question:").unwrap_or(q).trim().to_string()
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|x| x >= 1.0),
        _ => None,
    }
}

pub fn read(v: &Value, source: SourceRef) -> Result<Trajectory, String> {
    if is_prompt_collection(v) {
        let n = v.as_object().map(|o| o.len()).unwrap_or(0);
        return Err(format!(
            "ReAct few-shot prompt collection ({n} prompt templates of hand-written HotpotQA exemplars); not agent trajectories"
        ));
    }
    let (question, transcript, record_flag) = if let Some(msgs) =
        v.get("messages").and_then(Value::as_array)
    {
        let first = msgs.first().ok_or("empty messages list")?;
        let question = first["content"]
            .as_str()
            .ok_or("messages[0]: content is not a string")?;
        let mut lines = Vec::new();
        for (i, m) in msgs.iter().enumerate().skip(1) {
            let c = m["content"]
                .as_str()
                .ok_or(format!("message {i}: content is not a string"))?;
            match m["role"].as_str() {
                Some("user" | "tool") if label(c).is_none() => {
                    lines.push(format!("Observation: {c}"))
                }
                Some("system") => {}
                _ => lines.push(c.to_string()),
            }
        }
        (strip_question(question), lines.join("\n"), None)
    } else if let Some(out) = v.get("output").and_then(Value::as_str) {
        let instr = v["instruction"].as_str().unwrap_or("");
        let input = v["input"].as_str().unwrap_or("");
        let q = [instr.trim(), input.trim()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        (strip_question(&q), out.to_string(), None)
    } else if let Some(traj) = v.get("traj").and_then(Value::as_str) {
        // the exemplars come first; the run starts at the last `Question:` line
        let start = traj
            .rfind("\nQuestion:")
            .map(|i| i + 1)
            .or_else(|| traj.starts_with("Question:").then_some(0))
            .ok_or("traj: no `Question:` line")?;
        let run = &traj[start..];
        let (q, rest) = run.split_once('\n').unwrap_or((run, ""));
        let f = v
            .get("em")
            .and_then(flag)
            .or(v.get("reward").and_then(flag));
        (strip_question(q), rest.to_string(), f)
    } else {
        return Err("not a ReAct record (expected messages, instruction/output, or traj)".into());
    };
    if question.is_empty() {
        return Err("no question".into());
    }
    let p = parse_transcript(&transcript)?;
    if p.steps.is_empty() {
        return Err("empty trajectory: no Thought/Action steps".into());
    }
    Ok(Trajectory {
        id: v["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| source.to_string()),
        source_format: "react".into(),
        source,
        question,
        system: None,
        steps: p.steps,
        final_answer: p.answer,
        patch: None,
        verified: p.reward.or(record_flag),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_and_without_numbers() {
        assert_eq!(label("Thought 12: x"), Some((Label::Thought, "x")));
        assert_eq!(
            label("Action: search[a]"),
            Some((Label::Action, "search[a]"))
        );
        assert_eq!(label("Observation 1: ok"), Some((Label::Observation, "ok")));
        assert_eq!(label("Thoughtful: no"), None);
    }

    #[test]
    fn actions() {
        assert_eq!(
            parse_action("Search[High Plains (United States)]"),
            Some(("search".into(), "High Plains (United States)".into()))
        );
        assert_eq!(
            parse_action("finish[]"),
            Some(("finish".into(), String::new()))
        );
        assert_eq!(parse_action("go to cabinet 1"), None);
    }

    #[test]
    fn rewards() {
        assert_eq!(
            episode_reward("Episode finished, reward = True"),
            Some(true)
        );
        assert_eq!(episode_reward("Episode finished, reward = 0"), Some(false));
        assert_eq!(episode_reward("Badr Hari is"), None);
    }

    #[test]
    fn numbered_transcript() {
        let p = parse_transcript(
            "Thought 1: look it up\nAction 1: Search[X]\nObservation 1: X is a thing.\nmore text\nThought 2: done\nAction 2: Finish[thing]\nObservation 2: Episode finished, reward = 1",
        )
        .unwrap();
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[0].reasoning, "look it up");
        assert_eq!(p.steps[0].call.as_ref().unwrap().args["query"], "X");
        assert_eq!(
            p.steps[0].observation.as_ref().unwrap().content,
            "X is a thing.\nmore text"
        );
        assert_eq!(p.answer.as_deref(), Some("thing"));
        assert_eq!(p.reward, Some(true));
    }
}
