//! Child stdout and stderr, passed through line by line.
//!
//! Each pipe is read by its own task, cut into lines by [`LineBuffer`], and
//! written to supervise's stdout by [`ChildOutput`] with the process name
//! and stream, in the same format as supervise's own log. A line longer than
//! [`MAX_LINE`] is cut into pieces rather than buffered without bound, and a
//! last line without a newline is still written when the pipe closes.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::os::fd::OwnedFd;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

use crate::logging::LogFormat;

/// The longest piece written as one line; longer lines are cut.
pub const MAX_LINE: usize = 16 * 1024;

/// Which of a child's pipes a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Stream::Stdout => "out",
            Stream::Stderr => "err",
        }
    }
}

/// Writes child lines to supervise's stdout.
#[derive(Debug, Clone, Copy)]
pub struct ChildOutput {
    format: LogFormat,
}

impl ChildOutput {
    pub fn new(format: LogFormat) -> Self {
        ChildOutput { format }
    }

    /// Starts a task that forwards every line of `pipe` until it closes.
    pub fn forward(
        self,
        process: String,
        stream: Stream,
        fd: OwnedFd,
    ) -> io::Result<JoinHandle<()>> {
        let mut receiver = pipe::Receiver::from_owned_fd(fd)?;
        Ok(tokio::spawn(async move {
            let mut lines = LineBuffer::default();
            let mut chunk = vec![0; 8 * 1024];
            loop {
                let read = match receiver.read(&mut chunk).await {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) => {
                        tracing::warn!(process, stream = stream.name(), %error, "read from child pipe failed");
                        break;
                    }
                };
                lines.push(&chunk[..read], |line| self.write(&process, stream, line));
            }
            lines.finish(|line| self.write(&process, stream, line));
        }))
    }

    /// Writes one line in the configured format, with one `write` call so
    /// that lines from different tasks never interleave.
    pub fn write(&self, process: &str, stream: Stream, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let formatted = match self.format {
            LogFormat::Text => format!("{process} {} | {text}\n", stream.short()),
            LogFormat::Json => json_line(process, stream, &text),
        };
        // Nowhere is left to report a failed write to stdout.
        let _ = io::stdout().lock().write_all(formatted.as_bytes());
    }
}

/// Wraps a child line as one JSON object. A line that already is a JSON
/// object is embedded as a value under `json`, not escaped into a string,
/// so log tooling still sees its fields.
fn json_line(process: &str, stream: Stream, text: &str) -> String {
    let mut timestamp = String::new();
    // Formatting into a String cannot fail.
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));

    let mut out = String::with_capacity(text.len() + 96);
    out.push_str("{\"timestamp\":");
    out.push_str(&json_string(&timestamp));
    let _ = write!(
        out,
        ",\"level\":\"INFO\",\"process\":{}",
        json_string(process)
    );
    let _ = write!(out, ",\"stream\":\"{}\"", stream.name());

    let trimmed = text.trim();
    if trimmed.starts_with('{') && is_json(trimmed) {
        out.push_str(",\"json\":");
        out.push_str(trimmed);
    } else {
        out.push_str(",\"message\":");
        out.push_str(&json_string(text));
    }
    out.push_str("}\n");
    out
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Cuts a byte stream into lines of at most [`MAX_LINE`] bytes.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// Adds bytes and calls `emit` for every line they complete, without
    /// its newline (and without a `\r` before it), in pieces of at most
    /// [`MAX_LINE`] bytes.
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(offset) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + offset;
            emit_in_pieces(strip_cr(&self.pending[start..end]), &mut emit);
            start = end + 1;
        }
        // Strictly longer: a line of exactly the limit may still end in
        // "\r\n" with the next read, and should then lose its "\r".
        while self.pending.len() - start > MAX_LINE {
            start += emit_piece(&self.pending[start..], &mut emit);
        }
        self.pending.drain(..start);
    }

    /// Emits what is left after the pipe closed, if anything.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit_in_pieces(strip_cr(&self.pending), &mut emit);
            self.pending.clear();
        }
    }
}

fn emit_in_pieces(mut line: &[u8], emit: &mut impl FnMut(&[u8])) {
    while line.len() > MAX_LINE {
        line = &line[emit_piece(line, emit)..];
    }
    emit(line);
}

/// Emits the first piece of an over-long `text`; returns its length.
fn emit_piece(text: &[u8], emit: &mut impl FnMut(&[u8])) -> usize {
    let piece = &text[..MAX_LINE.min(text.len())];
    let cut = utf8_cut(piece);
    emit(&piece[..cut]);
    cut
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Where to cut `piece` so that a UTF-8 character is not split in two; the
/// whole piece when it does not end inside one.
fn utf8_cut(piece: &[u8]) -> usize {
    match std::str::from_utf8(piece) {
        Err(error) if error.error_len().is_none() && error.valid_up_to() > 0 => error.valid_up_to(),
        _ => piece.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut buffer = LineBuffer::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            buffer.push(chunk, |line| lines.push(line.to_vec()));
        }
        buffer.finish(|line| lines.push(line.to_vec()));
        lines
    }

    /// Lines split across reads are joined; a last partial line survives.
    #[test]
    fn joins_chunks_and_keeps_partial_last_line() {
        let lines = split(&[b"hel", b"lo\nwor", b"ld\r\ntail"]);
        assert_eq!(
            lines,
            [b"hello".to_vec(), b"world".to_vec(), b"tail".to_vec()]
        );
    }

    /// A line longer than the limit comes out in pieces of at most the
    /// limit, never in one unbounded buffer.
    #[test]
    fn long_line_is_cut() {
        let long = vec![b'a'; MAX_LINE * 2 + 10];
        let lines = split(&[&long, b"\n"]);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
        assert_eq!(lines.concat(), long);
    }

    /// A cut never falls inside a multi-byte character.
    #[test]
    fn cut_respects_utf8() {
        let mut long = vec![b'a'; MAX_LINE - 1];
        long.extend_from_slice("é".as_bytes());
        let lines = split(&[&long]);
        assert_eq!(lines[0].len(), MAX_LINE - 1);
        assert_eq!(lines[1], "é".as_bytes());
    }

    /// A JSON object line stays a JSON value; other lines become strings.
    #[test]
    fn json_lines_embed_json_objects() {
        let wrapped = json_line("backend", Stream::Stdout, r#"{"level":"info","n":1}"#);
        let value: serde_json::Value = serde_json::from_str(&wrapped).expect("valid JSON");
        assert_eq!(value["json"]["n"], 1);
        assert_eq!(value["process"], "backend");

        let plain = json_line("backend", Stream::Stderr, r#"say "hi" {oops"#);
        let value: serde_json::Value = serde_json::from_str(&plain).expect("valid JSON");
        assert_eq!(value["message"], r#"say "hi" {oops"#);
        assert_eq!(value["stream"], "stderr");
    }

    /// Mostly plain bytes, some multi-byte UTF-8 lead bytes, rare line
    /// ends: lines long enough to be cut, and cuts next to `\r` and `é`.
    fn byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            4000 => Just(b'a'),
            20 => Just(0xc3),
            20 => Just(0xa9),
            3 => Just(b'\r'),
            1 => Just(b'\n'),
            10 => any::<u8>(),
        ]
    }

    proptest! {
        // Each case pushes tens of kilobytes; fewer cases keep the debug
        // build's test run short.
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// However the input is chunked, no line exceeds the limit and the
        /// bytes come back in order with only line ends removed.
        #[test]
        fn splitting_loses_nothing(data in proptest::collection::vec(byte(), 0..60_000),
                                   cut in 1usize..9000) {
            let chunks: Vec<&[u8]> = data.chunks(cut).collect();
            let lines = split(&chunks);
            prop_assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
            let expected: Vec<u8> = data.split(|&b| b == b'\n')
                .flat_map(|l| strip_cr(l).to_vec()).collect();
            prop_assert_eq!(lines.concat(), expected);
        }

        /// Whatever bytes a child prints, the JSON wrapping is valid JSON.
        #[test]
        fn json_wrapping_always_valid(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&line);
            let wrapped = json_line("p", Stream::Stdout, &text);
            prop_assert!(serde_json::from_str::<serde_json::Value>(&wrapped).is_ok());
        }
    }
}
