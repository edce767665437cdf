#!/usr/bin/env bash
# demo.sh — the README's first command: install what is missing, build in release, and segment the bundled
# sample frames with the bundled default model (masks and overlays in out/samples/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product condseg
.build/release/condseg segment --overlay --out out/samples samples/images
