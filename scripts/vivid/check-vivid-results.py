#!/usr/bin/env python3
"""check-vivid-results.py: judges what scripts/vivid/guest-tests.sh produced inside the vivid VM.

Checks: both captures wrote all frames at the requested size, and every frame shows vivid's default
75 % colour bars (white, yellow, cyan, green, magenta, red, blue, black from left to right, judged on the
bottom tenth, below vivid's on-screen text); the live run dropped and counted a buffer flagged
V4L2_BUF_FLAG_ERROR, recovered from a fatal streaming error (EIO/POLLERR: overlay cleared, "no video",
reopen) and stopped cleanly on SIGTERM (exit 0, JSON statistics); the live run whose device was unplugged
(vivid's Disconnect) did the same and resumed when the node came back; `--v4l2-out` wrote the overlaid\nstream to vivid's output node. Prints one line per check;
exit status 1 if any check failed.
"""
import json
import os
import sys

import cv2
import numpy as np

results = sys.argv[1]
failures = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def read(name, default=""):
    path = os.path.join(results, name)
    return open(path).read() if os.path.exists(path) else default


def rc(name):
    text = read(name + ".rc").strip()
    return int(text) if text.lstrip("-").isdigit() else None


BARS = ["white", "yellow", "cyan", "green", "magenta", "red", "blue", "black"]


def bar_name(rgb):
    high = [value > 120 for value in rgb]
    low = [value < 70 for value in rgb]
    table = {(1, 1, 1): "white", (1, 1, 0): "yellow", (0, 1, 1): "cyan", (0, 1, 0): "green",
             (1, 0, 1): "magenta", (1, 0, 0): "red", (0, 0, 1): "blue", (0, 0, 0): "black"}
    if not all(h or l for h, l in zip(high, low)):
        return "unclear%s" % (tuple(int(v) for v in rgb),)
    return table[tuple(int(h) for h in high)]


def colour_bars(path):
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        return None
    rgb = image[..., ::-1]
    height, width = rgb.shape[:2]
    names = []
    for index in range(8):
        left, right = index * width // 8, (index + 1) * width // 8
        margin = max(1, (right - left) // 4)
        region = rgb[height * 9 // 10: height - 2, left + margin: right - margin].reshape(-1, 3)
        names.append(bar_name(np.median(region, axis=0)))
    return names, (width, height)


print(read("guest-tests.log"))
for name, size in [("cap-yuyv-640x480", (640, 480)), ("cap-nv12-320x180", (320, 180))]:
    check(rc(name) == 0, f"{name}: condseg capture exit status {rc(name)} (log: {read(name + '.log').strip()[-300:]})")
    folder = os.path.join(results, name)
    frames = sorted(f for f in os.listdir(folder) if f.endswith(".png")) if os.path.isdir(folder) else []
    check(len(frames) == 6, f"{name}: {len(frames)} of 6 frames written")
    for frame in frames:
        found = colour_bars(os.path.join(folder, frame))
        check(found is not None and found[1] == size and found[0] == BARS,
              f"{name}/{frame}: size {found and found[1]}, bars {found and found[0]}")
    try:
        summary = json.loads(read(name + ".json") or "{}")
    except ValueError:
        summary = {}
    check(summary.get("frames") == 6 and summary.get("width") == size[0], f"{name}: JSON summary {summary}")

# Live run with an injected DQBUF error, stopped by SIGTERM.
log = read("live-dqbuf.log")
check(rc("inject-dqbuf") == 0, "DQBUF error injected through the control (" + read("controls-set.log").strip()[-200:] + ")")
check(rc("live-dqbuf") == 0, f"live (DQBUF error): exit status {rc('live-dqbuf')} after SIGTERM, expected 0")
check("signal 15: stopping" in log, "live (DQBUF error): SIGTERM seen and handled")
try:
    stats = json.loads(read("live-dqbuf.json") or "{}")
except ValueError:
    stats = {}
check(stats.get("segmented", 0) >= 5, f"live (DQBUF error): segmented {stats.get('segmented')} frames")
check("dropped corrupt frame" in log and "V4L2_BUF_FLAG_ERROR" in log and stats.get("corrupt", 0) >= 1,
      f"live (DQBUF error): the flagged buffer was dropped and counted (corrupt {stats.get('corrupt')})")
check(rc("inject-fatal") == 0, "fatal streaming error injected through the control")
check("device lost" in log and "overlay cleared" in log, "live (EIO): 'no video' reported and overlay cleared")
check("video back on /dev/video0" in log and stats.get("reconnects", 0) >= 1, "live (EIO): device reopened, streaming resumed")
lines = [line for line in log.splitlines() if line.strip()]
check(bool(lines) and all(line.startswith("[condseg ") and "model=" in line and "calib=" in line for line in lines),
      "live: every log line carries version, model hash and calibration hash")
overlays = os.listdir(os.path.join(results, "live-dqbuf")) if os.path.isdir(os.path.join(results, "live-dqbuf")) else []
check(len(overlays) >= 1, f"live (DQBUF error): {len(overlays)} overlay snapshots")
if overlays:
    image = cv2.imread(os.path.join(results, "live-dqbuf", sorted(overlays)[0]))[..., ::-1]
    # The fake segmenter marks bright bars; the overlay tints them green and draws a yellow contour: the
    # white bar's centre is no longer grey (G above R and B), the black bar's is untouched.
    height, width = image.shape[:2]
    white = np.median(image[height // 2:, width // 32: width // 8 - width // 32].reshape(-1, 3), axis=0)
    black = np.median(image[height // 2:, 7 * width // 8 + width // 32: width - width // 32].reshape(-1, 3), axis=0)
    check(white[1] > white[0] + 30 and white[1] > white[2] + 30, f"live overlay tints the bright bar (white bar median {white})")
    check(max(black) < 40, f"live overlay leaves the dark bar alone (black bar median {black})")

# Live run whose device was unplugged and came back (vivid re-registers the node when streaming stops).
log = read("live-disconnect.log")
check(rc("inject-disconnect") == 0, "disconnect injected through the control")
check(rc("live-disconnect") == 0, f"live (disconnect): exit status {rc('live-disconnect')} after SIGTERM, expected 0")
check("no video:" in log and "overlay cleared" in log, "live (disconnect): 'no video' reported and overlay cleared")
check("video back on /dev/video0" in log, "live (disconnect): device reopened and streaming resumed")
try:
    stats = json.loads(read("live-disconnect.json") or "{}")
except ValueError:
    stats = {}
check(stats.get("device_faults", 0) >= 1 and stats.get("reconnects", 0) >= 1,
      f"live (disconnect): statistics {{faults {stats.get('device_faults')}, reconnects {stats.get('reconnects')}}}")
lines = log.splitlines()
back = next((i for i, line in enumerate(lines) if "video back on" in line), None)
check(back is not None and stats.get("segmented", 0) >= 5, f"live (disconnect): segmented {stats.get('segmented')} frames in all")
# The overlaid stream written to vivid's video output node.
log = read("live-v4l2out.log")
try:
    stats = json.loads(read("live-v4l2out.json") or "{}")
except ValueError:
    stats = {}
check(rc("live-v4l2out") == 0 and stats.get("displayed", 0) >= 5,
      f"live --v4l2-out: exit status {rc('live-v4l2out')}, {stats.get('displayed')} frames handed to the /dev/video1 sink (mmap streaming, no error) ({log.strip()[-200:]})")
for name in ("live-dqbuf", "live-disconnect"):
    try:
        stats = json.loads(read(name + ".json") or "{}")
        print(f"figures {name}: captured {stats['captured']} segmented {stats['segmented']} "
              f"{stats['captured_per_s']} captured/s {stats['segmented_per_s']} segmented/s latency median "
              f"{stats['latency_ms']['median']} ms p99 {stats['latency_ms']['p99']} ms")
    except (ValueError, KeyError):
        pass

print(f"vivid: {len(failures)} check(s) failed" if failures else "vivid: all checks passed")
sys.exit(1 if failures else 0)
