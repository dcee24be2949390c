#!/usr/bin/env bash
# Measures the data plane under a log flood and at rest (benches/data_plane.rs), the dev loop
# and the plugin host on the example plugin (benches/dev_loop.rs, benches/plugin_host.rs, the
# latter next to go-plugin's own Go host in benches/gohost), and external mode
# (benches/external.rs), and save → new plugin serving step by step (benches/save_to_serving.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
(cd benches/gohost && go mod download)
cargo bench --bench data_plane --bench dev_loop --bench plugin_host --bench external --bench save_to_serving
