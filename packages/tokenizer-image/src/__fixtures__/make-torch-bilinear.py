"""Reference for the `bilinear-torch` interpolation and 3-crop positions (ImageBind video frames).

  /usr/bin/python3 make-torch-bilinear.py      # Debian's python3-torch (1.13) and python3-numpy

Two synthetic RGB frames (landscape 320×180, portrait 170×300; values with sharp edges so that an
antialiased resize would differ) go through ImageBind's `load_and_transform_video_data` frame path:
`/ 255.0` in float32, pytorchvideo `short_side_scale(224)` (torch.nn.functional.interpolate bilinear,
align_corners=False), torchvision `NormalizeVideo` with CLIP mean/std, then SlowFast `uniform_crop`
(224, spatial_idx 0, 1, 2). The logic of those three functions is restated below from their sources
(pytorchvideo.transforms.functional.short_side_scale, ImageBind data.py uniform_crop). Saved: every 5th
row and column of each crop, and per crop and channel the float64 sum of all 224×224 values.
"""
import base64
import json
import math

import numpy as np
import torch


def frame(w, h):
    y, x = np.mgrid[0:h, 0:w]
    chans = [(x * 7 + y * 13 + c * 101 + (x * y) % 17 + ((x ^ y) & 31) * 3) % 256 for c in range(3)]
    return np.stack(chans, axis=-1).astype(np.uint8)  # [H, W, 3]


def short_side_scale(x, size):
    c, t, h, w = x.shape
    if w < h:
        new_h = int(math.floor((float(h) / w) * size))
        new_w = size
    else:
        new_h = size
        new_w = int(math.floor((float(w) / h) * size))
    return torch.nn.functional.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)


def uniform_crop(images, size, spatial_idx):
    height, width = images.shape[2], images.shape[3]
    y_offset = int(math.ceil((height - size) / 2))
    x_offset = int(math.ceil((width - size) / 2))
    if height > width:
        if spatial_idx == 0:
            y_offset = 0
        elif spatial_idx == 2:
            y_offset = height - size
    else:
        if spatial_idx == 0:
            x_offset = 0
        elif spatial_idx == 2:
            x_offset = width - size
    return images[:, :, y_offset : y_offset + size, x_offset : x_offset + size]


MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073])
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711])
out = {}
for name, (w, h) in {"landscape": (320, 180), "portrait": (170, 300)}.items():
    img = frame(w, h)
    video = torch.from_numpy(img).permute(2, 0, 1)[:, None].float() / 255.0  # [C, T=1, H, W]
    video = short_side_scale(video, 224)
    video = (video - MEAN[:, None, None, None]) / STD[:, None, None, None]  # NormalizeVideo
    crops = []
    for idx in range(3):
        crop = uniform_crop(video, 224, idx)[:, 0].numpy()  # [C, 224, 224]
        crops.append({
            "sample": base64.b64encode(crop[:, ::8, ::8].astype("<f4").tobytes()).decode(),
            "sums": [float(crop[c].astype(np.float64).sum()) for c in range(3)],
        })
    out[name] = {"width": w, "height": h, "resized": list(video.shape[2:]), "crops": crops}
with open("torch-bilinear.json", "w") as f:
    json.dump({"torch": torch.__version__, **out}, f)
print({k: v["resized"] for k, v in out.items() if k != "torch"})
