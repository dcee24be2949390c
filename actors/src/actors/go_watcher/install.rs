//! A good build's binary put in place (one rename) and the plugin reloaded, by the built-in
//! host or the IDE's; then the plugin directory's own copy refreshed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::GoWatcherActor;
use crate::actors::child_guard::ChildEvent;
use crate::actors::log_buffer::LogSink;
use crate::actors::plugin::ReloadProcess;
use crate::binary_swap::{install_binary, install_built, replace_file, InstallOutcome};
use crate::host::PluginHost;
use crate::types::DevProcessStatus;

/// Who reloads the plugin after a new binary is installed.
#[derive(Clone)]
pub enum Reloader {
    /// The embedding IDE's plugin host (`PluginHost::reload_plugin`).
    Host(Arc<dyn PluginHost>),
    /// The engine's built-in go-plugin host: the plugin actor relaunches its process.
    BuiltIn(Recipient<ReloadProcess>),
}

/// Where `go build` writes the binary, relative to the plugin directory.
pub const BUILD_OUTPUT: &str = "build/bin/plugin";
/// Longest wait for the host's reload before the build is reported failed.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);
impl GoWatcherActor {
    /// Where `go build` writes: beside the installed binary, renamed over it when done.
    pub(super) fn next_binary(&self) -> PathBuf {
        self.settings
            .installed_binary
            .with_file_name(".plugin.next")
    }

    pub(super) fn install_and_reload(&mut self, duration: Duration, ctx: &mut Context<Self>) {
        let src = self.next_binary();
        let build_copy = self.settings.dev_path.join(BUILD_OUTPUT);
        let dst = self.settings.installed_binary.clone();
        let reloader = self.reloader.clone();
        let id = self.settings.plugin_id.clone();
        let logs = self.build_logs.clone();
        let manifest = (
            self.settings.dev_path.join("plugin.yaml"),
            self.settings.installed_manifest.clone(),
        );
        let work = async move {
            let (next, installed) = (src.clone(), dst.clone());
            let manifest_logs = logs.clone();
            let (outcome, replaced) = tokio::task::spawn_blocking(move || {
                let installed_binary = install_built(&next, &installed)?;
                // Capability changes apply without reinstalling; a problem is only a warning.
                if let Err(e) = copy_manifest(&manifest.0, &manifest.1) {
                    manifest_logs.warn(format!(
                        "cannot copy {} to {}: {e}",
                        manifest.0.display(),
                        manifest.1.display()
                    ));
                }
                Ok::<_, std::io::Error>(installed_binary)
            })
            .await
            .map_err(|e| format!("installing the binary panicked: {e}"))?
            .map_err(|e| format!("cannot install the binary at {}: {e}", dst.display()))?;
            let changed = outcome == InstallOutcome::Installed;
            if changed {
                logs.info(format!("installed {}", dst.display()));
            } else if matches!(reloader, Reloader::Host(_)) {
                logs.info("the new binary is identical to the installed one; skipping the reload");
            } else {
                logs.info(
                    "the new binary is identical to the installed one; the running plugin stays",
                );
            }
            // `None`: nothing to reload (the IDE's host keeps the identical binary it runs).
            let reload = async {
                match reloader {
                    Reloader::BuiltIn(plugin) => Some(
                        plugin
                            .send(ReloadProcess {
                                binary_changed: changed,
                            })
                            .await
                            .unwrap_or_else(|_| Err("the plugin actor is gone".to_string())),
                    ),
                    Reloader::Host(_) if !changed => None,
                    Reloader::Host(host) => Some(
                        match tokio::time::timeout(RELOAD_TIMEOUT, host.reload_plugin(&id)).await {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(e)) => Err(format!("reloading the plugin failed: {e}")),
                            Err(_) => Err(format!(
                                "reloading the plugin did not finish within {RELOAD_TIMEOUT:?}"
                            )),
                        },
                    ),
                }
            };
            let reloaded = reload.await;
            // The old plugin is gone: its binary's storage is freed here, off the relaunch.
            tokio::task::spawn_blocking(move || drop(replaced));
            // `build/bin/plugin` in the plugin directory, as Omniview's own build leaves it,
            // is refreshed once the new plugin serves: its copy would compete with the
            // relaunch for these cores and the disk.
            refresh_build_copy(dst.clone(), build_copy, logs.clone()).await;
            Ok(reloaded)
        };
        work.into_actor(self)
            .map(
                move |res: Result<Option<Result<(), String>>, String>, act, ctx| {
                    if let Ok(Some(reloaded)) = &res {
                        act.parent.report(ChildEvent::Reloaded(reloaded.clone()));
                    }
                    let outcome = match res.and_then(|reloaded| reloaded.unwrap_or(Ok(()))) {
                        Ok(()) => (DevProcessStatus::Ready, None),
                        Err(msg) => {
                            act.build_logs.error(msg.clone());
                            (DevProcessStatus::Error, Some(msg))
                        }
                    };
                    act.finish_build(outcome, duration, Vec::new(), ctx);
                },
            )
            .spawn(ctx);
    }
}

/// Copies the plugin's `plugin.yaml` (read as a file anyone may have replaced: without
/// blocking, capped) to the state directory, atomically. Blocking: call it off the actors.
fn copy_manifest(src: &std::path::Path, dst: &std::path::Path) -> Result<(), String> {
    let bytes = crate::untrusted_file::read_untrusted(src, crate::yaml_limits::MAX_MANIFEST_BYTES)
        .map_err(|e| e.to_string())?;
    replace_file(dst, &bytes).map_err(|e| e.to_string())?;
    Ok(())
}

/// Copies the installed binary to the plugin's `build/bin/plugin` (atomically); a failure
/// is only a warning: the plugin runs from the installed binary.
async fn refresh_build_copy(installed: PathBuf, build_copy: PathBuf, logs: LogSink) {
    let shown = build_copy.display().to_string();
    let copied = tokio::task::spawn_blocking(move || install_binary(&installed, &build_copy)).await;
    match copied {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => logs.warn(format!("cannot update {shown}: {e}")),
        Err(e) => logs.warn(format!("updating {shown} panicked: {e}")),
    }
}
