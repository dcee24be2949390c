//! The go-plugin host's latencies on the example plugin, next to go-plugin's own Go host
//! measured in the same run: spawn -> SERVING, and Shutdown -> exit.
//!
//! ovdev's side uses the same pieces as `PluginProcessActor` (handshake parser, gRPC connect,
//! health check, Shutdown); the Go side is `benches/gohost` (`plugin.NewClient`, `Client`,
//! `Ping`, `Kill`), a Go module on go-plugin v1.7.0. Run with `scripts/bench.sh`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::report;
use ovdev_actors::grpc;
use ovdev_actors::handshake::parse_handshake;
use tokio::io::{AsyncBufReadExt, BufReader};

const ROUNDS: usize = 20;

fn go_build(dir: &Path, out: &Path, pkg: &str) {
    let status = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(out)
        .arg(pkg)
        .current_dir(dir)
        .status()
        .expect("go");
    assert!(
        status.success(),
        "go build {pkg} failed (run through scripts/bench.sh)"
    );
}

async fn ovdev_round(binary: &Path) -> (Duration, Duration) {
    let start = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env("OMNIVIEW", "hello-plugin")
        .env("PLUGIN_PROTOCOL_VERSIONS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let handshake = parse_handshake(&line).unwrap();
    let channel = grpc::connect(handshake.network, &handshake.addr)
        .await
        .unwrap();
    grpc::check_health(channel.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    let serving = start.elapsed();
    let start = Instant::now();
    grpc::shutdown(channel).await.unwrap();
    child.wait().await.unwrap();
    (serving, start.elapsed())
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let plugin = out.path().join("plugin");
    let gohost = out.path().join("gohost");
    go_build(&root.join("examples/hello-plugin"), &plugin, "./pkg");
    go_build(&root.join("benches/gohost"), &gohost, ".");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut serving, mut stopping) = (vec![], vec![]);
    rt.block_on(async {
        ovdev_round(&plugin).await; // warm-up
        for _ in 0..ROUNDS {
            let (s, t) = ovdev_round(&plugin).await;
            serving.push(s);
            stopping.push(t);
        }
    });

    let output = std::process::Command::new(&gohost)
        .arg(&plugin)
        .arg("hello-plugin")
        .arg((ROUNDS + 1).to_string())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (mut go_serving, mut go_stopping) = (vec![], vec![]);
    for line in String::from_utf8_lossy(&output.stdout).lines().skip(1) {
        let mut f = line
            .split_whitespace()
            .map(|n| Duration::from_nanos(n.parse().unwrap()));
        go_serving.push(f.next().unwrap());
        go_stopping.push(f.next().unwrap());
    }

    println!("go-plugin host latencies on examples/hello-plugin ({ROUNDS} rounds each)");
    report("ovdev: spawn -> SERVING", serving);
    report(
        "go-plugin (NewClient+Client+Ping): spawn -> SERVING",
        go_serving,
    );
    report("ovdev: Shutdown -> exit", stopping);
    report("go-plugin (Kill): Shutdown -> exit", go_stopping);
}
