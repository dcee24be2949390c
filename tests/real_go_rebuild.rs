//! Real `go build` of the bundled go-plugin example: atomic saves, bursts, syntax errors,
//! deleted files and new directories, through the engine with a recording host.
//! The example is a Go module on go-plugin v1.7 (scripts/setup.sh downloads its modules).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use omniview_devserver::{DevProcessStatus, DevServerEvent};

const GREETING: &str = "pkg/greeting/greeting.go";

fn greeting_source(message: &str) -> String {
    format!("package greeting\n\n// Message is what hello.v1.Greeter/Greet returns.\nfunc Message() string {{\n\treturn \"{message}\"\n}}\n")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn real_go_builds_rebuild_once_per_burst_and_survive_errors() {
    let (_tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("ui")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let host = RecordingHost::new();
    let (handle, mut rec) = engine_on(host.clone(), state.path(), |b| {
        b.debounce(Duration::from_millis(300))
    });
    let installed = state.path().join("plugins/hello-plugin/bin/plugin");
    let id = "hello-plugin";

    handle.start_dev_server_for_path(id, &dir).await.unwrap();
    let s = rec
        .wait_status(id, "initial build", |s| {
            s.go_status != DevProcessStatus::Building && s.go_status != DevProcessStatus::Starting
        })
        .await;
    assert_eq!(
        s.go_status,
        DevProcessStatus::Ready,
        "initial build failed: {}\n{}",
        s.last_error,
        rec.log_text()
    );
    assert!(s.last_build_duration > Duration::ZERO);
    assert_eq!(host.reload_count(), 1);
    let v1 = read(&installed);
    assert_eq!(v1, read(&dir.join("build/bin/plugin")));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&installed).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "installed binary is executable");
    }

    // An editor's atomic save: one rebuild, a new binary, one reload.
    atomic_save(&dir.join(GREETING), &greeting_source("hello again"));
    let s = rec.wait_build(id, "rebuild").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    assert_eq!(rec.builds_started(), 2);
    assert_eq!(host.reload_count(), 2);
    let v2 = read(&installed);
    assert_ne!(v1, v2);

    // A burst of saves to several files, and a new file: exactly one build.
    std::fs::write(dir.join(GREETING), greeting_source("burst 1")).unwrap();
    let main = std::fs::read_to_string(dir.join("pkg/main.go")).unwrap();
    std::fs::write(dir.join("pkg/main.go"), format!("{main}\n// touched\n")).unwrap();
    std::fs::write(
        dir.join("pkg/greeting/extra.go"),
        "package greeting\n\nconst Extra = 1\n",
    )
    .unwrap();
    atomic_save(&dir.join(GREETING), &greeting_source("burst 2"));
    let s = rec.wait_build(id, "burst build").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    rec.drain(Duration::from_millis(1500)).await;
    assert_eq!(
        rec.builds_started(),
        3,
        "one build per burst:\n{}",
        rec.log_text()
    );
    let v3 = read(&installed);

    // A syntax error: an error event with the absolute file, line and column; binary kept.
    std::fs::write(
        dir.join(GREETING),
        "package greeting\n\nfunc Message() string {\n\treturn \"x\" +\n}\n",
    )
    .unwrap();
    let ev = rec
        .wait_for("build errors", HANG, |ev| {
            matches!(ev, DevServerEvent::BuildErrors(_))
        })
        .await;
    let DevServerEvent::BuildErrors(payload) = ev else {
        unreachable!()
    };
    let file = std::fs::canonicalize(dir.join(GREETING)).unwrap();
    let first = &payload.errors[0];
    assert_eq!(first.file, file.to_string_lossy(), "{payload:?}");
    assert_eq!(first.line, 5, "{payload:?}");
    assert!(first.column > 0, "{payload:?}");
    assert!(first.message.contains("syntax error"), "{payload:?}");
    assert_eq!(first.severity, omniview_devserver::Severity::Error);
    let s = rec
        .wait_status(id, "go error", |s| s.go_status == DevProcessStatus::Error)
        .await;
    assert!(s.last_error.contains("greeting.go:5:"), "{}", s.last_error);
    assert_eq!(read(&installed), v3, "the previous binary stays in place");
    let reloads_before = host.reload_count();

    // The next good save recovers.
    atomic_save(&dir.join(GREETING), &greeting_source("fixed"));
    let s = rec
        .wait_status(id, "recovered", |s| s.go_status == DevProcessStatus::Ready)
        .await;
    assert_eq!(s.last_error, "");
    assert_eq!(host.reload_count(), reloads_before + 1);

    // Deleting a file rebuilds.
    let builds = rec.builds_started();
    std::fs::remove_file(dir.join("pkg/greeting/extra.go")).unwrap();
    let s = rec.wait_build(id, "rebuild after delete").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    assert_eq!(rec.builds_started(), builds + 1);

    // A directory created after start, with a file written right away, rebuilds.
    let builds = rec.builds_started();
    std::fs::create_dir_all(dir.join("pkg/newpkg/deeper")).unwrap();
    std::fs::write(dir.join("pkg/newpkg/deeper/x.go"), "package deeper\n").unwrap();
    let s = rec.wait_build(id, "rebuild after new dir").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    assert_eq!(rec.builds_started(), builds + 1);
    // ...and files in it are watched from then on.
    std::fs::write(dir.join("pkg/newpkg/deeper/y.go"), "package deeper\n").unwrap();
    let s = rec.wait_build(id, "rebuild in new dir").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    assert_eq!(rec.builds_started(), builds + 2);

    // Files that are not build inputs do nothing.
    std::fs::write(dir.join("pkg/notes.txt"), "hi").unwrap();
    std::fs::create_dir_all(dir.join("pkg/vendor/x")).unwrap();
    std::fs::write(dir.join("pkg/vendor/x/v.go"), "package x\n").unwrap();
    rec.drain(Duration::from_millis(1200)).await;
    assert_eq!(rec.builds_started(), builds + 2, "{}", rec.log_text());

    let logs = handle.get_dev_server_logs(id, None).await.unwrap();
    assert!(logs.iter().any(|e| e.message.contains("syntax error")));

    handle.shutdown().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}
