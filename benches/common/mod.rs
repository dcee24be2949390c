//! Shared by the bench binaries: a host that knows no plugins, the report line, a copy of the
//! example plugin and an editor's save of its greeting.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

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
