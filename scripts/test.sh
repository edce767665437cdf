#!/usr/bin/env bash
# test.sh — the README's second command: install what is missing (libraries and test tools) and run the whole
# test suite in release mode (the kernels and the model tests are too slow unoptimised).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release -Xswiftc -enable-testing --skip-build
