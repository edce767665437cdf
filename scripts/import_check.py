#!/usr/bin/env python3
"""import_check.py — `condseg import` on a checkpoint that torch itself saves from the bundled model.

The bundled model's tensors (models/condseg-r18w64-kvasir.safetensors, read here without the safetensors
package) become a torch state_dict (an OrderedDict of tensors with exactly those bytes), which torch.save writes
twice: as is, and as a DataParallel save ("module." prefix) wrapped in {"epoch": …, "model": …}. Each is imported
with `condseg import`; the check passes when every tensor of the result is bit-identical to the bundled model's,
the configuration matches its metadata, and `condseg segment` writes identical masks and probabilities with the
imported model and with the bundled one on the sample frames. Exit 1 on any difference.

Usage: python3 scripts/import_check.py [--condseg .build/release/condseg] [--model models/condseg-r18w64-kvasir.safetensors]
Needs: pip install torch numpy.
"""
import argparse, collections, filecmp, glob, hashlib, json, os, struct, subprocess, sys, tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "I8": np.int8, "U8": np.uint8}


def read_safetensors(path):
    """(metadata, OrderedDict name -> (dtype, shape, raw bytes)) in header order."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = collections.OrderedDict()
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, end = e["data_offsets"]
        tensors[name] = (e["dtype"], e["shape"], body[b:end])
    return meta, tensors


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"import_check: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--condseg", default=os.path.join(ROOT, ".build/release/condseg"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/condseg-r18w64-kvasir.safetensors"))
    a = ap.parse_args()
    meta, tensors = read_safetensors(a.model)
    state = collections.OrderedDict()
    for name, (dtype, shape, raw) in tensors.items():
        if dtype == "BF16":
            t = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).reshape(shape)
        else:
            t = torch.from_numpy(np.frombuffer(raw, dtype=DTYPES[dtype]).copy().reshape(shape))
        state[name] = t
    samples = sorted(glob.glob(os.path.join(ROOT, "samples/images/*.jpg")))
    failures = 0
    with tempfile.TemporaryDirectory(prefix="condseg-import-") as work:
        reference_out = os.path.join(work, "bundled")
        run([a.condseg, "segment", "--model", a.model, "--probabilities", "--out", reference_out] + samples)
        variants = {
            "plain": state,
            "dataparallel-wrapped": {"epoch": 120, "model": collections.OrderedDict(("module." + k, v) for k, v in state.items())},
        }
        for label, obj in variants.items():
            pth, out = os.path.join(work, label + ".pth"), os.path.join(work, label + ".safetensors")
            torch.save(obj, pth)
            r = run([a.condseg, "import", pth, "--out", out])
            imported_meta, imported = read_safetensors(out)
            diffs = [n for n in tensors if n not in imported or imported[n] != tensors[n]]
            extra = [n for n in imported if n not in tensors]
            same_meta = {k: v for k, v in imported_meta.items()} == {k: v for k, v in meta.items() if k.startswith("condseg.")}
            seg_out = os.path.join(work, label + "-masks")
            run([a.condseg, "segment", "--model", out, "--probabilities", "--out", seg_out] + samples)
            names = sorted(os.listdir(reference_out))
            match, mismatch, errors = filecmp.cmpfiles(reference_out, seg_out, names, shallow=False)
            sha_same = hashlib.sha256(open(out, "rb").read()).hexdigest() == hashlib.sha256(open(a.model, "rb").read()).hexdigest()
            ok = not diffs and not extra and same_meta and not mismatch and not errors
            failures += 0 if ok else 1
            print(f"{label}: {os.path.getsize(pth)} byte checkpoint; {len(tensors) - len(diffs)}/{len(tensors)} tensors "
                  f"bit-identical, {len(extra)} extra; configuration {'matches' if same_meta else 'DIFFERS'}; segment "
                  f"outputs {len(match)}/{len(names)} identical; file {'byte-identical to' if sha_same else 'differs from'} "
                  f"the bundled model")
            for line in r.stderr.splitlines():
                print("  " + line)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
