//! Shared by the bench binaries: a host that knows no plugins, the report line, a copy of the
//! example plugin and an editor's save of its greeting.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use omniview_devserver::{HostError, PluginHost, PluginInfo};

/// A host for benches that start plugins by path; reloads succeed at once.
pub struct NoHost;

impl PluginHost for NoHost {
    fn get_plugin(&self, id: &str) -> BoxFuture<'_, Result<PluginInfo, HostError>> {
        let id = id.to_string();
        Box::pin(async move { Err(HostError(format!("{id}: start it by path"))) })
    }
    fn reload_plugin(&self, _: &str) -> BoxFuture<'_, Result<(), HostError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Prints median, minimum and maximum of `samples` in milliseconds.
pub fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<52} median {:>8.2} ms   min {:>8.2} ms   max {:>8.2} ms   (n={})",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

/// A copy of `examples/hello-plugin` in `dst` without a previous build; without its `ui/`
/// unless `with_ui` (which then needs `scripts/setup.sh` to have installed its modules).
pub fn copy_example(dst: &Path, with_ui: bool) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/hello-plugin");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(dst)
        .status()
        .expect("cp");
    assert!(status.success());
    let dir = dst.join("hello-plugin");
    if with_ui {
        assert!(
            dir.join("ui/node_modules/vite").is_dir(),
            "run scripts/setup.sh first"
        );
    } else {
        let _ = std::fs::remove_dir_all(dir.join("ui"));
    }
    let _ = std::fs::remove_dir_all(dir.join("build"));
    dir
}

/// An editor's atomic save (temporary file, then rename) of the greeting: `Message` returns `text`.
pub fn save_greeting(dir: &Path, text: &str) {
    let path = dir.join("pkg/greeting/greeting.go");
    let src = format!("package greeting\n\n// Message is what hello.v1.Greeter/Greet returns.\nfunc Message() string {{\n\treturn \"{text}\"\n}}\n");
    let tmp = dir.join("pkg/greeting/.greeting.go.swp");
    std::fs::write(&tmp, src).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// Bytes in one line of the flood child.
pub const LINE_BYTES: usize = 100;
/// Each flood line starts with this and its number.
pub const MARKER: &[u8] = b"FLOOD#";

/// The flood child: N lines of 100 bytes, one write each; then it idles like a dev server,
/// or exits when `OVDEV_FLOOD_EXIT` is set.
pub fn flood_child(lines: usize) -> ! {
    let mut out = std::io::stdout().lock();
    let mut line = [b'x'; LINE_BYTES];
    line[..MARKER.len()].copy_from_slice(MARKER);
    line[LINE_BYTES - 1] = b'\n';
    // `OVDEV_FLOOD_RATE`: at most this many lines a second (in steps of 1000 lines).
    let pace = std::env::var("OVDEV_FLOOD_RATE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|rate| Duration::from_secs_f64(1000.0 / rate.max(1) as f64));
    let start = Instant::now();
    for i in 0..lines {
        if let (Some(step), 0) = (pace, i % 1000) {
            let due = start + step * (i / 1000) as u32;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let digits = format!("{i:010}");
        line[MARKER.len()..MARKER.len() + 10].copy_from_slice(digits.as_bytes());
        // Stdout is line-buffered: each line is its own write(2).
        if out.write_all(&line).is_err() {
            std::process::exit(1);
        }
    }
    drop(out);
    if std::env::var_os("OVDEV_FLOOD_EXIT").is_some() {
        std::process::exit(0);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// A UI-only plugin whose package manager is `pm_body` (a shell script).
pub fn plugin(root: &Path, id: &str, pm_body: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(id);
    std::fs::create_dir_all(dir.join("ui/node_modules")).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("id: {id}\nversion: 0.0.1\n"),
    )
    .unwrap();
    std::fs::write(dir.join("ui/package.json"), r#"{"scripts":{"dev":"vite"}}"#).unwrap();
    let pm = root.join(format!("{id}-pm"));
    std::fs::write(&pm, format!("#!/bin/sh\n{pm_body}")).unwrap();
    std::fs::set_permissions(&pm, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, pm)
}

/// Peak RSS (VmHWM) of `pid` in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The same child piped into `cat`: lines per second.
pub fn flood_into_cat(lines: usize) -> f64 {
    let me = std::env::current_exe().unwrap();
    let start = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' | cat > /dev/null", me.display()))
        .env("OVDEV_FLOOD_LINES", lines.to_string())
        .env("OVDEV_FLOOD_EXIT", "1")
        .status()
        .unwrap();
    assert!(status.success());
    lines as f64 / start.elapsed().as_secs_f64()
}

/// The median of `v`.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Stops `child` with SIGTERM and reaps it.
pub fn stop(mut child: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
}
