//! omniview-devserver: the dev loop of Omniview plugins, as a library and as the `ovdev` CLI.
//!
//! An IDE embeds the engine with [`DevServerBuilder`], supplying a [`PluginHost`], and drives
//! it through the cloneable [`DevServerHandle`]; it receives state, log and build-error events
//! from [`DevServerHandle::subscribe`] in the JSON the Omniview frontend understands.
//! The engine itself (actors, process handling, pure logic) lives in the `ovdev-actors` crate,
//! an implementation detail: everything an embedder needs is exported here; see
//! `docs/architecture.md`.

pub mod api;
mod builder;
mod handle;
pub mod manifest;

pub use builder::{resolve_state_dir, BuilderError, DevServerBuilder};
pub use futures::future::BoxFuture;
pub use handle::DevServerHandle;
pub use ovdev_actors::build_history::{BuildRecord, BuildResult, BuildTrigger};
pub use ovdev_actors::error::DevServerError;
pub use ovdev_actors::events::{DevServerEvent, EventStream, LogBatch, Received};
pub use ovdev_actors::host::{HostError, PluginHost, PluginInfo};
pub use ovdev_actors::package_manager::PackageManager;
pub use ovdev_actors::restart::{RestartPolicy, RestartType};
pub use ovdev_actors::types::{
    BuildError, BuildErrorsPayload, DevInfoFile, DevProcessStatus, DevServerMode, DevServerState,
    LogEntry, LogLevel, LogSource, Severity,
};

/// The embedding guide's example is compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../docs/embedding.md")]
struct EmbeddingGuide;
