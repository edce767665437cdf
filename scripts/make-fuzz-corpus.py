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
# --- zip (the archive format of PyTorch checkpoints: stored entries, CRC-32, ZIP64) ----------------------------
def zip_archive(entries, zip64=False, comment=b"", end_offset_override=None):
    """entries: list of (name, data, method, crc or None); every entry is written as it is (no compression)."""
    out, central = b"", b""
    for name, data, method, crc in entries:
        name = name.encode()
        crc = zlib.crc32(data) & 0xFFFFFFFF if crc is None else crc
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), len(data), len(name), 0)
        out += name + data
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
            sizes = (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        else:
            extra, sizes = b"", (len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 20, 0, method, 0, 0, crc, sizes[0], sizes[1],
                               len(name), len(extra), 0, 0, 0, 0, sizes[2]) + name + extra
    directory = len(out)
    out += central
    n = len(entries)
    if zip64:
        record = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), directory)
        out += struct.pack("<IIQI", 0x07064B50, 0, record, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(comment))
    else:
        start = directory if end_offset_override is None else end_offset_override
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), start, len(comment))
    return out + comment


two = [("archive/data.pkl", b"\x80\x02}q\x00.", 0, None), ("archive/byteorder", b"little", 0, None)]
put("zip", "ok-stored-two.zip", zip_archive(two))
put("zip", "ok-zip64.zip", zip_archive(two, zip64=True))
put("zip", "ok-empty.zip", zip_archive([]))
put("zip", "ok-comment.zip", zip_archive(two[:1], comment=b"a comment after the end record"))
put("zip", "bad-crc.zip", zip_archive([("a", b"hello", 0, 0x12345678)]))
put("zip", "bad-deflated.zip", zip_archive([("a", zlib.compress(b"hello" * 9)[2:-4], 8, None)]))
put("zip", "bad-truncated.zip", zip_archive(two)[:-30])
put("zip", "bad-directory-offset.zip", zip_archive(two, end_offset_override=0x7FFFFFF0))


# --- checkpoint: whole torch.save files, and bare pickles for the restricted unpickler ------------------------
def pk_str(text):
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def pk_int(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def pk_tuple(items):
    return b"(" + b"".join(items) + b"t"


ORDERED_DICT = b"ccollections\nOrderedDict\n)R"


def pk_tensor(key, storage_type, count, offset, shape, strides):
    storage = pk_tuple([pk_str("storage"), b"ctorch\n" + storage_type.encode() + b"\n", pk_str(key), pk_str("cpu"),
                        pk_int(count)]) + b"Q"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n"
            + pk_tuple([storage, pk_int(offset), pk_tuple([pk_int(d) for d in shape]),
                        pk_tuple([pk_int(d) for d in strides]), b"\x89", ORDERED_DICT]) + b"R")


def pk_state_dict(tensors, wrapper=None):
    body = ORDERED_DICT + b"(" + b"".join(pk_str(name) + t for name, t in tensors) + b"u"
    if wrapper:
        body = b"}(" + pk_str(wrapper) + body + pk_str("epoch") + pk_int(3) + b"u"
    return b"\x80\x02" + body + b"."


def checkpoint(pickle, storages, byteorder=b"little"):
    entries = [("archive/data.pkl", pickle, 0, None), ("archive/byteorder", byteorder, 0, None)]
    entries += [("archive/data/%s" % key, raw, 0, None) for key, raw in storages]
    return zip_archive(entries + [("archive/version", b"3\n", 0, None)])


for name in ["tiny-mixed", "tiny-bigendian"]:
    put("checkpoint", "ok-%s.pth" % name, fixture("interop/%s.pth" % name))
for name in ["foreign-global", "malicious-reduce", "tiny-deflated"]:
    put("checkpoint", "bad-%s.pth" % name, fixture("interop/%s.pth" % name))
strided = pk_state_dict([
    ("conv.weight", pk_tensor("0", "FloatStorage", 12, 0, [2, 3], [1, 2])),
    ("conv.bias", pk_tensor("0", "FloatStorage", 12, 6, [3], [2])),
    ("bn.num_batches_tracked", pk_tensor("1", "LongStorage", 1, 0, [], [])),
    ("half", pk_tensor("2", "HalfStorage", 2, 0, [2], [1])),
], wrapper="state_dict")
storages = [("0", f32([float(i) for i in range(12)])), ("1", struct.pack("<q", 7)), ("2", struct.pack("<2e", 1.5, -2))]
put("checkpoint", "ok-strided-wrapped.pth", checkpoint(strided, storages))
put("checkpoint", "ok-bigendian-made.pth", checkpoint(pk_state_dict([("w", pk_tensor("0", "FloatStorage", 2, 0, [2], [1]))]),
                                                       [("0", struct.pack(">2f", 1.0, -3.0))], byteorder=b"big"))
put("checkpoint", "bad-view-past-storage.pth", checkpoint(
    pk_state_dict([("w", pk_tensor("0", "FloatStorage", 4, 3, [2], [1]))]), [("0", f32([1, 2, 3, 4]))]))
put("checkpoint", "bad-missing-storage.pth", checkpoint(
    pk_state_dict([("w", pk_tensor("9", "FloatStorage", 1, 0, [1], [1]))]), [("0", f32([1]))]))
put("checkpoint", "bad-storage-too-short.pth", checkpoint(
    pk_state_dict([("w", pk_tensor("0", "DoubleStorage", 3, 0, [3], [1]))]), [("0", f32([1, 2]))]))
put("checkpoint", "ok-data.pkl", strided)
put("checkpoint", "ok-plain-data.pkl", b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01(K\x01J\xfe\xff\xff\xffM,\x01\x88N\x8c\x02xy"
    + b"G@\x04\x00\x00\x00\x00\x00\x00\x8a\x02\x00\x80]q\x02(K\x01K\x02eC\x02ab\x94th\x03\x86s.")
put("checkpoint", "ok-protocol4.pkl", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01k\x94]\x94(K\x01K\x02eu.")
put("checkpoint", "bad-os-system.pkl", b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00idq\x00\x85R.")
put("checkpoint", "bad-newobj.pkl", b"\x80\x02ccollections\nOrderedDict\n)\x81.")
put("checkpoint", "bad-no-stop.pkl", b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x01u")
put("checkpoint", "bad-recursive-list.pkl", b"\x80\x02]q\x00h\x00a.")
put("checkpoint", "bad-nested-too-deep.pkl", b"\x80\x02N" + b"\x85" * 65 + b".")

# --- inputs that once crashed or exhausted a reader (Fuzz/regressions/TARGET/: replayed by the tests) ----------
def regression(target, name, data):
    folder = os.path.join(ROOT, "Fuzz", "regressions", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def zip64_with_sizes(data, size):
    """One stored entry whose ZIP64 extra field records `size` for both sizes (named as a checkpoint's pickle, so
    that `condseg import` reads it too)."""
    archive = bytearray(zip_archive([("archive/data.pkl", data, 0, None)], zip64=True))
    at = archive.index(struct.pack("<HHQQ", 1, 24, len(data), len(data)))
    archive[at + 4:at + 20] = struct.pack("<QQ", size, size)
    return bytes(archive)


def pk_long(v):
    return b"\x8a\x08" + struct.pack("<q", v)


def hostile_tensor(count, offset, shape, strides, storage=f32([1, 2, 3, 4])):
    storage_pid = pk_tuple([pk_str("storage"), b"ctorch\nFloatStorage\n", pk_str("0"), pk_str("cpu"), count]) + b"Q"
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n"
              + pk_tuple([storage_pid, pk_long(offset), pk_tuple([pk_long(d) for d in shape]),
                          pk_tuple([pk_long(d) for d in strides])]) + b"R")
    return checkpoint(b"\x80\x02}(" + pk_str("w") + tensor + b"u.", [("0", storage)])


regression("zip", "zip64-sizes-beyond-int-max.zip", zip64_with_sizes(b"hello", (1 << 64) - 1))
regression("checkpoint", "storage-byte-count-overflows.pth", hostile_tensor(pk_long((1 << 63) - 1), 0, [1], [1]))
regression("checkpoint", "offset-plus-reach-overflows.pth", hostile_tensor(pk_int(4), (1 << 63) - 2, [3], [1]))
regression("checkpoint", "expanded-view-of-4-tib.pth", hostile_tensor(pk_int(4), 0, [1 << 40], [0]))
regression("checkpoint", "expanded-view-byte-count-overflows.pth", hostile_tensor(pk_int(4), 0, [1 << 62], [0]))
regression("checkpoint", "list-holding-itself.pkl", b"\x80\x02]q\x00h\x00a.")
regression("checkpoint", "tuples-nested-100000-deep.pkl", b"\x80\x02N" + b"\x85" * 100000 + b".")
print("corpora written under", CORPUS)
