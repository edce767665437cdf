#!/usr/bin/env python3
"""compare-segment-outputs.py — compares two folders written by `condseg segment --probabilities --out DIR`
(for example an x86-64 run and an aarch64 run of the same frames): for every NAME.png / NAME.npy pair in the
first folder, whether the mask files are byte-identical, how many mask pixels differ after decoding, the largest
absolute difference of the float32 probabilities, and, for differing mask pixels, how far the probability there
was from the 0.5 threshold. Standard library only (zlib, struct); no numpy, no imaging library.

Usage: compare-segment-outputs.py EXPECTED_DIR ACTUAL_DIR [--max-prob-diff X] [--identical-masks] [--subset]
Exit status: 0 within the limits given, 1 outside them (or a file missing), 2 usage or unreadable input.
"""
import argparse
import os
import struct
import sys
import zlib


def fail_input(path, problem):
    print(f"error: {path}: {problem}", file=sys.stderr)
    sys.exit(2)


def read_png(path):
    """Decodes an 8-bit, non-interlaced grey, grey+alpha, RGB or RGBA PNG; returns (width, height, channels, bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail_input(path, "not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        fail_input(path, "no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 4: 2, 2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace != 0:
        fail_input(path, f"unsupported PNG (bit depth {depth}, colour type {colour}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = bytearray(height * stride)
    previous = bytearray(stride)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            up_left = previous[x - channels] if x >= channels else 0
            if filter_type == 1:
                line[x] = (line[x] + left) & 255
            elif filter_type == 2:
                line[x] = (line[x] + up) & 255
            elif filter_type == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif filter_type == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line[x] = (line[x] + predictor) & 255
            elif filter_type != 0:
                fail_input(path, f"unknown PNG filter {filter_type} in row {y}")
        out[y * stride:(y + 1) * stride] = line
        previous = line
    return width, height, channels, bytes(out)


def read_npy(path):
    """Reads a little-endian float32 .npy file (version 1 or 2); returns (shape, list of floats)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        fail_input(path, "not a .npy file")
    major = data[6]
    if major == 1:
        header_length, start = struct.unpack("<H", data[8:10])[0], 10
    else:
        header_length, start = struct.unpack("<I", data[8:12])[0], 12
    header = data[start:start + header_length].decode("latin1")
    if "'<f4'" not in header or "'fortran_order': False" not in header:
        fail_input(path, f"expected little-endian float32 in C order, header {header.strip()}")
    shape = tuple(int(v) for v in header.split("'shape':")[1].split("(")[1].split(")")[0].split(",") if v.strip())
    body = data[start + header_length:]
    count = len(body) // 4
    return shape, struct.unpack(f"<{count}f", body[:count * 4])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("expected")
    parser.add_argument("actual")
    parser.add_argument("--max-prob-diff", type=float, default=None,
                        help="fail if any probability differs by more than this")
    parser.add_argument("--identical-masks", action="store_true",
                        help="fail unless every mask PNG is byte-identical")
    parser.add_argument("--subset", action="store_true",
                        help="compare only the frames ACTUAL_DIR has (a run on some of the frames)")
    args = parser.parse_args()
    for folder in (args.expected, args.actual):
        if not os.path.isdir(folder):
            fail_input(folder, "not a folder")

    names = sorted(n[:-4] for n in os.listdir(args.expected) if n.endswith(".npy"))
    if not names:
        fail_input(args.expected, "no .npy files")
    ok = True
    worst_prob, total_flipped, identical_files = 0.0, 0, 0
    for name in names:
        expected_png, actual_png = (os.path.join(d, name + ".png") for d in (args.expected, args.actual))
        expected_npy, actual_npy = (os.path.join(d, name + ".npy") for d in (args.expected, args.actual))
        if not (os.path.exists(actual_png) and os.path.exists(actual_npy)):
            if args.subset:
                continue
            print(f"{name}: missing in {args.actual}")
            ok = False
            continue
        with open(expected_png, "rb") as a, open(actual_png, "rb") as b:
            same_bytes = a.read() == b.read()
        identical_files += same_bytes
        wa, ha, ca, pa = read_png(expected_png)
        wb, hb, cb, pb = read_png(actual_png)
        if (wa, ha, ca) != (wb, hb, cb):
            print(f"{name}: mask sizes differ ({wa}x{ha}x{ca} vs {wb}x{hb}x{cb})")
            ok = False
            continue
        flipped = sum(1 for x, y in zip(pa, pb) if x != y)
        total_flipped += flipped
        shape_a, qa = read_npy(expected_npy)
        shape_b, qb = read_npy(actual_npy)
        if shape_a != shape_b:
            print(f"{name}: probability shapes differ ({shape_a} vs {shape_b})")
            ok = False
            continue
        diffs = [abs(x - y) for x, y in zip(qa, qb)]
        max_diff = max(diffs)
        worst_prob = max(worst_prob, max_diff)
        # Pixels whose side of 0.5 changed at model resolution, and how close to 0.5 they were.
        crossings = [(abs(x - 0.5), x, y) for x, y in zip(qa, qb) if (x > 0.5) != (y > 0.5)]
        line = (f"{name}: png {'identical' if same_bytes else 'DIFFERENT bytes'}, {flipped} of {len(pa)} mask pixels "
                f"differ; probabilities max |diff| {max_diff:.3g}, "
                f"{sum(1 for d in diffs if d != 0)} of {len(diffs)} values differ")
        if crossings:
            closest = max(c[0] for c in crossings)
            line += f"; {len(crossings)} cross 0.5 (all within {closest:.3g} of it)"
        print(line)
        if args.identical_masks and not same_bytes:
            ok = False
        if args.max_prob_diff is not None and max_diff > args.max_prob_diff:
            ok = False
    compared = len(names) - sum(1 for n in names if args.subset and not os.path.exists(os.path.join(args.actual, n + ".npy")))
    if compared == 0:
        print(f"no frames of {args.expected} in {args.actual}")
        return 1
    print(f"summary: {identical_files}/{compared} mask files byte-identical, {total_flipped} mask pixels differ, "
          f"max |diff| of probabilities {worst_prob:.3g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
