//! The two Server-Sent-Events streams: all events (`/events`) and one plugin's logs
//! (`/plugins/{id}/logs/stream`). Both read the shared [`EventLog`] at their client's pace.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures::StreamExt as _;
use ovdev_actors::log_json::write_log_entries;
use tokio::sync::watch;

use super::error::ApiError;
use super::event_log::{write_frame, EventLog, Kept, CLOSED, EVENTS_MISSED};
use super::routes::LogsQuery;
use crate::{DevServerEvent, LogEntry};

/// About how much one write to a client carries.
const CHUNK_BYTES: usize = 256 * 1024;
/// A comment line this often keeps idle connections (and proxies) open.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// The event names a filter may name.
const EVENT_NAMES: &[&str] = &[
    ovdev_actors::types::EVENT_DEV_SERVER_STATUS,
    ovdev_actors::types::EVENT_DEV_SERVER_LOG,
    ovdev_actors::types::EVENT_DEV_SERVER_ERROR,
    ovdev_actors::types::EVENT_DEV_RELOAD_START,
    ovdev_actors::types::EVENT_DEV_RELOAD_COMPLETE,
    ovdev_actors::types::EVENT_DEV_RELOAD_ERROR,
    EVENTS_MISSED,
];

/// Which events a client of `/events` wants.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    plugin: Option<String>,
    names: Option<Vec<&'static str>>,
}

impl EventFilter {
    /// From the query: a valid plugin id, known event names.
    pub fn parse(plugin: Option<String>, names: Option<String>) -> Result<Self, ApiError> {
        if let Some(p) = &plugin {
            ovdev_actors::plugin_id::validate_plugin_id(p).map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid_id",
                    e.to_string(),
                )
            })?;
        }
        let names = match names {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|n| {
                        EVENT_NAMES
                            .iter()
                            .copied()
                            .find(|k| *k == n.trim())
                            .ok_or_else(|| {
                                ApiError::bad_request(format!(
                                    "unknown event name `{}`; known: {}",
                                    n.escape_debug(),
                                    EVENT_NAMES.join(", ")
                                ))
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Self { plugin, names })
    }

    fn keeps(&self, e: &Kept) -> bool {
        let name_ok = self.names.as_ref().is_none_or(|n| n.contains(&e.name));
        let plugin_ok = match (&self.plugin, &e.plugin) {
            (None, _) | (_, None) => true,
            (Some(want), Some(got)) => **got == **want,
        };
        name_ok && plugin_ok
    }
}

/// What a stream does between writes.
struct Follow {
    log: Arc<EventLog>,
    newest: watch::Receiver<u64>,
    cursor: u64,
}

impl Follow {
    fn new(log: Arc<EventLog>, cursor: u64) -> Self {
        let newest = log.subscribe();
        Self {
            log,
            newest,
            cursor,
        }
    }

    /// The next chunk for the client: `render` turns what the ring holds beyond the cursor
    /// into bytes (empty: nothing for this client). `None` ends the stream (server stopping).
    async fn next(
        &mut self,
        mut render: impl FnMut(&EventLog, &mut u64) -> BytesMut,
    ) -> Option<Bytes> {
        loop {
            if *self.newest.borrow_and_update() == CLOSED {
                return None;
            }
            let out = render(&self.log, &mut self.cursor);
            if !out.is_empty() {
                return Some(out.freeze());
            }
            tokio::select! {
                changed = self.newest.changed() => if changed.is_err() { return None },
                () = tokio::time::sleep(KEEPALIVE) => return Some(Bytes::from_static(b": keepalive\n\n")),
            }
        }
    }
}

fn missed_frame(out: &mut BytesMut, count: u64) {
    write_frame(
        out,
        None,
        EVENTS_MISSED,
        format!("{{\"count\":{count}}}").as_bytes(),
    );
}

fn sse(body: Body) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// `/events` from event number `cursor` on.
pub fn events(log: Arc<EventLog>, cursor: u64, filter: EventFilter) -> Response {
    let follow = Follow::new(log, cursor);
    let stream = futures::stream::unfold((follow, filter), |(mut f, filter)| async move {
        let chunk = f
            .next(|log, cursor| {
                let batch = log.read(cursor, CHUNK_BYTES, |e| filter.keeps(e));
                let mut out = BytesMut::new();
                if batch.missed > 0 {
                    missed_frame(&mut out, batch.missed);
                }
                for e in &batch.events {
                    write_frame(&mut out, Some(&log.id_of(e.n)), e.name, e.data());
                }
                out
            })
            .await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), (f, filter)))
    });
    sse(Body::from_stream(stream))
}

/// Appends one `plugin/devserver/log` frame of `entries` (id: the last one's seq).
fn log_frame(out: &mut BytesMut, entries: &[LogEntry]) {
    let Some(last) = entries.last() else { return };
    let mut data = Vec::new();
    write_log_entries(&mut data, entries);
    write_frame(
        out,
        Some(&last.seq.to_string()),
        ovdev_actors::types::EVENT_DEV_SERVER_LOG,
        &data,
    );
}

/// At most `per_window` lines in each 100 ms: what a page can show under a flood. Lines
/// beyond it are counted, and the newest of each batch are the ones kept.
pub struct RateCap {
    per_window: usize,
    window_start: std::time::Instant,
    sent: usize,
    /// Lines left out since the last `ovdev/lines_skipped` frame.
    skipped: u64,
}

/// The window of a [`RateCap`].
const RATE_WINDOW: Duration = Duration::from_millis(100);
/// The name of the frame that says how many lines a rate cap left out.
pub const LINES_SKIPPED: &str = "ovdev/lines_skipped";

impl RateCap {
    /// A cap of `per_second` lines a second.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_window: (per_second as usize / 10).max(1),
            window_start: std::time::Instant::now(),
            sent: 0,
            skipped: 0,
        }
    }

    /// How many of `n` new lines may go now (the caller keeps the newest that many).
    pub fn allow(&mut self, n: usize, now: std::time::Instant) -> usize {
        if now.duration_since(self.window_start) >= RATE_WINDOW {
            self.window_start = now;
            self.sent = 0;
        }
        let allowed = n.min(self.per_window - self.sent);
        self.sent += allowed;
        self.skipped += (n - allowed) as u64;
        allowed
    }

    /// The count of lines left out since the last call.
    pub fn take_skipped(&mut self) -> u64 {
        std::mem::take(&mut self.skipped)
    }
}

/// What a log stream client has seen, and what it wants.
struct LogFollower {
    plugin: String,
    filter: LogsQuery,
    last_seq: u64,
    cap: Option<RateCap>,
}

impl LogFollower {
    /// The frames of the plugin's log events from `cursor` on.
    fn render(&mut self, log: &EventLog, cursor: &mut u64) -> BytesMut {
        let plugin = self.plugin.as_str();
        let batch = log.read(cursor, CHUNK_BYTES, |e| {
            e.name == ovdev_actors::types::EVENT_DEV_SERVER_LOG
                && e.plugin.as_deref() == Some(plugin)
        });
        let mut out = BytesMut::new();
        if batch.missed > 0 {
            missed_frame(&mut out, batch.missed);
        }
        for e in &batch.events {
            let Some(DevServerEvent::Log(entries)) = &e.event else {
                continue;
            };
            let unfiltered = self.filter.level.is_none() && self.filter.source.is_none();
            if let (true, None, Some(a), Some(z)) =
                (unfiltered, &self.cap, entries.first(), entries.last())
            {
                if a.seq > self.last_seq {
                    // Every entry is new: the payload serialised once will do.
                    self.last_seq = z.seq;
                    write_frame(&mut out, Some(&z.seq.to_string()), e.name, e.data());
                    continue;
                }
            }
            let mut fresh: Vec<LogEntry> = entries
                .iter()
                .filter(|x| x.seq > self.last_seq && self.filter.keeps(x))
                .cloned()
                .collect();
            if let Some(x) = entries.last() {
                self.last_seq = self.last_seq.max(x.seq);
            }
            if let Some(cap) = &mut self.cap {
                let allowed = cap.allow(fresh.len(), std::time::Instant::now());
                fresh.drain(..fresh.len() - allowed);
                let skipped = if fresh.is_empty() {
                    0
                } else {
                    cap.take_skipped()
                };
                if skipped > 0 {
                    let data = format!("{{\"count\":{skipped}}}");
                    write_frame(&mut out, None, LINES_SKIPPED, data.as_bytes());
                }
            }
            log_frame(&mut out, &fresh);
        }
        out
    }
}

/// One plugin's logs: the `kept` entries after `filter.since`, then new ones from event
/// number `cursor` on, each entry once; with `max_rate`, at most that many lines a second.
pub fn logs(
    log: Arc<EventLog>,
    cursor: u64,
    plugin: String,
    filter: LogsQuery,
    kept: Vec<LogEntry>,
    max_rate: Option<u32>,
) -> Response {
    let mut last_seq = filter.since.unwrap_or(0);
    let mut first = BytesMut::new();
    let backlog: Vec<LogEntry> = kept
        .into_iter()
        .filter(|e| e.seq > last_seq && filter.keeps(e))
        .collect();
    for part in backlog.chunks(1000) {
        log_frame(&mut first, part);
    }
    if let Some(e) = backlog.last() {
        last_seq = e.seq;
    }
    let follower = LogFollower {
        plugin,
        filter,
        last_seq,
        cap: max_rate.map(RateCap::new),
    };
    let follow = Follow::new(log, cursor);
    let head = futures::stream::iter((!first.is_empty()).then(|| Ok(first.freeze())));
    let tail = futures::stream::unfold((follow, follower), |(mut f, mut follower)| async move {
        let chunk = f.next(|log, cursor| follower.render(log, cursor)).await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), (f, follower)))
    });
    sse(Body::from_stream(head.chain(tail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_cap_lets_a_window_full_through_and_counts_the_rest() {
        let mut cap = RateCap::new(5000);
        let t0 = std::time::Instant::now();
        assert_eq!(cap.allow(300, t0), 300);
        assert_eq!(cap.allow(300, t0), 200, "500 per 100 ms");
        assert_eq!(cap.allow(10, t0), 0);
        assert_eq!(cap.take_skipped(), 110);
        assert_eq!(cap.take_skipped(), 0);
        assert_eq!(cap.allow(10, t0 + RATE_WINDOW), 10, "a new window");
    }
}
