//! Splits child output into lines of bounded length, decoded lossily.

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

/// Longest line kept; longer lines are cut and marked.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Appended to a line that was cut at [`MAX_LINE_BYTES`].
pub const TRUNCATION_MARKER: &str = " …[line truncated]";

/// A `tokio_util` decoder yielding `String` lines (without `\n` or a trailing `\r`).
///
/// A line longer than the limit is emitted cut, with [`TRUNCATION_MARKER`], as soon as the
/// limit is reached; the rest of it, up to the next newline, is dropped. Memory use is bounded
/// by the limit whatever the child writes. Invalid UTF-8 becomes U+FFFD.
#[derive(Debug)]
pub struct BoundedLineCodec {
    max: usize,
    discarding: bool,
}

impl BoundedLineCodec {
    /// A codec cutting lines at `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            discarding: false,
        }
    }

    fn finish(bytes: &[u8]) -> String {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        // Valid UTF-8 (nearly every line) is checked far faster than the lossy path decodes.
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

impl Default for BoundedLineCodec {
    fn default() -> Self {
        Self::new(MAX_LINE_BYTES)
    }
}

impl Decoder for BoundedLineCodec {
    type Item = String;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<String>, std::io::Error> {
        loop {
            let newline = memchr::memchr(b'\n', buf);
            if self.discarding {
                match newline {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.discarding = false;
                        continue;
                    }
                    None => {
                        buf.clear();
                        return Ok(None);
                    }
                }
            }
            return Ok(match newline {
                Some(i) if i <= self.max => {
                    let line = buf.split_to(i + 1);
                    Some(Self::finish(&line[..i]))
                }
                _ if buf.len() > self.max => {
                    let head = buf.split_to(self.max);
                    self.discarding = true;
                    let mut s = Self::finish(&head);
                    s.push_str(TRUNCATION_MARKER);
                    Some(s)
                }
                _ => None,
            });
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<String>, std::io::Error> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        if buf.is_empty() || self.discarding {
            buf.clear();
            return Ok(None);
        }
        let rest = buf.split_to(buf.len());
        Ok(Some(Self::finish(&rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut BoundedLineCodec, input: &[u8]) -> Vec<String> {
        let mut buf = BytesMut::from(input);
        let mut out = vec![];
        while let Some(l) = codec.decode(&mut buf).unwrap() {
            out.push(l);
        }
        while let Some(l) = codec.decode_eof(&mut buf).unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn splits_lines_and_drops_carriage_returns() {
        let mut c = BoundedLineCodec::new(100);
        assert_eq!(decode_all(&mut c, b"a\r\nb\nlast"), vec!["a", "b", "last"]);
    }

    #[test]
    fn long_lines_are_truncated_with_a_marker_and_the_rest_dropped() {
        let mut c = BoundedLineCodec::new(4);
        let lines = decode_all(&mut c, b"abcdefgh\nok\n");
        assert_eq!(
            lines,
            vec![format!("abcd{TRUNCATION_MARKER}"), "ok".to_string()]
        );
    }

    #[test]
    fn a_long_line_split_across_reads_stays_bounded() {
        let mut c = BoundedLineCodec::new(4);
        let mut buf = BytesMut::from(&b"abcdef"[..]);
        assert_eq!(
            c.decode(&mut buf).unwrap(),
            Some(format!("abcd{TRUNCATION_MARKER}"))
        );
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"gh\nnext\n");
        assert_eq!(c.decode(&mut buf).unwrap(), Some("next".to_string()));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut c = BoundedLineCodec::new(100);
        assert_eq!(decode_all(&mut c, b"a\xffb\n"), vec!["a\u{fffd}b"]);
    }
}
