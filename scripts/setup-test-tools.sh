#!/usr/bin/env bash
# Installs the package managers the test suite drives for real, each pinned and in a folder of
# its own under target/pm-tools (so yarn 1 and yarn 4 can sit side by side): pnpm, yarn 1
# (classic), yarn 4 (berry, the npm package @yarnpkg/cli-dist) and bun, all from the npm
# registry. Idempotent. The lockfiles in tests/fixtures/lockfiles were written by these
# versions (scripts/update-lockfiles.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/pm-tools

install_tool() { # folder, npm package@version, binary
  local dir="$tools/$1" package="${2%@*}"
  # bun's postinstall puts the real binary in place of a stub: install scripts must run.
  if ! "$dir/bin/$3" --version >/dev/null 2>&1; then
    echo "setup: installing $2 into $dir" >&2
    rm -rf "$dir"
    npm install -g --prefix "$dir" --no-audit --no-fund --allow-scripts="$package" "$2" >/dev/null
  fi
}

install_tool pnpm pnpm@12.21.0 pnpm
install_tool yarn-classic yarn@1.22.22 yarn
install_tool yarn-berry @yarnpkg/cli-dist@4.18.1 yarn
install_tool bun bun@1.4.5 bun

# The API's, the Dev Tools page's and the MCP server's tests: TypeScript (tsc --strict on the
# generated bindings) and playwright-core (drives the browser) from npm, schemathesis (fuzzing
# the API from its OpenAPI document) and the MCP Python SDK (a real MCP client) from PyPI in a
# virtualenv, all pinned; Chromium from Debian's
# package (never a browser download).
api=target/api-tools
if ! "$api/node_modules/.bin/tsc" --version 2>/dev/null | grep -q "7.0.2" \
  || ! grep -q '"version": "1.65.1"' "$api/node_modules/playwright-core/package.json" 2>/dev/null; then
  echo "setup: installing typescript@7.0.2 and playwright-core@1.65.1 into $api" >&2
  mkdir -p "$api"
  npm install --prefix "$api" --no-audit --no-fund --no-save typescript@7.0.2 playwright-core@1.65.1 >/dev/null
fi
if ! "$api/venv/bin/schemathesis" --version 2>/dev/null | grep -q "4.32.5" \
  || ! "$api/venv/bin/python" -c 'import importlib.metadata as m; assert m.version("mcp") == "2.3.0"' 2>/dev/null; then
  echo "setup: installing schemathesis 4.32.5 and mcp 2.3.0 into $api/venv" >&2
  if ! python3 -m venv "$api/venv" >/dev/null 2>&1; then
    apt-get install -y python3-venv >/dev/null
    python3 -m venv "$api/venv"
  fi
  "$api/venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5 mcp==2.3.0
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium from Debian" >&2
  apt-get update >/dev/null
  apt-get install -y chromium >/dev/null
fi
