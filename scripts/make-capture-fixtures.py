#!/usr/bin/env python3
"""make-capture-fixtures.py: fixtures for CondSegCaptureTests, made with OpenCV and NumPy (independent of
the Swift code). Writes into Tests/Fixtures/capture/:

  source-64x48.rgb          the RGB24 test picture (gradients, saturated patches, noise), 64x48
  frame.{yuyv,uyvy,nv12,i420}  that picture as YUV (BT.601 limited range, OpenCV's RGB2YUV_I420 planes,
                            chroma shared by each 2x2 block so all four layouts carry the same samples)
  opencv-rgb-from-{yuyv,uyvy,nv12,i420}.rgb   cv2.cvtColor(..., COLOR_YUV2RGB_*) of each layout
  opencv-input32-from-yuyv.f32  two-step model input by OpenCV: YUYV->RGB, cv2.resize 32x32 INTER_LINEAR,
                            BGR planar CHW, /255, float32 little-endian
  clip-32x24.y4m            3 frames, C420jpeg, F15:1; clip-32x24.i420 holds the same 3 frames' planes
  truncated.y4m             the same clip with the last frame cut short
Run from the repository root: python3 scripts/make-capture-fixtures.py
Needs: pip install opencv-python-headless numpy.
"""
import os
import cv2
import numpy as np

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "capture")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20261126)


def picture(width, height):
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.zeros((height, width, 3), np.float64)
    rgb[..., 0] = 255 * x / (width - 1)
    rgb[..., 1] = 255 * y / (height - 1)
    rgb[..., 2] = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    rgb[: height // 4, : width // 4] = (255, 0, 0)          # saturated patches exercise clamping
    rgb[: height // 4, width // 4: width // 2] = (0, 0, 255)
    rgb[height // 4: height // 2, : width // 4] = (255, 255, 255)
    rgb += rng.normal(0, 12, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def planes_420(rgb):
    height, width = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    y = i420[: width * height].reshape(height, width)
    u = i420[width * height: width * height * 5 // 4].reshape(height // 2, width // 2)
    v = i420[width * height * 5 // 4:].reshape(height // 2, width // 2)
    return y, u, v


def write(name, array):
    with open(os.path.join(out, name), "wb") as handle:
        handle.write(np.ascontiguousarray(array).tobytes())


width, height = 64, 48
rgb = picture(width, height)
write("source-64x48.rgb", rgb)
y, u, v = planes_420(rgb)
u422 = np.repeat(u, 2, axis=0)  # 4:2:2 layouts carry the 4:2:0 chroma on both rows of each pair
v422 = np.repeat(v, 2, axis=0)

yuyv = np.zeros((height, width * 2), np.uint8)
yuyv[:, 0::2] = y
yuyv[:, 1::4] = u422
yuyv[:, 3::4] = v422
uyvy = np.zeros((height, width * 2), np.uint8)
uyvy[:, 1::2] = y
uyvy[:, 0::4] = u422
uyvy[:, 2::4] = v422
uv = np.zeros((height // 2, width), np.uint8)
uv[:, 0::2] = u
uv[:, 1::2] = v
nv12 = np.concatenate([y.reshape(-1), uv.reshape(-1)])
i420 = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
write("frame.yuyv", yuyv)
write("frame.uyvy", uyvy)
write("frame.nv12", nv12)
write("frame.i420", i420)

write("opencv-rgb-from-yuyv.rgb", cv2.cvtColor(yuyv.reshape(height, width, 2), cv2.COLOR_YUV2RGB_YUYV))
write("opencv-rgb-from-uyvy.rgb", cv2.cvtColor(uyvy.reshape(height, width, 2), cv2.COLOR_YUV2RGB_UYVY))
write("opencv-rgb-from-nv12.rgb", cv2.cvtColor(nv12.reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_NV12))
write("opencv-rgb-from-i420.rgb", cv2.cvtColor(i420.reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_I420))

rgb_yuyv = cv2.cvtColor(yuyv.reshape(height, width, 2), cv2.COLOR_YUV2RGB_YUYV)
small = cv2.resize(rgb_yuyv, (32, 32), interpolation=cv2.INTER_LINEAR)
planar = (small[..., ::-1].transpose(2, 0, 1).astype(np.float64) / 255.0).astype("<f4")
write("opencv-input32-from-yuyv.f32", planar)

# A small y4m clip: three different pictures, 4:2:0 (JPEG siting), 15 fps.
clip_width, clip_height = 32, 24
frames = []
for index in range(3):
    picture_rgb = np.roll(picture(clip_width, clip_height), 5 * index, axis=1)
    cy, cu, cv_ = planes_420(picture_rgb)
    frames.append(np.concatenate([cy.reshape(-1), cu.reshape(-1), cv_.reshape(-1)]))
header = f"YUV4MPEG2 W{clip_width} H{clip_height} F15:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode()
body = b"".join(b"FRAME\n" + frame.tobytes() for frame in frames)
with open(os.path.join(out, "clip-32x24.y4m"), "wb") as handle:
    handle.write(header + body)
write("clip-32x24.i420", np.concatenate(frames))
with open(os.path.join(out, "truncated.y4m"), "wb") as handle:
    handle.write(header + body[: -100])
print("wrote fixtures to", os.path.normpath(out))
