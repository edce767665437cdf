#!/usr/bin/env python3
"""make_interop_fixtures.py — writes the small PyTorch checkpoints that `condseg import` is tested with
(Tests/Fixtures/interop/). Run once with torch installed; the outputs are committed, so the tests need no Python.

  python3 scripts/make_interop_fixtures.py [--out Tests/Fixtures/interop]

Every .pth is written by torch.save itself, except two derived from a torch-written file to exercise what torch on
this machine cannot write: tiny-deflated.pth (the same archive re-zipped with deflate, which import refuses) and
tiny-bigendian.pth (the archive of a float32-only state_dict with its `byteorder` entry set to "big" and every
storage byte-swapped, as a big-endian machine's torch.save writes it). The expected values are torch's own:
for each tensor its dtype, shape and the SHA-256 of `tensor.contiguous()`'s little-endian bytes.

Files:
  tiny-mixed.pth            OrderedDict: float32, float16, bfloat16, int64 (0-d), a transposed (non-contiguous)
                            view, two views of one storage, an expanded (stride 0) view
  tiny-mixed.expected.json  the expected tensors of tiny-mixed.pth
  tiny-bigendian.pth        big-endian archive of tiny-bigendian.expected.json's tensors
  tiny-deflated.pth         tiny-mixed.pth with deflate-compressed entries
  tiny-legacy.pth           tiny-mixed's state_dict in torch's legacy (pre-zip) format
  condseg-r18w32-strided.pth  a ConDSeg state_dict (resnet18, width 32, mid 16, 4 heads, auxiliary head included),
                            saved as DataParallel would ("module." prefix) and wrapped in {"epoch", "state_dict",
                            "best_dice"}; every float tensor is an overlapping strided view (as_strided, strides
                            all 1) into one of two 2048-element storages, so the file is small but every tensor
                            has its own values; num_batches_tracked counters included
  condseg-r18w32-strided.expected.json  the expected tensors (names without the prefix)
  malicious-reduce.pth      a checkpoint whose pickle, if unpickled by Python, would call os.system("touch
                            condseg-payload-ran") (an object with that __reduce__); import must refuse it, and the
                            file must never appear
  foreign-global.pth        a state_dict wrapped with an argparse.Namespace (a global import refuses)

Needs: pip install torch numpy (numpy for benchmarks/torch_condseg.py, whose model it saves).
"""
import argparse, collections, hashlib, io, json, os, sys, zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "benchmarks"))


def expected(state):
    out = []
    for name, t in state.items():
        c = t.contiguous()
        raw = c.view(torch.uint8).numpy().tobytes() if c.dim() > 0 else c.reshape(1).view(torch.uint8).numpy().tobytes()
        out.append({"name": name, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                    "sha256": hashlib.sha256(raw).hexdigest(),
                    "first": [float(v) for v in c.reshape(-1)[:4].tolist()]})
    return {"torch": torch.__version__, "tensors": out}


def write_json(path, obj):
    """One tensor per line."""
    with open(path, "w") as f:
        f.write('{"torch": %s, "tensors": [\n%s\n]}\n' % (json.dumps(obj["torch"]),
                                                         ",\n".join(json.dumps(t) for t in obj["tensors"])))


def rezip(src, dst, transform=None, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=compression) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if transform:
                data = transform(info.filename, data)
            zout.writestr(info.filename, data)


class Payload:
    """Unpickling this runs a shell command: the test makes sure import never does."""

    def __reduce__(self):
        return (os.system, ("touch condseg-payload-ran",))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "Tests", "Fixtures", "interop"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    p = lambda name: os.path.join(a.out, name)
    g = torch.Generator().manual_seed(14)

    # tiny-mixed
    base = torch.randn(6, 5, generator=g)
    shared = torch.randn(40, generator=g)
    tiny = collections.OrderedDict()
    tiny["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    tiny["half.weight"] = torch.randn(7, 3, generator=g).half()
    tiny["bf16.weight"] = torch.randn(2, 5, generator=g).bfloat16()
    tiny["bn.num_batches_tracked"] = torch.tensor(123456789012, dtype=torch.int64)
    tiny["transposed"] = base.t()                        # strides (1, 5)
    tiny["view.first"] = shared[:12].view(3, 4)
    tiny["view.second"] = shared[10:40].view(5, 6)        # same storage, offset 10
    tiny["expanded"] = torch.randn(3, 1, generator=g).expand(3, 4)   # stride 0
    torch.save(tiny, p("tiny-mixed.pth"))
    write_json(p("tiny-mixed.expected.json"), expected(tiny))
    rezip(p("tiny-mixed.pth"), p("tiny-deflated.pth"), compression=zipfile.ZIP_DEFLATED)
    torch.save(tiny, p("tiny-legacy.pth"), _use_new_zipfile_serialization=False)

    # tiny-bigendian: float32 storages only, so every storage is byte-swapped 4 bytes at a time.
    be = collections.OrderedDict()
    be["a"] = torch.randn(3, 4, generator=g)
    be["b"] = torch.randn(2, 3, generator=g).t()
    torch.save(be, p("tiny-bigendian.tmp"))

    def to_big(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        if "/data/" in name:
            swapped = bytearray(len(data))
            for i in range(0, len(data), 4):
                swapped[i:i + 4] = data[i:i + 4][::-1]
            return bytes(swapped)
        return data
    rezip(p("tiny-bigendian.tmp"), p("tiny-bigendian.pth"), transform=to_big)
    os.remove(p("tiny-bigendian.tmp"))
    write_json(p("tiny-bigendian.expected.json"), expected(be))

    # A ConDSeg-shaped state_dict whose tensors are strided views of two small storages.
    from torch_condseg import ConDSeg
    model = ConDSeg("resnet18", width=32, mid=16, heads=4, aux_head=True)
    values = torch.randn(2048, generator=g)
    positive = torch.rand(2048, generator=g) + 0.5
    state = collections.OrderedDict()
    for name, t in model.state_dict().items():
        if t.dtype != torch.float32:
            state[name] = t.clone()                     # num_batches_tracked
            continue
        reach = sum(d - 1 for d in t.shape)
        source = positive if name.endswith("running_var") else values
        offset = int(torch.randint(0, 2048 - reach, (1,), generator=g))
        state[name] = source.as_strided(tuple(t.shape), tuple(1 for _ in t.shape), offset)
    wrapped = {"epoch": 7, "state_dict": collections.OrderedDict(("module." + k, v) for k, v in state.items()),
               "best_dice": 0.8123}
    torch.save(wrapped, p("condseg-r18w32-strided.pth"))
    write_json(p("condseg-r18w32-strided.expected.json"), expected(state))

    small = collections.OrderedDict([("w", torch.randn(2, 2, generator=g))])
    torch.save({"state_dict": small, "hook": Payload()}, p("malicious-reduce.pth"))
    torch.save({"args": argparse.Namespace(lr=1e-4, epochs=100), "model": small}, p("foreign-global.pth"))
    for name in sorted(os.listdir(a.out)):
        print(f"{os.path.getsize(p(name)):8d}  {name}")


if __name__ == "__main__":
    main()
