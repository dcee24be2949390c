#!/usr/bin/env bash
# Measures the data plane under a log flood and at rest (benches/data_plane.rs), the dev loop
# and the plugin host on the example plugin (benches/dev_loop.rs, benches/plugin_host.rs, the
# latter next to go-plugin's own Go host in benches/gohost), and external mode
# (benches/external.rs), save → new plugin serving step by step (benches/save_to_serving.rs),
# and the local API under a flood (benches/api.rs; needs wrk: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
(cd benches/gohost && go mod download)
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo bench --bench data_plane --bench dev_loop --bench plugin_host --bench external --bench save_to_serving --bench api
