//! A set of non-recursive directory watches, each added once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// The directories one `notify` watcher watches.
#[derive(Default)]
pub struct DirWatches {
    watcher: Option<RecommendedWatcher>,
    watched: HashSet<PathBuf>,
}

impl DirWatches {
    /// Watches through `watcher`.
    pub fn new(watcher: RecommendedWatcher) -> Self {
        Self {
            watcher: Some(watcher),
            watched: HashSet::new(),
        }
    }

    /// Watches `dir` (not its subdirectories) unless it is already watched.
    pub fn add(&mut self, dir: &Path) -> notify::Result<()> {
        if self.watched.contains(dir) {
            return Ok(());
        }
        if let Some(w) = self.watcher.as_mut() {
            w.watch(dir, RecursiveMode::NonRecursive)?;
            self.watched.insert(dir.to_path_buf());
        }
        Ok(())
    }

    /// Forgets `dir` (it was removed; the OS dropped its watch).
    pub fn forget(&mut self, dir: &Path) {
        self.watched.remove(dir);
    }

    /// How many directories are watched.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    /// True when nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Stops watching everything (the event stream then ends).
    pub fn close(&mut self) {
        self.watcher = None;
        self.watched.clear();
    }
}
