#!/usr/bin/env bash
# soak.sh — a long unattended `condseg live` run with faults, sampling the process's memory and descriptors.
#   scripts/soak.sh [FRAMES] [FAULT_EVERY] [OUT_DIR]     defaults: 100000 frames, a fault every 50 polls, .build/soak
# FRAMES and FAULT_EVERY are positive integers. The binary is $CONDSEG_TEST_BINARY when set (e.g. a copy kept
# aside, so that builds during the run do not replace it), else .build/release/condseg, built first
# (`swift build -c release --product condseg`) only when it is missing: rebuild it yourself after changing the code.
# The source is a camera simulated in memory (`--device simulated:640x480`, YUYV) whose seeded schedule injects
# every fault the capture must survive (timeouts, partial and flagged buffers, POLLERR, DQBUF errors, resolution
# changes, unplug and return); the segmenter is the brightness test segmenter (`--fake-segmenter`), so the run
# measures the pipeline, not the model. Overlay snapshots go to OUT_DIR/overlays every 5000 frames.
# OUT_DIR/live.log is the run's stderr: a line for every fault and recovery plus the counters every 60 s, so it is
# large (100-200 MB for 100,000 frames at the default fault rate, about 200 bytes per fault; faults come with
# polls, not frames, so a loaded machine, which polls more per segmented frame, writes more).
# About every second (less often when the machine is loaded) the resident set (VmRSS) and the open descriptors of
# the process are appended to OUT_DIR/samples.csv (seconds since start, KiB, descriptors); at the end the run's
# --json statistics are in OUT_DIR/stats.json and a summary is printed, one ok/FAIL line per check:
# RSS and descriptors after warm-up (the first 10% of the run, at least its first 10 s; at least 10 samples must
# follow it, so a run of a few seconds is too short to judge) must stay within 4 MiB and 0 of their
# warm-up maximum, every fault the camera injected (its tally is in the JSON) must be counted and every device
# fault recovered, every captured frame must end segmented, dropped or discarded with at most 4 in flight at
# once (the frame queue does not grow), and the run must end normally (exit status 0).
# Exit status: 0 when every check passes, 1 when one fails, 64 for bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '3p' "$0" | sed 's/^# \{0,1\}//' >&2; echo "  (scripts/soak.sh --help for more)" >&2; exit 64; }
[[ $# -le 3 ]] || usage
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0; }
frames=${1:-100000}; every=${2:-50}; out=${3:-.build/soak}
for value in "$frames" "$every"; do
    [[ "$value" =~ ^[0-9]+$ && ! "$value" =~ ^0+$ ]] || {
        echo "soak.sh: FRAMES and FAULT_EVERY must be positive integers, got '$value'" >&2; usage; }
done
if [[ -n "${CONDSEG_TEST_BINARY:-}" ]]; then
    binary=$CONDSEG_TEST_BINARY
    [[ -x "$binary" ]] || { echo "soak.sh: CONDSEG_TEST_BINARY=$binary is not an executable file" >&2; exit 64; }
else
    binary=.build/release/condseg
    if [[ ! -x "$binary" ]]; then
        echo "building condseg (release)…"
        nice -n 10 swift build -c release --product condseg
    fi
fi
mkdir -p "$out/overlays"
rm -f "$out"/overlays/*.png "$out/samples.csv" "$out/stats.json"
echo "soak: $binary live, $frames frames, a fault every $every polls; output in $out/"
"$binary" live --device simulated:640x480 --simulate-faults "$every" --fake-segmenter --frames "$frames" \
    --overlay-out "$out/overlays" --every 5000 --stats-interval 60 --json >"$out/stats.json" 2>"$out/live.log" &
pid=$!
echo "seconds,rss_kib,fds" >"$out/samples.csv"
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
    [[ -n "$rss" ]] && echo "$(( $(date +%s) - start )),$rss,$fds" >>"$out/samples.csv"
    sleep 1
done
set +e; wait "$pid"; rc=$?; set -e
python3 - "$out" "$rc" <<'PY'
import csv, json, sys
out, rc = sys.argv[1], int(sys.argv[2])

def fail_at_start(reason):
    # The run produced no statistics to check: say why and show the end of its log instead.
    how = f"exited {rc}" if rc < 128 else f"exited {rc} (signal {rc - 128})"
    print(f"soak: FAIL — condseg live {how}{reason}")
    try:
        lines = open(out + "/live.log", errors="replace").read().splitlines()
    except OSError:
        lines = []
    print(f"last lines of {out}/live.log:" if lines else f"{out}/live.log is empty")
    for line in lines[-10:]: print("  " + line)
    sys.exit(1)

try:
    stats = json.load(open(out + "/stats.json"))
except (OSError, ValueError):
    fail_at_start(f"; {out}/stats.json holds no statistics")
if not isinstance(stats, dict): fail_at_start(f"; {out}/stats.json is not a statistics object")

rows = [(int(a), int(b), int(c)) for a, b, c in list(csv.reader(open(out + "/samples.csv")))[1:]]
print(f"exit status {rc}; {rows[-1][0] if rows else 0} s; " + ", ".join(f"{k} {stats.get(k)}" for k in
      ["captured", "segmented", "dropped", "discarded", "corrupt", "timeouts", "device_faults", "reconnects",
       "format_changes", "in_flight", "in_flight_max"]) +
      f", reconnect_wait_s {stats.get('reconnect_wait_s')}"
      f"{' (simulated)' if stats.get('reconnect_wait_simulated') else ''}" +
      f", segmented_per_s {stats.get('segmented_per_s')}")
memory_checks = []
if rows:
    # Warm-up: the first 10% of the run, and at least its first 10 s (the first samples are taken while the
    # process is still loading). Memory is judged only with at least 10 samples after it.
    warm_until = max(rows[-1][0] / 10, 10)
    warm = max(1, sum(1 for r in rows if r[0] < warm_until))
    rss_warm = max(r[1] for r in rows[:warm]); rss_after = max(r[1] for r in rows[warm:]) if rows[warm:] else rss_warm
    fd_warm = max(r[2] for r in rows[:warm]); fd_after = max(r[2] for r in rows[warm:]) if rows[warm:] else fd_warm
    print(f"RSS: warm-up max {rss_warm} KiB, after warm-up max {rss_after} KiB, last {rows[-1][1]} KiB "
          f"({len(rows)} samples, the first {warm} the warm-up)")
    print("at every 10% of the run: " + "; ".join(
          f"t={rows[i][0]} s: {rows[i][1]} KiB, {rows[i][2]} fds"
          for i in sorted({min(len(rows) - 1, len(rows) * p // 10) for p in range(11)})))
    if len(rows) - warm < 10:
        memory_checks = [(f"memory judged on at least 10 samples after the warm-up (got {len(rows) - warm} in a "
                          f"{rows[-1][0]} s run: give it more frames)", False)]
    else:
        memory_checks = [
            (f"RSS growth after warm-up {rss_after - rss_warm} KiB <= 4096 KiB", rss_after - rss_warm <= 4096),
            (f"descriptors after warm-up {fd_after} <= warm-up maximum {fd_warm}", fd_after <= fd_warm),
        ]
else:
    memory_checks = [("memory and descriptors sampled (the run ended before the first sample)", False)]
# Every fault the simulated camera injected must be counted by the pipeline, and every device fault recovered
# (the run may end while the last one is being recovered).
device = stats.get("simulated_device", {}); injected = device.get("injected", {})
def c(key): return stats.get(key, -1)
checks = [
    (f"exit status {rc} == 0", rc == 0),
    *memory_checks,
    ("timeouts counted", c("timeouts") == injected.get("timeouts")),
    ("partial and flagged frames counted as corrupt", c("corrupt") == injected.get("partial_frames", 0) + injected.get("flagged_frames", 0)),
    ("poll errors, DQBUF errors and unplugs counted as device faults",
     c("device_faults") == injected.get("poll_errors", 0) + injected.get("dequeue_errors", 0) + injected.get("unplugs", 0)),
    ("device faults recovered", c("device_faults") - 1 <= c("reconnects") <= c("device_faults")),
    ("resolution changes counted", c("format_changes") == injected.get("resolution_changes")),
    ("every captured frame segmented, dropped or discarded", c("captured") == c("segmented") + c("dropped") + c("discarded")),
    ("no frame left in flight", c("in_flight") == 0),
    (f"frames in flight at most {c('in_flight_max')} <= 4 (the latest-wins bound)", 0 < c("in_flight_max") <= 4),
    ("no buffer-protocol violation", device.get("protocol_violations") == 0),
]
for name, ok in checks: print(("ok   " if ok else "FAIL ") + name)
print("injected: " + json.dumps(injected, sort_keys=True))
ok = all(ok for _, ok in checks)
print("soak: " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
