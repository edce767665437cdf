#!/usr/bin/env bash
# demo.sh — the README's first command: install what is missing, build in release, then run the main jobs on the
# bundled default model and sample frames:
#   1. segment the sample images (masks + overlays in out/samples/), printing how fast it ran;
#   2. replay the same frames through the live pipeline (what runs on an endoscope processor: capture, inference
#      and output threads, latest frame wins), overlays in out/live/, with latency and frame statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product condseg
.build/release/condseg segment --overlay --out out/samples samples/images
.build/release/condseg live --source samples/images --no-pace --overlay-out out/live --every 1 --stats
echo "overlays: out/samples/*-overlay.png (segment) and out/live/ (live replay)"
