//! What the Telegram plugin's tests share: a bot token made at run time, the Bot API
//! stand-in ([`bot_api`]), and the plugin run in-process on the SDK's real main loop
//! ([`Harness`]) with its real HTTP client, a data dir and a credentials dir on disk.
#![allow(dead_code, unused_imports)]

pub mod bot_api;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use carapace_plugin_sdk::testing::Harness;
use carapace_plugin_telegram::TelegramHandler;
use serde_json::{json, Value};

pub use bot_api::{BotApi, Fault};

/// How long a test waits for one thing.
pub const WAIT: Duration = Duration::from_secs(10);
/// The owner's user id, also their private chat with the bot (mapped to `main`).
pub const OWNER: i64 = 111;
/// A contact's user id.
pub const CONTACT: i64 = 333;
/// A group chat mapped to `family`.
pub const FAMILY_CHAT: i64 = -100_222;
/// A user nobody listed.
pub const STRANGER: i64 = 666;

/// A bot token of the real shape, made now (`<digits>:<35 of [A-Za-z0-9_-]>`).
pub fn token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut bytes = [0u8; 40];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes");
    let id: String = bytes[..9]
        .iter()
        .map(|b| char::from(b'1' + b % 9))
        .collect();
    let secret: String = bytes[5..40]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("{id}:AA{}", &secret[2..])
}

/// The config the tests use, pointed at `url`: the owner's private chat maps to
/// `main`, a family group chat to `family`; one owner, one contact.
pub fn config(url: &str) -> Value {
    json!({
        "api_base_url": url,
        "poll_timeout_secs": 1,
        "chats": {OWNER.to_string(): "main", FAMILY_CHAT.to_string(): "family"},
        "users": {OWNER.to_string(): "owner", CONTACT.to_string(): "contact"},
        "max_retry_wait_secs": 5,
        "history_per_chat": 50,
    })
}

/// `initialize` params for a data dir and a credentials dir holding `token`.
pub fn init_params(dir: &Path, token: &str, config: Value) -> Value {
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials).expect("credentials dir");
    std::fs::write(credentials.join("bot_token"), format!("{token}\n")).expect("token");
    json!({
        "plugin": "telegram",
        "version": "0.1.0",
        "config": config,
        "data_dir": dir.join("data"),
        "credentials_dir": credentials,
    })
}

/// A stand-in, and the plugin initialized against it over a fresh directory.
pub struct Bot {
    /// The Bot API stand-in.
    pub api: BotApi,
    /// The plugin.
    pub harness: Harness,
    /// Its data and credentials.
    pub dir: tempfile::TempDir,
    /// The token it was given.
    pub token: String,
}

impl Bot {
    /// Starts with the tests' config.
    pub fn start() -> Bot {
        Bot::start_with(|config| config)
    }

    /// Starts with the tests' config changed by `edit`.
    pub fn start_with(edit: impl FnOnce(Value) -> Value) -> Bot {
        let token = token();
        let api = BotApi::start(&token);
        let dir = tempfile::tempdir().expect("temp dir");
        let config = edit(config(&api.url));
        Bot::launch(api, dir, token, config, |method, _| {
            Err(carapace_plugin_sdk::JsonRpcError::new(
                carapace_plugin_sdk::METHOD_NOT_FOUND,
                format!("not served: {method}"),
            ))
        })
    }

    /// Starts the plugin on `dir` against `api`, its requests answered by `responder`.
    fn launch(
        api: BotApi,
        dir: tempfile::TempDir,
        token: String,
        config: Value,
        responder: impl Fn(&str, &Value) -> Result<Value, carapace_plugin_sdk::JsonRpcError>
            + Send
            + Sync
            + 'static,
    ) -> Bot {
        let harness = Harness::start(TelegramHandler::new());
        harness.on_request(responder);
        let params = init_params(dir.path(), &token, config);
        assert_eq!(harness.initialize_with(params), Ok(json!({})));
        Bot {
            api,
            harness,
            dir,
            token,
        }
    }

    /// Restarts the plugin on the same data dir and stand-in (the old one's input closed).
    pub fn restart(self) -> Bot {
        self.restart_with(|method, _| {
            Err(carapace_plugin_sdk::JsonRpcError::new(
                carapace_plugin_sdk::METHOD_NOT_FOUND,
                format!("not served: {method}"),
            ))
        })
    }

    /// Restarts the plugin, the new core answering its requests with `responder` from
    /// the start.
    pub fn restart_with(
        self,
        responder: impl Fn(&str, &Value) -> Result<Value, carapace_plugin_sdk::JsonRpcError>
            + Send
            + Sync
            + 'static,
    ) -> Bot {
        let Bot {
            api,
            harness,
            dir,
            token,
        } = self;
        harness.close_input();
        drop(harness);
        // The old poller ends within one poll.
        std::thread::sleep(Duration::from_millis(1500));
        let config = config(&api.url);
        Bot::launch(api, dir, token, config, responder)
    }

    /// The next `message.inbound` the plugin publishes whose payload matches.
    pub fn published(&self, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        self.harness.wait_for_notification(
            "event/publish",
            |p| p["topic"] == "message.inbound" && matches(&p["payload"]),
            WAIT,
        )
    }

    /// Every `message.inbound` published so far.
    pub fn all_published(&self) -> Vec<Value> {
        self.harness
            .notifications()
            .into_iter()
            .filter(|(m, p)| m == "event/publish" && p["topic"] == "message.inbound")
            .map(|(_, p)| p)
            .collect()
    }

    /// Every `log` message so far.
    pub fn logs(&self) -> Vec<String> {
        self.harness
            .notifications()
            .into_iter()
            .filter(|(m, _)| m == "log")
            .map(|(_, p)| p["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Sends the plugin an `event` notification as the core would.
    pub fn event(&self, topic: &str, payload: Value) {
        self.harness.notify(
            "event",
            json!({"envelope": {"id": "e1", "version": 1, "type": "event", "topic": topic,
                                "source": "core", "timestamp": "2026-12-03T10:00:00Z",
                                "payload": payload}}),
        );
    }

    /// The core's `agent.completed` for a message this plugin published.
    pub fn completed(&self, inbound: &Value, answer: &str) {
        self.event(
            "agent.completed",
            json!({"session": "s1", "group": inbound["group"], "exit_code": 0, "answer": answer,
                   "origin": {"topic": "message.inbound", "plugin": "telegram",
                              "payload": inbound["payload"]},
                   "session_origin": {"kind": "message", "plugin": "telegram",
                                      "sender": inbound["payload"]["sender"],
                                      "trust": inbound["payload"]["trust"]}}),
        );
    }

    /// Has the owner write `text` and waits for its `message.inbound`; its params.
    pub fn owner_says(&self, text: &str) -> Value {
        self.api.message(OWNER, OWNER, "Ann", text);
        self.published(|p| p["text"] == text)
            .unwrap_or_else(|| panic!("not published: {text}; logs: {:?}", self.logs()))
    }

    /// Calls `tool` as a session of `group` started by the owner.
    pub fn call(
        &self,
        group: &str,
        tool: &str,
        arguments: Value,
    ) -> Result<Value, carapace_plugin_sdk::JsonRpcError> {
        self.harness.call_in(group, tool, arguments)
    }

    /// Calls `tool` from a session of `group` whose origin trust is `trust`.
    pub fn call_with_trust(
        &self,
        group: &str,
        tool: &str,
        arguments: Value,
        trust: &str,
    ) -> Result<Value, carapace_plugin_sdk::JsonRpcError> {
        let envelope = json!({
            "id": "req-trust", "version": 1, "type": "request",
            "topic": format!("tool.invoke.{tool}"), "source": "session:s-trust",
            "correlation": "c-trust", "timestamp": "2026-01-01T00:00:00Z", "group": group,
            "session": {"id": "s-trust", "started_at": "2026-01-01T00:00:00Z"},
            "origin": {"kind": "message", "plugin": "telegram", "sender": "333", "trust": trust},
            "payload": {"arguments": arguments},
        });
        self.harness
            .request("tool/call", json!({"tool": tool, "envelope": envelope}))
    }
}
