//! Typed events and the [`EventBus`] that fans them out to subscribers.
//!
//! The bus is a bounded broadcast channel: publishing never waits, and a subscriber that falls
//! behind loses the oldest events and is told how many ([`Received::Missed`]) instead of
//! slowing the actors down.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use crate::types::{
    BuildErrorsPayload, DevServerState, LogEntry, EVENT_DEV_RELOAD_COMPLETE,
    EVENT_DEV_RELOAD_START, EVENT_DEV_SERVER_ERROR, EVENT_DEV_SERVER_LOG, EVENT_DEV_SERVER_STATUS,
};

/// Events the engine publishes, each with the payload the Omniview frontend expects.
#[derive(Debug, Clone, PartialEq)]
pub enum DevServerEvent {
    /// `plugin/devserver/status`: one plugin's state changed.
    Status(DevServerState),
    /// `plugin/devserver/log`: a batch of log lines of one plugin, oldest first.
    Log(Vec<LogEntry>),
    /// `plugin/devserver/error`: a Go build failed with these errors.
    BuildErrors(BuildErrorsPayload),
    /// `plugin/dev_reload_start`: the built-in host is about to relaunch the plugin; the
    /// payload is the plugin's metadata (`plugin.yaml`).
    ReloadStart(Value),
    /// `plugin/dev_reload_complete`: the relaunched plugin serves; plugin metadata.
    ReloadComplete(Value),
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
        }
    }

    /// The payload exactly as the frontend receives it.
    pub fn payload(&self) -> Value {
        fn to_value<T: Serialize>(v: &T) -> Value {
            // Our own types always serialize; Null would only hide a bug in them.
            serde_json::to_value(v).unwrap_or(Value::Null)
        }
        match self {
            Self::Status(s) => to_value(s),
            Self::Log(entries) => to_value(entries),
            Self::BuildErrors(p) => to_value(p),
            Self::ReloadStart(meta) | Self::ReloadComplete(meta) => meta.clone(),
        }
    }

    /// `{"name": ..., "data": ...}`, the CLI's NDJSON line.
    pub fn to_envelope(&self) -> Value {
        serde_json::json!({ "name": self.name(), "data": self.payload() })
    }

    /// The plugin the event is about.
    pub fn plugin_id(&self) -> Option<&str> {
        match self {
            Self::Status(s) => Some(&s.plugin_id),
            Self::Log(entries) => entries.first().map(|e| e.plugin_id.as_str()),
            Self::BuildErrors(p) => Some(&p.plugin_id),
            Self::ReloadStart(meta) | Self::ReloadComplete(meta) => meta.get("id")?.as_str(),
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

/// Default number of events a subscriber may lag behind before it starts missing events.
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

/// Broadcasts events to every subscriber without ever blocking the publisher.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<DevServerEvent>,
}

impl EventBus {
    /// A bus on which each subscriber may lag `capacity` events behind.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Publishes an event; without subscribers it is dropped.
    pub fn publish(&self, event: DevServerEvent) {
        let _ = self.tx.send(event);
    }

    /// A stream of every event published from now on.
    pub fn subscribe(&self) -> EventStream {
        EventStream {
            inner: BroadcastStream::new(self.tx.subscribe()),
        }
    }
}

/// A subscriber's stream of events; see [`Received`].
pub struct EventStream {
    inner: BroadcastStream<DevServerEvent>,
}

impl EventStream {
    /// The next item, or `None` once the engine is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        futures::StreamExt::next(self).await
    }
}

impl Stream for EventStream {
    type Item = Received;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Received>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|r| match r {
                Ok(ev) => Received::Event(ev),
                Err(BroadcastStreamRecvError::Lagged(n)) => Received::Missed(n),
            })
        })
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn envelope_has_name_and_data() {
        let ev = DevServerEvent::Status(DevServerState::idle("p"));
        let env = ev.to_envelope();
        assert_eq!(env["name"], "plugin/devserver/status");
        assert_eq!(env["data"]["pluginID"], "p");
    }
}
