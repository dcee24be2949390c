//! External mode with the real example plugin run through `ovdev serve-external` while an
//! engine watches `<state>/plugins`: attach and SERVING, a killed plugin, a restarted plugin,
//! detach and shutdown (the plugin lives on), an engine started after the plugin, and bad
//! `.devinfo` files that must never be dialled or signalled.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use omniview_devserver::{DevProcessStatus, DevServerError, DevServerHandle, DevServerMode};
use ovdev_actors::devinfo::{devinfo_path, validate_devinfo};
use tokio::process::{Child, Command};

const ID: &str = "hello-plugin";

fn engine(state: &Path) -> (DevServerHandle, Recorder) {
    engine_on(RecordingHost::new(), state, |b| {
        b.external_health_interval(Duration::from_millis(200))
    })
}

struct Plugin {
    child: Child,
    pid: i32,
}

/// Runs the example binary through `ovdev serve-external` and waits for its `.devinfo`.
async fn serve(state: &Path, dir: &Path, binary: &Path, vite_port: u16) -> Plugin {
    let path = devinfo_path(state, ID);
    let old = std::fs::read(&path).ok();
    let child = Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .args([
            "serve-external",
            "--vite-port",
            &vite_port.to_string(),
            "--state-dir",
        ])
        .arg(state)
        .arg("--")
        .arg(binary)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + HANG;
    loop {
        if let Ok(bytes) = std::fs::read(&path) {
            if Some(&bytes) != old.as_ref() {
                if let Ok(info) = validate_devinfo(&bytes, ID) {
                    return Plugin {
                        child,
                        pid: info.pid,
                    };
                }
            }
        }
        assert!(Instant::now() < deadline, "no .devinfo from serve-external");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn setup() -> (
    tempfile::TempDir,
    PathBuf,
    tempfile::TempDir,
    PathBuf,
    tempfile::TempDir,
) {
    let bins = tempfile::tempdir().unwrap();
    let binary = build_example_binary(bins.path());
    let (tmp, dir) = example_copy(false);
    let state = tempfile::tempdir().unwrap();
    (bins, binary, tmp, dir, state)
}

#[tokio::test(flavor = "multi_thread")]
async fn attaches_notices_death_reattaches_and_never_harms_the_plugin() {
    let (_bins, binary, _tmp, dir, state) = setup();
    let (h, mut rec) = engine(state.path());
    let vite = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let vite_port = vite.local_addr().unwrap().port();

    // Attach and SERVING, with the Vite port from the file (it accepts connections).
    let mut plugin = serve(state.path(), &dir, &binary, vite_port).await;
    let s = rec
        .wait_status(ID, "connected, vite ready", |s| {
            s.grpc_connected && s.vite_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(s.mode, DevServerMode::External);
    assert_eq!(s.vite_port, vite_port);
    assert_eq!(s.vite_url, format!("http://127.0.0.1:{vite_port}"));
    assert!(h.is_managed(ID).await.unwrap());
    assert_eq!(
        h.list_dev_server_states().await.unwrap()[0].mode,
        DevServerMode::External
    );
    // Omniview's GetExternalPluginInfo: the attached plugin's .devinfo.
    let info = h
        .get_external_plugin_info(ID)
        .await
        .unwrap()
        .expect("attached");
    assert_eq!((info.pid, info.vite_port), (plugin.pid, vite_port));
    assert_eq!(info.plugin_id, ID);
    assert!(h
        .get_external_plugin_info("nobody")
        .await
        .unwrap()
        .is_none());

    // Managed and external never coexist.
    let err = h.start_dev_server_for_path(ID, &dir).await.unwrap_err();
    assert!(
        matches!(err, DevServerError::AttachedExternally(_)),
        "{err}"
    );

    // kill -9 of the plugin: the disconnect and the file's removal follow at once.
    let killed_at = Instant::now();
    kill(Pid::from_raw(plugin.pid), Signal::SIGKILL).unwrap();
    rec.wait_status(ID, "gone", |s| s.mode == DevServerMode::Idle)
        .await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "noticed through the pidfd, not a slow poll"
    );
    let _ = plugin.child.wait().await;
    assert!(!devinfo_path(state.path(), ID).exists());

    // A restarted plugin is attached again.
    let plugin = serve(state.path(), &dir, &binary, 0).await;
    let s = rec
        .wait_status(ID, "reattached", |s| s.grpc_connected)
        .await;
    assert_eq!((s.vite_port, s.vite_status), (0, DevProcessStatus::Idle));

    // Detach: the plugin keeps running and answering; its file is ignored until it changes.
    h.detach_external(ID).await.unwrap();
    rec.wait_status(ID, "detached", |s| s.mode == DevServerMode::Idle)
        .await;
    assert!(!h.is_managed(ID).await.unwrap());
    assert!(h.get_external_plugin_info(ID).await.unwrap().is_none());
    assert!(alive(plugin.pid));
    assert_eq!(
        ping(state.path(), ID).await.unwrap(),
        "hello from hello-plugin"
    );
    rec.drain(Duration::from_millis(400)).await;
    assert_eq!(
        h.get_dev_server_state(ID).await.unwrap().mode,
        DevServerMode::Idle
    );

    // attach_external attaches at once, with the given Vite port.
    let s = h.attach_external(ID, vite_port).await.unwrap();
    assert_eq!((s.mode, s.vite_port), (DevServerMode::External, vite_port));
    rec.wait_status(ID, "attached again", |s| s.grpc_connected)
        .await;

    // Engine shutdown: the plugin lives on.
    h.shutdown().await;
    assert!(alive(plugin.pid));
    assert_eq!(
        ping(state.path(), ID).await.unwrap(),
        "hello from hello-plugin"
    );

    // A new engine finds the running plugin's file and attaches.
    let (h2, mut rec2) = engine(state.path());
    rec2.wait_status(ID, "attached on start", |s| s.grpc_connected)
        .await;
    h2.shutdown().await;
    assert!(alive(plugin.pid));
    drop(plugin);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_the_engine_leaves_the_external_plugin_running() {
    let (_bins, binary, _tmp, dir, state) = setup();
    let plugin = serve(state.path(), &dir, &binary, 0).await;
    // `ovdev dev` with no plugin directory only attaches.
    let mut engine = Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .args(["dev", "--json", "--state-dir"])
        .arg(state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(engine.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + HANG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["name"] == "plugin/devserver/status" && v["data"]["grpcConnected"] == true {
            assert_eq!(v["data"]["mode"], "external");
            break;
        }
    }
    kill(Pid::from_raw(engine.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    let _ = engine.wait().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(alive(plugin.pid), "ovdev never signals an external plugin");
    assert_eq!(
        ping(state.path(), ID).await.unwrap(),
        "hello from hello-plugin"
    );
    drop(plugin);
}

/// Writes `content` as plugin `id`'s `.devinfo` (atomically, like a plugin would).
fn write_devinfo_file(state: &Path, id: &str, content: &str) -> PathBuf {
    let path = devinfo_path(state, id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    atomic_save(&path, content);
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_devinfo_files_never_attach_and_never_crash_anything() {
    let state = tempfile::tempdir().unwrap();
    let (h, mut rec) = engine(state.path());
    let me = std::process::id();
    // A unix socket that must never be dialled.
    let trap_dir = tempfile::tempdir().unwrap();
    let trap = trap_dir.path().join("trap.sock");
    let listener = std::os::unix::net::UnixListener::bind(&trap).unwrap();
    listener.set_nonblocking(true).unwrap();
    let trap_addr = trap.display().to_string();
    let huge = format!(
        r#"{{"pid":{me},"addr":"{trap_addr}","pad":"{}"}}"#,
        "x".repeat(70_000)
    );
    let cases: Vec<(&str, String)> = vec![
        ("invalid-json", "{ not json".into()),
        ("truncated", format!(r#"{{"pid":{me},"addr":"{trap_addr}""#)),
        ("huge", huge),
        ("missing-fields", r#"{"protocol":"grpc"}"#.into()),
        (
            "wrong-types",
            format!(r#"{{"pid":"{me}","addr":"{trap_addr}"}}"#),
        ),
        (
            "id-mismatch",
            format!(r#"{{"pid":{me},"addr":"{trap_addr}","pluginId":"someone-else"}}"#),
        ),
        (
            "not-loopback",
            format!(r#"{{"pid":{me},"addr":"10.1.2.3:4000"}}"#),
        ),
        (
            "dead-pid",
            format!(r#"{{"pid":999999,"addr":"{trap_addr}"}}"#),
        ),
        // This test process is alive, but started long after this "plugin" wrote its file.
        (
            "reused-pid",
            format!(r#"{{"pid":{me},"addr":"{trap_addr}","startedAt":"2001-01-01T00:00:00Z"}}"#),
        ),
    ];
    for (id, content) in &cases {
        write_devinfo_file(state.path(), id, content);
    }
    rec.drain(Duration::from_millis(800)).await;
    for (id, _) in &cases {
        let s = h.get_dev_server_state(id).await.unwrap();
        assert_eq!(s.mode, DevServerMode::Idle, "{id} must not attach");
    }
    assert!(
        listener.accept().is_err(),
        "nothing dialled the trap socket"
    );
    assert!(
        !devinfo_path(state.path(), "dead-pid").exists(),
        "a dead PID's file is removed"
    );
    assert!(
        !devinfo_path(state.path(), "reused-pid").exists(),
        "a reused PID's file is removed"
    );
    assert!(
        devinfo_path(state.path(), "invalid-json").exists(),
        "invalid files are left alone"
    );

    // A socket path that is not a socket: attached (the process lives) but never connected.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let not_a_socket = trap_dir.path().join("plain-file");
    std::fs::write(&not_a_socket, "x").unwrap();
    write_devinfo_file(
        state.path(),
        "not-a-socket",
        &format!(
            r#"{{"pid":{},"addr":"{}"}}"#,
            sleeper.id(),
            not_a_socket.display()
        ),
    );
    let s = rec
        .wait_status("not-a-socket", "attached", |s| {
            s.mode == DevServerMode::External
        })
        .await;
    assert!(!s.grpc_connected);
    rec.drain(Duration::from_millis(500)).await;
    assert!(
        !h.get_dev_server_state("not-a-socket")
            .await
            .unwrap()
            .grpc_connected
    );
    h.shutdown().await;
    assert_eq!(
        sleeper.try_wait().unwrap(),
        None,
        "the process was never signalled"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_stops_answering_is_shown_disconnected_and_recovers() {
    let (_bins, binary, _tmp, dir, state) = setup();
    let (h, mut rec) = engine(state.path());
    let plugin = serve(state.path(), &dir, &binary, 0).await;
    rec.wait_status(ID, "connected", |s| s.grpc_connected).await;
    kill(Pid::from_raw(plugin.pid), Signal::SIGSTOP).unwrap();
    let s = rec
        .wait_status(ID, "not answering", |s| !s.grpc_connected)
        .await;
    assert_eq!(
        s.mode,
        DevServerMode::External,
        "still attached: the process lives"
    );
    assert!(s.last_error.contains("does not answer"), "{}", s.last_error);
    kill(Pid::from_raw(plugin.pid), Signal::SIGCONT).unwrap();
    let s = rec
        .wait_status(ID, "answering again", |s| s.grpc_connected)
        .await;
    assert_eq!(s.last_error, "");
    h.shutdown().await;
    assert!(alive(plugin.pid));
    drop(plugin);
}

/// A plugin whose `.devinfo` names an address that accepts connections but never answers
/// (a hung process): the state says so in `lastError` instead of staying silently
/// disconnected.
#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_never_answers_says_so_in_last_error() {
    let state = tempfile::tempdir().unwrap();
    let (h, mut rec) = engine(state.path());
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let me = std::process::id();
    write_devinfo_file(
        state.path(),
        "silent",
        &format!(r#"{{"pid":{me},"addr":"{addr}","pluginId":"silent"}}"#),
    );
    let s = rec
        .wait_status("silent", "the reason it is not connected", |s| {
            !s.last_error.is_empty()
        })
        .await;
    assert!(!s.grpc_connected);
    assert!(
        s.last_error
            .contains(&format!("{addr}, which has not answered")),
        "{}",
        s.last_error
    );
    h.shutdown().await;
    drop(silent);
}
