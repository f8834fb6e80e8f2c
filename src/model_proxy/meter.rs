//! Reads token usage out of a response as it streams past, without holding it
//! back: JSON bodies are copied (up to a cap) and parsed at the end; SSE is
//! read line by line for `message_start` and `message_delta`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use serde_json::Value;

use super::usage::{Reservation, SessionIdentity, TokenUsage, UsageLedger};

/// Largest JSON response copied for its `usage`.
pub const MAX_JSON_COPY: usize = 16 * 1024 * 1024;
/// Longest SSE line examined; longer ones (never usage events) are skipped.
pub const MAX_SSE_LINE: usize = 1024 * 1024;

/// Usage fields as reported, each possibly absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Reported {
    input: Option<u64>,
    output: Option<u64>,
    cache_creation: Option<u64>,
    cache_read: Option<u64>,
}

impl Reported {
    fn from_value(usage: &Value) -> Reported {
        let field = |name: &str| usage.get(name).and_then(Value::as_u64);
        Reported {
            input: field("input_tokens"),
            output: field("output_tokens"),
            cache_creation: field("cache_creation_input_tokens"),
            cache_read: field("cache_read_input_tokens"),
        }
    }

    /// `later`'s fields where present (they are cumulative), else ours.
    fn updated_by(self, later: Reported) -> Reported {
        Reported {
            input: later.input.or(self.input),
            output: later.output.or(self.output),
            cache_creation: later.cache_creation.or(self.cache_creation),
            cache_read: later.cache_read.or(self.cache_read),
        }
    }

    fn is_empty(&self) -> bool {
        *self == Reported::default()
    }

    fn usage(&self) -> TokenUsage {
        TokenUsage {
            input_tokens: self.input.unwrap_or(0),
            output_tokens: self.output.unwrap_or(0),
            cache_creation_input_tokens: self.cache_creation.unwrap_or(0),
            cache_read_input_tokens: self.cache_read.unwrap_or(0),
        }
    }
}

/// How a response body is read for usage.
#[derive(Debug)]
pub enum UsageParser {
    /// `application/json`: the `usage` member of the whole body.
    Json {
        /// The copy so far.
        copy: Vec<u8>,
        /// The body outgrew [`MAX_JSON_COPY`].
        overflowed: bool,
    },
    /// `text/event-stream`.
    Sse(SseParser),
    /// A successful answer of a type that carries no usage the proxy can
    /// read: it finds none, so the tokens held for it are charged.
    Unreadable,
}

impl UsageParser {
    /// The parser for a response's `content-type`, if it can carry usage.
    pub fn for_content_type(content_type: &str) -> Option<UsageParser> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/event-stream" => Some(UsageParser::Sse(SseParser::default())),
            "application/json" => Some(UsageParser::Json {
                copy: Vec::new(),
                overflowed: false,
            }),
            _ => None,
        }
    }

    /// Takes in the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) {
        match self {
            UsageParser::Json { copy, overflowed } => {
                if copy.len().saturating_add(chunk.len()) > MAX_JSON_COPY {
                    *overflowed = true;
                    copy.clear();
                } else if !*overflowed {
                    copy.extend_from_slice(chunk);
                }
            }
            UsageParser::Sse(sse) => sse.feed(chunk),
            UsageParser::Unreadable => {}
        }
    }

    /// The usage found, once the body ended (or was cut off).
    pub fn finish(&mut self) -> Option<TokenUsage> {
        match self {
            UsageParser::Json { copy, overflowed } => {
                if *overflowed {
                    tracing::warn!(
                        "model response over {MAX_JSON_COPY} bytes; its usage is not counted"
                    );
                    return None;
                }
                let value: Value = serde_json::from_slice(copy).ok()?;
                let reported = Reported::from_value(value.get("usage")?);
                (!reported.is_empty()).then(|| reported.usage())
            }
            UsageParser::Sse(sse) => {
                sse.feed(b"\n");
                (!sse.reported.is_empty()).then(|| sse.reported.usage())
            }
            UsageParser::Unreadable => None,
        }
    }
}

/// An incremental reader of `data:` lines in an event stream.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    skipping: bool,
    reported: Reported,
}

impl SseParser {
    fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let (part, rest, ended) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (&chunk[..at], &chunk[at + 1..], true),
                None => (chunk, &chunk[chunk.len()..], false),
            };
            if !self.skipping {
                if self.line.len().saturating_add(part.len()) > MAX_SSE_LINE {
                    self.skipping = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(part);
                }
            }
            if ended {
                if !self.skipping {
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line);
                    self.line = line;
                    self.line.clear();
                }
                self.skipping = false;
            }
            chunk = rest;
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        // Only the two usage-carrying events are parsed.
        let wanted = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
        if !wanted(b"message_start") && !wanted(b"message_delta") {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            return;
        };
        let usage = match event.get("type").and_then(Value::as_str) {
            Some("message_start") => event.get("message").and_then(|m| m.get("usage")),
            Some("message_delta") => event.get("usage"),
            _ => None,
        };
        if let Some(usage) = usage {
            self.reported = self.reported.updated_by(Reported::from_value(usage));
        }
    }
}

/// A response body passed through untouched while its usage is read; the
/// usage is recorded when the body ends or is dropped (client gone).
pub struct MeteredBody<B> {
    inner: B,
    meter: Option<Meter>,
}

struct Meter {
    parser: UsageParser,
    ledger: Arc<dyn UsageLedger>,
    session: SessionIdentity,
    /// The tokens held for this request, given back once its usage is recorded.
    reservation: Option<Reservation>,
}

impl Meter {
    /// Records the usage read; for a body that did not end (the client hung
    /// up, the provider's stream broke) at least the tokens held for it: the
    /// provider bills the whole answer, whose final count never came past.
    /// A successful answer whose usage could not be read at all is charged
    /// the tokens held for it too: free answers would be a way past a cap.
    fn record(mut self, ended: bool) {
        let mut usage = self.parser.finish();
        let held = self.reservation.as_ref().map_or(0, Reservation::tokens);
        if (!ended || usage.is_none()) && held > usage.as_ref().map_or(0, TokenUsage::total) {
            tracing::warn!(
                session = %self.session.session_id,
                group = %self.session.group,
                held,
                ended,
                "model answer without a complete usage; charging the tokens held for it"
            );
            let mut charged = usage.unwrap_or_default();
            charged.output_tokens = charged.output_tokens.saturating_add(held - charged.total());
            usage = Some(charged);
        }
        if let Some(usage) = usage {
            tracing::debug!(
                session = %self.session.session_id,
                group = %self.session.group,
                input = usage.input_tokens,
                output = usage.output_tokens,
                "model usage"
            );
            self.ledger.record(&self.session, &usage);
        }
        // Recorded, then released: the tokens always count (for a moment twice).
        drop(self.reservation.take());
    }
}

impl<B> MeteredBody<B> {
    /// Wraps `inner`, reading it with `parser` and recording into `ledger`.
    pub fn new(
        inner: B,
        parser: UsageParser,
        ledger: Arc<dyn UsageLedger>,
        session: SessionIdentity,
    ) -> MeteredBody<B> {
        MeteredBody {
            inner,
            meter: Some(Meter {
                parser,
                ledger,
                session,
                reservation: None,
            }),
        }
    }

    /// Holds `reservation` until the usage is recorded (or the body is dropped).
    pub fn holding(mut self, reservation: Option<Reservation>) -> MeteredBody<B> {
        if let Some(meter) = self.meter.as_mut() {
            meter.reservation = reservation;
        }
        self
    }

    fn record(&mut self, ended: bool) {
        if let Some(meter) = self.meter.take() {
            meter.record(ended);
        }
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        self.record(false);
    }
}

impl<B> Body for MeteredBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(meter)) = (frame.data_ref(), this.meter.as_mut()) {
                    meter.parser.feed(data);
                }
                if this.inner.is_end_stream() {
                    this.record(true);
                }
            }
            Poll::Ready(None) => this.record(true),
            Poll::Ready(Some(Err(_))) => this.record(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_usage_is_read_across_chunk_boundaries() {
        let stream = concat!(
            "event: message_start\r\n",
            "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,",
            "\"cache_read_input_tokens\":7,\"output_tokens\":1}}}\r\n\r\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"message_delta usage\"}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}",
        );
        for split in [1, 3, 7, 64, stream.len()] {
            let mut parser =
                UsageParser::for_content_type("text/event-stream; charset=utf-8").expect("sse");
            for chunk in stream.as_bytes().chunks(split) {
                parser.feed(chunk);
            }
            let usage = parser.finish().expect("usage");
            assert_eq!(usage.input_tokens, 25, "split {split}");
            assert_eq!(usage.output_tokens, 15);
            assert_eq!(usage.cache_read_input_tokens, 7);
            assert_eq!(usage.total(), 47);
        }
    }

    #[test]
    fn json_usage_and_bodies_without_it() {
        let mut parser = UsageParser::for_content_type("application/json").expect("json");
        parser.feed(br#"{"content":[],"usage":{"input_tokens":3,"#);
        parser.feed(br#""output_tokens":4}}"#);
        assert_eq!(parser.finish().map(|u| u.total()), Some(7));
        let mut count = UsageParser::for_content_type("application/json").expect("json");
        count.feed(br#"{"input_tokens":12}"#);
        assert_eq!(count.finish(), None);
        assert!(UsageParser::for_content_type("text/plain").is_none());
    }

    #[test]
    fn an_overlong_line_is_skipped_not_kept() {
        let mut parser = UsageParser::Sse(SseParser::default());
        parser.feed(b"data: ");
        parser.feed(&vec![b'x'; MAX_SSE_LINE + 10]);
        parser.feed(b"\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":2}}\n");
        assert_eq!(parser.finish().map(|u| u.output_tokens), Some(2));
    }
}
