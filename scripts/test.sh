#!/usr/bin/env bash
# test.sh — the README's second command: install what is missing (libraries and test tools), run the whole
# test suite in release mode (the kernels and the model tests are too slow unoptimised), then every fuzz target
# for a short bound (CONDSEG_FUZZ_SECONDS each, default 10) from the committed seeds: a crash, leak, hang or
# out-of-memory in any parser fails the command. The fuzz build is a second, sanitizer build in .build-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
swift build -c release --build-tests -Xswiftc -enable-testing
swift test -c release -Xswiftc -enable-testing --skip-build
scripts/fuzz.sh all "${CONDSEG_FUZZ_SECONDS:-10}"
