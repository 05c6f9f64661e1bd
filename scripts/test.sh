#!/usr/bin/env bash
# One command from a fresh clone to the whole test suite: installs what is missing (first run
# only), then runs unit tests and the integration tests, which start a real bundled broker
# through scripts/kafka.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "test: formatting and lint checks..." >&2
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
echo "test: running the test suite..." >&2
cargo test --locked -- --test-threads=4
