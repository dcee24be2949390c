//! Helpers shared by the integration tests: plugin fixtures, fake tools, a recording host,
//! event waiting with deadlines, and a check for processes left behind.
#![allow(dead_code)]

pub mod cli;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use omniview_devserver::{
    DevProcessStatus, DevServerEvent, DevServerState, EventStream, HostError, PluginHost,
    PluginInfo, Received,
};

/// Generous upper bound for anything that involves real processes; only catches hangs.
pub const HANG: Duration = Duration::from_secs(120);

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A host that knows some plugins and records every reload.
#[derive(Default)]
pub struct RecordingHost {
    pub plugins: Mutex<HashMap<String, PluginInfo>>,
    pub reloads: Mutex<Vec<String>>,
}

impl RecordingHost {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn add(&self, id: &str, dev_mode: bool, dev_path: Option<&Path>) {
        self.plugins.lock().unwrap().insert(
            id.to_string(),
            PluginInfo {
                id: id.to_string(),
                dev_mode,
                dev_path: dev_path.map(Path::to_path_buf),
            },
        );
    }

    pub fn reload_count(&self) -> usize {
        self.reloads.lock().unwrap().len()
    }
}

impl PluginHost for RecordingHost {
    fn get_plugin(&self, id: &str) -> BoxFuture<'_, Result<PluginInfo, HostError>> {
        let found = self.plugins.lock().unwrap().get(id).cloned();
        let id = id.to_string();
        Box::pin(
            async move { found.ok_or_else(|| HostError(format!("no plugin `{id}` is installed"))) },
        )
    }

    fn reload_plugin(&self, id: &str) -> BoxFuture<'_, Result<(), HostError>> {
        self.reloads.lock().unwrap().push(id.to_string());
        Box::pin(async { Ok(()) })
    }
}

/// Every event a test saw, so later assertions can look back.
pub struct Recorder {
    pub stream: EventStream,
    pub seen: Vec<DevServerEvent>,
}

impl Recorder {
    pub fn new(stream: EventStream) -> Self {
        Self {
            stream,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for an event matching `pred`; panics with what was seen.
    pub async fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        mut pred: impl FnMut(&DevServerEvent) -> bool,
    ) -> DevServerEvent {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.recv()).await {
                Ok(Some(Received::Event(ev))) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Ok(Some(Received::Missed(n))) => panic!("test subscriber missed {n} events"),
                Ok(None) => panic!("event stream closed while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}; log:\n{}", self.log_text()),
            }
        }
    }

    /// Like `wait_for`, but an event already seen counts too.
    pub async fn seen_or_wait(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&DevServerEvent) -> bool,
    ) -> DevServerEvent {
        if let Some(ev) = self.seen.iter().find(|e| pred(e)) {
            return ev.clone();
        }
        self.wait_for(what, HANG, pred).await
    }

    /// Waits for a status of `id` matching `pred` and returns it.
    pub async fn wait_status(
        &mut self,
        id: &str,
        what: &str,
        mut pred: impl FnMut(&DevServerState) -> bool,
    ) -> DevServerState {
        match self
            .wait_for(
                what,
                HANG,
                |ev| matches!(ev, DevServerEvent::Status(s) if s.plugin_id == id && pred(s)),
            )
            .await
        {
            DevServerEvent::Status(s) => s,
            _ => unreachable!(),
        }
    }

    /// Waits for a build of `id` to start and then to end; returns the state it ended in.
    pub async fn wait_build(&mut self, id: &str, what: &str) -> DevServerState {
        self.wait_status(id, what, |s| s.go_status == DevProcessStatus::Building)
            .await;
        self.wait_status(id, what, |s| s.go_status != DevProcessStatus::Building)
            .await
    }

    /// Collects whatever arrives within `quiet` (to assert that nothing more happens).
    pub async fn drain(&mut self, quiet: Duration) {
        while let Ok(Some(Received::Event(ev))) =
            tokio::time::timeout(quiet, self.stream.recv()).await
        {
            self.seen.push(ev);
        }
    }

    /// Every log message seen so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                DevServerEvent::Log(entries) => Some(entries.iter().map(|e| e.message.clone())),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn log_text(&self) -> String {
        self.log_lines().join("\n")
    }

    /// How many builds were started (the `$ go build` lines) among events seen so far.
    pub fn builds_started(&self) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.starts_with("$ ") && l.contains(" build -o ") && l.ends_with(" ./pkg"))
            .count()
    }
}

/// Copies a directory tree (symlinks copied as links).
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let to = dst.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &to);
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A fresh copy of `examples/hello-plugin` (without its build output) in a temp dir.
/// `with_node_modules`: copy the installed UI modules too (the setup script installs them).
pub fn example_copy(with_node_modules: bool) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("hello-plugin");
    let src = repo().join("examples/hello-plugin");
    std::fs::create_dir_all(&dst).unwrap();
    for name in ["plugin.yaml", "go.mod", "go.sum", "pkg"] {
        let p = src.join(name);
        if p.is_dir() {
            copy_tree(&p, &dst.join(name));
        } else {
            std::fs::copy(&p, dst.join(name)).unwrap();
        }
    }
    let ui = dst.join("ui");
    std::fs::create_dir_all(&ui).unwrap();
    for entry in std::fs::read_dir(src.join("ui")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" && !with_node_modules {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &ui.join(&name));
        } else {
            std::fs::copy(entry.path(), ui.join(&name)).unwrap();
        }
    }
    if with_node_modules {
        assert!(
            ui.join("node_modules/vite").is_dir(),
            "examples/hello-plugin/ui/node_modules is missing: run the tests through scripts/test.sh"
        );
    }
    (tmp, dst)
}

/// Writes `contents` to `path` the way editors save atomically: temp file, then rename.
pub fn atomic_save(path: &Path, contents: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-save",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Processes whose working directory is inside `dir` (left-behind children of a test).
pub fn processes_in(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(&dir) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // Zombies are dead already; only their parent's reaping is pending.
            if stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'))
            {
                continue;
            }
            let cmd = std::fs::read_to_string(entry.path().join("cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            found.push(format!("{pid}: {cmd}"));
        }
    }
    found
}

/// The distinct process groups of the processes working inside `dir` (one per child run).
pub fn process_groups_in(dir: &Path) -> std::collections::BTreeSet<i32> {
    processes_in(dir)
        .iter()
        .filter_map(|p| {
            let pid = p.split(':').next()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit(')')
                .next()?
                .split_whitespace()
                .nth(2)?
                .parse()
                .ok()
        })
        .collect()
}

/// Polls until no process runs inside `dir`, or panics after `limit` listing them.
pub async fn assert_no_processes_in(dir: &Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_in(dir);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "processes left behind in {}:\n{}",
                dir.display(),
                left.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fetches `path` from `127.0.0.1:port` with a plain HTTP/1.0 GET and returns the response.
pub async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(HANG, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes an executable shell script.
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Fake tools for actor-level tests (no Go, no Node): behaviour is read from files in the
/// plugin, so each test controls its own fixture.
pub struct FakeTools {
    pub dir: tempfile::TempDir,
}

impl FakeTools {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Package manager: `install` creates node_modules; `run dev -- --port N ...` behaves per
        // ./fake-mode: ready | exit | busy:<port> (fails like strictPort on that port) | silent |
        // ready-exit (dies after becoming ready) | ready-exit-once (the same, first run only) |
        // exit0 (ends normally at once) | orphan (leaves a grandchild in a session of its own
        // whose parent exits, then is ready) | stubborn (ready, ignores SIGTERM, with a
        // grandchild that does too) | slow-stop (ready; takes 300 ms to obey SIGTERM) |
        // noisy (a 100 kB line and invalid UTF-8 first).
        write_script(
            &dir.path().join("fake-pm"),
            r##"if [ "$1" = install ]; then echo "installing"; mkdir -p node_modules; exit 0; fi
port=""
while [ $# -gt 0 ]; do [ "$1" = "--port" ] && port="$2"; shift; done
mode=$(cat fake-mode 2>/dev/null || echo ready)
case "$mode" in
  exit) echo "something broke" >&2; echo "Error: cannot load vite.config.ts" >&2; exit 3 ;;
  busy:*) if [ "$port" = "${mode#busy:}" ]; then echo "error when starting dev server:" >&2; echo "Error: Port $port is already in use" >&2; exit 1; fi ;;
  silent) exec sleep 300 ;;
  noisy) head -c 100000 /dev/zero | tr '\0' x; echo; printf 'bad \377 byte\n' ;;
  exit0) echo "done"; exit 0 ;;
  orphan) (setsid sleep 301 &) ;;
  stubborn) trap '' TERM; printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; sleep 300 & sleep 300; wait ;;
  slow-stop) printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; trap 'sleep 0.3; exit 0' TERM; while :; do sleep 0.05; done ;;
  ready-exit-once) if [ ! -e crashed-once ]; then : > crashed-once; printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; sleep 0.3; exit 7; fi ;;
  ready-exit) printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; sleep 0.3; exit 7 ;;
esac
echo "  VITE fake  ready in 1 ms"
printf '  \033[32m➜\033[39m  \033[1mLocal\033[22m:   \033[36mhttp://127.0.0.1:\033[1m%s\033[22m/\033[39m\n' "$port"
exec sleep 300
"##,
        );
        // go: `build -o OUT ./pkg`: fails when pkg/main.go contains BROKEN, sleeps
        // when it contains SLOW, hangs when it contains HANG, prints 6000 errors when it contains MANY, else "builds" a binary equal to the sources.
        write_script(
            &dir.path().join("fake-go"),
            r##"if grep -q BROKEN pkg/main.go; then echo "# plugin/pkg" >&2; echo "./pkg/main.go:3:7: undefined: nope" >&2; exit 1; fi
if grep -q SLOW pkg/main.go; then sleep 1; fi
if grep -q HANG pkg/main.go; then exec sleep 1000; fi
if grep -q MANY pkg/main.go; then i=1; while [ $i -le 6000 ]; do echo "./pkg/main.go:$i:1: error number $i" >&2; i=$((i+1)); done; exit 1; fi
out="$3"; mkdir -p "$(dirname "$out")" && cat pkg/*.go > "$out" && chmod +x "$out"
"##,
        );
        Self { dir }
    }

    pub fn pm(&self) -> PathBuf {
        self.dir.path().join("fake-pm")
    }

    pub fn go(&self) -> PathBuf {
        self.dir.path().join("fake-go")
    }
}

/// A plugin directory for fake tools: `pkg/main.go` and/or `ui/` (with node_modules).
pub fn fake_plugin(root: &Path, id: &str, ui: bool, pkg: bool) -> PathBuf {
    let dir = root.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("id: {id}\nversion: 0.0.1\n"),
    )
    .unwrap();
    if pkg {
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("pkg/main.go"), "package main\n\nfunc main() {}\n").unwrap();
    }
    if ui {
        std::fs::create_dir_all(dir.join("ui/node_modules")).unwrap();
        std::fs::write(dir.join("ui/package.json"), r#"{"scripts":{"dev":"vite"}}"#).unwrap();
    }
    dir
}

#[derive(Clone, PartialEq, prost::Message)]
struct GreetRequest {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GreetResponse {
    #[prost(string, tag = "1")]
    message: String,
}

/// Calls the example's `hello.v1.Greeter/Greet` (name "ovdev-test") through the address in
/// `<state>/plugins/<id>/.devinfo` and returns the greeting.
pub async fn ping(state: &Path, id: &str) -> Result<String, String> {
    greet(state, id, "ovdev-test").await
}

/// Calls the example's `hello.v1.Greeter/Greet` with `name`; the plugin also prints a line
/// mentioning `name` on its stdout and on its stderr.
pub async fn greet(state: &Path, id: &str, name: &str) -> Result<String, String> {
    use ovdev_actors::devinfo::{devinfo_path, read_devinfo};
    use ovdev_actors::grpc;
    use ovdev_actors::handshake::Network;
    let info = read_devinfo(&devinfo_path(state, id)).map_err(|e| e.to_string())?;
    let network = match info.network.as_deref() {
        Some("tcp") => Network::Tcp,
        _ => Network::Unix,
    };
    let channel = grpc::connect(network, &info.addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|e| e.to_string())?;
    let codec = tonic_prost::ProstCodec::<GreetRequest, GreetResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/hello.v1.Greeter/Greet");
    let request = GreetRequest {
        name: name.to_string(),
    };
    let response = client
        .unary(tonic::Request::new(request), path, codec)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.into_inner().message)
}

/// Builds the example plugin's binary into `out` (a Go module build; `scripts/setup.sh`
/// downloads its modules).
pub fn build_example_binary(out: &Path) -> PathBuf {
    let (_tmp, dir) = example_copy(false);
    let bin = out.join("hello-plugin-bin");
    let status = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg("./pkg")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "go build of the example failed");
    bin
}

/// True while `pid` is a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// A package manager pinned by `scripts/setup-test-tools.sh` under `target/pm-tools`:
/// `pnpm`, `yarn-classic`, `yarn-berry` or `bun`, with its executable `program`.
pub fn pm_tool(folder: &str, program: &str) -> PathBuf {
    let path = repo()
        .join("target/pm-tools")
        .join(folder)
        .join("bin")
        .join(program);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-test-tools.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A copy of the example's UI alone (no `pkg/`), without node modules or npm lockfile, with
/// the lockfile fixture `tests/fixtures/lockfiles/<fixture>` in its `ui/`.
pub fn ui_with_lockfile(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("pkg")).unwrap();
    std::fs::remove_file(dir.join("go.mod")).unwrap();
    std::fs::remove_file(dir.join("go.sum")).unwrap();
    std::fs::remove_file(dir.join("ui/package-lock.json")).unwrap();
    copy_tree(
        &repo().join("tests/fixtures/lockfiles").join(fixture),
        &dir.join("ui"),
    );
    (tmp, dir)
}
