//! Typed events and the [`EventBus`] that fans them out to subscribers.
//!
//! Each subscriber has its own queue, bounded by events and by bytes (a log batch costs its
//! lines' bytes), so what waits for a slow subscriber is bounded by configuration whatever the
//! traffic. Publishing never waits: when a queue is over a bound its oldest log batches go
//! first (states and errors are kept while any log batch is left to drop), and the subscriber
//! is told how many events it missed ([`Received::Missed`]) before the next one. Log batches
//! are shared between subscribers, never copied.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::Stream;
use serde::Serialize;
use serde_json::Value;

use crate::types::{
    BuildErrorsPayload, DevServerMode, DevServerState, LogEntry, EVENT_DEV_RELOAD_COMPLETE,
    EVENT_DEV_RELOAD_ERROR, EVENT_DEV_RELOAD_START, EVENT_DEV_SERVER_ERROR, EVENT_DEV_SERVER_LOG,
    EVENT_DEV_SERVER_STATUS,
};

/// A batch of one plugin's log entries, oldest first; cloning it shares the entries.
#[derive(Debug, Clone, PartialEq)]
pub struct LogBatch(Arc<[LogEntry]>);

impl Serialize for LogBatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Deref for LogBatch {
    type Target = [LogEntry];

    fn deref(&self) -> &[LogEntry] {
        &self.0
    }
}

impl From<Vec<LogEntry>> for LogBatch {
    fn from(entries: Vec<LogEntry>) -> Self {
        Self(entries.into())
    }
}

impl From<Arc<[LogEntry]>> for LogBatch {
    fn from(entries: Arc<[LogEntry]>) -> Self {
        Self(entries)
    }
}

impl<'a> IntoIterator for &'a LogBatch {
    type Item = &'a LogEntry;
    type IntoIter = std::slice::Iter<'a, LogEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Events the engine publishes, each with the payload the Omniview frontend expects.
#[derive(Debug, Clone, PartialEq)]
pub enum DevServerEvent {
    /// `plugin/devserver/status`: one plugin's state changed.
    Status(DevServerState),
    /// `plugin/devserver/log`: a batch of log lines of one plugin, oldest first.
    Log(LogBatch),
    /// `plugin/devserver/error`: a Go build failed with these errors.
    BuildErrors(BuildErrorsPayload),
    /// `plugin/dev_reload_start`: the built-in host is about to relaunch the plugin; the
    /// payload is the plugin's metadata (`plugin.yaml`).
    ReloadStart(Value),
    /// `plugin/dev_reload_complete`: the relaunched plugin serves; plugin metadata.
    ReloadComplete(Value),
    /// `plugin/dev_reload_error`: a reload after a good build failed (the relaunch, or the
    /// host's `reload_plugin`); the payload is `[metadata, "error text"]`.
    ReloadError(Value, String),
}

impl DevServerEvent {
    /// The event name the frontend listens on.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status(_) => EVENT_DEV_SERVER_STATUS,
            Self::Log(_) => EVENT_DEV_SERVER_LOG,
            Self::BuildErrors(_) => EVENT_DEV_SERVER_ERROR,
            Self::ReloadStart(_) => EVENT_DEV_RELOAD_START,
            Self::ReloadComplete(_) => EVENT_DEV_RELOAD_COMPLETE,
            Self::ReloadError(..) => EVENT_DEV_RELOAD_ERROR,
        }
    }

    /// The payload exactly as the frontend receives it.
    pub fn payload(&self) -> Value {
        fn to_value<T: Serialize + ?Sized>(v: &T) -> Value {
            // Our own types always serialize; Null would only hide a bug in them.
            serde_json::to_value(v).unwrap_or(Value::Null)
        }
        match self {
            Self::Status(s) => to_value(s),
            Self::Log(entries) => to_value(&entries[..]),
            Self::BuildErrors(p) => to_value(p),
            Self::ReloadStart(meta) | Self::ReloadComplete(meta) => meta.clone(),
            Self::ReloadError(meta, error) => serde_json::json!([meta, error]),
        }
    }

    /// `{"name": ..., "data": ...}`, the CLI's NDJSON line.
    pub fn to_envelope(&self) -> Value {
        serde_json::json!({ "name": self.name(), "data": self.payload() })
    }

    /// Appends the envelope ([`Self::to_envelope`]) and a newline to `out`, serialised
    /// straight from the event: no intermediate JSON tree, so a log batch costs one pass.
    pub fn write_envelope(&self, out: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct Envelope<'a, T: Serialize + ?Sized> {
            name: &'static str,
            data: &'a T,
        }
        fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, name: &'static str, data: &T) {
            // Writing our own types into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &Envelope { name, data });
        }
        let name = self.name();
        match self {
            Self::Status(s) => write(out, name, s),
            Self::Log(entries) => {
                out.extend_from_slice(b"{\"name\":\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\",\"data\":");
                crate::log_json::write_log_entries(out, entries);
                out.push(b'}');
            }
            Self::BuildErrors(p) => write(out, name, p),
            Self::ReloadStart(meta) | Self::ReloadComplete(meta) => write(out, name, meta),
            Self::ReloadError(meta, error) => write(out, name, &(meta, error)),
        }
        out.push(b'\n');
    }

    /// The plugin the event is about.
    pub fn plugin_id(&self) -> Option<&str> {
        match self {
            Self::Status(s) => Some(&s.plugin_id),
            Self::Log(entries) => entries.first().map(|e| &*e.plugin_id),
            Self::BuildErrors(p) => Some(&p.plugin_id),
            Self::ReloadStart(meta) | Self::ReloadComplete(meta) | Self::ReloadError(meta, _) => {
                meta.get("id")?.as_str()
            }
        }
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// The next event.
    Event(DevServerEvent),
    /// The subscriber fell behind and this many events were dropped for it.
    Missed(u64),
}

/// Default number of events that may wait for one subscriber.
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;
/// Default bytes of events that may wait for one subscriber (8 MiB).
pub const DEFAULT_EVENT_BYTE_CAPACITY: usize = 8 * 1024 * 1024;
/// What an event costs on top of its log lines' text: the entry or state around it.
const EVENT_OVERHEAD: usize = 256;
/// What one log line costs on top of its text: its `LogEntry` (the plugin id is shared) and the
/// allocator's share of its message.
const LINE_OVERHEAD: usize = 96;

impl DevServerEvent {
    /// Bytes this event is counted for while it waits in a subscriber's queue.
    fn queued_cost(&self) -> usize {
        match self {
            Self::Log(entries) => entries
                .iter()
                .map(|e| e.message.len() + LINE_OVERHEAD)
                .sum::<usize>()
                .saturating_add(EVENT_OVERHEAD),
            Self::BuildErrors(p) => p
                .errors
                .iter()
                .map(|e| e.file.len() + e.message.len() + LINE_OVERHEAD)
                .sum::<usize>()
                .saturating_add(EVENT_OVERHEAD),
            _ => EVENT_OVERHEAD,
        }
    }
}

/// One subscriber's queue.
#[derive(Default)]
struct Queue {
    events: VecDeque<(DevServerEvent, usize)>,
    bytes: usize,
    missed: u64,
    closed: bool,
    waker: Option<Waker>,
}

impl Queue {
    /// Drops the oldest log batch, or the oldest event when no log batch waits.
    fn drop_oldest(&mut self) {
        let at = self
            .events
            .iter()
            .position(|(e, _)| matches!(e, DevServerEvent::Log(_)))
            .unwrap_or(0);
        if let Some((_, cost)) = self.events.remove(at) {
            self.bytes -= cost;
            self.missed += 1;
        }
    }
}

fn lock(q: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // A panic while holding the lock leaves a consistent queue: keep using it.
    q.lock().unwrap_or_else(|e| e.into_inner())
}

/// The subscribers of one bus; when the last [`EventBus`] handle goes, their streams end.
struct Subscribers {
    queues: Mutex<Vec<Arc<Mutex<Queue>>>>,
    max_events: usize,
    max_bytes: usize,
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        let queues = self.queues.get_mut().unwrap_or_else(|e| e.into_inner());
        for q in queues.iter() {
            let mut q = lock(q);
            q.closed = true;
            if let Some(w) = q.waker.take() {
                w.wake();
            }
        }
    }
}

/// Broadcasts events to every subscriber without ever blocking the publisher.
#[derive(Clone)]
pub struct EventBus {
    subscribers: Arc<Subscribers>,
    /// The last published state of every plugin that is not idle (see [`EventBus::states`]).
    published: Arc<Mutex<BTreeMap<String, DevServerState>>>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("max_events", &self.subscribers.max_events)
            .field("max_bytes", &self.subscribers.max_bytes)
            .finish()
    }
}

impl EventBus {
    /// A bus on which `capacity` events (and [`DEFAULT_EVENT_BYTE_CAPACITY`] bytes) may wait
    /// for each subscriber.
    pub fn new(capacity: usize) -> Self {
        Self::with_limits(capacity, DEFAULT_EVENT_BYTE_CAPACITY)
    }

    /// A bus on which at most `max_events` events and `max_bytes` bytes of them may wait for
    /// each subscriber (the newest event is always kept).
    pub fn with_limits(max_events: usize, max_bytes: usize) -> Self {
        Self {
            subscribers: Arc::new(Subscribers {
                queues: Mutex::new(Vec::new()),
                max_events: max_events.max(1),
                max_bytes: max_bytes.max(1),
            }),
            published: Arc::default(),
        }
    }

    /// The last published state of each plugin with a dev server or an attachment, by id:
    /// what subscribers have seen, read without a message to the engine (so a busy engine
    /// never delays it). A plugin whose last state was `idle` is not listed.
    pub fn states(&self) -> Vec<DevServerState> {
        let published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        published.values().cloned().collect()
    }

    /// The last published state of `plugin_id`, unless it is idle.
    pub fn state(&self, plugin_id: &str) -> Option<DevServerState> {
        let published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        published.get(plugin_id).cloned()
    }

    /// Notes `state`, just returned by a start, unless a state of that plugin was published
    /// already: so that a list read right after the start shows the plugin even while its
    /// first status is still on the way (it replaces this one when it comes).
    pub fn note_started(&self, state: &DevServerState) {
        if state.mode == DevServerMode::Idle {
            return;
        }
        let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        published
            .entry(state.plugin_id.clone())
            .or_insert_with(|| state.clone());
    }

    /// Publishes an event; without subscribers it is dropped.
    pub fn publish(&self, event: DevServerEvent) {
        if let DevServerEvent::Status(state) = &event {
            let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            if state.mode == DevServerMode::Idle {
                published.remove(&state.plugin_id);
            } else {
                published.insert(state.plugin_id.clone(), state.clone());
            }
        }
        let cost = event.queued_cost();
        let subs = &self.subscribers;
        let mut queues = subs.queues.lock().unwrap_or_else(|e| e.into_inner());
        // A queue only the bus still holds belongs to a dropped stream.
        queues.retain(|q| Arc::strong_count(q) > 1);
        for q in queues.iter() {
            let mut q = lock(q);
            q.events.push_back((event.clone(), cost));
            q.bytes += cost;
            while q.events.len() > 1
                && (q.events.len() > subs.max_events || q.bytes > subs.max_bytes)
            {
                q.drop_oldest();
            }
            if let Some(w) = q.waker.take() {
                w.wake();
            }
        }
    }

    /// A stream of every event published from now on.
    pub fn subscribe(&self) -> EventStream {
        let queue = Arc::new(Mutex::new(Queue::default()));
        self.subscribers
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(queue.clone());
        EventStream { queue }
    }
}

/// A subscriber's stream of events; see [`Received`].
pub struct EventStream {
    queue: Arc<Mutex<Queue>>,
}

impl EventStream {
    /// The next item, or `None` once the engine is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for EventStream {
    type Item = Received;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Received>> {
        let mut q = lock(&self.queue);
        if q.missed > 0 {
            return Poll::Ready(Some(Received::Missed(std::mem::take(&mut q.missed))));
        }
        if let Some((event, cost)) = q.events.pop_front() {
            q.bytes -= cost;
            return Poll::Ready(Some(Received::Event(event)));
        }
        if q.closed {
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_published_states_follow_status_events_without_subscribers() {
        let bus = EventBus::new(8);
        let mut a = DevServerState::idle("a");
        a.mode = DevServerMode::Managed;
        let mut b = DevServerState::idle("b");
        b.mode = DevServerMode::External;
        bus.note_started(&a);
        assert_eq!(bus.states(), vec![a.clone()], "a start shows at once");
        bus.publish(DevServerEvent::Status(b.clone()));
        a.go_status = crate::types::DevProcessStatus::Ready;
        bus.publish(DevServerEvent::Status(a.clone()));
        let mut older = a.clone();
        older.go_status = crate::types::DevProcessStatus::Starting;
        bus.note_started(&older);
        assert_eq!(
            bus.states(),
            vec![a.clone(), b.clone()],
            "by id; a note never overrides"
        );
        bus.publish(DevServerEvent::Status(DevServerState::idle("a")));
        assert_eq!(bus.state("a"), None, "idle: gone");
        assert_eq!(bus.state("b"), Some(b));
    }

    use super::*;

    #[tokio::test]
    async fn a_slow_subscriber_is_told_what_it_missed_and_continues() {
        let bus = EventBus::new(2);
        let mut sub = bus.subscribe();
        for i in 0..5 {
            bus.publish(DevServerEvent::Status(DevServerState::idle(&format!(
                "p{i}"
            ))));
        }
        assert_eq!(sub.recv().await, Some(Received::Missed(3)));
        match sub.recv().await {
            Some(Received::Event(DevServerEvent::Status(s))) => assert_eq!(s.plugin_id, "p3"),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn log_batch(plugin: &str, lines: usize, len: usize) -> DevServerEvent {
        let entry = crate::types::LogEntry {
            timestamp: chrono::Utc::now(),
            source: crate::types::LogSource::Vite,
            level: crate::types::LogLevel::Info,
            message: "x".repeat(len),
            plugin_id: plugin.into(),
            seq: 1,
        };
        DevServerEvent::Log(vec![entry; lines].into())
    }

    #[tokio::test]
    async fn what_waits_for_a_stalled_subscriber_is_bounded_by_bytes_and_states_survive() {
        let bus = EventBus::with_limits(1_000_000, 1024 * 1024);
        let mut sub = bus.subscribe();
        bus.publish(DevServerEvent::Status(DevServerState::idle("first")));
        // 100 MB of lines, 10 times the bound: the queue never holds more than the bound.
        for _ in 0..1000 {
            bus.publish(log_batch("p", 1000, 100));
            let q = lock(&sub.queue);
            assert!(q.bytes <= 1024 * 1024, "{} bytes queued", q.bytes);
        }
        bus.publish(DevServerEvent::Status(DevServerState::idle("last")));
        let missed = match sub.recv().await {
            Some(Received::Missed(n)) => n,
            other => panic!("expected a missed count, got {other:?}"),
        };
        assert!(missed > 900, "{missed}");
        // The oldest state was kept (log batches went first), then the newest logs, then the
        // last state.
        match sub.recv().await {
            Some(Received::Event(DevServerEvent::Status(s))) => assert_eq!(s.plugin_id, "first"),
            other => panic!("unexpected {other:?}"),
        }
        let mut logs = 0;
        loop {
            match sub.recv().await {
                Some(Received::Event(DevServerEvent::Log(_))) => logs += 1,
                Some(Received::Event(DevServerEvent::Status(s))) => {
                    assert_eq!(s.plugin_id, "last");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(logs as u64 + missed, 1000);
    }

    #[tokio::test]
    async fn subscribers_share_batches_and_streams_end_with_the_bus() {
        let bus = EventBus::new(8);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(log_batch("p", 3, 10));
        let (
            Some(Received::Event(DevServerEvent::Log(x))),
            Some(Received::Event(DevServerEvent::Log(y))),
        ) = (a.recv().await, b.recv().await)
        else {
            panic!("both get the batch");
        };
        assert!(
            std::ptr::eq(x.as_ptr(), y.as_ptr()),
            "one copy of the entries"
        );
        drop(b);
        bus.publish(DevServerEvent::Status(DevServerState::idle("p")));
        assert_eq!(
            bus.subscribers.queues.lock().unwrap().len(),
            1,
            "dropped streams are forgotten"
        );
        drop(bus);
        assert!(matches!(
            a.recv().await,
            Some(Received::Event(DevServerEvent::Status(_)))
        ));
        assert_eq!(a.recv().await, None);
    }

    #[test]
    fn written_envelopes_equal_the_json_tree() {
        let entry = crate::types::LogEntry {
            timestamp: chrono::Utc::now(),
            source: crate::types::LogSource::Vite,
            level: crate::types::LogLevel::Warn,
            message: "quote \" and \u{1b}[1m escape".into(),
            plugin_id: "p".into(),
            seq: 7,
        };
        for ev in [
            DevServerEvent::Status(DevServerState::idle("p")),
            DevServerEvent::Log(vec![entry.clone(), entry].into()),
            DevServerEvent::ReloadStart(serde_json::json!({"id": "p"})),
            DevServerEvent::ReloadError(serde_json::json!({"id": "p"}), "exit 1".into()),
        ] {
            let mut out = Vec::new();
            ev.write_envelope(&mut out);
            assert_eq!(out.last(), Some(&b'\n'));
            let parsed: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed, ev.to_envelope());
        }
    }

    #[test]
    fn a_reload_error_carries_the_metadata_and_the_text() {
        let ev = DevServerEvent::ReloadError(
            serde_json::json!({"id": "p", "version": "1.0.0"}),
            "the plugin exited".into(),
        );
        let env = ev.to_envelope();
        assert_eq!(env["name"], "plugin/dev_reload_error");
        assert_eq!(
            env["data"],
            serde_json::json!([{"id": "p", "version": "1.0.0"}, "the plugin exited"])
        );
        assert_eq!(ev.plugin_id(), Some("p"));
    }

    #[test]
    fn envelope_has_name_and_data() {
        let ev = DevServerEvent::Status(DevServerState::idle("p"));
        let env = ev.to_envelope();
        assert_eq!(env["name"], "plugin/devserver/status");
        assert_eq!(env["data"]["pluginID"], "p");
    }
}
