//! Every stop gives back its plugin's log buffer: one plugin started and stopped many times
//! through the handle leaves no log buffer (ring, pending batch, timer) behind. Alone in its
//! test binary because it counts the process's live buffers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use omniview_devserver::DevProcessStatus;
use ovdev_actors::actors::log_buffer::live_log_buffers;

async fn wait_live_buffers(expected: usize, round: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while live_log_buffers() != expected {
        assert!(
            Instant::now() < deadline,
            "round {round}: {} log buffers alive, expected {expected}",
            live_log_buffers()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_and_stopping_a_plugin_many_times_leaves_no_log_buffer() {
    let mut e = TestEngine::start(|b| b);
    let dir = e.plugin("cycler", true, true);
    let handle = e.handle.clone();
    assert_eq!(live_log_buffers(), 0);
    let mut last_seq = 0;
    for round in 0..60 {
        handle
            .start_dev_server_for_path("cycler", &dir)
            .await
            .unwrap();
        assert_eq!(live_log_buffers(), 1, "round {round}");
        e.rec
            .wait_status("cycler", "vite ready", |s| {
                s.vite_status == DevProcessStatus::Ready
            })
            .await;
        handle.stop_dev_server("cycler").await.unwrap();
        wait_live_buffers(0, round).await;
        // The stop's last lines were published before the buffer went, in order.
        e.rec.drain(Duration::from_millis(10)).await;
        let seqs: Vec<u64> = e
            .rec
            .seen
            .iter()
            .filter_map(|e| match e {
                omniview_devserver::DevServerEvent::Log(l) => Some(l.iter().map(|e| e.seq)),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq increases");
        let newest = *seqs.last().unwrap();
        assert!(newest > last_seq, "round {round} logged");
        last_seq = newest;
    }
    assert!(e.rec.log_text().contains("dev server stopped"));
    e.finish().await;
    assert_eq!(live_log_buffers(), 0);
}
