//! Reads the `plugin.yaml` of a plugin source directory.

use std::path::{Path, PathBuf};

use ovdev_actors::plugin_id::{validate_plugin_id, InvalidPluginId};
use ovdev_actors::untrusted_file::{read_untrusted_text, UntrustedFileError};
use ovdev_actors::yaml_limits::{check_yaml_nesting, MAX_MANIFEST_BYTES, MAX_YAML_NESTING};
use serde::Deserialize;

/// The fields of `plugin.yaml` ovdev uses; other fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PluginManifest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Why a plugin directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("`{0}` does not exist or is not a directory")]
    NotADirectory(PathBuf),
    #[error("`{0}` has no plugin.yaml; is it an Omniview plugin directory?")]
    Missing(PathBuf),
    #[error(transparent)]
    Read(UntrustedFileError),
    #[error("`{path}` is not valid YAML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("`{0}` has no `id:`; add one (for example `id: my-plugin`) or give the plugin id explicitly")]
    NoId(PathBuf),
    #[error("`{path}`: {source}")]
    InvalidId {
        path: PathBuf,
        source: InvalidPluginId,
    },
}

/// Reads `<dir>/plugin.yaml`.
pub fn read_manifest(dir: &Path) -> Result<PluginManifest, ManifestError> {
    if !dir.is_dir() {
        return Err(ManifestError::NotADirectory(dir.to_path_buf()));
    }
    let path = dir.join("plugin.yaml");
    let text = match read_untrusted_text(&path, MAX_MANIFEST_BYTES) {
        Ok(t) => t,
        Err(e) if e.is_missing() => return Err(ManifestError::Missing(dir.to_path_buf())),
        Err(source) => return Err(ManifestError::Read(source)),
    };
    if text.trim().is_empty() {
        return Err(ManifestError::NoId(path));
    }
    if let Err(e) = check_yaml_nesting(&text, MAX_YAML_NESTING) {
        return Err(ManifestError::Parse {
            path,
            message: e.to_string(),
        });
    }
    serde_norway::from_str(&text).map_err(|e| ManifestError::Parse {
        path,
        message: e.to_string(),
    })
}

/// The plugin id of `dir`: `id_override` when given, else `plugin.yaml`'s `id`, validated.
pub fn plugin_id_of(dir: &Path, id_override: Option<&str>) -> Result<String, ManifestError> {
    let manifest = read_manifest(dir)?;
    let path = dir.join("plugin.yaml");
    let id = match id_override {
        Some(id) => id.to_string(),
        None => manifest
            .id
            .ok_or_else(|| ManifestError::NoId(path.clone()))?,
    };
    validate_plugin_id(&id).map_err(|source| ManifestError::InvalidId { path, source })?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(yaml: Option<&str>) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        if let Some(y) = yaml {
            std::fs::write(d.path().join("plugin.yaml"), y).unwrap();
        }
        d
    }

    #[test]
    fn reads_id_and_ignores_other_fields() {
        let d = dir_with(Some("id: hello\nversion: 1.0.0\ncapabilities: [ui]\n"));
        assert_eq!(plugin_id_of(d.path(), None).unwrap(), "hello");
        assert_eq!(
            read_manifest(d.path()).unwrap().version.as_deref(),
            Some("1.0.0")
        );
    }

    #[test]
    fn explains_what_is_wrong() {
        let missing = dir_with(None);
        assert!(matches!(
            plugin_id_of(missing.path(), None),
            Err(ManifestError::Missing(_))
        ));
        let no_id = dir_with(Some("version: 1\n"));
        let err = plugin_id_of(no_id.path(), None).unwrap_err();
        assert!(err.to_string().contains("has no `id:`"), "{err}");
        let bad = dir_with(Some("id: ../etc\n"));
        assert!(matches!(
            plugin_id_of(bad.path(), None),
            Err(ManifestError::InvalidId { .. })
        ));
        let broken = dir_with(Some("id: [unclosed\n"));
        assert!(matches!(
            plugin_id_of(broken.path(), None),
            Err(ManifestError::Parse { .. })
        ));
        assert!(matches!(
            plugin_id_of(Path::new("/nonexistent/x"), None),
            Err(ManifestError::NotADirectory(_))
        ));
    }

    #[test]
    fn an_override_wins_but_is_validated() {
        let d = dir_with(Some("id: hello\n"));
        assert_eq!(plugin_id_of(d.path(), Some("other")).unwrap(), "other");
        assert!(plugin_id_of(d.path(), Some("a/b")).is_err());
    }
}
