//! What an IMAP server may send for one command, checked byte by byte as it
//! arrives (RFC 3501 §4: quoted strings, `{N}` literals, parenthesized lists), before
//! the `imap` crate sees it.
//!
//! Why here and not in the `imap` crate: it reads a response with `read_until(LF)`
//! into one growing buffer with no bound, follows a literal of any announced size,
//! parses `BODYSTRUCTURE` recursively (`imap-proto`, no depth limit: ten thousand
//! `(` overflow the stack and abort the process), and re-parses a response from
//! its start after every line of it that arrives while a literal is open. None of
//! it can be configured, so the stream under it counts ([`Lexer`]).
//!
//! Must never: let one command's answer grow past [`MAX_COMMAND`], a literal past
//! [`MAX_LITERAL`], or nesting past [`MAX_DEPTH`].

/// Longest literal accepted: what `email_read` fetches at most (`<0.N>`) .
pub const MAX_LITERAL: u64 = crate::read::MAX_FETCH as u64;
/// Longest single response (one `*` line with its literals): a `SEARCH` hit list of
/// about a million UIDs.
pub const MAX_RESPONSE: usize = 8 << 20;
/// Most bytes of all responses to one command.
pub const MAX_COMMAND: usize = 16 << 20;
/// Most responses to one command (`* 1 EXISTS` floods end here).
pub const MAX_RESPONSES: usize = 100_000;
/// Deepest parenthesis nesting: a `BODYSTRUCTURE` of 30 nested multiparts. The
/// parser takes about 25 KiB of stack a level in a debug build; a call thread has 2 MiB.
pub const MAX_DEPTH: usize = 32;
/// Most bytes the `imap` crate may re-scan for one command: after every line that
/// arrives inside an open literal it parses the response again from its start.
pub const MAX_RESCAN: u64 = 256 << 20;

/// A bound the server's answer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    /// A literal announced longer than [`MAX_LITERAL`].
    #[error("a literal of {0} bytes was announced")]
    Literal(u64),
    /// One response longer than [`MAX_RESPONSE`].
    #[error("one response is too long")]
    Response,
    /// All responses to one command longer than [`MAX_COMMAND`].
    #[error("the answer to one command is too long")]
    Command,
    /// More than [`MAX_RESPONSES`] responses to one command.
    #[error("too many responses to one command")]
    Responses,
    /// Parentheses nested deeper than [`MAX_DEPTH`].
    #[error("parentheses nested too deep")]
    Depth,
    /// Lines inside literals would make the parser re-scan more than [`MAX_RESCAN`].
    #[error("too many lines inside literals")]
    Rescan,
}

impl Exceeded {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Exceeded::Literal(_) => "literal_too_long",
            Exceeded::Response => "response_too_long",
            Exceeded::Command => "answer_too_long",
            Exceeded::Responses => "too_many_responses",
            Exceeded::Depth => "nested_too_deep",
            Exceeded::Rescan => "too_many_literal_lines",
        }
    }
}

/// Where the lexer is within a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ordinary response text.
    Text,
    /// Inside a quoted string.
    Quoted,
    /// After a `\` in a quoted string.
    Escape,
    /// After `{`, reading the literal's length.
    Brace { length: u64, digits: u32 },
    /// After `{N}`.
    Closed(u64),
    /// After `{N}\r`.
    ClosedCr(u64),
    /// Inside a literal: this many bytes left.
    Literal(u64),
}

/// Follows a server's bytes through responses and checks every bound.
#[derive(Debug, Clone)]
pub struct Lexer {
    state: State,
    depth: usize,
    response_bytes: usize,
    /// Bytes of the current response outside its literals (what the parser scans).
    response_text: u64,
    command_bytes: usize,
    responses: usize,
    rescan: u64,
}

impl Default for Lexer {
    fn default() -> Lexer {
        Lexer::new()
    }
}

impl Lexer {
    /// At the start of a response.
    pub fn new() -> Lexer {
        Lexer {
            state: State::Text,
            depth: 0,
            response_bytes: 0,
            response_text: 0,
            command_bytes: 0,
            responses: 0,
            rescan: 0,
        }
    }

    /// A new command begins: its budget starts from zero.
    pub fn new_command(&mut self) {
        self.command_bytes = 0;
        self.responses = 0;
        self.rescan = 0;
    }

    /// Takes the next bytes from the server.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Exceeded> {
        let mut rest = bytes;
        while let Some((&byte, after)) = rest.split_first() {
            if let State::Literal(left) = self.state {
                // A literal's content is skipped whole; its line ends count for the
                // parser's re-scans.
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                let (content, after) = rest.split_at(take);
                self.count(take)?;
                for _ in content.iter().filter(|b| **b == b'\n') {
                    self.rescanned()?;
                }
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::Text
                } else {
                    State::Literal(left)
                };
                rest = after;
                continue;
            }
            self.count(1)?;
            self.response_text += 1;
            self.step(byte)?;
            rest = after;
        }
        Ok(())
    }

    fn count(&mut self, bytes: usize) -> Result<(), Exceeded> {
        self.response_bytes = self.response_bytes.saturating_add(bytes);
        self.command_bytes = self.command_bytes.saturating_add(bytes);
        if self.command_bytes > MAX_COMMAND {
            return Err(Exceeded::Command);
        }
        if self.response_bytes > MAX_RESPONSE {
            return Err(Exceeded::Response);
        }
        Ok(())
    }

    /// A line ended inside an unfinished response: the parser scans it again.
    fn rescanned(&mut self) -> Result<(), Exceeded> {
        self.rescan = self.rescan.saturating_add(self.response_text);
        if self.rescan > MAX_RESCAN {
            return Err(Exceeded::Rescan);
        }
        Ok(())
    }

    fn step(&mut self, byte: u8) -> Result<(), Exceeded> {
        match self.state {
            State::Text => self.text(byte),
            State::Quoted => {
                match byte {
                    b'\\' => self.state = State::Escape,
                    b'"' => self.state = State::Text,
                    b'\n' => self.end_of_response()?,
                    _ => {}
                }
                Ok(())
            }
            State::Escape => {
                self.state = State::Quoted;
                if byte == b'\n' {
                    self.end_of_response()?;
                }
                Ok(())
            }
            State::Brace { length, digits } => match byte {
                b'0'..=b'9' => {
                    let length = length
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(u64::from(byte - b'0')))
                        .ok_or(Exceeded::Literal(u64::MAX))?;
                    self.state = State::Brace {
                        length,
                        digits: digits + 1,
                    };
                    Ok(())
                }
                b'+' => Ok(()),
                b'}' if digits > 0 => {
                    self.state = State::Closed(length);
                    Ok(())
                }
                _ => {
                    self.state = State::Text;
                    self.text(byte)
                }
            },
            State::Closed(length) => match byte {
                b'\r' => {
                    self.state = State::ClosedCr(length);
                    Ok(())
                }
                b'\n' => self.open_literal(length),
                _ => {
                    self.state = State::Text;
                    self.text(byte)
                }
            },
            State::ClosedCr(length) => {
                if byte == b'\n' {
                    self.open_literal(length)
                } else {
                    self.state = State::Text;
                    self.text(byte)
                }
            }
            State::Literal(_) => Ok(()),
        }
    }

    fn text(&mut self, byte: u8) -> Result<(), Exceeded> {
        match byte {
            b'(' | b'[' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(Exceeded::Depth);
                }
            }
            b')' | b']' => self.depth = self.depth.saturating_sub(1),
            b'"' => self.state = State::Quoted,
            b'{' => {
                self.state = State::Brace {
                    length: 0,
                    digits: 0,
                }
            }
            b'\n' => self.end_of_response()?,
            _ => {}
        }
        Ok(())
    }

    /// `{N}` and its line end arrived: the next `N` bytes are the literal.
    fn open_literal(&mut self, length: u64) -> Result<(), Exceeded> {
        if length > MAX_LITERAL {
            return Err(Exceeded::Literal(length));
        }
        self.rescanned()?;
        self.state = if length == 0 {
            State::Text
        } else {
            State::Literal(length)
        };
        Ok(())
    }

    fn end_of_response(&mut self) -> Result<(), Exceeded> {
        self.state = State::Text;
        self.depth = 0;
        self.response_bytes = 0;
        self.response_text = 0;
        self.responses += 1;
        if self.responses > MAX_RESPONSES {
            return Err(Exceeded::Responses);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(text: &[u8]) -> Result<Lexer, Exceeded> {
        let mut lexer = Lexer::new();
        lexer.feed(text)?;
        Ok(lexer)
    }

    #[test]
    fn ordinary_answers_pass_in_any_split() {
        let answer = b"* 1 FETCH (UID 7 FLAGS (\\Seen) BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1)(\"application\" \"pdf\" (\"name\" {5}\r\n((((() NIL NIL \"base64\" 9) \"mixed\") BODY[]<0> {12}\r\n)))))\r\n((((()\r\na7 OK done\r\n";
        let whole = feed(answer).expect("whole");
        assert_eq!(whole.state, State::Text);
        assert_eq!(whole.depth, 0);
        assert_eq!(whole.responses, 2);
        for split in 1..answer.len() {
            let mut lexer = Lexer::new();
            lexer.feed(&answer[..split]).expect("first part");
            lexer.feed(&answer[split..]).expect("second part");
            assert_eq!(lexer.responses, 2, "split at {split}");
            assert_eq!(lexer.depth, 0, "split at {split}");
        }
    }

    #[test]
    fn parentheses_in_strings_and_literals_do_not_nest() {
        let deep_text = "(".repeat(MAX_DEPTH * 2);
        let quoted = format!("* 1 FETCH (UID 1 X \"{deep_text}\\\"{deep_text}\")\r\n");
        assert!(feed(quoted.as_bytes()).is_ok());
        let literal = format!(
            "* 1 FETCH (UID 1 X {{{}}}\r\n{deep_text})\r\n",
            deep_text.len()
        );
        assert!(feed(literal.as_bytes()).is_ok());
    }

    #[test]
    fn nesting_past_the_limit_is_refused_and_within_it_accepted() {
        let within = format!(
            "* 1 FETCH {}{}\r\n",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(feed(within.as_bytes()).is_ok());
        let deep = format!("* 1 FETCH (BODYSTRUCTURE {}", "(".repeat(10_000));
        assert_eq!(feed(deep.as_bytes()).err(), Some(Exceeded::Depth));
    }

    #[test]
    fn the_parser_takes_the_deepest_nesting_allowed_on_a_small_stack() {
        // Multiparts nested as deep as the lexer lets through, inside FETCH's own list.
        let levels = MAX_DEPTH - 1;
        let response = format!(
            "* 1 FETCH (BODYSTRUCTURE {}(\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1){})\r\n",
            "(".repeat(levels - 1),
            " \"mixed\")".repeat(levels - 1)
        );
        feed(response.as_bytes()).expect("within the limit");
        let parsed = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || imap_proto::parser::parse_response(response.as_bytes()).is_ok())
            .expect("thread")
            .join()
            .expect("no overflow");
        assert!(parsed);
    }

    #[test]
    fn a_huge_literal_is_refused_at_its_announcement() {
        assert_eq!(
            feed(b"* 1 FETCH (BODY[] {99999999999}\r\n").err(),
            Some(Exceeded::Literal(99_999_999_999))
        );
        assert_eq!(
            feed(b"* 1 FETCH (BODY[] {999999999999999999999999}\r\n").err(),
            Some(Exceeded::Literal(u64::MAX))
        );
        let at_limit = format!("* 1 FETCH (BODY[] {{{MAX_LITERAL}}}\r\n");
        assert!(feed(at_limit.as_bytes()).is_ok());
    }

    #[test]
    fn a_line_without_end_or_a_flood_stops_at_its_bound() {
        let mut lexer = Lexer::new();
        let chunk = vec![b'x'; 1 << 16];
        let error = (0..1000)
            .find_map(|_| lexer.feed(&chunk).err())
            .expect("stopped");
        assert_eq!(error, Exceeded::Response);

        let mut lexer = Lexer::new();
        let flood = b"* 1 EXISTS\r\n".repeat(1000);
        let error = (0..1000)
            .find_map(|_| lexer.feed(&flood).err())
            .expect("stopped");
        assert_eq!(error, Exceeded::Responses);
        lexer.new_command();
        assert!(lexer.feed(b"* 1 EXISTS\r\n").is_ok());

        let mut lexer = Lexer::new();
        let big = format!("* SEARCH {}\r\n", "1234567 ".repeat(1 << 19));
        let error = (0..10)
            .find_map(|_| lexer.feed(big.as_bytes()).err())
            .expect("stopped");
        assert_eq!(error, Exceeded::Command);
    }

    #[test]
    fn lines_inside_literals_after_a_long_prefix_are_bounded() {
        let prefix = format!(
            "* 1 FETCH (X \"{}\" BODY[] {{1000000}}\r\n",
            "a".repeat(60_000)
        );
        let mut lexer = Lexer::new();
        lexer.feed(prefix.as_bytes()).expect("prefix");
        let lines = b"\n".repeat(1_000_000);
        assert_eq!(lexer.feed(&lines).err(), Some(Exceeded::Rescan));
        // A short prefix (the body fetched on its own) takes the same lines.
        let mut lexer = Lexer::new();
        lexer
            .feed(b"* 1 FETCH (UID 1 BODY[]<0> {1000000}\r\n")
            .expect("prefix");
        assert!(lexer.feed(&lines).is_ok());
    }
}
