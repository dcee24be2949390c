//! The example as users write plugins today: a Go module on go-plugin v1.7. Its six-field
//! handshake (seven with gRPC multiplexing), its stdout and stderr arriving over GRPCStdio, a
//! stop through the Shutdown RPC, a `go.work` workspace whose other module rebuilds the
//! plugin, test files that rebuild nothing, and a GOPATH-mode build through the CLI.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use omniview_devserver::{DevProcessStatus, DevServerEvent, DevServerHandle, LogLevel};
use ovdev_actors::handshake::{parse_handshake, Network};
use tokio::io::{AsyncBufReadExt, BufReader};

const ID: &str = "hello-plugin";

/// The first stdout line of the real plugin binary started with `env`.
async fn first_line(binary: &Path, env: &[(&str, &str)]) -> String {
    let mut child = tokio::process::Command::new(binary)
        .env("OMNIVIEW", ID)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(HANG, lines.next_line())
        .await
        .expect("the plugin printed its handshake")
        .unwrap()
        .expect("a handshake line");
    child.kill().await.unwrap();
    line
}

#[tokio::test(flavor = "multi_thread")]
async fn go_plugin_1_7_prints_six_fields_and_seven_when_multiplexing() {
    let bins = tempfile::tempdir().unwrap();
    let binary = build_example_binary(bins.path());

    let line = first_line(&binary, &[]).await;
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 6, "{line}");
    assert!(
        line.ends_with('|'),
        "empty server-certificate field: {line}"
    );
    let hs = parse_handshake(&line).unwrap();
    assert_eq!(hs.network, Network::Unix, "{line}");
    assert_eq!(hs.app_version, 1);
    assert!(hs.addr.starts_with('/'), "{line}");
    assert_eq!((hs.server_cert, hs.multiplex), (None, false));

    let line = first_line(&binary, &[("PLUGIN_MULTIPLEX_GRPC", "true")]).await;
    assert_eq!(line.split('|').count(), 7, "{line}");
    let hs = parse_handshake(&line).unwrap();
    assert!(hs.multiplex, "{line}");
}

fn engine(state: &Path, launch: bool) -> (DevServerHandle, Recorder) {
    engine_on(RecordingHost::new(), state, |b| {
        b.debounce(Duration::from_millis(100))
            .launch_plugins(launch)
            .write_devinfo(launch)
    })
}

fn backend_only_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("ui")).unwrap();
    (tmp, dir)
}

/// The log entry whose message is `text`, once it arrived.
async fn logged(rec: &mut Recorder, text: &str) -> omniview_devserver::LogEntry {
    let ev = rec
        .seen_or_wait(
            text,
            |e| matches!(e, DevServerEvent::Log(l) if l.iter().any(|l| l.message == text)),
        )
        .await;
    let DevServerEvent::Log(entries) = ev else {
        unreachable!()
    };
    entries.iter().find(|l| l.message == text).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_arrives_over_grpc_and_a_stop_is_a_graceful_shutdown() {
    let (_tmp, dir) = backend_only_copy();
    let state = tempfile::tempdir().unwrap();
    let (h, mut rec) = engine(state.path(), true);
    // A plugin that printed nothing since it served stops without a complaint: go-plugin
    // answers the stdio call only with the first output, so the pending call just ends.
    h.start_dev_server_for_path(ID, &dir).await.unwrap();
    rec.wait_status(ID, "serving", |s| s.grpc_connected).await;
    h.stop_dev_server(ID).await.unwrap();
    logged(&mut rec, "plugin exited with code 0").await;
    assert!(
        !rec.log_text().contains("stdio stream"),
        "{}",
        rec.log_text()
    );

    h.start_dev_server_for_path(ID, &dir).await.unwrap();
    rec.wait_status(ID, "serving", |s| s.grpc_connected).await;
    let pid = read_pid(state.path());

    // Greet prints one line on stdout and one on stderr after plugin.Serve replaced both with
    // go-plugin's pipes: the only way out of the process for them is the GRPCStdio stream.
    assert_eq!(
        greet(state.path(), ID, "stdio-check").await.unwrap(),
        "hello from hello-plugin"
    );
    let out = logged(&mut rec, "greeting \"stdio-check\" on stdout").await;
    assert_eq!(out.level, LogLevel::Info);
    let err = logged(&mut rec, "greeting \"stdio-check\" on stderr").await;
    assert_eq!(err.level, LogLevel::Warn, "stderr lines are warnings");
    // The SDK-style hclog text line on the process's own stderr, with its level.
    let hclog = logged(&mut rec, "hello-plugin: greet called: name=stdio-check").await;
    assert_eq!(hclog.level, LogLevel::Info);
    assert!(!rec.log_text().contains("has no StreamStdio"));

    // A stop asks the plugin to shut down over gRPC; it exits by itself, with code 0.
    h.stop_dev_server(ID).await.unwrap();
    assert!(!alive(pid));
    rec.wait_for("the second plugin's exit", HANG, |e| {
        matches!(e, DevServerEvent::Log(l) if l.iter().any(|l| l.message == "plugin exited with code 0"))
    })
    .await;
    let log = rec.log_text();
    assert!(!log.contains("did not exit after Shutdown"), "{log}");
    assert!(!log.contains("Shutdown call failed"), "{log}");
    assert!(
        !log.contains("cannot read the plugin's stdio stream"),
        "{log}"
    );
    h.shutdown().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}

fn read_pid(state: &Path) -> i32 {
    use ovdev_actors::devinfo::{devinfo_path, read_devinfo};
    read_devinfo(&devinfo_path(state, ID)).unwrap().pid
}

fn greetlib_source(text: &str) -> String {
    format!("package greetlib\n\n// Text is the plugin's greeting.\nfunc Text() string {{\n\treturn \"{text}\"\n}}\n")
}

/// A `go.work` workspace: the plugin's greeting comes from a second module beside it.
fn workspace() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let (tmp, dir) = backend_only_copy();
    let lib = tmp.path().join("greetlib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("go.mod"),
        "module example.com/greetlib\n\ngo 1.24.0\n",
    )
    .unwrap();
    std::fs::write(
        lib.join("greetlib.go"),
        greetlib_source("from the other module"),
    )
    .unwrap();
    std::fs::write(
        dir.join("go.work"),
        "go 1.24.0\n\nuse (\n\t.\n\t../greetlib\n)\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("pkg/greeting/greeting.go"),
        "package greeting\n\nimport \"example.com/greetlib\"\n\n// Message is what hello.v1.Greeter/Greet returns.\nfunc Message() string {\n\treturn greetlib.Text()\n}\n",
    )
    .unwrap();
    (tmp, dir, lib)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_in_another_module_of_the_go_work_rebuilds_the_plugin() {
    let (_tmp, dir, lib) = workspace();
    let state = tempfile::tempdir().unwrap();
    let (h, mut rec) = engine(state.path(), true);
    h.start_dev_server_for_path(ID, &dir).await.unwrap();
    let s = rec
        .wait_status(ID, "built", |s| {
            s.go_status != DevProcessStatus::Building && s.go_status != DevProcessStatus::Starting
        })
        .await;
    assert_eq!(
        s.go_status,
        DevProcessStatus::Ready,
        "{}\n{}",
        s.last_error,
        rec.log_text()
    );
    // A build reports ready once the reload it caused completed: the plugin serves.
    assert!(h.get_dev_server_state(ID).await.unwrap().grpc_connected);
    assert_eq!(
        greet(state.path(), ID, "ws").await.unwrap(),
        "from the other module"
    );

    atomic_save(
        &lib.join("greetlib.go"),
        &greetlib_source("changed next door"),
    );
    let s = rec
        .wait_build(ID, "rebuild after the other module changed")
        .await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    // Ready again only after the new binary was relaunched and serves.
    assert!(h.get_dev_server_state(ID).await.unwrap().grpc_connected);
    assert_eq!(
        greet(state.path(), ID, "ws").await.unwrap(),
        "changed next door"
    );
    assert_eq!(rec.builds_started(), 2, "{}", rec.log_text());
    h.shutdown().await;
    assert_no_processes_in(&dir, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn saving_test_files_and_testdata_rebuilds_nothing() {
    let (_tmp, dir) = backend_only_copy();
    let state = tempfile::tempdir().unwrap();
    let (h, mut rec) = engine(state.path(), false);
    h.start_dev_server_for_path(ID, &dir).await.unwrap();
    let s = rec
        .wait_status(ID, "built", |s| s.go_status == DevProcessStatus::Ready)
        .await;
    assert_eq!(s.last_error, "");
    assert_eq!(rec.builds_started(), 1);

    // What `go build` never reads: tests (even broken ones), testdata, `_` files.
    let greeting = dir.join("pkg/greeting");
    atomic_save(
        &greeting.join("greeting_test.go"),
        "package greeting\n\nimport \"testing\"\n\nfunc TestMessage(t *testing.T) {\n\tif Message() == \"\" {\n\t\tt.Fatal(\"empty\")\n\t}\n}\n",
    );
    std::fs::write(
        greeting.join("broken_test.go"),
        "package greeting\n\nfunc {\n",
    )
    .unwrap();
    std::fs::create_dir_all(greeting.join("testdata")).unwrap();
    std::fs::write(greeting.join("testdata/input.go"), "package nope\n").unwrap();
    std::fs::write(greeting.join("_scratch.go"), "not go at all").unwrap();
    std::fs::remove_file(greeting.join("broken_test.go")).unwrap();
    rec.drain(Duration::from_millis(1500)).await;
    assert_eq!(rec.builds_started(), 1, "{}", rec.log_text());

    // The watcher still builds on a real change.
    atomic_save(
        &greeting.join("greeting.go"),
        "package greeting\n\n// Message is what hello.v1.Greeter/Greet returns.\nfunc Message() string {\n\treturn \"after tests\"\n}\n",
    );
    let s = rec.wait_build(ID, "rebuild after a real change").await;
    assert_eq!(s.go_status, DevProcessStatus::Ready, "{}", s.last_error);
    assert_eq!(rec.builds_started(), 2);
    h.shutdown().await;
}

/// ovdev runs `go build` in the environment it was given: here GOPATH mode (`GO111MODULE=off`),
/// which some older plugins still build in, with the plugin's import found under `GOPATH/src`.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_builds_a_gopath_mode_plugin_in_the_environment_it_was_given() {
    let tmp = tempfile::tempdir().unwrap();
    let gopath = tmp.path().join("gopath");
    let lib = gopath.join("src/example.com/oldgreet");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("oldgreet.go"),
        "package oldgreet\n\n// Text is the greeting.\nfunc Text() string { return \"built in GOPATH mode\" }\n",
    )
    .unwrap();
    let dir = tmp.path().join("old-plugin");
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("plugin.yaml"), "id: old-plugin\nversion: 0.0.1\n").unwrap();
    std::fs::write(
        dir.join("pkg/main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/oldgreet\"\n)\n\nfunc main() { fmt.Println(oldgreet.Text()) }\n",
    )
    .unwrap();
    let state = tmp.path().join("state");

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .args([
            "dev",
            "--json",
            "--no-launch",
            "--no-external",
            "--state-dir",
        ])
        .arg(&state)
        .arg(&dir)
        .env("GO111MODULE", "off")
        .env("GOPATH", &gopath)
        .env("GOFLAGS", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = vec![];
    let state_line = tokio::time::timeout(HANG, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            seen.push(line);
            let go = v["data"]["goStatus"].as_str().unwrap_or("");
            if v["name"] == "plugin/devserver/status" && (go == "ready" || go == "error") {
                return v;
            }
        }
        panic!("ovdev ended early:\n{}", seen.join("\n"));
    })
    .await
    .expect("a build result");
    assert_eq!(state_line["data"]["goStatus"], "ready", "{state_line}");
    let installed = state.join("plugins/old-plugin/bin/plugin");
    let out = std::process::Command::new(&installed).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "built in GOPATH mode"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::time::timeout(HANG, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
