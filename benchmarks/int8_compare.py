#!/usr/bin/env python3
"""Int8 side by side: condseg int8 and float (fast executor) against ONNX Runtime and OpenVINO, fp32 and
int8, on the default model at 256x256, alternating within each round; medians of the per-round medians.

Usage (the defaults shown; relative defaults are resolved against the repository root, paths you give against
the current folder):
  python3 benchmarks/int8_compare.py [--threads 1 2] [--rounds 3] [--iterations 5]
         [--condseg .build/release/condseg] [--calibration calibration/condseg-r18w64-kvasir.table.txt]
         [--onnx MODEL.onnx] [--data ../shared/data/kvasir-seg] [--list calibration/calib.txt]
         [--calib-count 100] [--work /tmp/condseg-peers] [--json]
--data is the Kvasir-SEG folder: its images/ holds the calibration images the peers' int8 models are made from,
named by --list (by default calibration/calib.txt, the 100 training images condseg's shipped table was
calibrated on; one name per line, without extension).

What it measures, per thread count T and per round (engines in this order, so all see the same machine state):
  condseg int8        `condseg bench --calibration TABLE --threads T --iterations N --json`, field median_ms
  condseg float fast  `condseg bench --threads T --iterations N --json`, field median_ms
  condseg float ref.  the same with `--engine reference` (the oracle; int8 should be >= 3x faster than it)
  ORT fp32 / int8     ONNX Runtime, intra-op threads T, one warm-up run then N timed runs, median
  OpenVINO fp32/int8  OpenVINO CPU, INFERENCE_NUM_THREADS T, latency hint, one stream, same timing
The peers run condseg's own float export of the model (`condseg export --onnx`, written into --work on every run;
it is deterministic, so the cached int8 models below stay valid) unless --onnx names another ONNX file.
Every peer run uses one fixed random 1x3x256x256 input (condseg bench also times a random input).
The reported figure per engine is the median over rounds of the per-round medians (ms per frame), with the
speed ratios against their targets (peer ms / condseg ms: > 1 means condseg is faster).
Targets, at 1 thread: condseg int8 >= 2x ONNX Runtime int8 and >= 2x OpenVINO int8, >= 1.5x condseg's float fast
path and >= 3x its float reference executor; condseg float (fast) >= 2x ONNX Runtime fp32 and >= 1.6x OpenVINO fp32.

The peers' int8 models are made once and cached in --work:
  ort-int8.onnx  ONNX Runtime static quantization: QDQ, per-channel int8 weights, uint8 activations, MinMax,
                 calibrated on the first --calib-count (100) images of --list (preprocessing as the release: cv2 BGR, bilinear
                 resize to 256, /255, NCHW), after quant_pre_process;
  ov-int8.xml    OpenVINO int8 by NNCF post-training quantization on the same 100 images (needs `nncf`;
                 OpenVINO int8 is skipped with a message when it does not import).
A stamp file records the ONNX file's SHA-256 and the calibration images; a cached model is reused only when it
matches. Delete --work to force re-quantization.
Needs: pip install onnxruntime onnx openvino nncf opencv-python-headless numpy (onnx: ORT's quantizer imports it).
Absolute times drift on a shared machine; read the ratios, and give the machine to the benchmark (nothing else running).
"""
import argparse, contextlib, hashlib, json, os, statistics, subprocess, sys, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The packages, from the one list in the docstring above.
NEEDS = next(line for line in __doc__.splitlines() if line.startswith("Needs: pip install")).split(" (")[0]

ENGINES = ["condseg_int8", "condseg_float_fast", "condseg_float_reference", "ort_fp32", "ort_int8", "openvino_fp32", "openvino_int8"]
LABELS = {"condseg_int8": "condseg int8", "condseg_float_fast": "condseg float (fast)",
          "condseg_float_reference": "condseg float (reference)", "ort_fp32": "ONNX Runtime fp32",
          "ort_int8": "ONNX Runtime int8", "openvino_fp32": "OpenVINO fp32", "openvino_int8": "OpenVINO int8"}
# (name, numerator = slower engine expected, denominator = condseg engine, target or None): the targets listed in
# the docstring.
RATIOS = [
    ("condseg int8 vs ONNX Runtime int8", "ort_int8", "condseg_int8", "target >= 2x at 1 thread"),
    ("condseg int8 vs OpenVINO int8", "openvino_int8", "condseg_int8", "target >= 2x at 1 thread"),
    ("condseg int8 vs condseg float (fast)", "condseg_float_fast", "condseg_int8", "target >= 1.5x at 1 thread"),
    ("condseg int8 vs condseg float (reference)", "condseg_float_reference", "condseg_int8", "target >= 3x at 1 thread"),
    ("condseg float (fast) vs ONNX Runtime fp32", "ort_fp32", "condseg_float_fast", "target >= 2x at 1 thread"),
    ("condseg float (fast) vs OpenVINO fp32", "openvino_fp32", "condseg_float_fast", "target >= 1.6x at 1 thread"),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def stdout_to_stderr():
    """The quantizers print progress (NNCF's progress bars go to stdout); keep stdout for the results (--json)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def positive(text):
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return value


def default_path(given, default):
    """User-given paths are taken as given (relative to the current directory); defaults are relative to the repo."""
    return os.path.abspath(given) if given is not None else os.path.normpath(os.path.join(REPO, default))


# ---------------------------------------------------------------- calibration data (release preprocessing)

def load_image(path, size):
    import cv2, numpy as np
    img = cv2.imread(path, cv2.IMREAD_COLOR)  # BGR
    if img is None:
        raise SystemExit(f"cannot read image {path}")
    x = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def calibration_images(data, names_file, count):
    try:
        with open(names_file) as f:
            names = [line.strip() for line in f if line.strip()][:count]
    except OSError as e:
        raise SystemExit(f"{names_file}: cannot read the calibration list ({e.strerror})")
    paths = []
    for n in names:
        for ext in (".jpg", ".png", ".jpeg", ".bmp"):
            p = os.path.join(data, "images", n + ext)
            if os.path.exists(p):
                paths.append(p)
                break
        else:
            raise SystemExit(f"{names_file}: no image for entry {n} under {data}/images")
    if len(paths) < count:
        log(f"note: {names_file} lists {len(paths)} images, fewer than {count}")
    return paths


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- peer int8 models, made once

def stamp_matches(stamp_path, stamp):
    try:
        with open(stamp_path) as f:
            return json.load(f) == stamp
    except (OSError, ValueError):
        return False


def write_stamp(stamp_path, stamp):
    with open(stamp_path, "w") as f:
        json.dump(stamp, f, indent=1)


def prepare_ort_int8(onnx, calib, size, work, stamp):
    out = os.path.join(work, "ort-int8.onnx")
    stamp_path = out + ".stamp.json"
    if os.path.exists(out) and stamp_matches(stamp_path, stamp):
        log(f"ONNX Runtime int8: cached {out}")
        return out, None
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    import onnxruntime as ort
    input_name = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.paths = iter(calib)

        def get_next(self):
            p = next(self.paths, None)
            return None if p is None else {input_name: load_image(p, size)}

    log(f"ONNX Runtime int8: quantizing (QDQ, per-channel, MinMax, {len(calib)} calibration images) ...")
    t0 = time.time()
    pre, tmp = os.path.join(work, "ort-pre.onnx"), out + ".partial.onnx"
    quant_pre_process(onnx, pre, skip_symbolic_shape=True)
    quantize_static(pre, tmp, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    os.remove(pre)
    os.replace(tmp, out)  # only a complete model gets the final name
    write_stamp(stamp_path, stamp)
    seconds = time.time() - t0
    log(f"ONNX Runtime int8: {out} ({seconds:.0f} s)")
    return out, seconds


def prepare_openvino_int8(onnx, calib, size, work, stamp):
    """Returns (path or None, seconds or None, reason when skipped)."""
    out = os.path.join(work, "ov-int8.xml")
    stamp_path = out + ".stamp.json"
    if os.path.exists(out) and os.path.exists(out[:-4] + ".bin") and stamp_matches(stamp_path, stamp):
        log(f"OpenVINO int8: cached {out}")
        return out, None, None
    try:
        import nncf
    except ImportError as e:
        return None, None, f"nncf does not import ({e}); pip install nncf"
    import openvino as ov
    log(f"OpenVINO int8: quantizing with NNCF {nncf.__version__} ({len(calib)} calibration images) ...")
    t0 = time.time()
    model = ov.Core().read_model(onnx)
    data = [load_image(p, size) for p in calib]
    quantized = nncf.quantize(model, nncf.Dataset(data), subset_size=len(data))
    tmp = os.path.join(work, "ov-int8.partial.xml")
    ov.save_model(quantized, tmp, compress_to_fp16=False)
    os.replace(tmp[:-4] + ".bin", out[:-4] + ".bin")
    os.replace(tmp, out)
    write_stamp(stamp_path, stamp)
    seconds = time.time() - t0
    log(f"OpenVINO int8: {out} ({seconds:.0f} s)")
    return out, seconds, None


# ---------------------------------------------------------------- engines

class Peer:
    """One session made per thread count; each measurement is one warm-up run, then `iterations` timed runs."""

    def __init__(self, kind, model, threads, x):
        self.x = x
        if kind == "ort":
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
            feed = {sess.get_inputs()[0].name: x}
            self.run = lambda: sess.run(None, feed)
        else:
            import openvino as ov
            cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
                   "INFERENCE_PRECISION_HINT": "f32"}
            request = ov.Core().compile_model(model, "CPU", cfg).create_infer_request()
            self.run = lambda: request.infer({0: x})

    def latency(self, iterations):
        self.run()
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            self.run()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)


def condseg_bench(binary, threads, iterations, calibration=None, engine="fast"):
    cmd = [binary, "bench", "--threads", str(threads), "--iterations", str(iterations), "--engine", engine, "--json"]
    if calibration:
        cmd[2:2] = ["--calibration", calibration]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--condseg", metavar="PATH", help="condseg binary (default: .build/release/condseg)")
    ap.add_argument("--calibration", metavar="TABLE",
                    help="condseg's calibration table (default: calibration/condseg-r18w64-kvasir.table.txt)")
    ap.add_argument("--onnx", metavar="MODEL",
                    help="ONNX model for the peers (default: condseg's own export, `condseg export --onnx`, into --work)")
    ap.add_argument("--data", metavar="DIR",
                    help="Kvasir-SEG folder whose images/ holds the calibration images (default: ../shared/data/kvasir-seg)")
    ap.add_argument("--list", metavar="FILE",
                    help="names of the calibration images, one a line (default: calibration/calib.txt)")
    ap.add_argument("--calib-count", type=positive, default=100, metavar="N",
                    help="calibration images for the peers' int8 models, the first N of --list (default: %(default)s)")
    ap.add_argument("--work", default="/tmp/condseg-peers", metavar="DIR",
                    help="cache folder for the ONNX export and the peers' int8 models (default: %(default)s)")
    ap.add_argument("--threads", type=positive, nargs="+", default=[1, 2], metavar="T",
                    help="thread counts to measure, each in turn (default: 1 2)")
    ap.add_argument("--rounds", type=positive, default=3, metavar="N",
                    help="rounds of every engine in turn; the figure is the median over rounds (default: %(default)s)")
    ap.add_argument("--iterations", type=positive, default=5, metavar="N",
                    help="timed runs per engine and round, after one warm-up (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print JSON on stdout (progress still goes to stderr)")
    a = ap.parse_args()
    binary = default_path(a.condseg, ".build/release/condseg")
    table = default_path(a.calibration, "calibration/condseg-r18w64-kvasir.table.txt")
    data = default_path(a.data, "../shared/data/kvasir-seg")
    names_file = default_path(a.list, "calibration/calib.txt")
    for what, p in (("condseg binary", binary), ("calibration table", table), ("data folder", data),
                    ("calibration list", names_file)):
        if not os.path.exists(p):
            raise SystemExit(f"{what} not found: {p}")
    if not os.path.isdir(os.path.join(data, "images")):
        raise SystemExit(f"{data}: no images/ folder (--data is the Kvasir-SEG folder holding images/)")
    try:
        import numpy, onnxruntime, onnx, cv2
    except ImportError as e:
        raise SystemExit(f"{e.name} does not import; {NEEDS}")
    if a.onnx:
        onnx = default_path(a.onnx, a.onnx)
        if not os.path.exists(onnx):
            raise SystemExit(f"ONNX model not found: {onnx}")
    else:
        os.makedirs(a.work, exist_ok=True)
        onnx = os.path.join(a.work, "condseg-float.onnx")
        r = subprocess.run([binary, "export", "--onnx", onnx], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{binary} export --onnx {onnx} failed ({r.returncode}):\n{r.stderr}")

    import numpy as np, onnxruntime as ort
    shape = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"]).get_inputs()[0].shape
    size = shape[-1] if isinstance(shape[-1], int) else 256
    os.makedirs(a.work, exist_ok=True)
    calib = calibration_images(data, names_file, a.calib_count)
    stamp = {"onnx_sha256": sha256(onnx), "size": size, "calibration_images": [os.path.basename(p) for p in calib]}
    with stdout_to_stderr():
        ort_int8, ort_q_s = prepare_ort_int8(onnx, calib, size, a.work, stamp)
        try:
            import openvino
            ov_version = openvino.__version__
            ov_int8, ov_q_s, ov_skip = prepare_openvino_int8(onnx, calib, size, a.work, stamp)
        except ImportError as e:
            ov_version, ov_int8, ov_q_s, ov_skip = None, None, None, f"openvino does not import ({e})"
    skipped = {}
    if ov_version is None:
        skipped["openvino_fp32"] = ov_skip
    if ov_int8 is None:
        skipped["openvino_int8"] = ov_skip
        log(f"OpenVINO int8 skipped: {ov_skip}")

    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    results = {}
    for t in a.threads:
        peers = {"ort_fp32": Peer("ort", onnx, t, x), "ort_int8": Peer("ort", ort_int8, t, x)}
        if "openvino_fp32" not in skipped:
            peers["openvino_fp32"] = Peer("ov", onnx, t, x)
        if "openvino_int8" not in skipped:
            peers["openvino_int8"] = Peer("ov", ov_int8, t, x)
        engines = [e for e in ENGINES if e not in skipped]
        samples = {e: [] for e in engines}
        condseg_info = {}
        for r in range(a.rounds):
            for e in engines:
                if e == "condseg_int8":
                    j = condseg_bench(binary, t, a.iterations, table)
                    condseg_info["int8"] = {k: j.get(k) for k in ("engine", "size", "int8_ceiling_gops",
                                                                  "sgemm_ceiling_gflops", "gmac_per_frame")}
                    samples[e].append(j["median_ms"])
                elif e == "condseg_float_reference":
                    samples[e].append(condseg_bench(binary, t, a.iterations, engine="reference")["median_ms"])
                elif e == "condseg_float_fast":
                    j = condseg_bench(binary, t, a.iterations)
                    condseg_info["float_fast"] = {k: j.get(k) for k in ("engine", "size", "sgemm_ceiling_gflops")}
                    samples[e].append(j["median_ms"])
                else:
                    samples[e].append(peers[e].latency(a.iterations))
            log(f"threads {t} round {r + 1}/{a.rounds}: " +
                ", ".join(f"{LABELS[e]} {samples[e][-1]:.0f} ms" for e in engines))
        del peers
        med = {e: statistics.median(v) for e, v in samples.items()}
        ratios = {name: med[num] / med[den] for name, num, den, _ in RATIOS if num in med and den in med}
        results[str(t)] = {"median_ms": med, "per_round_ms": samples, "ratios": ratios, "condseg": condseg_info}

    out = {
        "model_onnx": onnx, "size": size, "rounds": a.rounds, "iterations": a.iterations,
        "condseg": binary, "calibration_table": table, "peer_calibration_list": names_file, "peer_calibration_images": len(calib),
        "versions": {"onnxruntime": ort.__version__, "openvino": ov_version},
        "peer_int8_models": {"ort_int8": ort_int8, "openvino_int8": ov_int8},
        "quantization_seconds_this_run": {"ort_int8": ort_q_s, "openvino_int8": ov_q_s},
        "skipped": skipped, "threads": results,
        "ratio_meaning": "peer ms / condseg ms (> 1: the condseg engine is faster)",
    }
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"ms per frame, {size}x{size}, median over {a.rounds} alternating round(s) of the median of "
          f"{a.iterations} timed frame(s)")
    head = f"{'engine':24s}" + "".join(f"{t + ' thr':>12s}" for t in results)
    print(head)
    for e in ENGINES:
        cells = "".join(f"{r['median_ms'][e]:12.1f}" if e in r["median_ms"] else f"{'skipped':>12s}"
                        for r in results.values())
        print(f"{LABELS[e]:24s}{cells}")
    print("\nspeed ratios (other ms / condseg ms; > 1: condseg faster)")
    print(f"{'':42s}" + "".join(f"{t + ' thr':>10s}" for t in results))
    for name, _, _, target in RATIOS:
        cells = "".join(f"{r['ratios'][name]:9.2f}x" if name in r["ratios"] else f"{'-':>10s}"
                        for r in results.values())
        print(f"{name:42s}{cells}" + (f"   ({target})" if target else ""))
    for e, why in skipped.items():
        print(f"{LABELS[e]} skipped: {why}")
    print(f"peer int8 models: {', '.join(p for p in (ort_int8, ov_int8) if p)}")


if __name__ == "__main__":
    main()
