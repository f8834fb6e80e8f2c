//! Lines read from a pipe another party writes (the agent's container, a
//! plugin handler's stdout and stderr), one bounded reader for all of them.
//!
//! Never buffers more than `max` bytes of a line: the size is checked on each
//! chunk as it arrives, never after a line was read whole. What becomes of a
//! longer line is the caller's choice: cut it ([`read_line_cut`], the agent's
//! transcript), refuse the writer (the plugin protocol), or drop it and read on
//! ([`skip_line`], a plugin's stderr).
//!
//! Not `tokio-util`'s `LinesCodec::new_with_max_length`: it insists on UTF-8
//! (the transcript keeps the container's bytes as written), strips `\r`, and
//! can only discard an over-long line, where the agent's output keeps its
//! first `max` bytes. The plugin SDK keeps its own blocking reader
//! (`plugins/sdk/src/wire.rs`): it has no async runtime and depends on nothing
//! of the core, and the core does not depend on it.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line, without its `\n`.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The whole line, at most `max` bytes.
    Whole(Vec<u8>),
    /// The first `max` bytes of a longer line; the rest is still unread.
    Over(Vec<u8>),
}

/// Reads one line of at most `max` bytes, or `None` at the end of input; stops
/// at the first byte past `max` and leaves the rest of that line unread.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((!line.is_empty()).then_some(Line::Whole(line)));
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        let room = max.saturating_sub(line.len());
        if chunk.len() > room {
            line.extend_from_slice(&chunk[..room]);
            reader.consume(room);
            return Ok(Some(Line::Over(line)));
        }
        line.extend_from_slice(chunk);
        let used = newline.map_or(available.len(), |at| at + 1);
        reader.consume(used);
        if newline.is_some() {
            return Ok(Some(Line::Whole(line)));
        }
    }
}

/// Reads and drops the rest of the current line, its `\n` included (or to the end of input).
pub async fn skip_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<()> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(());
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let used = newline.map_or(available.len(), |at| at + 1);
        reader.consume(used);
        if newline.is_some() {
            return Ok(());
        }
    }
}

/// One line without its `\n` (at most `max` bytes kept, the rest dropped), or `None` at the end.
pub async fn read_line_cut<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    match read_line(reader, max).await? {
        None => Ok(None),
        Some(Line::Whole(line)) => Ok(Some(line)),
        Some(Line::Over(kept)) => {
            skip_line(reader).await?;
            Ok(Some(kept))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    #[tokio::test]
    async fn lines_are_split_capped_and_the_last_one_kept() {
        let input: &[u8] = b"one\ntoolong\n\nlast";
        let mut reader = BufReader::with_capacity(2, input);
        let mut lines = Vec::new();
        while let Some(line) = read_line_cut(&mut reader, 4).await.expect("read") {
            lines.push(String::from_utf8(line).expect("utf8"));
        }
        assert_eq!(lines, ["one", "tool", "", "last"]);
    }

    #[tokio::test]
    async fn an_over_long_line_stops_at_the_bound_and_can_be_skipped() {
        let input: &[u8] = b"0123456789\nnext\n";
        let mut reader = BufReader::with_capacity(3, input);
        let over = read_line(&mut reader, 4).await.expect("read");
        assert_eq!(over, Some(Line::Over(b"0123".to_vec())));
        skip_line(&mut reader).await.expect("skip");
        let next = read_line(&mut reader, 4).await.expect("read");
        assert_eq!(next, Some(Line::Whole(b"next".to_vec())));
        assert_eq!(read_line(&mut reader, 4).await.expect("read"), None);
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_bound_is_whole() {
        let mut reader = BufReader::new(&b"abcd\nab"[..]);
        let exact = read_line(&mut reader, 4).await.expect("read");
        assert_eq!(exact, Some(Line::Whole(b"abcd".to_vec())));
        let last = read_line(&mut reader, 4).await.expect("read");
        assert_eq!(last, Some(Line::Whole(b"ab".to_vec())));
    }
}
