#!/usr/bin/env python3
"""train_compare.py — side by side: ConDSeg training-step throughput of PyTorch (benchmarks/torch_condseg.py, the
spec-faithful PyTorch peer) and of our trainer (`condseg bench --train`), alternating, medians of several rounds.

Usage:
  python3 benchmarks/train_compare.py [--condseg .build/release/condseg] [--threads 1 2] [--rounds 3] [--steps 3]
         [--stage 2] [--batch 8] [--size 256] [--encoder resnet18] [--width 64] [--mid 256] [--json]
         [--condseg-extra "ARGS"] [--torch-extra "ARGS"]

For each thread count and each round it runs, one after the other (so both see the same machine state):
  python3 benchmarks/torch_condseg.py --time --stage S --batch B --threads T --steps N --json [config]
  CONDSEG bench --train --stage S --batch B --threads T --iterations N --json [config]
where [config] is whichever of --encoder/--width/--mid/--size were given. Each prints one JSON object
{"peer": ..., "step_ms": {"median": ..., "p90": ..., "samples": [...]}, "images_per_second": ...}; this script takes
the median over rounds of each side's median step time and reports images/s and the ratio condseg/pytorch step
time (< 1: condseg is faster). Absolute times drift on a shared machine: read the ratios; report 1 thread first.
The default configuration (resnet18 W64 M256, 256×256, batch 8) takes ~1 min per PyTorch step on one core here:
try a small one first, e.g. --size 64 --width 16 --steps 2 --rounds 1.
"""
import argparse, json, os, shlex, shutil, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd, peer):
    """Runs cmd, returns its JSON (the last line of stdout that parses as an object with step_ms); exits clearly on failure."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        sys.exit(f"error: cannot run {peer}: {shlex.join(cmd)}\n  {e}")
    if p.returncode != 0:
        sys.exit(f"error: {peer} failed (exit status {p.returncode}): {shlex.join(cmd)}\n"
                 f"--- stderr ---\n{p.stderr.strip()}\n--- stdout ---\n{p.stdout.strip()}")
    for line in reversed(p.stdout.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            out = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(out, dict) and isinstance(out.get("step_ms"), dict) and "median" in out["step_ms"]:
            if out.get("peer") not in (None, peer):
                sys.exit(f"error: {shlex.join(cmd)} reported peer {out.get('peer')!r}, expected {peer!r}")
            out["_wall_s"] = time.perf_counter() - t0
            return out
    # the whole stdout may be one pretty-printed object
    try:
        out = json.loads(p.stdout)
        if isinstance(out.get("step_ms"), dict) and "median" in out["step_ms"]:
            out["_wall_s"] = time.perf_counter() - t0
            return out
    except (json.JSONDecodeError, AttributeError):
        pass
    sys.exit(f"error: {peer} printed no JSON with step_ms.median: {shlex.join(cmd)}\n--- stdout ---\n{p.stdout.strip()}")


def config_args(a):
    out = []
    for k in ("encoder", "width", "mid", "size"):
        v = getattr(a, k)
        if v is not None:
            out += [f"--{k}", str(v)]
    return out


def check_agreement(t, torch_out, ours_out, batch):
    """Both sides must have measured the same thing (where our JSON says so)."""
    for key, want in (("batch", batch), ("threads", t)):
        for name, o in (("pytorch", torch_out), ("condseg", ours_out)):
            if key in o and o[key] != want:
                sys.exit(f"error: {name} reports {key} {o[key]}, expected {want}")
    for key in ("stage", "size", "encoder", "width", "mid"):
        if key in torch_out and key in ours_out and torch_out[key] != ours_out[key]:
            sys.exit(f"error: the two sides measured different configurations: {key} pytorch {torch_out[key]} "
                     f"vs condseg {ours_out[key]} (pass --{key} explicitly)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--condseg", default=".build/release/condseg", help="our binary")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per run (each side also does one warm-up step)")
    ap.add_argument("--stage", type=int, choices=(1, 2), default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int)
    ap.add_argument("--encoder", choices=("resnet18", "resnet34", "resnet50"))
    ap.add_argument("--width", type=int)
    ap.add_argument("--mid", type=int)
    ap.add_argument("--condseg-extra", default="", help="extra arguments for condseg bench (one string)")
    ap.add_argument("--torch-extra", default="", help="extra arguments for torch_condseg.py (one string)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.rounds < 1 or a.steps < 1:
        ap.error("--rounds and --steps must be positive")
    binary = a.condseg if os.sep in a.condseg else shutil.which(a.condseg)
    if not binary or not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        sys.exit(f"error: --condseg {a.condseg}: no such executable (build it: swift build -c release)")
    cfg = config_args(a)
    common = ["--stage", str(a.stage), "--batch", str(a.batch)]
    results = {}
    for t in a.threads:
        torch_cmd = [sys.executable, os.path.join(HERE, "torch_condseg.py"), "--time", *common, "--threads", str(t),
                     "--steps", str(a.steps), "--json", *cfg, *shlex.split(a.torch_extra)]
        ours_cmd = [a.condseg, "bench", "--train", *common, "--threads", str(t), "--iterations", str(a.steps), "--json",
                    *cfg, *shlex.split(a.condseg_extra)]
        peer_ms, ours_ms, rounds = [], [], []
        for r in range(a.rounds):
            p = run_json(torch_cmd, "pytorch")
            o = run_json(ours_cmd, "condseg")
            check_agreement(t, p, o, a.batch)
            peer_ms.append(p["step_ms"]["median"]); ours_ms.append(o["step_ms"]["median"])
            rounds.append({"pytorch": p["step_ms"], "condseg": o["step_ms"]})
            print(f"threads {t} round {r + 1}/{a.rounds}: pytorch {peer_ms[-1]:.1f} ms/step, condseg {ours_ms[-1]:.1f} ms/step "
                  f"(ratio {ours_ms[-1] / peer_ms[-1]:.3f}; wall {p['_wall_s']:.0f} s + {o['_wall_s']:.0f} s)", file=sys.stderr)
        pm, om = statistics.median(peer_ms), statistics.median(ours_ms)
        results[t] = {"pytorch_step_ms": pm, "condseg_step_ms": om,
                      "pytorch_images_per_second": a.batch * 1000 / pm, "condseg_images_per_second": a.batch * 1000 / om,
                      "ratio_condseg_over_pytorch": om / pm, "rounds": rounds}
    desc = {"stage": a.stage, "batch": a.batch, "size": a.size or 256, "encoder": a.encoder or "resnet18",
            "width": a.width or 64, "mid": a.mid or 256, "steps": a.steps, "rounds": a.rounds}
    if a.json:
        print(json.dumps({"config": desc, "threads": {str(t): r for t, r in results.items()}}, indent=2))
        return 0
    print(f"training step, stage {a.stage}: {desc['encoder']} W{desc['width']} M{desc['mid']}, {desc['size']}x{desc['size']}, "
          f"batch {a.batch}; medians over {a.rounds} round(s) of each side's median of {a.steps} step(s)")
    print(f"{'threads':>7s} {'pytorch ms':>11s} {'img/s':>7s} {'condseg ms':>11s} {'img/s':>7s} {'condseg/pytorch':>16s}")
    for t, r in results.items():
        print(f"{t:7d} {r['pytorch_step_ms']:11.1f} {r['pytorch_images_per_second']:7.3f} {r['condseg_step_ms']:11.1f} "
              f"{r['condseg_images_per_second']:7.3f} {r['ratio_condseg_over_pytorch']:16.3f}")
    print("ratio < 1: condseg's step is faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
