//! The CLI's words for the library's errors: the library says which builder option fixes a
//! problem; at the terminal, the flag that sets it is what helps.

use omniview_devserver::api::ApiStartError;
use omniview_devserver::manifest::ManifestError;
use omniview_devserver::{BuilderError, DevServerError};

/// The flag that sets builder option `option`, for the options an error can name.
fn flag_for(option: &str) -> Option<&'static str> {
    Some(match option {
        "go" => "--go",
        "node" => "--node",
        "package_manager_path" => "--package-manager-path",
        "state_dir" => "--state-dir",
        _ => return None,
    })
}

/// `error`, followed by the flag that fixes it when there is one.
fn with_flag(error: impl std::fmt::Display, flag: Option<&str>) -> String {
    match flag {
        Some(flag) => format!("{error}; with ovdev: {flag}"),
        None => error.to_string(),
    }
}

/// A start error as the terminal shows it.
pub fn start_error(e: &DevServerError) -> String {
    let flag = match e {
        DevServerError::ToolNotFound { option, .. } => flag_for(option),
        _ => None,
    };
    with_flag(e, flag)
}

/// A builder error as the terminal shows it.
pub fn builder_error(e: &BuilderError) -> String {
    let flag = match e {
        BuilderError::NoStateDir | BuilderError::RelativeStateDir { .. } => flag_for("state_dir"),
        BuilderError::Api(ApiStartError::SocketPathTooLong(_)) => flag_for("state_dir"),
        BuilderError::Api(ApiStartError::Tcp { .. }) => Some("--api-addr (or --no-api)"),
        _ => None,
    };
    with_flag(e, flag)
}

/// A `plugin.yaml` error as the terminal shows it.
pub fn manifest_error(e: &ManifestError) -> String {
    let flag = match e {
        ManifestError::NoId(_) => Some("--id"),
        _ => None,
    };
    with_flag(e, flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_that_a_flag_fixes_name_it() {
        let e = DevServerError::ToolNotFound {
            tool: "go".into(),
            option: "go",
        };
        assert!(
            start_error(&e).ends_with("; with ovdev: --go"),
            "{}",
            start_error(&e)
        );
        let e = DevServerError::ToolNotFound {
            tool: "pnpm".into(),
            option: "package_manager_path",
        };
        assert!(start_error(&e).ends_with("--package-manager-path"));
        assert!(builder_error(&BuilderError::NoStateDir).ends_with("--state-dir"));
        let long = BuilderError::Api(ApiStartError::SocketPathTooLong("/x".into()));
        assert!(builder_error(&long).ends_with("--state-dir"));
        let busy = BuilderError::Api(ApiStartError::Tcp {
            addr: "127.0.0.1:1".parse().unwrap(),
            source: std::io::ErrorKind::AddrInUse.into(),
        });
        assert!(builder_error(&busy).ends_with("--api-addr (or --no-api)"));
        let e = ManifestError::NoId("plugin.yaml".into());
        assert!(manifest_error(&e).ends_with("--id"));
        let other = DevServerError::NotRunning("p".into());
        assert_eq!(start_error(&other), other.to_string());
    }
}
