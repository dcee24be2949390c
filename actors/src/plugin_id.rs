//! Validation of plugin ids, which become directory names under `<state>/plugins/`.

/// Why a plugin id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPluginId {
    #[error("plugin id is empty")]
    Empty,
    #[error("plugin id `{0}` contains a path separator; use a plain name like `my-plugin`")]
    Separator(String),
    #[error("plugin id `{0}` contains `..`; use a plain name like `my-plugin`")]
    DotDot(String),
    #[error("plugin id `{0}` starts with `.`; hidden names are not allowed")]
    LeadingDot(String),
    #[error("plugin id {0:?} contains a control character")]
    Control(String),
    #[error("plugin id `{0}` is longer than 255 bytes")]
    TooLong(String),
}

/// Checks that `id` is safe to join into a path as a single directory name.
pub fn validate_plugin_id(id: &str) -> Result<(), InvalidPluginId> {
    if id.is_empty() {
        return Err(InvalidPluginId::Empty);
    }
    if id.len() > 255 {
        return Err(InvalidPluginId::TooLong(id.to_string()));
    }
    if id.chars().any(char::is_control) {
        return Err(InvalidPluginId::Control(id.to_string()));
    }
    if id.contains('/') || id.contains('\\') {
        return Err(InvalidPluginId::Separator(id.to_string()));
    }
    if id.contains("..") {
        return Err(InvalidPluginId::DotDot(id.to_string()));
    }
    if id.starts_with('.') {
        return Err(InvalidPluginId::LeadingDot(id.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass() {
        for id in ["hello", "my-plugin", "k8s_v2", "Plugin.Name"] {
            assert_eq!(validate_plugin_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn unsafe_names_fail_with_a_reason() {
        assert_eq!(validate_plugin_id(""), Err(InvalidPluginId::Empty));
        assert!(matches!(
            validate_plugin_id("a/b"),
            Err(InvalidPluginId::Separator(_))
        ));
        assert!(matches!(
            validate_plugin_id("a\\b"),
            Err(InvalidPluginId::Separator(_))
        ));
        assert!(matches!(
            validate_plugin_id(".."),
            Err(InvalidPluginId::DotDot(_))
        ));
        assert!(matches!(
            validate_plugin_id("a..b"),
            Err(InvalidPluginId::DotDot(_))
        ));
        assert!(matches!(
            validate_plugin_id(".hidden"),
            Err(InvalidPluginId::LeadingDot(_))
        ));
        assert!(matches!(
            validate_plugin_id("a\nb"),
            Err(InvalidPluginId::Control(_))
        ));
        assert!(matches!(
            validate_plugin_id(&"x".repeat(256)),
            Err(InvalidPluginId::TooLong(_))
        ));
    }
}
