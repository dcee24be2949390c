//! The printer's own thread. A stdout or stderr that nobody reads (a paused terminal, a wedged
//! IDE pipe) can stall only this thread: signals, the engine and the shutdown go on, the
//! engine's bounded queue drops what the printer cannot take and says so in the stream.

use std::time::Duration;

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use omniview_devserver::EventStream;

use super::output::Printer;

enum Control {
    Note(String),
    /// Print what is already queued, then end.
    Finish,
}

/// Handle on the printer thread.
pub struct PrintThread {
    control: mpsc::UnboundedSender<Control>,
    /// Fires when the thread ends; `None` once that was seen.
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl PrintThread {
    /// Starts a thread that prints `events` with `printer` until the stream ends or
    /// [`PrintThread::finish`].
    pub fn start(mut printer: Printer, events: EventStream) -> std::io::Result<Self> {
        let (control, mut control_rx) = mpsc::unbounded();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("ovdev-printer".into())
            .spawn(move || {
                let mut events = events.fuse();
                futures::executor::block_on(async {
                    loop {
                        futures::select_biased! {
                            received = events.next() => match received {
                                Some(received) => printer.print(&received),
                                None => break,
                            },
                            control = control_rx.next() => match control {
                                Some(Control::Note(note)) => printer.note(&note),
                                Some(Control::Finish) | None => {
                                    while let Some(Some(received)) = events.next().now_or_never() {
                                        printer.print(&received);
                                    }
                                    break;
                                }
                            },
                        }
                    }
                });
                let _ = done_tx.send(());
            })?;
        Ok(Self {
            control,
            done: Some(done),
        })
    }

    /// A note for the person at the terminal, printed in turn with the events.
    pub fn note(&self, msg: impl Into<String>) {
        let _ = self.control.unbounded_send(Control::Note(msg.into()));
    }

    /// Resolves when the printer thread has ended (the engine's events ended).
    pub async fn ended(&mut self) {
        if let Some(done) = &mut self.done {
            let _ = done.await;
            self.done = None;
        }
    }

    /// Lets the printer print what is queued, waiting for it at most `limit`: a stuck reader
    /// of stdout never holds the exit.
    pub async fn finish(self, limit: Duration) {
        let _ = self.control.unbounded_send(Control::Finish);
        if let Some(done) = self.done {
            let _ = tokio::time::timeout(limit, done).await;
        }
    }
}
