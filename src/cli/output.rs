//! Human and NDJSON rendering of engine events.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use omniview_devserver::engine::ansi::strip_ansi;
use omniview_devserver::{
    DevProcessStatus, DevServerEvent, DevServerMode, DevServerState, LogLevel, LogSource, Received,
};

/// True when colours should be used: not disabled by flag or NO_COLOR, and stdout is a tty.
pub fn use_colour(no_color_flag: bool) -> bool {
    let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color_flag && !no_color_env && std::io::stdout().is_terminal()
}

/// Writes events to stdout, one line each; diagnostics go to stderr.
pub struct Printer {
    json: bool,
    colour: bool,
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

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const BOLD: &str = "\x1b[1m";

impl Printer {
    /// A printer for NDJSON (`json`) or human output, coloured or not.
    pub fn new(json: bool, colour: bool) -> Self {
        Self {
            json,
            colour,
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
            Received::Missed(n) => {
                self.note(&format!("output fell behind; {n} events were skipped"));
                return;
            }
        };
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(out, "{}", ev.to_envelope());
            return;
        }
        for line in self.render(ev) {
            let _ = writeln!(out, "{line}");
        }
    }

    fn render(&mut self, ev: &DevServerEvent) -> Vec<String> {
        match ev {
            DevServerEvent::Log(entries) => entries
                .iter()
                // Blank lines (Vite pads its banner with them) carry nothing in a merged view.
                .filter(|e| !e.message.trim().is_empty())
                .map(|e| {
                    let prefix = self.paint(
                        source_colour(e.source),
                        &format!("[{} {}]", e.plugin_id, e.source.as_str()),
                    );
                    // Without colour, the children's own escape codes go too (NO_COLOR, pipes).
                    let text = if self.colour {
                        e.message.clone()
                    } else {
                        strip_ansi(&e.message).into_owned()
                    };
                    let msg = match e.level {
                        LogLevel::Error => self.paint(RED, &text),
                        LogLevel::Warn => self.paint(YELLOW, &text),
                        LogLevel::Debug => self.paint(DIM, &text),
                        LogLevel::Info => text,
                    };
                    format!("{prefix} {msg}")
                })
                .collect(),
            DevServerEvent::Status(s) => self.render_status(s).into_iter().collect(),
            DevServerEvent::ReloadStart(meta) | DevServerEvent::ReloadComplete(meta) => {
                let id = meta.get("id").and_then(|v| v.as_str()).unwrap_or("plugin");
                let what = if matches!(ev, DevServerEvent::ReloadStart(_)) {
                    "reloading the plugin"
                } else {
                    "plugin reloaded"
                };
                vec![format!("{} {what}", self.paint(BOLD, &format!("● {id}")))]
            }
            DevServerEvent::BuildErrors(p) => p
                .errors
                .iter()
                .map(|e| {
                    let prefix = self.paint(RED, &format!("[{} error]", p.plugin_id));
                    format!("{prefix} {}:{}:{}: {}", e.file, e.line, e.column, e.message)
                })
                .collect(),
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
        if !s.last_error.is_empty() {
            let first = s.last_error.lines().next().unwrap_or_default();
            line.push_str(&format!("  {}", self.paint(RED, first)));
        }
        Some(line)
    }
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
