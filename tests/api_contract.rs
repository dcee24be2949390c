//! The API's generated descriptions are committed (`docs/openapi.json`, `bindings/ovdev.ts`)
//! and must match what this build generates; the TypeScript must pass `tsc --strict`.
//! After changing a payload type: `OVDEV_BLESS=1 cargo test --test api_contract`.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check_committed(path: &Path, generated: &str) {
    if std::env::var_os("OVDEV_BLESS").is_some() {
        std::fs::write(path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale (or missing): the Rust types changed. Regenerate it with `OVDEV_BLESS=1 cargo test --test api_contract` and commit it.",
        path.display()
    );
}

#[test]
fn the_committed_openapi_document_is_current() {
    let doc = omniview_devserver::api::openapi::document();
    let parsed: serde_json::Value = serde_json::from_str(doc).unwrap();
    assert_eq!(parsed["openapi"], "3.1.0");
    for path in [
        "/api/v1/plugins",
        "/api/v1/plugins/{id}/logs",
        "/api/v1/plugins/{id}/builds",
        "/api/v1/events",
    ] {
        assert!(parsed["paths"].get(path).is_some(), "{path} is described");
    }
    check_committed(&root().join("docs/openapi.json"), doc);
}

#[test]
fn the_committed_typescript_is_current_and_strict() {
    let ts = omniview_devserver::api::wire::typescript();
    assert!(ts.contains("export type DevServerState = {"), "{ts}");
    check_committed(&root().join("bindings/ovdev.ts"), &ts);
    let tsc = root().join("target/api-tools/node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "{} is missing; run scripts/setup-test-tools.sh (it installs TypeScript)",
        tsc.display()
    );
    let out = std::process::Command::new(&tsc)
        .args(["--strict", "--noEmit", "--target", "es2020"])
        .arg(root().join("bindings/ovdev.ts"))
        .arg(root().join("tests/fixtures/ts/uses_bindings.ts"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tsc --strict failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
