//! Dev-loop latencies on the bundled example plugin, with real Vite (npm) and real `go build`.
//!
//! Run with `scripts/bench.sh` (it installs what the example needs first). Prints the
//! median and minimum over several rounds of:
//! - start → Vite ready, and start → first build installed (warm Go build cache);
//! - save → build started (watcher + 50 ms debounce) and save → new binary installed;
//! - `go build` alone on the same change, for the overhead ovdev adds around it;
//! - `stop_dev_server` → every process gone.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{copy_example, report, save_greeting, NoHost};
use omniview_devserver::{
    DevProcessStatus, DevServerBuilder, DevServerEvent, DevServerState, EventStream, Received,
};

const ROUNDS: usize = 5;
const LIMIT: Duration = Duration::from_secs(120);

async fn wait_status(events: &mut EventStream, pred: impl Fn(&DevServerState) -> bool) -> Instant {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(Received::Event(DevServerEvent::Status(s)))) if pred(&s) => {
                return Instant::now()
            }
            Ok(Some(_)) => {}
            other => panic!("benchmark stalled: {other:?}"),
        }
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let dir = copy_example(tmp.path(), true);
        // A second copy for plain `go build`s, so they never compete with ovdev's builds.
        let tmp2 = tempfile::tempdir().unwrap();
        let plain_dir = copy_example(tmp2.path(), true);
        let state = tempfile::tempdir().unwrap();
        let handle = DevServerBuilder::with_host(Arc::new(NoHost))
            .state_dir(state.path())
            .debounce(Duration::from_millis(50))
            .start()
            .unwrap();
        let (mut start_vite, mut start_go, mut save_started, mut save_installed, mut stop) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut plain_build = vec![];
        let mut round = 0;
        // Warm the Go build cache once, outside the measurements.
        let go = || {
            let mut c = std::process::Command::new("go");
            c.args(["build", "-o", "build/bin/plugin", "./pkg"])
                .current_dir(&plain_dir);
            c
        };
        assert!(
            go().status().unwrap().success(),
            "go build of the example failed"
        );

        for _ in 0..ROUNDS {
            let mut events = handle.subscribe();
            let t0 = Instant::now();
            handle
                .start_dev_server_for_path("hello-plugin", &dir)
                .await
                .unwrap();
            let (mut vite_at, mut go_at) = (None, None);
            while vite_at.is_none() || go_at.is_none() {
                let at = wait_status(&mut events, |_| true).await;
                let s = handle.get_dev_server_state("hello-plugin").await.unwrap();
                if vite_at.is_none() && s.vite_status == DevProcessStatus::Ready {
                    vite_at = Some(at);
                }
                if go_at.is_none() && s.go_status == DevProcessStatus::Ready {
                    go_at = Some(at);
                }
            }
            start_vite.push(vite_at.unwrap() - t0);
            start_go.push(go_at.unwrap() - t0);

            for _ in 0..3 {
                round += 1;
                let t = Instant::now();
                save_greeting(&dir, &format!("round {round}"));
                let b =
                    wait_status(&mut events, |s| s.go_status == DevProcessStatus::Building).await;
                let r = wait_status(&mut events, |s| s.go_status == DevProcessStatus::Ready).await;
                save_started.push(b - t);
                save_installed.push(r - t);

                save_greeting(&plain_dir, &format!("round {round}"));
                let t = Instant::now();
                assert!(go().status().unwrap().success());
                plain_build.push(t.elapsed());
            }

            let t = Instant::now();
            handle.stop_dev_server("hello-plugin").await.unwrap();
            stop.push(t.elapsed());
        }
        handle.shutdown().await;

        println!("ovdev dev-loop latencies on examples/hello-plugin ({ROUNDS} rounds)");
        report("start -> Vite ready (npm)", start_vite);
        report("start -> first build installed", start_go);
        report("save -> build started (50 ms debounce)", save_started);
        report("save -> new binary installed", save_installed);
        report("go build alone, same kind of change", plain_build);
        report("stop_dev_server -> all processes gone", stop);
    });
}
