#!/usr/bin/env bash
# Runs the whole test suite: unit, actor-level and real-process tests (real go build of the
# example Go module, real Vite through npm, pnpm, yarn 1, yarn 4 and bun, real signals).
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup-test-tools.sh
# Real-process tests start Vite and go build; two at a time keeps a 2-core machine responsive.
cargo test --workspace -- --test-threads="${OVDEV_TEST_THREADS:-2}"
