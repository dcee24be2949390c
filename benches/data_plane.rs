//! The data plane under a log flood, and the engine at rest, measured on the `ovdev` binary.
//!
//! Run with `cargo bench --bench data_plane` (in `scripts/bench.sh`). Prints, in one run:
//! - a UI `dev` command writing N lines of 100 bytes (one `write(2)` each) through
//!   `ovdev dev --json` and through the human printer, next to the same child piped into `cat`:
//!   lines per second, and ovdev's peak RSS (fast reader; and a reader that stalls, then reads);
//! - ovdev's CPU and wakeups per second with 100 UI-only plugins that do nothing (each dev
//!   server answers HTTP, so the probes of ready dev servers count).
//!
//! The flood's child is this bench binary itself (`OVDEV_FLOOD_LINES` set): its cost is the
//! same on every side of the comparison.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{flood_child, flood_into_cat, median, peak_rss_mib, plugin, stop, LINE_BYTES, MARKER};

/// A stand-in dev server: answers every HTTP request on `port` with 200, forever.
fn serve_child(port: u16) -> ! {
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(_) => std::process::exit(1),
    };
    for mut conn in listener.incoming().flatten() {
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    }
    std::process::exit(0)
}

/// `ovdev dev --no-external --no-launch` on `dirs` with `args` and the state under `root`,
/// stdout piped for the caller, stdin and stderr closed.
fn ovdev_dev(root: &Path, args: &[&str], dirs: &[PathBuf]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .arg("dev")
        .args(args)
        .args(["--no-external", "--no-launch", "--state-dir"])
        .arg(root.join("state"))
        .args(dirs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads `from` until `lines` markers were seen, or until nothing came for a second (lines
/// dropped for a reader that fell behind are never printed). Returns the lines seen, when the
/// last of them came, and the reader (still running) so the caller can keep draining.
fn count_markers(
    mut from: impl Read + Send + 'static,
    lines: usize,
) -> (usize, Instant, std::thread::JoinHandle<()>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(Instant::now()));
    let (s, l) = (seen.clone(), last.clone());
    let reader = std::thread::spawn(move || {
        let finder = memchr::memmem::Finder::new(MARKER);
        let mut buf = vec![0u8; 1 << 20];
        let mut carry = Vec::new();
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            carry.extend_from_slice(&buf[..n]);
            let found = finder.find_iter(&carry).count();
            if found > 0 {
                s.fetch_add(found, Ordering::SeqCst);
                *l.lock().unwrap() = Instant::now();
            }
            // Keep a tail shorter than the marker: a marker split across reads counts once.
            let keep = carry.len().min(MARKER.len() - 1);
            carry.drain(..carry.len() - keep);
        }
    });
    loop {
        std::thread::sleep(Duration::from_millis(5));
        let quiet = last.lock().unwrap().elapsed();
        if seen.load(Ordering::SeqCst) >= lines || quiet > Duration::from_secs(1) {
            let at = *last.lock().unwrap();
            return (seen.load(Ordering::SeqCst), at, reader);
        }
    }
}

/// What one flood through ovdev showed.
struct FloodRun {
    /// Lines per second delivered.
    rate: f64,
    /// Lines delivered.
    seen: usize,
    /// ovdev's peak RSS in MiB.
    rss: f64,
    /// ovdev's CPU time (all its threads) per line delivered, in microseconds.
    cpu_us_per_line: f64,
}

/// One flood through `ovdev dev` with `args`. With `stall`, nobody reads for that long first.
fn flood_through_ovdev(lines: usize, args: &[&str], stall: Duration) -> FloodRun {
    let root = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    let (dir, pm) = plugin(
        root.path(),
        "flood",
        &format!("OVDEV_FLOOD_LINES={lines} exec {}\n", me.display()),
    );
    let start = Instant::now();
    let pm = pm.to_string_lossy();
    let args: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--package-manager-path", &pm])
        .collect();
    let mut child = ovdev_dev(root.path(), &args, &[dir]);
    let out = child.stdout.take().unwrap();
    std::thread::sleep(stall);
    let (seen, at, reader) = count_markers(out, lines);
    let rss = peak_rss_mib(child.id());
    let (ticks, _) = cpu_and_switches(child.id());
    // The reader keeps draining while ovdev stops: a stop must never wait for it anyway.
    stop(child);
    let _ = reader.join();
    FloodRun {
        rate: seen as f64 / (at - start).as_secs_f64(),
        seen,
        rss,
        // Clock ticks of 10 ms (100 per second on every Linux ovdev runs on).
        cpu_us_per_line: ticks as f64 * 10_000.0 / seen.max(1) as f64,
    }
}

/// CPU ticks (utime + stime) and context switches (all threads) of `pid`.
fn cpu_and_switches(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            for l in status.lines() {
                if let Some(v) = l
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    (ticks, switches)
}

/// ovdev with `plugins` UI-only plugins that became ready and then do nothing: CPU % of a
/// core and wakeups per second over `window`.
fn idle(plugins: usize, window: Duration) -> (f64, f64) {
    let root = tempfile::tempdir().unwrap();
    // Each "dev server" answers HTTP on its port like Vite, so the engine's probes of ready
    // dev servers are part of what is measured.
    let me = std::env::current_exe().unwrap();
    let body = format!(
        r#"port=""
while [ $# -gt 0 ]; do [ "$1" = "--port" ] && port="$2"; shift; done
printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"
OVDEV_BENCH_SERVE="$port" exec '{}'
"#,
        me.display()
    );
    let body = body.as_str();
    let mut dirs = vec![];
    let mut pm = PathBuf::new();
    for i in 0..plugins {
        let (dir, p) = plugin(root.path(), &format!("idle{i:03}"), body);
        dirs.push(dir);
        pm = p;
    }
    let pm = pm.to_string_lossy();
    let mut child = ovdev_dev(
        root.path(),
        &["--json", "--package-manager-path", &pm],
        &dirs,
    );
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut ready = 0;
    let mut line = String::new();
    while ready < plugins {
        line.clear();
        if std::io::BufRead::read_line(&mut out, &mut line).unwrap() == 0 {
            panic!("ovdev ended before all plugins were ready");
        }
        if line.contains("\"viteStatus\":\"ready\"") {
            ready += 1;
        }
    }
    let drain = std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    // Let start-up work (pending log flushes, registry writes) settle first.
    std::thread::sleep(Duration::from_secs(2));
    let (t0, s0) = cpu_and_switches(child.id());
    std::thread::sleep(window);
    let (t1, s1) = cpu_and_switches(child.id());
    stop(child);
    let _ = drain.join();
    // Clock ticks per second; 100 on every Linux ovdev runs on.
    let hz = 100.0;
    let secs = window.as_secs_f64();
    (
        100.0 * (t1 - t0) as f64 / hz / secs,
        (s1 - s0) as f64 / secs,
    )
}

/// `count` copies of the example's UI (its `node_modules` linked, each with a cache of its own).
fn npm_plugins(root: &Path, count: usize) -> Vec<PathBuf> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello-plugin/ui");
    assert!(
        example.join("node_modules/vite").is_dir(),
        "examples/hello-plugin/ui/node_modules is missing: run scripts/bench.sh"
    );
    (0..count)
        .map(|i| {
            let id = format!("npm{i:03}");
            let dir = root.join(&id);
            let ui = dir.join("ui");
            std::fs::create_dir_all(ui.join("src")).unwrap();
            std::fs::write(dir.join("plugin.yaml"), format!("id: {id}\nversion: 0.0.1\n")).unwrap();
            for f in ["package.json", "package-lock.json", "index.html", "src/entry.ts"] {
                std::fs::copy(example.join(f), ui.join(f)).unwrap();
            }
            std::fs::write(
                ui.join("vite.config.ts"),
                "import { defineConfig } from \"vite\";\nexport default defineConfig({ cacheDir: \".vite-cache\" });\n",
            )
            .unwrap();
            std::os::unix::fs::symlink(example.join("node_modules"), ui.join("node_modules")).unwrap();
            dir
        })
        .collect()
}

/// The floor: the same `npm run dev` of every plugin started at once by a plain program.
/// Returns when the first and the last printed their `Local:` line.
fn npm_floor(dirs: &[PathBuf]) -> (Duration, Duration) {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut groups = vec![];
    for (i, dir) in dirs.iter().enumerate() {
        let port = (15173 + i).to_string();
        let mut child = Command::new("npm")
            .args([
                "run",
                "dev",
                "--",
                "--port",
                &port,
                "--strictPort",
                "--host",
                "127.0.0.1",
            ])
            .current_dir(dir.join("ui"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        groups.push(child.id() as i32);
        let out = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Local:") {
                    let _ = tx.send(Instant::now());
                    break;
                }
            }
            let _ = child.wait();
        });
    }
    let times: Vec<Instant> = (0..dirs.len())
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(300))
                .expect("every npm run dev ready")
        })
        .collect();
    for g in groups {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(g),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    (times[0] - start, times[times.len() - 1] - start)
}

/// The same plugins through `ovdev dev` (npm, no backend): first and last ready.
fn npm_through_ovdev(root: &Path, dirs: &[PathBuf]) -> (Duration, Duration) {
    use std::io::BufRead;
    let start = Instant::now();
    let mut child = ovdev_dev(root, &["--json", "--package-manager", "npm"], dirs);
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut ready = std::collections::HashSet::new();
    let mut first = None;
    let mut lines = out.lines();
    while ready.len() < dirs.len() {
        let line = lines.next().expect("ovdev runs").unwrap();
        if line.starts_with("{\"name\":\"plugin/devserver/status\"")
            && line.contains("\"viteStatus\":\"ready\"")
        {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            ready.insert(v["data"]["pluginID"].as_str().unwrap_or("").to_string());
            first.get_or_insert_with(|| start.elapsed());
        }
    }
    let last = start.elapsed();
    let drain = std::thread::spawn(move || for _ in lines {});
    stop(child);
    let _ = drain.join();
    (first.unwrap_or(last), last)
}

fn main() {
    if let Some(n) = std::env::var("OVDEV_FLOOD_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        flood_child(n);
    }
    if let Some(port) = std::env::var("OVDEV_BENCH_SERVE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        serve_child(port);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `OVDEV_BENCH_ONLY=idle`: only the engine at rest (quick check after a change to timers).
    if std::env::var("OVDEV_BENCH_ONLY").is_ok_and(|v| v == "idle") {
        let (cpu, wakeups) = idle(100, Duration::from_secs(10));
        println!(
            "idle, 100 UI-only plugins ready, 10 s: {cpu:.2} % of a core, {wakeups:.0} wakeups/s"
        );
        return;
    }
    const LINES: usize = 1_000_000;
    const ROUNDS: usize = 3;
    let mut cat = vec![];
    // (name, ovdev arguments, the rounds' runs).
    type Side<'a> = (&'a str, &'a [&'a str], Vec<FloodRun>);
    let mut sides: Vec<Side> = vec![
        ("ovdev dev --json", &["--json"], vec![]),
        ("ovdev dev --json --no-api", &["--json", "--no-api"], vec![]),
        ("ovdev dev (human)", &["--no-color"], vec![]),
    ];
    for _ in 0..ROUNDS {
        cat.push(flood_into_cat(LINES));
        for (_, args, runs) in sides.iter_mut() {
            runs.push(flood_through_ovdev(LINES, args, Duration::ZERO));
        }
    }
    let cat = median(cat);
    println!("flood of {LINES} lines of {LINE_BYTES} bytes, one write(2) each; medians of {ROUNDS} rounds:");
    println!(
        "  child | cat                  {:>6.2} M lines/s",
        cat / 1e6
    );
    for (name, _, runs) in sides {
        let rate = median(runs.iter().map(|r| r.rate).collect());
        let dropped = LINES - runs.iter().map(|r| r.seen).min().unwrap_or(0);
        println!(
            "  {name:<28} {:>6.2} M lines/s delivered ({:.2}x cat), at most {dropped} dropped, peak RSS {:.1} MiB, ovdev CPU {:.2} µs/line",
            rate / 1e6,
            rate / cat,
            median(runs.iter().map(|r| r.rss).collect()),
            median(runs.iter().map(|r| r.cpu_us_per_line).collect()),
        );
    }
    // `OVDEV_BENCH_ONLY=flood`: only the flood rounds above (quick check after a change there).
    if std::env::var("OVDEV_BENCH_ONLY").is_ok_and(|v| v == "flood") {
        return;
    }
    let rss3 = flood_through_ovdev(3 * LINES, &["--json"], Duration::ZERO).rss;
    println!(
        "  --json, {} lines           peak RSS {rss3:.1} MiB",
        3 * LINES
    );
    let stalled_run = flood_through_ovdev(3 * LINES, &["--json"], Duration::from_secs(5));
    let (seen, stalled) = (stalled_run.seen, stalled_run.rss);
    println!(
        "  --json, {} lines, nobody reading for 5 s: peak RSS {stalled:.1} MiB ({} lines dropped, reported as missed)",
        3 * LINES,
        3 * LINES - seen
    );

    let (cpu, wakeups) = idle(100, Duration::from_secs(10));
    println!("idle, 100 UI-only plugins ready, 10 s: {cpu:.2} % of a core, {wakeups:.0} wakeups/s");

    let count: usize = std::env::var("OVDEV_BENCH_NPM_PLUGINS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let root = tempfile::tempdir().unwrap();
    let dirs = npm_plugins(root.path(), count);
    let (floor_first, floor_last) = npm_floor(&dirs);
    let (first, last) = npm_through_ovdev(root.path(), &dirs);
    println!(
        "{count} UI-only plugins (npm run dev, Vite 8) all ready: ovdev {:.1} s (first {:.2} s); floor, all started at once {:.1} s (first {:.2} s); {:.2}x the floor",
        last.as_secs_f64(),
        first.as_secs_f64(),
        floor_last.as_secs_f64(),
        floor_first.as_secs_f64(),
        last.as_secs_f64() / floor_last.as_secs_f64()
    );
}
