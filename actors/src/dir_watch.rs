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

    /// Forgets `dir` and every watched directory below it (they were removed or moved away:
    /// the OS dropped their watches, or they now live elsewhere), so that adding them again
    /// when they come back really watches them.
    pub fn forget_tree(&mut self, dir: &Path) {
        self.watched.retain(|w| !w.starts_with(dir));
    }

    /// True when `dir` is watched.
    pub fn contains(&self, dir: &Path) -> bool {
        self.watched.contains(dir)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_a_tree_forgets_what_is_below_it_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["pkg/sub/deeper", "pkg/subway", "other"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let watcher = notify::recommended_watcher(|_: notify::Result<notify::Event>| {}).unwrap();
        let mut watches = DirWatches::new(watcher);
        for d in ["pkg", "pkg/sub", "pkg/sub/deeper", "pkg/subway", "other"] {
            watches.add(&root.join(d)).unwrap();
        }
        watches.forget_tree(&root.join("pkg/sub"));
        assert!(!watches.contains(&root.join("pkg/sub")));
        assert!(!watches.contains(&root.join("pkg/sub/deeper")));
        assert!(watches.contains(&root.join("pkg/subway")));
        assert!(watches.contains(&root.join("pkg")));
        assert_eq!(watches.len(), 3);
        watches.add(&root.join("pkg/sub")).unwrap();
        assert!(watches.contains(&root.join("pkg/sub")));
    }
}
