//! The local API served by a real engine (fake tools): what it refuses and why, the event
//! stream's resumption and slow clients, its files, and fuzzing from its own OpenAPI
//! document with schemathesis.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use common::api::*;
use common::*;
use futures::StreamExt as _;
use omniview_devserver::api::client::ApiClient;
use omniview_devserver::api::runtime_file::live_instances;
use omniview_devserver::api::ApiOptions;
use omniview_devserver::DevProcessStatus;

fn with_api(
    options: ApiOptions,
) -> impl FnOnce(omniview_devserver::DevServerBuilder) -> omniview_devserver::DevServerBuilder {
    move |b| b.api(options)
}

fn tcp() -> ApiOptions {
    ApiOptions {
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_bad_request_is_refused_with_its_status_and_the_engine_goes_on() {
    let mut e = TestEngine::start(with_api(tcp()));
    let dir = e.plugin("be", false, true);
    e.handle
        .start_dev_server_for_path("be", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("be", "built", |s| s.go_status == DevProcessStatus::Ready)
        .await;
    let info = e.handle.api_info().unwrap();
    let addr = tcp_addr(&info);
    let auth = bearer(&info);
    let ok = [("Authorization", auth.as_str())];

    let (status, head, body) = raw(addr, "GET", "/api/v1/plugins", &[], b"").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthorized")),
        "{head}"
    );
    assert!(!body.to_string().contains("be"), "nothing leaks: {body}");
    let wrong = format!("Bearer {}", "0".repeat(64));
    let (status, _, body) = raw(
        addr,
        "GET",
        "/api/v1/plugins",
        &[("Authorization", &wrong)],
        b"",
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, _, _) = raw(addr, "GET", "/api/v1/nothing-here", &[], b"").await;
    assert_eq!(status, 401, "unknown paths need the token too");

    let foreign_host = [
        ("Authorization", auth.as_str()),
        ("Host", "evil.example:80"),
    ];
    let (status, _, body) = raw(addr, "GET", "/api/v1/plugins", &foreign_host, b"").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden_host"))
    );

    let origin = [
        ("Authorization", auth.as_str()),
        ("Origin", "http://evil.example"),
    ];
    let (status, _, body) = raw(addr, "POST", "/api/v1/plugins/be/rebuild", &origin, b"").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden_origin"))
    );
    let own = format!("http://127.0.0.1:{}", addr.port());
    let own_origin = [("Authorization", auth.as_str()), ("Origin", own.as_str())];
    let (status, _, _) = raw(addr, "POST", "/api/v1/plugins/be/rebuild", &own_origin, b"").await;
    assert_eq!(status, 202, "the server's own pages may");

    let big = vec![b'{'; 200 * 1024];
    let (status, _, body) = raw(addr, "POST", "/api/v1/plugins/be/start", &ok, &big).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("too_large")));
    let (status, _, body) = raw(
        addr,
        "POST",
        "/api/v1/plugins/be/start",
        &ok,
        b"{\"devPath\":",
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));
    assert!(
        body["error"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    let (status, _, body) = raw(
        addr,
        "POST",
        "/api/v1/plugins/be/start",
        &ok,
        b"{\"devpath\":\"/x\"}",
    )
    .await;
    assert_eq!(status, 400, "an unknown field is a typo: {body}");
    let (status, _, body) = raw(
        addr,
        "POST",
        "/api/v1/plugins/x/start",
        &ok,
        b"{\"devPath\":\"relative/dir\"}",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = raw(addr, "GET", "/api/v1/plugins/be/logs?level=loud", &ok, b"").await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = raw(addr, "GET", "/api/v1/plugins/be/logs?tail=100001", &ok, b"").await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = raw(addr, "GET", "/api/v1/events?name=plugin/nope", &ok, b"").await;
    assert_eq!(status, 400, "{body}");

    let (status, _, body) = raw(addr, "GET", "/api/v1/plugins/nobody", &ok, b"").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, _, _) = raw(addr, "POST", "/api/v1/plugins/nobody/stop", &ok, b"").await;
    assert_eq!(status, 409);
    for bad in [
        "..",
        "a..b",
        "..%2F..%2Fetc",
        "a%2Fb",
        ".hidden",
        "-x",
        "%00",
    ] {
        let (status, _, body) = raw(addr, "GET", &format!("/api/v1/plugins/{bad}"), &ok, b"").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_id")),
            "{bad}: {body}"
        );
        let (status, _, _) = raw(
            addr,
            "POST",
            &format!("/api/v1/plugins/{bad}/stop"),
            &ok,
            b"",
        )
        .await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _, body) = raw(addr, "GET", "/api/v1/plugins/a/b/c", &ok, b"").await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, _, body) = raw(addr, "DELETE", "/api/v1/plugins", &ok, b"").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    // The browser's way in: `?token=` becomes a cookie and leaves the address.
    let login = format!("/api/v1/plugins?token={}", info.token);
    let (status, head, _) = raw(addr, "GET", &login, &[], b"").await;
    assert_eq!(status, 303);
    assert!(head.contains("location: /api/v1/plugins\r\n"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(
        head.contains("HttpOnly") && head.contains("SameSite=Strict"),
        "{head}"
    );
    let (status, _, body) = raw(addr, "GET", "/api/v1/plugins", &[("Cookie", &cookie)], b"").await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["pluginID"], "be");
    let (status, _, _) = raw(addr, "GET", "/api/v1/plugins?token=wrong", &[], b"").await;
    assert_eq!(status, 401);

    // Unharmed: it still answers and still builds (the rebuild asked for above included).
    let deadline = std::time::Instant::now() + HANG;
    loop {
        let (status, _, body) = raw(addr, "GET", "/api/v1/plugins/be", &ok, b"").await;
        assert_eq!(status, 200);
        if body["goStatus"] == "ready" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _, body) = raw(addr, "GET", "/api/v1/plugins/be/builds", &ok, b"").await;
    assert_eq!(status, 200);
    assert!(
        body.as_array().unwrap().len() >= 2,
        "the start and the rebuild: {body}"
    );
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runtime_file_and_socket_are_private_found_and_removed_at_shutdown() {
    let mut e = TestEngine::start(with_api(ApiOptions::default()));
    let info = e.handle.api_info().unwrap();
    assert!(info.url.is_none(), "no TCP unless asked");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&info.socket), 0o600);
    assert_eq!(mode(&info.runtime_file), 0o600);
    assert_eq!(info.token.len(), 64);

    let dir = e.plugin("rt", true, false);
    e.handle
        .start_dev_server_for_path("rt", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("rt", "ready", |s| s.vite_status == DevProcessStatus::Ready)
        .await;
    // The plugin list follows the plugins (written off the request thread, so poll).
    let deadline = std::time::Instant::now() + HANG;
    let found = loop {
        let live = live_instances(e.state.path());
        if live.len() == 1 && live[0].plugins == ["rt"] {
            break live.into_iter().next().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "{live:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(found.pid as u32, std::process::id());
    assert_eq!(found.token, info.token);
    let client = ApiClient::new(&found);
    let states: serde_json::Value = client.get_json("/api/v1/plugins").await.unwrap();
    assert_eq!(states[0]["pluginID"], "rt");
    let doc: serde_json::Value = client.get_json("/api/v1/openapi.json").await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let (file, socket) = (info.runtime_file.clone(), info.socket.clone());
    e.finish().await;
    assert!(!file.exists() && !socket.exists(), "removed at shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_resumes_after_the_last_event_id_and_filters() {
    let mut e = TestEngine::start(with_api(ApiOptions::default()));
    let info = e.handle.api_info().unwrap();
    let found = &live_instances(e.state.path())[0];
    let client = ApiClient::new(found);
    let mut all = client.stream("/api/v1/events").await.unwrap();
    let mut statuses = client
        .stream("/api/v1/events?plugin=one&name=plugin/devserver/status")
        .await
        .unwrap();
    let one = e.plugin("one", false, true);
    let two = e.plugin("two", false, true);
    e.handle
        .start_dev_server_for_path("two", &two)
        .await
        .unwrap();
    e.handle
        .start_dev_server_for_path("one", &one)
        .await
        .unwrap();
    e.rec
        .wait_status("one", "built", |s| s.go_status == DevProcessStatus::Ready)
        .await;

    let first = tokio::time::timeout(HANG, statuses.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.event, "plugin/devserver/status");
    let state: serde_json::Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(
        state["pluginID"], "one",
        "the filter keeps only plugin `one`"
    );

    // Read a few events, then resume from the second one's id on a new connection.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let ev = tokio::time::timeout(HANG, all.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(ev);
    }
    drop(all);
    let id = seen[1].id.clone().unwrap();
    let resumed = resume(&info, &id).await;
    assert_eq!(
        resumed[0].id, seen[2].id,
        "resumption starts right after {id}"
    );
    assert_eq!(resumed[1].data, seen[3].data);
    let foreign = resume(&info, "ffff-1").await;
    assert_eq!(
        foreign[0].id, seen[0].id,
        "another instance's id: everything kept"
    );
    e.finish().await;
}

/// The first events of `/events` with `Last-Event-ID: id` (raw, so the header is ours).
async fn resume(
    info: &omniview_devserver::api::ApiInfo,
    id: &str,
) -> Vec<omniview_devserver::api::client::SseEvent> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(&info.socket).await.unwrap();
    let req = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nLast-Event-ID: {id}\r\n\r\n",
        info.token
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut parser = omniview_devserver::api::client::SseParser::default();
    let mut buf = vec![0; 65536];
    let mut events = Vec::new();
    let mut head_done = false;
    while events.len() < 2 {
        let n = tokio::time::timeout(HANG, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stream ended");
        let mut chunk = &buf[..n];
        if !head_done {
            let text = String::from_utf8_lossy(chunk);
            let at = text.find("\r\n\r\n").expect("headers in the first read");
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            head_done = true;
            chunk = &chunk[at + 4..];
        }
        // Chunked transfer: frames arrive between size lines; drop those.
        let text = String::from_utf8_lossy(chunk);
        let cleaned: String = text
            .split("\r\n")
            .filter(|l| {
                !(l.len() <= 8 && !l.is_empty() && l.chars().all(|c| c.is_ascii_hexdigit()))
            })
            .collect::<Vec<_>>()
            .join("\n");
        parser.feed(cleaned.as_bytes());
        while let Some(ev) = parser.next_event() {
            events.push(ev);
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_told_what_it_missed_and_nobody_waits_for_it() {
    // A small ring, and a plugin whose UI floods its output.
    let options = ApiOptions {
        max_events: 64,
        max_event_bytes: 1024 * 1024,
        ..Default::default()
    };
    let e = TestEngine::start(with_api(options));
    let found = live_instances(e.state.path()).remove(0);
    let client = ApiClient::new(&found);
    let mut stalled = client.stream("/api/v1/events").await.unwrap();
    let dir = e.plugin("flood", true, false);
    std::fs::write(dir.join("ui/fake-mode"), "flood").unwrap();
    e.handle
        .start_dev_server_for_path("flood", &dir)
        .await
        .unwrap();
    // While this client reads nothing, the engine and other clients go on.
    let mut lively = client
        .stream("/api/v1/plugins/flood/logs/stream")
        .await
        .unwrap();
    let mut lines = 0;
    while lines < 200_000 {
        let ev = tokio::time::timeout(HANG, lively.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if ev.event == "plugin/devserver/log" {
            let batch: Vec<serde_json::Value> = serde_json::from_str(&ev.data).unwrap();
            lines += batch.len();
        }
    }
    let state: serde_json::Value = client.get_json("/api/v1/plugins/flood").await.unwrap();
    assert_eq!(
        state["pluginID"], "flood",
        "requests are answered during the flood"
    );
    let mut missed = None;
    for _ in 0..100_000 {
        let ev = tokio::time::timeout(HANG, stalled.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if ev.event == "ovdev/events_missed" {
            missed = Some(ev.data);
            break;
        }
    }
    let missed: serde_json::Value =
        serde_json::from_str(&missed.expect("told it missed events")).unwrap();
    assert!(missed["count"].as_u64().unwrap() > 0, "{missed}");
    drop((stalled, lively));
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_fuzzing_from_the_openapi_document_finds_no_server_error() {
    let tool = repo().join("target/api-tools/venv/bin/schemathesis");
    assert!(
        tool.exists(),
        "{} is missing; run scripts/setup-test-tools.sh",
        tool.display()
    );
    let mut e = TestEngine::start(with_api(tcp()));
    let dir = e.plugin("fz", false, true);
    e.handle
        .start_dev_server_for_path("fz", &dir)
        .await
        .unwrap();
    e.rec
        .wait_status("fz", "built", |s| s.go_status == DevProcessStatus::Ready)
        .await;
    let info = e.handle.api_info().unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new(&tool)
            .arg("run")
            .arg(repo().join("docs/openapi.json"))
            .args(["--url", info.url.as_deref().unwrap()])
            .args(["-H", &format!("Authorization: {}", bearer(&info))])
            // Streams never end: they are tested above, not fuzzed.
            .args(["--exclude-path-regex", "(stream|events)$"])
            .args([
                "-c",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--max-time",
                "60",
            ])
            .args(["--request-timeout", "20", "--seed", "1", "--no-color"])
            .env("SCHEMATHESIS_HOOKS", "")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("schemathesis finishes within its time budget")
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("passed"), "{text}");
    // The engine survived the fuzzing.
    let s = e.handle.get_dev_server_state("fz").await.unwrap();
    assert_eq!(s.go_status, DevProcessStatus::Ready);
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_directory_too_long_for_a_socket_fails_the_start_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let long = root.path().join("d".repeat(100));
    std::fs::create_dir_all(&long).unwrap();
    let started = omniview_devserver::DevServerBuilder::with_host(RecordingHost::new())
        .state_dir(&long)
        .watch_external(false)
        .api(ApiOptions::default())
        .start();
    let Err(e) = started else {
        panic!("a socket path over 107 bytes cannot be bound");
    };
    let text = e.to_string();
    assert!(
        text.contains("longer than the 107 bytes") && text.contains("shorter path"),
        "{text}"
    );
    assert!(live_instances(&long).is_empty(), "no runtime file is left");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_is_served_with_its_security_headers_and_a_taken_port_moves_aside() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let state = tempfile::tempdir().unwrap();
    let token_file = state.path().join("api-token");
    let e = TestEngine::start(with_api(ApiOptions {
        tcp: Some(format!("127.0.0.1:{port}").parse().unwrap()),
        tcp_fallback: true,
        token_file: Some(token_file.clone()),
        ..Default::default()
    }));
    let info = e.handle.api_info().unwrap();
    let addr = tcp_addr(&info);
    assert_ne!(addr.port(), port, "the taken port was left to its owner");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), info.token);
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let browser = [("Accept", "text/html,application/xhtml+xml")];
    let (status, head, _) = raw(addr, "GET", "/ui/", &browser, b"").await;
    assert_eq!(status, 401);
    assert!(head.contains("content-type: text/html"), "{head}");
    let (status, head, _) = raw(addr, "GET", "/", &[("Authorization", &bearer(&info))], b"").await;
    assert_eq!(
        (status, head.contains("location: /ui/")),
        (303, true),
        "{head}"
    );
    for (path, kind) in [
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let (status, head, _) =
            raw(addr, "GET", path, &[("Authorization", &bearer(&info))], b"").await;
        assert_eq!(status, 200, "{path}");
        assert!(
            head.contains(&format!("content-type: {kind}")),
            "{path}: {head}"
        );
        assert!(
            head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
            "{head}"
        );
        assert!(head.contains("x-frame-options: DENY"), "{head}");
    }
    e.finish().await;

    // The same token file again: the same token (an open page keeps working).
    let again = TestEngine::start(with_api(ApiOptions {
        token_file: Some(token_file.clone()),
        ..Default::default()
    }));
    assert_eq!(again.handle.api_info().unwrap().token, info.token);
    again.finish().await;

    // An address given without the move-aside: its owner keeps it, the start says why.
    let started = omniview_devserver::DevServerBuilder::with_host(RecordingHost::new())
        .state_dir(state.path())
        .watch_external(false)
        .api(ApiOptions {
            tcp: Some(format!("127.0.0.1:{port}").parse().unwrap()),
            ..Default::default()
        })
        .start();
    let Err(err) = started else {
        panic!("a taken port given explicitly must fail the start")
    };
    assert!(
        err.to_string()
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    drop(taken);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_that_send_nothing_are_closed_and_cannot_hold_the_api() {
    use tokio::io::AsyncReadExt;
    let e = TestEngine::start(with_api(ApiOptions {
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        max_connections: 4,
        header_timeout: Duration::from_millis(500),
        ..Default::default()
    }));
    let info = e.handle.api_info().unwrap();
    let addr = tcp_addr(&info);
    // Every slot taken by a connection that never sends a request.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let started = std::time::Instant::now();
    let (status, _, _) = raw(
        addr,
        "GET",
        "/api/v1/plugins",
        &[("Authorization", &bearer(&info))],
        b"",
    )
    .await;
    assert_eq!(
        status, 200,
        "a real client gets in once the idle ones are closed"
    );
    assert!(started.elapsed() < HANG);
    for mut s in idle {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("an idle connection is closed by the server")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    e.finish().await;
}
