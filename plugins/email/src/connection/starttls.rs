//! The plaintext part of an IMAP STARTTLS connection (RFC 3501 §6.2.1): read the
//! greeting, send `STARTTLS`, read its tagged OK. Nothing else is said in the clear,
//! and nothing read here is trusted afterwards (capabilities are asked again over TLS).
//! Bounded: lines of [`MAX_LINE`] bytes, at most [`MAX_LINES`] untagged lines (a
//! greeting, CAPABILITY, an ALERT) before the answer, and the stream's deadline
//! (`meter::Timed`) over all of it.

use std::io::{Read, Write};

use crate::error::EmailError;

/// Longest line read before TLS.
pub const MAX_LINE: usize = 4096;
/// Most untagged lines read before STARTTLS's answer.
pub const MAX_LINES: usize = 16;

/// Runs the exchange on `stream`; afterwards the next byte is the TLS handshake.
pub fn upgrade(stream: &mut (impl Read + Write)) -> Result<(), EmailError> {
    let greeting = read_line(stream)?;
    if !greeting.starts_with("* OK") && !greeting.starts_with("* PREAUTH") {
        return Err(EmailError::Server("unexpected greeting".into()));
    }
    stream
        .write_all(b"s0 STARTTLS\r\n")
        .and_then(|()| stream.flush())
        .map_err(|e| crate::error::io(&e))?;
    for _ in 0..MAX_LINES {
        let line = read_line(stream)?;
        if line.starts_with("* ") {
            continue;
        }
        if line.starts_with("s0 OK") {
            return Ok(());
        }
        return Err(EmailError::Server("the server refused STARTTLS".into()));
    }
    Err(EmailError::Unreadable("too many lines before TLS"))
}

/// One CRLF-terminated line, byte by byte (so nothing past it is consumed).
fn read_line(stream: &mut impl Read) -> Result<String, EmailError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return Err(EmailError::Network("closed before TLS".into())),
            Ok(_) => {}
            Err(e) => return Err(crate::error::io(&e)),
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        if line.len() > MAX_LINE {
            return Err(EmailError::Unreadable("overlong line before TLS"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }
    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn run(server: &str) -> (Result<(), EmailError>, Duplex) {
        let mut d = Duplex {
            input: Cursor::new(server.as_bytes().to_vec()),
            output: Vec::new(),
        };
        (upgrade(&mut d), d)
    }

    #[test]
    fn ok_leaves_the_rest_unread() {
        let (r, d) = run("* OK ready\r\ns0 OK Begin TLS\r\n\x16\x03");
        assert!(r.is_ok());
        assert_eq!(d.output, b"s0 STARTTLS\r\n");
        assert_eq!(d.input.position(), 29);
    }

    #[test]
    fn a_refusal_or_a_bad_greeting_is_an_error() {
        assert!(run("* OK ready\r\ns0 BAD no\r\n").0.is_err());
        assert!(run("* BYE go away\r\n").0.is_err());
        assert!(run("* OK ready\r\n").0.is_err());
    }

    #[test]
    fn endless_untagged_lines_or_an_endless_line_stop_at_their_bound() {
        let many = format!(
            "* OK ready\r\n{}s0 OK go\r\n",
            "* CAPABILITY IMAP4rev1\r\n".repeat(MAX_LINES)
        );
        assert!(matches!(run(&many).0, Err(EmailError::Unreadable(_))));
        let few = format!(
            "* OK ready\r\n{}s0 OK go\r\n",
            "* CAPABILITY IMAP4rev1\r\n".repeat(MAX_LINES - 1)
        );
        assert!(run(&few).0.is_ok());
        let long = format!("* OK {}", "x".repeat(MAX_LINE * 4));
        assert!(matches!(run(&long).0, Err(EmailError::Unreadable(_))));
    }
}
