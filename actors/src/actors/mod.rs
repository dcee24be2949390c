//! The actor tree, one actor per file with its messages beside its handlers.

pub mod child_guard;
pub mod child_output;
pub mod child_run;
pub mod external_plugin;
pub mod external_watcher;
pub mod go_watcher;
pub mod log_buffer;
pub mod plugin;
pub mod plugin_plan;
pub mod plugin_process;
pub mod port_allocator;
pub mod supervisor;
pub mod vite;

pub use go_watcher::GoWatcherActor;
pub use log_buffer::{LogBufferActor, LogSink};
pub use plugin::PluginActor;
pub use port_allocator::PortAllocatorActor;
pub use supervisor::DevServerSupervisor;
pub use vite::ViteActor;
