//! `ExternalPluginActor`: the attachment to one plugin that the developer runs (debugger, air,
//! `ovdev serve-external`), found through its `.devinfo`. Connects over gRPC (retrying with
//! backoff, since a plugin may write its file a moment before it listens), re-checks health,
//! and notices the process's death at once through a pidfd. It never signals the process and
//! never calls its Shutdown: an external plugin outlives the engine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tonic::transport::Channel;

use crate::devinfo::ValidDevInfo;
use crate::devinfo::MAX_DEVINFO_BYTES;
use crate::grpc;
use crate::types::{DevProcessStatus, DevServerMode, DevServerState};
use crate::untrusted_file::read_untrusted;

/// The attached plugin's new state: the attachment folds its checks into it and the
/// supervisor, which ignores replaced attachments, keeps and publishes it.
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub struct ExternalChanged {
    pub plugin_id: String,
    pub generation: u64,
    pub state: DevServerState,
}

/// Folds one check of an attached plugin into its `state` (`connected`: it answered the
/// health check; `vite_ready`: its Vite port accepts connections; `error`: why not, when
/// something failed); true when the state changed.
pub fn fold_check(
    state: &mut DevServerState,
    connected: bool,
    vite_ready: bool,
    error: Option<String>,
) -> bool {
    let before = state.clone();
    state.grpc_connected = connected;
    if state.vite_port != 0 {
        state.vite_status = if vite_ready {
            DevProcessStatus::Ready
        } else {
            DevProcessStatus::Starting
        };
    }
    state.vite_url = if state.vite_status == DevProcessStatus::Ready {
        DevServerState::vite_url_for(state.vite_port)
    } else {
        String::new()
    };
    match error {
        Some(e) => state.last_error = e,
        None if connected => state.last_error.clear(),
        None => {}
    }
    *state != before
}

/// The attached plugin's process is gone.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ExternalGone {
    pub plugin_id: String,
    pub generation: u64,
}

/// How long an attached plugin may stay silent before its state says so.
const NEVER_ANSWERED_AFTER: Duration = Duration::from_secs(3);

/// What the actor is attached to.
pub struct Attachment {
    pub plugin_id: String,
    /// Which attachment to this plugin (the supervisor ignores reports of replaced ones).
    pub generation: u64,
    pub info: ValidDevInfo,
    /// The `.devinfo` and the bytes it had when attached (removed only if unchanged).
    pub file: PathBuf,
    pub content: Vec<u8>,
}

impl Attachment {
    /// The plugin's state when the attachment starts: external, its Vite starting if it
    /// advertises one, not connected yet.
    pub fn initial_state(&self) -> DevServerState {
        let mut state = DevServerState::idle(&self.plugin_id);
        state.mode = DevServerMode::External;
        state.vite_port = self.info.vite_port;
        state.vite_status = if self.info.vite_port == 0 {
            DevProcessStatus::Idle
        } else {
            DevProcessStatus::Starting
        };
        state
    }
}

/// See the module doc.
pub struct ExternalPluginActor {
    attached: Attachment,
    /// The plugin's state as this attachment sees it.
    state: DevServerState,
    health_interval: Duration,
    parent: Recipient<ExternalChanged>,
    gone: Recipient<ExternalGone>,
    channel: Option<Channel>,
    last: (bool, bool),
    retry: Duration,
    attached_at: Instant,
    /// The "never answered" error was reported (once per attach).
    unanswered_reported: bool,
}

impl ExternalPluginActor {
    /// The actor for `attached`, checking health every `health_interval` and reporting to
    /// `parent` (changes) and `gone` (the process ended).
    pub fn new(
        attached: Attachment,
        health_interval: Duration,
        parent: Recipient<ExternalChanged>,
        gone: Recipient<ExternalGone>,
    ) -> Self {
        Self {
            state: attached.initial_state(),
            attached,
            health_interval,
            parent,
            gone,
            channel: None,
            last: (false, false),
            retry: Duration::from_millis(50),
            attached_at: Instant::now(),
            unanswered_reported: false,
        }
    }

    fn report(&mut self, connected: bool, vite_ready: bool, error: Option<String>) {
        if (connected, vite_ready) == self.last && error.is_none() {
            return;
        }
        self.last = (connected, vite_ready);
        if fold_check(&mut self.state, connected, vite_ready, error) {
            self.parent.do_send(ExternalChanged {
                plugin_id: self.attached.plugin_id.clone(),
                generation: self.attached.generation,
                state: self.state.clone(),
            });
        }
    }

    fn check(&mut self, ctx: &mut Context<Self>) {
        let (network, addr) = (self.attached.info.network, self.attached.info.addr.clone());
        let channel = self.channel.clone();
        let vite_port = self.attached.info.vite_port;
        async move {
            let health = async {
                let channel = match channel {
                    Some(c) => c,
                    None => grpc::connect(network, &addr).await?,
                };
                grpc::check_health(channel.clone(), Duration::from_secs(2)).await?;
                Ok::<_, grpc::GrpcError>(channel)
            }
            .await;
            let vite_ready = vite_port != 0
                && tokio::time::timeout(
                    Duration::from_millis(500),
                    tokio::net::TcpStream::connect(("127.0.0.1", vite_port)),
                )
                .await
                .is_ok_and(|r| r.is_ok());
            (health, vite_ready)
        }
        .into_actor(self)
        .map(|(health, vite_ready), act, ctx| match health {
            Ok(channel) => {
                act.channel = Some(channel);
                act.retry = Duration::from_millis(50);
                act.report(true, vite_ready, None);
            }
            Err(e) => {
                act.channel = None;
                if act.last.0 {
                    act.report(
                        false,
                        vite_ready,
                        Some(format!("the plugin does not answer: {e}")),
                    );
                } else if !act.unanswered_reported
                    && act.attached_at.elapsed() >= NEVER_ANSWERED_AFTER
                {
                    // Never connected: after a while, say why instead of an empty error.
                    act.unanswered_reported = true;
                    let addr = &act.attached.info.addr;
                    act.report(
                        false,
                        vite_ready,
                        Some(format!(
                            "the plugin's .devinfo names {addr}, which has not answered since the attach ({e}); still trying"
                        )),
                    );
                } else {
                    act.report(false, vite_ready, None);
                }
                // Not connected yet or any more: retry with backoff while the process lives.
                let delay = act.retry;
                act.retry = (act.retry * 2).min(Duration::from_secs(2));
                ctx.run_later(delay, |act, ctx| {
                    if act.channel.is_none() {
                        act.check(ctx);
                    }
                });
            }
        })
        .spawn(ctx);
    }
}

impl Actor for ExternalPluginActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let pid = self.attached.info.pid;
        crate::pid_check::wait_exit(pid)
            .into_actor(self)
            .map(|(), act, ctx| {
                tracing::info!(plugin = %act.attached.plugin_id, pid = act.attached.info.pid, "external plugin exited");
                // Stale now: remove it, but only if nobody rewrote it meanwhile.
                let now = read_untrusted(&act.attached.file, MAX_DEVINFO_BYTES as u64);
                if now.is_ok_and(|c| c == act.attached.content) {
                    let _ = std::fs::remove_file(&act.attached.file);
                }
                act.gone.do_send(ExternalGone {
                    plugin_id: act.attached.plugin_id.clone(),
                    generation: act.attached.generation,
                });
                ctx.stop();
            })
            .spawn(ctx);
        self.check(ctx);
        ctx.run_interval(self.health_interval, |act, ctx| {
            if act.channel.is_some() {
                act.check(ctx);
            }
        });
    }
}

/// Ends the attachment; the plugin keeps running.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Detach;

impl Handler<Detach> for ExternalPluginActor {
    type Result = ();

    fn handle(&mut self, _: Detach, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_folds_connection_vite_and_error_into_the_state() {
        let mut state = DevServerState::idle("p");
        state.vite_port = 15200;
        state.vite_status = DevProcessStatus::Starting;
        assert!(fold_check(&mut state, true, true, None));
        assert!(state.grpc_connected);
        assert_eq!(state.vite_status, DevProcessStatus::Ready);
        assert_eq!(state.vite_url, DevServerState::vite_url_for(15200));
        assert!(!fold_check(&mut state, true, true, None), "nothing changed");

        assert!(fold_check(
            &mut state,
            false,
            false,
            Some("no answer".into())
        ));
        assert_eq!(state.last_error, "no answer");
        assert_eq!(state.vite_url, "");
        // The error stands while disconnected, and goes once the plugin answers again.
        fold_check(&mut state, false, false, None);
        assert_eq!(state.last_error, "no answer");
        fold_check(&mut state, true, false, None);
        assert_eq!(state.last_error, "");
    }

    #[test]
    fn a_plugin_without_vite_keeps_vite_idle() {
        let mut state = DevServerState::idle("p");
        fold_check(&mut state, true, true, None);
        assert_eq!(state.vite_status, DevProcessStatus::Idle);
        assert_eq!(state.vite_url, "");
    }
}
