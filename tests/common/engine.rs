//! A whole engine for one test: its own state directory, fake tools, a recording host, the
//! handle, an event recorder, and a port range that no other test of the same test binary
//! gets. `finish` shuts it down and checks that nothing it started is left running.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use omniview_devserver::{DevServerBuilder, DevServerHandle, PackageManager};

use super::{assert_no_processes_in, fake_plugin, FakeTools, Recorder, RecordingHost};

/// Where the ranges handed out by [`next_port_range`] start: above Vite's default range
/// (15173-15272), which the tests of real Vite use.
const FIRST_TEST_PORT: u16 = 20000;

static NEXT_PORT: AtomicU16 = AtomicU16::new(FIRST_TEST_PORT);

/// `len` ports that no other test of this test binary gets (test binaries run one after the
/// other; the tests of one binary run at once).
pub fn next_port_range(len: u16) -> (u16, u16) {
    let start = NEXT_PORT.fetch_add(len, Ordering::SeqCst);
    (start, start + len - 1)
}

/// An engine over `state` with `host`, ports of its own and the machine's tools (each test
/// file's variant is a `tweak`), and a recorder of its events.
pub fn engine_on(
    host: Arc<RecordingHost>,
    state: &Path,
    tweak: impl FnOnce(DevServerBuilder) -> DevServerBuilder,
) -> (DevServerHandle, Recorder) {
    let (first, last) = next_port_range(11);
    let builder = DevServerBuilder::with_host(host)
        .state_dir(state)
        .port_range(first, last);
    let handle = tweak(builder).start().unwrap();
    let rec = Recorder::new(handle.subscribe());
    (handle, rec)
}

/// See the module doc.
pub struct TestEngine {
    pub handle: DevServerHandle,
    pub host: Arc<RecordingHost>,
    pub rec: Recorder,
    pub tools: FakeTools,
    pub state: tempfile::TempDir,
    /// Where the test's plugin directories go ([`TestEngine::plugin`]).
    pub root: tempfile::TempDir,
    /// The engine's Vite port range.
    pub ports: (u16, u16),
}

impl TestEngine {
    /// An engine over fake tools (an npm-like package manager and `go`), with a 100 ms
    /// debounce, a 2 s stop grace and ports of its own; `tweak` adjusts the builder last.
    pub fn start(tweak: impl FnOnce(DevServerBuilder) -> DevServerBuilder) -> Self {
        let tools = FakeTools::new();
        let state = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let host = RecordingHost::new();
        let ports = next_port_range(11);
        let (handle, rec) = engine_on(host.clone(), state.path(), |b| {
            tweak(
                b.go(tools.go())
                    .package_manager(PackageManager::Npm)
                    .package_manager_path(tools.pm())
                    .debounce(Duration::from_millis(100))
                    .stop_grace(Duration::from_secs(2))
                    .port_range(ports.0, ports.1),
            )
        });
        Self {
            handle,
            host,
            rec,
            tools,
            state,
            root,
            ports,
        }
    }

    /// A fake plugin `id` (with `ui/`, `pkg/` or both) under the test's root, known to the
    /// host in dev mode.
    pub fn plugin(&self, id: &str, ui: bool, pkg: bool) -> PathBuf {
        let dir = fake_plugin(self.root.path(), id, ui, pkg);
        self.host.add(id, true, Some(&dir));
        dir
    }

    /// Shuts the engine down and asserts that no process it started is left in the test's
    /// directories.
    pub async fn finish(self) {
        self.handle.shutdown().await;
        assert_no_processes_in(self.root.path(), Duration::from_secs(5)).await;
        assert_no_processes_in(self.state.path(), Duration::from_secs(5)).await;
    }
}
