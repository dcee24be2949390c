//! The CLI verbs and a Go client against a real `ovdev dev` on a copy of the example plugin:
//! real go build, real Vite, the API over its unix socket.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::*;
use common::*;
use nix::sys::signal::Signal;
use tokio::io::AsyncBufReadExt;

/// `ovdev ARGS --state-dir STATE`: exit code, stdout, stderr.
async fn verb(state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        HANG,
        ovdev().args(args).arg("--state-dir").arg(state).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("ovdev {args:?} hangs"))
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the verb until it exits with `code` (the engine gets there on its own).
async fn until(state: &Path, args: &[&str], code: i32) -> (String, String) {
    let deadline = Instant::now() + HANG;
    loop {
        let (c, out, err) = verb(state, args).await;
        if c == code {
            return (out, err);
        }
        assert!(
            Instant::now() < deadline,
            "ovdev {args:?} never exited {code}: {c}\n{out}\n{err}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_verbs_and_a_go_client_drive_a_running_ovdev() {
    let (_tmp, dir) = example_copy(true);
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    let (code, _, err) = verb(s, &["ls"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("no ovdev is running") && err.contains("ovdev dev"),
        "{err}"
    );

    let (mut child, _lines) = spawn_piped(
        ovdev()
            .args(["dev", "--json", "--no-external", "--state-dir"])
            .arg(s)
            .arg(&dir),
    );
    let (out, _) = until(s, &["wait", "--for", "connected", "--timeout", "100s"], 0).await;
    assert_eq!(out.trim(), "hello-plugin is connected");
    let (code, out, _) = verb(s, &["ls"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("hello-plugin") && out.contains("ready") && out.contains("http://127.0.0.1:"),
        "{out}"
    );
    let (_, out, _) = verb(s, &["get", "hello-plugin", "--json"]).await;
    let state_json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(state_json["goStatus"], "ready");

    // A Go program (standard library only) lists the plugins and follows the stream.
    let go_client = s.join("go-client");
    let built = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&go_client)
        .arg(".")
        .current_dir(repo().join("examples/go-client"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let mut gc = tokio::process::Command::new(&go_client)
        .arg("-state-dir")
        .arg(s)
        .args(["-events", "2", "-plugin", "hello-plugin"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut gc_lines = tokio::io::BufReader::new(gc.stdout.take().unwrap()).lines();
    let mut gc_out = Vec::new();
    while gc_out.last().map(String::as_str) != Some("following events") {
        let line = tokio::time::timeout(HANG, gc_lines.next_line())
            .await
            .unwrap()
            .unwrap();
        gc_out.push(line.expect("the Go client follows events"));
    }
    assert!(
        gc_out[0].starts_with("plugin hello-plugin mode=managed go=ready"),
        "{gc_out:?}"
    );
    let (code, out, _) = verb(s, &["rebuild", "hello-plugin"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("succeeded") && out.contains("manual"), "{out}");
    let status = tokio::time::timeout(HANG, gc.wait())
        .await
        .unwrap()
        .unwrap();
    while let Ok(Some(line)) = gc_lines.next_line().await {
        gc_out.push(line);
    }
    assert!(status.success(), "{gc_out:?}");
    assert!(
        gc_out
            .iter()
            .any(|l| l.starts_with("event plugin/devserver/status hello-plugin go=building")),
        "{gc_out:?}"
    );

    // A syntax error: `errors` shows it as file:line:col, `wait` and `rebuild` fail with 4.
    let greeting = dir.join("pkg/greeting/greeting.go");
    let good = std::fs::read_to_string(&greeting).unwrap();
    atomic_save(
        &greeting,
        &format!("{good}\nfunc broken() {{ return 1 }}\n"),
    );
    let (out, _) = until(s, &["errors"], 4).await;
    let canonical = std::fs::canonicalize(&greeting).unwrap();
    let lines = good.lines().count() + 2;
    let expected = format!("{}:{lines}:", canonical.display());
    assert!(out.starts_with(&expected), "{out} (expected {expected}...)");
    assert!(out.contains("too many return values"), "{out}");
    let (code, out, _) = verb(s, &["errors", "--json"]).await;
    assert_eq!(code, 4);
    let errors: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(errors["errors"][0]["line"], lines);
    let (code, _, err) = verb(s, &["wait", "--timeout", "1s"]).await;
    assert_eq!(code, 4, "still in error when the time is up: {err}");
    assert!(err.contains("is in error"), "{err}");
    let (code, out, _) = verb(s, &["rebuild"]).await;
    assert_eq!(code, 4);
    assert!(out.contains("failed") && out.contains(&expected), "{out}");

    // Fixed: `wait` waits through the build.
    let mut logs_f = tokio::process::Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .args(["logs", "-f", "--source", "go-build", "--state-dir"])
        .arg(s)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    atomic_save(&greeting, &good);
    let (out, _) = until(s, &["wait", "--for", "connected", "--timeout", "60s"], 0).await;
    assert!(out.contains("connected"), "{out}");
    let mut followed = tokio::io::BufReader::new(logs_f.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + HANG;
    let mut successes = 0;
    while successes < 3 {
        let line = tokio::time::timeout(deadline - Instant::now(), followed.next_line())
            .await
            .expect("logs -f shows the builds")
            .unwrap()
            .unwrap();
        assert!(line.contains("[go-build]"), "only go-build lines: {line}");
        if line.contains("build succeeded") {
            successes += 1; // the first, the manual rebuild, the fix
        }
    }
    drop(logs_f);
    let (_, out, _) = verb(s, &["builds", "--json"]).await;
    let history: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let triggers: Vec<&str> = history
        .iter()
        .map(|b| b["trigger"]["kind"].as_str().unwrap())
        .collect();
    let results: Vec<&str> = history
        .iter()
        .map(|b| b["result"].as_str().unwrap())
        .collect();
    assert_eq!(triggers[..3], ["start", "manual", "changes"], "{out}");
    assert_eq!(*results.last().unwrap(), "succeeded", "{out}");
    assert!(results.contains(&"failed"), "{out}");
    let (_, out, _) = verb(s, &["logs", "--tail", "2", "--level", "info"]).await;
    assert_eq!(out.lines().count(), 2, "{out}");

    // Stop, start again from the directory, restart.
    let (code, out, _) = verb(s, &["stop", "hello-plugin"]).await;
    assert_eq!((code, out.trim()), (0, "stopped hello-plugin"));
    let (_, out, _) = verb(s, &["ls"]).await;
    assert!(out.contains("runs no plugins"), "{out}");
    let (code, out, err) = verb(s, &["start", dir.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("hello-plugin (managed)"), "{out}");
    until(s, &["wait", "--timeout", "100s"], 0).await;
    let (code, out, _) = verb(s, &["restart", "--json"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("\"pluginID\":\"hello-plugin\""), "{out}");
    let (code, _, err) = verb(s, &["detach", "hello-plugin"]).await;
    assert_eq!(code, 1, "not attached: refused with the reason");
    assert!(err.contains("not attached"), "{err}");

    signal(&child, Signal::SIGTERM);
    assert!(wait_exit(&mut child).await.success());
    let (code, _, err) = verb(s, &["ls"]).await;
    assert_eq!(code, 1, "gone with ovdev: {err}");
    let leftovers: Vec<_> = std::fs::read_dir(s.join("run"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn several_instances_are_listed_and_chosen_by_pid() {
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    let (mut a, _) = spawn_piped(ovdev().args(["dev", "--json", "--state-dir"]).arg(s));
    let (mut b, _) = spawn_piped(ovdev().args(["dev", "--json", "--state-dir"]).arg(s));
    let (_, err) = until(s, &["ls"], 1).await;
    let deadline = Instant::now() + HANG;
    let mut err = err;
    while !err.contains("2 ovdev processes") {
        assert!(Instant::now() < deadline, "{err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        err = verb(s, &["ls"]).await.2;
    }
    let pid = a.id().unwrap().to_string();
    assert!(
        err.contains(&format!("pid {pid}")) && err.contains("--pid"),
        "{err}"
    );
    let (code, out, _) = verb(s, &["ls", "--pid", &pid]).await;
    assert_eq!(code, 0);
    assert!(out.contains("runs no plugins"), "{out}");
    let (code, _, err) = verb(s, &["ls", "--pid", "1"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no ovdev with pid 1"), "{err}");
    for c in [&a, &b] {
        signal(c, Signal::SIGTERM);
    }
    assert!(wait_exit(&mut a).await.success());
    assert!(wait_exit(&mut b).await.success());
}

#[tokio::test]
async fn open_and_dev_open_start_the_browser_on_the_page_with_the_token() {
    let root = tempfile::tempdir().unwrap();
    let s = &root.path().join("state");
    let seen = root.path().join("opened");
    let browser = root.path().join("browser");
    write_script(&browser, &format!("echo \"$1\" >> '{}'\n", seen.display()));
    let (mut child, _) = spawn_piped(
        ovdev()
            .args([
                "dev",
                "--json",
                "--open",
                "--api-addr",
                "127.0.0.1:0",
                "--state-dir",
            ])
            .arg(s)
            .env("BROWSER", &browser),
    );
    let (out, _) = until(s, &["ls"], 0).await;
    assert!(out.contains("runs no plugins"), "{out}");
    let token = std::fs::read_to_string(s.join("api-token")).unwrap();
    let deadline = Instant::now() + HANG;
    while !seen.exists() {
        assert!(Instant::now() < deadline, "--open never ran the browser");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = std::fs::read_to_string(&seen).unwrap();
    assert!(opened.starts_with("http://127.0.0.1:"), "{opened}");
    assert!(
        opened.trim_end().ends_with(&format!("/ui/?token={token}")),
        "{opened}"
    );

    let out = tokio::time::timeout(
        HANG,
        ovdev()
            .args(["open", "--state-dir"])
            .arg(s)
            .env("BROWSER", &browser)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        printed,
        opened.trim_end(),
        "`ovdev open` prints and opens the same page"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(std::fs::read_to_string(&seen).unwrap().lines().count(), 2);
    signal(&child, Signal::SIGTERM);
    assert!(wait_exit(&mut child).await.success());
}
