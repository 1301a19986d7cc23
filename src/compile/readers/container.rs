//! A file's container: one JSON document (an object, a list of records, or
//! one conversation written as a list), JSONL of records, a session file of
//! per-turn events (Claude Code, Codex), or a known text layout. Each record
//! goes to the registry; a file that cannot be read is one refusal.

use std::path::Path;

use serde_json::Value;

use super::{
    chat, claude_code, codex, gemini_cli, langchain, llamafactory, one, openhands, openhands_v1,
    react, read_record, search_r1, text_calls, Records, Reject, RejectKind, Rejection,
    SourceFormat,
};
use crate::compile::trajectory::{SourceRef, Trajectory};

/// Reads one file: (trajectories, rejections). `forced` overrides detection.
/// Tool calls written inside assistant text become call steps (text_calls).
pub fn read_file(path: &Path, forced: Option<SourceFormat>) -> (Vec<Trajectory>, Vec<Rejection>) {
    let (mut out, rejected) = if path.is_dir() {
        // an OpenHands v1 conversation folder is one input
        openhands_v1::read_dir(path)
    } else {
        read_records(path, forced)
    };
    out.iter_mut().for_each(text_calls::lift);
    (out, rejected)
}

/// A file's trajectories and rejections.
fn read_records(path: &Path, forced: Option<SourceFormat>) -> (Vec<Trajectory>, Vec<Rejection>) {
    let file = path.display().to_string();
    let reject = |record: usize, why: String| {
        Rejection::at(&file, record, Reject::new(RejectKind::Unreadable, why))
    };
    if let Some(why) = not_a_regular_file(path) {
        return (vec![], vec![reject(0, why)]);
    }
    let bytes = match crate::io::read_bounded(path, crate::io::MAX_DATA_BYTES) {
        Ok(b) => b,
        Err(e) => return (vec![], vec![reject(0, format!("cannot read: {e}"))]),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            // JSONL: a line that is not UTF-8 is one rejected record, and the
            // others are read; a whole-file document is one record
            let (text, bad) = utf8_repaired(e.as_bytes());
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if bad.is_empty() || serde_json::from_str::<Value>(first).is_err() {
                let at = e.utf8_error().valid_up_to();
                return (
                    vec![],
                    vec![reject(0, format!("not valid UTF-8 (byte offset {at})"))],
                );
            }
            let (out, mut rejected) = read_records_text(path, text, forced);
            let mut bad: Vec<Rejection> = bad
                .into_iter()
                .map(|(line, why)| Rejection::at(&file, line, why))
                .collect();
            bad.append(&mut rejected);
            return (out, bad);
        }
    };
    read_records_text(path, text, forced)
}

/// Why a file that starts like one JSON document (and has no line that is a
/// JSON record of its own, so it is not JSONL) does not parse: one reason
/// with the place, instead of a rejection per line.
fn broken_document(text: &str, e: &serde_json::Error) -> Option<String> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    let jsonl = text.lines().any(|l| {
        let l = l.trim();
        (l.starts_with('{') || l.starts_with('['))
            && serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object() || v.is_array())
    });
    if jsonl {
        return None;
    }
    // the byte offset of serde's line and column
    let offset: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + e.column();
    let what = if e.to_string().contains("recursion limit") {
        "a JSON document nested deeper than the parser's 128 levels".to_string()
    } else if e.is_eof() {
        "a truncated JSON document (it ends before it closes)".to_string()
    } else {
        format!("a malformed JSON document ({e})")
    };
    Some(format!(
        "{what} at line {}, column {} (byte offset {offset} of {})",
        e.line(),
        e.column(),
        text.len()
    ))
}

/// Why `path` is not read as a file: a broken link, a FIFO, a device or a
/// socket (never opened, so a FIFO cannot block the run).
fn not_a_regular_file(path: &Path) -> Option<String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return Some(match std::fs::read_link(path) {
                Ok(to) => format!("a broken link to {} ({e}); skipped", to.display()),
                Err(_) => format!("cannot read: {e}"),
            })
        }
    };
    let kind = crate::io::special_kind(&meta)?;
    Some(format!("{kind}, not a trajectory file; skipped"))
}

/// The text of `bytes` with each line that is not UTF-8 left empty, and
/// those lines with the reason.
fn utf8_repaired(bytes: &[u8]) -> (String, Vec<(usize, String)>) {
    let mut text = String::with_capacity(bytes.len());
    let mut bad = Vec::new();
    for (line, l) in crate::io::utf8_lines(bytes) {
        match l {
            Ok(l) => text.push_str(l),
            Err(why) => bad.push((line, why)),
        }
        text.push('\n');
    }
    (text, bad)
}

/// Whether a JSONL line is a Claude Code session event (the whole file is one session).
fn is_claude_code_line(v: &Value) -> bool {
    v.get("message").is_some_and(Value::is_object)
        && matches!(
            v.get("type").and_then(Value::as_str),
            Some("user" | "assistant" | "system" | "summary")
        )
        && (v.get("uuid").is_some() || v.get("sessionId").is_some())
}

/// What a file yields, gathered record by record.
#[derive(Default)]
struct Gathered {
    out: Vec<Trajectory>,
    rejected: Vec<Rejection>,
}

impl Gathered {
    fn add(&mut self, records: Records) {
        for r in records {
            match r {
                Ok(t) => self.out.push(t),
                Err(r) => self.rejected.push(r),
            }
        }
    }
    fn done(self) -> (Vec<Trajectory>, Vec<Rejection>) {
        (self.out, self.rejected)
    }
}

/// How a whole-file JSON document is read.
enum Document {
    /// One record (an object, or a list that is one trajectory: an OpenHands
    /// v0 event list, a LangChain message dump), read as this format.
    One(Option<SourceFormat>),
    /// One conversation written as a bare list of chat messages.
    Conversation,
    /// A list of records.
    List,
}

fn document(v: &Value, forced: Option<SourceFormat>) -> Document {
    let Value::Array(items) = v else {
        return Document::One(forced);
    };
    let is = |f: SourceFormat| forced.is_none() || forced == Some(f);
    if is(SourceFormat::Openhands) && openhands::is_event_list(v) {
        Document::One(Some(SourceFormat::Openhands))
    } else if forced == Some(SourceFormat::Langchain)
        || forced.is_none() && langchain::is_message_list(items)
    {
        Document::One(Some(SourceFormat::Langchain))
    } else if chat::is_message_list(items) {
        Document::Conversation
    } else {
        Document::List
    }
}

/// The largest JSON document (a whole file, or one JSONL line) parsed: its
/// tree takes several times its bytes in memory.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 30;

/// The refusal of a JSON document over [`MAX_DOCUMENT_BYTES`].
fn too_large(bytes: usize) -> Reject {
    Reject::new(
        RejectKind::Unreadable,
        format!(
            "a JSON document of {bytes} bytes, over the {MAX_DOCUMENT_BYTES} bytes (1 GiB) parsed \
             whole; split it into JSONL records"
        ),
    )
}

/// [`read_records`] over a file's text: a JSON document, a text layout, a
/// session file, or JSONL of records.
fn read_records_text(
    path: &Path,
    text: String,
    forced: Option<SourceFormat>,
) -> (Vec<Trajectory>, Vec<Rejection>) {
    let file = path.display().to_string();
    let at = |record: usize| SourceRef {
        file: file.clone(),
        record,
        part: None,
    };
    let mut got = Gathered::default();
    if text.len() > MAX_DOCUMENT_BYTES && !text.trim_end().contains('\n') {
        return (vec![], vec![Rejection::at(&file, 1, too_large(text.len()))]);
    }
    // a file over the limit can still be JSONL, read line by line
    let whole = (text.len() <= MAX_DOCUMENT_BYTES).then(|| serde_json::from_str::<Value>(&text));
    if let Some(Err(e)) = &whole {
        if let Some(why) = broken_document(&text, e) {
            return (vec![], vec![Rejection::at(&file, 1, why)]);
        }
    }
    if let Some(Ok(v)) = whole {
        match document(&v, forced) {
            Document::One(f) => got.add(read_record(&v, at(1), f)),
            Document::Conversation => {
                let wrapped = serde_json::json!({ "messages": v });
                got.add(read_record(&wrapped, at(1), forced));
            }
            Document::List => {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    got.add(read_record(item, at(i + 1), forced));
                }
            }
        }
        return got.done();
    }
    let trimmed = text.trim_start();
    if let Some(read) = text_layout(&text, &file, forced) {
        return read;
    }
    // JSONL lines are objects, or lists (one LangChain message dump per line)
    let list_lines = trimmed.starts_with('[')
        && trimmed
            .lines()
            .next()
            .is_some_and(|l| serde_json::from_str::<Value>(l).is_ok());
    if !trimmed.starts_with('{') && !list_lines {
        if llamafactory::is_v1_config(&text) {
            return (
                vec![],
                vec![Rejection::at(
                    &file,
                    0,
                    Reject::not_a_trajectory(llamafactory::CONFIG_REASON),
                )],
            );
        }
        return (
            vec![],
            vec![Rejection::at(
                &file,
                0,
                Reject::unknown_format(
                    "not JSON, JSONL or a known text layout (Search-R1 chat text, ReAct episodes); not a trajectory file",
                ),
            )],
        );
    }
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    if let Some(read) = session_file(&lines, &file, forced) {
        return read;
    }
    for (line, l) in lines {
        if l.len() > MAX_DOCUMENT_BYTES {
            got.add(one::<Reject>(Err(too_large(l.len())), at(line)));
            continue;
        }
        match serde_json::from_str::<Value>(l) {
            Ok(v) => got.add(read_record(&v, at(line), forced)),
            Err(e) => got.add(one::<Reject>(
                Err(format!("malformed JSON line: {e}").into()),
                at(line),
            )),
        }
    }
    got.done()
}

/// A file in a plain-text layout (Search-R1 chat text), read whole.
fn text_layout(
    text: &str,
    file: &str,
    forced: Option<SourceFormat>,
) -> Option<(Vec<Trajectory>, Vec<Rejection>)> {
    if text.trim_start().starts_with('{') {
        return None;
    }
    if forced == Some(SourceFormat::SearchR1) || forced.is_none() && search_r1::detect_text(text) {
        return Some(search_r1::read_text(text, file));
    }
    if forced == Some(SourceFormat::React) || forced.is_none() && react::is_episode_text(text) {
        return Some(react::read_text(text, file));
    }
    None
}

/// JSONL that only looks like an agent run: a message bus between agents
/// (`sender` / `recipients`: chat, polls, votes) or an application log
/// (`level` / `message` lines). The whole file is one refusal.
fn not_a_run(head: &[Value]) -> Option<Reject> {
    let all = |f: &dyn Fn(&Value) -> bool| !head.is_empty() && head.iter().all(f);
    if all(&|v| v.get("sender").is_some() && v.get("recipients").is_some()) {
        return Some(Reject::not_a_trajectory(
            "a message log between agents (sender / recipients: chat, polls and votes); it holds no task, tool calls or tool results",
        ));
    }
    if all(&|v| {
        v.get("level").is_some() && v.get("message").is_some() && v.get("timestamp").is_some()
    }) {
        return Some(Reject::not_a_trajectory(
            "an application log (level / message / timestamp lines), not a trajectory",
        ));
    }
    None
}

/// A JSONL file whose lines are the events of sessions (Claude Code, Codex),
/// told apart by its first lines, read whole.
fn session_file(
    lines: &[(usize, &str)],
    file: &str,
    forced: Option<SourceFormat>,
) -> Option<(Vec<Trajectory>, Vec<Rejection>)> {
    let head: Vec<Value> = lines
        .iter()
        .take(8)
        .filter_map(|(_, l)| serde_json::from_str::<Value>(l).ok())
        .collect();
    if let Some(why) = not_a_run(&head) {
        return Some((vec![], vec![Rejection::at(file, 0, why)]));
    }
    // sessions may open with snapshot / summary lines: look at the first few events
    let claude = head.iter().any(is_claude_code_line);
    if forced == Some(SourceFormat::ClaudeCode) || forced.is_none() && claude {
        return Some(claude_code::read(lines, file));
    }
    // a Gemini CLI append log opens with its header line
    if forced == Some(SourceFormat::GeminiCli)
        || forced.is_none() && head.first().is_some_and(gemini_cli::is_log_header)
    {
        let (session, _) = gemini_cli::rebuild_log(lines);
        let src = SourceRef {
            file: file.to_string(),
            record: 1,
            part: None,
        };
        let mut got = Gathered::default();
        got.add(gemini_cli::read_records(&session, src));
        return Some(got.done());
    }
    // a Codex rollout opens with its session_meta line
    let codex = head
        .first()
        .is_some_and(|v| codex::is_session_meta(v) || codex::is_legacy_header(v));
    if forced == Some(SourceFormat::Codex) || forced.is_none() && codex {
        return Some(codex::read(lines, file));
    }
    None
}
