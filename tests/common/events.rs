//! Waiting for engine events with deadlines, and looking back at what was seen.

use std::time::{Duration, Instant};

use omniview_devserver::{DevProcessStatus, DevServerEvent, DevServerState, EventStream, Received};

use super::HANG;

/// Every event a test saw, so later assertions can look back.
pub struct Recorder {
    pub stream: EventStream,
    pub seen: Vec<DevServerEvent>,
}

impl Recorder {
    pub fn new(stream: EventStream) -> Self {
        Self {
            stream,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for an event matching `pred`; panics with what was seen.
    pub async fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        mut pred: impl FnMut(&DevServerEvent) -> bool,
    ) -> DevServerEvent {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.recv()).await {
                Ok(Some(Received::Event(ev))) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Ok(Some(Received::Missed(n))) => panic!("test subscriber missed {n} events"),
                Ok(None) => panic!("event stream closed while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}; log:\n{}", self.log_text()),
            }
        }
    }

    /// Like `wait_for`, but an event already seen counts too.
    pub async fn seen_or_wait(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&DevServerEvent) -> bool,
    ) -> DevServerEvent {
        if let Some(ev) = self.seen.iter().find(|e| pred(e)) {
            return ev.clone();
        }
        self.wait_for(what, HANG, pred).await
    }

    /// Waits for a status of `id` matching `pred` and returns it.
    pub async fn wait_status(
        &mut self,
        id: &str,
        what: &str,
        mut pred: impl FnMut(&DevServerState) -> bool,
    ) -> DevServerState {
        match self
            .wait_for(
                what,
                HANG,
                |ev| matches!(ev, DevServerEvent::Status(s) if s.plugin_id == id && pred(s)),
            )
            .await
        {
            DevServerEvent::Status(s) => s,
            _ => unreachable!(),
        }
    }

    /// Waits for a `plugin/dev_reload_error` event; returns its metadata and text.
    pub async fn wait_reload_error(&mut self) -> (serde_json::Value, String) {
        match self
            .wait_for("a reload error", HANG, |ev| {
                matches!(ev, DevServerEvent::ReloadError(..))
            })
            .await
        {
            DevServerEvent::ReloadError(meta, error) => (meta, error),
            _ => unreachable!(),
        }
    }

    /// Waits for a build of `id` to start and then to end; returns the state it ended in.
    pub async fn wait_build(&mut self, id: &str, what: &str) -> DevServerState {
        self.wait_status(id, what, |s| s.go_status == DevProcessStatus::Building)
            .await;
        self.wait_status(id, what, |s| s.go_status != DevProcessStatus::Building)
            .await
    }

    /// Collects whatever arrives within `quiet` (to assert that nothing more happens).
    pub async fn drain(&mut self, quiet: Duration) {
        while let Ok(Some(Received::Event(ev))) =
            tokio::time::timeout(quiet, self.stream.recv()).await
        {
            self.seen.push(ev);
        }
    }

    /// Every log message seen so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                DevServerEvent::Log(entries) => Some(entries.iter().map(|e| e.message.clone())),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn log_text(&self) -> String {
        self.log_lines().join("\n")
    }

    /// How many builds were started (the `$ go build` lines) among events seen so far.
    pub fn builds_started(&self) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.starts_with("$ ") && l.contains(" build -o ") && l.ends_with(" ./pkg"))
            .count()
    }
}
