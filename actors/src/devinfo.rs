//! Writing, reading and removing `.devinfo` files (`<state>/plugins/<id>/.devinfo`), through
//! which a running plugin advertises itself to an IDE.

use crate::untrusted_file::read_untrusted;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::handshake::Network;
use crate::types::DevInfoFile;

/// Largest `.devinfo` accepted.
pub const MAX_DEVINFO_BYTES: usize = 64 * 1024;

/// A `.devinfo` that passed every check: safe to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDevInfo {
    pub pid: i32,
    pub network: Network,
    /// A socket path (`unix`) or a loopback `ip:port` (`tcp`).
    pub addr: String,
    pub vite_port: u16,
    pub plugin_id: Option<String>,
    pub version: String,
    pub started_at: Option<DateTime<Utc>>,
}

/// Why a `.devinfo` was rejected; every message names the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevInfoError {
    #[error("the file is {0} bytes; a .devinfo has at most {MAX_DEVINFO_BYTES}")]
    TooLarge(usize),
    #[error("not valid JSON: {0}")]
    NotJson(String),
    #[error("not a JSON object")]
    NotObject,
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{field}` must be {expected}, found {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("`{field}` is {value}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("`pluginId` is `{found}` but the file is in the directory of plugin `{dir}`")]
    PluginIdMismatch { found: String, dir: String },
    #[error("`addr` {0} is not a loopback address (127.0.0.0/8 or ::1); it is refused without being dialled")]
    NotLoopback(String),
}

fn found(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(40).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

fn int_field(obj: &Map<String, Value>, field: &'static str) -> Result<Option<i64>, DevInfoError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| DevInfoError::WrongType {
            field,
            expected: "an integer",
            found: found(v),
        }),
    }
}

fn str_field<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, DevInfoError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| DevInfoError::WrongType {
            field,
            expected: "a string",
            found: found(v),
        }),
    }
}

/// Checks that `addr` (`ip:port`) is a loopback socket address. Host names are refused too:
/// resolving them would be a network lookup, and a name can point anywhere.
pub fn loopback_socket_addr(addr: &str) -> Result<SocketAddr, DevInfoError> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|_| DevInfoError::NotLoopback(format!("`{addr}` (use `127.0.0.1:PORT`)")))?;
    let loopback = match parsed.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    if loopback && parsed.port() != 0 {
        Ok(parsed)
    } else {
        Err(DevInfoError::NotLoopback(format!("`{addr}`")))
    }
}

/// Parses and validates the bytes of `<state>/plugins/<dir_plugin_id>/.devinfo`. Pure: it
/// checks the content only (whether `pid` is alive is the caller's business).
pub fn validate_devinfo(bytes: &[u8], dir_plugin_id: &str) -> Result<ValidDevInfo, DevInfoError> {
    if bytes.len() > MAX_DEVINFO_BYTES {
        return Err(DevInfoError::TooLarge(bytes.len()));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| DevInfoError::NotJson(e.to_string()))?;
    let obj = value.as_object().ok_or(DevInfoError::NotObject)?;

    let pid = int_field(obj, "pid")?.ok_or(DevInfoError::Missing("pid"))?;
    if pid <= 0 || pid > i64::from(i32::MAX) {
        return Err(DevInfoError::Invalid {
            field: "pid",
            value: pid.to_string(),
            reason: "a process id is a positive 32-bit number",
        });
    }
    let protocol = str_field(obj, "protocol")?.unwrap_or("grpc");
    if protocol != "grpc" {
        return Err(DevInfoError::Invalid {
            field: "protocol",
            value: format!("{protocol:?}"),
            reason: "Omniview plugins speak \"grpc\"",
        });
    }
    let version = int_field(obj, "protocolVersion")?.unwrap_or(1);
    if version != 1 {
        return Err(DevInfoError::Invalid {
            field: "protocolVersion",
            value: version.to_string(),
            reason: "Omniview speaks application protocol 1",
        });
    }
    let addr = str_field(obj, "addr")?.ok_or(DevInfoError::Missing("addr"))?;
    if addr.is_empty() {
        return Err(DevInfoError::Missing("addr"));
    }
    let network = match str_field(obj, "network")? {
        Some("unix") => Network::Unix,
        Some("tcp") => Network::Tcp,
        Some(other) => {
            return Err(DevInfoError::Invalid {
                field: "network",
                value: format!("{other:?}"),
                reason: "it must be \"unix\" or \"tcp\"",
            })
        }
        None if addr.starts_with('/') => Network::Unix,
        None => Network::Tcp,
    };
    match network {
        Network::Tcp => {
            loopback_socket_addr(addr)?;
        }
        Network::Unix if !addr.starts_with('/') => {
            return Err(DevInfoError::Invalid {
                field: "addr",
                value: format!("{addr:?}"),
                reason: "a unix socket address must be an absolute path",
            })
        }
        Network::Unix => {}
    }
    let vite_port = int_field(obj, "vitePort")?.unwrap_or(0);
    let vite_port = u16::try_from(vite_port).map_err(|_| DevInfoError::Invalid {
        field: "vitePort",
        value: vite_port.to_string(),
        reason: "a port is between 0 and 65535",
    })?;
    let plugin_id = str_field(obj, "pluginId")?.filter(|s| !s.is_empty());
    if let Some(id) = plugin_id {
        if id != dir_plugin_id {
            return Err(DevInfoError::PluginIdMismatch {
                found: id.to_string(),
                dir: dir_plugin_id.to_string(),
            });
        }
    }
    let started_at = match str_field(obj, "startedAt")? {
        None => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| DevInfoError::Invalid {
                    field: "startedAt",
                    value: format!("{s:?}"),
                    reason: "it must be an RFC 3339 time like 2026-02-16T10:30:00Z",
                })?
                .with_timezone(&Utc),
        ),
    };
    Ok(ValidDevInfo {
        pid: pid as i32,
        network,
        addr: addr.to_string(),
        vite_port,
        plugin_id: plugin_id.map(str::to_string),
        version: str_field(obj, "version")?.unwrap_or_default().to_string(),
        started_at,
    })
}

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
    let bytes = read_untrusted(path, MAX_DEVINFO_BYTES as u64).map_err(|e| {
        let kind = if e.is_missing() {
            io::ErrorKind::NotFound
        } else {
            io::ErrorKind::InvalidData
        };
        io::Error::new(kind, e)
    })?;
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

    fn check(json: &str) -> Result<ValidDevInfo, DevInfoError> {
        validate_devinfo(json.as_bytes(), "kubernetes")
    }

    #[test]
    fn the_spec_example_is_valid_and_network_is_inferred() {
        let v = check(r#"{"pid":48291,"protocol":"grpc","protocolVersion":1,"addr":"127.0.0.1:42367","vitePort":15173,"pluginId":"kubernetes","version":"0.5.0","startedAt":"2026-02-16T10:30:00Z"}"#).unwrap();
        assert_eq!(
            (v.pid, v.network, v.vite_port),
            (48291, Network::Tcp, 15173)
        );
        assert!(v.started_at.is_some());
        let v = check(r#"{"pid":7,"addr":"/tmp/plugin1"}"#).unwrap();
        assert_eq!(v.network, Network::Unix);
        let v = check(r#"{"pid":7,"addr":"[::1]:9000","network":"tcp"}"#).unwrap();
        assert_eq!(v.network, Network::Tcp);
    }

    #[test]
    fn bad_files_are_rejected_with_the_field_named() {
        let cases = [
            ("{not json", "not valid JSON"),
            (r#"{"pid":7,"addr":"/tmp/p""#, "not valid JSON"),
            ("[1,2]", "not a JSON object"),
            (r#"{"addr":"/tmp/p"}"#, "`pid` is missing"),
            (r#"{"pid":7}"#, "`addr` is missing"),
            (r#"{"pid":"7","addr":"/tmp/p"}"#, "`pid` must be an integer"),
            (r#"{"pid":7,"addr":42}"#, "`addr` must be a string"),
            (r#"{"pid":0,"addr":"/tmp/p"}"#, "`pid` is 0"),
            (r#"{"pid":-3,"addr":"/tmp/p"}"#, "`pid` is -3"),
            (
                r#"{"pid":7,"addr":"/tmp/p","protocol":"netrpc"}"#,
                "`protocol`",
            ),
            (
                r#"{"pid":7,"addr":"/tmp/p","protocolVersion":2}"#,
                "`protocolVersion` is 2",
            ),
            (r#"{"pid":7,"addr":"/tmp/p","network":"udp"}"#, "`network`"),
            (
                r#"{"pid":7,"addr":"relative/sock","network":"unix"}"#,
                "absolute path",
            ),
            (
                r#"{"pid":7,"addr":"/tmp/p","vitePort":70000}"#,
                "`vitePort` is 70000",
            ),
            (
                r#"{"pid":7,"addr":"/tmp/p","pluginId":"other"}"#,
                "`pluginId` is `other`",
            ),
            (
                r#"{"pid":7,"addr":"/tmp/p","startedAt":"yesterday"}"#,
                "`startedAt`",
            ),
            (
                r#"{"pid":7,"addr":"10.0.0.5:9000"}"#,
                "not a loopback address",
            ),
            (
                r#"{"pid":7,"addr":"192.168.1.2:9000","network":"tcp"}"#,
                "not a loopback address",
            ),
            (
                r#"{"pid":7,"addr":"example.com:9000"}"#,
                "not a loopback address",
            ),
            (
                r#"{"pid":7,"addr":"localhost:9000"}"#,
                "use `127.0.0.1:PORT`",
            ),
            (
                r#"{"pid":7,"addr":"127.0.0.1:0"}"#,
                "not a loopback address",
            ),
        ];
        for (json, want) in cases {
            let err = check(json).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
        let huge = format!(
            r#"{{"pid":7,"addr":"/tmp/p","pad":"{}"}}"#,
            "x".repeat(70_000)
        );
        assert!(matches!(check(&huge), Err(DevInfoError::TooLarge(_))));
    }

    #[test]
    fn the_loopback_rule_alone() {
        for ok in [
            "127.0.0.1:1",
            "127.255.0.9:80",
            "[::1]:443",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(loopback_socket_addr(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0.0.0.0:80",
            "[::]:80",
            "8.8.8.8:53",
            "[2001:db8::1]:80",
            "[::ffff:10.0.0.1]:80",
            "127.0.0.1",
            "",
        ] {
            assert!(loopback_socket_addr(bad).is_err(), "{bad}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = validate_devinfo(&bytes, "p");
            }

            #[test]
            fn never_panics_on_arbitrary_json_objects(
                pid in any::<i64>(),
                addr in ".{0,40}",
                network in proptest::option::of("[a-z]{0,6}"),
                port in any::<i64>(),
                id in proptest::option::of("[a-z]{0,6}"),
            ) {
                let mut obj = serde_json::json!({ "pid": pid, "addr": addr, "vitePort": port });
                if let Some(n) = network { obj["network"] = n.into(); }
                if let Some(i) = id { obj["pluginId"] = i.into(); }
                let _ = validate_devinfo(obj.to_string().as_bytes(), "p");
            }

            #[test]
            fn only_loopback_tcp_addresses_pass(a in any::<u8>(), b in any::<u8>(), c in any::<u8>(), d in any::<u8>(), port in 1u16..) {
                let json = serde_json::json!({ "pid": 1, "addr": format!("{a}.{b}.{c}.{d}:{port}") });
                let valid = validate_devinfo(json.to_string().as_bytes(), "p").is_ok();
                prop_assert_eq!(valid, a == 127);
            }
        }
    }

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
