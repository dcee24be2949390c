//! Plugin directories, fake tools and copies of the example plugin.

use std::path::{Path, PathBuf};

use super::repo;

/// Copies a directory tree (symlinks copied as links).
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let to = dst.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &to);
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A fresh copy of `examples/hello-plugin` (without its build output) in a temp dir.
/// `with_node_modules`: copy the installed UI modules too (the setup script installs them).
pub fn example_copy(with_node_modules: bool) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("hello-plugin");
    let src = repo().join("examples/hello-plugin");
    std::fs::create_dir_all(&dst).unwrap();
    for name in ["plugin.yaml", "go.mod", "go.sum", "pkg"] {
        let p = src.join(name);
        if p.is_dir() {
            copy_tree(&p, &dst.join(name));
        } else {
            std::fs::copy(&p, dst.join(name)).unwrap();
        }
    }
    let ui = dst.join("ui");
    std::fs::create_dir_all(&ui).unwrap();
    for entry in std::fs::read_dir(src.join("ui")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "node_modules" && !with_node_modules {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &ui.join(&name));
        } else {
            std::fs::copy(entry.path(), ui.join(&name)).unwrap();
        }
    }
    if with_node_modules {
        assert!(
            ui.join("node_modules/vite").is_dir(),
            "examples/hello-plugin/ui/node_modules is missing: run the tests through scripts/test.sh"
        );
    }
    (tmp, dst)
}

/// Writes `contents` to `path` the way editors save atomically: temp file, then rename.
pub fn atomic_save(path: &Path, contents: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-save",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Writes an executable shell script.
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Fake tools for actor-level tests (no Go, no Node): behaviour is read from files in the
/// plugin, so each test controls its own fixture.
pub struct FakeTools {
    pub dir: tempfile::TempDir,
}

impl FakeTools {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Package manager: `install` creates node_modules; `run dev -- --port N ...` behaves per
        // ./fake-mode: ready | exit | busy:<port> (fails like strictPort on that port) | silent |
        // ready-exit (dies after becoming ready) | ready-exit-once (the same, first run only) |
        // exit0 (ends normally at once) | orphan (leaves a grandchild in a session of its own
        // whose parent exits, then is ready) | stubborn (ready, ignores SIGTERM, with a
        // grandchild that does too) | slow-stop (ready; takes 300 ms to obey SIGTERM) |
        // noisy (a 100 kB line and invalid UTF-8 first) | flood (ready, then 100-byte lines
        // as fast as `yes` writes them).
        write_script(
            &dir.path().join("fake-pm"),
            r##"if [ "$1" = install ]; then echo "installing"; mkdir -p node_modules; exit 0; fi
port=""
while [ $# -gt 0 ]; do [ "$1" = "--port" ] && port="$2"; shift; done
mode=$(cat fake-mode 2>/dev/null || echo ready)
case "$mode" in
  exit) echo "something broke" >&2; echo "Error: cannot load vite.config.ts" >&2; exit 3 ;;
  busy:*) if [ "$port" = "${mode#busy:}" ]; then echo "error when starting dev server:" >&2; echo "Error: Port $port is already in use" >&2; exit 1; fi ;;
  silent) exec sleep 300 ;;
  noisy) head -c 100000 /dev/zero | tr '\0' x; echo; printf 'bad \377 byte\n' ;;
  exit0) echo "done"; exit 0 ;;
  orphan) (setsid sleep 301 &) ;;
  stubborn) trap '' TERM; printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; sleep 300 & sleep 300; wait ;;
  slow-stop) printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; trap 'sleep 0.3; exit 0' TERM; while :; do sleep 0.05; done ;;
  ready-exit-once) if [ ! -e crashed-once ]; then : > crashed-once; printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; sleep 0.3; exit 7; fi ;;
  flood) printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; exec yes 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678 ;;
  ready-exit) printf '  ➜  Local:   http://127.0.0.1:%s/\n' "$port"; sleep 0.3; exit 7 ;;
esac
echo "  VITE fake  ready in 1 ms"
printf '  \033[32m➜\033[39m  \033[1mLocal\033[22m:   \033[36mhttp://127.0.0.1:\033[1m%s\033[22m/\033[39m\n' "$port"
exec sleep 300
"##,
        );
        // go: `build -o OUT ./pkg`: fails when pkg/main.go contains BROKEN, sleeps
        // when it contains SLOW, hangs when it contains HANG, prints 6000 errors when it contains MANY, else "builds" a binary equal to the sources.
        write_script(
            &dir.path().join("fake-go"),
            r##"if grep -q BROKEN pkg/main.go; then echo "# plugin/pkg" >&2; echo "./pkg/main.go:3:7: undefined: nope" >&2; exit 1; fi
if grep -q SLOW pkg/main.go; then sleep 1; fi
if grep -q HANG pkg/main.go; then exec sleep 1000; fi
if grep -q MANY pkg/main.go; then i=1; while [ $i -le 6000 ]; do echo "./pkg/main.go:$i:1: error number $i" >&2; i=$((i+1)); done; exit 1; fi
out="$3"; mkdir -p "$(dirname "$out")" && cat pkg/*.go > "$out" && chmod +x "$out"
"##,
        );
        Self { dir }
    }

    pub fn pm(&self) -> PathBuf {
        self.dir.path().join("fake-pm")
    }

    pub fn go(&self) -> PathBuf {
        self.dir.path().join("fake-go")
    }
}

/// A plugin directory for fake tools: `pkg/main.go` and/or `ui/` (with node_modules).
pub fn fake_plugin(root: &Path, id: &str, ui: bool, pkg: bool) -> PathBuf {
    let dir = root.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("id: {id}\nversion: 0.0.1\n"),
    )
    .unwrap();
    if pkg {
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("pkg/main.go"), "package main\n\nfunc main() {}\n").unwrap();
    }
    if ui {
        std::fs::create_dir_all(dir.join("ui/node_modules")).unwrap();
        std::fs::write(dir.join("ui/package.json"), r#"{"scripts":{"dev":"vite"}}"#).unwrap();
    }
    dir
}

/// Builds the example plugin's binary into `out` (a Go module build; `scripts/setup.sh`
/// downloads its modules).
pub fn build_example_binary(out: &Path) -> PathBuf {
    let (_tmp, dir) = example_copy(false);
    let bin = out.join("hello-plugin-bin");
    let status = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg("./pkg")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "go build of the example failed");
    bin
}

/// A package manager pinned by `scripts/setup-test-tools.sh` under `target/pm-tools`:
/// `pnpm`, `yarn-classic`, `yarn-berry` or `bun`, with its executable `program`.
pub fn pm_tool(folder: &str, program: &str) -> PathBuf {
    let path = repo()
        .join("target/pm-tools")
        .join(folder)
        .join("bin")
        .join(program);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-test-tools.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A copy of the example's UI alone (no `pkg/`), without node modules or npm lockfile, with
/// the lockfile fixture `tests/fixtures/lockfiles/<fixture>` in its `ui/`.
pub fn ui_with_lockfile(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = example_copy(false);
    std::fs::remove_dir_all(dir.join("pkg")).unwrap();
    std::fs::remove_file(dir.join("go.mod")).unwrap();
    std::fs::remove_file(dir.join("go.sum")).unwrap();
    std::fs::remove_file(dir.join("ui/package-lock.json")).unwrap();
    copy_tree(
        &repo().join("tests/fixtures/lockfiles").join(fixture),
        &dir.join("ui"),
    );
    (tmp, dir)
}
