//! Chat templates: the model's `chat_template` from tokenizer_config.json
//! rendered with minijinja (Python-compatible string methods enabled, as HF
//! templates use them), or ChatML when a model has none.

use std::path::Path;

use minijinja::{context, Environment, Error as JinjaError, ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// ChatML, the format of Qwen models: `<|im_start|>{role}\n{content}<|im_end|>\n`.
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// ChatML with Qwen3's rendering of tool results: a `tool` message becomes a
/// user turn wrapping the result in `<tool_response>` (consecutive results share
/// one turn). Assistant tool calls are written in the content as `<tool_call>` blocks.
/// The template of the checkpoints acc-probe trains.
pub const CHATML_TOOLS: &str = "{%- for message in messages -%}\
{%- if message['role'] == 'tool' -%}\
{%- if loop.first or messages[loop.index0 - 1]['role'] != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}\
{{- '\\n<tool_response>\\n' + message['content'] + '\\n</tool_response>' -}}\
{%- if loop.last or messages[loop.index0 + 1]['role'] != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}\
{%- else -%}\
{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\
{%- endif -%}\
{%- endfor -%}\
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

/// A chat template with the special tokens it may refer to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    pub source: String,
    pub bos_token: String,
    pub eos_token: String,
}

/// The template instructions one rendering may run: hundreds of thousands
/// of messages' worth for real chat templates, about a second of work; a
/// template that loops without end stops there with an error.
pub const TEMPLATE_FUEL: u64 = 50_000_000;

impl ChatTemplate {
    pub fn chatml() -> Self {
        ChatTemplate {
            source: CHATML.to_string(),
            bos_token: String::new(),
            eos_token: "<|im_end|>".into(),
        }
    }

    /// [`CHATML_TOOLS`]: ChatML with Qwen3-style tool results.
    pub fn chatml_tools() -> Self {
        ChatTemplate {
            source: CHATML_TOOLS.to_string(),
            ..Self::chatml()
        }
    }

    /// Reads `chat_template` (a string, or a list of {name, template} where
    /// "default" is used) from tokenizer_config.json; `None` when absent.
    pub fn from_tokenizer_config(path: &Path) -> Result<Option<Self>> {
        let text = crate::io::read_text(path, crate::io::MAX_DOC_BYTES)?;
        let v: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let source = match &v["chat_template"] {
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .find(|t| t["name"] == "default")
                .and_then(|t| t["template"].as_str())
                .ok_or_else(|| Error::Config {
                    path: path.to_path_buf(),
                    field: "chat_template".into(),
                    reason: "a list of templates without one named \"default\"".into(),
                })?
                .to_string(),
            Value::Null => return Ok(None),
            other => {
                return Err(Error::Config {
                    path: path.to_path_buf(),
                    field: "chat_template".into(),
                    reason: format!("expected a string or a list, found {other}"),
                })
            }
        };
        let token = |k: &str| match &v[k] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        Ok(Some(ChatTemplate {
            source,
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
        }))
    }

    /// The template of a model directory (tokenizer_config.json), else ChatML.
    pub fn for_model_dir(dir: &Path) -> Result<Self> {
        let p = dir.join("tokenizer_config.json");
        if p.is_file() {
            if let Some(t) = Self::from_tokenizer_config(&p)? {
                return Ok(t);
            }
        }
        Ok(Self::chatml())
    }

    /// Renders `messages`, ending with the assistant prefix when `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let mut env = Environment::new();
        // a template that loops without end runs out of fuel instead
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template("chat", &self.source)
            .map_err(|e| Error::Input(format!("chat template does not parse: {e}")))?;
        let tmpl = env
            .get_template("chat")
            .map_err(|e| Error::Input(format!("chat template: {e}")))?;
        tmpl.render(context! {
            messages => minijinja::Value::from(minijinja::value::Serde(messages)),
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(|e| Error::Input(format!("chat template failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<Message> {
        vec![
            Message {
                role: "system".into(),
                content: "Be brief.".into(),
            },
            Message {
                role: "user".into(),
                content: "Hi".into(),
            },
        ]
    }

    #[test]
    fn long_conversations_render_and_endless_templates_run_out_of_fuel() {
        let many: Vec<Message> = (0..20_000)
            .map(|i| Message {
                role: if i % 2 == 0 { "user" } else { "assistant" }.into(),
                content: format!("turn {i}"),
            })
            .collect();
        let s = ChatTemplate::chatml_tools().render(&many, true).unwrap();
        assert!(s.contains("turn 19999"));
        let endless = ChatTemplate {
            source:
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                    .into(),
            ..ChatTemplate::chatml()
        };
        let e = endless.render(&msgs(), true).unwrap_err().to_string();
        assert!(e.contains("fuel"), "{e}");
    }

    #[test]
    fn chatml_renders_like_qwen() {
        let s = ChatTemplate::chatml().render(&msgs(), true).unwrap();
        assert_eq!(s, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn chatml_tools_wraps_tool_results_in_user_turns() {
        let m = |role: &str, content: &str| Message {
            role: role.into(),
            content: content.into(),
        };
        let conv = [
            m("user", "Q"),
            m("assistant", "<tool_call>\n{}\n</tool_call>"),
            m("tool", "r1"),
            m("tool", "r2"),
            m("assistant", "A"),
        ];
        let s = ChatTemplate::chatml_tools().render(&conv, false).unwrap();
        assert_eq!(
            s,
            "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{}\n</tool_call><|im_end|>\n\
<|im_start|>user\n<tool_response>\nr1\n</tool_response>\n<tool_response>\nr2\n</tool_response><|im_end|>\n\
<|im_start|>assistant\nA<|im_end|>\n"
        );
        let plain = [m("user", "Hi")];
        assert_eq!(
            ChatTemplate::chatml_tools().render(&plain, true).unwrap(),
            ChatTemplate::chatml().render(&plain, true).unwrap()
        );
    }

    #[test]
    fn python_style_templates_render() {
        // constructs of Qwen3's template: namespace, reversed slices, str methods, raise_exception
        let src = "{%- set ns = namespace(last_user=-1) -%}{%- for m in messages[::-1] -%}{%- if ns.last_user == -1 and m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}{%- endfor -%}\
{%- for m in messages -%}{%- if m.content.startswith('Be') -%}[{{ m.content.split(' ')[0].upper() }}]{%- else -%}{{ m.content | tojson }}{%- endif -%}{%- endfor -%}{{ ns.last_user }}";
        let t = ChatTemplate {
            source: src.into(),
            bos_token: String::new(),
            eos_token: String::new(),
        };
        assert_eq!(t.render(&msgs(), false).unwrap(), "[BE]\"Hi\"0");
        let bad = ChatTemplate {
            source: "{{ raise_exception('no system role') }}".into(),
            ..t
        };
        assert!(bad
            .render(&msgs(), false)
            .unwrap_err()
            .to_string()
            .contains("no system role"));
    }
}
