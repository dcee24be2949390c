//! Save → the NEW plugin process serving, on the bundled example (real `go build`, the
//! built-in go-plugin host), step by step, next to `go build` alone on the same change.
//!
//! Run with `cargo bench --bench save_to_serving` (in `scripts/bench.sh`). For each setting
//! (the default debounce, and none at all), 8 saves, each interleaved with a plain `go build`
//! of the same change in a second copy. The steps come from the engine's own log lines (their
//! timestamps) and the save's time on the same clock:
//! save → build started (watcher + debounce), build (straight into the state directory),
//! install (a rename), old process stopped, new process spawned, handshake, SERVING, and the
//! `ready` state published after it (once `build/bin/plugin` is refreshed).
//! With `watchexec` on `PATH`, its save → command start is measured too, for the watcher part.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{copy_example, report, save_greeting, NoHost};
use omniview_devserver::{DevProcessStatus, DevServerBuilder, DevServerEvent, Received};

const SAVES: usize = 8;
const LIMIT: Duration = Duration::from_secs(120);

fn go_build(dir: &Path) -> Duration {
    let t = Instant::now();
    let status = std::process::Command::new("go")
        .args(["build", "-o", "build/bin/plugin", "./pkg"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
    t.elapsed()
}

/// The steps of one save, from the log lines' timestamps.
#[derive(Default)]
struct Steps {
    samples: Vec<(&'static str, Vec<Duration>)>,
}

impl Steps {
    fn add(&mut self, name: &'static str, d: Duration) {
        match self.samples.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(d),
            None => self.samples.push((name, vec![d])),
        }
    }
}

fn since(a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
    (b - a).to_std().unwrap_or_default()
}

/// Saves `SAVES` times with `debounce`; returns the per-step samples, save → serving and the
/// plain builds.
async fn run(debounce: Option<Duration>, dir: &Path, plain: &Path) -> (Steps, Vec<Duration>) {
    let state = tempfile::tempdir().unwrap();
    let mut builder = DevServerBuilder::with_host(Arc::new(NoHost))
        .state_dir(state.path())
        .launch_plugins(true);
    if let Some(d) = debounce {
        builder = builder.debounce(d);
    }
    let handle = builder.start().unwrap();
    let mut events = handle.subscribe();
    handle
        .start_dev_server_for_path("hello-plugin", dir)
        .await
        .unwrap();
    // Until the first build serves.
    loop {
        match tokio::time::timeout(LIMIT, events.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Status(s))))
                if s.go_status == DevProcessStatus::Ready && s.grpc_connected =>
            {
                break
            }
            Ok(Some(_)) => {}
            other => panic!("no first build: {other:?}"),
        }
    }
    let mut steps = Steps::default();
    let mut plain_builds = vec![];
    for n in 0..SAVES {
        save_greeting(plain, &format!("save {n}"));
        plain_builds.push(go_build(plain));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let saved = Utc::now();
        save_greeting(dir, &format!("save {n}"));
        let mut marks: Vec<(&str, DateTime<Utc>)> = vec![];
        let mut reloading = false;
        let published = loop {
            match tokio::time::timeout(LIMIT, events.recv()).await {
                Ok(Some(Received::Event(DevServerEvent::Log(batch)))) => {
                    for e in batch.iter() {
                        let m = &e.message;
                        let mark = if m.starts_with("$ ") && m.contains(" build -o ") {
                            "build started"
                        } else if m.starts_with("build succeeded") {
                            "build done"
                        } else if m.starts_with("installed ") {
                            "installed"
                        } else if m.starts_with("plugin exited") {
                            "old process stopped"
                        } else if m.starts_with("$ OMNIVIEW=") {
                            "new process spawned"
                        } else if m.starts_with("plugin handshake:") {
                            "handshake"
                        } else if m.starts_with("plugin is serving") {
                            "serving"
                        } else {
                            continue;
                        };
                        marks.push((mark, e.timestamp));
                    }
                }
                Ok(Some(Received::Event(DevServerEvent::ReloadComplete(_)))) => reloading = true,
                Ok(Some(Received::Event(DevServerEvent::Status(s))))
                    if reloading && s.go_status == DevProcessStatus::Ready && s.grpc_connected =>
                {
                    break Utc::now();
                }
                Ok(Some(_)) => {}
                other => panic!("save {n} never served: {other:?}"),
            }
        };
        let at = |name: &str| {
            marks
                .iter()
                .find(|(m, _)| *m == name)
                .map(|(_, t)| *t)
                .unwrap_or_else(|| panic!("save {n}: no `{name}` line"))
        };
        let order = [
            ("watcher + debounce → build started", "build started"),
            ("build", "build done"),
            ("install (a rename)", "installed"),
            (
                "old process stopped (Shutdown → exit)",
                "old process stopped",
            ),
            ("new process spawned", "new process spawned"),
            ("handshake", "handshake"),
            ("SERVING", "serving"),
        ];
        let mut prev = saved;
        for (label, mark) in order {
            let t = at(mark);
            steps.add(label, since(prev, t));
            prev = t;
        }
        let serving = at("serving");
        steps.add(
            "then `ready` published (build/bin/plugin refreshed)",
            since(serving, published),
        );
        steps.add("save → new process serving", since(saved, serving));
        let own_build = since(at("build started"), at("build done"));
        steps.add(
            "ovdev's part (save → serving minus its build)",
            since(saved, serving).saturating_sub(own_build),
        );
    }
    handle.shutdown().await;
    (steps, plain_builds)
}

/// Save → command start under watchexec (its own debounce, 50 ms by default), when installed.
fn watchexec(dir: &Path) -> Option<Vec<Duration>> {
    let found = std::process::Command::new("watchexec")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        return None;
    }
    let marker = dir.join("started");
    let mut child = std::process::Command::new("watchexec")
        .args(["--postpone", "-w", "pkg", "-e", "go", "--"])
        // One string: watchexec runs it through its shell.
        .arg(format!("date +%s%N > '{}'", marker.display()))
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_secs(1));
    let mut samples = vec![];
    for n in 0..SAVES {
        let _ = std::fs::remove_file(&marker);
        let saved = Utc::now();
        save_greeting(dir, &format!("save {}", 100 + n));
        let deadline = Instant::now() + Duration::from_secs(10);
        let started = loop {
            if let Some(ns) = std::fs::read_to_string(&marker)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
            {
                break DateTime::from_timestamp_nanos(ns);
            }
            assert!(Instant::now() < deadline, "watchexec ran nothing");
            std::thread::sleep(Duration::from_millis(2));
        };
        samples.push(since(saved, started));
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
    Some(samples)
}

/// How long one save by an editor lasts as the watcher sees it: from the first to the last
/// event on the saved file, for the ways editors write files. The debounce only has to cover
/// this; a save that outlasts it cancels the build it started.
fn save_patterns() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = dir.path();
    let file = d.join("f.go");
    let data: Vec<u8> = (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let write_new = |path: &Path, sync: bool| {
        let mut f = std::fs::File::create(path).unwrap();
        f.write_all(&data).unwrap();
        if sync {
            f.sync_all().unwrap();
        }
    };
    type Pattern<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let patterns: Vec<Pattern> = vec![
        (
            "atomic rename (VS Code, gopls-driven editors)",
            Box::new(|| {
                let tmp = d.join(".f.go.tmp");
                write_new(&tmp, false);
                std::fs::rename(&tmp, &file).unwrap();
            }),
        ),
        (
            "write in place + chmod",
            Box::new(|| {
                write_new(&file, false);
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            }),
        ),
        (
            "vim (backup rename, write, fsync, chmod, unlink)",
            Box::new(|| {
                let backup = d.join("f.go~");
                std::fs::rename(&file, &backup).unwrap();
                write_new(&file, true);
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
                std::fs::remove_file(&backup).unwrap();
            }),
        ),
        (
            "JetBrains safe write (tmp, old, rename, unlink)",
            Box::new(|| {
                let (tmp, old) = (d.join("f.go___jb_tmp___"), d.join("f.go___jb_old___"));
                write_new(&tmp, false);
                std::fs::rename(&file, &old).unwrap();
                std::fs::rename(&tmp, &file).unwrap();
                std::fs::remove_file(&old).unwrap();
            }),
        ),
        (
            "in place, 4 KiB writes",
            Box::new(|| {
                let mut f = std::fs::File::create(&file).unwrap();
                for chunk in data.chunks(4096) {
                    f.write_all(chunk).unwrap();
                }
            }),
        ),
    ];
    println!("one save as the watcher sees it (first → last event on the file, 20 saves each):");
    for (name, pattern) in patterns {
        let mut spans = vec![];
        for _ in 0..20 {
            let (tx, rx) = std::sync::mpsc::channel();
            let mut watcher =
                notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
                    if let Ok(e) = e {
                        let _ = tx.send((Instant::now(), e));
                    }
                })
                .unwrap();
            notify::Watcher::watch(&mut watcher, d, notify::RecursiveMode::NonRecursive).unwrap();
            pattern();
            std::thread::sleep(Duration::from_millis(100));
            drop(watcher);
            let times: Vec<Instant> = rx
                .try_iter()
                .filter(|(_, e)| {
                    e.paths
                        .iter()
                        .any(|p| p.file_name() == Some("f.go".as_ref()))
                })
                .map(|(t, _)| t)
                .collect();
            if let (Some(first), Some(last)) = (times.first(), times.last()) {
                spans.push(*last - *first);
            }
        }
        report(&format!("  {name}"), spans);
    }
    println!();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let dir = copy_example(tmp.path(), false);
        let tmp2 = tempfile::tempdir().unwrap();
        let plain = copy_example(tmp2.path(), false);
        save_patterns();
        go_build(&plain); // a warm build cache for both
        for (name, debounce) in [
            ("default debounce", None),
            ("no debounce (0 ms)", Some(Duration::ZERO)),
        ] {
            let (steps, plain_builds) = run(debounce, &dir, &plain).await;
            println!("save → new plugin serving, {name}, {SAVES} saves (medians per step):");
            let mut total = vec![];
            for (step, samples) in steps.samples {
                if step == "save → new process serving" {
                    total = samples.clone();
                }
                report(&format!("  {step}"), samples);
            }
            let plain_median = median(plain_builds.clone());
            report("  `go build` alone, same change", plain_builds);
            let total_median = median(total);
            println!(
                "  save → serving minus `go build` alone (medians; builds vary by ±150 ms here): {:.1} ms\n",
                (total_median.as_secs_f64() - plain_median.as_secs_f64()) * 1000.0
            );
        }
        match watchexec(&dir) {
            Some(samples) => report("watchexec: save → command started", samples),
            None => println!("watchexec: not on PATH (cargo install watchexec-cli), not measured"),
        }
    });
}
