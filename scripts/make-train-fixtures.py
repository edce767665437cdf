#!/usr/bin/env python3
"""Makes Tests/Fixtures/train/kvasir/: a tiny Kvasir-layout data set (images/, masks/, train.txt, val.txt)
for the trainer's short-run tests. Six images of ../shared/data/kvasir-seg, downscaled with OpenCV to 96x80
(so the trainer's own resize to the model size runs), written as JPEG like the original data set.
Usage: python3 scripts/make-train-fixtures.py [KVASIR_DIR]
Needs: pip install opencv-python-headless."""
import os, sys
import cv2

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "kvasir-seg")
dst = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "train", "kvasir")
names = [l.strip() for l in open(os.path.join(src, "train.txt")) if l.strip()]
train, val = names[:4], names[4:6]
for sub in ("images", "masks"):
    os.makedirs(os.path.join(dst, sub), exist_ok=True)
for name in train + val:
    base = os.path.splitext(name)[0]
    for sub in ("images", "masks"):
        path = os.path.join(src, sub, base + ".jpg")
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        small = cv2.resize(image, (96, 80), interpolation=cv2.INTER_AREA)
        cv2.imwrite(os.path.join(dst, sub, base + ".jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 92])
with open(os.path.join(dst, "train.txt"), "w") as f:
    f.write("\n".join(os.path.splitext(n)[0] for n in train) + "\n")
with open(os.path.join(dst, "val.txt"), "w") as f:
    f.write("\n".join(os.path.splitext(n)[0] for n in val) + "\n")
print("wrote", dst)
