//! From a plugin directory to a [`PluginPlan`]: which children the plugin needs, their
//! settings from the engine's configuration, the tools they run, and Vite's port. The
//! supervisor's start is a shell over this.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::prelude::*;

use super::go_watcher::GoWatcherSettings;
use super::plugin::PluginPlan;
use super::plugin_process::{DevinfoSettings, PluginProcessSettings};
use super::port_allocator::{AllocatePort, PortAllocatorActor};
use super::vite::ViteSettings;
use crate::config::EngineConfig;
use crate::error::DevServerError;
use crate::package_manager::{detect_package_manager, PackageManager};
use crate::process::find_on_path;
use crate::registry::ProcessRegistry;
use crate::untrusted_file::read_untrusted_text;
use crate::yaml_limits::{check_yaml_nesting, MAX_MANIFEST_BYTES, MAX_YAML_NESTING};

/// Plans dev servers under one engine configuration; cheap to clone.
#[derive(Clone)]
pub struct Planner {
    config: Arc<EngineConfig>,
    registry: Arc<ProcessRegistry>,
    /// Turns for UIs to install and start (`concurrent_ui_starts`), shared by every plugin.
    ui_start_slots: Arc<tokio::sync::Semaphore>,
    ports: Addr<PortAllocatorActor>,
}

/// A plan whose Vite port is not allocated yet (Vite's settings wait beside it).
pub struct PortlessPlan(PluginPlan, Option<ViteSettings>);

impl Planner {
    /// A planner over `config`, recording processes in `registry` and taking ports from
    /// `ports`.
    pub fn new(
        config: Arc<EngineConfig>,
        registry: Arc<ProcessRegistry>,
        ports: Addr<PortAllocatorActor>,
    ) -> Self {
        let ui_start_slots = Arc::new(tokio::sync::Semaphore::new(
            config.concurrent_ui_starts.max(1),
        ));
        Self {
            config,
            registry,
            ui_start_slots,
            ports,
        }
    }

    /// Checks the plugin directory and the tools and settles every child's settings;
    /// allocates nothing. Symlinks and `..` in `dev_path` are resolved once, so that paths in
    /// events are stable.
    pub fn prepare(&self, id: &str, dev_path: PathBuf) -> Result<PortlessPlan, DevServerError> {
        let dev_path = std::fs::canonicalize(&dev_path).unwrap_or(dev_path);
        if !dev_path.is_dir() {
            return Err(DevServerError::DevPathMissing {
                id: id.to_string(),
                path: dev_path,
            });
        }
        let ui = dev_path.join("ui");
        let (has_ui, has_pkg) = (
            ui.join("package.json").is_file(),
            dev_path.join("pkg").is_dir(),
        );
        if !has_ui && !has_pkg {
            return Err(DevServerError::NothingToRun(dev_path));
        }
        let cfg = &self.config;
        let vite = (has_ui && cfg.run_vite)
            .then(|| self.vite_settings(id, ui))
            .transpose()?;
        let go = has_pkg
            .then(|| self.go_settings(id, &dev_path))
            .transpose()?;
        let metadata = read_metadata(id, &dev_path);
        let process =
            (cfg.launch_plugins && go.is_some()).then(|| self.process_settings(id, &metadata));
        let plan = PluginPlan {
            plugin_id: id.to_string(),
            dev_path,
            vite: None,
            go,
            process,
            metadata,
            vite_policy: cfg.vite_policy,
            go_watcher_policy: cfg.go_watcher_policy,
            process_policy: cfg.plugin_policy,
            registry: self.registry.clone(),
            stop_grace: cfg.stop_grace,
            notes: Vec::new(),
        };
        Ok(PortlessPlan(plan, vite))
    }

    /// Allocates Vite's port, when the plan runs Vite: the plugin's preferred one when it is
    /// free (a note in the plan says when it was not).
    pub async fn with_port(&self, plan: PortlessPlan) -> Result<PluginPlan, DevServerError> {
        let PortlessPlan(mut plan, vite) = plan;
        if let Some(settings) = vite {
            let prefer = self
                .config
                .preferred_vite_ports
                .get(&plan.plugin_id)
                .copied();
            let request = AllocatePort {
                plugin_id: plan.plugin_id.clone(),
                prefer,
                avoid: vec![],
            };
            let port = self.ports.send(request).await??;
            if let Some(wanted) = prefer.filter(|p| *p != port) {
                plan.notes.push(format!(
                    "Vite port {wanted} is taken (or in use by another plugin); Vite uses port {port}"
                ));
            }
            plan.vite = Some((settings, port));
        }
        Ok(plan)
    }

    fn vite_settings(&self, id: &str, ui_dir: PathBuf) -> Result<ViteSettings, DevServerError> {
        let cfg = &self.config;
        let named_by_path = cfg
            .package_manager_path
            .as_deref()
            .and_then(PackageManager::from_program);
        let package_manager = cfg.package_manager.or(named_by_path).unwrap_or_else(|| {
            detect_package_manager(
                &ui_dir,
                cfg.package_manager_path.is_some() || find_on_path("pnpm").is_some(),
            )
        });
        let program = match &cfg.package_manager_path {
            Some(p) => p.clone(),
            None => find_on_path(package_manager.program()).ok_or_else(|| {
                DevServerError::ToolNotFound {
                    tool: package_manager.program().into(),
                    option: "package_manager_path",
                }
            })?,
        };
        let mut path_prefix = vec![];
        if let Some(dir) = cfg.node.as_deref().and_then(Path::parent) {
            path_prefix.push(dir.to_path_buf());
        }
        if let Some(dir) = cfg.package_manager_path.as_deref().and_then(Path::parent) {
            path_prefix.push(dir.to_path_buf());
        }
        if package_manager != PackageManager::Bun
            && cfg.node.is_none()
            && find_on_path("node").is_none()
        {
            return Err(DevServerError::ToolNotFound {
                tool: "node".into(),
                option: "node",
            });
        }
        Ok(ViteSettings {
            plugin_id: id.to_string(),
            ui_dir,
            package_manager,
            program,
            path_prefix,
            ready_timeout: cfg.vite_ready_timeout,
            probe_interval: cfg.vite_probe_interval,
            port_retries: cfg.vite_port_retries,
            stop_grace: cfg.stop_grace,
            registry: self.registry.clone(),
            start_slots: self.ui_start_slots.clone(),
        })
    }

    fn go_settings(&self, id: &str, dev_path: &Path) -> Result<GoWatcherSettings, DevServerError> {
        let cfg = &self.config;
        let go = cfg.go.clone().ok_or_else(|| DevServerError::ToolNotFound {
            tool: "go".into(),
            option: "go",
        })?;
        Ok(GoWatcherSettings {
            plugin_id: id.to_string(),
            dev_path: dev_path.to_path_buf(),
            go,
            installed_binary: cfg.installed_binary(id),
            installed_manifest: crate::config::plugin_dir(&cfg.state_dir, id).join("plugin.yaml"),
            debounce: cfg.debounce,
            max_wait: cfg.debounce_max_wait,
            stop_grace: cfg.stop_grace,
            build_timeout: cfg.build_timeout,
            registry: self.registry.clone(),
        })
    }

    fn process_settings(&self, id: &str, metadata: &serde_json::Value) -> PluginProcessSettings {
        let cfg = &self.config;
        let devinfo = cfg.write_devinfo.then(|| DevinfoSettings {
            path: crate::devinfo::devinfo_path(&cfg.state_dir, id),
            version: metadata
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        });
        PluginProcessSettings {
            plugin_id: id.to_string(),
            binary: cfg.installed_binary(id),
            dir: crate::config::plugin_dir(&cfg.state_dir, id),
            start_timeout: cfg.plugin_start_timeout,
            health_interval: cfg.health_interval,
            health_failures: cfg.health_failures,
            devinfo,
            vite_port: 0,
            registry: self.registry.clone(),
        }
    }
}

/// `<dev_path>/plugin.yaml` as JSON (the reload events' payload); `{"id": id}` without one.
fn read_metadata(id: &str, dev_path: &Path) -> serde_json::Value {
    read_untrusted_text(&dev_path.join("plugin.yaml"), MAX_MANIFEST_BYTES)
        .ok()
        .filter(|text| check_yaml_nesting(text, MAX_YAML_NESTING).is_ok())
        .and_then(|text| serde_norway::from_str::<serde_json::Value>(&text).ok())
        .filter(|v| v.is_object())
        .unwrap_or_else(|| serde_json::json!({ "id": id }))
}
