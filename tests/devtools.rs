//! The Dev Tools page in a real browser: headless Chromium (Debian's package) driven by
//! playwright-core (`scripts/setup-test-tools.sh` installs both), against a real `ovdev dev`
//! on a copy of the example plugin. The scripts are in `tests/devtools/`; screenshots go to
//! `target/devtools-screenshots/` for a person to look at.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

async fn run_script(script: &str, env: &[(&str, &Path)]) {
    let tools = repo().join("target/api-tools/node_modules");
    assert!(
        tools.join("playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "playwright-core or /usr/bin/chromium is missing; run scripts/setup-test-tools.sh"
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/devtools").join(script))
        .env("NODE_PATH", &tools)
        .env("OVDEV_BIN", env!("CARGO_BIN_EXE_ovdev"))
        .env("SHOTS", repo().join("target/devtools-screenshots"))
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("the browser test finishes")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} failed:\n{text}");
    assert!(text.contains(": ok"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_errors_at_once_steers_builds_filters_logs_and_reconnects() {
    let (_tmp, dir) = example_copy(true);
    let state = tempfile::tempdir().unwrap();
    run_script(
        "e2e.mjs",
        &[("PLUGIN_DIR", &dir), ("STATE_DIR", state.path())],
    )
    .await;
    assert_no_processes_in(&dir, Duration::from_secs(5)).await;
    assert_no_processes_in(state.path(), Duration::from_secs(5)).await;
}
