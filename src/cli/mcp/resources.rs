//! The server's resources: every plugin's state, one plugin's state, its build errors.

use omniview_devserver::api::client::ApiClient;
use omniview_devserver::{BuildErrorsPayload, DevServerState};
use rmcp::model::Resource;

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

pub(super) fn resource(uri: String, name: String, description: &str) -> Resource {
    let mut r = Resource::new(uri, name);
    r.description = Some(description.to_string());
    r.mime_type = Some("application/json".into());
    r
}
