#!/usr/bin/env bash
# Rewrites the lockfile fixtures in tests/fixtures/lockfiles (one per package manager the tests
# drive) for the example UI's package.json. Run after changing that package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-tools.sh
root=$PWD
tools=$root/target/pm-tools
ui=$root/examples/hello-plugin/ui
out=$root/tests/fixtures/lockfiles

lock() { # fixture name, lockfile(s) to keep, command...
  local name=$1 files=$2; shift 2
  local work; work=$(mktemp -d)
  cp "$ui/package.json" "$work/"
  [ -d "$out/$name" ] && cp -a "$out/$name/." "$work/" && rm -f $(cd "$out/$name" && ls $files 2>/dev/null | sed "s|^|$work/|")
  (cd "$work" && "$@" >/dev/null)
  mkdir -p "$out/$name"
  for f in $files; do cp "$work/$f" "$out/$name/$f"; done
  rm -rf "$work"
  echo "wrote $out/$name: $files"
}

lock pnpm pnpm-lock.yaml "$tools/pnpm/bin/pnpm" install --lockfile-only
lock yarn-classic yarn.lock "$tools/yarn-classic/bin/yarn" install --ignore-scripts
lock yarn-berry yarn.lock "$tools/yarn-berry/bin/yarn" install --mode=update-lockfile
lock bun bun.lock "$tools/bun/bin/bun" install --lockfile-only
