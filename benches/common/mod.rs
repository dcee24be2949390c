//! Shared by the bench binaries: a host that knows no plugins, and the report line.
#![allow(dead_code)]

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
