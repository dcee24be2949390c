//! The local API under load, measured on the `ovdev` binary:
//! - Server-Sent Events: a UI `dev` command writes N lines of 100 bytes (one `write(2)` each)
//!   and one client reads them from `/api/v1/plugins/{id}/logs/stream` (and from
//!   `/api/v1/events`) over the unix socket: lines per second delivered, ovdev's peak RSS;
//!   beside the same child piped into `cat`, in the same run.
//! - `GET /api/v1/plugins` with `wrk` (Debian's `wrk`) on loopback TCP, at rest and while a
//!   plugin floods its log: requests per second and latency percentiles.
//!
//! Run with `cargo bench --bench api` (in `scripts/bench.sh`).

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{flood_child, flood_into_cat, median, peak_rss_mib, plugin, stop, MARKER};
use omniview_devserver::api::runtime_file::{live_instances, RuntimeInfo};

/// `ovdev dev` on a plugin whose dev command floods `lines` lines once a line is written to
/// the FIFO `<root>/go` (it waits without using the CPU).
// The child is returned to the caller, who stops it (clippy cannot follow it there).
#[allow(clippy::zombie_processes)]
fn ovdev_with_flood(
    root: &Path,
    lines: usize,
    rate: Option<u64>,
    extra: &[&str],
) -> (Child, RuntimeInfo) {
    let me = std::env::current_exe().unwrap();
    let go = root.join("go");
    nix::unistd::mkfifo(&go, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let (dir, pm) = plugin(
        root,
        "flood",
        &format!(
            "read _ < '{}'\nOVDEV_FLOOD_RATE={} OVDEV_FLOOD_LINES={lines} exec {}\n",
            go.display(),
            rate.map_or(String::new(), |r| r.to_string()),
            me.display()
        ),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_ovdev"))
        .args([
            "dev",
            "--json",
            "--no-external",
            "--no-launch",
            "--state-dir",
        ])
        .arg(root.join("state"))
        .arg("--package-manager-path")
        .arg(&pm)
        .args(extra)
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(info) = live_instances(&root.join("state")).pop() {
            if info.plugins.iter().any(|p| p == "flood") {
                return (child, info);
            }
        }
        if Instant::now() > deadline {
            stop(child);
            panic!("ovdev did not start its API");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens an SSE stream at `path` over the socket, headers read.
fn open_stream(info: &RuntimeInfo, path: &str) -> std::os::unix::net::UnixStream {
    let mut s = std::os::unix::net::UnixStream::connect(&info.socket).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\r\n",
        info.token
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Flood lines seen on `s` until `lines` or a quiet second: (seen, when the last came).
fn count(mut s: impl Read, lines: usize) -> (usize, Instant) {
    let finder = memchr::memmem::Finder::new(MARKER);
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = Vec::new();
    let (mut seen, mut last) = (0, Instant::now());
    while seen < lines {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                carry.extend_from_slice(&buf[..n]);
                let found = finder.find_iter(&carry).count();
                if found > 0 {
                    seen += found;
                    last = Instant::now();
                }
                let keep = carry.len().min(MARKER.len() - 1);
                carry.drain(..carry.len() - keep);
            }
        }
    }
    (seen, last)
}

/// One flood read by one SSE client at `path`: lines/s, lines seen, ovdev's peak RSS.
fn sse_flood(lines: usize, path: &str) -> (f64, usize, f64) {
    let root = tempfile::tempdir().unwrap();
    let (child, info) = ovdev_with_flood(root.path(), lines, None, &[]);
    let stream = open_stream(&info, path);
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let start = Instant::now();
    std::fs::write(root.path().join("go"), "go\n").unwrap();
    let (seen, at) = count(stream, lines);
    let rss = peak_rss_mib(child.id());
    stop(child);
    (seen as f64 / (at - start).as_secs_f64(), seen, rss)
}

/// `wrk` on `GET /api/v1/plugins` for 5 s: (requests/s, p50 ms, p99 ms).
fn wrk(url: &str, token: &str) -> (f64, f64, f64) {
    let out = Command::new("wrk")
        .args(["-t", "1", "-c", "8", "-d", "5s", "--latency", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{url}/api/v1/plugins"))
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| -> f64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| {
                let v = v.trim();
                let (num, unit) =
                    v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
                let n: f64 = num.trim().parse().unwrap_or(f64::NAN);
                match unit {
                    "us" => n / 1000.0,
                    "ms" => n,
                    "s" => n * 1000.0,
                    _ => n,
                }
            })
            .unwrap_or(f64::NAN)
    };
    assert!(!text.contains("Non-2xx"), "wrk saw errors:\n{text}");
    (field("Requests/sec:"), field("50%"), field("99%"))
}

fn main() {
    if let Some(n) = std::env::var("OVDEV_FLOOD_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        flood_child(n);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `OVDEV_BENCH_ONLY=requests`: only the wrk part.
    if !std::env::var("OVDEV_BENCH_ONLY").is_ok_and(|v| v == "requests") {
        sse_rounds();
    }
    requests();
}

fn sse_rounds() {
    const LINES: usize = 1_000_000;
    const ROUNDS: usize = 3;
    let (mut cat, mut logs, mut events) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        cat.push(flood_into_cat(LINES));
        logs.push(sse_flood(LINES, "/api/v1/plugins/flood/logs/stream"));
        events.push(sse_flood(LINES, "/api/v1/events"));
    }
    let cat = median(cat);
    println!("flood of {LINES} lines of 100 bytes read by one SSE client over the socket; medians of {ROUNDS} rounds:");
    println!(
        "  child | cat                              {:>6.2} M lines/s",
        cat / 1e6
    );
    for (name, runs) in [("/plugins/flood/logs/stream", &logs), ("/events", &events)] {
        let rate = median(runs.iter().map(|r| r.0).collect());
        let fewest = runs.iter().map(|r| r.1).min().unwrap_or(0);
        println!(
            "  SSE {name:<36} {:>6.2} M lines/s ({:.2}x cat), at most {} not delivered, ovdev peak RSS {:.1} MiB",
            rate / 1e6,
            rate / cat,
            LINES - fewest,
            median(runs.iter().map(|r| r.2).collect()),
        );
    }
}

/// Requests at rest, then while the plugin floods at `rate` lines a second (`None`: as fast
/// as it can), long enough to outlast wrk.
fn requests() {
    println!("GET /api/v1/plugins, wrk 1 thread 8 connections 5 s, loopback TCP (medians of 3):");
    for (name, rate) in [
        ("while it floods 100 000 lines/s", Some(100_000)),
        ("while it floods at full speed", None),
    ] {
        let root = tempfile::tempdir().unwrap();
        let (child, info) = ovdev_with_flood(
            root.path(),
            60_000_000,
            rate,
            &["--api-addr", "127.0.0.1:0"],
        );
        let url = info.url.clone().unwrap();
        if rate.is_some() {
            let runs: Vec<_> = (0..3).map(|_| wrk(&url, &info.token)).collect();
            print_wrk("at rest", &runs, None);
        }
        std::fs::write(root.path().join("go"), "go\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let runs: Vec<_> = (0..3).map(|_| wrk(&url, &info.token)).collect();
        print_wrk(name, &runs, Some(peak_rss_mib(child.id())));
        stop(child);
    }
}

fn print_wrk(name: &str, runs: &[(f64, f64, f64)], rss: Option<f64>) {
    let rss = rss.map_or(String::new(), |r| format!(", ovdev peak RSS {r:.1} MiB"));
    println!(
        "  {name:<34} {:>8.0} req/s, p50 {:.2} ms, p99 {:.2} ms{rss}",
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect()),
        median(runs.iter().map(|r| r.2).collect()),
    );
}
