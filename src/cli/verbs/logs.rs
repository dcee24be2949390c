//! `ovdev logs`: kept lines, and with `-f` the stream that follows.

use std::io::Write as _;

use futures::StreamExt as _;
use omniview_devserver::{LogEntry, LogLevel};
use ovdev_actors::ansi::strip_ansi;

use super::{decode, local_time, Outcome};
use crate::cli::args::LogsArgs;
use crate::cli::instance::client_for;

fn logs_query(a: &LogsArgs, since: Option<u64>, tail: bool) -> String {
    let mut q = Vec::new();
    if let Some(s) = since {
        q.push(format!("since={s}"));
    }
    if let (true, Some(t)) = (tail, a.tail) {
        q.push(format!("tail={t}"));
    }
    if let Some(l) = &a.level {
        q.push(format!("level={l}"));
    }
    if let Some(s) = &a.source {
        q.push(format!("source={s}"));
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

fn print_entries(entries: &[LogEntry], json: bool, colour_ok: bool) {
    let mut out = std::io::stdout().lock();
    for e in entries {
        if json {
            let _ = serde_json::to_writer(&mut out, e);
            let _ = out.write_all(b"\n");
            continue;
        }
        let msg = if colour_ok {
            e.message.as_str().into()
        } else {
            strip_ansi(&e.message)
        };
        let level = match e.level {
            LogLevel::Warn => "WARN ",
            LogLevel::Error => "ERROR ",
            _ => "",
        };
        let _ = writeln!(
            out,
            "{} [{}] {level}{msg}",
            local_time(e.timestamp),
            e.source.as_str()
        );
    }
    let _ = out.flush();
}

pub(super) async fn logs(a: LogsArgs) -> Outcome {
    let (client, _, id) = client_for(&a.common, a.id.as_deref())?;
    let colour_ok = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let mut since = a.since;
    if !a.follow || a.tail.is_some() {
        let path = format!("/api/v1/plugins/{id}/logs{}", logs_query(&a, since, true));
        let entries: Vec<LogEntry> = client.get_json(&path).await?;
        print_entries(&entries, a.common.json, colour_ok);
        if !a.follow {
            return Ok(0);
        }
        since = entries.last().map(|e| e.seq).or(since).or(Some(0));
    }
    let path = format!(
        "/api/v1/plugins/{id}/logs/stream{}",
        logs_query(&a, since, false)
    );
    let mut stream = client.stream(&path).await?;
    while let Some(ev) = stream.next().await {
        let ev = ev?;
        if ev.event == "ovdev/events_missed" {
            eprintln!(
                "ovdev: this reader fell behind; some lines were skipped ({})",
                ev.data
            );
            continue;
        }
        let entries: Vec<LogEntry> = decode(ev.data.as_bytes())?;
        print_entries(&entries, a.common.json, colour_ok);
    }
    Ok(0)
}
