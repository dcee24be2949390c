#!/usr/bin/env bash
# Installs what ovdev's example plugin needs on a fresh Debian machine. Idempotent: skips what
# is already there.
#
#   Go (1.21 or newer must be on PATH; the go command fetches the toolchain that go.mod asks
#   for through the Go module proxy), the example's Go modules (`go mod download`), Node.js and
#   npm from Debian when missing, pnpm from npm, and the example UI's node modules (`npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not installed: install Go 1.21 or newer (https://go.dev/doc/install) and put it on PATH" >&2
  exit 1
fi
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if ! [ "$go_minor" -ge 21 ] 2>/dev/null; then
  echo "setup: $(go env GOVERSION) is too old: the example needs Go 1.21 or newer (https://go.dev/doc/install)" >&2
  exit 1
fi

need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v pnpm >/dev/null 2>&1; then
  echo "setup: installing pnpm 12 from npm" >&2
  npm install -g --no-audit --no-fund pnpm@12 >/dev/null 2>&1
fi

echo "setup: downloading the example's Go modules (go mod download)" >&2
(cd examples/hello-plugin && go mod download)

# npm keeps a copy of what it installed in node_modules/.package-lock.json: reinstall when the
# lockfile changed since.
ui=examples/hello-plugin/ui
if [ ! -f $ui/node_modules/.package-lock.json ] || [ $ui/package-lock.json -nt $ui/node_modules/.package-lock.json ]; then
  echo "setup: installing the example UI's node modules (npm ci)" >&2
  (cd $ui && npm ci --no-audit --no-fund >/dev/null)
fi
