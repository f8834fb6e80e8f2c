//! Claude Code's `--output-format stream-json` output, one JSON object a line.
//!
//! Objects carry `type` = `system` (init), `assistant`, `user` (tool results)
//! or `result`; the final answer is the `result` object's `result` string, and
//! its `is_error` (or a `subtype` other than `success`) marks a failed run.
//! Lines are untrusted container output: nothing here panics on any input.

use serde_json::Value;

/// Longest answer kept, in bytes (the rest is cut at a character boundary).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The final `result` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// The answer text (empty when the agent gave none).
    pub answer: String,
    /// Whether the agent reported a failure.
    pub is_error: bool,
}

/// What one line of agent output is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `type: system` (the init line names the model and tools).
    System,
    /// `type: assistant`: a model turn.
    Assistant,
    /// `type: user`: tool results fed back.
    User,
    /// `type: result`: the run is over.
    Result(Finish),
    /// JSON of another type, or not JSON at all.
    Other,
}

/// Classifies one line.
pub fn classify(line: &str) -> Line {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line.trim()) else {
        return Line::Other;
    };
    match object.get("type").and_then(Value::as_str) {
        Some("system") => Line::System,
        Some("assistant") => Line::Assistant,
        Some("user") => Line::User,
        Some("result") => {
            let answer = object
                .get("result")
                .and_then(Value::as_str)
                .map(|text| truncate(text, MAX_ANSWER_BYTES))
                .unwrap_or_default();
            let subtype_failed = object
                .get("subtype")
                .and_then(Value::as_str)
                .is_some_and(|s| s != "success");
            let is_error = object
                .get("is_error")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Line::Result(Finish {
                answer,
                is_error: is_error || subtype_failed,
            })
        }
        _ => Line::Other,
    }
}

/// What a whole run printed, line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Lines seen.
    pub lines: u64,
    /// `assistant` turns seen.
    pub turns: u64,
    /// Whether an init (`system`) line came.
    pub initialized: bool,
    /// The last `result` object, if any.
    pub finish: Option<Finish>,
}

impl Tally {
    /// Counts one line.
    pub fn push(&mut self, line: &str) {
        self.lines += 1;
        match classify(line) {
            Line::System => self.initialized = true,
            Line::Assistant => self.turns += 1,
            Line::Result(finish) => self.finish = Some(finish),
            Line::User | Line::Other => {}
        }
    }
}

/// Longest progress text passed on, in bytes.
pub const MAX_PROGRESS_BYTES: usize = 4096;

/// What a line shows a person watching the run: the model's text and the
/// tools it calls (`{"kind": "text", "text"}`, `{"kind": "tool", "name", "input"}`).
pub fn progress_of(line: &str) -> Vec<Value> {
    let Ok(object) = serde_json::from_str::<Value>(line.trim()) else {
        return Vec::new();
    };
    if object.get("type").and_then(Value::as_str) != Some("assistant") {
        return Vec::new();
    }
    let blocks = object
        .pointer("/message/content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    blocks
        .iter()
        .filter_map(|block| match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str)?;
                Some(
                    serde_json::json!({"kind": "text", "text": truncate(text, MAX_PROGRESS_BYTES)}),
                )
            }
            Some("tool_use") => {
                let name = block.get("name").and_then(Value::as_str)?;
                let input = match block.pointer("/input/command").and_then(Value::as_str) {
                    Some(command) => command.to_owned(),
                    None => block.get("input").map(Value::to_string).unwrap_or_default(),
                };
                Some(
                    serde_json::json!({"kind": "tool", "name": truncate(name, 64),
                                        "input": truncate(&input, MAX_PROGRESS_BYTES)}),
                )
            }
            _ => None,
        })
        .collect()
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_lines_are_read() {
        let mut tally = Tally::default();
        for line in [
            r#"{"type":"system","subtype":"init","model":"m","tools":["Bash"]}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}"#,
            r#"{"type":"user","message":{"content":[]}}"#,
            "not json",
            r#"{"type":"result","subtype":"success","is_error":false,"result":"done: 3 tools"}"#,
        ] {
            tally.push(line);
        }
        assert_eq!((tally.lines, tally.turns, tally.initialized), (5, 1, true));
        let finish = tally.finish.expect("result");
        assert_eq!(finish.answer, "done: 3 tools");
        assert!(!finish.is_error);
    }

    #[test]
    fn progress_shows_text_and_tool_calls_only() {
        let turn = r#"{"type":"assistant","message":{"content":[
            {"type":"text","text":"Listing."},
            {"type":"tool_use","id":"t","name":"Bash","input":{"command":"ipc list_tools"}},
            {"type":"tool_use","id":"u","name":"Read","input":{"file_path":"/x"}},
            {"type":"thinking","thinking":"..."}]}}"#;
        let shown = progress_of(turn);
        assert_eq!(
            shown,
            [
                serde_json::json!({"kind":"text","text":"Listing."}),
                serde_json::json!({"kind":"tool","name":"Bash","input":"ipc list_tools"}),
                serde_json::json!({"kind":"tool","name":"Read","input":"{\"file_path\":\"/x\"}"}),
            ]
        );
        for quiet in [
            r#"{"type":"user","message":{"content":[{"type":"text","text":"x"}]}}"#,
            r#"{"type":"assistant","message":{"content":"text"}}"#,
            r#"{"type":"assistant"}"#,
            "garbage",
        ] {
            assert!(progress_of(quiet).is_empty(), "{quiet}");
        }
    }

    #[test]
    fn failures_and_odd_input_are_handled() {
        let failed = classify(r#"{"type":"result","subtype":"error_max_turns","result":"x"}"#);
        assert!(matches!(
            failed,
            Line::Result(Finish { is_error: true, .. })
        ));
        let flagged = classify(r#"{"type":"result","is_error":true}"#);
        assert_eq!(
            flagged,
            Line::Result(Finish {
                answer: String::new(),
                is_error: true
            })
        );
        for odd in [
            "",
            "[]",
            "{}",
            r#"{"type":5}"#,
            "\u{0}",
            "{\"type\":\"result\"",
        ] {
            assert!(matches!(classify(odd), Line::Other), "{odd:?}");
        }
        assert_eq!(truncate("ééé", 3), "é");
    }
}
