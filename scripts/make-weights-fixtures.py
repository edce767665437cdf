#!/usr/bin/env python3
# Generates the fixtures of the safetensors/SHA-256 tests in Tests/Fixtures/weights/ with tools
# independent of the Swift code: Python's `safetensors` writes the dtype fixture, numpy gives the
# expected values, hashlib the SHA-256 of many message lengths, and `sha256sum` the file hashes.
# Run from the repository root: python3 scripts/make-weights-fixtures.py
# Needs: pip install safetensors numpy (and sha256sum, from coreutils).
import hashlib
import json
import os
import subprocess

import numpy as np
from safetensors import TensorSpec, serialize
from safetensors.numpy import load_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "weights")


def f32_hex(values):
    return ["0x%08x" % int(b) for b in np.asarray(values, dtype=np.float32).reshape(-1).view(np.uint32)]


def main():
    os.makedirs(OUT, exist_ok=True)

    f32 = np.array([[0.0, -0.0, 1.5], [-3.25, np.finfo(np.float32).max, np.float32(1.4e-45)]], dtype=np.float32)
    # F16: zero, negative zero, normal values, largest, smallest normal, smallest and largest subnormal, 1/3.
    f16 = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08,
                    6.097555160522461e-05, 1.0 / 3.0], dtype=np.float16)
    # BF16 is the top half of a float32; numpy has no bfloat16 type, so it is written from bits.
    bf16_bits = np.array([0x3F80, 0xC000, 0x4049, 0x0001, 0x8080, 0x7F7F], dtype=np.uint16)
    bf16_as_f32 = (bf16_bits.astype(np.uint32) << 16).view(np.float32)
    i64 = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 42], dtype=np.int64)
    i32 = np.array([np.iinfo(np.int32).min, np.iinfo(np.int32).max, -7], dtype=np.int32)
    i8 = np.array([[-128, 127], [0, -1]], dtype=np.int8)
    u8 = np.array([0, 1, 128, 254, 255], dtype=np.uint8)
    scalar = np.array(7.0, dtype=np.float32)
    empty = np.zeros((0, 3), dtype=np.float32)

    arrays = {
        "f32.values": ("float32", f32),
        "f16.values": ("float16", f16),
        "bf16.values": ("bfloat16", bf16_bits),
        "i64.values": ("int64", i64),
        "i32.values": ("int32", i32),
        "i8.values": ("int8", i8),
        "u8.values": ("uint8", u8),
        "scalar": ("float32", scalar),
        "empty": ("float32", empty),
    }
    specs = {
        name: TensorSpec(dtype=dtype, shape=list(array.shape), data_ptr=array.ctypes.data, data_len=array.nbytes)
        for name, (dtype, array) in arrays.items()
    }
    metadata = {"generator": "scripts/make-weights-fixtures.py", "note": "quote \" backslash \\ tab\t unicode \u00b5\u2713"}
    data = bytes(serialize(specs, metadata=metadata))
    path = os.path.join(OUT, "python-dtypes.safetensors")
    with open(path, "wb") as f:
        f.write(data)

    # Cross-check with the numpy loader (it has no BF16, so only the others).
    loaded_header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    for name, (dtype, array) in arrays.items():
        assert loaded_header[name]["shape"] == list(array.shape)

    expected = {
        "metadata": metadata,
        "tensors": {
            "f32.values": {"dtype": "F32", "shape": list(f32.shape), "float32_bits": f32_hex(f32)},
            "f16.values": {"dtype": "F16", "shape": list(f16.shape), "float32_bits": f32_hex(f16.astype(np.float32))},
            "bf16.values": {"dtype": "BF16", "shape": list(bf16_bits.shape), "float32_bits": f32_hex(bf16_as_f32)},
            "i64.values": {"dtype": "I64", "shape": list(i64.shape), "integers": [str(v) for v in i64.reshape(-1)]},
            "i32.values": {"dtype": "I32", "shape": list(i32.shape), "integers": [str(v) for v in i32.reshape(-1)]},
            "i8.values": {"dtype": "I8", "shape": list(i8.shape), "integers": [str(v) for v in i8.reshape(-1)]},
            "u8.values": {"dtype": "U8", "shape": list(u8.shape), "integers": [str(v) for v in u8.reshape(-1)]},
            "scalar": {"dtype": "F32", "shape": [], "float32_bits": f32_hex(scalar)},
            "empty": {"dtype": "F32", "shape": [0, 3], "float32_bits": []},
        },
    }
    with open(os.path.join(OUT, "python-dtypes.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")

    # SHA-256 of the messages m[i] = (31*i + 7) mod 256 of many lengths, around every padding edge.
    lengths = list(range(0, 300)) + [1000, 4095, 4096, 4097, 65536, 100003]
    with open(os.path.join(OUT, "sha256-lengths.txt"), "w") as f:
        f.write("# length sha256 of bytes (31*i+7) mod 256, i < length; made by hashlib\n")
        for n in lengths:
            message = bytes((31 * i + 7) % 256 for i in range(n))
            f.write("%d %s\n" % (n, hashlib.sha256(message).hexdigest()))

    # A pseudo-random binary file and the sha256sum of the committed files.
    rng = np.random.default_rng(20261126)
    with open(os.path.join(OUT, "random-200003.bin"), "wb") as f:
        f.write(rng.integers(0, 256, size=200003, dtype=np.uint8).tobytes())
    sums = subprocess.run(["sha256sum", "random-200003.bin", "python-dtypes.safetensors"],
                          cwd=OUT, check=True, capture_output=True, text=True).stdout
    with open(os.path.join(OUT, "SHA256SUMS"), "w") as f:
        f.write(sums)

    # The numpy loader reads what safetensors wrote (BF16 excluded: numpy cannot represent it).
    without_bf16 = {k: v for k, v in arrays.items() if v[0] != "bfloat16"}
    specs2 = {k: specs[k] for k in without_bf16}
    tmp = os.path.join(OUT, "numpy-check.tmp")
    with open(tmp, "wb") as f:
        f.write(bytes(serialize(specs2, metadata=metadata)))
    back = load_file(tmp)
    os.remove(tmp)
    for name, (_, array) in without_bf16.items():
        assert np.array_equal(back[name], array), name
    print("wrote fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
