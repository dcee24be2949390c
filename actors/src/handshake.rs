//! Parses the go-plugin handshake line a plugin prints first on stdout:
//! `CORE|APP|NETWORK|ADDR|PROTOCOL[|SERVERCERT[|MULTIPLEX]]`, e.g. `1|1|unix|/tmp/plugin1|grpc|`.

use std::fmt;

/// The core protocol version go-plugin speaks.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The application protocol version Omniview plugins speak.
pub const APP_PROTOCOL_VERSION: u32 = 1;

/// How to reach the plugin's gRPC server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Unix,
    Tcp,
}

impl Network {
    /// The handshake's (and `.devinfo`'s) name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unix => "unix",
            Self::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub app_version: u32,
    pub network: Network,
    /// A socket path (`unix`) or `host:port` (`tcp`).
    pub addr: String,
    /// The server certificate (unpadded base64 DER) when AutoMTLS is on.
    pub server_cert: Option<String>,
    /// True when the plugin multiplexes gRPC connections (a 7th field `true`).
    pub multiplex: bool,
}

impl Handshake {
    /// The `.devinfo` that lets an IDE attach to process `pid`, which serves this handshake as
    /// plugin `plugin_id` (`version` from its `plugin.yaml`, Vite on `vite_port`, 0 for none),
    /// started at `started_at`.
    pub fn devinfo(
        &self,
        pid: i32,
        plugin_id: &str,
        version: String,
        vite_port: u16,
        started_at: chrono::DateTime<chrono::Utc>,
    ) -> crate::types::DevInfoFile {
        crate::types::DevInfoFile {
            pid,
            protocol: "grpc".into(),
            protocol_version: self.app_version,
            addr: self.addr.clone(),
            vite_port,
            plugin_id: plugin_id.to_string(),
            version,
            started_at: Some(started_at),
            network: Some(self.network.as_str().into()),
        }
    }
}

/// The environment a go-plugin plugin needs to serve as plugin `plugin_id`: Omniview's magic
/// cookie (`OMNIVIEW=<id>`) and the plugin protocol version.
pub fn plugin_env(plugin_id: &str) -> [(&'static str, String); 2] {
    [
        ("OMNIVIEW", plugin_id.to_string()),
        ("PLUGIN_PROTOCOL_VERSIONS", "1".to_string()),
    ]
}

/// Why a handshake line was refused; each message quotes the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("the plugin's first line is not a go-plugin handshake (expected `1|1|unix|/path|grpc|`): {0:?}")]
    Malformed(String),
    #[error(
        "the plugin speaks go-plugin core protocol {found}, not {CORE_PROTOCOL_VERSION}: {line:?}"
    )]
    CoreVersion { found: String, line: String },
    #[error("the plugin speaks application protocol {found}, but Omniview speaks {APP_PROTOCOL_VERSION}: {line:?}")]
    AppVersion { found: String, line: String },
    #[error(
        "the plugin listens on network {found:?}; only `unix` and `tcp` are supported: {line:?}"
    )]
    Network { found: String, line: String },
    #[error("the plugin speaks {found:?}, not gRPC; Omniview plugins must set `GRPCServer` (netrpc is not supported): {line:?}")]
    Protocol { found: String, line: String },
}

/// Parses a handshake line (trailing whitespace ignored).
pub fn parse_handshake(line: &str) -> Result<Handshake, HandshakeError> {
    let line = line.trim_end();
    let owned = || line.to_string();
    let parts: Vec<&str> = line.split('|').collect();
    if parts.len() < 4 {
        return Err(HandshakeError::Malformed(owned()));
    }
    if parts[0].trim().parse::<u32>().ok() != Some(CORE_PROTOCOL_VERSION) {
        if parts[0].trim().parse::<u32>().is_err() {
            return Err(HandshakeError::Malformed(owned()));
        }
        return Err(HandshakeError::CoreVersion {
            found: parts[0].into(),
            line: owned(),
        });
    }
    if parts[1].trim().parse::<u32>().ok() != Some(APP_PROTOCOL_VERSION) {
        return Err(HandshakeError::AppVersion {
            found: parts[1].into(),
            line: owned(),
        });
    }
    let network = match parts[2] {
        "unix" => Network::Unix,
        "tcp" => Network::Tcp,
        other => {
            return Err(HandshakeError::Network {
                found: other.into(),
                line: owned(),
            })
        }
    };
    if parts[3].is_empty() {
        return Err(HandshakeError::Malformed(owned()));
    }
    // No protocol field means netrpc, which Omniview does not speak.
    let protocol = parts.get(4).copied().unwrap_or("netrpc");
    if protocol != "grpc" {
        return Err(HandshakeError::Protocol {
            found: protocol.into(),
            line: owned(),
        });
    }
    Ok(Handshake {
        app_version: APP_PROTOCOL_VERSION,
        network,
        addr: parts[3].to_string(),
        server_cert: parts
            .get(5)
            .filter(|c| !c.is_empty())
            .map(|c| c.to_string()),
        multiplex: parts.get(6).is_some_and(|m| *m == "true"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_becomes_the_devinfo_an_ide_reads() {
        let h = parse_handshake("1|1|tcp|127.0.0.1:10001|grpc").unwrap();
        let at = chrono::Utc::now();
        let info = h.devinfo(42, "hello", "1.2.0".into(), 15173, at);
        assert_eq!(
            (info.pid, info.protocol_version, info.vite_port),
            (42, 1, 15173)
        );
        assert_eq!(info.addr, "127.0.0.1:10001");
        assert_eq!(info.protocol, "grpc");
        assert_eq!(info.network.as_deref(), Some("tcp"));
        assert_eq!(
            (info.plugin_id.as_str(), info.version.as_str()),
            ("hello", "1.2.0")
        );
        assert_eq!(info.started_at, Some(at));
        let env = plugin_env("hello");
        assert!(env.contains(&("OMNIVIEW", "hello".to_string())));
        assert!(env.contains(&("PLUGIN_PROTOCOL_VERSIONS", "1".to_string())));
    }

    #[test]
    fn accepts_five_six_and_seven_fields() {
        let h = parse_handshake("1|1|unix|/tmp/plugin123|grpc|\n").unwrap();
        assert_eq!(
            (h.network, h.addr.as_str(), h.server_cert),
            (Network::Unix, "/tmp/plugin123", None)
        );
        let h = parse_handshake("1|1|tcp|127.0.0.1:1234|grpc").unwrap();
        assert_eq!(
            (h.network, h.addr.as_str()),
            (Network::Tcp, "127.0.0.1:1234")
        );
        let h = parse_handshake("1|1|unix|/s|grpc|MIIBcert|true").unwrap();
        assert_eq!(h.server_cert.as_deref(), Some("MIIBcert"));
        assert!(h.multiplex);
    }

    #[test]
    fn refusals_quote_the_line() {
        let e = parse_handshake("hello world").unwrap_err();
        assert!(e.to_string().contains("\"hello world\""), "{e}");
        assert!(matches!(
            parse_handshake("2|1|unix|/s|grpc|"),
            Err(HandshakeError::CoreVersion { .. })
        ));
        let e = parse_handshake("1|2|unix|/s|grpc|").unwrap_err();
        assert!(e.to_string().contains("application protocol 2"), "{e}");
        assert!(matches!(
            parse_handshake("1|1|udp|/s|grpc|"),
            Err(HandshakeError::Network { .. })
        ));
        let e = parse_handshake("1|1|unix|/s|netrpc").unwrap_err();
        assert!(e.to_string().contains("not gRPC"), "{e}");
        assert!(matches!(
            parse_handshake("1|1|unix|/s"),
            Err(HandshakeError::Protocol { .. })
        ));
        assert!(matches!(
            parse_handshake("1|1|unix||grpc|"),
            Err(HandshakeError::Malformed(_))
        ));
    }
}
