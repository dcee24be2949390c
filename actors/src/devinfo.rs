//! Writing, reading and removing `.devinfo` files (`<state>/plugins/<id>/.devinfo`), through
//! which a running plugin advertises itself to an IDE.

use std::io;
use std::path::{Path, PathBuf};

use crate::types::DevInfoFile;

/// `<state>/plugins/<id>/.devinfo`.
pub fn devinfo_path(state_dir: &Path, plugin_id: &str) -> PathBuf {
    crate::config::plugin_dir(state_dir, plugin_id).join(".devinfo")
}

/// Writes `info` to `path` atomically: a temporary file in the same directory, then a rename,
/// so a reader never sees half a file.
pub fn write_devinfo(path: &Path, info: &DevInfoFile) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".devinfo.tmp-{}", uuid::Uuid::new_v4().simple()));
    let bytes = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads and parses a `.devinfo`.
pub fn read_devinfo(path: &Path) -> io::Result<DevInfoFile> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Removes `path` if it still describes process `pid` (a newer plugin may have replaced it).
pub fn remove_devinfo_of(path: &Path, pid: i32) {
    if read_devinfo(path).is_ok_and(|info| info.pid == pid) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: i32) -> DevInfoFile {
        DevInfoFile {
            pid,
            protocol: "grpc".into(),
            protocol_version: 1,
            addr: "/tmp/plugin1".into(),
            vite_port: 15173,
            plugin_id: "p".into(),
            version: "0.1.0".into(),
            started_at: None,
            network: Some("unix".into()),
        }
    }

    #[test]
    fn writes_reads_and_removes_only_its_own() {
        let state = tempfile::tempdir().unwrap();
        let path = devinfo_path(state.path(), "p");
        write_devinfo(&path, &info(42)).unwrap();
        assert_eq!(read_devinfo(&path).unwrap(), info(42));
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left");
        remove_devinfo_of(&path, 7);
        assert!(path.exists(), "another process's file stays");
        remove_devinfo_of(&path, 42);
        assert!(!path.exists());
    }
}
