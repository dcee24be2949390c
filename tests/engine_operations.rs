//! Message-driven tests of the actor tree: the engine runs for real (actors, process groups,
//! file watching) but with fake `go` and package-manager scripts and a recording host, so
//! that every operation and error case of the spec is covered quickly.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use omniview_devserver::{
    BuildResult, BuildTrigger, DevProcessStatus, DevServerBuilder, DevServerError, DevServerEvent,
    DevServerHandle, DevServerMode,
};
use ovdev_actors::config::PortProbe;

fn always_free() -> PortProbe {
    Arc::new(|_| true)
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_name_the_problem() {
    let e = TestEngine::start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let h = &e.handle;

    let err = h.start_dev_server("ghost").await.unwrap_err();
    assert!(matches!(err, DevServerError::UnknownPlugin { .. }), "{err}");
    assert!(
        err.to_string().contains("no plugin `ghost` is installed"),
        "{err}"
    );

    e.host.add("prod", false, Some(root.path()));
    let err = h.start_dev_server("prod").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `prod` is not in dev mode; enable dev mode for it first"
    );

    e.host.add("nopath", true, None);
    assert!(matches!(
        h.start_dev_server("nopath").await,
        Err(DevServerError::NoDevPath(_))
    ));

    e.host.add("gone", true, Some(&root.path().join("deleted")));
    let err = h.start_dev_server("gone").await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    std::fs::create_dir_all(root.path().join("empty")).unwrap();
    let err = h
        .start_dev_server_for_path("empty", root.path().join("empty"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("neither a `pkg/`"), "{err}");

    let err = h
        .start_dev_server_for_path("../evil", root.path())
        .await
        .unwrap_err();
    assert!(matches!(err, DevServerError::InvalidId(_)), "{err}");

    let err = h.stop_dev_server("idle-one").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no dev server running for plugin `idle-one`"
    );
    assert!(matches!(
        h.rebuild_plugin("idle-one").await,
        Err(DevServerError::NotRunning(_))
    ));
    assert!(matches!(
        h.attach_external("x", 1).await,
        Err(DevServerError::ExternalUnavailable { .. })
    ));
    assert!(matches!(
        h.detach_external("x").await,
        Err(DevServerError::NotAttached(_))
    ));

    let idle = h.get_dev_server_state("idle-one").await.unwrap();
    assert_eq!(idle.mode, DevServerMode::Idle);
    assert!(h
        .get_dev_server_logs("idle-one", None)
        .await
        .unwrap()
        .is_empty());
    assert!(!h.is_managed("idle-one").await.unwrap());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn port_exhaustion_names_the_range() {
    let e = TestEngine::start(|b| b.port_probe(Arc::new(|_| false)));
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "ui-only", true, false);
    let err = e
        .handle
        .start_dev_server_for_path("ui-only", &dir)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no free port available in range {}-{}",
            e.ports.0, e.ports.1
        )
    );
    assert!(!e.handle.is_managed("ui-only").await.unwrap());
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_is_idempotent_queries_answer_and_stop_frees_the_port() {
    let mut e = TestEngine::start(|b| b.port_probe(always_free()));
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "both", true, true);
    e.host.add("both", true, Some(&dir));
    let h = e.handle.clone();

    let first = h.start_dev_server("both").await.unwrap();
    assert_eq!(first.mode, DevServerMode::Managed);
    let port = e.ports.0;
    assert_eq!(first.vite_port, port);
    assert_eq!(first.vite_status, DevProcessStatus::Starting);
    let ready = e
        .rec
        .wait_status("both", "vite and go ready", |s| {
            s.vite_status == DevProcessStatus::Ready && s.go_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(ready.vite_url, format!("http://127.0.0.1:{port}"));
    assert!(ready.last_build_time.is_some());
    assert_eq!(e.host.reload_count(), 1);
    assert!(e.state.path().join("plugins/both/bin/plugin").is_file());

    let again = h.start_dev_server("both").await.unwrap();
    assert_eq!(
        again.vite_port, port,
        "a second start returns the running state"
    );
    assert!(h.is_managed("both").await.unwrap());
    let list = h.list_dev_server_states().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].vite_url, format!("http://127.0.0.1:{port}"));

    let logs = h.get_dev_server_logs("both", None).await.unwrap();
    assert!(logs.len() > 3);
    assert!(
        logs.windows(2).all(|w| w[0].seq < w[1].seq),
        "seq increases"
    );
    let last_two = h.get_dev_server_logs("both", Some(2)).await.unwrap();
    assert_eq!(last_two.len(), 2);
    assert_eq!(last_two[1].seq, logs.last().unwrap().seq);

    h.stop_dev_server("both").await.unwrap();
    let last = e
        .rec
        .wait_status("both", "final state", |s| s.mode == DevServerMode::Idle)
        .await;
    assert_eq!(last.vite_status, DevProcessStatus::Stopped);
    assert_eq!(last.go_status, DevProcessStatus::Stopped);
    assert!(!h.is_managed("both").await.unwrap());
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;

    let last_seq = logs.last().unwrap().seq;
    let restarted = h.start_dev_server("both").await.unwrap();
    let after = h.get_dev_server_logs("both", None).await.unwrap();
    assert!(
        after[0].seq > last_seq,
        "seq keeps increasing across restarts"
    );
    assert_eq!(restarted.vite_port, port, "the released port is reused");
    let restarted = h.restart_dev_server("both").await.unwrap();
    assert_eq!(restarted.vite_port, port);
    h.shutdown().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_only_and_backend_only_plugins_run_only_their_side() {
    let mut e = TestEngine::start(|b| b.port_probe(always_free()));
    let root = tempfile::tempdir().unwrap();
    let ui = fake_plugin(root.path(), "ui-only", true, false);
    let be = fake_plugin(root.path(), "backend-only", false, true);
    let h = e.handle.clone();

    let s = h.start_dev_server_for_path("ui-only", &ui).await.unwrap();
    assert_eq!(s.go_status, DevProcessStatus::Idle);
    let s = e
        .rec
        .wait_status("ui-only", "vite ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(s.go_status, DevProcessStatus::Idle);
    assert!(matches!(
        h.rebuild_plugin("ui-only").await,
        Err(DevServerError::NoBackend(_))
    ));

    let s = h
        .start_dev_server_for_path("backend-only", &be)
        .await
        .unwrap();
    assert_eq!((s.vite_status, s.vite_port), (DevProcessStatus::Idle, 0));
    let s = e
        .rec
        .wait_status("backend-only", "go ready", |s| {
            s.go_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(s.vite_status, DevProcessStatus::Idle);
    assert_eq!(s.vite_url, "");

    let ids: Vec<_> = h
        .list_dev_server_states()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.plugin_id)
        .collect();
    assert_eq!(ids, ["backend-only", "ui-only"]);
    h.shutdown().await;
    assert_no_processes_in(root.path(), Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vite_exiting_before_ready_reports_its_stderr() {
    let mut e = TestEngine::start(|b| b.port_probe(always_free()));
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "broken-ui", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "exit").unwrap();
    e.handle
        .start_dev_server_for_path("broken-ui", &dir)
        .await
        .unwrap();
    let s = e
        .rec
        .wait_status("broken-ui", "vite error", |s| {
            s.vite_status == DevProcessStatus::Error
        })
        .await;
    assert!(
        s.last_error
            .contains("exited before it was ready (exited with code 3)"),
        "{}",
        s.last_error
    );
    assert!(
        s.last_error.contains("Error: cannot load vite.config.ts"),
        "{}",
        s.last_error
    );
    assert_eq!(s.vite_url, "");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vite_not_ready_in_time_is_an_error() {
    let mut e = TestEngine::start(|b| {
        b.port_probe(always_free())
            .vite_ready_timeout(Duration::from_millis(300))
    });
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "slow-ui", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "silent").unwrap();
    e.handle
        .start_dev_server_for_path("slow-ui", &dir)
        .await
        .unwrap();
    let s = e
        .rec
        .wait_status("slow-ui", "vite timeout", |s| {
            s.vite_status == DevProcessStatus::Error
        })
        .await;
    assert!(
        s.last_error.contains("did not report ready"),
        "{}",
        s.last_error
    );
    e.handle.shutdown().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}

/// UIs take turns to start: with one turn, a second plugin's Vite is spawned only once the
/// first one is done starting (here: it timed out, still running); then it becomes ready.
#[tokio::test(flavor = "multi_thread")]
async fn uis_take_turns_to_start() {
    let mut e = TestEngine::start(|b| {
        b.port_probe(always_free())
            .vite_ready_timeout(Duration::from_millis(500))
            .concurrent_ui_starts(1)
    });
    let root = tempfile::tempdir().unwrap();
    let first = fake_plugin(root.path(), "first-ui", true, false);
    std::fs::write(first.join("ui/fake-mode"), "silent").unwrap();
    let second = fake_plugin(root.path(), "second-ui", true, false);
    e.handle
        .start_dev_server_for_path("first-ui", &first)
        .await
        .unwrap();
    e.handle
        .start_dev_server_for_path("second-ui", &second)
        .await
        .unwrap();
    e.rec
        .wait_status("second-ui", "second ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    let order: Vec<(String, DevProcessStatus)> = e
        .rec
        .seen
        .iter()
        .filter_map(|ev| match ev {
            DevServerEvent::Status(s) => Some((s.plugin_id.clone(), s.vite_status)),
            _ => None,
        })
        .collect();
    let timed_out = order
        .iter()
        .position(|(id, st)| id == "first-ui" && *st == DevProcessStatus::Error)
        .expect("the first UI timed out");
    let ready = order
        .iter()
        .position(|(id, st)| id == "second-ui" && *st == DevProcessStatus::Ready)
        .unwrap();
    assert!(timed_out < ready, "{order:?}");
    e.handle.shutdown().await;
    assert_no_processes_in(root.path(), Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_taken_by_someone_else_is_retried_on_another_port() {
    let mut e = TestEngine::start(|b| b.port_probe(always_free()));
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "raced", true, false);
    let port = e.ports.0;
    std::fs::write(dir.join("ui/fake-mode"), format!("busy:{port}")).unwrap();
    let s = e
        .handle
        .start_dev_server_for_path("raced", &dir)
        .await
        .unwrap();
    assert_eq!(s.vite_port, port);
    let s = e
        .rec
        .wait_status("raced", "vite ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(s.vite_port, port + 1);
    assert_eq!(s.vite_url, format!("http://127.0.0.1:{}", port + 1));
    assert!(
        e.rec.log_text().contains(&format!("port {port} was taken")),
        "{}",
        e.rec.log_text()
    );
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_node_modules_are_installed_first() {
    let mut e = TestEngine::start(|b| b.port_probe(always_free()));
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "fresh", true, false);
    std::fs::remove_dir(dir.join("ui/node_modules")).unwrap();
    let s = e
        .handle
        .start_dev_server_for_path("fresh", &dir)
        .await
        .unwrap();
    assert_eq!(s.vite_status, DevProcessStatus::Starting);
    e.rec
        .wait_status("fresh", "vite ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    let log = e.rec.log_text();
    assert!(
        log.contains("installing dependencies with `npm install`"),
        "{log}"
    );
    assert!(log.contains("dependencies installed"), "{log}");
    assert!(dir.join("ui/node_modules").is_dir());
    e.finish().await;
}

fn installed(e: &TestEngine, id: &str) -> Vec<u8> {
    std::fs::read(e.state.path().join("plugins").join(id).join("bin/plugin")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_build_keeps_the_binary_reports_errors_and_recovers() {
    let mut e = TestEngine::start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "be", false, true);
    let main = dir.join("pkg/main.go");
    e.handle
        .start_dev_server_for_path("be", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("be", "first build", |s| {
            s.go_status == DevProcessStatus::Ready
        })
        .await;
    let good = installed(&e, "be");
    assert_eq!(e.host.reload_count(), 1);

    atomic_save(&main, "package main\n\nBROKEN\n");
    let ev = e
        .rec
        .wait_for("build errors", HANG, |ev| {
            matches!(ev, DevServerEvent::BuildErrors(_))
        })
        .await;
    let DevServerEvent::BuildErrors(payload) = ev else {
        unreachable!()
    };
    assert_eq!(payload.plugin_id, "be");
    let canonical = std::fs::canonicalize(&main).unwrap();
    assert_eq!(payload.errors[0].file, canonical.to_string_lossy());
    assert_eq!((payload.errors[0].line, payload.errors[0].column), (3, 7));
    assert_eq!(payload.errors[0].message, "undefined: nope");
    let s = e
        .rec
        .wait_status("be", "go error", |s| s.go_status == DevProcessStatus::Error)
        .await;
    assert!(
        s.last_error.contains("main.go:3:7: undefined: nope"),
        "{}",
        s.last_error
    );
    assert_eq!(installed(&e, "be"), good, "the previous binary stays");
    assert_eq!(e.host.reload_count(), 1);

    atomic_save(&main, "package main\n\nfunc main() { println(1) }\n");
    let s = e
        .rec
        .wait_status("be", "recovered", |s| {
            s.go_status == DevProcessStatus::Ready
        })
        .await;
    assert_eq!(s.last_error, "");
    assert_ne!(installed(&e, "be"), good);
    assert_eq!(e.host.reload_count(), 2);

    // The build history: what started each build and how it ended.
    e.handle.rebuild_plugin("be").await.unwrap();
    e.rec.wait_build("be", "manual rebuild").await;
    let history = e.handle.get_build_history("be").await.unwrap();
    let seen: Vec<_> = history
        .iter()
        .map(|r| (r.number, r.trigger.clone(), r.result))
        .collect();
    let saved = BuildTrigger::Changes {
        files: vec![canonical.display().to_string()],
        more: 0,
    };
    assert_eq!(
        seen,
        vec![
            (1, BuildTrigger::Start, BuildResult::Succeeded),
            (2, saved.clone(), BuildResult::Failed),
            (3, saved, BuildResult::Succeeded),
            (4, BuildTrigger::Manual, BuildResult::Succeeded),
        ]
    );
    assert_eq!(history[1].errors[0].line, 3);
    assert!(
        history[1].error.contains("undefined: nope"),
        "{}",
        history[1].error
    );
    assert!(history[0].duration > std::time::Duration::ZERO);
    assert!(e
        .handle
        .get_build_history("nobody")
        .await
        .unwrap()
        .is_empty());
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identical_binary_is_not_reloaded() {
    let mut e = TestEngine::start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "same", false, true);
    e.handle
        .start_dev_server_for_path("same", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("same", "first build", |s| {
            s.go_status == DevProcessStatus::Ready
        })
        .await;
    e.handle.rebuild_plugin("same").await.unwrap();
    let s = e.rec.wait_build("same", "rebuild").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    e.rec.drain(Duration::from_millis(300)).await;
    assert!(e
        .rec
        .log_text()
        .contains("identical to the installed one; skipping the reload"));
    assert_eq!(e.host.reload_count(), 1);
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_during_a_build_give_exactly_one_more_build() {
    let mut e = TestEngine::start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "slow", false, true);
    std::fs::write(dir.join("pkg/main.go"), "package main // SLOW\n").unwrap();
    e.handle
        .start_dev_server_for_path("slow", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("slow", "building", |s| {
            s.go_status == DevProcessStatus::Building
        })
        .await;
    for _ in 0..3 {
        e.handle.rebuild_plugin("slow").await.unwrap();
    }
    e.rec
        .wait_status("slow", "first build done", |s| {
            s.go_status == DevProcessStatus::Ready
        })
        .await;
    let s = e.rec.wait_build("slow", "second build").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    e.rec.drain(Duration::from_millis(1500)).await;
    assert_eq!(e.rec.builds_started(), 2, "{}", e.rec.log_text());
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_cancels_a_running_build() {
    let mut e = TestEngine::start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "cancel", false, true);
    std::fs::write(dir.join("pkg/main.go"), "package main // SLOW\n").unwrap();
    e.handle
        .start_dev_server_for_path("cancel", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("cancel", "building", |s| {
            s.go_status == DevProcessStatus::Building
        })
        .await;
    e.handle.stop_dev_server("cancel").await.unwrap();
    assert!(
        processes_in(&dir).is_empty(),
        "the build's process group is gone when stop returns"
    );
    assert!(!e.state.path().join("plugins/cancel/bin/plugin").exists());
    e.finish().await;
}

#[actix::test]
async fn inside_an_actix_system_the_engine_runs_there_and_missing_go_is_named() {
    use actix::Actor;
    use ovdev_actors::actors::supervisor::StartDevServer;
    use ovdev_actors::actors::DevServerSupervisor;
    use ovdev_actors::config::EngineConfig;
    use ovdev_actors::events::EventBus;

    let state = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "nogo", false, true);
    let mut cfg = EngineConfig::new(state.path());
    cfg.go = None;
    let sup =
        DevServerSupervisor::new(Arc::new(cfg), RecordingHost::new(), EventBus::new(16)).start();
    let err = sup
        .send(StartDevServer {
            plugin_id: "nogo".into(),
            dev_path: Some(dir),
        })
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`go` not found on PATH; install it or give its path (builder option `go`)"
    );

    // The builder, called inside a System, starts the engine in it and works the same.
    let h = DevServerBuilder::with_host(RecordingHost::new())
        .state_dir(state.path())
        .start()
        .unwrap();
    assert!(h.list_dev_server_states().await.unwrap().is_empty());
    h.shutdown().await;
}

#[test]
fn a_bad_tool_path_is_refused_up_front() {
    let err = DevServerBuilder::with_host(RecordingHost::new())
        .go("/nonexistent/go")
        .start()
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("`go` path `/nonexistent/go` does not exist"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn vite_dying_after_ready_is_an_error_with_its_exit_status() {
    let mut e = TestEngine::start(|b| b.port_probe(always_free()));
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "dies", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "ready-exit").unwrap();
    e.handle
        .start_dev_server_for_path("dies", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("dies", "ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    let s = e
        .rec
        .wait_status("dies", "error", |s| {
            s.vite_status == DevProcessStatus::Error
        })
        .await;
    assert_eq!(s.vite_url, "", "no URL once Vite is gone");
    assert!(
        s.last_error
            .contains("Vite exited with code 7 after it was ready"),
        "{}",
        s.last_error
    );
    assert!(e.rec.log_text().contains("exited with code 7"));
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn module_files_and_go_work_directories_trigger_builds() {
    let mut e = TestEngine::start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "mods", false, true);
    std::fs::create_dir_all(dir.join("shared/inner")).unwrap();
    std::fs::write(
        dir.join("go.work"),
        "go 1.22\n\nuse (\n\t./pkg\n\t./shared\n)\n",
    )
    .unwrap();
    e.handle
        .start_dev_server_for_path("mods", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("mods", "first build", |s| {
            s.go_status == DevProcessStatus::Ready
        })
        .await;

    let mut expected = 1;
    for (file, contents) in [
        ("go.mod", "module mods\n"),
        ("go.sum", ""),
        ("shared/inner/lib.go", "package inner\n"),
        ("go.work", "go 1.22\n\nuse ./pkg\n"),
    ] {
        std::fs::write(dir.join(file), contents).unwrap();
        expected += 1;
        let s = e.rec.wait_build("mods", file).await;
        assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
        assert_eq!(
            e.rec.builds_started(),
            expected,
            "{file}: {}",
            e.rec.log_text()
        );
    }
    // A directory added to go.work later is watched from then on.
    std::fs::create_dir_all(dir.join("later")).unwrap();
    std::fs::write(dir.join("go.work"), "go 1.22\n\nuse ./pkg\nuse ./later\n").unwrap();
    expected += 1;
    let s = e.rec.wait_build("mods", "go.work").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    std::fs::write(dir.join("later/l.go"), "package later\n").unwrap();
    expected += 1;
    let s = e.rec.wait_build("mods", "later/l.go").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    assert_eq!(e.rec.builds_started(), expected, "{}", e.rec.log_text());

    // Not inputs: other files at the root, and Go files in skipped directories.
    std::fs::write(dir.join("README.md"), "x").unwrap();
    std::fs::create_dir_all(dir.join("pkg/.cache")).unwrap();
    std::fs::write(dir.join("pkg/.cache/x.go"), "package x\n").unwrap();
    std::fs::create_dir_all(dir.join("pkg/node_modules/m")).unwrap();
    std::fs::write(dir.join("pkg/node_modules/m/x.go"), "package m\n").unwrap();
    e.rec.drain(Duration::from_millis(600)).await;
    assert_eq!(e.rec.builds_started(), expected, "{}", e.rec.log_text());
    e.finish().await;
}

#[test]
fn the_handle_can_be_shared_across_threads_and_runtimes() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<DevServerHandle>();
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_lines_are_cut_with_a_marker_and_bad_utf8_is_replaced() {
    let mut e = TestEngine::start(|b| b.port_probe(always_free()));
    let root = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "noisy", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "noisy").unwrap();
    e.handle
        .start_dev_server_for_path("noisy", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("noisy", "ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    let logs = e.handle.get_dev_server_logs("noisy", None).await.unwrap();
    let long = logs
        .iter()
        .find(|l| l.message.starts_with("xxxx"))
        .expect("the long line");
    assert!(
        long.message.ends_with(" …[line truncated]"),
        "{}",
        &long.message[long.message.len() - 40..]
    );
    assert_eq!(long.message.len(), 64 * 1024 + " …[line truncated]".len());
    assert!(
        logs.iter().any(|l| l.message == "bad \u{fffd} byte"),
        "lossy decoding"
    );
    e.finish().await;
}

/// As the IDE's dev install does: every good build puts the plugin's `plugin.yaml` into the
/// state directory, so capability changes apply without reinstalling; a manifest without a
/// `version` (the IDE's validator requires one) is warned about.
#[tokio::test(flavor = "multi_thread")]
async fn a_good_build_copies_plugin_yaml_and_a_missing_version_is_warned() {
    let mut e = TestEngine::start(|b| b);
    let dir = e.plugin("manifest", false, true);
    std::fs::write(dir.join("plugin.yaml"), "id: manifest\n").unwrap();
    e.handle.start_dev_server("manifest").await.unwrap();
    let s = e.rec.wait_build("manifest", "first build").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", e.rec.log_text());
    let copy = e.state.path().join("plugins/manifest/plugin.yaml");
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "id: manifest\n");
    assert!(
        e.rec
            .log_text()
            .contains("plugin.yaml has no `version` (or cannot be read); Omniview's plugin validator requires one"),
        "{}",
        e.rec.log_text()
    );

    std::fs::write(dir.join("plugin.yaml"), "id: manifest\nversion: 1.2.3\n").unwrap();
    e.handle.rebuild_plugin("manifest").await.unwrap();
    e.rec.wait_build("manifest", "rebuild").await;
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        "id: manifest\nversion: 1.2.3\n",
        "the next good build refreshes the copy"
    );
    e.finish().await;
}

/// With the IDE's own host, a successful `reload_plugin` is what connects the plugin; a failed
/// one is `plugin/dev_reload_error` with the plugin's metadata and the host's words, and the
/// plugin is not connected.
#[tokio::test(flavor = "multi_thread")]
async fn an_embedders_reload_connects_the_plugin_or_fails_with_a_reload_error_event() {
    let mut e = TestEngine::start(|b| b);
    let dir = e.plugin("hosted", false, true);
    e.handle.start_dev_server("hosted").await.unwrap();
    e.rec
        .wait_status("hosted", "connected and built", |s| {
            s.grpc_connected && s.go_status == DevProcessStatus::Ready
        })
        .await;

    *e.host.reload_error.lock().unwrap() = Some("the IDE could not load it".into());
    std::fs::write(
        dir.join("pkg/main.go"),
        "package main\n\nfunc main() { _ = 1 }\n",
    )
    .unwrap();
    let (meta, error) = e.rec.wait_reload_error().await;
    assert_eq!(meta["id"], "hosted");
    assert_eq!(meta["version"], "0.0.1");
    assert_eq!(
        error,
        "reloading the plugin failed: the IDE could not load it"
    );
    let s = e
        .rec
        .wait_status("hosted", "disconnected", |s| !s.grpc_connected)
        .await;
    assert!(s.last_error.contains("the IDE could not load it"), "{s:?}");
    e.finish().await;
}

/// The built-in host: a good build whose binary cannot be launched is a reload error too.
#[tokio::test(flavor = "multi_thread")]
async fn a_relaunch_that_fails_after_a_good_build_is_a_reload_error_event() {
    // The fake `go` "builds" the sources themselves: not something a plugin host can run.
    let mut e = TestEngine::start(|b| {
        b.launch_plugins(true)
            .plugin_start_timeout(Duration::from_secs(5))
            .plugin_restart_policy(omniview_devserver::RestartPolicy::new(
                omniview_devserver::RestartType::Temporary,
            ))
    });
    e.plugin("unrunnable", false, true);
    e.handle.start_dev_server("unrunnable").await.unwrap();
    let (meta, error) = e.rec.wait_reload_error().await;
    assert_eq!(meta["id"], "unrunnable");
    assert!(!error.is_empty());
    e.finish().await;
}

/// A launched plugin gets its Vite port in `OMNIVIEW_VITE_PORT`, as the real CLI gives it,
/// but not `OMNIVIEW_DEV` (the SDK would write a second `.devinfo` of its own).
#[tokio::test(flavor = "multi_thread")]
async fn a_launched_plugin_is_told_its_vite_port() {
    let mut e = TestEngine::start(|b| {
        b.port_probe(always_free())
            .launch_plugins(true)
            .plugin_start_timeout(Duration::from_secs(1))
            .plugin_restart_policy(omniview_devserver::RestartPolicy::new(
                omniview_devserver::RestartType::Temporary,
            ))
    });
    let dir = e.plugin("told", true, true);
    // The fake `go` "builds" the sources as they are: here, a script that shows its env.
    std::fs::write(
        dir.join("pkg/main.go"),
        "#!/bin/sh\necho \"port=[$OMNIVIEW_VITE_PORT] dev=[$OMNIVIEW_DEV]\" >&2\nexec sleep 300\n",
    )
    .unwrap();
    let first = e.handle.start_dev_server("told").await.unwrap();
    let port = first.vite_port;
    assert_ne!(port, 0);
    e.rec
        .wait_for("the plugin's env line", HANG, |ev| {
            matches!(ev, DevServerEvent::Log(l) if l.iter().any(|e| e.message.starts_with("port=[")))
        })
        .await;
    let text = e.rec.log_text();
    assert!(text.contains(&format!("port=[{port}] dev=[]")), "{text}");
    e.finish().await;
}

/// `--vite-port`: the preferred port when it is free; when it is taken, one of the range, and
/// the plugin's log says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_preferred_vite_port_is_used_or_the_fallback_is_said() {
    let wanted = next_port_range(2);
    let mut e = TestEngine::start(|b| {
        b.preferred_vite_port("free-port", wanted.0)
            .preferred_vite_port("busy-port", wanted.1)
            .port_probe(Arc::new(move |p| p != wanted.1))
    });
    e.plugin("free-port", true, false);
    e.plugin("busy-port", true, false);
    let free = e.handle.start_dev_server("free-port").await.unwrap();
    assert_eq!(free.vite_port, wanted.0);
    let busy = e.handle.start_dev_server("busy-port").await.unwrap();
    assert_eq!(busy.vite_port, e.ports.0, "the range's first port");
    e.rec
        .wait_status("busy-port", "vite ready", |s| {
            s.vite_status == DevProcessStatus::Ready
        })
        .await;
    let expected = format!(
        "Vite port {} is taken (or in use by another plugin); Vite uses port {}",
        wanted.1, e.ports.0
    );
    assert!(e.rec.log_text().contains(&expected), "{}", e.rec.log_text());
    e.finish().await;
}
