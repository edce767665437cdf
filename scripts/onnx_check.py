#!/usr/bin/env python3
"""onnx_check.py — checks `condseg export` against ONNX Runtime.

1. Float: exports the model (`condseg export --onnx`), runs it in ONNX Runtime on the sample frames and compares
   the probabilities with condseg's float reference (`segment --engine reference --probabilities`): the largest
   absolute difference must be ≤ 1e-4 (exit 1 otherwise).
2. QDQ int8 (with a calibration table): exports with `--calibration`, runs it in ONNX Runtime on the validation
   images and reports the mask agreement (fraction of pixels where both say foreground or both background,
   prediction > 0.5) with condseg's own int8 path (`segment --calibration`), per image mean and minimum. The main
   figure uses ORT's basic graph optimizations, which run the QDQ arithmetic as written; ORT's default (all)
   optimizations rewrite QDQ groups into its own int8 kernels with their own rounding, reported beside it.
   `--context` adds the float export's agreement with condseg int8; `--min-agreement` turns the report into a check.

Both sides see the same pixels: each image is decoded and resized to the model size with OpenCV (the resize
condseg reproduces exactly), written as PNG (lossless), and the PNG is what condseg segments (its resize is then
the identity) while ONNX Runtime gets the same array in the model's channel order times its scale.

Usage:
  python3 scripts/onnx_check.py [--condseg .build/release/condseg] [--model M] [--calibration TABLE]
         [--samples samples/images] [--data ../shared/data/kvasir-seg --list val.txt] [--threads 2] [--json]
Needs: pip install onnxruntime numpy opencv-python-headless.
"""
import argparse, glob, json, os, subprocess, sys, tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"onnx_check: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r


def prepare(images, size, folder):
    """Each image resized to size×size with OpenCV and written as PNG; returns (png paths, BGR uint8 arrays)."""
    import cv2
    os.makedirs(folder, exist_ok=True)
    pngs, arrays = [], []
    for path in images:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            sys.exit(f"onnx_check: {path}: cannot be read")
        bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR)
        out = os.path.join(folder, os.path.splitext(os.path.basename(path))[0] + ".png")
        cv2.imwrite(out, bgr)
        pngs.append(out)
        arrays.append(bgr)
    return pngs, arrays


def model_input(bgr, meta):
    x = bgr if meta.get("condseg.channel_order", "bgr") == "bgr" else bgr[:, :, ::-1]
    scale = meta.get("condseg.scale", "1/255")
    s = float(scale.split("/")[0]) / float(scale.split("/")[1]) if "/" in scale else float(scale)
    return (np.ascontiguousarray(x.transpose(2, 0, 1))[None].astype(np.float32) * np.float32(s))


def session(path, threads, level="all"):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    return sess, meta


def condseg_probabilities(binary, model, pngs, folder, threads, extra):
    cmd = [binary, "segment", "--probabilities", "--threads", str(threads), "--out", folder] + extra + pngs
    if model:
        cmd[2:2] = ["--model", model]
    run(cmd)
    return [np.load(os.path.join(folder, os.path.splitext(os.path.basename(p))[0] + ".npy")).reshape(-1) for p in pngs]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--condseg", default=os.path.join(ROOT, ".build/release/condseg"))
    ap.add_argument("--model", help="default: condseg's default model")
    ap.add_argument("--calibration", default=os.path.join(ROOT, "calibration/condseg-r18w64-kvasir.table.txt"))
    ap.add_argument("--samples", default=os.path.join(ROOT, "samples/images"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "kvasir-seg"))
    ap.add_argument("--list", default="val.txt")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N validation images")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--min-agreement", type=float)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--context", action="store_true", help="also report the float export's agreement with condseg int8")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    report = {}
    with tempfile.TemporaryDirectory(prefix="condseg-onnx-") as work:
        float_onnx, qdq_onnx = os.path.join(work, "float.onnx"), os.path.join(work, "qdq.onnx")
        base = [a.condseg, "export"] + (["--model", a.model] if a.model else [])
        run(base + ["--onnx", float_onnx])
        sess, meta = session(float_onnx, a.threads)
        size = int(meta["condseg.input_size"])
        report["model_sha256"] = meta["condseg.model_sha256"]

        # 1. Float export vs the float reference on the sample frames.
        samples = sorted(glob.glob(os.path.join(a.samples, "*.jpg")) + glob.glob(os.path.join(a.samples, "*.png")))
        pngs, arrays = prepare(samples, size, os.path.join(work, "samples"))
        ref = condseg_probabilities(a.condseg, a.model, pngs, os.path.join(work, "ref"), a.threads, ["--engine", "reference"])
        worst = 0.0
        for png, bgr, r in zip(pngs, arrays, ref):
            y = sess.run(["mask"], {"image": model_input(bgr, meta)})[0].reshape(-1)
            worst = max(worst, float(np.abs(y - r).max()))
        report["float_samples"] = len(pngs)
        report["float_max_abs_diff"] = worst
        report["float_ok"] = worst <= a.tolerance
        print(f"float export vs condseg float reference, {len(pngs)} sample frames: max |diff| = {worst:.3g} "
              f"({'within' if worst <= a.tolerance else 'ABOVE'} {a.tolerance:g})", file=sys.stderr)

        # 2. QDQ export vs condseg's int8 path on the validation images.
        if a.calibration:
            names = [l.strip() for l in open(os.path.join(a.data, a.list)) if l.strip()]
            if a.limit:
                names = names[:a.limit]
            images = []
            for n in names:
                hits = [p for p in glob.glob(os.path.join(a.data, "images", n + ".*"))]
                if not hits:
                    sys.exit(f"onnx_check: {os.path.join(a.data, 'images', n)}.*: no such image")
                images.append(hits[0])
            run(base + ["--onnx", qdq_onnx, "--calibration", a.calibration])
            qsess, _ = session(qdq_onnx, a.threads, "basic")
            qsess_all, _ = session(qdq_onnx, a.threads, "all")
            vpngs, varrays = prepare(images, size, os.path.join(work, "val"))
            ours8 = condseg_probabilities(a.condseg, a.model, vpngs, os.path.join(work, "int8"), a.threads,
                                          ["--calibration", a.calibration])
            agree_q, agree_all, agree_f = [], [], []
            for bgr, o8 in zip(varrays, ours8):
                x = model_input(bgr, meta)
                yq = qsess.run(["mask"], {"image": x})[0].reshape(-1)
                ya = qsess_all.run(["mask"], {"image": x})[0].reshape(-1)
                agree_q.append(float(np.mean((yq > 0.5) == (o8 > 0.5))))
                agree_all.append(float(np.mean((ya > 0.5) == (o8 > 0.5))))
                if a.context:
                    yf = sess.run(["mask"], {"image": x})[0].reshape(-1)
                    agree_f.append(float(np.mean((yf > 0.5) == (o8 > 0.5))))
            report["val_images"] = len(images)
            report["qdq_vs_condseg_int8_agreement_mean"] = float(np.mean(agree_q))
            report["qdq_vs_condseg_int8_agreement_min"] = float(np.min(agree_q))
            report["qdq_ort_all_optimizations_vs_condseg_int8_agreement_mean"] = float(np.mean(agree_all))
            report["qdq_ort_all_optimizations_vs_condseg_int8_agreement_min"] = float(np.min(agree_all))
            print(f"QDQ export in ONNX Runtime (basic graph optimizations: the QDQ arithmetic as written) vs condseg int8 "
                  f"masks, {len(images)} val images: agreement mean {np.mean(agree_q):.5f}, min {np.min(agree_q):.5f}; "
                  f"with ORT's default (all) optimizations, which rewrite QDQ groups into its own int8 kernels: mean "
                  f"{np.mean(agree_all):.5f}, min {np.min(agree_all):.5f}", file=sys.stderr)
            if agree_f:
                report["float_vs_condseg_int8_agreement_mean"] = float(np.mean(agree_f))
                print(f"float export vs condseg int8 masks: mean {np.mean(agree_f):.5f}", file=sys.stderr)
    if a.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    failed = not report["float_ok"]
    if a.min_agreement is not None and report.get("qdq_vs_condseg_int8_agreement_mean", 0) < a.min_agreement:
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
