#!/usr/bin/env bash
# Runs `ovdev dev` on the bundled example plugin (installing what is missing first).
# Extra arguments go to `ovdev dev`, e.g. scripts/run-example.sh --json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --quiet --bin ovdev
exec target/debug/ovdev dev "$@" examples/hello-plugin
