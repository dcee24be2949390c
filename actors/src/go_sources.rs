//! The Go sources of one plugin as the file watcher sees them: which directories are watched
//! (the plugin directory, `pkg/` and `go.work`'s `use` directories, by hand and recursively;
//! the plugin directory's parent, to see it go and come back), and what a watcher event means
//! for the build. The `GoWatcherActor` owns one and logs and reports what it finds.

use std::path::{Path, PathBuf};

use notify::event::{ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher};

use crate::dir_watch::DirWatches;
use crate::go_watch_paths::{go_work_use_dirs, is_build_input, is_skipped_dir};
use crate::untrusted_file::read_untrusted_text;

/// The largest `go.work` read (it lists directories; 1 MiB is far beyond any real one).
const MAX_GO_WORK_BYTES: u64 = 1024 * 1024;

/// What one watcher event meant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SourceEvent {
    /// A build input changed (or appeared, or went): build again.
    pub changed: bool,
    /// The build inputs (files, or directories that went) the event named: a build's trigger.
    pub paths: Vec<PathBuf>,
    /// The plugin directory itself went away.
    pub dir_gone: bool,
    /// The plugin directory is back, and watched again.
    pub dir_back: bool,
}

/// See the module doc.
#[derive(Default)]
pub struct GoSources {
    dev_path: PathBuf,
    watches: DirWatches,
    /// The trees whose files are build inputs, the plugin directory last (only its own
    /// `go.mod`, `go.sum` and `go.work` count), so that a path is judged relative to the most
    /// specific tree.
    roots: Vec<PathBuf>,
    /// Directories that could not be watched, and why; the owner takes them to log.
    problems: Vec<String>,
}

impl GoSources {
    /// Watches the sources of the plugin in `dev_path` through `watcher`.
    pub fn watch(watcher: RecommendedWatcher, dev_path: &Path) -> Self {
        let mut sources = Self {
            dev_path: dev_path.to_path_buf(),
            watches: DirWatches::new(watcher),
            roots: vec![dev_path.join("pkg"), dev_path.to_path_buf()],
            problems: Vec::new(),
        };
        // The parent (not recursive) only to notice the plugin directory going and coming back.
        if let Some(parent) = dev_path.parent() {
            sources.watch_dir(parent);
        }
        sources.watch_dir(dev_path);
        sources.watch_tree(&dev_path.join("pkg"));
        sources.watch_go_work_dirs();
        sources
    }

    /// How many directories are watched.
    pub fn watched(&self) -> usize {
        self.watches.len()
    }

    /// Directories that could not be watched since the last call, and why.
    pub fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }

    /// Stops watching.
    pub fn close(&mut self) {
        self.watches.close();
    }

    /// What `event` means for the build; watches what it brought, forgets what it took.
    pub fn on_event(&mut self, event: &Event) -> SourceEvent {
        let mut seen = SourceEvent::default();
        let relevant_kind = matches!(
            event.kind,
            EventKind::Create(_)
                | EventKind::Remove(_)
                | EventKind::Modify(ModifyKind::Data(_))
                | EventKind::Modify(ModifyKind::Name(_))
                | EventKind::Modify(ModifyKind::Any)
                | EventKind::Any
        );
        if !relevant_kind {
            return seen;
        }
        // Paths that went away (removed, or renamed from). Judged by the event, not by looking:
        // a rename and its undo are both over before the events arrive, and the OS dropped the
        // watch all the same.
        let gone: &[PathBuf] = match event.kind {
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                &event.paths
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                &event.paths[..1.min(event.paths.len())]
            }
            _ => &[],
        };
        for path in &event.paths {
            if path == &self.dev_path {
                // Seen through the watch on its parent: the plugin directory went or came back.
                if self.dev_path.is_dir() {
                    self.rewatch();
                    seen.dir_back = true;
                    seen.changed = true;
                } else {
                    let dev = self.dev_path.clone();
                    self.watches.forget_tree(&dev);
                    seen.dir_gone = true;
                }
                continue;
            }
            if !self.roots.iter().any(|r| path.starts_with(r)) {
                continue; // a sibling of the plugin directory
            }
            if gone.contains(path) || !path.exists() {
                // Its watches are gone or stale; a watched directory that went takes its
                // sources with it. If it is back already, it is watched again just below.
                if self.watches.contains(path) {
                    seen.changed = true;
                    seen.paths.push(path.clone());
                }
                self.watches.forget_tree(path);
            }
            let under_tree = self.roots[..self.roots.len().saturating_sub(1)]
                .iter()
                .any(|r| path.starts_with(r));
            if under_tree && path.is_dir() {
                let skipped = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_skipped_dir);
                if !skipped && self.watch_tree(path) {
                    seen.changed = true;
                }
            } else if is_build_input(path, &self.roots) {
                seen.changed = true;
                seen.paths.push(path.clone());
                let is_root_go_work = path.parent() == Some(self.dev_path.as_path())
                    && path.file_name().is_some_and(|n| n == "go.work");
                if is_root_go_work {
                    self.watch_go_work_dirs();
                }
            }
        }
        seen
    }

    /// Watches the plugin directory's trees again from scratch (it was deleted or moved and
    /// is back): adding a watch again also points the OS's watch at the directory's new path.
    fn rewatch(&mut self) {
        let dev = self.dev_path.clone();
        self.watches.forget_tree(&dev);
        self.watch_dir(&dev);
        self.watch_tree(&dev.join("pkg"));
        self.watch_go_work_dirs();
    }

    /// Adds `go.work`'s `use` directories (again after it changed) as watched trees.
    fn watch_go_work_dirs(&mut self) {
        let dev = self.dev_path.clone();
        let Ok(work) = read_untrusted_text(&dev.join("go.work"), MAX_GO_WORK_BYTES) else {
            return;
        };
        for dir in go_work_use_dirs(&work, &dev) {
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            if dir.is_dir() && !self.roots.contains(&dir) {
                let at = self.roots.len() - 1;
                self.roots.insert(at, dir.clone());
                self.watch_tree(&dir);
            }
        }
    }

    fn watch_dir(&mut self, dir: &Path) {
        if let Err(e) = self.watches.add(dir) {
            self.problems
                .push(format!("cannot watch {}: {e}", dir.display()));
        }
    }

    /// Watches `dir` and its subdirectories (skipping hidden, vendor, node_modules, build) and
    /// returns true when the tree holds a build input. New directories are walked this way
    /// because files written right after a directory is created can escape inotify.
    fn watch_tree(&mut self, dir: &Path) -> bool {
        self.watch_dir(dir);
        let mut found = false;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                let skipped = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_skipped_dir);
                if !skipped {
                    found |= self.watch_tree(&path);
                }
            } else if is_build_input(&path, &self.roots) {
                found = true;
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind};

    fn sources(dir: &Path) -> GoSources {
        let watcher = notify::recommended_watcher(|_: notify::Result<Event>| {}).unwrap();
        GoSources::watch(watcher, dir)
    }

    fn event(kind: EventKind, path: &Path) -> Event {
        Event::new(kind).add_path(path.to_path_buf())
    }

    fn plugin_dir() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("p");
        std::fs::create_dir_all(dev.join("pkg/sub")).unwrap();
        std::fs::create_dir_all(dev.join("ui/src")).unwrap();
        std::fs::write(dev.join("pkg/main.go"), "package main\n").unwrap();
        std::fs::write(dev.join("go.mod"), "module x\n").unwrap();
        root
    }

    #[test]
    fn build_inputs_change_the_build_and_other_files_do_not() {
        let root = plugin_dir();
        let dev = root.path().join("p");
        let mut s = sources(&dev);
        assert!(s.watched() >= 4, "parent, plugin dir, pkg, pkg/sub");
        let modify = EventKind::Modify(ModifyKind::Data(DataChange::Content));
        assert!(s.on_event(&event(modify, &dev.join("pkg/main.go"))).changed);
        assert!(s.on_event(&event(modify, &dev.join("go.mod"))).changed);
        for other in ["pkg/main_test.go", "ui/src/app.ts", "README.md"] {
            std::fs::write(dev.join(other), "x").unwrap();
            assert!(
                !s.on_event(&event(modify, &dev.join(other))).changed,
                "{other}"
            );
        }
        let sibling = root.path().join("other/main.go");
        assert!(!s.on_event(&event(modify, &sibling)).changed);
        let chmod = EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions));
        assert!(!s.on_event(&event(chmod, &dev.join("pkg/main.go"))).changed);
        assert!(s.take_problems().is_empty());
    }

    #[test]
    fn a_new_directory_with_sources_is_watched_and_counts() {
        let root = plugin_dir();
        let dev = root.path().join("p");
        let mut s = sources(&dev);
        let before = s.watched();
        std::fs::create_dir_all(dev.join("pkg/new/deeper")).unwrap();
        std::fs::write(dev.join("pkg/new/deeper/x.go"), "package x\n").unwrap();
        let seen = s.on_event(&event(
            EventKind::Create(CreateKind::Folder),
            &dev.join("pkg/new"),
        ));
        assert!(seen.changed, "its sources were written before the watch");
        assert_eq!(s.watched(), before + 2);
        std::fs::remove_dir_all(dev.join("pkg/new")).unwrap();
        let removed = s.on_event(&event(
            EventKind::Remove(RemoveKind::Folder),
            &dev.join("pkg/new"),
        ));
        assert!(
            removed.changed,
            "a watched directory that went takes its sources"
        );
        assert_eq!(s.watched(), before);
    }

    #[test]
    fn the_plugin_directory_going_and_coming_back_is_told() {
        let root = plugin_dir();
        let dev = root.path().join("p");
        let mut s = sources(&dev);
        let moved = root.path().join("moved");
        std::fs::rename(&dev, &moved).unwrap();
        let gone = s.on_event(&event(EventKind::Remove(RemoveKind::Folder), &dev));
        assert_eq!((gone.dir_gone, gone.changed), (true, false));
        std::fs::rename(&moved, &dev).unwrap();
        let back = s.on_event(&event(EventKind::Create(CreateKind::Folder), &dev));
        assert_eq!((back.dir_back, back.changed), (true, true));
        assert!(s.watched() >= 4);
    }
}
