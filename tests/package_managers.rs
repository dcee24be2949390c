//! Every package manager ovdev drives, for real, on the example UI: npm, pnpm, yarn 1
//! (classic), yarn 4 (berry) and bun. Each installs from its lockfile (frozen: the lockfile is
//! left as it was and the locked Vite is what runs), starts Vite, becomes ready, serves the
//! plugin's entry, and stops with no process left. The tools are pinned by
//! scripts/setup-test-tools.sh; the lockfiles are in tests/fixtures/lockfiles.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use omniview_devserver::{DevProcessStatus, DevServerBuilder, DevServerMode};
use ovdev_actors::process::find_on_path;

/// The Vite version the example's npm lockfile pins; every fixture was written for the same
/// `package.json` at the same time and pins it too (checked against the fixture's text).
fn locked_vite_version(lockfile: &Path) -> String {
    let npm_lock = repo().join("examples/hello-plugin/ui/package-lock.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(npm_lock).unwrap()).unwrap();
    let version = json["packages"]["node_modules/vite"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(lockfile).unwrap();
    assert!(
        text.contains(&format!("vite@{version}"))
            || text.contains(&format!("version \"{version}\""))
            || text.contains(&format!("version: {version}"))
            || text.contains(&format!("\"version\": \"{version}\"")),
        "{} does not pin vite {version}: run scripts/update-lockfiles.sh",
        lockfile.display()
    );
    version
}

fn installed_vite_version(ui: &Path) -> String {
    let text = std::fs::read_to_string(ui.join("node_modules/vite/package.json"))
        .expect("node_modules/vite was installed");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["version"].as_str().unwrap().to_string()
}

/// Starts the UI-only copy with `tool` (the manager is named by its path), checks the locked
/// install, readiness and the served entry, then stops and checks nothing is left.
async fn installs_from_lockfile_serves_and_stops(
    dir: PathBuf,
    tool: PathBuf,
    lockfile: &str,
    install_command: &str,
    ports: (u16, u16),
) {
    let ui = dir.join("ui");
    let lock_before = std::fs::read(ui.join(lockfile)).unwrap();
    let locked = locked_vite_version(&ui.join(lockfile));
    let state = tempfile::tempdir().unwrap();
    let handle = DevServerBuilder::with_host(RecordingHost::new())
        .state_dir(state.path())
        .port_range(ports.0, ports.1)
        .package_manager_path(&tool)
        .start()
        .unwrap();
    let mut rec = Recorder::new(handle.subscribe());
    handle
        .start_dev_server_for_path("hello-plugin", &dir)
        .await
        .unwrap();
    let s = rec
        .wait_status("hello-plugin", "vite ready", |s| {
            s.vite_status != DevProcessStatus::Starting
        })
        .await;
    let log = rec.log_text();
    assert_eq!(
        s.vite_status,
        DevProcessStatus::Ready,
        "{}\n{log}",
        s.last_error
    );
    assert!(
        log.contains(&format!("installing dependencies with `{install_command}`")),
        "{log}"
    );
    assert_eq!(installed_vite_version(&ui), locked, "the locked Vite runs");
    assert_eq!(
        std::fs::read(ui.join(lockfile)).unwrap(),
        lock_before,
        "the install left the lockfile as it was"
    );
    let body = http_get(s.vite_port, "/src/entry.ts").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("hello-plugin"), "{body}");

    handle.stop_dev_server("hello-plugin").await.unwrap();
    let left = processes_in(&dir);
    assert!(left.is_empty(), "left behind after the stop: {left:?}");
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", s.vite_port)).is_ok(),
        "the port is free again"
    );
    let after = handle.get_dev_server_state("hello-plugin").await.unwrap();
    assert_eq!(after.mode, DevServerMode::Idle);
    handle.shutdown().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn npm_installs_with_npm_ci() {
    let (_tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("pkg")).unwrap();
    let npm = find_on_path("npm").expect("`npm` is on PATH");
    installs_from_lockfile_serves_and_stops(
        dir,
        npm,
        "package-lock.json",
        "npm ci",
        next_port_range(11),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pnpm_installs_from_its_lockfile() {
    let (_tmp, dir) = ui_with_lockfile("pnpm");
    installs_from_lockfile_serves_and_stops(
        dir,
        pm_tool("pnpm", "pnpm"),
        "pnpm-lock.yaml",
        "pnpm install --frozen-lockfile",
        next_port_range(11),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn yarn_classic_installs_from_its_lockfile() {
    let (_tmp, dir) = ui_with_lockfile("yarn-classic");
    installs_from_lockfile_serves_and_stops(
        dir,
        pm_tool("yarn-classic", "yarn"),
        "yarn.lock",
        "yarn install --frozen-lockfile",
        next_port_range(11),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn yarn_berry_installs_from_its_lockfile() {
    let (_tmp, dir) = ui_with_lockfile("yarn-berry");
    installs_from_lockfile_serves_and_stops(
        dir,
        pm_tool("yarn-berry", "yarn"),
        "yarn.lock",
        "yarn install --frozen-lockfile",
        next_port_range(11),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bun_installs_from_its_lockfile() {
    let (_tmp, dir) = ui_with_lockfile("bun");
    installs_from_lockfile_serves_and_stops(
        dir,
        pm_tool("bun", "bun"),
        "bun.lock",
        "bun install --frozen-lockfile",
        next_port_range(11),
    )
    .await;
}

/// A lockfile older than `package.json` fails the install with what to do, and the lockfile
/// is not rewritten.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_lockfile_fails_the_install_and_says_how_to_update_it() {
    let (_tmp, dir) = ui_with_lockfile("yarn-classic");
    let ui = dir.join("ui");
    let package = std::fs::read_to_string(ui.join("package.json")).unwrap();
    std::fs::write(
        ui.join("package.json"),
        package.replace(
            "\"vite\":",
            "\"left-pad-never-locked\": \"1.3.0\",\n    \"vite\":",
        ),
    )
    .unwrap();
    let lock_before = std::fs::read(ui.join("yarn.lock")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (first_port, last_port) = next_port_range(11);
    let handle = DevServerBuilder::with_host(RecordingHost::new())
        .state_dir(state.path())
        .port_range(first_port, last_port)
        .package_manager_path(pm_tool("yarn-classic", "yarn"))
        .vite_restart_policy(omniview_devserver::RestartPolicy::new(
            omniview_devserver::RestartType::Temporary,
        ))
        .start()
        .unwrap();
    let mut rec = Recorder::new(handle.subscribe());
    handle
        .start_dev_server_for_path("hello-plugin", &dir)
        .await
        .unwrap();
    let s = rec
        .wait_status("hello-plugin", "install failed", |s| {
            s.vite_status == DevProcessStatus::Error
        })
        .await;
    assert!(
        s.last_error
            .contains("`yarn install --frozen-lockfile` failed"),
        "{}",
        s.last_error
    );
    assert!(
        s.last_error
            .contains("run `yarn install` in the UI directory"),
        "{}",
        s.last_error
    );
    assert_eq!(std::fs::read(ui.join("yarn.lock")).unwrap(), lock_before);
    assert!(!ui.join("node_modules/vite").exists());
    handle.shutdown().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}
