#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/image/: reference outputs of OpenCV (cv2.imread, cv2.resize INTER_LINEAR) and
NumPy (.npy) that the CondSegImage tests compare against bit for bit.

Usage: python3 scripts/make-image-fixtures.py [--data /work/shared/data/kvasir-seg]
Needs: pip install numpy opencv-python-headless (checked with cv2 4.14 and 5.0: identical outputs).
"""
import argparse
import json
import os
import shutil
import struct
import zlib

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "image")

# Two small Kvasir-SEG images: one 4:2:0 (like 98% of the set) and one 4:4:4, with their masks.
KVASIR = {
    "kvasir-420": "cju2htabevq9108015qjei0x7",
    "kvasir-444": "cjyzkmjy8evns070165gf9dmq",
}


def fnv1a64(data: bytes) -> str:
    value = 0xCBF29CE484222325
    for byte in data:
        value ^= byte
        value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % value


def rgb_bytes(image: np.ndarray) -> bytes:
    """Interleaved RGB (or gray) bytes of a cv2 image."""
    if image.ndim == 3:
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image).tobytes()


def describe(image: np.ndarray, rng) -> dict:
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else 3
    rgb = image if channels == 1 else image[:, :, ::-1]
    samples = []
    for _ in range(16):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        value = rgb[y, x]
        samples.append([x, y] + ([int(value)] if channels == 1 else [int(v) for v in value]))
    return {"width": width, "height": height, "channels": channels, "fnv1a64": fnv1a64(rgb_bytes(image)),
            "samples": samples}


def write_png(name: str, image: np.ndarray) -> None:
    assert cv2.imwrite(os.path.join(OUT, name), image), name


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def raw_png(width, height, bit_depth, color_type, rows, palette=None, trns=None, extra=()) -> bytes:
    """A PNG written by hand (palette, low-bit-depth and gamma-tagged files, which cv2 cannot write)."""
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    for kind, payload in extra:
        data += png_chunk(kind, payload)
    if palette is not None:
        data += png_chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).ravel()))
    if trns is not None:
        data += png_chunk(b"tRNS", bytes(trns))
    data += png_chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + row for row in rows)))
    return data + png_chunk(b"IEND", b"")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/work/shared/data/kvasir-seg")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20260101)
    manifest = {"opencv": cv2.__version__, "jpeg": {}, "resize": [], "resizeFloat": [], "png": []}

    # --- JPEG decode references (cv2.imread colour and IMREAD_GRAYSCALE).
    for key, stem in KVASIR.items():
        for kind, folder in (("", "images"), ("-mask", "masks")):
            name = f"{key}{kind}.jpg"
            shutil.copyfile(os.path.join(args.data, folder, stem + ".jpg"), os.path.join(OUT, name))
            color = cv2.imread(os.path.join(OUT, name), cv2.IMREAD_COLOR)
            gray = cv2.imread(os.path.join(OUT, name), cv2.IMREAD_GRAYSCALE)
            manifest["jpeg"][name] = {"rgb": describe(color, rng), "gray": describe(gray, rng)}
    # Full cv2 decodes of the small image and the masks, for pixel-by-pixel comparison.
    small = cv2.imread(os.path.join(OUT, "kvasir-420.jpg"))
    write_png("kvasir-420.cv2-color.png", small)
    for key in KVASIR:
        write_png(f"{key}-mask.cv2-gray.png", cv2.imread(os.path.join(OUT, f"{key}-mask.jpg"), cv2.IMREAD_GRAYSCALE))

    # --- EXIF orientation 1..8 on a small JPEG with four distinct quadrants (cv2.imread applies it).
    quadrants = np.zeros((24, 40, 3), np.uint8)
    quadrants[:12, :20] = (0, 0, 255)
    quadrants[12:, 20:] = (255, 0, 0)
    quadrants[:12, 20:] = (0, 255, 0)
    quadrants[12:, :20] = (90, 160, 30)
    plain = cv2.imencode(".jpg", quadrants, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    manifest["exif"] = []
    for orientation in range(1, 9):
        order = ">" if orientation % 2 else "<"  # both TIFF byte orders
        tiff = (b"MM" if order == ">" else b"II") + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", 1)
        tiff += struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(order + "I", 0)
        payload = b"Exif\x00\x00" + tiff
        name = f"exif-{orientation}.jpg"
        with open(os.path.join(OUT, name), "wb") as handle:
            handle.write(plain[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + plain[2:])
        write_png(f"exif-{orientation}.cv2-color.png", cv2.imread(os.path.join(OUT, name), cv2.IMREAD_COLOR))
        write_png(f"exif-{orientation}.cv2-gray.png", cv2.imread(os.path.join(OUT, name), cv2.IMREAD_GRAYSCALE))
        manifest["exif"].append({"file": name, "color": f"exif-{orientation}.cv2-color.png",
                                 "gray": f"exif-{orientation}.cv2-gray.png", "orientation": orientation})

    # --- uint8 resize: real images to the model size, a real crop upscaled, and random images of odd sizes.
    def add_resize(name, source, width, height, source_file=None):
        if source_file is None:
            source_file = f"resize-{name}-in.png"
            write_png(source_file, source)
        output_file = f"resize-{name}-out.png"
        write_png(output_file, cv2.resize(source, (width, height), interpolation=cv2.INTER_LINEAR))
        manifest["resize"].append({"input": source_file, "output": output_file, "width": width, "height": height})

    add_resize("kvasir-420-256", small, 256, 256, source_file="kvasir-420.cv2-color.png")
    big = cv2.imread(os.path.join(OUT, "kvasir-444.jpg"))
    add_resize("kvasir-444-256", big, 256, 256, source_file="")  # input: the test's own decode of kvasir-444.jpg
    manifest["resize"][-1]["input"] = "kvasir-444.jpg"
    for key in KVASIR:
        mask = cv2.imread(os.path.join(OUT, f"{key}-mask.jpg"), cv2.IMREAD_GRAYSCALE)
        add_resize(f"{key}-mask-256", mask, 256, 256, source_file=f"{key}-mask.cv2-gray.png")
    crop = np.ascontiguousarray(small[200:247, 100:161])  # 61 x 47 real pixels
    add_resize("crop-up", crop, 200, 151)
    add_resize("crop-mixed", crop, 23, 140)
    synthetic = [  # (width, height, channels, target width, target height)
        (37, 29, 3, 90, 71), (151, 103, 3, 64, 64), (200, 100, 3, 100, 50), (64, 48, 1, 128, 96),
        (97, 61, 1, 13, 250), (1, 17, 3, 9, 5), (23, 1, 1, 50, 3), (129, 127, 3, 128, 128), (16, 16, 3, 17, 15),
        (120, 90, 1, 7, 7), (5, 3, 3, 1, 1),
    ]
    for index, (width, height, channels, target_width, target_height) in enumerate(synthetic):
        shape = (height, width, channels) if channels == 3 else (height, width)
        source = rng.integers(0, 256, shape, dtype=np.uint8)
        add_resize(f"synthetic-{index}", source, target_width, target_height)

    # --- float32 single-plane resize.
    for index, (width, height, target_width, target_height) in enumerate([(50, 41, 17, 29), (32, 32, 96, 80), (64, 40, 32, 20), (7, 9, 31, 2)]):
        plane = rng.standard_normal((height, width)).astype(np.float32)
        np.save(os.path.join(OUT, f"resize-float-{index}-in.npy"), plane)
        np.save(os.path.join(OUT, f"resize-float-{index}-out.npy"),
                cv2.resize(plane, (target_width, target_height), interpolation=cv2.INTER_LINEAR))
        manifest["resizeFloat"].append({"input": f"resize-float-{index}-in.npy", "output": f"resize-float-{index}-out.npy",
                                        "width": target_width, "height": target_height})

    # --- PNG variants, decoded by cv2 as the reference (colour and gray).
    def add_png(name, data_or_image):
        path = os.path.join(OUT, name)
        if isinstance(data_or_image, bytes):
            with open(path, "wb") as handle:
                handle.write(data_or_image)
        else:
            assert cv2.imwrite(path, data_or_image), name
        color_name, gray_name = name.replace(".png", ".cv2-color.png"), name.replace(".png", ".cv2-gray.png")
        write_png(color_name, cv2.imread(path, cv2.IMREAD_COLOR))
        write_png(gray_name, cv2.imread(path, cv2.IMREAD_GRAYSCALE))
        manifest["png"].append({"file": name, "color": color_name, "gray": gray_name})

    add_png("png-rgb8.png", rng.integers(0, 256, (21, 34, 3), dtype=np.uint8))
    add_png("png-gray8.png", rng.integers(0, 256, (19, 23), dtype=np.uint8))
    add_png("png-rgba8.png", rng.integers(0, 256, (13, 17, 4), dtype=np.uint8))
    add_png("png-rgb16.png", rng.integers(0, 65536, (11, 14, 3), dtype=np.uint16))
    add_png("png-gray16.png", rng.integers(0, 65536, (9, 12), dtype=np.uint16))
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    indices = rng.integers(0, 16, (10, 15), dtype=np.uint8)
    add_png("png-palette.png", raw_png(15, 10, 8, 3, [bytes(row) for row in indices], palette=palette))
    # Gamma 1.0 and a chromaticity chunk: cv2 ignores both (libpng's simplified API would not).
    tagged = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    add_png("png-gamma10.png", raw_png(10, 8, 8, 2, [bytes(row.ravel()) for row in tagged],
                                       extra=[(b"gAMA", struct.pack(">I", 100000)),
                                              (b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))]))
    bits = rng.integers(0, 2, (6, 16), dtype=np.uint8)
    add_png("png-gray1.png", raw_png(16, 6, 1, 0, [np.packbits(row).tobytes() for row in bits]))

    # --- .npy written by numpy: float32 3-D, float64 1-D, and NumPy's own float32(p / 255.0) table.
    np.save(os.path.join(OUT, "npy-f4-2x3x4.npy"), (np.arange(24, dtype=np.float32) * 0.5 - 3.0).reshape(2, 3, 4))
    np.save(os.path.join(OUT, "npy-f8-5.npy"), np.array([0.1, -2.5, 1e-3, 7.0, 1e30]))
    np.save(os.path.join(OUT, "npy-div255.npy"), (np.arange(256) / 255.0).astype(np.float32))

    with open(os.path.join(OUT, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.write("\n")


if __name__ == "__main__":
    main()
