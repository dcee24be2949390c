//! Removes ANSI escape sequences, for matching only: displayed text keeps them.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

fn ansi_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // CSI sequences (colours, cursor moves, screen clears), OSC sequences (titles, links) and
    // two-byte escapes; a trailing carriage return is treated as noise too.
    RE.get_or_init(|| {
        Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\r")
            .expect("static regex")
    })
}

/// `s` without ANSI escape sequences or carriage returns.
pub fn strip_ansi(s: &str) -> Cow<'_, str> {
    if memchr::memchr2(0x1b, b'\r', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    ansi_regex().replace_all(s, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_vites_coloured_local_line() {
        let line = "  \u{1b}[32m➜\u{1b}[39m  \u{1b}[1mLocal\u{1b}[22m:   \u{1b}[36mhttp://127.0.0.1:\u{1b}[1m15173\u{1b}[22m/\u{1b}[39m\r";
        assert_eq!(strip_ansi(line), "  ➜  Local:   http://127.0.0.1:15173/");
    }

    #[test]
    fn strips_screen_clear_and_osc() {
        assert_eq!(strip_ansi("\u{1b}[2J\u{1b}[3J\u{1b}[Hhi"), "hi");
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}x"), "x");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(strip_ansi("plain"), Cow::Borrowed("plain")));
    }
}
