//! The Dev Tools page in a real browser: headless Chromium (Debian's package) driven by
//! playwright-core (`scripts/setup-test-tools.sh` installs both), against a real `ovdev dev`
//! on a copy of the example plugin. The scripts are in `tests/devtools/`; screenshots go to
//! `target/devtools-screenshots/` for a person to look at.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

async fn run_script(script: &str, env: &[(&str, &Path)]) {
    let tools = repo().join("target/api-tools/node_modules");
    assert!(
        tools.join("playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "playwright-core or /usr/bin/chromium is missing; run scripts/setup-test-tools.sh"
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/devtools").join(script))
        .env("NODE_PATH", &tools)
        .env("OVDEV_BIN", env!("CARGO_BIN_EXE_ovdev"))
        .env("SHOTS", repo().join("target/devtools-screenshots"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_checked(cmd, script, ": ok", Duration::from_secs(600)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_errors_at_once_steers_builds_filters_logs_and_reconnects() {
    let (_tmp, dir) = example_copy(true);
    let state = tempfile::tempdir().unwrap();
    run_script(
        "e2e.mjs",
        &[("PLUGIN_DIR", &dir), ("STATE_DIR", state.path())],
    )
    .await;
    assert_no_processes_in(&dir, Duration::from_secs(5)).await;
    assert_no_processes_in(state.path(), Duration::from_secs(5)).await;
}

/// The fake package manager of the flood test: each `dev` serves HTTP on its port (ovdev
/// probes ready dev servers) after printing Vite's ready line; the plugin with a `flood`
/// file then writes a million lines (in bursts, over a few seconds) once a line arrives on the
/// FIFO `go`.
const FAKE_PM: &str = r#"
port=""; while [ $# -gt 0 ]; do [ "$1" = "--port" ] && port="$2"; shift; done
python3 -c 'import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self): self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("  ➜  Local:   http://127.0.0.1:%s/" % sys.argv[1], flush=True)
s.serve_forever()' "$port" &
if [ -e ../flood ]; then
  read _ < "$ROOT/go"
  # A million lines in bursts of 50 000 (each as fast as `yes` writes), over several seconds.
  i=0; while [ $i -lt 20 ]; do
    yes "a line of the flooding dev server, about eighty bytes long ........................" | head -n 50000
    sleep 0.2; i=$((i+1))
  done
fi
wait
"#;

#[tokio::test(flavor = "multi_thread")]
async fn with_a_hundred_plugins_and_a_flood_clicks_stay_fast_and_memory_bounded() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for i in 0..100 {
        common::cli::ui_plugin(r, &format!("p{i:03}"));
    }
    std::fs::write(r.join("p000/flood"), "").unwrap();
    nix::unistd::mkfifo(&r.join("go"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    write_script(
        &r.join("pm"),
        &FAKE_PM.replace("$ROOT", &r.display().to_string()),
    );
    let state = tempfile::tempdir().unwrap();
    run_script("flood.mjs", &[("ROOT", r), ("STATE_DIR", state.path())]).await;
    assert_no_processes_in(r, Duration::from_secs(10)).await;
}
