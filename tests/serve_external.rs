//! `ovdev serve-external` with the real example plugin: `.devinfo` written and valid, the
//! plugin answering through it, signals forwarded, the file removed and the exit code passed
//! on when the plugin ends.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovdev_actors::devinfo::{devinfo_path, validate_devinfo};
use tokio::process::{Child, Command};

fn serve_external(
    cwd: &std::path::Path,
    state: &std::path::Path,
    binary: &std::path::Path,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .args(["serve-external", "--vite-port", "15999", "--state-dir"])
        .arg(state)
        .arg("--")
        .arg(binary)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_for_file(path: &std::path::Path) {
    let deadline = Instant::now() + HANG;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn exit_code(child: &mut Child) -> Option<i32> {
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("serve-external exits")
        .unwrap()
        .code()
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_a_valid_devinfo_forwards_sigterm_and_cleans_up() {
    let bins = tempfile::tempdir().unwrap();
    let binary = build_example_binary(bins.path());
    let (_tmp, dir) = example_copy(false);
    let state = tempfile::tempdir().unwrap();
    let mut child = serve_external(&dir.join("pkg"), state.path(), &binary);
    let path = devinfo_path(state.path(), "hello-plugin");
    wait_for_file(&path).await;
    let info = validate_devinfo(&std::fs::read(&path).unwrap(), "hello-plugin").unwrap();
    assert_eq!(info.vite_port, 15999);
    assert_eq!(info.version, "0.1.0", "from the nearest plugin.yaml");
    assert_ne!(
        info.pid as u32,
        child.id().unwrap(),
        "the pid is the plugin's, not ovdev's"
    );
    assert_eq!(
        ping(state.path(), "hello-plugin").await.unwrap(),
        "hello from hello-plugin"
    );

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(
        exit_code(&mut child).await,
        Some(128 + 15),
        "the plugin's own end (SIGTERM) is passed on"
    );
    assert!(!path.exists(), ".devinfo is removed when the plugin exits");
    assert!(
        ovdev_actors::process::proc_entry(info.pid).is_none(),
        "the plugin is gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_plugin_ends_serve_external_with_its_code() {
    let bins = tempfile::tempdir().unwrap();
    let binary = build_example_binary(bins.path());
    let (_tmp, dir) = example_copy(false);
    let state = tempfile::tempdir().unwrap();
    let mut child = serve_external(&dir, state.path(), &binary);
    let path = devinfo_path(state.path(), "hello-plugin");
    wait_for_file(&path).await;
    let info = validate_devinfo(&std::fs::read(&path).unwrap(), "hello-plugin").unwrap();
    kill(Pid::from_raw(info.pid), Signal::SIGKILL).unwrap();
    assert_eq!(exit_code(&mut child).await, Some(128 + 9));
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_reaches_a_plugin_that_ignores_it() {
    // go-plugin plugins ignore SIGINT (their host stops them): ovdev follows up with SIGTERM.
    let bins = tempfile::tempdir().unwrap();
    let binary = build_example_binary(bins.path());
    let (_tmp, dir) = example_copy(false);
    let state = tempfile::tempdir().unwrap();
    let mut child = serve_external(&dir, state.path(), &binary);
    wait_for_file(&devinfo_path(state.path(), "hello-plugin")).await;
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
    assert_eq!(exit_code(&mut child).await, Some(128 + 15));
}

#[tokio::test]
async fn without_a_plugin_yaml_or_an_id_it_says_so() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .args(["serve-external", "--", "/bin/true"])
        .current_dir(empty.path())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("no plugin.yaml found here or above; pass `--id ID`"));
}

#[tokio::test]
async fn garbage_instead_of_a_handshake_is_an_error() {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .args(["serve-external", "--id", "odd", "--state-dir"])
        .arg(state.path())
        .args(["--", "sh", "-c", "echo 'not a handshake'; sleep 30"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a go-plugin handshake") && err.contains("\"not a handshake\""),
        "{err}"
    );
    assert!(!devinfo_path(state.path(), "odd").exists());
}
