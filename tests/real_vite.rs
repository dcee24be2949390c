//! Real Vite through real package managers: npm (the example's lockfile), pnpm (installing
//! the modules first), a port lost to another process, and stops that leave nothing behind.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use omniview_devserver::{DevProcessStatus, DevServerBuilder, DevServerMode, PackageManager};

fn ui_only_copy(with_node_modules: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, dir) = example_copy(with_node_modules);
    std::fs::remove_dir_all(dir.join("pkg")).unwrap();
    (tmp, dir)
}

/// An engine on its own thread with a recording host, ports from `range`.
fn engine(
    state: &std::path::Path,
    range: (u16, u16),
    tweak: impl FnOnce(DevServerBuilder) -> DevServerBuilder,
) -> (omniview_devserver::DevServerHandle, Recorder) {
    engine_on(RecordingHost::new(), state, |b| {
        tweak(b.port_range(range.0, range.1))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn vite_through_npm_serves_the_plugin_ui() {
    let (_tmp, dir) = ui_only_copy(true);
    let state = tempfile::tempdir().unwrap();
    let (handle, mut rec) = engine(state.path(), next_port_range(21), |b| b);
    let s = handle
        .start_dev_server_for_path("hello-plugin", &dir)
        .await
        .unwrap();
    assert_eq!(s.vite_status, DevProcessStatus::Starting);
    assert_eq!(s.vite_url, "", "no URL before Vite is ready");
    let s = rec
        .wait_status("hello-plugin", "vite ready", |s| {
            s.vite_status != DevProcessStatus::Starting
        })
        .await;
    assert_eq!(
        s.vite_status,
        DevProcessStatus::Ready,
        "{}\n{}",
        s.last_error,
        rec.log_text()
    );
    assert_eq!(s.vite_url, format!("http://127.0.0.1:{}", s.vite_port));
    assert!(
        rec.log_text().contains("npm run dev -- --port"),
        "{}",
        rec.log_text()
    );

    let body = http_get(s.vite_port, "/src/entry.ts").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("hello-plugin"), "{body}");

    handle.stop_dev_server("hello-plugin").await.unwrap();
    assert!(
        processes_in(&dir).is_empty(),
        "stop returns once Vite's group is gone: {:?}",
        processes_in(&dir)
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", s.vite_port)).is_ok(),
        "the port is free again"
    );
    let after = handle.get_dev_server_state("hello-plugin").await.unwrap();
    assert_eq!(after.mode, DevServerMode::Idle);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vite_through_pnpm_installs_modules_first() {
    let (_tmp, dir) = ui_only_copy(false);
    std::fs::remove_file(dir.join("ui/package-lock.json")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let (handle, mut rec) = engine(state.path(), next_port_range(21), |b| b);
    handle
        .start_dev_server_for_path("hello-plugin", &dir)
        .await
        .unwrap();
    let s = rec
        .wait_status("hello-plugin", "vite ready", |s| {
            !matches!(s.vite_status, DevProcessStatus::Starting)
        })
        .await;
    assert_eq!(
        s.vite_status,
        DevProcessStatus::Ready,
        "{}\n{}",
        s.last_error,
        rec.log_text()
    );
    let log = rec.log_text();
    assert!(
        log.contains("installing dependencies with `pnpm install`"),
        "{log}"
    );
    assert!(
        log.contains("pnpm run dev --port"),
        "pnpm gets no `--`: {log}"
    );
    assert!(!log.contains("pnpm run dev -- --port"), "{log}");
    assert!(dir.join("ui/node_modules/vite").exists());
    let body = http_get(s.vite_port, "/src/entry.ts").await;
    assert!(body.contains("hello-plugin"), "{body}");
    // pnpm runs the script in a process group of its own: shutdown must wait for it too.
    handle.shutdown().await;
    let left = processes_in(&dir);
    assert!(left.is_empty(), "left behind after shutdown: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_taken_between_check_and_bind_moves_vite_to_another_port() {
    let (_tmp, dir) = ui_only_copy(true);
    let state = tempfile::tempdir().unwrap();
    // The probe says every port is free, so the allocator hands out a port that a real
    // listener holds: exactly the race strictPort exists for.
    let range = next_port_range(11);
    let port = range.0;
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (handle, mut rec) = engine(state.path(), range, |b| {
        b.port_probe(Arc::new(|_| true))
            .package_manager(PackageManager::Npm)
    });
    let s = handle
        .start_dev_server_for_path("hello-plugin", &dir)
        .await
        .unwrap();
    assert_eq!(s.vite_port, port);
    let s = rec
        .wait_status("hello-plugin", "vite ready elsewhere", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(s.vite_port, port + 1, "{}", rec.log_text());
    assert!(
        rec.log_text().contains(&format!(
            "port {port} was taken by another process (pid {} (",
            std::process::id()
        )),
        "{}",
        rec.log_text()
    );
    let body = http_get(port + 1, "/src/entry.ts").await;
    assert!(body.contains("hello-plugin"));
    handle.shutdown().await;
    drop(squatter);
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}

/// A real Vite stopped with SIGSTOP kept its listening socket and stayed `ready`. Its port
/// is probed while ready: it is found hung, stopped, and restarted by its policy.
#[tokio::test(flavor = "multi_thread")]
async fn a_vite_that_stops_answering_is_found_and_restarted() {
    let (_tmp, dir) = ui_only_copy(true);
    let state = tempfile::tempdir().unwrap();
    let (handle, mut rec) = engine(state.path(), next_port_range(11), |b| {
        b.vite_probe_interval(Some(Duration::from_millis(500)))
    });
    let id = "hello-plugin";
    handle.start_dev_server_for_path(id, &dir).await.unwrap();
    let s = rec
        .wait_status(id, "vite ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    let groups = process_groups_in(&dir);
    assert!(!groups.is_empty());
    for pgid in &groups {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(*pgid),
            nix::sys::signal::Signal::SIGSTOP,
        );
    }
    let hung = rec
        .wait_status(id, "the hung Vite noticed", |s| {
            s.vite_status == DevProcessStatus::Error
        })
        .await;
    assert!(
        hung.last_error
            .contains(&format!("Vite stopped answering on port {}", s.vite_port)),
        "{}",
        hung.last_error
    );
    let again = rec
        .wait_status(id, "Vite ready again", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(again.restarts, 1);
    assert!(
        process_groups_in(&dir).is_disjoint(&groups),
        "the stopped processes are gone"
    );
    let body = http_get(again.vite_port, "/src/entry.ts").await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    handle.shutdown().await;
}
