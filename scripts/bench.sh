#!/usr/bin/env bash
# Measures the dev loop on the example plugin (see benches/dev_loop.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/go-env.sh
cargo bench --bench dev_loop
