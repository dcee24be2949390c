//! Decides from Vite's output whether it is ready, or failed because its port was taken.

use crate::ansi::strip_ansi;

use std::sync::LazyLock;

use memchr::memmem::Finder;

// Every line of a starting dev server is checked: a SIMD search for a word the line must hold
// (colours never split it) rules out almost all of them before anything is copied.
static LOCAL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("Local"));
static IN_USE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("in use"));
static EADDRINUSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("EADDRINUSE"));

/// True when `line` is Vite's `Local:` line for `port`, coloured or not.
pub fn is_ready_line(line: &str, port: u16) -> bool {
    if LOCAL.find(line.as_bytes()).is_none() {
        return false;
    }
    let plain = strip_ansi(line);
    let Some(idx) = plain.find("Local:") else {
        return false;
    };
    let rest = &plain[idx..];
    // Match the port as a whole number so 1517 does not match 15173.
    let needle = format!(":{port}");
    rest.match_indices(&needle).any(|(i, _)| {
        !rest[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// True when `line` says the requested port is in use (Vite's `--strictPort` failure).
pub fn is_port_in_use_line(line: &str) -> bool {
    if IN_USE.find(line.as_bytes()).is_none() && EADDRINUSE.find(line.as_bytes()).is_none() {
        return false;
    }
    let plain = strip_ansi(line);
    plain.contains("is already in use") || plain.contains("EADDRINUSE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_coloured_local_lines_are_ready() {
        assert!(is_ready_line(
            "  ➜  Local:   http://127.0.0.1:15173/",
            15173
        ));
        let coloured = "  \u{1b}[32m➜\u{1b}[39m  \u{1b}[1mLocal\u{1b}[22m:   \u{1b}[36mhttp://127.0.0.1:\u{1b}[1m15173\u{1b}[22m/\u{1b}[39m\r";
        assert!(is_ready_line(coloured, 15173));
    }

    #[test]
    fn another_port_or_line_is_not_ready() {
        assert!(!is_ready_line(
            "  ➜  Local:   http://127.0.0.1:15174/",
            15173
        ));
        assert!(!is_ready_line(
            "  ➜  Local:   http://127.0.0.1:151730/",
            15173
        ));
        assert!(!is_ready_line(
            "  ➜  Network: use --host to expose 15173",
            15173
        ));
        assert!(!is_ready_line("VITE v8 ready in 300 ms", 15173));
    }

    #[test]
    fn detects_strict_port_failures() {
        assert!(is_port_in_use_line(
            "error when starting dev server:\nError: Port 15173 is already in use"
        ));
        assert!(is_port_in_use_line(
            "Error: listen EADDRINUSE: address already in use 127.0.0.1:15173"
        ));
        assert!(!is_port_in_use_line("ready"));
    }
}
