#!/usr/bin/env bash
# Installs what livepoll needs on a fresh machine, with visible progress, only when missing:
# system packages (cmake, curl headers; for the tests chromium + chromedriver, rsvg-convert, zbarimg,
# haproxy) and the pinned Tansu broker (cached in ~/.cache/livepoll, outside the repo).
#
#   scripts/setup.sh [--test]     --test also installs what the test suite needs
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
say() { printf 'setup: %s\n' "$*" >&2; }

need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
[ -f /usr/include/curl/curl.h ] || [ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || need_pkgs+=(libcurl4-openssl-dev)
command -v c++ >/dev/null 2>&1 || need_pkgs+=(g++)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_pkgs+=(chromium-driver)
  # the QR code test rasterises /qr.svg and decodes it like a phone would
  command -v rsvg-convert >/dev/null 2>&1 || need_pkgs+=(librsvg2-bin)
  command -v zbarimg >/dev/null 2>&1 || need_pkgs+=(zbar-tools)
  # the cluster tests and scripts/cluster.sh put haproxy in front of several nodes
  command -v haproxy >/dev/null 2>&1 || need_pkgs+=(haproxy)
fi

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    say "installing system packages: ${need_pkgs[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_pkgs[@]}"
  else
    say "please install: ${need_pkgs[*]} (no apt-get here)"
    exit 1
  fi
fi

command -v cargo >/dev/null 2>&1 || { say "Rust is required: https://rustup.rs"; exit 1; }
bash "$HERE/kafka.sh" install

# The accessibility tests inject axe-core into the pages (test-only: never served, never committed).
AXE_VERSION="${AXE_VERSION:-4.10.2}"
AXE_DIR="${LIVEPOLL_CACHE:-$HOME/.cache/livepoll}/axe-core"
if [ "${1:-}" = "--test" ] && [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
  command -v npm >/dev/null 2>&1 || { say "npm is required for the accessibility tests (apt-get install npm)"; exit 1; }
  say "installing axe-core $AXE_VERSION into $AXE_DIR"
  mkdir -p "$AXE_DIR"
  npm install --prefix "$AXE_DIR" --no-save --no-audit --no-fund "axe-core@$AXE_VERSION"
fi
say "ready"
