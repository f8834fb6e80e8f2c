//! A message parsed by mail-parser, taken apart without recursion when dropped.
//!
//! mail-parser nests each `message/rfc822` part as a `Message` inside its parent,
//! with no depth limit (only encoded ones stop at three), and dropping that tree
//! recurses once per level: a mail of 25,000 nested messages (under 1 MiB, any
//! sender can send it) overflowed a call thread's stack and killed the plugin.

use std::ops::Deref;

use mail_parser::{Message, MessageParser, PartType};

/// A parsed message (read it through `Deref`).
pub struct Parsed<'x>(Message<'x>);

impl<'x> Parsed<'x> {
    /// Parses `raw`; `None` when it is not a message at all.
    pub fn parse(raw: &'x [u8]) -> Option<Parsed<'x>> {
        MessageParser::default().parse(raw).map(Parsed)
    }
}

impl<'x> Deref for Parsed<'x> {
    type Target = Message<'x>;

    fn deref(&self) -> &Message<'x> {
        &self.0
    }
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        // Each nested message's parts are taken out before the list holding it
        // is dropped, so no drop goes deeper than one message.
        let mut pending = vec![std::mem::take(&mut self.0.parts)];
        while let Some(mut parts) = pending.pop() {
            for part in &mut parts {
                if let PartType::Message(inner) = &mut part.body {
                    pending.push(std::mem::take(&mut inner.parts));
                }
            }
            drop(parts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `levels` messages, each the only part of the one around it.
    fn nested(levels: usize) -> Vec<u8> {
        let mut raw = b"From: a@example.test\r\nSubject: Deep\r\n".to_vec();
        for _ in 0..levels {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"Subject: innermost\r\n\r\nhello\r\n");
        raw
    }

    #[test]
    fn a_deeply_nested_message_is_dropped_on_a_small_stack() {
        let raw = nested(25_000);
        // 256 KiB: far less than a call thread has; a recursive drop of 25,000
        // levels needs megabytes and aborts the process.
        let parsed = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let message = Parsed::parse(&raw).expect("a message");
                let subject = message.subject().map(str::to_owned);
                drop(message);
                subject
            })
            .expect("thread")
            .join()
            .expect("no overflow");
        assert_eq!(parsed.as_deref(), Some("Deep"));
    }
}
