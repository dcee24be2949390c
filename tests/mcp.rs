//! `ovdev mcp` with a real MCP client (the official Python SDK, `mcp` from PyPI, installed by
//! `scripts/setup-test-tools.sh`) against a real `ovdev dev` on a copy of the example plugin.

mod common;

use std::path::Path;
use std::time::Duration;

use common::cli::*;
use common::*;
use nix::sys::signal::Signal;

async fn client(mode: &str, env: &[(&str, &Path)], line: usize) -> String {
    let python = repo().join("target/api-tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing; run scripts/setup-test-tools.sh",
        python.display()
    );
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(repo().join("tests/mcp/client.py"))
        .arg(mode)
        .env("OVDEV_BIN", env!("CARGO_BIN_EXE_ovdev"))
        .env("EXPECT_LINE", line.to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let what = format!("the MCP client ({mode})");
    run_checked(cmd, &what, "mcp client: ok", Duration::from_secs(400)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_client_reads_build_errors_and_rebuilds_only_when_allowed() {
    let (_tmp, dir) = example_copy(false);
    let state = tempfile::tempdir().unwrap();
    let greeting = dir.join("pkg/greeting/greeting.go");
    let line = std::fs::read_to_string(&greeting).unwrap().lines().count() + 2;
    let env = [
        ("STATE_DIR", state.path()),
        ("GREETING", greeting.as_path()),
    ];
    let out = client("none", &env, line).await;
    assert!(out.contains("no ovdev:"), "{out}");

    let (mut child, _lines) = spawn_piped(
        ovdev()
            .args(["dev", "--json", "--no-vite", "--no-external", "--state-dir"])
            .arg(state.path())
            .arg(&dir),
    );
    let out = client("session", &env, line).await;
    assert!(out.contains(&format!("greeting.go:{line}:")), "{out}");
    signal(&child, Signal::SIGTERM);
    assert!(wait_exit(&mut child).await.success());
    assert_no_processes_in(state.path(), Duration::from_secs(5)).await;
}
