//! Cutting a job's output into [`LogLine`]s: one per printed line, at most `max_bytes` each
//! (the rest of a longer line is dropped and the line marked `truncated`), numbered in the
//! order printed. Shared by every backend so lines look the same wherever a job ran.

use super::{LogLine, LogStream};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

/// Reassembles lines from one stream's chunks.
#[derive(Debug)]
pub struct LineCutter {
    max_bytes: usize,
    pending: Vec<u8>,
    /// Inside a line already cut at `max_bytes`: drop bytes until its newline.
    dropping: bool,
}

impl LineCutter {
    pub fn new(max_bytes: usize) -> Self {
        LineCutter { max_bytes: max_bytes.max(1), pending: Vec::new(), dropping: false }
    }

    /// The complete lines in `bytes` (with what came before), as `(text, truncated)`.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<(String, bool)> {
        let mut lines = Vec::new();
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let (part, rest) = match newline {
                Some(i) => (&bytes[..i], &bytes[i + 1..]),
                None => (bytes, &[][..]),
            };
            if !self.dropping {
                self.pending.extend_from_slice(part);
            }
            if newline.is_some() {
                if !self.dropping {
                    lines.push(self.take(false));
                }
                self.dropping = false;
            } else if !self.dropping && self.pending.len() > self.max_bytes {
                lines.push(self.take(true));
                self.dropping = true;
            }
            bytes = rest;
        }
        lines
    }

    /// A partial line held back (the program printed no newline yet): out now, as a line.
    pub fn flush(&mut self) -> Option<(String, bool)> {
        if self.pending.is_empty() {
            return None;
        }
        Some(self.take(false))
    }

    fn take(&mut self, cut: bool) -> (String, bool) {
        let mut bytes = std::mem::take(&mut self.pending);
        let mut truncated = cut;
        if bytes.len() > self.max_bytes {
            bytes.truncate(self.max_bytes);
            truncated = true;
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        (lossy_utf8_prefix(bytes), truncated)
    }
}

/// Text of `bytes`, dropping a multi-byte character the cut split in two.
fn lossy_utf8_prefix(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            if e_is_cut_char(&bytes, valid) {
                String::from_utf8_lossy(&bytes[..valid]).into_owned()
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            }
        }
    }
}

/// Whether the only invalid bytes are an incomplete character at the very end.
fn e_is_cut_char(bytes: &[u8], valid_up_to: usize) -> bool {
    let tail = &bytes[valid_up_to..];
    !tail.is_empty() && tail.len() < 4 && std::str::from_utf8(tail).is_err() && tail[0] >= 0xC0
}

/// Numbers lines and hands them to the execution's log channel.
#[derive(Debug)]
pub struct LogSink {
    tx: mpsc::UnboundedSender<LogLine>,
    next_seq: u64,
}

impl LogSink {
    pub fn new(tx: mpsc::UnboundedSender<LogLine>) -> Self {
        LogSink { tx, next_seq: 0 }
    }

    pub fn send(&mut self, stream: LogStream, at: DateTime<Utc>, text: String, truncated: bool) {
        let line = LogLine { seq: self.next_seq, stream, at, text, truncated };
        self.next_seq += 1;
        // Nobody listening (the poller dropped the receiver) is not the job's problem.
        let _ = self.tx.send(line);
    }

    pub fn platform(&mut self, text: impl Into<String>) {
        self.send(LogStream::Platform, Utc::now(), text.into(), false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(max: usize, chunks: &[&[u8]], expected: &[(&str, bool)]) {
        let mut cutter = LineCutter::new(max);
        let mut got: Vec<(String, bool)> = Vec::new();
        for chunk in chunks {
            got.extend(cutter.push(chunk));
        }
        got.extend(cutter.flush());
        let expected: Vec<(String, bool)> = expected.iter().map(|(s, t)| (s.to_string(), *t)).collect();
        assert_eq!(got, expected, "chunks {chunks:?}");
    }

    #[test]
    fn lines_are_cut_at_newlines_across_chunks_and_bounded() {
        check(10, &[b"a\nb", b"c\n"], &[("a", false), ("bc", false)]);
        check(10, &[b"one\r\n", b"\n"], &[("one", false), ("", false)]);
        check(4, &[b"abcdefgh\nxy\n"], &[("abcd", true), ("xy", false)]);
        check(4, &[b"abc", b"defgh", b"ij\nz"], &[("abcd", true), ("z", false)]);
        check(4, &[b"ab"], &[("ab", false)]);
        // A cut inside a two-byte character drops the half character.
        check(3, &["aaé\n".as_bytes()], &[("aa", true)]);
        check(10, &[b"bad \xff byte\n"], &[("bad \u{fffd} byte", false)]);
    }
}
