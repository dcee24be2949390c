//! What a hostile or unlucky environment did to ovdev, each case named after what broke:
//! special files where regular ones belong, a stdout nobody reads, hung builds, lost
//! watches, a second instance, hostile manifests.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::*;
use common::*;
use nix::sys::signal::Signal;
use omniview_devserver::{DevProcessStatus, DevServerBuilder, DevServerEvent, DevServerHandle};
use serde_json::Value;

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// `ovdev dev --json` on a UI-only plugin whose "dev server" is ready at once, then prints
/// `tick N` ten times a second forever: proof that the engine keeps moving.
fn run_ticker(
    root: &Path,
    state: &Path,
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    let (dir, pm) = ui_plugin_with_pm(
        root,
        "ticker",
        r#"port=""
while [ $# -gt 0 ]; do [ "$1" = "--port" ] && port="$2"; shift; done
printf '  Local:   http://127.0.0.1:%s/\n' "$port"
i=0
while :; do i=$((i+1)); echo "tick $i"; sleep 0.1; done
"#,
    );
    run_json_with_pm(&dir, &pm, state)
}

fn tick_of(v: &Value) -> Option<u64> {
    if v["name"] != "plugin/devserver/log" {
        return None;
    }
    v["data"]
        .as_array()?
        .iter()
        .rev()
        .find_map(|e| e["message"].as_str()?.strip_prefix("tick ")?.parse().ok())
}

/// Reads until a tick later than `after` arrives; returns it.
async fn next_tick(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<Value>,
    after: u64,
) -> u64 {
    let v = read_until(lines, seen, "a later tick", |v| {
        tick_of(v).is_some_and(|t| t > after)
    })
    .await;
    tick_of(&v).unwrap_or(0)
}

/// Point 1: `mkfifo <state>/plugins/evil/.devinfo` froze every actor and SIGTERM with them.
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_named_devinfo_does_not_freeze_the_engine() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let (mut child, mut lines) = run_ticker(root.path(), &state);
    let mut seen = vec![];
    let first = next_tick(&mut lines, &mut seen, 0).await;
    // Each kind of special file, behind a link too, where the IDE's plugins write .devinfo.
    mkfifo(&state.join("plugins/evil/.devinfo"));
    std::fs::create_dir_all(state.join("plugins/evil2")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", state.join("plugins/evil2/.devinfo")).unwrap();
    std::fs::create_dir_all(state.join("plugins/evil3/.devinfo")).unwrap();
    mkfifo(&root.path().join("elsewhere/fifo"));
    std::fs::create_dir_all(state.join("plugins/evil4")).unwrap();
    std::os::unix::fs::symlink(
        root.path().join("elsewhere/fifo"),
        state.join("plugins/evil4/.devinfo"),
    )
    .unwrap();
    std::fs::create_dir_all(state.join("plugins/evil5")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(state.join("plugins/evil5/.devinfo"));
    // The engine keeps delivering: ticks well after the special files appeared.
    let later = next_tick(&mut lines, &mut seen, first + 15).await;
    assert!(later > first + 15);
    let started = Instant::now();
    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child).await;
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// Point 1, at start-up: a FIFO among the run files hung the leftover sweep (and a
/// directory, a socket and a link to a device there are skipped too).
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_among_the_run_files_does_not_hang_start_up() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    mkfifo(&state.join("run/ovdev-999999.procs.json"));
    std::fs::create_dir_all(state.join("run/ovdev-999998.procs.json")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(state.join("run/ovdev-999997.procs.json"));
    std::os::unix::fs::symlink("/dev/zero", state.join("run/ovdev-999996.procs.json")).unwrap();
    let (mut child, mut lines) = run_ticker(root.path(), &state);
    let mut seen = vec![];
    next_tick(&mut lines, &mut seen, 0).await;
    signal(&child, Signal::SIGTERM);
    assert!(wait_exit(&mut child).await.success());
}

/// Runs `ovdev dev` on `dir` and returns its exit code and stderr; it must exit on its own.
async fn refused(dir: &Path) -> (Option<i32>, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        ovdev()
            .args(["dev", "--no-external", "--no-launch", "--no-vite"])
            .arg(dir)
            .output(),
    )
    .await
    .expect("ovdev answers at once")
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Point 1: a `plugin.yaml` that is a FIFO hung start-up.
#[tokio::test]
async fn a_fifo_plugin_yaml_is_refused_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("p");
    mkfifo(&dir.join("plugin.yaml"));
    let (code, err) = refused(&dir).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("is a FIFO (named pipe), not a regular file"),
        "{err}"
    );
    let linked = root.path().join("q");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink("/dev/zero", linked.join("plugin.yaml")).unwrap();
    let (code, err) = refused(&linked).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("character device"), "{err}");
}

/// Point 7: 100 000 levels of nesting did not parse within 20 s.
#[tokio::test]
async fn a_deeply_nested_plugin_yaml_is_refused_quickly() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    let deep = format!(
        "id: deep\nversion: 0.0.1\nx: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(dir.join("plugin.yaml"), deep).unwrap();
    let (code, err) = refused(&dir).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nests more than 64 levels deep"), "{err}");
    std::fs::write(
        dir.join("plugin.yaml"),
        format!(
            "id: big\nversion: 0.0.1\nx: \"{}\"\n",
            "y".repeat(300 * 1024)
        ),
    )
    .unwrap();
    let (code, err) = refused(&dir).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("larger than 262144 bytes"), "{err}");
}

/// Point 2: with a stdout reader that stopped reading, SIGTERM was ignored for as long as the
/// reader was stuck and the dev servers kept running.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_everything_while_nobody_reads_stdout() {
    let root = tempfile::tempdir().unwrap();
    let (dir, pm) = ui_plugin_with_pm(
        root.path(),
        "flood",
        "port=\"\"\nwhile [ $# -gt 0 ]; do [ \"$1\" = \"--port\" ] && port=\"$2\"; shift; done\nprintf '  Local:   http://127.0.0.1:%s/\\n' \"$port\"\nexec yes 'a flood line that nobody reads, about sixty bytes long ......'\n",
    );
    // Both pipes held open and never read: they fill within moments.
    let (mut child, lines) = run_json_with_pm(&dir, &pm, &root.path().join("state"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child).await;
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_no_processes_in(&dir, Duration::from_secs(5)).await;
    drop(lines);
}

/// An engine with a recording host and a short debounce.
fn example_engine(
    state: &Path,
    tweak: impl FnOnce(DevServerBuilder) -> DevServerBuilder,
) -> (DevServerHandle, Recorder) {
    engine_on(RecordingHost::new(), state, |b| {
        tweak(b.debounce(Duration::from_millis(100)))
    })
}

/// Point 4: `go build` blocked on a FIFO among the sources, and every later save waited
/// behind it forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_build_hung_on_a_fifo_source_is_cancelled_by_the_next_save() {
    let (_tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("ui")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (handle, mut rec) = example_engine(state.path(), |b| b);
    let id = "hello-plugin";
    handle.start_dev_server_for_path(id, &dir).await.unwrap();
    let s = rec.wait_build(id, "the first build").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    let installed = state.path().join("plugins/hello-plugin/bin/plugin");
    let before = std::fs::read(&installed).unwrap();

    mkfifo(&dir.join("pkg/zz.go"));
    rec.wait_status(id, "the build that hangs", |s| {
        s.go_status == DevProcessStatus::Building
    })
    .await;
    // go build waits on the FIFO: still building seconds later.
    rec.drain(Duration::from_secs(2)).await;
    let last = rec.seen.iter().rev().find_map(|e| match e {
        DevServerEvent::Status(s) if s.plugin_id == id => Some(s.go_status),
        _ => None,
    });
    assert_eq!(last, Some(DevProcessStatus::Building), "{}", rec.log_text());
    std::fs::remove_file(dir.join("pkg/zz.go")).unwrap();
    atomic_save(
        &dir.join("pkg/greeting/greeting.go"),
        "package greeting\n\n// Message is what hello.v1.Greeter/Greet returns.\nfunc Message() string {\n\treturn \"after the fifo\"\n}\n",
    );
    let s = rec
        .wait_status(id, "a build after the hung one", |s| {
            s.go_status == DevProcessStatus::Ready
        })
        .await;
    assert!(s.last_error.is_empty(), "{}", s.last_error);
    assert!(
        rec.log_text().contains("cancelling it and building again"),
        "{}",
        rec.log_text()
    );
    assert_ne!(std::fs::read(&installed).unwrap(), before);
    handle.shutdown().await;
}

/// Point 4: a build that never finishes was never ended; now it is stopped at the limit,
/// reported with the reason, and the next save builds.
#[tokio::test(flavor = "multi_thread")]
async fn a_build_that_never_finishes_is_stopped_at_the_time_limit() {
    let tools = FakeTools::new();
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "hangs", false, true);
    std::fs::write(dir.join("pkg/main.go"), "package main\n// HANG\n").unwrap();
    let state = tempfile::tempdir().unwrap();
    let (handle, mut rec) = example_engine(state.path(), |b| {
        b.go(tools.go()).build_timeout(Duration::from_secs(1))
    });
    handle
        .start_dev_server_for_path("hangs", &dir)
        .await
        .unwrap();
    let s = rec.wait_build("hangs", "the hung build").await;
    assert_eq!(s.go_status, DevProcessStatus::Error);
    assert!(
        s.last_error
            .contains("did not finish within 1s and was stopped"),
        "{}",
        s.last_error
    );
    // The hung tool is gone, not left running.
    assert_no_processes_in(&dir, Duration::from_secs(5)).await;
    std::fs::write(dir.join("pkg/main.go"), "package main\n\nfunc main() {}\n").unwrap();
    let s = rec.wait_build("hangs", "the build after the fix").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    handle.shutdown().await;
}

/// Point 5: a directory renamed away and back (an IDE's rename, then undo), `pkg/` itself
/// too, and the plugin directory deleted and recreated: saves never built again, and the
/// error blamed the go tool.
#[tokio::test(flavor = "multi_thread")]
async fn watches_heal_after_renames_and_a_recreated_plugin_directory() {
    let tools = FakeTools::new();
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "heals", false, true);
    std::fs::create_dir_all(dir.join("pkg/sub")).unwrap();
    std::fs::write(dir.join("pkg/sub/a.go"), "package sub\n").unwrap();
    let state = tempfile::tempdir().unwrap();
    let (handle, mut rec) = example_engine(state.path(), |b| b.go(tools.go()));
    let id = "heals";
    handle.start_dev_server_for_path(id, &dir).await.unwrap();
    let s = rec.wait_build(id, "the first build").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);

    for (n, moved) in ["pkg/sub", "pkg"].into_iter().enumerate() {
        let away = dir.join(format!("{moved}-renamed"));
        std::fs::rename(dir.join(moved), &away).unwrap();
        std::fs::rename(&away, dir.join(moved)).unwrap();
        rec.drain(Duration::from_millis(800)).await;
        let before = rec.builds_started();
        std::fs::write(
            dir.join("pkg/sub/a.go"),
            format!("package sub\n// save {n}\n"),
        )
        .unwrap();
        let s = rec
            .wait_build(id, "a build after the rename and its undo")
            .await;
        assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
        assert_eq!(rec.builds_started(), before + 1, "{}", rec.log_text());
    }

    let backup = root.path().join("backup");
    copy_tree(&dir, &backup);
    std::fs::remove_dir_all(&dir).unwrap();
    let s = rec
        .wait_status(id, "the plugin directory reported gone", |s| {
            s.last_error.contains("is gone")
        })
        .await;
    assert_eq!(s.go_status, DevProcessStatus::Error);
    assert!(!s.last_error.contains("cannot start"), "{}", s.last_error);
    copy_tree(&backup, &dir);
    let s = rec
        .wait_status(id, "a build once the directory is back", |s| {
            s.go_status == DevProcessStatus::Ready
        })
        .await;
    assert!(s.last_error.is_empty(), "{}", s.last_error);
    rec.drain(Duration::from_millis(800)).await;
    let before = rec.builds_started();
    std::fs::write(
        dir.join("pkg/main.go"),
        "package main\n\nfunc main() { /* again */ }\n",
    )
    .unwrap();
    let s = rec
        .wait_build(id, "a save in the recreated directory")
        .await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    assert_eq!(rec.builds_started(), before + 1);
    handle.shutdown().await;
}

/// Point 6: two instances on one state directory both ran the plugin, and one could remove
/// the other's `.devinfo`. Now the second is refused, names the owner, and exits non-zero;
/// the first runs on undisturbed and, once it is gone, the plugin is free again.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_instance_on_the_same_plugin_is_refused_and_names_the_owner() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let (mut first, mut lines) = run_ticker(root.path(), &state);
    let mut seen = vec![];
    let tick = next_tick(&mut lines, &mut seen, 0).await;
    let owner = first.id().unwrap();

    let (dir, pm) = (root.path().join("ticker"), root.path().join("ticker-pm"));
    let second = tokio::time::timeout(
        Duration::from_secs(30),
        json_with_pm(&dir, &pm, &state).output(),
    )
    .await
    .expect("the second instance gives up at once")
    .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("already managed by another ovdev"), "{err}");
    assert!(err.contains(&format!("pid {owner}")), "{err}");
    next_tick(&mut lines, &mut seen, tick + 5).await;

    signal(&first, Signal::SIGTERM);
    assert!(wait_exit(&mut first).await.success());
    let (mut again, mut lines) = run_ticker(root.path(), &state);
    let mut seen = vec![];
    next_tick(&mut lines, &mut seen, 0).await;
    signal(&again, Signal::SIGTERM);
    assert!(wait_exit(&mut again).await.success());
}

/// Point 8: while one child was in error and another recovered from its own, `lastError` was
/// emptied and the `error` status showed no reason.
#[tokio::test(flavor = "multi_thread")]
async fn an_error_status_always_carries_its_reason() {
    let tools = FakeTools::new();
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "both", true, true);
    std::fs::write(dir.join("pkg/main.go"), "package main // BROKEN\n").unwrap();
    // Vite becomes ready, crashes once, and is restarted.
    std::fs::write(dir.join("ui/fake-mode"), "ready-exit-once").unwrap();
    let state = tempfile::tempdir().unwrap();
    let (first_port, last_port) = next_port_range(11);
    let (handle, mut rec) = example_engine(state.path(), |b| {
        b.go(tools.go())
            .package_manager(omniview_devserver::PackageManager::Npm)
            .package_manager_path(tools.pm())
            .port_range(first_port, last_port)
    });
    handle
        .start_dev_server_for_path("both", &dir)
        .await
        .unwrap();
    rec.wait_status("both", "Vite's crash", |s| {
        s.vite_status == DevProcessStatus::Error
    })
    .await;
    let s = rec
        .wait_status("both", "Vite ready again", |s| {
            s.vite_status == DevProcessStatus::Ready && s.restarts > 0
        })
        .await;
    assert_eq!(s.go_status, DevProcessStatus::Error);
    assert!(s.last_error.contains("undefined: nope"), "{s:?}");
    // Never an error status without a reason on the way.
    for ev in &rec.seen {
        if let DevServerEvent::Status(s) = ev {
            let in_error =
                s.go_status == DevProcessStatus::Error || s.vite_status == DevProcessStatus::Error;
            assert!(!in_error || !s.last_error.is_empty(), "{s:?}");
        }
    }
    handle.shutdown().await;
}

/// Point 8: 200 000 build errors were reported as "build failed with 5000 errors".
#[tokio::test(flavor = "multi_thread")]
async fn a_build_with_more_errors_than_kept_says_the_count_was_cut() {
    let tools = FakeTools::new();
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "many", false, true);
    std::fs::write(dir.join("pkg/main.go"), "package main // MANY\n").unwrap();
    let state = tempfile::tempdir().unwrap();
    let (handle, mut rec) = example_engine(state.path(), |b| b.go(tools.go()));
    handle
        .start_dev_server_for_path("many", &dir)
        .await
        .unwrap();
    let s = rec.wait_build("many", "the failing build").await;
    assert_eq!(s.go_status, DevProcessStatus::Error);
    assert!(
        s.last_error
            .starts_with("build failed with at least 5000 errors"),
        "{}",
        s.last_error
    );
    rec.drain(Duration::from_millis(300)).await;
    assert!(
        rec.log_text()
            .contains("1000 more lines than the 5000 kept"),
        "{}",
        rec.log_text()
    );
    handle.shutdown().await;
}

/// Point 8: `--go` naming a file without execute permission passed the start-up check and
/// failed at build time; ids like `a b` and `-rf` were accepted.
#[tokio::test]
async fn a_tool_that_cannot_run_and_odd_plugin_ids_are_refused_at_start() {
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "ok", false, true);
    let not_exec = root.path().join("go");
    std::fs::write(&not_exec, "#!/bin/sh\n").unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        ovdev()
            .args(["dev", "--no-external", "--go"])
            .arg(&not_exec)
            .arg(&dir)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("is not an executable file"), "{err}");

    for id in ["a b", "-rf", "   "] {
        std::fs::write(dir.join("plugin.yaml"), format!("id: {id:?}\n")).unwrap();
        let (code, err) = refused(&dir).await;
        assert_eq!(code, Some(2), "{id:?}: {err}");
        assert!(
            err.contains("use only letters, digits") || err.contains("starts with `-`"),
            "{id:?}: {err}"
        );
    }
}

/// Point 1, in the plugin: a FIFO named `go.work` (the watcher reads it to find the
/// workspace's directories) hung the watcher's thread, and with it the engine.
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_named_go_work_does_not_hang_the_watcher() {
    let tools = FakeTools::new();
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "work", false, true);
    mkfifo(&dir.join("go.work"));
    let state = tempfile::tempdir().unwrap();
    let (handle, mut rec) = example_engine(state.path(), |b| b.go(tools.go()));
    handle
        .start_dev_server_for_path("work", &dir)
        .await
        .unwrap();
    let s = rec
        .wait_build("work", "the build beside a FIFO go.work")
        .await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    // The engine still answers.
    let state_now =
        tokio::time::timeout(Duration::from_secs(10), handle.get_dev_server_state("work"))
            .await
            .expect("the engine answers")
            .unwrap();
    assert_eq!(state_now.go_status, DevProcessStatus::Ready);
    handle.shutdown().await;
}
