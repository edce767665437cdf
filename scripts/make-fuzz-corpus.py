#!/usr/bin/env python3
"""make-fuzz-corpus.py — writes the committed seed corpora under Fuzz/corpus/<target>/ (small files only).

Seeds named ok-* must be accepted by their target and bad-* refused with an error; the corpus replay tests
(Tests/CondSegFuzzHarnessTests) check both. Other seeds reach deep code without a fixed expectation.
Uses only the standard library (struct, zlib, json): PNGs are written chunk by chunk, JPEGs are the repository's
own small test images. Run from the repository root: python3 scripts/make-fuzz-corpus.py
"""
import json, os, struct, zlib, shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")


def put(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def fixture(path):
    with open(os.path.join(ROOT, "Tests", "Fixtures", path), "rb") as f:
        return f.read()


# --- safetensors -----------------------------------------------------------------------------------------------
def safetensors(tensors, metadata=None, header_override=None):
    """tensors: list of (name, dtype, shape, raw bytes), laid out in order."""
    header, data, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    text = header_override if header_override is not None else json.dumps(header, separators=(",", ":"))
    encoded = text.encode()
    return struct.pack("<Q", len(encoded)) + encoded + data


def f32(values):
    return struct.pack("<%df" % len(values), *values)


put("safetensors", "ok-python-dtypes.safetensors", fixture("weights/python-dtypes.safetensors"))
put("safetensors", "ok-empty.safetensors", safetensors([]))
put("safetensors", "ok-mixed.safetensors", safetensors([
    ("a.weight", "F32", [2, 3], f32([0.5, -1, 2, 3, 4, 5])),
    ("a.scale", "F16", [2], struct.pack("<2e", 1.5, -0.25)),
    ("b", "BF16", [1], b"\x80\x3f"),
    ("c", "I8", [4], bytes([0, 127, 128, 255])),
    ("d", "I32", [1], struct.pack("<i", -7)),
    ("e", "I64", [1], struct.pack("<q", 1 << 40)),
    ("f", "U8", [0], b""),
], metadata={"format": "pt", "note": "fuzz seed"}))
put("safetensors", "bad-nan.safetensors", safetensors([("x", "F32", [1], f32([float("nan")]))]))
put("safetensors", "bad-overlap.safetensors", safetensors([], header_override=
    '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    + f32([1.0]))
put("safetensors", "bad-header-length.safetensors", struct.pack("<Q", 1 << 40) + b"{}")

# --- model -----------------------------------------------------------------------------------------------------
r18 = {"condseg.encoder": "resnet18", "condseg.width": "64", "condseg.mid": "256", "condseg.heads": "4",
       "condseg.input_size": "256", "condseg.channel_order": "bgr", "condseg.scale": "1/255"}
stem = ("encoder.layer0.0.weight", "F32", [64, 3, 1, 1], f32([0.01] * 192))
put("model", "bad-r18-stem-only.safetensors", safetensors([stem], metadata=r18))
put("model", "bad-inferred-stem-only.safetensors", safetensors([stem]))
put("model", "bad-big-width.safetensors", safetensors([stem], metadata=dict(r18, **{"condseg.width": "4096"})))
put("model", "bad-odd-size.safetensors", safetensors([stem], metadata=dict(r18, **{"condseg.input_size": "250"})))
table_lines = fixture("../../calibration/condseg-r18w64-kvasir.table.txt").decode().splitlines()[:14]
put("model", "bad-quantized-partial.safetensors", safetensors(
    [("encoder.layer0.0.weight", "I8", [64, 3, 1, 1], bytes(192))],
    metadata=dict(r18, **{"condseg.quantized": "int8", "condseg.calibration": "\n".join(table_lines) + "\n",
                          "condseg.source_sha256": "0" * 64})))

# --- calibration table -----------------------------------------------------------------------------------------
table = fixture("../../calibration/condseg-r18w64-kvasir.table.txt")
put("calibration-table", "ok-shipped.table.txt", table)
put("calibration-table", "ok-head.table.txt", ("\n".join(table.decode().splitlines()[:14]) + "\n").encode())
put("calibration-table", "bad-scale.table.txt",
    b"# condseg calibration table\n# model_sha256: " + b"0" * 64 + b"\ninput -1 0 int8\n")
put("calibration-table", "bad-zero-point.table.txt",
    b"# condseg calibration table\n# model_sha256: " + b"0" * 64 + b"\ninput 0.5 300 int8\n")


# --- images ----------------------------------------------------------------------------------------------------
def png(width, height, color_type, bit_depth, rows, palette=None, extra=b""):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette:
        out += chunk(b"PLTE", palette)
    return out + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


gray = png(3, 2, 0, 8, [bytes([0, 128, 255]), bytes([10, 20, 30])])
put("image", "ok-gray8.png", gray)
put("image", "ok-rgba16.png", png(2, 2, 6, 16, [bytes(range(16)), bytes(range(16, 32))]))
put("image", "ok-palette.png", png(4, 1, 3, 2, [bytes([0b00011011])], palette=bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])))
put("image", "ok-gray1.png", png(9, 1, 0, 1, [bytes([0b10101010, 0b10000000])]))
put("image", "ok-gamma-rgb.png", png(1, 1, 2, 8, [bytes([1, 2, 3])],
                                     extra=struct.pack(">I", 4) + b"gAMA" + struct.pack(">I", 45455)
                                     + struct.pack(">I", zlib.crc32(b"gAMA" + struct.pack(">I", 45455)))))
put("image", "bad-truncated.png", gray[:40])
exif = fixture("image/exif-6.jpg")
put("image", "ok-exif-6.jpg", exif)
put("image", "bad-truncated.jpg", exif[:200])
put("image", "bad-text.txt", b"not an image\n")

# --- y4m -------------------------------------------------------------------------------------------------------
put("y4m", "ok-clip-32x24.y4m", fixture("capture/clip-32x24.y4m"))
put("y4m", "ok-truncated-second-frame.y4m", fixture("capture/truncated.y4m"))
for tag, size in [("420jpeg", 4 * 2 + 2 * 2 * 1), ("422", 4 * 2 + 2 * 2 * 2), ("444", 3 * 4 * 2), ("mono", 4 * 2)]:
    put("y4m", "ok-4x2-%s.y4m" % tag,
        ("YUV4MPEG2 W4 H2 F30:1 Ip A1:1 C%s XCOLORRANGE=FULL\n" % tag).encode()
        + (b"FRAME\n" + bytes(range(size))) * 2)
put("y4m", "bad-no-signature.y4m", b"YUV4MPEG W4 H2\nFRAME\n" + bytes(12))
put("y4m", "bad-rate.y4m", b"YUV4MPEG2 W4 H2 F0:0\nFRAME\n" + bytes(12))

# --- folder replay: first byte picks the extension -------------------------------------------------------------
put("folder-replay", "ok-png", b"\x00" + gray)
put("folder-replay", "ok-jpg", b"\x01" + exif)
put("folder-replay", "bad-garbage", b"\x00" + b"\x89PNG garbage")

# --- frame conversion: format, flags, width, height, stride, size, then bytes --------------------------------
formats = ["yuyv", "uyvy", "nv12", "rgb24", "mjpeg", "yuv420p", "yuv422p", "yuv444p", "gray"]


def frame(fmt, width, height, stride, payload, flags=0, size=0):
    return (bytes([formats.index(fmt), flags]) + struct.pack("<III", width, height, stride) + bytes([size]) + payload)


put("frame-conversion", "ok-yuyv-4x2", frame("yuyv", 4, 2, 0, bytes(range(16))))
put("frame-conversion", "ok-uyvy-stride", frame("uyvy", 2, 2, 8, bytes(range(16)), flags=3))
put("frame-conversion", "ok-nv12-4x4", frame("nv12", 4, 4, 0, bytes(range(24)), flags=1))
put("frame-conversion", "ok-rgb24-2x2", frame("rgb24", 2, 2, 0, bytes(range(12)), flags=4))
put("frame-conversion", "ok-yuv420p-4x2", frame("yuv420p", 4, 2, 0, bytes(range(12))))
put("frame-conversion", "ok-yuv422p-2x2", frame("yuv422p", 2, 2, 0, bytes(range(8))))
put("frame-conversion", "ok-yuv444p-1x1", frame("yuv444p", 1, 1, 0, bytes([1, 2, 3]), size=3))
put("frame-conversion", "ok-gray-3x1", frame("gray", 3, 1, 0, bytes([1, 2, 3])))
put("frame-conversion", "ok-mjpeg", frame("mjpeg", 0, 0, 0, exif))
put("frame-conversion", "bad-partial-yuyv", frame("yuyv", 64, 64, 0, bytes(100)))
put("frame-conversion", "bad-zero-size", frame("rgb24", 0, 5, 0, bytes(10)))
print("corpora written under", CORPUS)
