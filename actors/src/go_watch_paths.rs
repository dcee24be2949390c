//! Which paths the Go watcher watches and which changes trigger a build.

use std::path::{Path, PathBuf};

/// Directory names never watched or walked: `go build` ignores `testdata`; the others hold
/// no sources of this build (or only copies of them, in `vendor`).
const SKIPPED_DIRS: &[&str] = &["vendor", "node_modules", "build", "testdata"];
/// File extensions whose changes trigger a build.
const BUILD_EXTENSIONS: &[&str] = &["go", "mod", "sum", "work"];

/// True when a directory named `name` is skipped: hidden or starting with `_` (the go tool
/// ignores both), vendor, node_modules, build, testdata.
pub fn is_skipped_dir(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_') || SKIPPED_DIRS.contains(&name)
}

/// True when a change to `path` (below one of `roots`) should trigger a build: a `.go`,
/// `.mod`, `.sum` or `.work` file outside skipped directories that `go build` reads. Tests
/// (`_test.go`) and files whose names start with `.` or `_` are not compiled by `go build`,
/// so saving them rebuilds nothing.
pub fn is_build_input(path: &Path, roots: &[PathBuf]) -> bool {
    let has_ext = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| BUILD_EXTENSIONS.contains(&e));
    let ignored_by_go = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') || n.starts_with('_') || n.ends_with("_test.go"));
    if !has_ext || ignored_by_go {
        return false;
    }
    let Some(rel) = roots.iter().find_map(|r| path.strip_prefix(r).ok()) else {
        return false;
    };
    let dirs = rel.parent().map(|p| p.components().count()).unwrap_or(0);
    !rel.components()
        .take(dirs)
        .any(|c| c.as_os_str().to_str().is_some_and(is_skipped_dir))
}

/// The `use` directories of a `go.work` file, resolved against `root`.
pub fn go_work_use_dirs(go_work: &str, root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![];
    let mut in_block = false;
    for raw in go_work.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
            } else if !line.is_empty() {
                dirs.push(unquote(line));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("use") {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
            } else if !rest.is_empty() && (line.starts_with("use ") || line.starts_with("use\t")) {
                dirs.push(unquote(rest));
            }
        }
    }
    dirs.into_iter().map(|d| root.join(d)).collect()
}

fn unquote(s: &str) -> String {
    s.trim_matches(|c| c == '"' || c == '`').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> Vec<PathBuf> {
        vec![PathBuf::from("/p/pkg"), PathBuf::from("/p")]
    }

    #[test]
    fn go_and_module_files_trigger() {
        for p in [
            "/p/pkg/main.go",
            "/p/pkg/a/b/c.go",
            "/p/go.mod",
            "/p/go.sum",
            "/p/go.work",
            "/p/pkg/test.go",
            "/p/pkg/contest_util.go",
        ] {
            assert!(is_build_input(Path::new(p), &roots()), "{p}");
        }
    }

    #[test]
    fn other_files_and_skipped_dirs_do_not() {
        for p in [
            "/p/pkg/readme.md",
            "/p/pkg/main.go.swp",
            "/p/pkg/.main.go",
            "/p/pkg/vendor/x/a.go",
            "/p/pkg/.git/a.go",
            "/p/pkg/node_modules/a.go",
            "/p/build/a.go",
            "/p/pkg/main_test.go",
            "/p/pkg/a/b/c_test.go",
            "/p/pkg/_scratch.go",
            "/p/pkg/_old/a.go",
            "/p/pkg/testdata/a.go",
            "/p/pkg/a/testdata/x/b.go",
            "/elsewhere/a.go",
        ] {
            assert!(!is_build_input(Path::new(p), &roots()), "{p}");
        }
    }

    #[test]
    fn parses_go_work_use_lines_and_blocks() {
        let work = "go 1.22\n\nuse ./pkg\nuse (\n  ./lib // shared\n  \"../other\"\n)\n";
        assert_eq!(
            go_work_use_dirs(work, Path::new("/p")),
            vec![
                PathBuf::from("/p/./pkg"),
                PathBuf::from("/p/./lib"),
                PathBuf::from("/p/../other")
            ]
        );
    }
}
