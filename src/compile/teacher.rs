//! Teacher reasoning: ask an OpenAI-compatible `/v1/chat/completions` server
//! for a reasoning trace and answer given (question, compiled context), verify
//! the answer against the sample's ground truth, and retry (rejection
//! sampling). Transport failures (5xx, 429, timeouts, connection errors,
//! garbled JSON) are retried with exponential backoff; every sample ends as a
//! sample or a rejection with its reason.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::pipeline::Sample;
use super::readers::{Reject, RejectKind, Rejection};
use super::trajectory::SourceRef;
use super::verify::{verify, Gold};
use crate::domain::Domain;

/// Teacher settings.
#[derive(Debug, Clone)]
pub struct TeacherOptions {
    /// Server base URL (`http://host:port`, `…/v1`, or the full `…/chat/completions`).
    pub endpoint: String,
    pub model: String,
    pub api_key: Option<String>,
    /// Answers drawn per sample before it is rejected (rejection sampling).
    pub attempts: usize,
    /// Transport retries per request (5xx, 429, timeouts, garbled replies).
    pub retries: usize,
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub temperature: f64,
    pub max_tokens: Option<usize>,
    /// Token-F1 threshold for text answers.
    pub f1_threshold: f64,
    /// First backoff; doubled per retry, capped at 30 s.
    pub backoff: Duration,
}

impl Default for TeacherOptions {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:8000".into(),
            model: "teacher".into(),
            api_key: None,
            attempts: 4,
            retries: 4,
            timeout: Duration::from_secs(300),
            concurrency: 8,
            temperature: 0.7,
            max_tokens: None,
            f1_threshold: 0.8,
            backoff: Duration::from_millis(500),
        }
    }
}

/// A teacher's reply, split into reasoning and answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub reasoning: String,
    pub answer: String,
}

/// A failed request: worth retrying, or not.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    Transient(String),
    Fatal(String),
}

/// Something that answers chat requests (the HTTP client, or a stand-in).
pub trait Teacher: Sync {
    fn ask(&self, messages: &Value, seed: u64) -> Result<Reply, CallError>;
}

/// The chat-completions URL for an endpoint given as a base, a `/v1` base or the full path.
pub fn completions_url(endpoint: &str) -> String {
    let e = endpoint.trim_end_matches('/');
    if e.ends_with("/chat/completions") {
        e.to_string()
    } else if e.ends_with("/v1") {
        format!("{e}/chat/completions")
    } else {
        format!("{e}/v1/chat/completions")
    }
}

/// Splits a completion message into reasoning and answer: a `reasoning_content`
/// (or `reasoning`) field, else a `<think>…</think>` block at the start of the content.
pub fn split_reply(message: &Value) -> Result<Reply, String> {
    let content = message["content"]
        .as_str()
        .ok_or("reply message has no content string")?;
    let field = message["reasoning_content"]
        .as_str()
        .or(message["reasoning"].as_str())
        .unwrap_or("");
    if !field.trim().is_empty() {
        return Ok(Reply {
            reasoning: field.trim().to_string(),
            answer: content.trim().to_string(),
        });
    }
    if let Some((before, after)) = content.split_once("</think>") {
        let reasoning = before.trim().trim_start_matches("<think>").trim();
        return Ok(Reply {
            reasoning: reasoning.to_string(),
            answer: after.trim().to_string(),
        });
    }
    Ok(Reply {
        reasoning: String::new(),
        answer: content.trim().to_string(),
    })
}

/// The OpenAI-compatible HTTP teacher.
pub struct HttpTeacher {
    agent: ureq::Agent,
    url: String,
    opts: TeacherOptions,
}

impl HttpTeacher {
    pub fn new(opts: TeacherOptions) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(opts.timeout))
            .http_status_as_error(false)
            .build();
        Self {
            agent: config.into(),
            url: completions_url(&opts.endpoint),
            opts,
        }
    }
}

impl Teacher for HttpTeacher {
    fn ask(&self, messages: &Value, seed: u64) -> Result<Reply, CallError> {
        let mut body = json!({
            "model": self.opts.model,
            "messages": messages,
            "temperature": self.opts.temperature,
            "seed": seed,
        });
        if let Some(m) = self.opts.max_tokens {
            body["max_tokens"] = json!(m);
        }
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(k) = &self.opts.api_key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let mut resp = req.send_json(&body).map_err(|e| match e {
            ureq::Error::Timeout(_) => CallError::Transient(format!("timed out: {e}")),
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                CallError::Transient(format!("connection: {e}"))
            }
            other => CallError::Transient(other.to_string()),
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| CallError::Transient(format!("reading the reply: {e}")))?;
        let short = |t: &str| t.chars().take(200).collect::<String>();
        if status == 429 || status >= 500 {
            return Err(CallError::Transient(format!(
                "HTTP {status}: {}",
                short(&text)
            )));
        }
        if status >= 400 {
            return Err(CallError::Fatal(format!("HTTP {status}: {}", short(&text))));
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            CallError::Transient(format!("garbled JSON reply ({e}): {}", short(&text)))
        })?;
        let msg = v["choices"][0]["message"].clone();
        if msg.is_null() {
            return Err(CallError::Transient(format!(
                "reply without choices[0].message: {}",
                short(&text)
            )));
        }
        split_reply(&msg).map_err(CallError::Transient)
    }
}

/// The instruction given to the teacher, per domain (how to state the answer).
pub fn system_prompt(domain: Domain) -> String {
    let how = match domain {
        Domain::Sql => "End with the final answer as one SQLite query in a ```sql block.",
        Domain::Swe => {
            "End with the final answer as a unified diff (--- a/… +++ b/…) in a ```diff block."
        }
        Domain::Search | Domain::Other => {
            "End with the final answer alone: a short phrase, no explanation."
        }
    };
    format!(
        "You answer questions about long documents. Think step by step inside <think>…</think>, \
         citing the documents you use, then give the answer. {how}"
    )
}

/// Calls the teacher, retrying transient failures with exponential backoff.
fn ask_with_retries(
    teacher: &dyn Teacher,
    messages: &Value,
    seed: u64,
    opts: &TeacherOptions,
) -> Result<Reply, String> {
    let mut wait = opts.backoff;
    let mut last = String::new();
    for k in 0..=opts.retries {
        match teacher.ask(messages, seed) {
            Ok(r) => return Ok(r),
            Err(CallError::Fatal(e)) => return Err(format!("teacher refused the request: {e}")),
            Err(CallError::Transient(e)) => {
                tracing::debug!("teacher request failed (try {}): {e}", k + 1);
                last = e;
                if k < opts.retries {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
    Err(format!(
        "teacher unavailable after {} tries: {last}",
        opts.retries + 1
    ))
}

/// Replaces one sample's reasoning and answer with a verified teacher reply.
pub fn annotate_one(
    s: &Sample,
    teacher: &dyn Teacher,
    opts: &TeacherOptions,
) -> Result<Sample, String> {
    let messages = json!([
        {"role": "system", "content": system_prompt(s.domain)},
        {"role": "user", "content": s.context.prompt},
    ]);
    let gold = Gold {
        domain: s.domain,
        answer: &s.answer,
        sql: s.gold_sql.as_deref(),
        db: s.db.as_deref().map(Path::new),
    };
    let mut last = String::new();
    for attempt in 0..opts.attempts.max(1) {
        let reply = ask_with_retries(
            teacher,
            &messages,
            s.seed.wrapping_add(attempt as u64),
            opts,
        )?;
        if reply.reasoning.trim().is_empty() {
            last = "reply has no reasoning".into();
            continue;
        }
        if reply.answer.trim().is_empty() {
            last = "reply has no answer after the reasoning".into();
            continue;
        }
        let v = verify(&reply.answer, &gold, opts.f1_threshold);
        if v.ok {
            let mut out = s.clone();
            out.reasoning = reply.reasoning;
            out.answer = reply.answer;
            out.notes.push(format!(
                "teacher {}: verified ({}) on attempt {}/{}",
                opts.model,
                v.how,
                attempt + 1,
                opts.attempts.max(1)
            ));
            return Ok(out);
        }
        last = v.how;
    }
    Err(format!(
        "teacher answers failed verification in {} attempts (last: {last})",
        opts.attempts.max(1)
    ))
}

/// Annotates every sample with at most `opts.concurrency` requests in flight.
/// Output order equals input order; failures become rejections.
pub fn annotate(
    samples: Vec<Sample>,
    teacher: &dyn Teacher,
    opts: &TeacherOptions,
    progress: &(dyn Fn() + Sync),
) -> (Vec<Sample>, Vec<Rejection>) {
    let slots: Vec<Mutex<Option<Result<Sample, String>>>> =
        samples.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..opts.concurrency.clamp(1, samples.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(s) = samples.get(i) else { break };
                let r = annotate_one(s, teacher, opts);
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                progress();
            });
        }
    });
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    for (s, slot) in samples.iter().zip(slots) {
        match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(x)) => out.push(x),
            Some(Err(reason)) => {
                rejected.push(Reject::new(RejectKind::Teacher, reason).at(source_ref(&s.source)))
            }
            None => rejected.push(
                Reject::new(RejectKind::Teacher, "teacher: not processed")
                    .at(source_ref(&s.source)),
            ),
        }
    }
    (out, rejected)
}

/// Parses a `file:record` source back into a SourceRef.
fn source_ref(s: &str) -> SourceRef {
    // `file:record` or `file:record#part`, as `SourceRef` displays it
    let (s, part) = match s.rsplit_once('#') {
        Some((head, k)) if k.parse::<usize>().is_ok() => (head, k.parse().ok()),
        _ => (s, None),
    };
    match s.rsplit_once(':') {
        Some((f, r)) if r.parse::<usize>().is_ok() => SourceRef {
            file: f.to_string(),
            record: r.parse().unwrap_or(0),
            part,
        },
        _ => SourceRef {
            file: s.to_string(),
            record: 0,
            part,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_reply_splitting() {
        assert_eq!(
            completions_url("http://h:1"),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            completions_url("http://h:1/v1/"),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            completions_url("http://h/x/chat/completions"),
            "http://h/x/chat/completions"
        );
        let r = split_reply(&json!({"content": "<think>\nstep\n</think>\n\nParis"})).unwrap();
        assert_eq!((r.reasoning.as_str(), r.answer.as_str()), ("step", "Paris"));
        let r = split_reply(&json!({"content": "Paris", "reasoning_content": "because"})).unwrap();
        assert_eq!(
            (r.reasoning.as_str(), r.answer.as_str()),
            ("because", "Paris")
        );
        assert!(split_reply(&json!({"content": null})).is_err());
    }
}
