//! The `ovdev` binary as a user runs it: usage errors, `--json` NDJSON on a copy of the
//! example plugin, human output, and SIGTERM/SIGINT leaving no process behind.

mod common;

use std::time::{Duration, Instant};

use common::cli::*;
use common::*;
use nix::sys::signal::Signal;

async fn usage_error(args: &[&str]) -> String {
    let out = tokio::time::timeout(HANG, ovdev().args(args).output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn usage_errors_exit_2_and_name_the_problem() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let missing = r.join("missing");
    let err = usage_error(&["dev", missing.to_str().unwrap()]).await;
    assert!(
        err.contains("does not exist or is not a directory"),
        "{err}"
    );

    std::fs::create_dir_all(r.join("noyaml")).unwrap();
    let err = usage_error(&["dev", r.join("noyaml").to_str().unwrap()]).await;
    assert!(err.contains("has no plugin.yaml"), "{err}");

    std::fs::create_dir_all(r.join("noid")).unwrap();
    std::fs::write(r.join("noid/plugin.yaml"), "version: 1.0.0\n").unwrap();
    let err = usage_error(&["dev", r.join("noid").to_str().unwrap()]).await;
    assert!(err.contains("has no `id:`"), "{err}");

    std::fs::create_dir_all(r.join("badid")).unwrap();
    std::fs::write(r.join("badid/plugin.yaml"), "id: ../../etc\n").unwrap();
    let err = usage_error(&["dev", r.join("badid").to_str().unwrap()]).await;
    assert!(err.contains("plugin id `../../etc`"), "{err}");

    let a = fake_plugin(r, "a", false, true);
    let b = fake_plugin(r, "b", false, true);
    let err = usage_error(&["dev", "--id", "x", a.to_str().unwrap(), b.to_str().unwrap()]).await;
    assert!(
        err.contains("`--id` can only be used with a single plugin directory"),
        "{err}"
    );
    let err = usage_error(&["dev", "--package-manager", "cargo", a.to_str().unwrap()]).await;
    assert!(err.contains("unknown package manager `cargo`"), "{err}");
    let err = usage_error(&["dev", "--no-external"]).await;
    assert!(err.contains("PLUGIN_DIR"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_mode_streams_frontend_events_and_sigterm_stops_everything() {
    let (_tmp, dir) = example_copy(true);
    let state = tempfile::tempdir().unwrap();
    let (mut child, mut lines) = spawn_piped(
        ovdev()
            .args(["dev", "--json", "--debounce-ms", "200", "--state-dir"])
            .arg(state.path())
            .arg(&dir),
    );
    let mut seen = vec![];

    let ready = read_until(&mut lines, &mut seen, "ready status", |v| {
        is_status(v, |d| {
            d["viteStatus"] == "ready" && d["goStatus"] == "ready"
        })
    })
    .await;
    let data = &ready["data"];
    assert_eq!(data["pluginID"], "hello-plugin");
    assert_eq!(data["mode"], "managed");
    let port = data["vitePort"].as_u64().unwrap() as u16;
    assert_eq!(data["viteURL"], format!("http://127.0.0.1:{port}"));
    assert!(data["lastBuildDuration"].as_u64().unwrap() > 0);
    assert!(data["lastBuildTime"].as_str().unwrap().ends_with('Z'));
    assert!(seen.iter().any(|v| v["name"] == "plugin/devserver/log"
        && v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["pluginID"] == "hello-plugin" && e["seq"].is_u64())));
    assert!(http_get(port, "/src/entry.ts")
        .await
        .contains("hello-plugin"));
    assert!(state
        .path()
        .join("plugins/hello-plugin/bin/plugin")
        .is_file());

    let greeting = dir.join("pkg/greeting/greeting.go");
    atomic_save(
        &greeting,
        "package greeting\n\nfunc Message() string {\n\treturn 42\n}\n",
    );
    let err = read_until(&mut lines, &mut seen, "error event", |v| {
        v["name"] == "plugin/devserver/error"
    })
    .await;
    let e0 = &err["data"]["errors"][0];
    assert_eq!(err["data"]["pluginID"], "hello-plugin");
    assert_eq!(e0["severity"], "error", "the IDE's overlay reads it: {e0}");
    assert_eq!(
        e0["file"],
        std::fs::canonicalize(&greeting)
            .unwrap()
            .to_string_lossy()
            .as_ref()
    );
    assert_eq!(e0["line"], 4);
    assert!(e0["column"].as_u64().unwrap() > 0);

    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child).await;
    assert_eq!(status.code(), Some(0));
    while let Ok(Some(line)) = lines.next_line().await {
        seen.push(serde_json::from_str(&line).unwrap());
    }
    assert!(
        seen.iter()
            .any(|v| is_status(v, |d| d["mode"] == "idle" && d["viteStatus"] == "stopped")),
        "a final state is published:\n{}",
        dump(&seen)
    );
    assert_no_processes_in(&dir, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn human_output_is_prefixed_plain_when_piped_and_sigint_exits_0() {
    let (_tmp, dir) = example_copy(true);
    let state = tempfile::tempdir().unwrap();
    let (mut child, mut lines) = spawn_piped(
        ovdev()
            .args(["dev", "--state-dir"])
            .arg(state.path())
            .arg(&dir)
            // Vite colours its output as in a terminal: readiness must still be seen, and
            // the codes must not reach a piped stdout.
            .env("FORCE_COLOR", "1"),
    );
    let mut out = vec![];
    let deadline = Instant::now() + HANG;
    while !out
        .iter()
        .any(|l: &String| l.contains("vite: ready") && l.contains("go: ready"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, lines.next_line()).await {
            Ok(Ok(Some(l))) => out.push(l),
            other => panic!("no ready line ({other:?}):\n{}", out.join("\n")),
        }
    }
    signal(&child, Signal::SIGINT);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
    while let Ok(Some(l)) = lines.next_line().await {
        out.push(l);
    }
    let text = out.join("\n");
    assert!(text.contains("[hello-plugin vite]"), "{text}");
    assert!(text.contains("[hello-plugin go-build] $ "), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when stdout is not a terminal:\n{text}"
    );
    assert!(
        text.contains("● hello-plugin vite: stopped  go: stopped"),
        "{text}"
    );
    assert_no_processes_in(&dir, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn several_plugins_run_side_by_side_with_the_state_dir_from_the_environment() {
    let root = tempfile::tempdir().unwrap();
    let tools = FakeTools::new();
    let state = tempfile::tempdir().unwrap();
    let a = fake_plugin(root.path(), "alpha", true, true);
    let b = fake_plugin(root.path(), "beta", false, true);
    let (mut child, mut lines) = spawn_piped(
        ovdev()
            // The fake go "builds" text files: build and install only.
            .args([
                "dev",
                "--json",
                "--no-launch",
                "--package-manager",
                "npm",
                "--go",
            ])
            .arg(tools.go())
            .arg("--package-manager-path")
            .arg(tools.pm())
            .arg(&a)
            .arg(&b)
            .env("OMNIVIEW_STATE_DIR", state.path()),
    );
    let mut seen = vec![];
    read_until(&mut lines, &mut seen, "alpha ready", |v| {
        is_status(v, |d| {
            d["pluginID"] == "alpha" && d["viteStatus"] == "ready" && d["goStatus"] == "ready"
        })
    })
    .await;
    if !seen
        .iter()
        .any(|v| is_status(v, |d| d["pluginID"] == "beta" && d["goStatus"] == "ready"))
    {
        read_until(&mut lines, &mut seen, "beta ready", |v| {
            is_status(v, |d| d["pluginID"] == "beta" && d["goStatus"] == "ready")
        })
        .await;
    }
    assert!(state.path().join("plugins/alpha/bin/plugin").is_file());
    assert!(state.path().join("plugins/beta/bin/plugin").is_file());
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
    assert_no_processes_in(root.path(), Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_cannot_start_is_reported_and_exits_1() {
    let (_tmp, ui) = example_copy(false);
    std::fs::remove_dir_all(ui.join("pkg")).unwrap();
    let out = tokio::time::timeout(
        HANG,
        ovdev()
            .arg("dev")
            .arg(&ui)
            .env("PATH", "/nonexistent")
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot start the dev server of `hello-plugin`"),
        "{err}"
    );
    assert!(err.contains("not found on PATH"), "{err}");
    assert!(err.contains("--package-manager-path"), "{err}");
}

/// A relative state directory (flag or `OMNIVIEW_STATE_DIR`) is refused with the reason and
/// the flag, instead of creating `./~/x` or a directory the IDE never reads (`~` expansion:
/// unit tests in `builder.rs`).
#[tokio::test(flavor = "multi_thread")]
async fn a_relative_state_directory_is_refused_with_the_flag_to_fix_it() {
    let (_tmp, dir) = example_copy(false);
    let cwd = tempfile::tempdir().unwrap();
    for (flag, env) in [(Some("relative-state"), None), (None, Some("rel/state"))] {
        let mut cmd = ovdev();
        cmd.current_dir(cwd.path()).args(["dev", "--no-external"]);
        if let Some(f) = flag {
            cmd.args(["--state-dir", f]);
        }
        if let Some(e) = env {
            cmd.env("OMNIVIEW_STATE_DIR", e);
        }
        let out = tokio::time::timeout(HANG, cmd.arg(&dir).output())
            .await
            .unwrap()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("is relative; give an absolute path"), "{err}");
        assert!(err.contains("--state-dir"), "{err}");
        assert!(
            std::fs::read_dir(cwd.path()).unwrap().next().is_none(),
            "nothing was created in the working directory"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_ovdev_leaves_no_vite_no_build_and_no_plugin_behind() {
    let (_tmp, dir) = example_copy(true);
    let state = tempfile::tempdir().unwrap();
    let (mut child, mut lines) = spawn_piped(
        ovdev()
            .args(["dev", "--json", "--debounce-ms", "50", "--state-dir"])
            .arg(state.path())
            .arg(&dir),
    );
    let mut seen = vec![];
    read_until(&mut lines, &mut seen, "ready status", |v| {
        is_status(v, |d| {
            d["viteStatus"] == "ready" && d["goStatus"] == "ready"
        })
    })
    .await;
    // Start a build and kill ovdev while it runs, with Vite up.
    atomic_save(
        &dir.join("pkg/greeting/greeting.go"),
        "package greeting\n\nfunc Message() string {\n\treturn \"killed mid-build\"\n}\n",
    );
    read_until(&mut lines, &mut seen, "building", |v| {
        is_status(v, |d| d["goStatus"] == "building")
    })
    .await;
    assert!(!processes_in(&dir).is_empty());
    assert!(
        !processes_in(state.path()).is_empty(),
        "the plugin runs (in its state directory)"
    );
    signal(&child, Signal::SIGKILL);
    let _ = child.wait().await;
    assert_no_processes_in(&dir, Duration::from_secs(3)).await;
    assert_no_processes_in(state.path(), Duration::from_secs(3)).await;

    // The next start finds the run file of the dead engine, and nothing to kill in it.
    let run_files: Vec<_> = std::fs::read_dir(state.path().join("run"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".procs.json"))
        .collect();
    assert_eq!(
        run_files.len(),
        1,
        "the killed engine's record is still there"
    );
    let (mut child, mut lines) = spawn_piped(
        ovdev()
            .args(["dev", "--json", "--state-dir"])
            .arg(state.path())
            .arg(&dir),
    );
    read_until(&mut lines, &mut seen, "ready again", |v| {
        is_status(v, |d| {
            d["viteStatus"] == "ready" && d["goStatus"] == "ready"
        })
    })
    .await;
    // Records only: the live engine's writer may be between its temporary and the rename.
    let run_files: Vec<_> = std::fs::read_dir(state.path().join("run"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let pid = child.id().unwrap();
    let mut expected = vec![
        format!("ovdev-{pid}.json"),
        format!("ovdev-{pid}.procs.json"),
    ];
    expected.sort();
    let mut run_files = run_files;
    run_files.sort();
    assert_eq!(
        run_files, expected,
        "the dead engine's process record and API runtime file were cleaned up"
    );
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
    assert!(
        std::fs::read_dir(state.path().join("run"))
            .unwrap()
            .next()
            .is_none(),
        "a clean exit removes its record"
    );
    assert_no_processes_in(&dir, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grandchildren_that_leave_their_group_and_lose_their_parent_are_stopped_too() {
    let root = tempfile::tempdir().unwrap();
    let tools = FakeTools::new();
    let state = tempfile::tempdir().unwrap();
    let dir = fake_plugin(root.path(), "orphans", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "orphan").unwrap();
    let (mut child, mut lines) = spawn_piped(
        ovdev()
            .args([
                "dev",
                "--json",
                "--package-manager",
                "npm",
                "--package-manager-path",
            ])
            .arg(tools.pm())
            .arg("--state-dir")
            .arg(state.path())
            .arg(&dir),
    );
    let mut seen = vec![];
    read_until(&mut lines, &mut seen, "ready", |v| {
        is_status(v, |d| d["viteStatus"] == "ready")
    })
    .await;
    let ovdev_pid = child.id().unwrap().to_string();
    // Started in the background before the ready line, it may still be on its way.
    let deadline = Instant::now() + HANG;
    let orphan = loop {
        if let Some(p) = processes_in(&dir)
            .into_iter()
            .find(|p| p.contains("sleep 301"))
        {
            break p;
        }
        assert!(Instant::now() < deadline, "the orphaned grandchild runs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let orphan_pid: i32 = orphan.split(':').next().unwrap().parse().unwrap();
    let ppid = ovdev_actors::process::proc_entry(orphan_pid)
        .expect("the orphan runs")
        .ppid
        .to_string();
    assert_eq!(
        ppid, ovdev_pid,
        "ovdev is a subreaper: the orphan was re-parented to it"
    );
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
    assert_no_processes_in(&dir, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_vite_runs_only_the_backend_and_the_cli_hosts_the_plugin() {
    let (_tmp, dir) = example_copy(false);
    let state = tempfile::tempdir().unwrap();
    let (mut child, mut lines) = spawn_piped(
        ovdev()
            .args(["dev", "--json", "--no-vite", "--state-dir"])
            .arg(state.path())
            .arg(&dir),
    );
    let mut seen = vec![];
    let ready = read_until(&mut lines, &mut seen, "plugin serving", |v| {
        is_status(v, |d| {
            d["goStatus"] == "ready" && d["grpcConnected"] == true
        })
    })
    .await;
    assert_eq!(ready["data"]["viteStatus"], "idle");
    assert_eq!(ready["data"]["vitePort"], 0);
    assert!(seen
        .iter()
        .any(|v| v["name"] == "plugin/dev_reload_complete" && v["data"]["id"] == "hello-plugin"));
    assert!(
        !dir.join("ui/node_modules").exists(),
        "nothing was installed for the UI"
    );
    let devinfo = state.path().join("plugins/hello-plugin/.devinfo");
    assert!(devinfo.is_file(), "a running IDE can attach");
    signal(&child, Signal::SIGTERM);
    // The CLI reaps orphans as a subreaper; it must leave the plugin's own exit status alone.
    read_until(&mut lines, &mut seen, "the plugin's exit status", |v| {
        v["name"] == "plugin/devserver/log"
            && v["data"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|e| e["message"] == "plugin exited with code 0")
            })
    })
    .await;
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
    assert!(!devinfo.exists(), "the .devinfo goes with the plugin");
    assert_no_processes_in(state.path(), Duration::from_secs(5)).await;
}

/// A flood that a stalled stdout reader cannot take: what waits for it stays bounded, the
/// lines it could not take are dropped, and the NDJSON stream itself says how many events
/// were missed; the last lines and the final state still arrive, in order.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_reader_gets_an_events_missed_line_in_the_ndjson_stream() {
    let root = tempfile::tempdir().unwrap();
    let (dir, pm) = ui_plugin_with_pm(
        root.path(),
        "flood",
        "yes 'a flood line that nobody reads for a while, about eighty bytes long ......' | head -n 400000\necho FLOOD-DONE\nexec sleep 300\n",
    );
    let (mut child, mut lines) = run_json_with_pm(&dir, &pm, &root.path().join("state"));
    // ~90 MB of NDJSON against a stalled reader: far beyond the pipe and the 8 MiB queue.
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Peak RSS within the log ring's byte cap (8 MiB), the API's event ring (8 MiB) plus a
    // fixed 32 MiB margin, for a flood four times the rings' size that nobody reads.
    let peak_kib: u64 = std::fs::read_to_string(format!("/proc/{}/status", child.id().unwrap()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    eprintln!("peak RSS during the flood: {peak_kib} KiB");
    assert!(
        peak_kib < (8 + 8 + 32) * 1024,
        "ovdev peaked at {peak_kib} KiB for a stalled reader"
    );
    let mut seen = vec![];
    let missed = read_until(&mut lines, &mut seen, "an events_missed line", |v| {
        v["name"] == "ovdev/events_missed"
    })
    .await;
    assert!(missed["data"]["count"].as_u64().unwrap() > 0, "{missed}");
    read_until(&mut lines, &mut seen, "the flood's last line", |v| {
        v["name"] == "plugin/devserver/log"
            && v["data"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["message"] == "FLOOD-DONE"))
    })
    .await;
    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child).await;
    assert!(status.success(), "{status}");
}

/// As the real CLI's `-dir .`: with no directory, the current one is the plugin when it
/// holds a plugin.yaml; elsewhere ovdev only attaches, and says so in one line.
#[tokio::test(flavor = "multi_thread")]
async fn no_directory_means_the_current_one_or_attach_only() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let (dir, pm) = idle_ui_plugin(root.path(), "here");
    let mut cmd = ovdev();
    cmd.current_dir(&dir)
        .args([
            "dev",
            "--json",
            "--no-external",
            "--no-launch",
            "--state-dir",
        ])
        .arg(state.path())
        .arg("--package-manager-path")
        .arg(&pm);
    let (mut child, mut lines) = spawn_piped(&mut cmd);
    let mut seen = vec![];
    read_until(
        &mut lines,
        &mut seen,
        "the current directory's plugin",
        |v| is_status(v, |d| d["pluginID"] == "here"),
    )
    .await;
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));

    let empty = tempfile::tempdir().unwrap();
    let mut cmd = ovdev();
    cmd.current_dir(empty.path())
        .args(["dev", "--state-dir"])
        .arg(state.path())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut err =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stderr.take().unwrap()));
    // The page's address comes first, then the note.
    let mut notes = Vec::new();
    while !notes.iter().any(|l: &String| l.contains("attaching only")) {
        let line = tokio::time::timeout(HANG, err.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap_or_else(|| panic!("no attach-only note in {notes:?}"));
        notes.push(line);
    }
    assert!(
        notes.iter().any(
            |l| l.contains("no plugin directory given and no plugin.yaml here: attaching only")
        ),
        "{notes:?}"
    );
    assert!(
        notes[0].starts_with("ovdev: Dev Tools: http://127.0.0.1:"),
        "{notes:?}"
    );
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));

    let out = tokio::time::timeout(
        HANG,
        ovdev()
            .current_dir(empty.path())
            .args(["dev", "--no-external"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("no plugin.yaml in the current directory"),
        "{text}"
    );
}

/// `--vite-port N`: the plugin's Vite gets N when it is free; with several directories the
/// flag is refused (it names one plugin's port).
#[tokio::test(flavor = "multi_thread")]
async fn vite_port_sets_the_preferred_port_of_the_one_plugin() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let (dir, pm) = idle_ui_plugin(root.path(), "ported");
    let port = next_port_range(1).0;
    let mut cmd = json_with_pm(&dir, &pm, state.path());
    cmd.args(["--vite-port", &port.to_string()]);
    let (mut child, mut lines) = spawn_piped(&mut cmd);
    let mut seen = vec![];
    let first = read_until(&mut lines, &mut seen, "the first state", |v| {
        is_status(v, |d| d["pluginID"] == "ported")
    })
    .await;
    assert_eq!(first["data"]["vitePort"], port);
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));

    let out = tokio::time::timeout(
        HANG,
        ovdev()
            .args(["dev", "--no-external", "--vite-port", "3000"])
            .arg(&dir)
            .arg(root.path())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("`--vite-port` can only be used with a single plugin directory"));
}

/// Diagnostics on stderr (the engine's own log) carry no colour codes when stderr is not a
/// terminal, as `--no-color` and `NO_COLOR` also ask.
#[tokio::test(flavor = "multi_thread")]
async fn diagnostics_on_a_piped_stderr_have_no_colour_codes() {
    let state = tempfile::tempdir().unwrap();
    let bad = state.path().join("plugins/bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join(".devinfo"), "not json").unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut child = ovdev()
        .current_dir(empty.path())
        .args(["dev", "--state-dir"])
        .arg(state.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stderr.take().unwrap()));
    let mut text = String::new();
    let deadline = Instant::now() + HANG;
    while !text.contains("ignoring its .devinfo") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, err.next_line()).await {
            Ok(Ok(Some(line))) => {
                text.push_str(&line);
                text.push('\n');
            }
            other => panic!("no warning about the bad .devinfo ({other:?}): {text}"),
        }
    }
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child).await.code(), Some(0));
    assert!(!text.contains('\u{1b}'), "{text:?}");
}
