//! `LogBufferActor`: one plugin's log ring, its sequence numbers, and batched log events.
//!
//! Lines arrive in batches ([`AppendLogs`], one per pipe read of a child) and leave in
//! batches: a flush is armed when the first line is pending and fires once after the flush
//! interval (or earlier, when a batch is full or an event must follow the lines). With nothing
//! pending no timer runs, so an idle plugin costs no wakeups. The buffer lives until its
//! plugin stops it ([`StopLogBuffer`]), then publishes what is pending and stops.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::events::{DevServerEvent, EventBus};
use crate::log_ring::LogRing;
use crate::types::{LogEntry, LogLevel, LogSource};

/// Keeps a plugin's logs and publishes them in batches (every interval or every N entries).
pub struct LogBufferActor {
    plugin_id: Arc<str>,
    ring: LogRing,
    /// Shared with the plugin's earlier and later buffers, so `seq` keeps increasing across
    /// restarts of the dev server.
    seq: Arc<AtomicU64>,
    pending: Vec<LogEntry>,
    /// Message bytes pending, so one batch never pins much memory after its eviction.
    pending_bytes: usize,
    /// The armed one-shot flush, while lines are pending.
    flush_timer: Option<SpawnHandle>,
    bus: EventBus,
    flush_interval: Duration,
    batch_max: usize,
}

/// A batch is published once its messages reach this many bytes (besides the entry cap), so an
/// evicted entry whose batch is still partly kept pins at most about this much.
const BATCH_MAX_BYTES: usize = 256 * 1024;

/// Log buffers alive in this process (made and not yet dropped): every stopped plugin must
/// give its buffer back, which tests check through [`live_log_buffers`].
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many log buffers are alive in this process.
pub fn live_log_buffers() -> usize {
    LIVE.load(Ordering::SeqCst)
}

impl LogBufferActor {
    /// A buffer for `plugin_id` with the given bounds and batching.
    pub fn new(
        plugin_id: &str,
        seq: Arc<AtomicU64>,
        bus: EventBus,
        capacity: usize,
        byte_cap: usize,
        flush_interval: Duration,
        batch_max: usize,
    ) -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Self {
            plugin_id: plugin_id.into(),
            ring: LogRing::new(capacity, byte_cap),
            seq,
            pending: Vec::new(),
            pending_bytes: 0,
            flush_timer: None,
            bus,
            flush_interval,
            batch_max: batch_max.max(1),
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.flush_timer.take() {
            ctx.cancel_future(timer);
        }
        self.publish_pending();
    }

    /// Moves the pending entries into the ring and publishes them: one shared batch for both.
    fn publish_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        // The next batch is likely the size of this one: room for it up front, not regrown.
        let room = self.pending.len();
        let batch: Arc<[LogEntry]> =
            std::mem::replace(&mut self.pending, Vec::with_capacity(room)).into();
        self.pending_bytes = 0;
        self.ring.push_batch(batch.clone());
        self.bus.publish(DevServerEvent::Log(batch.into()));
    }

    fn batch_full(&self) -> bool {
        self.pending.len() >= self.batch_max || self.pending_bytes >= BATCH_MAX_BYTES
    }

    /// The last entries, kept and pending, oldest first: at most `limit` (`None`: all).
    fn last(&self, limit: Option<usize>) -> Vec<LogEntry> {
        let all = self.ring.len() + self.pending.len();
        let kept = all.min(self.ring.max_entries());
        let n = limit.map_or(kept, |limit| limit.min(kept));
        self.ring
            .iter()
            .chain(self.pending.iter())
            .skip(all - n)
            .cloned()
            .collect()
    }

    fn append(&mut self, source: LogSource, level: LogLevel, message: String, now: DateTime<Utc>) {
        let entry = LogEntry {
            timestamp: now,
            source,
            level,
            message,
            plugin_id: self.plugin_id.clone(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
        };
        self.pending_bytes += LogRing::cost(&entry);
        self.pending.push(entry);
    }

    /// After lines were appended: publish a full batch now, or arm the one-shot flush.
    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if self.batch_full() {
            self.flush(ctx);
        } else if !self.pending.is_empty() && self.flush_timer.is_none() {
            self.flush_timer = Some(ctx.run_later(self.flush_interval, |act, ctx| {
                act.flush_timer = None;
                act.flush(ctx);
            }));
        }
    }
}

impl Actor for LogBufferActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        self.publish_pending();
    }
}

impl Drop for LogBufferActor {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Appends one line; the buffer stamps it with the time of arrival and the next `seq`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct AppendLog {
    pub source: LogSource,
    pub level: LogLevel,
    pub message: String,
}

impl Handler<AppendLog> for LogBufferActor {
    type Result = ();

    fn handle(&mut self, msg: AppendLog, ctx: &mut Self::Context) {
        self.append(msg.source, msg.level, msg.message, Utc::now());
        self.schedule_flush(ctx);
    }
}

/// Appends lines of one source in order, all stamped with the time they arrived.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct AppendLogs {
    pub source: LogSource,
    pub lines: Vec<(LogLevel, String)>,
}

impl Handler<AppendLogs> for LogBufferActor {
    type Result = ();

    fn handle(&mut self, msg: AppendLogs, ctx: &mut Self::Context) {
        let now = Utc::now();
        for (level, message) in msg.lines {
            self.append(msg.source, level, message, now);
            if self.batch_full() {
                self.flush(ctx);
            }
        }
        self.schedule_flush(ctx);
    }
}

/// Publishes what is pending and stops the buffer: the end of its plugin's dev server.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct StopLogBuffer;

impl Handler<StopLogBuffer> for LogBufferActor {
    type Result = ();

    fn handle(&mut self, _: StopLogBuffer, ctx: &mut Self::Context) {
        self.flush(ctx);
        ctx.stop();
    }
}

/// The last entries, oldest first: at most this many (`None`: all that are kept).
#[derive(Message, Debug)]
#[rtype(result = "Vec<LogEntry>")]
pub struct GetLogs(pub Option<usize>);

impl Handler<GetLogs> for LogBufferActor {
    type Result = MessageResult<GetLogs>;

    fn handle(&mut self, msg: GetLogs, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.last(msg.0))
    }
}

/// Publishes pending entries now (before a stop, so nothing is lost).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct FlushLogs;

impl Handler<FlushLogs> for LogBufferActor {
    type Result = ();

    fn handle(&mut self, _: FlushLogs, ctx: &mut Self::Context) {
        self.flush(ctx);
    }
}

/// Publishes `event` after every log line received before it, so that a plugin's events
/// reach subscribers in the order they happened (a status after the lines that led to it).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct PublishInOrder(pub DevServerEvent);

impl Handler<PublishInOrder> for LogBufferActor {
    type Result = ();

    fn handle(&mut self, msg: PublishInOrder, ctx: &mut Self::Context) {
        self.flush(ctx);
        self.bus.publish(msg.0);
    }
}

/// A cheap handle children use to log into their plugin's buffer; never blocks.
#[derive(Clone)]
pub struct LogSink {
    addr: Addr<LogBufferActor>,
    source: LogSource,
}

impl LogSink {
    /// Logs through `addr` with `source`.
    pub fn new(addr: Addr<LogBufferActor>, source: LogSource) -> Self {
        Self { addr, source }
    }

    /// The same buffer with another source.
    pub fn with_source(&self, source: LogSource) -> Self {
        Self::new(self.addr.clone(), source)
    }

    /// Appends a line at `level`.
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        // do_send ignores mailbox capacity: a child's output is never held back here.
        self.addr.do_send(AppendLog {
            source: self.source,
            level,
            message: message.into(),
        });
    }

    /// Appends lines in order, in one message; nothing is sent for an empty batch.
    pub fn log_batch(&self, lines: Vec<(LogLevel, String)>) {
        if !lines.is_empty() {
            self.addr.do_send(AppendLogs {
                source: self.source,
                lines,
            });
        }
    }

    /// Appends an info line.
    pub fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message);
    }

    /// Appends a warning.
    pub fn warn(&self, message: impl Into<String>) {
        self.log(LogLevel::Warn, message);
    }

    /// Appends an error.
    pub fn error(&self, message: impl Into<String>) {
        self.log(LogLevel::Error, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Received;

    /// A started buffer of plugin `p` keeping `capacity` entries (no byte cap).
    fn buffer(
        bus: EventBus,
        capacity: usize,
        flush_interval: Duration,
        batch_max: usize,
    ) -> Addr<LogBufferActor> {
        LogBufferActor::new(
            "p",
            Arc::default(),
            bus,
            capacity,
            usize::MAX,
            flush_interval,
            batch_max,
        )
        .start()
    }

    #[actix::test]
    async fn batches_in_order_with_increasing_seq_and_answers_queries() {
        let bus = EventBus::new(64);
        let mut sub = bus.subscribe();
        let addr = buffer(bus.clone(), 3, Duration::from_millis(50), 1000);
        let sink = LogSink::new(addr.clone(), LogSource::Vite);
        for i in 0..5 {
            sink.info(format!("line {i}"));
        }
        let batch = match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Log(b)))) => b,
            other => panic!("expected a log batch, got {other:?}"),
        };
        let seqs: Vec<u64> = batch.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        assert_eq!(&*batch[0].plugin_id, "p");
        let kept = addr.send(GetLogs(None)).await.unwrap();
        assert_eq!(
            kept.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["line 2", "line 3", "line 4"]
        );
        assert_eq!(addr.send(GetLogs(Some(1))).await.unwrap()[0].seq, 5);
    }

    #[actix::test]
    async fn a_full_batch_is_flushed_before_the_interval() {
        let bus = EventBus::new(64);
        let mut sub = bus.subscribe();
        let addr = buffer(bus, 10, Duration::from_secs(3600), 2);
        let sink = LogSink::new(addr, LogSource::Manager);
        sink.info("a");
        sink.info("b");
        match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Log(b)))) => assert_eq!(b.len(), 2),
            other => panic!("expected a log batch, got {other:?}"),
        }
    }

    #[actix::test]
    async fn a_batch_keeps_its_order_and_a_stop_publishes_what_is_pending() {
        let bus = EventBus::new(64);
        let mut sub = bus.subscribe();
        let addr = buffer(bus, 100, Duration::from_secs(3600), 1000);
        let sink = LogSink::new(addr.clone(), LogSource::Plugin);
        sink.log_batch(vec![
            (LogLevel::Info, "one".into()),
            (LogLevel::Warn, "two".into()),
        ]);
        sink.log_batch(vec![]);
        sink.error("three");
        // The flush interval is an hour: only the stop publishes them.
        addr.send(StopLogBuffer).await.unwrap();
        let batch = match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Log(b)))) => b,
            other => panic!("expected a log batch, got {other:?}"),
        };
        let got: Vec<(&str, LogLevel, u64)> = batch
            .iter()
            .map(|e| (e.message.as_str(), e.level, e.seq))
            .collect();
        assert_eq!(
            got,
            [
                ("one", LogLevel::Info, 1),
                ("two", LogLevel::Warn, 2),
                ("three", LogLevel::Error, 3)
            ]
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while addr.connected() {
            assert!(std::time::Instant::now() < deadline, "the buffer stopped");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[actix::test]
    async fn pending_lines_are_flushed_once_after_the_interval() {
        let bus = EventBus::new(64);
        let mut sub = bus.subscribe();
        let addr = buffer(bus, 100, Duration::from_millis(30), 1000);
        let sink = LogSink::new(addr, LogSource::Vite);
        sink.info("a");
        sink.info("b");
        match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Log(b)))) => assert_eq!(b.len(), 2),
            other => panic!("expected one batch of both lines, got {other:?}"),
        }
        // Nothing pending: no further event, however long we wait.
        assert!(tokio::time::timeout(Duration::from_millis(200), sub.recv())
            .await
            .is_err());
        sink.info("c");
        match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Log(b)))) => assert_eq!(b[0].message, "c"),
            other => panic!("expected the next line, got {other:?}"),
        }
    }
}
