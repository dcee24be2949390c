//! The actor engine behind ovdev: it runs the dev loop of Omniview plugins.
//!
//! # Layout
//! - Pure logic, no actix types, unit-tested: [`types`] (wire format), [`build_errors`],
//!   [`log_ring`], [`ansi`], [`vite_ready`], [`ports`], [`debounce`], [`package_manager`],
//!   [`plugin_id`], [`line_codec`], [`log_json`], [`go_watch_paths`], [`binary_swap`], [`restart`] (restart
//!   policies), [`handshake`] and [`hclog`] (go-plugin), [`devinfo`], [`process`] (process
//!   specs and group stops).
//! - [`registry`]: every spawned process group, in a run file and told to a watchdog.
//! - [`grpc`]: the client side of go-plugin's gRPC services (health, Shutdown, stdio).
//! - Actors, one per file under [`actors`]: `DevServerSupervisor` owns the plugin map and the
//!   global `PortAllocatorActor`; one `PluginActor` per dev plugin owns its `DevServerState`
//!   and supervises its children `ViteActor`, `GoWatcherActor`, `PluginProcessActor` (the
//!   built-in go-plugin host) and `LogBufferActor`.
//! - [`events`]: the typed events and the non-blocking [`events::EventBus`] (a bounded queue
//!   per subscriber).
//! - [`host`]: the [`host::PluginHost`] trait through which a rebuilt plugin is reloaded.
//!
//! # How it works
//! Every public operation is a message to the supervisor. Children report to their
//! `PluginActor`, which folds the reports into its state and publishes one
//! `plugin/devserver/status` event per change, and restarts crashed children under their
//! restart policies. Log lines travel in batches (one message per pipe read) to the plugin's
//! `LogBufferActor`, which publishes them 100 ms after the first one is pending. Child processes run in their own process groups and are stopped
//! group-wide (SIGTERM, grace, SIGKILL); nothing outlives the engine (see `registry`).

pub mod actors;
pub mod ansi;
pub mod binary_swap;
pub mod build_errors;
pub mod build_history;
pub mod build_queue;
pub mod child_pipe;
pub mod config;
pub mod debounce;
pub mod devinfo;
pub mod dir_watch;
pub mod error;
pub mod events;
pub mod go_sources;
pub mod go_watch_paths;
pub mod grpc;
pub mod handshake;
pub mod hclog;
pub mod host;
pub mod line_codec;
pub mod log_json;
pub mod log_ring;
pub mod package_manager;
pub mod pid_check;
pub mod plugin_id;
pub mod plugin_lock;
pub mod plugin_status;
pub mod ports;
pub mod process;
pub mod registry;
pub mod restart;
pub mod subreaper;
pub mod types;
pub mod untrusted_file;
pub mod vite_probe;
pub mod vite_ready;
pub mod yaml_limits;
