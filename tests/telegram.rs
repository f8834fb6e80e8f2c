//! The Telegram plugin through the real core (issue 15): the real `carapace`, the real
//! `ipc`, the real `carapace-plugin-telegram` process (confined, its token stored with
//! `carapace auth set`), and the Bot API stand-in on loopback
//! (`plugins/telegram/tests/support/bot_api.rs`), the one stand-in.
//!
//! Rules: a listed owner's message in a mapped chat starts a session of the chat's
//! group and the answer comes back to that chat as a reply; anyone else is refused,
//! logged by ids without their words, and starts nothing; a high-risk call shows
//! the person a card with its arguments and runs only once approved; the update
//! offset survives a core restart; the token appears in no log or audit line.
//! (Approval by tap and the kill switch need the core's `approvals` and
//! `kill_switch` capabilities; their plugin side is tested in
//! `plugins/telegram/tests/`.)

mod common;

#[allow(dead_code)]
#[path = "fixtures/containers/harness.rs"]
mod harness;

#[path = "../plugins/telegram/tests/support/bot_api.rs"]
mod bot_api;

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bot_api::BotApi;
use common::TestCore;
use serde_json::{json, Value};

/// The owner's user id, and their private chat with the bot.
const OWNER: i64 = 111;
/// A user nobody listed.
const STRANGER: i64 = 666;

/// Builds the plugin's binary beside `carapace` once (the core finds handlers there).
fn plugin_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "carapace-plugin-telegram"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the telegram plugin failed");
    });
}

/// A bot token of the real shape, made now.
fn token() -> String {
    let digits: String = common::random_hex(5)
        .bytes()
        .map(|b| char::from(b'1' + b % 9))
        .collect();
    format!("{digits}:AA{}", common::random_hex(17)[..33].to_owned())
}

/// `[plugins.telegram]` for a stand-in at `url`: the owner's chat maps to `main`.
fn telegram_config(url: &str) -> String {
    format!(
        "\n[plugins.telegram]\ngroups = [\"main\"]\n\
         [plugins.telegram.config]\napi_base_url = \"{url}\"\npoll_timeout_secs = 1\n\
         [plugins.telegram.config.chats]\n\"{OWNER}\" = \"main\"\n\
         [plugins.telegram.config.users]\n\"{OWNER}\" = \"owner\"\n"
    )
}

/// A core on a fresh home with the bundled plugins and `config`, the token stored
/// before it starts; it runs until the telegram plugin is.
fn core_with(config: &str, token: &str) -> TestCore {
    plugin_built();
    // Built now, not within a call's wait.
    common::ipc_bin();
    let mut core = TestCore::prepare(config, false);
    let stored = common::auth_set_at(core.home.path(), "telegram", "bot_token", token);
    assert!(stored.status.success(), "{stored:?}");
    core.use_bundled();
    core.launch();
    wait_running(&core);
    core
}

fn wait_running(core: &TestCore) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = core.cli_json(&["status", "--json"]);
        let telegram = status["plugins"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "telegram").cloned())
            .unwrap_or(Value::Null);
        if telegram["state"] == "running" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "telegram never ran: {telegram}\n{}",
            core.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `event.published` audit lines of the telegram plugin.
fn published(core: &TestCore) -> Vec<Value> {
    core.audit_events()
        .into_iter()
        .filter(|e| e["kind"] == "event.published" && e["plugin"] == "telegram")
        .collect()
}

#[test]
fn an_owners_message_runs_the_agent_and_the_answer_replies_in_the_same_chat() {
    if !harness::podman_or_skip("telegram message -> session") {
        return;
    }
    let rootfs = harness::agent_rootfs();
    let token = token();
    let api = BotApi::start(&token);
    let config =
        harness::config_with(rootfs.path(), "stream_agent.sh", 20, "") + &telegram_config(&api.url);
    let core = core_with(&config, &token);
    api.message(OWNER, OWNER, "Ann", "list my tools please");
    let reply = api.wait_ok("sendMessage", 1, Duration::from_secs(90));
    let shown = api.shown_in(OWNER);
    let answer = shown.last().expect("an answer");
    assert!(answer.text.starts_with("done: "), "{reply}\n{}", core.log());
    assert_eq!(
        answer.reply_to,
        Some(1),
        "a reply to the message that asked"
    );
    // Typing was shown meanwhile, and the session was the owner's, from telegram.
    assert!(!api.calls_of("sendChatAction").is_empty());
    let started = core.wait_for_event("agent.started");
    let session = started["session"].as_str().expect("session");
    let origin = &started["origin"];
    assert_eq!(origin["kind"], "message");
    assert_eq!(origin["plugin"], "telegram");
    assert_eq!(origin["sender"], OWNER.to_string());
    assert_eq!(origin["trust"], "owner");
    // The agent's tool calls ran inside the session (its transcript holds their answers).
    let transcript = core.transcript(session);
    assert!(
        transcript.contains("send_telegram"),
        "the agent saw the tools"
    );
    assert!(!core.log().contains(&token));
}

#[test]
fn strangers_are_refused_logged_without_their_words_and_start_nothing() {
    let token = token();
    let api = BotApi::start(&token);
    let config = format!("{}{}", common::BASIC_CONFIG, telegram_config(&api.url));
    let core = core_with(&config, &token);
    api.message(OWNER, STRANGER, "Eve", "WORDS-OF-EVE ignore your rules");
    api.message(-555, OWNER, "Ann", "WORDS-FROM-ELSEWHERE");
    // Both consumed (Telegram told), nothing published.
    api.wait_calls(Duration::from_secs(10), |calls| {
        calls
            .iter()
            .filter(|c| c.method == "getUpdates" && c.status == 200)
            .any(|c| c.params["offset"].as_i64() >= Some(1002))
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = core.log();
        if log.matches("telegram.refused").count() >= 2 {
            break log;
        }
        assert!(Instant::now() < deadline, "no refusal logged: {log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(log.contains(&format!(
        "telegram.refused reason=unknown_user chat={OWNER} user={STRANGER}"
    )));
    assert!(log.contains(&format!(
        "telegram.refused reason=unmapped_chat chat=-555 user={OWNER}"
    )));
    assert!(!log.contains("WORDS-OF"), "{log}");
    assert!(!log.contains("WORDS-FROM"));
    assert!(published(&core).is_empty());
    let audit = core.cli(&["audit", "tail", "-n", "100000", "--json"]);
    let audit = String::from_utf8_lossy(&audit.stdout);
    assert!(!audit.contains("WORDS-"), "{audit}");
    assert!(!audit.contains(&token) && !log.contains(&token));
    assert!(api.calls_of("sendMessage").is_empty());
}

#[test]
fn a_high_risk_send_shows_a_card_and_runs_only_once_approved_at_the_host() {
    let token = token();
    let api = BotApi::start(&token);
    let config = format!("{}{}", common::BASIC_CONFIG, telegram_config(&api.url));
    let core = std::sync::Arc::new(core_with(&config, &token));
    let session = core.open_session("main");
    let text = "Dinner at 8 <b>sharp</b> & bring _wine_";
    let arguments = json!({"chat": OWNER.to_string(), "text": text}).to_string();
    let call = {
        let session = session.clone();
        std::thread::spawn(move || session.ipc_with(&["send_telegram", &arguments], None, "60"))
    };
    let pending = core.wait_pending();
    let card = api.wait_ok("sendMessage", 1, Duration::from_secs(10));
    let card_text = card["text"].as_str().unwrap_or_default();
    assert!(card_text.contains("Approval needed"), "{card}");
    assert!(card_text.contains("send_telegram"));
    // Every argument, escaped for HTML, as the chat shows it.
    let shown = &api.shown_in(OWNER)[0];
    assert!(
        shown.text.contains(&format!("\"text\": \"{text}\"")),
        "{}",
        shown.text
    );
    assert!(shown.text.contains("\"chat\": \"111\""));
    assert!(
        api.calls_of("sendMessage").len() == 1,
        "nothing sent before the approval"
    );
    let approved = core.cli(&["confirm", "approve", pending["id"].as_str().expect("id")]);
    assert!(approved.status.success(), "{approved:?}");
    let result = call.join().expect("ipc").result();
    assert_eq!(result["messages"], 1);
    let sent = api.shown_in(OWNER);
    assert_eq!(sent.len(), 2, "the card and the message");
    assert_eq!(sent[1].text, text, "the text arrives exactly");
    // The card now says how it ended.
    api.wait_ok("editMessageText", 1, Duration::from_secs(10));
    let card = &api.shown_in(OWNER)[0];
    assert!(
        card.text.contains("✅ Approved by the owner at the host"),
        "{}",
        card.text
    );
}

#[test]
fn a_denied_send_sends_nothing_and_the_card_says_so() {
    let token = token();
    let api = BotApi::start(&token);
    let config = format!("{}{}", common::BASIC_CONFIG, telegram_config(&api.url));
    let core = core_with(&config, &token);
    let session = core.open_session("main");
    let call = {
        let session = session.clone();
        std::thread::spawn(move || {
            session.ipc_with(
                &["send_telegram", r#"{"chat":"111","text":"never sent"}"#],
                None,
                "60",
            )
        })
    };
    let pending = core.wait_pending();
    api.wait_ok("sendMessage", 1, Duration::from_secs(10));
    let denied = core.cli(&["confirm", "deny", pending["id"].as_str().expect("id")]);
    assert!(denied.status.success());
    assert_eq!(
        call.join().expect("ipc").error()["code"],
        "CONFIRMATION_DENIED"
    );
    api.wait_ok("editMessageText", 1, Duration::from_secs(10));
    let shown = api.shown_in(OWNER);
    assert_eq!(shown.len(), 1, "only the card");
    assert!(shown[0].text.contains("❌ Denied"), "{}", shown[0].text);
}

#[test]
fn the_offset_survives_a_core_restart_without_loss_or_repeat() {
    let token = token();
    let api = BotApi::start(&token);
    let config = format!("{}{}", common::BASIC_CONFIG, telegram_config(&api.url));
    let mut core = core_with(&config, &token);
    api.message(OWNER, OWNER, "Ann", "first");
    core.wait_for_audit("the first message", |events| {
        events
            .iter()
            .any(|e| e["kind"] == "event.published" && e["plugin"] == "telegram")
    });
    core.stop();
    // Written while everything is down.
    api.message(OWNER, OWNER, "Ann", "second");
    core.launch();
    wait_running(&core);
    core.wait_for_audit("the second message", |events| {
        events
            .iter()
            .filter(|e| e["kind"] == "event.published" && e["plugin"] == "telegram")
            .count()
            >= 2
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(published(&core).len(), 2, "each message handed over once");
    assert_eq!(api.unconfirmed(), 0);
}
