//! Restart policies and crash detection, driven by messages to the actor tree, with fake
//! tools: crash loops that end in `error`, a crash after ready that recovers, panicking child
//! actors that are re-created, and plugins that do not disturb each other.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use omniview_devserver::{
    DevProcessStatus, DevServerBuilder, PackageManager, RestartPolicy, RestartType,
};

fn fast_policy(restart: RestartType, max: u32) -> RestartPolicy {
    RestartPolicy {
        max_restarts: max,
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        ..RestartPolicy::new(restart)
    }
}

/// A test engine whose Vite restarts under `vite` and whose Go watcher restarts quickly.
fn engine(vite: RestartPolicy) -> TestEngine {
    TestEngine::start(|b| {
        b.port_probe(Arc::new(|_| true))
            .vite_restart_policy(vite)
            .go_watcher_restart_policy(fast_policy(RestartType::Permanent, 3))
    })
}

fn spawn_times(logs: &[omniview_devserver::LogEntry]) -> Vec<chrono::DateTime<chrono::Utc>> {
    logs.iter()
        .filter(|l| l.message.contains("fake-pm run dev"))
        .map(|l| l.timestamp)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loop_backs_off_then_gives_up_with_a_clear_error() {
    let mut e = engine(fast_policy(RestartType::Transient, 3));
    let (h, root) = (e.handle.clone(), e.root.path().to_path_buf());
    let dir = fake_plugin(&root, "loop", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "exit").unwrap();
    h.start_dev_server_for_path("loop", &dir).await.unwrap();
    let s = e
        .rec
        .wait_status("loop", "giving up", |s| s.last_error.contains("giving up"))
        .await;
    assert_eq!(s.vite_status, DevProcessStatus::Error);
    assert_eq!(s.restarts, 3);
    assert!(
        s.last_error
            .starts_with("vite crashed 4 times in 60 s; giving up"),
        "{}",
        s.last_error
    );
    assert!(
        s.last_error.contains("Error: cannot load vite.config.ts"),
        "{}",
        s.last_error
    );

    let logs = h.get_dev_server_logs("loop", None).await.unwrap();
    let restarts: Vec<_> = logs
        .iter()
        .filter(|l| l.message.contains("; restarting vite in "))
        .collect();
    assert_eq!(restarts.len(), 3);
    assert!(
        restarts[0].message.contains("exited with code 3"),
        "{}",
        restarts[0].message
    );
    assert!(
        restarts[0]
            .message
            .contains("(restart 1 of at most 3 per 60 s)"),
        "{}",
        restarts[0].message
    );
    // Backoff between the runs: 100 ms, then 200 ms, then 400 ms (each ±20 %).
    let spawns = spawn_times(&logs);
    assert_eq!(spawns.len(), 4);
    for (i, min_ms) in [80, 160, 320].into_iter().enumerate() {
        let gap = (spawns[i + 1] - spawns[i]).num_milliseconds();
        assert!(gap >= min_ms, "gap {i} was {gap} ms");
    }
    e.rec.drain(Duration::from_millis(600)).await;
    assert_eq!(
        spawn_times(&h.get_dev_server_logs("loop", None).await.unwrap()).len(),
        4,
        "no restart after giving up"
    );

    // The plugin keeps answering, and an explicit restart starts over with fresh counters.
    std::fs::write(dir.join("ui/fake-mode"), "ready").unwrap();
    let s = h.restart_dev_server("loop").await.unwrap();
    assert_eq!(s.restarts, 0);
    e.rec
        .wait_status("loop", "ready after restart", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    e.finish().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vite_crashing_after_ready_is_restarted_and_ready_again() {
    let mut e = engine(fast_policy(RestartType::Transient, 5));
    let (h, root) = (e.handle.clone(), e.root.path().to_path_buf());
    let range = e.ports;
    let dir = fake_plugin(&root, "flaky", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "ready-exit-once").unwrap();
    h.start_dev_server_for_path("flaky", &dir).await.unwrap();
    e.rec
        .wait_status("flaky", "first ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    let s = e
        .rec
        .wait_status("flaky", "crash", |s| {
            s.vite_status == DevProcessStatus::Error
        })
        .await;
    assert!(
        s.last_error
            .contains("exited with code 7 after it was ready"),
        "{}",
        s.last_error
    );
    assert_eq!(s.vite_url, "");
    let s = e
        .rec
        .wait_status("flaky", "ready again", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(s.restarts, 1);
    assert_eq!(s.last_error, "", "recovery clears the error");
    assert_eq!(s.vite_port, range.0, "the restart keeps the port");
    e.finish().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_normal_exit_is_not_restarted_under_transient() {
    let mut e = engine(fast_policy(RestartType::Transient, 5));
    let (h, root) = (e.handle.clone(), e.root.path().to_path_buf());
    let dir = fake_plugin(&root, "done", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "exit0").unwrap();
    h.start_dev_server_for_path("done", &dir).await.unwrap();
    let s = e
        .rec
        .wait_status("done", "stopped", |s| {
            s.vite_status == DevProcessStatus::Stopped
        })
        .await;
    assert_eq!(s.restarts, 0);
    e.rec.drain(Duration::from_millis(400)).await;
    assert!(
        e.rec
            .log_text()
            .contains("not restarting vite (transient restart policy)"),
        "{}",
        e.rec.log_text()
    );
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_plugin_crashing_never_disturbs_another() {
    let mut e = engine(fast_policy(RestartType::Transient, 2));
    let (h, root) = (e.handle.clone(), e.root.path().to_path_buf());
    let good = fake_plugin(&root, "good", true, true);
    let bad = fake_plugin(&root, "bad", true, false);
    std::fs::write(bad.join("ui/fake-mode"), "exit").unwrap();
    h.start_dev_server_for_path("good", &good).await.unwrap();
    e.rec
        .wait_status("good", "ready", |s| {
            s.vite_status == DevProcessStatus::Ready && s.go_status == DevProcessStatus::Ready
        })
        .await;
    let seen_before = e.rec.seen.len();
    h.start_dev_server_for_path("bad", &bad).await.unwrap();
    e.rec
        .wait_status("bad", "gave up", |s| s.last_error.contains("giving up"))
        .await;
    e.rec.drain(Duration::from_millis(300)).await;
    let good_changes = e.rec.seen[seen_before..]
        .iter()
        .filter(
            |e| matches!(e, omniview_devserver::DevServerEvent::Status(s) if s.plugin_id == "good"),
        )
        .count();
    assert_eq!(good_changes, 0, "the good plugin's state never changed");
    let g = h.get_dev_server_state("good").await.unwrap();
    assert_eq!((g.vite_status, g.restarts), (DevProcessStatus::Ready, 0));
    e.finish().await;
}

mod panics {
    //! Child actors that panic, through the engine's test-only message.
    use super::*;
    use actix::Actor;
    use ovdev_actors::actors::child_guard::ChildKind;
    use ovdev_actors::actors::supervisor::{PanicPluginChild, Shutdown, StartDevServer};
    use ovdev_actors::actors::DevServerSupervisor;
    use ovdev_actors::config::EngineConfig;
    use ovdev_actors::events::EventBus;

    #[actix::test]
    async fn a_panicking_vite_actor_is_replaced_and_its_process_stopped() {
        let tools = FakeTools::new();
        let state = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let dir = fake_plugin(root.path(), "p", true, true);
        let mut cfg = EngineConfig::new(state.path());
        cfg.go = Some(tools.go());
        cfg.package_manager = Some(PackageManager::Npm);
        cfg.package_manager_path = Some(tools.pm());
        cfg.port_range = next_port_range(11);
        cfg.port_probe = Arc::new(|_| true);
        cfg.vite_policy = fast_policy(RestartType::Transient, 5);
        cfg.go_watcher_policy = fast_policy(RestartType::Permanent, 5);
        let bus = EventBus::new(1024);
        let mut rec = Recorder::new(bus.subscribe());
        let sup = DevServerSupervisor::new(Arc::new(cfg), RecordingHost::new(), bus).start();
        sup.send(StartDevServer {
            plugin_id: "p".into(),
            dev_path: Some(dir.clone()),
        })
        .await
        .unwrap()
        .unwrap();
        rec.wait_status("p", "ready", |s| {
            s.vite_status == DevProcessStatus::Ready && s.go_status == DevProcessStatus::Ready
        })
        .await;
        let before: Vec<String> = processes_in(&dir.join("ui"));
        assert_eq!(before.len(), 1, "{before:?}");

        let panic = PanicPluginChild {
            plugin_id: "p".into(),
            kind: ChildKind::Vite,
        };
        assert!(sup.send(panic).await.unwrap());
        let s = rec.wait_status("p", "restarted", |s| s.restarts == 1).await;
        assert!(
            s.last_error.contains("the vite actor failed"),
            "{}",
            s.last_error
        );
        rec.wait_status("p", "ready again", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
        let after = processes_in(&dir.join("ui"));
        assert_eq!(after.len(), 1, "exactly one Vite runs: {after:?}");
        assert_ne!(after, before, "the old Vite process was stopped");
        assert!(rec
            .log_text()
            .contains("the vite actor failed (it panicked); stopping the process it ran"));

        // The Go watcher is permanent: re-created, and it builds again.
        let builds = rec.builds_started();
        let panic = PanicPluginChild {
            plugin_id: "p".into(),
            kind: ChildKind::GoWatcher,
        };
        assert!(sup.send(panic).await.unwrap());
        let s = rec
            .wait_status("p", "watcher restarted", |s| s.restarts == 2)
            .await;
        assert!(
            s.last_error.contains("the go watcher actor failed"),
            "{}",
            s.last_error
        );
        let s = rec.wait_build("p", "rebuild by the new watcher").await;
        assert_eq!(s.go_status, DevProcessStatus::Ready);
        assert_eq!(rec.builds_started(), builds + 1);
        // The new watcher watches: a save triggers a build.
        std::fs::write(
            dir.join("pkg/main.go"),
            "package main\n\nfunc main() { println(2) }\n",
        )
        .unwrap();
        rec.wait_build("p", "build after save").await;

        sup.send(Shutdown).await.unwrap();
        assert!(processes_in(&dir).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_operations_never_run_two_copies_of_vite() {
    let mut e = engine(fast_policy(RestartType::Transient, 5));
    let (h, root) = (e.handle.clone(), e.root.path().to_path_buf());
    let dir = fake_plugin(&root, "busy", true, true);
    let ui = dir.join("ui");
    // A Vite that takes its time to stop widens any window in which two could overlap.
    std::fs::write(ui.join("fake-mode"), "slow-stop").unwrap();
    // Sample the fake Vite runs (one process group each, working in ui/) all along.
    let stop_sampling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (ui, stop) = (ui.clone(), stop_sampling.clone());
        std::thread::spawn(move || {
            let mut most = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(process_groups_in(&ui).len());
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        })
    };

    h.start_dev_server_for_path("busy", &dir).await.unwrap();
    e.rec
        .wait_status("busy", "ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    let (a, b) = tokio::join!(h.restart_dev_server("busy"), h.restart_dev_server("busy"));
    a.unwrap();
    b.unwrap();
    let (stopped, rebuilt, started) = tokio::join!(
        h.stop_dev_server("busy"),
        h.rebuild_plugin("busy"),
        h.start_dev_server_for_path("busy", &dir)
    );
    stopped.unwrap();
    let _ = rebuilt; // before the stop it rebuilds, during it it says "not running"
    started.unwrap();
    let (started, stopped) = tokio::join!(
        h.start_dev_server_for_path("busy", &dir),
        h.stop_dev_server("busy")
    );
    let _ = (started, stopped);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let managed = h.is_managed("busy").await.unwrap();
    let running = process_groups_in(&ui).len();
    assert_eq!(
        running,
        usize::from(managed),
        "one Vite when managed, none otherwise"
    );
    e.finish().await;
    stop_sampling.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().unwrap();
    assert_eq!(most, 1, "never two copies of Vite at once");
    assert!(processes_in(&dir).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vite_that_ignores_sigterm_is_killed_after_the_grace_period_with_its_grandchild() {
    let tools = FakeTools::new();
    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let (first_port, last_port) = next_port_range(11);
    let handle = DevServerBuilder::with_host(RecordingHost::new())
        .state_dir(state.path())
        .package_manager(PackageManager::Npm)
        .package_manager_path(tools.pm())
        .port_range(first_port, last_port)
        .port_probe(Arc::new(|_| true))
        .stop_grace(Duration::from_millis(400))
        .start()
        .unwrap();
    let mut rec = Recorder::new(handle.subscribe());
    let dir = fake_plugin(root.path(), "stubborn", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "stubborn").unwrap();
    handle
        .start_dev_server_for_path("stubborn", &dir)
        .await
        .unwrap();
    rec.wait_status("stubborn", "ready", |s| {
        s.vite_status == DevProcessStatus::Ready
    })
    .await;
    // The script says it is ready before it starts its two sleeps: wait for them.
    let deadline = std::time::Instant::now() + HANG;
    while processes_in(&dir).len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "shell, sleep and a background sleep run: {:?}",
            processes_in(&dir)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    handle.stop_dev_server("stubborn").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "SIGTERM was given its grace period"
    );
    assert!(
        processes_in(&dir).is_empty(),
        "stop returns once the whole group is gone: {:?}",
        processes_in(&dir)
    );
    rec.drain(Duration::from_millis(200)).await;
    assert!(
        rec.log_text()
            .contains("Vite ignored SIGTERM for 400ms; killed it"),
        "{}",
        rec.log_text()
    );
    handle.shutdown().await;
}
