#!/usr/bin/env bash
# One command from a fresh clone to a running livepoll: installs what is missing (first run
# only), builds the release binary, and runs `livepoll serve` with any arguments given.
#
#   scripts/serve.sh [serve flags...]      e.g. scripts/serve.sh --bind 0.0.0.0:8080
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "serve: building livepoll (release; the first build takes a few minutes)..." >&2
cargo build --release --locked
exec ./target/release/livepoll serve "$@"
