//! Human and NDJSON rendering of engine events.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use omniview_devserver::{
    DevProcessStatus, DevServerEvent, DevServerMode, DevServerState, LogEntry, LogLevel, LogSource,
    Received, Severity,
};
use ovdev_actors::ansi::strip_ansi;
use ovdev_actors::build_errors::is_build_error_line;

/// True when colours should be used: not disabled by flag or NO_COLOR, and stdout is a tty.
pub fn use_colour(no_color_flag: bool) -> bool {
    colour_for(no_color_flag, std::io::stdout().is_terminal())
}

/// Whether diagnostics on stderr may use colour: the same rules, judged on stderr.
pub fn use_colour_on_stderr(no_color_flag: bool) -> bool {
    colour_for(no_color_flag, std::io::stderr().is_terminal())
}

/// Colour only on a terminal, and never with `--no-color` or a non-empty `NO_COLOR`.
fn colour_for(no_color_flag: bool, terminal: bool) -> bool {
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !no_color_env && terminal
}

/// `HH:MM:SS ` in local time, formatted once a second: a flood's lines share it.
#[derive(Default)]
struct LineClock {
    second: i64,
    text: String,
}

impl LineClock {
    fn stamp(&mut self, at: chrono::DateTime<chrono::Utc>) -> &str {
        let second = at.timestamp();
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = at
                .with_timezone(&chrono::Local)
                .format("%H:%M:%S ")
                .to_string();
        }
        &self.text
    }
}

/// Writes events to stdout, one line each; diagnostics go to stderr.
pub struct Printer {
    json: bool,
    colour: bool,
    /// Human lines start with the time (`--no-timestamps` turns it off).
    clock: Option<LineClock>,
    /// Plugins whose process served once: the next launch is a reload.
    launched: std::collections::HashSet<String>,
    /// Plugins whose build errors were just listed: the status line does not repeat them.
    errors_listed: std::collections::HashSet<String>,
    /// Reused for every event: one event is rendered whole, then written with one call.
    buf: Vec<u8>,
    last: HashMap<
        String,
        (
            DevServerMode,
            DevProcessStatus,
            DevProcessStatus,
            bool,
            String,
        ),
    >,
}

/// The NDJSON event that reports events this output missed: `{"count": n}`.
pub const EVENT_MISSED: &str = "ovdev/events_missed";

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const BOLD: &str = "\x1b[1m";

impl Printer {
    /// A printer for NDJSON (`json`) or human output, coloured or not, with the time on each
    /// human line or not.
    pub fn new(json: bool, colour: bool, timestamps: bool) -> Self {
        Self {
            json,
            colour,
            clock: timestamps.then(LineClock::default),
            launched: Default::default(),
            errors_listed: Default::default(),
            buf: Vec::with_capacity(64 * 1024),
            last: HashMap::new(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// A note for the person at the terminal (stderr, never in the NDJSON stream).
    pub fn note(&self, msg: &str) {
        eprintln!("ovdev: {msg}");
    }

    /// Prints one received item.
    pub fn print(&mut self, received: &Received) {
        let ev = match received {
            Received::Event(ev) => ev,
            Received::Missed(n) => return self.print_missed(*n),
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if self.json {
            ev.write_envelope(&mut buf);
        } else {
            self.render_into(ev, &mut buf);
        }
        let _ = std::io::stdout().lock().write_all(&buf);
        // A flood's big batches should not keep a big buffer for the rest of the session.
        if buf.capacity() > 1 << 20 {
            buf = Vec::with_capacity(64 * 1024);
        }
        self.buf = buf;
    }

    /// Says in the output itself that `n` events (log batches first) were dropped because
    /// this output fell behind: NDJSON readers get an `ovdev/events_missed` event.
    fn print_missed(&mut self, n: u64) {
        let line = if self.json {
            format!("{{\"name\":\"{EVENT_MISSED}\",\"data\":{{\"count\":{n}}}}}\n")
        } else {
            let text =
                format!("[ovdev] output fell behind: {n} events (log batches first) were skipped");
            format!("{}\n", self.paint(YELLOW, &text))
        };
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }

    fn render_into(&mut self, ev: &DevServerEvent, out: &mut Vec<u8>) {
        if let DevServerEvent::Log(entries) = ev {
            for e in entries.iter().filter(|e| shows(e)) {
                self.write_stamp(e.timestamp, out);
                self.render_log_line(e, out);
            }
            return;
        }
        let now = chrono::Utc::now();
        for line in self.render(ev) {
            self.write_stamp(now, out);
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }

    fn write_stamp(&mut self, at: chrono::DateTime<chrono::Utc>, out: &mut Vec<u8>) {
        let colour = self.colour;
        if let Some(clock) = &mut self.clock {
            if colour {
                out.extend_from_slice(DIM.as_bytes());
            }
            out.extend_from_slice(clock.stamp(at).as_bytes());
            if colour {
                out.extend_from_slice(RESET.as_bytes());
            }
        }
    }

    /// `[plugin source] message`, coloured by level.
    fn render_log_line(&self, e: &LogEntry, out: &mut Vec<u8>) {
        let colour = self.colour;
        if colour {
            out.extend_from_slice(source_colour(e.source).as_bytes());
        }
        out.push(b'[');
        out.extend_from_slice(e.plugin_id.as_bytes());
        out.push(b' ');
        out.extend_from_slice(e.source.as_str().as_bytes());
        out.push(b']');
        if colour {
            out.extend_from_slice(RESET.as_bytes());
        }
        out.push(b' ');
        let level_colour = match e.level {
            LogLevel::Error => Some(RED),
            LogLevel::Warn => Some(YELLOW),
            LogLevel::Debug => Some(DIM),
            LogLevel::Info => None,
        };
        match (colour, level_colour) {
            (true, Some(code)) => {
                out.extend_from_slice(code.as_bytes());
                out.extend_from_slice(e.message.as_bytes());
                out.extend_from_slice(RESET.as_bytes());
            }
            (true, None) => out.extend_from_slice(e.message.as_bytes()),
            // Without colour, the children's own escape codes go too (NO_COLOR, pipes).
            (false, _) => out.extend_from_slice(strip_ansi(&e.message).as_bytes()),
        }
        out.push(b'\n');
    }

    fn render(&mut self, ev: &DevServerEvent) -> Vec<String> {
        match ev {
            // Written straight into the output buffer by `render_into`.
            DevServerEvent::Log(_) => Vec::new(),
            DevServerEvent::Status(s) => self.render_status(s).into_iter().collect(),
            DevServerEvent::ReloadStart(meta) | DevServerEvent::ReloadComplete(meta) => {
                let id = meta.get("id").and_then(|v| v.as_str()).unwrap_or("plugin");
                let first = !self.launched.contains(id);
                let what = match (matches!(ev, DevServerEvent::ReloadStart(_)), first) {
                    (true, true) => "launching the plugin",
                    (true, false) => "reloading the plugin",
                    (false, true) => "plugin launched",
                    (false, false) => "plugin reloaded",
                };
                if matches!(ev, DevServerEvent::ReloadComplete(_)) {
                    self.launched.insert(id.to_string());
                }
                vec![format!("{} {what}", self.paint(BOLD, &format!("● {id}")))]
            }
            DevServerEvent::ReloadError(meta, error) => {
                let id = meta.get("id").and_then(|v| v.as_str()).unwrap_or("plugin");
                let prefix = self.paint(RED, &format!("● {id}"));
                vec![format!("{prefix} reload failed: {error}")]
            }
            DevServerEvent::BuildErrors(p) => {
                self.errors_listed.insert(p.plugin_id.clone());
                p.errors
                    .iter()
                    .map(|e| {
                        let (what, colour) = match e.severity {
                            Severity::Error => ("error", RED),
                            Severity::Warning => ("warning", YELLOW),
                        };
                        let prefix = self.paint(colour, &format!("[{} {what}]", p.plugin_id));
                        format!("{prefix} {}:{}:{}: {}", e.file, e.line, e.column, e.message)
                    })
                    .collect()
            }
        }
    }

    fn render_status(&mut self, s: &DevServerState) -> Option<String> {
        let key = (
            s.mode,
            s.vite_status,
            s.go_status,
            s.grpc_connected,
            s.last_error.clone(),
        );
        if self.last.get(&s.plugin_id) == Some(&key) {
            return None;
        }
        let previous = self.last.insert(s.plugin_id.clone(), key).map(|k| k.0);
        let name = self.paint(BOLD, &format!("● {}", s.plugin_id));
        if s.mode == DevServerMode::External {
            let plugin = match (s.grpc_connected, s.last_error.is_empty()) {
                (true, _) => self.paint(GREEN, "serving"),
                (false, true) => self.paint(YELLOW, "connecting"),
                (false, false) => self.paint(YELLOW, "not answering"),
            };
            let vite = match s.vite_url.is_empty() {
                false => format!("  vite: {}/", s.vite_url),
                true => String::new(),
            };
            let err = if s.last_error.is_empty() {
                String::new()
            } else {
                format!(
                    "  {}",
                    self.paint(RED, s.last_error.lines().next().unwrap_or_default())
                )
            };
            return Some(format!("{name} external plugin: {plugin}{vite}{err}"));
        }
        if s.mode == DevServerMode::Idle && previous == Some(DevServerMode::External) {
            return Some(format!("{name} external plugin gone or detached"));
        }
        let vite = match (s.vite_status, s.vite_url.is_empty()) {
            (DevProcessStatus::Ready, false) => format!("ready {}/", s.vite_url),
            (status, _) => status.to_string(),
        };
        let go = match s.go_status {
            DevProcessStatus::Ready if s.last_build_time.is_some() => {
                format!(
                    "ready (built in {:.2}s)",
                    s.last_build_duration.as_secs_f64()
                )
            }
            status => status.to_string(),
        };
        let mut line = format!(
            "{name} vite: {}  go: {}",
            self.paint(status_colour(s.vite_status), &vite),
            self.paint(status_colour(s.go_status), &go)
        );
        if s.grpc_connected {
            line.push_str(&format!("  plugin: {}", self.paint(GREEN, "serving")));
        }
        // A failed build's errors were just listed: the status does not say them again.
        let listed = s.go_status == DevProcessStatus::Error
            && s.last_error.starts_with("build failed with ")
            && self.errors_listed.contains(&s.plugin_id);
        if s.go_status != DevProcessStatus::Error {
            self.errors_listed.remove(&s.plugin_id);
        }
        if !s.last_error.is_empty() && !listed {
            let first = s.last_error.lines().next().unwrap_or_default();
            line.push_str(&format!("  {}", self.paint(RED, first)));
        }
        Some(line)
    }
}

/// Whether a log line is shown: blank lines carry nothing in a merged view (Vite pads its
/// banner with them), and the compiler's error lines are listed once, from the error event,
/// with absolute paths.
fn shows(e: &LogEntry) -> bool {
    let blank = e.message.trim().is_empty();
    let compiler_error = e.source == LogSource::GoBuild && is_build_error_line(&e.message);
    !blank && !compiler_error
}

fn source_colour(source: LogSource) -> &'static str {
    match source {
        LogSource::Vite => "\x1b[35m",
        LogSource::GoBuild => "\x1b[36m",
        LogSource::GoWatch => "\x1b[34m",
        LogSource::Manager => "\x1b[32m",
        LogSource::Plugin => "\x1b[33m",
    }
}

fn status_colour(status: DevProcessStatus) -> &'static str {
    match status {
        DevProcessStatus::Ready => GREEN,
        DevProcessStatus::Error => RED,
        DevProcessStatus::Building | DevProcessStatus::Starting => YELLOW,
        _ => DIM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omniview_devserver::{BuildError, BuildErrorsPayload};

    fn human(printer: &mut Printer, ev: &DevServerEvent) -> String {
        let mut out = Vec::new();
        printer.render_into(ev, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn log(source: LogSource, level: LogLevel, message: &str) -> DevServerEvent {
        DevServerEvent::Log(
            vec![LogEntry {
                timestamp: "2026-11-30T09:15:43Z".parse().unwrap(),
                source,
                level,
                message: message.into(),
                plugin_id: "p".into(),
                seq: 1,
            }]
            .into(),
        )
    }

    #[test]
    fn each_line_starts_with_its_local_time_unless_asked_not_to() {
        let ev = log(LogSource::Vite, LogLevel::Info, "hello");
        let at: chrono::DateTime<chrono::Utc> = "2026-11-30T09:15:43Z".parse().unwrap();
        let local = at
            .with_timezone(&chrono::Local)
            .format("%H:%M:%S")
            .to_string();
        assert_eq!(
            human(&mut Printer::new(false, false, true), &ev),
            format!("{local} [p vite] hello\n")
        );
        assert_eq!(
            human(&mut Printer::new(false, false, false), &ev),
            "[p vite] hello\n"
        );
    }

    #[test]
    fn a_build_error_is_shown_once() {
        let mut p = Printer::new(false, false, false);
        let compiler = log(
            LogSource::GoBuild,
            LogLevel::Error,
            "./pkg/main.go:3:7: undefined: x",
        );
        assert_eq!(
            human(&mut p, &compiler),
            "",
            "listed from the error event instead"
        );
        let context = log(LogSource::GoBuild, LogLevel::Warn, "# example.com/p/pkg");
        assert_eq!(
            human(&mut p, &context),
            "[p go-build] # example.com/p/pkg\n"
        );
        let errors = DevServerEvent::BuildErrors(BuildErrorsPayload {
            plugin_id: "p".into(),
            errors: vec![BuildError {
                file: "/src/p/pkg/main.go".into(),
                line: 3,
                column: 7,
                message: "undefined: x".into(),
                severity: Severity::Error,
            }],
        });
        assert_eq!(
            human(&mut p, &errors),
            "[p error] /src/p/pkg/main.go:3:7: undefined: x\n"
        );
        let mut state = DevServerState::idle("p");
        state.mode = DevServerMode::Managed;
        state.go_status = DevProcessStatus::Error;
        state.last_error = "build failed with 1 error: /src/p/pkg/main.go:3:7: undefined: x".into();
        let status = human(&mut p, &DevServerEvent::Status(state));
        assert!(!status.contains("undefined: x"), "{status}");
        assert!(status.contains("go: error"), "{status}");
    }

    #[test]
    fn the_first_launch_is_a_launch_and_the_next_ones_reloads() {
        let mut p = Printer::new(false, false, false);
        let meta = serde_json::json!({"id": "p"});
        let start = DevServerEvent::ReloadStart(meta.clone());
        let done = DevServerEvent::ReloadComplete(meta);
        assert_eq!(human(&mut p, &start), "● p launching the plugin\n");
        assert_eq!(human(&mut p, &done), "● p plugin launched\n");
        assert_eq!(human(&mut p, &start), "● p reloading the plugin\n");
        assert_eq!(human(&mut p, &done), "● p plugin reloaded\n");
    }
}
