#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer targets (Fuzz/Targets/*, with AddressSanitizer) and fuzzes them.
#   scripts/fuzz.sh TARGET SECONDS     one target for SECONDS (a campaign: hours are fine)
#   scripts/fuzz.sh all SECONDS        every target in turn (scripts/test.sh runs this with a short bound)
#   scripts/fuzz.sh list               the target names
#   scripts/fuzz.sh --help             this text
# Targets: safetensors model calibration-table image y4m folder-replay frame-conversion zip checkpoint.
# One `swift build` builds every target at once: with CONDSEG_FUZZ=1 the package holds only the fuzz executables
# and the modules they link (Package.swift). It needs nothing beyond the Swift toolchain (libFuzzer's runtime
# ships with its clang) and the system libraries the package already uses.
# Each run starts from the committed seeds (Fuzz/corpus/TARGET) plus what earlier runs on this machine found
# (.build-fuzz/corpus/TARGET, never committed), uses Fuzz/dict/TARGET.dict when present, and stops at the first
# crash, leak, timeout (10 s per input) or out-of-memory (2 GB), leaving the input in .build-fuzz/artifacts/TARGET/.
# A crash makes this script exit 1; add the input to Fuzz/regressions/TARGET/ once fixed.
# Environment: CONDSEG_FUZZ_JOBS (parallel fuzzing processes, default 1).
# Exit status: 0 when every run ends without a finding, 1 on a crash or a failed build, 64 for bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(safetensors model calibration-table image y4m folder-replay frame-conversion zip checkpoint)
usage() { sed -n '3,5p' "$0" | sed 's/^# \{0,1\}//' >&2; echo "  (scripts/fuzz.sh --help for more)" >&2; exit 64; }
[[ $# -ge 1 ]] || usage
if [[ "$1" == -h || "$1" == --help ]]; then
    awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0
fi
if [[ "$1" == list ]]; then printf '%s\n' "${targets[@]}"; exit 0; fi
[[ $# -eq 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || usage
if [[ "$1" == all ]]; then selected=("${targets[@]}"); else
    found=0; for t in "${targets[@]}"; do [[ "$t" == "$1" ]] && found=1; done
    ((found)) || { echo "fuzz.sh: unknown target '$1' (scripts/fuzz.sh list)" >&2; exit 64; }
    selected=("$1")
fi
seconds=$2
scratch=.build-fuzz
build() {
    local log="$scratch/build.log"
    mkdir -p "$scratch"
    echo "building the fuzz targets (log: $log)"
    if ! CONDSEG_FUZZ=1 swift build -c release --scratch-path "$scratch" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address \
        >"$log" 2>&1; then
        grep -E "error" "$log" | head -5 >&2
        echo "fuzz.sh: building the fuzz targets failed (log: $log)" >&2
        exit 1
    fi
}
build
status=0
for target in "${selected[@]}"; do
    work="$scratch/corpus/$target"; artifacts="$scratch/artifacts/$target"
    mkdir -p "$work" "$artifacts"
    dict=(); [[ -f "Fuzz/dict/$target.dict" ]] && dict=(-dict="Fuzz/dict/$target.dict")
    log="$scratch/fuzz-$target.log"
    # With several jobs libFuzzer writes each worker's log to fuzz-N.log in the working folder.
    jobs=(); [[ "${CONDSEG_FUZZ_JOBS:-1}" -gt 1 ]] && jobs=(-jobs="$CONDSEG_FUZZ_JOBS" -workers="$CONDSEG_FUZZ_JOBS")
    echo "fuzzing $target for $seconds s (log: $log)"
    set +e
    SWIFT_BACKTRACE=enable=no "$scratch/release/fuzz-$target" "$work" "Fuzz/corpus/$target" "${dict[@]}" -max_total_time="$seconds" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
        "${jobs[@]}" -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    logs=("$log"); ((${#jobs[@]})) && { cat fuzz-*.log >>"$log" 2>/dev/null; rm -f fuzz-*.log; }
    runs=$(grep -h "stat::number_of_executed_units" "$log" | awk '{s+=$2} END {print s+0}')
    cov=$(grep -ho "cov: [0-9]*" "$log" | sort -t' ' -k2 -n | tail -1 | awk '{print $2}')
    if [[ $rc -ne 0 ]]; then
        echo "  $target: FAILED after $runs executions (exit $rc); inputs in $artifacts/:" >&2
        grep -E "ERROR|==[0-9]+==|Fatal error|SUMMARY" "$log" | head -5 >&2
        status=1
    else
        echo "  $target: $runs executions, coverage $cov edges, no crash"
    fi
done
exit $status
