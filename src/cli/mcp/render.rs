//! Log lines as an MCP answer: text, newest kept, within a size cap that the answer states.

use omniview_devserver::LogEntry;

/// The most text one `logs` answer carries.
pub const MAX_LOG_BYTES: usize = 64 * 1024;

/// Log lines as text, newest kept within [`MAX_LOG_BYTES`]; `matched` is how many matched.
pub fn render_logs(entries: &[&LogEntry], matched: usize) -> String {
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            let msg = ovdev_actors::ansi::strip_ansi(&e.message);
            format!(
                "{} {} {} {}: {msg}",
                e.seq,
                e.timestamp.format("%H:%M:%S%.3f"),
                e.source.as_str(),
                e.level.as_str()
            )
        })
        .collect();
    let mut size = 0;
    let mut keep = lines.len();
    while keep > 0 && size + lines[keep - 1].len() < MAX_LOG_BYTES {
        size += lines[keep - 1].len() + 1;
        keep -= 1;
    }
    let shown = &lines[keep..];
    let mut out = format!(
        "{} of {matched} matching lines (answers are capped at 64 KiB; older lines left out: {})\n",
        shown.len(),
        matched - shown.len()
    );
    for l in shown {
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_answers_keep_the_newest_lines_within_64_kib_and_say_so() {
        let entry = |seq: u64| LogEntry {
            timestamp: chrono::Utc::now(),
            source: omniview_devserver::LogSource::GoBuild,
            level: omniview_devserver::LogLevel::Info,
            message: format!("\u{1b}[31m{}\u{1b}[0m", "x".repeat(1000)),
            plugin_id: "p".into(),
            seq,
        };
        let entries: Vec<LogEntry> = (1..=100).map(entry).collect();
        let refs: Vec<&LogEntry> = entries.iter().collect();
        let text = render_logs(&refs, 100);
        assert!(text.len() <= MAX_LOG_BYTES + 200, "{}", text.len());
        assert!(
            text.starts_with("63 of 100 matching lines"),
            "{}",
            &text[..80]
        );
        assert!(text.contains("older lines left out: 37"));
        assert!(text
            .trim_end()
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("100 "));
        assert!(!text.contains('\u{1b}'), "colours are stripped");
    }
}
