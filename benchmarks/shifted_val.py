#!/usr/bin/env python3
"""shifted_val.py: a "different camera" proxy of a Kvasir-SEG split, for measuring how much an int8 calibration
change costs on images that do not look like the calibration images.

Not another centre's data (we have none): a stand-in for one. Each image of --list gets, drawn from --seed:
  gamma x^g, g uniform in [0.7, 1.4] (x = pixel/255); per-channel gains uniform in [0.85, 1.15]; clipped, rounded;
  a lower-resolution capture: bilinear downscale by a factor uniform in [0.4, 0.8], bicubic back up;
  with probability 0.5 an unsharp mask (radius 2, 120%); JPEG at quality uniform in 35..70.
Masks are copied unchanged (the geometry is the same). Writes OUT/images, OUT/masks, OUT/list.txt; OUT must be a
new or empty folder (nothing is written when an input is missing).

Needs: pip install pillow numpy

Usage:
  python3 benchmarks/shifted_val.py --data ../shared/data/kvasir-seg --list ../shared/data/kvasir-seg/val.txt --out /tmp/shifted
  condseg compare --calibration TABLE --data /tmp/shifted --list /tmp/shifted/list.txt --float-cache /tmp/shifted-cache --json
"""
import argparse
import os
import random
import shutil
import sys

try:
    import numpy as np
    from PIL import Image, ImageFilter
except ImportError as e:
    sys.exit(f"error: {e.name} is missing: pip install pillow numpy")


def find(folder, stem):
    """The file in `folder` whose name without extension is `stem`."""
    try:
        names = os.listdir(folder)
    except OSError as e:
        sys.exit(f"error: {folder}: {e.strerror}")
    for name in names:
        if os.path.splitext(name)[0] == stem:
            return os.path.join(folder, name)
    sys.exit(f"error: {folder}: no file named {stem}.*")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='dataset folder with images/ and masks/')
    p.add_argument('--list', required=True, help='names to take, one per line, without extension')
    p.add_argument('--out', required=True, help='folder to write (created)')
    p.add_argument('--seed', type=int, default=7, help='random seed (default 7)')
    a = p.parse_args()
    rng = random.Random(a.seed)
    # Everything is checked before anything is written, and written into OUT.partial first, renamed at the end:
    # a bad list or a missing file leaves nothing behind, and the source images are never overwritten.
    if os.path.exists(a.out) and (not os.path.isdir(a.out) or os.listdir(a.out)):
        sys.exit(f"error: {a.out}: already exists and is not an empty folder (give a new folder)")
    try:
        names = [os.path.splitext(line.strip())[0] for line in open(a.list) if line.strip()]
    except OSError as e:
        sys.exit(f"error: {a.list}: {e.strerror}")
    if not names:
        sys.exit(f"error: {a.list}: no names")
    sources = [(stem, find(os.path.join(a.data, 'images'), stem), find(os.path.join(a.data, 'masks'), stem)) for stem in names]
    partial = a.out.rstrip('/') + '.partial'
    if os.path.exists(partial):
        sys.exit(f"error: {partial}: left by an interrupted run; remove it first")
    os.makedirs(os.path.join(partial, 'images'))
    os.makedirs(os.path.join(partial, 'masks'))
    with open(os.path.join(partial, 'list.txt'), 'w') as listing:
        for stem, image_path, mask in sources:
            image = Image.open(image_path).convert('RGB')
            x = np.asarray(image).astype(np.float32) / 255
            gamma = rng.uniform(0.7, 1.4)
            gains = np.array([rng.uniform(0.85, 1.15) for _ in range(3)], dtype=np.float32)
            x = np.clip((x ** gamma) * gains, 0, 1)
            image = Image.fromarray((x * 255 + 0.5).astype(np.uint8))
            w, h = image.size
            f = rng.uniform(0.4, 0.8)
            image = image.resize((max(8, int(w * f)), max(8, int(h * f))), Image.BILINEAR).resize((w, h), Image.BICUBIC)
            if rng.random() < 0.5:
                image = image.filter(ImageFilter.UnsharpMask(radius=2, percent=120))
            image.save(os.path.join(partial, 'images', stem + '.jpg'), quality=rng.randint(35, 70))
            shutil.copy(mask, os.path.join(partial, 'masks', os.path.basename(mask)))
            listing.write(stem + '.jpg\n')
    if os.path.isdir(a.out):
        os.rmdir(a.out)   # empty, checked above
    os.rename(partial, a.out)
    print(f"wrote {len(names)} shifted images to {a.out}")


if __name__ == '__main__':
    main()
