//! The plugin process's connection: its handshake line, the gRPC client and health checks,
//! the `.devinfo` written once it serves, and the output it sends over go-plugin's stdio
//! stream.

use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use tonic::transport::Channel;

use super::{plugin_line, Phase, PluginProcessActor};
use crate::actors::child_output::Pipe;
use crate::devinfo::write_devinfo;
use crate::grpc::{self, GrpcError, StdioData};
use crate::handshake::{parse_handshake, Handshake};
use crate::restart::ExitKind;

impl PluginProcessActor {
    pub(super) fn on_handshake(&mut self, line: &str, ctx: &mut Context<Self>) {
        let handshake = match parse_handshake(line) {
            Ok(h) => h,
            Err(e) => {
                let tail = self.tail.text();
                let msg = if tail.is_empty() {
                    e.to_string()
                } else {
                    format!("{e}; stderr: {tail}")
                };
                return self.end(ExitKind::Abnormal, msg, ctx);
            }
        };
        if let Some(t) = self.start_timer.take() {
            ctx.cancel_future(t);
        }
        self.phase = Phase::Connecting;
        self.logs.info(format!(
            "plugin handshake: {} {}{}",
            handshake.network,
            handshake.addr,
            if handshake.server_cert.is_some() {
                " (AutoMTLS is not supported yet: connecting without TLS)"
            } else {
                ""
            }
        ));
        let connect = {
            let h = handshake.clone();
            async move {
                let channel = grpc::connect(h.network, &h.addr).await?;
                grpc::check_health(channel.clone(), Duration::from_secs(5)).await?;
                Ok::<_, GrpcError>(channel)
            }
        };
        connect
            .into_actor(self)
            .map(move |res, act, ctx| {
                if !matches!(act.phase, Phase::Connecting) {
                    return;
                }
                match res {
                    Ok(channel) => act.on_connected(handshake, channel, ctx),
                    Err(e) => act.end(
                        ExitKind::Abnormal,
                        format!("the plugin's gRPC server does not answer: {e}"),
                        ctx,
                    ),
                }
            })
            .spawn(ctx);
    }

    pub(super) fn on_connected(
        &mut self,
        handshake: Handshake,
        channel: Channel,
        ctx: &mut Context<Self>,
    ) {
        self.logs.info(format!(
            "plugin is serving (pid {}, {} {})",
            self.pid, handshake.network, handshake.addr
        ));
        self.phase = Phase::Running {
            channel: channel.clone(),
            failures: 0,
            connected: true,
        };
        self.report(true, None);
        if let Some(d) = &self.settings.devinfo {
            let info = handshake.devinfo(
                self.pid,
                &self.settings.plugin_id,
                d.version.clone(),
                self.settings.vite_port,
                Utc::now(),
            );
            if let Err(e) = write_devinfo(&d.path, &info) {
                self.logs
                    .warn(format!("cannot write {}: {e}", d.path.display()));
            }
        }
        ctx.run_interval(self.settings.health_interval, |act, ctx| {
            act.check_health(ctx)
        });
        grpc::stream_stdio(channel)
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(stream) => {
                    ctx.add_stream(stream);
                }
                Err(GrpcError::Status(s)) if s.code() == tonic::Code::Unimplemented => {
                    act.logs.log(
                        crate::types::LogLevel::Debug,
                        "the plugin has no StreamStdio (go-plugin before 1.1); its stdout and stderr are read directly",
                    );
                }
                // go-plugin answers the call only with its first output, so a plugin that
                // printed nothing fails it when it stops: only a running plugin's failure counts.
                Err(e) if matches!(act.phase, Phase::Running { .. }) => {
                    act.logs.warn(format!("cannot read the plugin's stdio stream: {e}"))
                }
                Err(e) => tracing::debug!(plugin = %act.settings.plugin_id, "stdio stream ended as the plugin stopped: {e}"),
            })
            .spawn(ctx);
    }

    pub(super) fn check_health(&mut self, ctx: &mut Context<Self>) {
        let Phase::Running { channel, .. } = &self.phase else {
            return;
        };
        grpc::check_health(
            channel.clone(),
            self.settings.health_interval.min(Duration::from_secs(5)),
        )
        .into_actor(self)
        .map(|res, act, ctx| {
            let limit = act.settings.health_failures;
            let Phase::Running {
                failures,
                connected,
                ..
            } = &mut act.phase
            else {
                return;
            };
            match res {
                Ok(()) => {
                    *failures = 0;
                    if !*connected {
                        *connected = true;
                        act.logs.info("the plugin answers health checks again");
                        act.report(true, None);
                    }
                }
                Err(e) => {
                    *failures += 1;
                    let n = *failures;
                    let was_connected = std::mem::replace(connected, false);
                    act.logs
                        .warn(format!("health check failed ({n} of {limit}): {e}"));
                    if was_connected {
                        act.report(
                            false,
                            Some(format!("the plugin does not answer health checks: {e}")),
                        );
                    }
                    if n >= limit {
                        let msg = format!(
                            "the plugin failed {n} health checks in a row (hung?); killing it"
                        );
                        act.end(ExitKind::Abnormal, msg, ctx);
                    }
                }
            }
        })
        .spawn(ctx);
    }
}

impl StreamHandler<Result<StdioData, tonic::Status>> for PluginProcessActor {
    fn handle(&mut self, item: Result<StdioData, tonic::Status>, _: &mut Self::Context) {
        if let Ok(chunk) = item {
            let pipe = if chunk.channel == 2 {
                Pipe::Stderr
            } else {
                Pipe::Stdout
            };
            let batch = String::from_utf8_lossy(&chunk.data)
                .lines()
                .map(|line| plugin_line(pipe, line.to_string()))
                .collect();
            self.logs.log_batch(batch);
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}
