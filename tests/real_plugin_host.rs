//! The built-in go-plugin host against the real example plugin (a Go module on go-plugin v1.7.0):
//! launch and SERVING, a real gRPC call, edit and reload, a build error that leaves the
//! running plugin alone, a SIGKILLed plugin restarted under its policy, and a graceful stop.
//! Plus plugins that misbehave: a wrong cookie, garbage instead of a handshake, no handshake
//! at all, and an immediate exit. And a full state directory: the build fails, the running
//! plugin stays.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use omniview_devserver::{
    DevProcessStatus, DevServerBuilder, DevServerEvent, DevServerHandle, PackageManager,
    RestartPolicy, RestartType,
};
use ovdev_actors::devinfo::{devinfo_path, read_devinfo};

fn host_engine(
    state: &Path,
    tweak: impl FnOnce(DevServerBuilder) -> DevServerBuilder,
) -> (DevServerHandle, Recorder) {
    engine_on(RecordingHost::new(), state, |b| {
        tweak(
            b.debounce(Duration::from_millis(100))
                .launch_plugins(true)
                .write_devinfo(true)
                .plugin_restart_policy(RestartPolicy {
                    backoff_initial: Duration::from_millis(100),
                    ..RestartPolicy::new(RestartType::Transient)
                }),
        )
    })
}

fn plugin_pid(state: &Path, id: &str) -> i32 {
    read_devinfo(&devinfo_path(state, id)).unwrap().pid
}

fn greeting(dir: &Path, body: &str) {
    atomic_save(&dir.join("pkg/greeting/greeting.go"), body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_plugin_is_launched_reloaded_restarted_and_stopped_gracefully() {
    let (_tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("ui")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (h, mut rec) = host_engine(state.path(), |b| b);
    let id = "hello-plugin";

    h.start_dev_server_for_path(id, &dir).await.unwrap();
    let s = rec.wait_status(id, "serving", |s| s.grpc_connected).await;
    assert_eq!(
        s.go_status,
        DevProcessStatus::Building,
        "connected before the build reports ready"
    );
    rec.wait_status(id, "built", |s| s.go_status == DevProcessStatus::Ready)
        .await;
    assert_eq!(
        ping(state.path(), id).await.unwrap(),
        "hello from hello-plugin"
    );
    let info = read_devinfo(&devinfo_path(state.path(), id)).unwrap();
    assert_eq!(
        (info.plugin_id.as_str(), info.version.as_str()),
        ("hello-plugin", "0.1.0")
    );
    assert_eq!(info.network.as_deref(), Some("unix"));
    assert!(info.started_at.is_some());
    let first_pid = info.pid;
    // The engine also watches for external plugins: its own .devinfo is not one.
    rec.drain(Duration::from_millis(300)).await;
    assert_eq!(
        h.get_dev_server_state(id).await.unwrap().mode,
        omniview_devserver::DevServerMode::Managed
    );
    let err = h.attach_external(id, 0).await.unwrap_err();
    assert!(
        matches!(err, omniview_devserver::DevServerError::AlreadyManaged(_)),
        "{err}"
    );
    assert!(rec
        .seen
        .iter()
        .any(|e| matches!(e, DevServerEvent::ReloadStart(m) if m["id"] == "hello-plugin")));
    // The build reports ready only after the reload it caused completed.
    assert!(rec
        .seen
        .iter()
        .any(|e| matches!(e, DevServerEvent::ReloadComplete(m) if m["version"] == "0.1.0")));

    // Edit and reload: a new process answers with the new text; the old one is gone.
    greeting(
        &dir,
        "package greeting\n\nfunc Message() string {\n\treturn \"reloaded\"\n}\n",
    );
    rec.wait_for("reload start", HANG, |e| {
        matches!(e, DevServerEvent::ReloadStart(_))
    })
    .await;
    rec.wait_for("reload complete", HANG, |e| {
        matches!(e, DevServerEvent::ReloadComplete(_))
    })
    .await;
    let second_pid = plugin_pid(state.path(), id);
    // Each step shows in the state: connected, not connected while relaunching, connected.
    let flips: Vec<bool> = rec
        .seen
        .iter()
        .filter_map(|e| match e {
            DevServerEvent::Status(s) => Some(s.grpc_connected),
            _ => None,
        })
        .collect();
    assert!(
        flips.windows(3).any(|w| w == [true, false, true]),
        "{flips:?}"
    );
    assert_ne!(second_pid, first_pid);
    assert!(!alive(first_pid), "the old plugin process is gone");
    assert_eq!(ping(state.path(), id).await.unwrap(), "reloaded");
    // The old plugin's exit line comes before the new launch line, all before the reload
    // completed.
    let lines = rec.log_lines();
    let exited = lines
        .iter()
        .position(|l| l == "plugin exited with code 0")
        .expect("the old plugin's exit is logged by the time the reload completes");
    let launches: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("$ OMNIVIEW="))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(launches.len(), 2, "{lines:?}");
    assert!(launches[0] < exited && exited < launches[1], "{lines:?}");

    // A build error leaves the running plugin alone.
    greeting(
        &dir,
        "package greeting\n\nfunc Message() string {\n\treturn 42\n}\n",
    );
    rec.wait_for("build errors", HANG, |e| {
        matches!(e, DevServerEvent::BuildErrors(_))
    })
    .await;
    assert_eq!(plugin_pid(state.path(), id), second_pid);
    assert_eq!(ping(state.path(), id).await.unwrap(), "reloaded");
    assert!(h.get_dev_server_state(id).await.unwrap().grpc_connected);

    // SIGKILL of the plugin: noticed at once, restarted under the transient policy.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let s = rec
        .wait_status(id, "crash noticed", |s| !s.grpc_connected)
        .await;
    assert!(
        s.last_error.contains("killed by SIGKILL"),
        "{}",
        s.last_error
    );
    let s = rec.wait_status(id, "restarted", |s| s.grpc_connected).await;
    assert_eq!(s.restarts, 1);
    let third_pid = plugin_pid(state.path(), id);
    assert_ne!(third_pid, second_pid);
    assert_eq!(ping(state.path(), id).await.unwrap(), "reloaded");

    // Stop: Shutdown RPC, exit code 0, .devinfo removed, nothing left.
    h.stop_dev_server(id).await.unwrap();
    assert!(!alive(third_pid));
    assert!(
        !devinfo_path(state.path(), id).exists(),
        ".devinfo is removed when the plugin stops"
    );
    rec.drain(Duration::from_millis(300)).await;
    let exits = rec
        .log_lines()
        .iter()
        .filter(|l| l.as_str() == "plugin exited with code 0")
        .count();
    assert!(
        exits >= 2,
        "the reload and the stop were graceful: {}",
        rec.log_text()
    );
    h.shutdown().await;
    assert_no_processes_in(state.path(), Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_with_another_cookie_is_refused_with_the_variable_named() {
    let (_tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("ui")).unwrap();
    let main = std::fs::read_to_string(dir.join("pkg/main.go")).unwrap();
    std::fs::write(
        dir.join("pkg/main.go"),
        main.replace("\"OMNIVIEW\"", "\"SOME_OTHER_IDE\""),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let (h, mut rec) = host_engine(state.path(), |b| {
        b.plugin_restart_policy(RestartPolicy::new(RestartType::Temporary))
    });
    h.start_dev_server_for_path("hello-plugin", &dir)
        .await
        .unwrap();
    let s = rec
        .wait_status("hello-plugin", "refusal", |s| {
            s.last_error.contains("magic cookie")
        })
        .await;
    assert!(
        s.last_error.contains("`OMNIVIEW=hello-plugin`"),
        "{}",
        s.last_error
    );
    assert!(
        s.last_error.contains("exited with code 1"),
        "{}",
        s.last_error
    );
    assert!(
        s.last_error.contains("This binary is a plugin"),
        "{}",
        s.last_error
    );
    assert!(!s.grpc_connected);
    h.shutdown().await;
}

/// A backend-only plugin whose "binary" is `script` (the fake go installs the sources).
async fn misbehaving(script: &str, expect: &str) {
    let tools = FakeTools::new();
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "odd", false, true);
    std::fs::write(dir.join("pkg/main.go"), script).unwrap();
    let (h, mut rec) = host_engine(state.path(), |b| {
        b.go(tools.go())
            .package_manager(PackageManager::Npm)
            .plugin_start_timeout(Duration::from_millis(500))
            .plugin_restart_policy(RestartPolicy::new(RestartType::Temporary))
    });
    h.start_dev_server_for_path("odd", &dir).await.unwrap();
    let s = rec
        .wait_status("odd", "plugin error", |s| !s.last_error.is_empty())
        .await;
    assert!(
        s.last_error.contains(expect),
        "expected {expect:?} in {:?}",
        s.last_error
    );
    assert!(!s.grpc_connected);
    h.shutdown().await;
    assert_no_processes_in(state.path(), Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_instead_of_a_handshake_is_quoted() {
    misbehaving(
        "#!/bin/sh\necho 'hello, I am not a plugin'\nsleep 30\n",
        "not a go-plugin handshake (expected `1|1|unix|/path|grpc|`): \"hello, I am not a plugin\"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_handshake_within_the_start_timeout_is_an_error_with_stderr() {
    misbehaving(
        "#!/bin/sh\necho 'still loading config' >&2\nsleep 30\n",
        "printed no handshake line within 500ms; stderr: still loading config",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_immediate_exit_is_reported_with_its_code_and_stderr() {
    misbehaving(
        "#!/bin/sh\necho 'cannot open the database' >&2\nexit 3\n",
        "exited with code 3 before its handshake: cannot open the database",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_netrpc_plugin_is_refused() {
    misbehaving(
        "#!/bin/sh\necho '1|1|unix|/tmp/x|netrpc'\nsleep 30\n",
        "not gRPC",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_plugin_is_killed_after_three_failed_health_checks_and_restarted() {
    let (_tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("ui")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (h, mut rec) = host_engine(state.path(), |b| {
        b.health_checks(Duration::from_millis(200), 3)
    });
    h.start_dev_server_for_path("hello-plugin", &dir)
        .await
        .unwrap();
    rec.wait_status("hello-plugin", "serving", |s| s.grpc_connected)
        .await;
    let pid = plugin_pid(state.path(), "hello-plugin");
    // SIGSTOP: the process lives but answers nothing, like a deadlock.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let s = rec
        .wait_status("hello-plugin", "unhealthy", |s| !s.grpc_connected)
        .await;
    assert!(
        s.last_error.contains("does not answer health checks"),
        "{}",
        s.last_error
    );
    let s = rec
        .wait_status("hello-plugin", "restarted", |s| s.grpc_connected)
        .await;
    assert_eq!(s.restarts, 1);
    assert!(!alive(pid), "the hung process was killed");
    let log = rec.log_text();
    assert!(log.contains("health check failed (3 of 3)"), "{log}");
    assert!(
        log.contains("failed 3 health checks in a row (hung?); killing it"),
        "{log}"
    );
    assert_ne!(plugin_pid(state.path(), "hello-plugin"), pid);
    h.shutdown().await;
}

/// `examples/fake_go_plugin.rs`, built by `cargo test` (it builds the examples too).
fn fake_go_plugin_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/fake_go_plugin");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --examples` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_plugin_with_a_stdio_stream_is_hosted_too() {
    let tools = FakeTools::new();
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "rusty", false, true);
    // The fake go installs the sources as the binary: a wrapper around the Rust server.
    std::fs::write(
        dir.join("pkg/main.go"),
        format!("#!/bin/sh\nexec {}\n", fake_go_plugin_binary().display()),
    )
    .unwrap();
    let (h, mut rec) = host_engine(state.path(), |b| {
        b.go(tools.go()).package_manager(PackageManager::Npm)
    });
    h.start_dev_server_for_path("rusty", &dir).await.unwrap();
    rec.wait_status("rusty", "serving", |s| s.grpc_connected)
        .await;
    let info = read_devinfo(&devinfo_path(state.path(), "rusty")).unwrap();
    assert_eq!(info.network.as_deref(), Some("tcp"));
    assert!(info.addr.starts_with("127.0.0.1:"), "{}", info.addr);
    let line = |text: &'static str| move |e: &DevServerEvent| matches!(e, DevServerEvent::Log(l) if l.iter().any(|l| l.message == text));
    rec.seen_or_wait(
        "the stdio stream's stdout",
        line("hello from the stdio stream"),
    )
    .await;
    let ev = rec
        .seen_or_wait("the stdio stream's hclog line", line("stream warning n=1"))
        .await;
    let DevServerEvent::Log(entries) = ev else {
        unreachable!()
    };
    let warning = entries
        .iter()
        .find(|e| e.message == "stream warning n=1")
        .unwrap();
    assert_eq!(warning.level, omniview_devserver::LogLevel::Warn);
    assert_eq!(warning.source, omniview_devserver::LogSource::Plugin);
    rec.seen_or_wait("the plugin's own stderr", |e| {
        matches!(e, DevServerEvent::Log(l) if l.iter().any(|l| l.message.starts_with("fake plugin listening on 127.0.0.1:")))
    })
    .await;
    h.stop_dev_server("rusty").await.unwrap();
    rec.seen_or_wait("graceful exit", line("plugin exited with code 0"))
        .await;
    h.shutdown().await;
}

/// Unmounts a tmpfs when the test ends, however it ends.
struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The build writes the new binary straight into the state directory. When that directory
/// is full (room for one binary, not two), the build fails with the reason, and the running
/// plugin and its binary are untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_state_directory_fails_the_build_and_leaves_the_running_plugin_alone() {
    let (_tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("ui")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let binary = build_example_binary(&state.path().join("probe"));
    let size_mib = std::fs::metadata(&binary).unwrap().len() / (1024 * 1024) + 1;
    std::fs::remove_file(&binary).unwrap();
    let mounted = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={}m", size_mib + 4),
            "tmpfs",
        ])
        .arg(state.path())
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test mounts a small tmpfs (needs root)"
    );
    let _disk = SmallDisk(state.path().to_path_buf());
    let (h, mut rec) = host_engine(state.path(), |b| b);
    let id = "hello-plugin";
    h.start_dev_server_for_path(id, &dir).await.unwrap();
    rec.wait_status(id, "built and serving", |s| {
        s.go_status == DevProcessStatus::Ready && s.grpc_connected
    })
    .await;
    let first_pid = plugin_pid(state.path(), id);

    greeting(
        &dir,
        "package greeting\n\nfunc Message() string {\n\treturn \"no room for me\"\n}\n",
    );
    let s = rec
        .wait_status(id, "the failed build", |s| {
            s.go_status == DevProcessStatus::Error
        })
        .await;
    assert!(
        s.last_error
            .to_lowercase()
            .contains("no space left on device"),
        "{}",
        s.last_error
    );
    assert!(s.grpc_connected, "{s:?}");
    assert_eq!(
        plugin_pid(state.path(), id),
        first_pid,
        "the plugin was not touched"
    );
    assert_eq!(
        ping(state.path(), id).await.unwrap(),
        "hello from hello-plugin",
        "the running binary answers"
    );
    h.shutdown().await;
}
