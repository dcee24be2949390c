//! Validation of plugin ids, which become directory names under `<state>/plugins/`.

/// Why a plugin id was refused. The rule: ASCII letters, digits, `.`, `_` and `-`, at most
/// 255 bytes, not starting with `.` or `-`, no `..` (ids become directory names under
/// `<state>/plugins/` and arguments of commands).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPluginId {
    #[error("plugin id is empty")]
    Empty,
    #[error("plugin id `{}` contains {found:?}; use only letters, digits, `.`, `_` and `-` (for example `my-plugin`)", id.escape_debug())]
    Character { id: String, found: char },
    #[error("plugin id `{0}` contains `..`; use a plain name like `my-plugin`")]
    DotDot(String),
    #[error("plugin id `{0}` starts with `.`; hidden names are not allowed")]
    LeadingDot(String),
    #[error("plugin id `{0}` starts with `-`, which reads as an option; start it with a letter or digit")]
    LeadingDash(String),
    #[error("plugin id `{0}` is longer than 255 bytes")]
    TooLong(String),
}

/// Checks that `id` follows the rule of [`InvalidPluginId`].
pub fn validate_plugin_id(id: &str) -> Result<(), InvalidPluginId> {
    if id.is_empty() {
        return Err(InvalidPluginId::Empty);
    }
    if id.len() > 255 {
        return Err(InvalidPluginId::TooLong(id.to_string()));
    }
    if let Some(found) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(InvalidPluginId::Character {
            id: id.to_string(),
            found,
        });
    }
    if id.contains("..") {
        return Err(InvalidPluginId::DotDot(id.to_string()));
    }
    if id.starts_with('.') {
        return Err(InvalidPluginId::LeadingDot(id.to_string()));
    }
    if id.starts_with('-') {
        return Err(InvalidPluginId::LeadingDash(id.to_string()));
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
            Err(InvalidPluginId::Character { found: '/', .. })
        ));
        assert!(matches!(
            validate_plugin_id("a\\b"),
            Err(InvalidPluginId::Character { found: '\\', .. })
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
            Err(InvalidPluginId::Character { found: '\n', .. })
        ));
        for id in ["a b", " ", "   ", "é", "a;b", "$(x)"] {
            let err = validate_plugin_id(id).unwrap_err();
            assert!(matches!(err, InvalidPluginId::Character { .. }), "{id:?}");
            assert!(
                err.to_string().contains("use only letters, digits"),
                "{err}"
            );
        }
        assert!(matches!(
            validate_plugin_id("-rf"),
            Err(InvalidPluginId::LeadingDash(_))
        ));
        assert!(matches!(
            validate_plugin_id(&"x".repeat(256)),
            Err(InvalidPluginId::TooLong(_))
        ));
    }
}
