//! `LogBufferActor`: one plugin's log ring, its sequence numbers, and batched log events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use crate::events::{DevServerEvent, EventBus};
use crate::log_ring::LogRing;
use crate::types::{LogEntry, LogLevel, LogSource};

/// Keeps a plugin's logs and publishes them in batches (every interval or every N entries).
pub struct LogBufferActor {
    plugin_id: String,
    ring: LogRing,
    /// Shared with the plugin's earlier and later buffers, so `seq` keeps increasing across
    /// restarts of the dev server.
    seq: Arc<AtomicU64>,
    pending: Vec<LogEntry>,
    bus: EventBus,
    flush_interval: Duration,
    batch_max: usize,
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
        Self {
            plugin_id: plugin_id.to_string(),
            ring: LogRing::new(capacity, byte_cap),
            seq,
            pending: Vec::new(),
            bus,
            flush_interval,
            batch_max: batch_max.max(1),
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.bus
                .publish(DevServerEvent::Log(std::mem::take(&mut self.pending)));
        }
    }
}

impl Actor for LogBufferActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.flush_interval, |act, _| act.flush());
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.flush();
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

    fn handle(&mut self, msg: AppendLog, _: &mut Self::Context) {
        let entry = LogEntry {
            timestamp: Utc::now(),
            source: msg.source,
            level: msg.level,
            message: msg.message,
            plugin_id: self.plugin_id.clone(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
        };
        self.ring.push(entry.clone());
        self.pending.push(entry);
        if self.pending.len() >= self.batch_max {
            self.flush();
        }
    }
}

/// The last `count` entries, oldest first (`count <= 0`: all).
#[derive(Message, Debug)]
#[rtype(result = "Vec<LogEntry>")]
pub struct GetLogs(pub i64);

impl Handler<GetLogs> for LogBufferActor {
    type Result = MessageResult<GetLogs>;

    fn handle(&mut self, msg: GetLogs, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.ring.last(msg.0))
    }
}

/// Publishes pending entries now (before a stop, so nothing is lost).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct FlushLogs;

impl Handler<FlushLogs> for LogBufferActor {
    type Result = ();

    fn handle(&mut self, _: FlushLogs, _: &mut Self::Context) {
        self.flush();
    }
}

/// Publishes `event` after every log line received before it, so that a plugin's events
/// reach subscribers in the order they happened (a status after the lines that led to it).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct PublishInOrder(pub DevServerEvent);

impl Handler<PublishInOrder> for LogBufferActor {
    type Result = ();

    fn handle(&mut self, msg: PublishInOrder, _: &mut Self::Context) {
        self.flush();
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

    #[actix::test]
    async fn batches_in_order_with_increasing_seq_and_answers_queries() {
        let bus = EventBus::new(64);
        let mut sub = bus.subscribe();
        let addr = LogBufferActor::new(
            "p",
            Arc::default(),
            bus.clone(),
            3,
            usize::MAX,
            Duration::from_millis(50),
            1000,
        )
        .start();
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
        assert_eq!(batch[0].plugin_id, "p");
        let kept = addr.send(GetLogs(0)).await.unwrap();
        assert_eq!(
            kept.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["line 2", "line 3", "line 4"]
        );
        assert_eq!(addr.send(GetLogs(1)).await.unwrap()[0].seq, 5);
    }

    #[actix::test]
    async fn a_full_batch_is_flushed_before_the_interval() {
        let bus = EventBus::new(64);
        let mut sub = bus.subscribe();
        let addr = LogBufferActor::new(
            "p",
            Arc::default(),
            bus,
            10,
            usize::MAX,
            Duration::from_secs(3600),
            2,
        )
        .start();
        let sink = LogSink::new(addr, LogSource::Manager);
        sink.info("a");
        sink.info("b");
        match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Log(b)))) => assert_eq!(b.len(), 2),
            other => panic!("expected a log batch, got {other:?}"),
        }
    }
}
