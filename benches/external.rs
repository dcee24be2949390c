//! External-mode latencies with the example plugin: from the atomic rename of its `.devinfo`
//! to `grpcConnected: true`, and from a SIGKILL of the plugin to the disconnected (`idle`)
//! state. Run with `scripts/bench.sh`.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{report, NoHost};
use omniview_devserver::{
    DevInfoFile, DevServerBuilder, DevServerEvent, DevServerMode, DevServerState, EventStream,
    Received,
};
use ovdev_actors::devinfo::{devinfo_path, write_devinfo};
use ovdev_actors::handshake::parse_handshake;
use tokio::io::{AsyncBufReadExt, BufReader};

const ROUNDS: usize = 10;

async fn wait_status(events: &mut EventStream, pred: impl Fn(&DevServerState) -> bool) -> Instant {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Status(s)))) if pred(&s) => {
                return Instant::now()
            }
            Ok(Some(_)) => {}
            other => panic!("benchmark stalled: {other:?}"),
        }
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let binary = out.path().join("plugin");
    let status = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg("./pkg")
        .current_dir(root.join("examples/hello-plugin"))
        .status()
        .expect("go");
    assert!(
        status.success(),
        "go build failed (run through scripts/bench.sh)"
    );
    let state = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut attach, mut death) = (vec![], vec![]);
    rt.block_on(async {
        let handle = DevServerBuilder::with_host(Arc::new(NoHost))
            .state_dir(state.path())
            .start()
            .unwrap();
        let mut events = handle.subscribe();
        let path = devinfo_path(state.path(), "hello-plugin");
        for _ in 0..ROUNDS {
            let mut child = tokio::process::Command::new(&binary)
                .env("OMNIVIEW", "hello-plugin")
                .env("PLUGIN_PROTOCOL_VERSIONS", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let pid = child.id().unwrap() as i32;
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let h = parse_handshake(&lines.next_line().await.unwrap().unwrap()).unwrap();
            let info = DevInfoFile {
                pid,
                protocol: "grpc".into(),
                protocol_version: 1,
                addr: h.addr.clone(),
                vite_port: 0,
                plugin_id: "hello-plugin".into(),
                version: "0.1.0".into(),
                started_at: Some(Utc::now()),
                network: Some(h.network.as_str().into()),
            };
            let t = Instant::now();
            write_devinfo(&path, &info).unwrap();
            let at = wait_status(&mut events, |s| s.grpc_connected).await;
            attach.push(at - t);

            let t = Instant::now();
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            let at = wait_status(&mut events, |s| s.mode == DevServerMode::Idle).await;
            death.push(at - t);
            let _ = child.wait().await;
        }
        handle.shutdown().await;
    });
    println!("external mode on examples/hello-plugin ({ROUNDS} rounds)");
    report(".devinfo rename -> grpcConnected", attach);
    report("SIGKILL of the plugin -> disconnected", death);
}
