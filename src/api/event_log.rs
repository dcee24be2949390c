//! The events the API serves: one bounded ring, filled from one bus subscription and read by
//! every stream client at its own pace. A slow client never slows the engine or the others:
//! when the ring has moved past it, it is told how many events it missed and goes on.
//!
//! Each kept event's payload is serialised once, by the first client that reads it (none:
//! never), and then only copied.
//! An event's SSE id is `<epoch>-<n>`: `n` counts this instance's events, `epoch` tells
//! instances apart, so that a client resuming across an ovdev restart gets everything the
//! new instance kept instead of nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use ovdev_actors::log_json::write_log_entries;
use tokio::sync::watch;

use crate::{DevServerEvent, Received};

/// Events kept by default.
pub const DEFAULT_MAX_EVENTS: usize = 4096;
/// Bytes of events kept by default (their serialised payloads and log lines).
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;
/// What an event other than a log batch is counted for: its JSON and the state behind it.
const EVENT_COST: usize = 1024;
/// What a log entry is counted for besides its message: the entry and its JSON fields.
const LOG_ENTRY_COST: usize = 256;
/// What [`EventLog::subscribe`] shows once the log is closed.
pub const CLOSED: u64 = u64::MAX;
/// The name of the event that tells a client how many events it missed.
pub const EVENTS_MISSED: &str = "ovdev/events_missed";

/// One kept event.
pub struct Kept {
    /// Its number in this instance, from 1.
    pub n: u64,
    pub name: &'static str,
    /// The plugin it is about (none: for everyone, like a missed-events notice).
    pub plugin: Option<Arc<str>>,
    /// The payload's JSON, made when first asked for.
    data: std::sync::OnceLock<Bytes>,
    /// The event itself, for log filters (`None` for a missed-events notice).
    pub event: Option<DevServerEvent>,
    cost: usize,
}

impl Kept {
    /// The payload's JSON (the `data` of `docs/events.md`).
    pub fn data(&self) -> &Bytes {
        self.data.get_or_init(|| match &self.event {
            Some(event) => payload_json(event),
            None => Bytes::new(),
        })
    }
}

/// What one read returned.
pub struct Batch {
    /// Events the reader missed because the ring moved past them.
    pub missed: u64,
    pub events: Vec<Arc<Kept>>,
}

struct Ring {
    events: VecDeque<Arc<Kept>>,
    /// The number of the next event.
    next: u64,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
}

impl Ring {
    fn first(&self) -> u64 {
        self.events.front().map_or(self.next, |e| e.n)
    }
}

/// See the module doc.
pub struct EventLog {
    ring: Mutex<Ring>,
    /// The number of the newest event; closed (dropped) when the server stops.
    newest: watch::Sender<u64>,
    epoch: String,
}

impl EventLog {
    /// An empty log keeping at most `max_events` events and `max_bytes` bytes.
    pub fn new(max_events: usize, max_bytes: usize, epoch: String) -> Self {
        Self {
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                next: 1,
                bytes: 0,
                max_events: max_events.max(1),
                max_bytes,
            }),
            newest: watch::Sender::new(0),
            epoch,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Ring) -> T) -> T {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut ring)
    }

    /// Keeps what the bus delivered, dropping the oldest events beyond the bounds.
    pub fn push(&self, received: Received) {
        let data = std::sync::OnceLock::new();
        let (name, plugin, event) = match received {
            Received::Event(event) => {
                let plugin = event.plugin_id().map(Arc::from);
                (event.name(), plugin, Some(event))
            }
            Received::Missed(count) => {
                let _ = data.set(Bytes::from(format!("{{\"count\":{count}}}")));
                (EVENTS_MISSED, None, None)
            }
        };
        // The entry and its JSON once serialised: the message about twice (text and JSON,
        // escapes aside) and the fields around it.
        let cost = match &event {
            Some(DevServerEvent::Log(entries)) => entries
                .iter()
                .map(|e| 2 * e.message.len() + LOG_ENTRY_COST)
                .sum::<usize>(),
            _ => EVENT_COST,
        };
        let n = self.with(|ring| {
            let n = ring.next;
            ring.next += 1;
            ring.bytes += cost;
            ring.events.push_back(Arc::new(Kept {
                n,
                name,
                plugin,
                data,
                event,
                cost,
            }));
            while ring.events.len() > ring.max_events
                || (ring.bytes > ring.max_bytes && ring.events.len() > 1)
            {
                if let Some(old) = ring.events.pop_front() {
                    ring.bytes -= old.cost;
                }
            }
            n
        });
        self.newest.send_replace(n);
    }

    /// The number the next event will get (a reader starting there sees only new events).
    pub fn next(&self) -> u64 {
        self.with(|ring| ring.next)
    }

    /// Events from number `from` on that `keep` accepts, at most about `max_bytes` of them;
    /// `from` is advanced past what was looked at.
    pub fn read(&self, from: &mut u64, max_bytes: usize, keep: impl Fn(&Kept) -> bool) -> Batch {
        self.with(|ring| {
            let first = ring.first();
            let missed = first.saturating_sub(*from);
            *from = (*from).max(first);
            let mut events = Vec::new();
            let mut bytes = 0;
            let skip = (*from - first) as usize;
            for e in ring.events.iter().skip(skip) {
                *from = e.n + 1;
                if keep(e) {
                    bytes += e.cost;
                    events.push(e.clone());
                    if bytes >= max_bytes {
                        break;
                    }
                }
            }
            Batch { missed, events }
        })
    }

    /// Watches the newest event's number (ends when the server stops).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// Ends every stream: the server is stopping (readers see [`CLOSED`]).
    pub fn close(&self) {
        self.newest.send_replace(CLOSED);
    }

    /// The SSE id of event `n`.
    pub fn id_of(&self, n: u64) -> String {
        format!("{}-{n}", self.epoch)
    }

    /// Where a client that last saw `last_event_id` starts: after it when it is this
    /// instance's; at the oldest kept event when it is another instance's (ovdev restarted:
    /// all the new instance kept is new to it); at the next event without one.
    pub fn resume_from(&self, last_event_id: Option<&str>) -> u64 {
        let Some(id) = last_event_id else {
            return self.next();
        };
        match id.split_once('-') {
            Some((epoch, n)) if epoch == self.epoch => match n.parse::<u64>() {
                Ok(n) => n.saturating_add(1).min(self.next()),
                Err(_) => self.next(),
            },
            _ => self.with(|ring| ring.first()),
        }
    }
}

/// The event's payload as JSON (the `data` of `docs/events.md`).
pub fn payload_json(event: &DevServerEvent) -> Bytes {
    let mut out = Vec::new();
    match event {
        DevServerEvent::Log(entries) => write_log_entries(&mut out, entries),
        other => {
            // Our own types always serialise into a Vec.
            let _ = serde_json::to_writer(&mut out, &other.payload());
        }
    }
    Bytes::from(out)
}

/// Appends one SSE frame: `id`, `event` and the one-line JSON `data`.
pub fn write_frame(out: &mut BytesMut, id: Option<&str>, name: &str, data: &[u8]) {
    out.reserve(data.len() + name.len() + 48);
    if let Some(id) = id {
        out.put_slice(b"id: ");
        out.put_slice(id.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(data);
    out.put_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DevServerState;

    fn status(id: &str) -> Received {
        Received::Event(DevServerEvent::Status(DevServerState::idle(id)))
    }

    #[test]
    fn a_reader_left_behind_is_told_what_it_missed() {
        let log = EventLog::new(3, usize::MAX, "e".into());
        let mut slow = log.next();
        for i in 0..5 {
            log.push(status(&format!("p{i}")));
        }
        let b = log.read(&mut slow, usize::MAX, |_| true);
        assert_eq!(b.missed, 2);
        let ids: Vec<_> = b
            .events
            .iter()
            .map(|e| e.plugin.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(ids, ["p2", "p3", "p4"]);
        assert_eq!(slow, 6);
        assert!(log.read(&mut slow, usize::MAX, |_| true).events.is_empty());
    }

    #[test]
    fn resumption_continues_after_the_last_id_of_this_instance_only() {
        let log = EventLog::new(10, usize::MAX, "abc".into());
        for i in 0..4 {
            log.push(status(&format!("p{i}")));
        }
        assert_eq!(log.resume_from(Some("abc-2")), 3);
        assert_eq!(log.resume_from(None), 5, "no id: only new events");
        assert_eq!(
            log.resume_from(Some("old-9")),
            1,
            "another instance: all kept"
        );
        assert_eq!(
            log.resume_from(Some("abc-99")),
            5,
            "never beyond the newest"
        );
        assert_eq!(log.resume_from(Some("abc-x")), 5);
    }

    #[test]
    fn memory_is_bounded_by_bytes_as_well_as_events() {
        let log = EventLog::new(1000, 2000, "e".into());
        for i in 0..100 {
            log.push(status(&format!("p{i}")));
        }
        let mut from = 1;
        let b = log.read(&mut from, usize::MAX, |_| true);
        assert!(b.events.len() < 10, "{}", b.events.len());
        assert_eq!(b.missed + b.events.len() as u64, 100);
        let mut out = BytesMut::new();
        write_frame(&mut out, Some("e-1"), "x", b"{}");
        assert_eq!(&out[..], b"id: e-1\nevent: x\ndata: {}\n\n");
    }
}
