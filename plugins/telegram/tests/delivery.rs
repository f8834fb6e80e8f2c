//! How answers reach the chat: split to fit, escaped for the parse mode, resent as
//! plain text when Telegram refuses the markup, and patient with its rate limits and
//! the network.
//!
//! Rule: whatever the model writes arrives intact (the stand-in parses HTML as
//! strictly as Telegram), no message is over 4096 UTF-16 units, a 429's
//! `retry_after` is waited out, and a failed request is retried rather than lost.

mod support;

use std::time::Duration;

use support::{Bot, Fault, OWNER, WAIT};

/// The texts shown in the owner's chat, in order.
fn shown(bot: &Bot) -> Vec<String> {
    bot.api
        .shown_in(OWNER)
        .into_iter()
        .map(|m| m.text)
        .collect()
}

#[test]
fn a_long_answer_is_split_on_paragraphs_and_arrives_whole() {
    let bot = Bot::start();
    let inbound = bot.owner_says("write a lot");
    let paragraph = |n: usize| format!("Paragraph {n}: {}", "lorem ipsum 😀 ".repeat(60));
    let answer: String = (0..16).map(|n| paragraph(n) + "\n\n").collect::<String>() + "The end.";
    assert!(answer.encode_utf16().count() > 3 * 4096);
    bot.completed(&inbound, &answer);
    let calls = bot.api.wait_calls(WAIT, |calls| {
        calls.iter().any(|c| {
            c.method == "sendMessage"
                && c.params["text"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("The end."))
        })
    });
    let texts = shown(&bot);
    assert!(texts.len() >= 4, "{} pieces", texts.len());
    for text in &texts {
        assert!(text.encode_utf16().count() <= 4096);
    }
    for text in &texts[..texts.len() - 1] {
        let tail: String = text.chars().rev().take(20).collect();
        assert!(text.ends_with("\n\n"), "cut at a paragraph: {tail:?}");
    }
    assert_eq!(texts.concat(), answer);
    // Only the first piece replies to the question.
    let replies: Vec<bool> = bot
        .api
        .shown_in(OWNER)
        .iter()
        .map(|m| m.reply_to.is_some())
        .collect();
    assert_eq!(replies.iter().filter(|r| **r).count(), 1);
    assert!(replies[0]);
    assert!(
        calls.iter().all(|c| c.status == 200),
        "Telegram refused nothing"
    );
}

#[test]
fn markup_characters_from_the_model_arrive_intact() {
    let bot = Bot::start();
    let inbound = bot.owner_says("show me markup");
    let answer = "Use *bold* or _it_ or [a link](http://x.y) with `code`;\n\
                  a < b && c > d, <b>not a tag</b>, &amp; stays, 5 * 3 = 15!\n\
                  ~strike~ #tag +1 -1 =x |pipe| {braces} (parens). \\backslash";
    bot.completed(&inbound, answer);
    bot.api.wait_ok("sendMessage", 1, WAIT);
    assert_eq!(shown(&bot), [answer]);
    let calls = bot.api.calls_of("sendMessage");
    assert_eq!(calls.len(), 1, "accepted the first time");
    assert_eq!(calls[0].params["parse_mode"], "HTML");
}

#[test]
fn a_refused_parse_is_resent_as_plain_text() {
    let bot = Bot::start();
    let inbound = bot.owner_says("hello");
    bot.api.fail_next(
        "sendMessage",
        vec![Fault::BadRequest(
            "Bad Request: can't parse entities: Unsupported start tag".into(),
        )],
    );
    bot.completed(&inbound, "x < y & <z>");
    bot.api.wait_ok("sendMessage", 1, WAIT);
    let calls = bot.api.calls_of("sendMessage");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].status, 400);
    assert!(
        calls[1].params.get("parse_mode").is_none(),
        "plain the second time"
    );
    assert_eq!(shown(&bot), ["x < y & <z>"]);
}

#[test]
fn a_rate_limit_is_waited_out_and_a_dropped_connection_retried() {
    let bot = Bot::start();
    let inbound = bot.owner_says("hello");
    bot.api.fail_next(
        "sendMessage",
        vec![Fault::RateLimited(2), Fault::Hangup, Fault::ServerError],
    );
    bot.completed(&inbound, "patience");
    bot.api.wait_ok("sendMessage", 1, Duration::from_secs(20));
    let calls = bot.api.calls_of("sendMessage");
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [429, 0, 500, 200]);
    let waited = calls[1].at - calls[0].at;
    assert!(
        waited >= Duration::from_secs(2),
        "retry_after honoured: the retry came after {waited:?}"
    );
    assert_eq!(shown(&bot), ["patience"]);
}

#[test]
fn a_rate_limit_past_the_bound_gives_the_send_up() {
    // max_retry_wait_secs is 5 in the tests' config.
    let bot = Bot::start();
    let inbound = bot.owner_says("hello");
    bot.api
        .fail_next("sendMessage", vec![Fault::RateLimited(3600)]);
    bot.completed(&inbound, "never mind");
    let logged = bot.harness.wait_for_notification(
        "log",
        |p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("telegram.send_failed"))
        },
        WAIT,
    );
    assert!(logged.is_some(), "{:?}", bot.logs());
    assert_eq!(
        bot.api.calls_of("sendMessage").len(),
        1,
        "no hour-long wait"
    );
}

/// A flood of answers (here stuck behind a 429) must not push an approval card out:
/// cards have their own lane, taken first, and the answers past their bound are
/// dropped with a log line that says so. Seen failing before: with one shared queue
/// of 256 the card was dropped and never shown.
#[test]
fn a_card_is_not_dropped_behind_a_flood_of_answers() {
    let bot = Bot::start();
    let inbound = bot.owner_says("many things");
    bot.api
        .fail_next("sendMessage", vec![Fault::RateLimited(2)]);
    for n in 0..300 {
        bot.completed(&inbound, &format!("answer {n}"));
    }
    bot.event(
        "confirmation.requested",
        serde_json::json!({
            "id": "0f8fad5b-d9cb-469f-a165-70867728950e", "tool": "send_mail", "plugin": "mail",
            "group": "main", "session": "s1", "arguments": {},
            "args_hash": "RBNvo1WzZ4oRRq0W9-hkng", "requested_at": "2026-12-03T10:00:00Z",
            "origin": {"kind": "prompt", "trust": "owner"},
            "display": {"tool": "send_mail", "group": "main", "session": "s1",
                        "arguments": "{\"to\":\"bo@example.org\"}"}}),
    );
    // The answer being sent when the card came, then the card.
    bot.api.wait_ok("sendMessage", 2, WAIT);
    let texts = shown(&bot);
    assert_eq!(texts[0], "answer 0");
    assert!(texts[1].contains("Approval needed"), "{texts:?}");
    let logs = bot.logs();
    assert!(
        logs.iter().any(|l| l.starts_with(
            "telegram.dropped what=agent.completed lane=answers reason=queue_full dropped_total="
        )),
        "{logs:?}"
    );
}
