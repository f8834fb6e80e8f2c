//! A stand-in for the Telegram Bot API on loopback, for tests: real HTTP/1.1 (keep-alive,
//! `Content-Length` bodies, JSON and `multipart/form-data`), the real paths
//! (`/bot<token>/<method>`) and answers (`{"ok": true, "result": ...}` or
//! `{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`).
//!
//! It serves `getMe`, `getUpdates` (long polling: it waits up to `timeout` seconds for
//! an update, and forgets every update below the `offset` asked for, as Telegram
//! does), `sendMessage`, `editMessageText`, `editMessageReplyMarkup`,
//! `sendChatAction`, `answerCallbackQuery` and `sendDocument`. It checks text as
//! Telegram does, at least as strictly: in the HTML parse mode every `<`, `>` and `&`
//! must be a supported tag or entity, in MarkdownV2 every reserved character must be
//! escaped, else 400 "can't parse entities"; the text shown must be 1 to 4096 UTF-16
//! units. A test may make the next calls of a method fail (429 with `retry_after`,
//! 400, 500, a dropped connection). It records every call: method, params, time;
//! and when each update first left in a `getUpdates` answer.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How a call is made to fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with this `retry_after` (seconds).
    RateLimited(u64),
    /// 400 with this description.
    BadRequest(String),
    /// 500.
    ServerError,
    /// The connection is closed without an answer.
    Hangup,
}

/// One call the stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method.
    pub method: String,
    /// Its params (multipart fields as strings; a file as `{"filename", "content"}`).
    pub params: Value,
    /// When it arrived.
    pub at: Instant,
    /// What was answered: the HTTP status (0 for a dropped connection).
    pub status: u16,
}

/// A message the bot sent, as the chat shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// The chat.
    pub chat: i64,
    /// Its id.
    pub message_id: i64,
    /// The text as the chat shows it (entities parsed).
    pub text: String,
    /// The message it replies to.
    pub reply_to: Option<i64>,
    /// Its inline keyboard, if any.
    pub keyboard: Option<Value>,
}

#[derive(Default)]
struct State {
    updates: Vec<Value>,
    /// Answered with every poll whatever its offset, as a misbehaving server would.
    stale: Vec<Value>,
    next_update: i64,
    /// When each update was first answered to a poll (just before the answer is written).
    served: HashMap<i64, Instant>,
    calls: Vec<Call>,
    faults: HashMap<String, Vec<Fault>>,
    messages: Vec<Shown>,
    next_message: i64,
    next_callback: u64,
}

struct Inner {
    token: String,
    state: Mutex<State>,
    changed: Condvar,
    stopped: AtomicBool,
}

/// The running stand-in; stops on drop.
pub struct BotApi {
    inner: Arc<Inner>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl BotApi {
    /// Starts a stand-in that accepts `token` only.
    pub fn start(token: &str) -> BotApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let inner = Arc::new(Inner {
            token: token.to_owned(),
            state: Mutex::new(State {
                next_update: 1000,
                next_message: 1,
                ..State::default()
            }),
            changed: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let serving = Arc::clone(&inner);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if serving.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let connection = Arc::clone(&serving);
                std::thread::spawn(move || serve(&connection, stream));
            }
        });
        BotApi { inner, url }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a text message from `user` (named `name`) in `chat`; its update id.
    pub fn message(&self, chat: i64, user: i64, name: &str, text: &str) -> i64 {
        self.push(|update_id, message_id| {
            json!({"update_id": update_id, "message": {
                "message_id": message_id, "date": 1_796_292_240,
                "from": {"id": user, "is_bot": false, "first_name": name},
                "chat": {"id": chat, "type": if chat > 0 { "private" } else { "group" }},
                "text": text}})
        })
    }

    /// Queues any update built from its id and a fresh message id; its update id.
    pub fn push(&self, build: impl FnOnce(i64, i64) -> Value) -> i64 {
        let mut state = self.state();
        let update_id = state.next_update;
        state.next_update += 1;
        let message_id = state.next_message;
        state.next_message += 1;
        let update = build(update_id, message_id);
        state.updates.push(update);
        self.inner.changed.notify_all();
        update_id
    }

    /// The id of the update queued last (a tap's, right after [`tap`](Self::tap)).
    pub fn last_update_id(&self) -> i64 {
        self.state().next_update - 1
    }

    /// When update `update_id` first left in a `getUpdates` answer: the answer was
    /// built then, and is written to the connection right after.
    pub fn served_at(&self, update_id: i64) -> Option<Instant> {
        self.state().served.get(&update_id).copied()
    }

    /// Queues a tap by `user` on the button with `data` under `message_id` in `chat`;
    /// the callback query's id.
    pub fn tap(&self, chat: i64, message_id: i64, user: i64, name: &str, data: &str) -> String {
        let id = {
            let mut state = self.state();
            state.next_callback += 1;
            format!("cb{}", state.next_callback)
        };
        let query = id.clone();
        self.push(move |update_id, _| {
            json!({"update_id": update_id, "callback_query": {
                "id": query, "chat_instance": "ci",
                "from": {"id": user, "is_bot": false, "first_name": name},
                "message": {"message_id": message_id, "date": 1, "chat": {"id": chat, "type": "private"}},
                "data": data}})
        });
        id
    }

    /// Answers every poll from now on with `update` too, whatever the offset asked
    /// for (a misbehaving server or proxy: an update the bot already confirmed).
    pub fn serve_stale(&self, update: Value) {
        self.state().stale.push(update);
        self.inner.changed.notify_all();
    }

    /// Makes the next calls of `method` fail with `faults`, in order.
    pub fn fail_next(&self, method: &str, faults: Vec<Fault>) {
        self.state()
            .faults
            .entry(method.to_owned())
            .or_default()
            .extend(faults);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls of `method` so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The messages the bot sent (and edited) in `chat`, oldest first.
    pub fn shown_in(&self, chat: i64) -> Vec<Shown> {
        self.state()
            .messages
            .iter()
            .filter(|m| m.chat == chat)
            .cloned()
            .collect()
    }

    /// Waits up to `limit` for `check` to hold over the calls; they, then.
    pub fn wait_calls(&self, limit: Duration, check: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + limit;
        let mut state = self.state();
        loop {
            if check(&state.calls) {
                return state.calls.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the stand-in never saw what the test waited for: {:#?}",
                state
                    .calls
                    .iter()
                    .map(|c| (&c.method, &c.params, c.status))
                    .collect::<Vec<_>>()
            );
            state = self
                .inner
                .changed
                .wait_timeout(state, left.min(Duration::from_millis(200)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits for the `n`-th successful call of `method`; its params.
    pub fn wait_ok(&self, method: &str, n: usize, limit: Duration) -> Value {
        let calls = self.wait_calls(limit, |calls| {
            calls
                .iter()
                .filter(|c| c.method == method && c.status == 200)
                .count()
                >= n
        });
        calls
            .into_iter()
            .filter(|c| c.method == method && c.status == 200)
            .nth(n - 1)
            .map(|c| c.params)
            .expect("counted")
    }

    /// The updates not yet confirmed by a poll's offset.
    pub fn unconfirmed(&self) -> usize {
        self.state().updates.len()
    }
}

impl Drop for BotApi {
    fn drop(&mut self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.changed.notify_all();
        // Wakes the accept loop so that it sees the stop.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

/// Serves one connection until it closes.
fn serve(inner: &Inner, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    while !inner.stopped.load(Ordering::SeqCst) {
        let Some((path, content_type, body)) = read_request(&mut reader) else {
            return;
        };
        let Some((status, answer)) = answer(inner, &path, &content_type, &body) else {
            return; // A hang-up fault: no answer at all.
        };
        let bytes = answer.to_string();
        let reply = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{bytes}",
            if status == 200 { "OK" } else { "Error" },
            bytes.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads one request: its path, content type and body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (_method, path) = (parts.next()?, parts.next()?.to_owned());
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "content-type" => content_type = value.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, content_type, body))
}

fn error(code: u16, description: &str) -> (u16, Value) {
    (
        code,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

/// The answer to one request, recorded; `None` to hang up.
fn answer(inner: &Inner, path: &str, content_type: &str, body: &[u8]) -> Option<(u16, Value)> {
    let prefix = format!("/bot{}/", inner.token);
    let Some(method) = path.strip_prefix(&prefix) else {
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.calls.push(Call {
            method: "?".into(),
            params: Value::Null,
            at: Instant::now(),
            status: 401,
        });
        return Some(error(401, "Unauthorized"));
    };
    let method = method.to_owned();
    let params = if content_type.starts_with("multipart/form-data") {
        multipart(content_type, body).unwrap_or(Value::Null)
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    };
    let fault = {
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .faults
            .get_mut(&method)
            .filter(|f| !f.is_empty())
            .map(|f| f.remove(0))
    };
    let outcome = match fault {
        Some(Fault::Hangup) => None,
        Some(Fault::RateLimited(secs)) => Some((
            429,
            json!({"ok": false, "error_code": 429,
                   "description": format!("Too Many Requests: retry after {secs}"),
                   "parameters": {"retry_after": secs}}),
        )),
        Some(Fault::BadRequest(description)) => Some(error(400, &description)),
        Some(Fault::ServerError) => Some(error(500, "Internal Server Error")),
        None => Some(serve_method(inner, &method, &params)),
    };
    let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
    state.calls.push(Call {
        method,
        params,
        at: Instant::now(),
        status: outcome.as_ref().map_or(0, |(status, _)| *status),
    });
    inner.changed.notify_all();
    outcome
}

fn ok(result: Value) -> (u16, Value) {
    (200, json!({"ok": true, "result": result}))
}

fn serve_method(inner: &Inner, method: &str, params: &Value) -> (u16, Value) {
    match method {
        "getMe" => ok(json!({"id": 1, "is_bot": true, "first_name": "Carapace",
                             "username": "carapace_test_bot"})),
        "getUpdates" => get_updates(inner, params),
        "sendMessage" => send_message(inner, params),
        "editMessageText" => edit_message(inner, params),
        "editMessageReplyMarkup" => {
            let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
            let (chat, id) = (int(params, "chat_id"), int(params, "message_id"));
            match state
                .messages
                .iter_mut()
                .find(|m| Some(m.chat) == chat && Some(m.message_id) == id)
            {
                Some(shown) => {
                    shown.keyboard = params.pointer("/reply_markup/inline_keyboard").cloned();
                    ok(json!(true))
                }
                None => error(400, "Bad Request: message to edit not found"),
            }
        }
        "sendChatAction" => match params.get("action").and_then(Value::as_str) {
            Some("typing") if int(params, "chat_id").is_some() => ok(json!(true)),
            _ => error(400, "Bad Request: wrong parameter action in request"),
        },
        "answerCallbackQuery" => match params.get("callback_query_id").and_then(Value::as_str) {
            Some(_) => ok(json!(true)),
            None => error(400, "Bad Request: query is too old"),
        },
        "sendDocument" => {
            let Some(chat) = int(params, "chat_id") else {
                return error(400, "Bad Request: chat not found");
            };
            if params.pointer("/document/content").is_none() {
                return error(400, "Bad Request: there is no document in the request");
            }
            let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
            let id = state.next_message;
            state.next_message += 1;
            ok(json!({"message_id": id, "date": 1, "chat": {"id": chat},
                      "document": {"file_name": params.pointer("/document/filename")}}))
        }
        _ => error(404, "Not Found"),
    }
}

/// A param that is an integer, or a string holding one (as multipart sends it).
fn int(params: &Value, key: &str) -> Option<i64> {
    match params.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn get_updates(inner: &Inner, params: &Value) -> (u16, Value) {
    let offset = int(params, "offset").unwrap_or(0);
    let wait = Duration::from_secs(int(params, "timeout").unwrap_or(0).clamp(0, 50) as u64);
    let limit = int(params, "limit").unwrap_or(100).clamp(1, 100) as usize;
    let deadline = Instant::now() + wait;
    let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
    // As Telegram: asking from an offset confirms everything below it.
    state
        .updates
        .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset));
    loop {
        if !state.updates.is_empty()
            || !state.stale.is_empty()
            || inner.stopped.load(Ordering::SeqCst)
        {
            let batch: Vec<Value> = (state.stale.iter().chain(&state.updates))
                .take(limit)
                .cloned()
                .collect();
            let now = Instant::now();
            for id in batch.iter().filter_map(|u| u["update_id"].as_i64()) {
                state.served.entry(id).or_insert(now);
            }
            return ok(json!(batch));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return ok(json!([]));
        }
        state = inner
            .changed
            .wait_timeout(state, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// The text as the chat would show it, or Telegram's 400.
fn shown_text(params: &Value) -> Result<String, (u16, Value)> {
    let Some(text) = params.get("text").and_then(Value::as_str) else {
        return Err(error(400, "Bad Request: message text is empty"));
    };
    let shown = match params.get("parse_mode").and_then(Value::as_str) {
        None => text.to_owned(),
        Some("HTML") => parse_html(text)
            .map_err(|why| error(400, &format!("Bad Request: can't parse entities: {why}")))?,
        Some("MarkdownV2") => parse_markdown_v2(text)
            .map_err(|why| error(400, &format!("Bad Request: can't parse entities: {why}")))?,
        Some(_) => return Err(error(400, "Bad Request: unsupported parse_mode")),
    };
    if shown.trim().is_empty() {
        return Err(error(400, "Bad Request: message text is empty"));
    }
    if shown.encode_utf16().count() > 4096 {
        return Err(error(400, "Bad Request: message is too long"));
    }
    Ok(shown)
}

fn send_message(inner: &Inner, params: &Value) -> (u16, Value) {
    let Some(chat) = int(params, "chat_id") else {
        return error(400, "Bad Request: chat not found");
    };
    let text = match shown_text(params) {
        Ok(text) => text,
        Err(refused) => return refused,
    };
    let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
    let id = state.next_message;
    state.next_message += 1;
    let reply_to = params
        .pointer("/reply_parameters/message_id")
        .and_then(Value::as_i64);
    state.messages.push(Shown {
        chat,
        message_id: id,
        text: text.clone(),
        reply_to,
        keyboard: params.pointer("/reply_markup/inline_keyboard").cloned(),
    });
    ok(json!({"message_id": id, "date": 1, "chat": {"id": chat}, "text": text}))
}

fn edit_message(inner: &Inner, params: &Value) -> (u16, Value) {
    let (chat, id) = (int(params, "chat_id"), int(params, "message_id"));
    let text = match shown_text(params) {
        Ok(text) => text,
        Err(refused) => return refused,
    };
    let keyboard = params.pointer("/reply_markup/inline_keyboard").cloned();
    let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(shown) = state
        .messages
        .iter_mut()
        .find(|m| Some(m.chat) == chat && Some(m.message_id) == id)
    else {
        return error(400, "Bad Request: message to edit not found");
    };
    if shown.text == text && shown.keyboard == keyboard {
        return error(
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
    }
    shown.text = text.clone();
    shown.keyboard = keyboard;
    ok(json!({"message_id": id, "date": 1, "chat": {"id": chat}, "text": text}))
}

/// Tags Telegram's HTML mode supports.
const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
];

/// Telegram's HTML parse mode: the text shown, or why it cannot be parsed.
pub fn parse_html(text: &str) -> Result<String, String> {
    let mut shown = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['<', '>', '&']) {
        shown.push_str(&rest[..at]);
        let offset = text.len() - rest.len() + at;
        let tail = &rest[at..];
        match tail.as_bytes()[0] {
            b'>' => return Err(format!("Unexpected character '>' at byte offset {offset}")),
            b'&' => {
                let end = tail
                    .find(';')
                    .filter(|end| *end <= 10)
                    .ok_or_else(|| format!("Unsupported HTML entity at byte offset {offset}"))?;
                let entity = &tail[1..end];
                let decoded = match entity {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    numeric => numeric
                        .strip_prefix("#x")
                        .map(|hex| u32::from_str_radix(hex, 16))
                        .or_else(|| numeric.strip_prefix('#').map(str::parse))
                        .and_then(Result::ok)
                        .and_then(char::from_u32)
                        .ok_or_else(|| {
                            format!(
                                "Unsupported HTML entity \"&{entity};\" at byte offset {offset}"
                            )
                        })?,
                };
                shown.push(decoded);
                rest = &tail[end + 1..];
            }
            _ => {
                let end = tail
                    .find('>')
                    .ok_or_else(|| format!("Unclosed start tag at byte offset {offset}"))?;
                let inside = &tail[1..end];
                if let Some(name) = inside.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    if open.pop().as_deref() != Some(name.as_str()) {
                        return Err(format!(
                            "Unmatched end tag at byte offset {offset}, expected \"</{}>\", found \"</{name}>\"",
                            open.last().map_or("", String::as_str)
                        ));
                    }
                } else {
                    let name = inside
                        .split(|c: char| c.is_whitespace())
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {offset}"
                        ));
                    }
                    open.push(name);
                }
                rest = &tail[end + 1..];
            }
        }
    }
    shown.push_str(rest);
    if let Some(unclosed) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{unclosed}\""
        ));
    }
    Ok(shown)
}

/// Telegram's MarkdownV2, strictly: every reserved character must be escaped (this
/// stand-in reads no formatting, only checks the escaping).
pub fn parse_markdown_v2(text: &str) -> Result<String, String> {
    const RESERVED: &str = "_*[]()~`>#+-=|{}.!";
    let mut shown = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next) => shown.push(next),
                None => return Err("Character '\\' at the end must be escaped".into()),
            }
        } else if RESERVED.contains(c) {
            return Err(format!(
                "Character '{c}' is reserved and must be escaped with the preceding '\\'"
            ));
        } else {
            shown.push(c);
        }
    }
    Ok(shown)
}

/// The fields of a `multipart/form-data` body: text as strings, a file as
/// `{"filename", "content"}` (its bytes as UTF-8, lossily).
fn multipart(content_type: &str, body: &[u8]) -> Option<Value> {
    let boundary = content_type.split("boundary=").nth(1)?.trim();
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n")?;
        let (headers, content) = part.split_once("\r\n\r\n")?;
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        let name = between(headers, "name=\"", "\"")?;
        match between(headers, "filename=\"", "\"") {
            Some(filename) => {
                fields.insert(name, json!({"filename": filename, "content": content}))
            }
            None => fields.insert(name, json!(content)),
        };
    }
    Some(Value::Object(fields))
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_owned())
}
