//! The server's resources: every plugin's state, one plugin's state, its build errors; and
//! `subscriptions/listen` for them: `notifications/resources/updated` when ovdev publishes a
//! change.

use futures::StreamExt as _;
use omniview_devserver::api::client::ApiClient;
use omniview_devserver::{BuildErrorsPayload, DevServerState};
use rmcp::model::Resource;
use rmcp::model::{
    ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ServerNotification,
};
use rmcp::service::Peer;
use rmcp::RoleServer;

use super::{api_error, json, OvdevMcp, ToolResult, PLUGINS_URI};

impl OvdevMcp {
    /// The JSON a resource URI names, read from the running ovdev.
    pub(super) async fn resource_json(&self, uri: &str) -> ToolResult {
        let rest = uri
            .strip_prefix(PLUGINS_URI)
            .ok_or_else(|| format!("unknown resource `{uri}`; see resources/list"))?;
        let info = crate::cli::instance::find(&self.find).map_err(|e| e.message)?;
        let client = ApiClient::new(&info);
        let (id, errors) = match rest.strip_prefix('/') {
            None if rest.is_empty() => {
                let states: Vec<DevServerState> = client
                    .get_json("/api/v1/plugins")
                    .await
                    .map_err(api_error)?;
                return json(&states);
            }
            Some(tail) => match tail.strip_suffix("/errors") {
                Some(id) => (id, true),
                None => (tail, false),
            },
            None => return Err(format!("unknown resource `{uri}`; see resources/list")),
        };
        ovdev_actors::plugin_id::validate_plugin_id(id).map_err(|e| e.to_string())?;
        if errors {
            let payload: BuildErrorsPayload = client
                .get_json(&format!("/api/v1/plugins/{id}/errors"))
                .await
                .map_err(api_error)?;
            json(&payload.errors)
        } else {
            let state: DevServerState = client
                .get_json(&format!("/api/v1/plugins/{id}"))
                .await
                .map_err(api_error)?;
            json(&state)
        }
    }
}

fn resource(uri: String, name: String, description: &str) -> Resource {
    let mut r = Resource::new(uri, name);
    r.description = Some(description.to_string());
    r.mime_type = Some("application/json".into());
    r
}

/// The resources an event about plugin `id` changes, among `subscribed`.
pub(super) fn touched<'a>(subscribed: &'a [String], id: &str) -> Vec<&'a str> {
    let one = format!("{PLUGINS_URI}/{id}");
    let errors = format!("{one}/errors");
    subscribed
        .iter()
        .map(String::as_str)
        .filter(|uri| *uri == PLUGINS_URI || *uri == one || *uri == errors)
        .collect()
}

impl OvdevMcp {
    /// Follows the running ovdev's state and error events and calls `notify` with each of the
    /// `subscribed()` resources an event changed, until `notify` says the client is gone;
    /// ovdev restarting (or not running yet) is waited for, once a second.
    pub(super) async fn follow_resources<F, Fut>(
        &self,
        subscribed: impl Fn() -> Vec<String>,
        notify: F,
    ) where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let events = "/api/v1/events?name=plugin/devserver/status,plugin/devserver/error";
        loop {
            if let Ok(info) = crate::cli::instance::find(&self.find) {
                if let Ok(mut stream) = ApiClient::new(&info).stream(events).await {
                    while let Some(Ok(ev)) = stream.next().await {
                        let Some(id) = event_plugin(&ev.data) else {
                            continue;
                        };
                        let uris = subscribed();
                        for uri in touched(&uris, &id) {
                            if !notify(uri.to_string()).await {
                                return;
                            }
                        }
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// `resources/subscribe` (protocol versions before 2026-07-28): remembers `uri` and, the
    /// first time, starts telling `peer` about changes for as long as it listens.
    pub(super) fn subscribe_legacy(&self, uri: String, peer: Peer<RoleServer>) {
        lock(&self.subscriptions).insert(uri);
        if self
            .following
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let server = self.clone();
        tokio::spawn(async move {
            let subscribed = || lock(&server.subscriptions).iter().cloned().collect();
            let notify = |uri: String| {
                let peer = peer.clone();
                async move {
                    let note = ResourceUpdatedNotification::new(
                        ResourceUpdatedNotificationParam::new(uri),
                    );
                    peer.send_notification(ServerNotification::ResourceUpdatedNotification(note))
                        .await
                        .is_ok()
                }
            };
            server.follow_resources(subscribed, notify).await;
        });
    }
}

impl OvdevMcp {
    /// The resources: the list, and each running plugin's state and errors.
    pub(super) async fn resource_list(&self) -> Vec<Resource> {
        let mut all = vec![resource(
            PLUGINS_URI.into(),
            "plugins".into(),
            "Every plugin ovdev runs or is attached to, with its state",
        )];
        // No ovdev running: only the list (reading it says so).
        if let Ok(info) = crate::cli::instance::find(&self.find) {
            let states: Vec<DevServerState> = ApiClient::new(&info)
                .get_json("/api/v1/plugins")
                .await
                .unwrap_or_default();
            for s in states {
                let id = &s.plugin_id;
                all.push(resource(
                    format!("{PLUGINS_URI}/{id}"),
                    id.clone(),
                    "The plugin's state",
                ));
                all.push(resource(
                    format!("{PLUGINS_URI}/{id}/errors"),
                    format!("{id} build errors"),
                    "The errors of the plugin's last finished build (file, line, column, message)",
                ));
            }
        }
        all
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `pluginID` of a status or build-errors payload.
fn event_plugin(data: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    v.get("pluginID")?.as_str().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_touches_the_list_the_plugin_and_its_errors() {
        let subscribed: Vec<String> = [
            "ovdev://plugins",
            "ovdev://plugins/a",
            "ovdev://plugins/a/errors",
            "ovdev://plugins/ab",
            "ovdev://plugins/b/errors",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            touched(&subscribed, "a"),
            [
                "ovdev://plugins",
                "ovdev://plugins/a",
                "ovdev://plugins/a/errors"
            ]
        );
        assert_eq!(
            event_plugin(r#"{"pluginID":"x","errors":[]}"#).as_deref(),
            Some("x")
        );
        assert_eq!(event_plugin("[1]"), None);
    }
}
