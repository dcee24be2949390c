#!/usr/bin/env bash
# Installs what ovdev's example and test suite need on a fresh Debian machine, and prints the
# Go environment the example needs. Idempotent: skips what is already there.
#
#   Go 1.19 and go-plugin 1.0.1 from Debian's packages (offline GOPATH-mode builds),
#   pnpm from npm, and the example UI's node modules.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/hashicorp/go-plugin ] || need_apt+=(golang-github-hashicorp-go-plugin-dev)
[ -d /usr/share/gocode/src/google.golang.org/grpc ] || need_apt+=(golang-google-grpc-dev)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v pnpm >/dev/null 2>&1; then
  echo "setup: installing pnpm from npm" >&2
  npm install -g --no-audit --no-fund pnpm >/dev/null 2>&1
fi

if [ ! -d examples/hello-plugin/ui/node_modules/vite ]; then
  echo "setup: installing the example UI's node modules (npm install)" >&2
  # Not `npm ci`: npm 11 writes lockfiles without the other platforms' optional rollup
  # packages and then refuses them in `ci`; `install` accepts the lockfile as it is.
  (cd examples/hello-plugin/ui && npm install --no-audit --no-fund >/dev/null 2>&1)
fi
