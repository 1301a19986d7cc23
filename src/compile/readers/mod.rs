//! Format readers: detect a file's format, split it into records, and turn
//! each record into a canonical [`Trajectory`]. A record that cannot be read
//! is rejected with its file:record and a reason; the others go on.

pub mod adp;
pub mod anthropic;
pub mod claude_code;
pub mod codex;
pub mod diff;
pub mod gemini_cli;
pub mod langchain;
pub mod llamafactory;
pub mod mini_swe_agent;
pub mod nebius;
pub mod openai;
pub mod openhands;
pub mod openhands_v1;
pub mod react;
pub mod search_r1;
pub mod sharegpt;
pub mod spider2;
pub mod swe_agent;
pub mod swe_gym;
pub mod text_calls;
pub mod util;

use std::path::Path;

use serde_json::Value;

use super::trajectory::{SourceRef, Trajectory};

/// A record that could not be compiled, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    pub source: SourceRef,
    pub reason: String,
}

impl Rejection {
    /// Record `record` of `file`, rejected for `reason`.
    pub fn at(file: &str, record: usize, reason: String) -> Self {
        Rejection {
            source: SourceRef {
                file: file.to_string(),
                record,
            },
            reason,
        }
    }
}

/// Formats acc-probe reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    Openai,
    ClaudeCode,
    Sharegpt,
    SweAgent,
    MiniSweAgent,
    SweGym,
    Openhands,
    OpenhandsV1,
    Nebius,
    Adp,
    React,
    SearchR1,
    Spider2,
    Codex,
    GeminiCli,
    Anthropic,
    Langchain,
    Llamafactory,
}

impl SourceFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(Self::Openai),
            "claude-code" => Some(Self::ClaudeCode),
            "sharegpt" => Some(Self::Sharegpt),
            "swe-agent" => Some(Self::SweAgent),
            "mini-swe-agent" => Some(Self::MiniSweAgent),
            "swe-gym" => Some(Self::SweGym),
            "openhands" => Some(Self::Openhands),
            "openhands-v1" => Some(Self::OpenhandsV1),
            "nebius" => Some(Self::Nebius),
            "adp" => Some(Self::Adp),
            "react" => Some(Self::React),
            "search-r1" => Some(Self::SearchR1),
            "spider2" => Some(Self::Spider2),
            "codex" => Some(Self::Codex),
            "gemini-cli" => Some(Self::GeminiCli),
            "anthropic" => Some(Self::Anthropic),
            "langchain" => Some(Self::Langchain),
            "llamafactory" => Some(Self::Llamafactory),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::ClaudeCode => "claude-code",
            Self::Sharegpt => "sharegpt",
            Self::SweAgent => "swe-agent",
            Self::MiniSweAgent => "mini-swe-agent",
            Self::SweGym => "swe-gym",
            Self::Openhands => "openhands",
            Self::OpenhandsV1 => "openhands-v1",
            Self::Nebius => "nebius",
            Self::Adp => "adp",
            Self::React => "react",
            Self::SearchR1 => "search-r1",
            Self::Spider2 => "spider2",
            Self::Codex => "codex",
            Self::GeminiCli => "gemini-cli",
            Self::Anthropic => "anthropic",
            Self::Langchain => "langchain",
            Self::Llamafactory => "llamafactory",
        }
    }
}

/// The format of one JSON record, from the keys that identify it.
pub fn detect_record(v: &Value) -> Option<SourceFormat> {
    if langchain::is_record(v) {
        return Some(SourceFormat::Langchain);
    }
    let o = v.as_object()?;
    if let Some(f) = detect_swe_record(v) {
        return Some(f);
    }
    if spider2::detect(v) {
        return Some(SourceFormat::Spider2);
    }
    if search_r1::is_corpus_row(v) {
        return Some(SourceFormat::SearchR1);
    }
    if react::detect(v) {
        return Some(SourceFormat::React);
    }
    if o.contains_key("trajectory") && (o.contains_key("history") || o.contains_key("info")) {
        return Some(SourceFormat::SweAgent);
    }
    if o.get("conversations").is_some_and(Value::is_array) {
        return Some(SourceFormat::Sharegpt);
    }
    if gemini_cli::is_session(v) {
        return Some(SourceFormat::GeminiCli);
    }
    if llamafactory::is_v1_row(v) {
        return Some(SourceFormat::Llamafactory);
    }
    if anthropic::is_messages(v) {
        return Some(SourceFormat::Anthropic);
    }
    if o.get("messages").is_some_and(Value::is_array) {
        return Some(SourceFormat::Openai);
    }
    None
}

/// SWE-agent family, SWE datasets and OpenHands records (checked before the generic keys).
fn detect_swe_record(v: &Value) -> Option<SourceFormat> {
    if mini_swe_agent::detect(v) {
        Some(SourceFormat::MiniSweAgent)
    } else if swe_gym::detect(v) {
        Some(SourceFormat::SweGym)
    } else if swe_agent::is_traj(v) || swe_agent::is_predictions(v) {
        Some(SourceFormat::SweAgent)
    } else if nebius::detect(v) {
        Some(SourceFormat::Nebius)
    } else if adp::detect(v) {
        Some(SourceFormat::Adp)
    } else if openhands_v1::is_event(v) {
        Some(SourceFormat::OpenhandsV1)
    } else if openhands::is_eval_row(v) || openhands::is_event(v) {
        Some(SourceFormat::Openhands)
    } else {
        None
    }
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
    let reject = |record: usize, reason: String| Rejection::at(&file, record, reason);
    if let Some(why) = not_a_regular_file(path) {
        return (vec![], vec![reject(0, why)]);
    }
    let bytes = match std::fs::read(path) {
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
                .map(|(line, why)| reject(line, why))
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
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return Some(match std::fs::read_link(path) {
                Ok(to) => format!("a broken link to {} ({e}); skipped", to.display()),
                Err(_) => format!("cannot read: {e}"),
            })
        }
    };
    let t = meta.file_type();
    let kind = if t.is_file() {
        return None;
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
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

/// [`read_records`] over a file's text. Long by design: the one place a
/// file's container (a JSON document, a list, JSONL of records or of
/// per-turn events) is told apart and each record dispatched to its format,
/// so the order of detection reads top to bottom.
fn read_records_text(
    path: &Path,
    text: String,
    forced: Option<SourceFormat>,
) -> (Vec<Trajectory>, Vec<Rejection>) {
    let file = path.display().to_string();
    let reject = |record: usize, reason: String| Rejection::at(&file, record, reason);
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    let take = |out: &mut Vec<Trajectory>,
                rejected: &mut Vec<Rejection>,
                src: SourceRef,
                v: &Value,
                fmt: Option<SourceFormat>| {
        let fmt = fmt.or_else(|| detect_record(v));
        let res = match fmt {
            Some(SourceFormat::Openai) => openai::read(v, src.clone()),
            Some(SourceFormat::Sharegpt) => sharegpt::read(v, src.clone()),
            Some(SourceFormat::SweAgent) => swe_agent::read(v, src.clone()),
            Some(SourceFormat::MiniSweAgent) => mini_swe_agent::read(v, src.clone()),
            Some(SourceFormat::SweGym) => swe_gym::read(v, src.clone()),
            Some(SourceFormat::Openhands) => openhands::read(v, src.clone()),
            Some(SourceFormat::OpenhandsV1) => Err(openhands_v1::SINGLE_EVENT.into()),
            Some(SourceFormat::Nebius) => nebius::read(v, src.clone()),
            Some(SourceFormat::Adp) => adp::read(v, src.clone()),
            Some(SourceFormat::React) => react::read(v, src.clone()),
            Some(SourceFormat::SearchR1) => search_r1::read(v, src.clone()),
            Some(SourceFormat::Spider2) => spider2::read(v, src.clone()),
            Some(SourceFormat::Anthropic) => anthropic::read(v, src.clone()),
            Some(SourceFormat::Langchain) => langchain::read(v, src.clone()),
            Some(SourceFormat::Llamafactory) => llamafactory::read(v, src.clone()),
            Some(SourceFormat::GeminiCli) => match gemini_cli::read(v, src.clone()) {
                Ok((ts, rs)) => {
                    out.extend(ts);
                    rejected.extend(rs);
                    return;
                }
                Err(e) => Err(e),
            },
            Some(SourceFormat::ClaudeCode) => {
                Err("a Claude Code session is a JSONL file of events, not one JSON record".into())
            }
            Some(SourceFormat::Codex) => {
                Err("a Codex rollout is a JSONL file of events, not one JSON record".into())
            }
            None if llamafactory::is_dataset_info(v) => {
                Err(llamafactory::REGISTRY_REASON.to_string())
            }
            None => {
                Err("unknown format (no messages, conversations or trajectory field)".to_string())
            }
        };
        match res {
            Ok(t) => out.push(t),
            Err(reason) => rejected.push(Rejection {
                source: src,
                reason,
            }),
        }
    };
    let trimmed = text.trim_start();
    // a whole-file JSON document (object or list)
    let whole = serde_json::from_str::<Value>(&text);
    if let Err(e) = &whole {
        if let Some(why) = broken_document(&text, e) {
            return (vec![], vec![reject(1, why)]);
        }
    }
    if let Ok(v) = whole {
        let event_list = match forced {
            Some(f) => f == SourceFormat::Openhands && openhands::is_event_list(&v),
            None => openhands::is_event_list(&v),
        };
        // a langchain messages_to_dict list is one conversation, not a list of records
        let one_conversation = match &v {
            Value::Array(items) => match forced {
                Some(f) => f == SourceFormat::Langchain,
                None => langchain::is_message_list(items),
            },
            _ => false,
        };
        match &v {
            // an OpenHands v0 event list is one trajectory
            Value::Array(_) if event_list => take(
                &mut out,
                &mut rejected,
                SourceRef {
                    file: file.clone(),
                    record: 1,
                },
                &v,
                Some(SourceFormat::Openhands),
            ),
            Value::Array(items) if !one_conversation => {
                for (i, item) in items.iter().enumerate() {
                    take(
                        &mut out,
                        &mut rejected,
                        SourceRef {
                            file: file.clone(),
                            record: i + 1,
                        },
                        item,
                        forced,
                    );
                }
            }
            _ => take(
                &mut out,
                &mut rejected,
                SourceRef {
                    file: file.clone(),
                    record: 1,
                },
                &v,
                forced,
            ),
        }
        return (out, rejected);
    }
    if !trimmed.starts_with('{')
        && (forced == Some(SourceFormat::SearchR1)
            || (forced.is_none() && search_r1::detect_text(&text)))
    {
        return search_r1::read_text(&text, &file);
    }
    // JSONL lines are objects, or lists (one LangChain message dump per line)
    let list_lines = trimmed.starts_with('[')
        && trimmed
            .lines()
            .next()
            .is_some_and(|l| serde_json::from_str::<Value>(l).is_ok());
    if !trimmed.starts_with('{') && !list_lines {
        if llamafactory::is_v1_config(&text) {
            return (vec![], vec![reject(0, llamafactory::CONFIG_REASON.into())]);
        }
        return (vec![], vec![reject(0, "not JSON, JSONL or a known text format (Search-R1 chat text); not a trajectory file".into())]);
    }
    // JSONL: a Claude Code session or Codex rollout (a record per turn) or one record per line
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    // sessions may open with snapshot / summary lines: look at the first few events
    let claude = lines
        .iter()
        .take(8)
        .filter_map(|(_, l)| serde_json::from_str::<Value>(l).ok())
        .any(|v| is_claude_code_line(&v));
    if forced == Some(SourceFormat::ClaudeCode) || (forced.is_none() && claude) {
        return claude_code::read(&lines, &file);
    }
    // a Codex rollout opens with its session_meta line
    let codex = lines
        .first()
        .and_then(|(_, l)| serde_json::from_str::<Value>(l).ok())
        .is_some_and(|v| codex::is_session_meta(&v));
    if forced == Some(SourceFormat::Codex) || (forced.is_none() && codex) {
        return codex::read(&lines, &file);
    }
    for (line, l) in lines {
        match serde_json::from_str::<Value>(l) {
            Ok(v) => take(
                &mut out,
                &mut rejected,
                SourceRef {
                    file: file.clone(),
                    record: line,
                },
                &v,
                forced,
            ),
            Err(e) => rejected.push(reject(line, format!("malformed JSON line: {e}"))),
        }
    }
    (out, rejected)
}
