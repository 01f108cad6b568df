#!/usr/bin/python3
"""Reference fixtures for @omnitok/tokenizer-image, computed ONCE with Debian's python3-pil + python3-numpy.

Run from this folder:  /usr/bin/python3 make-fixtures.py [--photos SKIMAGE_DATA_DIR]

The reference pipeline is what the Python models run — torchvision transforms on a PIL image — written out
with PIL and numpy (torchvision itself is not installed; its PIL code paths are reproduced line by line):
  Image.open → ImageOps.exif_transpose → RGB (alpha composited on white, or dropped = convert('RGB'))
  → Resize(S) = PIL resize with torchvision's size rule int(S * long / short)
  → CenterCrop with int(round((h - crop) / 2.0))
  → ToTensor (float32 / 255) → Normalize ((x - mean) / std in float32).

Photos: chelsea.jpg and coffee.jpg are re-encoded (JPEG q90) from scikit-image's sample data
(skimage/data/chelsea.png and coffee.png, CC0 by the photographers, see README). Pass --photos with the
skimage data folder to recreate them; otherwise the committed JPEGs are used.
"""
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


def clip(size, patch):
    return dict(size=size, patchSize=patch, resize="shortest", crop="center", interpolation="bicubic",
                mean=CLIP_MEAN, std=CLIP_STD, channels=3)


PRESETS = {
    "clip-vit-b-32": clip(224, 32),
    "clip-vit-b-16": clip(224, 16),
    "clip-vit-l-14-336": clip(336, 14),
    "siglip-224": dict(size=224, patchSize=16, resize="squash", crop="none", interpolation="bicubic",
                       mean=[0.5] * 3, std=[0.5] * 3, channels=3),
    "siglip-384": dict(size=384, patchSize=16, resize="squash", crop="none", interpolation="bicubic",
                       mean=[0.5] * 3, std=[0.5] * 3, channels=3),
    "imagenet": dict(size=224, patchSize=16, resize="shortest", resizeSize=256, crop="center",
                     interpolation="bilinear", mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], channels=3),
}
CUSTOM = {
    "nearest-160": dict(name="nearest-160", size=160, patchSize=16, resize="shortest", crop="center",
                        interpolation="nearest", mean=CLIP_MEAN, std=CLIP_STD, channels=3),
    "pad-192": dict(name="pad-192", size=192, patchSize=16, resize="longest-pad", crop="none",
                    interpolation="bilinear", mean=[0.5] * 3, std=[0.5] * 3, channels=3, padColor=[0, 0, 0]),
    "gray-112": dict(name="gray-112", size=112, patchSize=16, resize="shortest", crop="center",
                     interpolation="bicubic", mean=[0.5], std=[0.25], channels=1),
    "rect-96x128": dict(name="rect-96x128", size=[96, 128], patchSize=32, resize="squash", resizeSize=160,
                        crop="center", interpolation="bicubic", mean=CLIP_MEAN, std=CLIP_STD, channels=3),
}


def load_rgb(path, alpha="composite", background=(255, 255, 255)):
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I"):  # 16-bit grey PNG (PIL opens it as "I"): scale 65535 → 255; convert() would clip
        a = np.asarray(im).astype(np.float64)
        return Image.fromarray(np.round(a / 257).astype(np.uint8), "L").convert("RGB")
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if has_alpha and alpha == "composite":
        a = np.asarray(im.convert("RGBA")).astype(np.int64)
        rgb, al = a[..., :3], a[..., 3:4]
        bg = np.array(background, dtype=np.int64)
        out = ((rgb * al + bg * (255 - al)) * 2 + 255) // 510
        return Image.fromarray(out.astype(np.uint8), "RGB")
    return im.convert("RGB")


def transform(im, p):
    """torchvision eval transform on a PIL image, as the presets describe it."""
    if p["channels"] == 1:
        im = im.convert("L")
    size = p["size"]
    H, W = (size, size) if isinstance(size, int) else size
    f = FILTERS[p["interpolation"]]
    w, h = im.size
    if p["resize"] == "shortest":
        S = p.get("resizeSize", max(H, W))
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = S, int(S * long / short)
        nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    elif p["resize"] == "squash":
        nw = nh = p.get("resizeSize") or 0
        if not nw:
            nw, nh = W, H
    else:  # longest-pad
        if w >= h:
            nw, nh = W, max(1, int(W * h / w))
        else:
            nh, nw = H, max(1, int(H * w / h))
    if (nw, nh) != im.size:
        im = im.resize((nw, nh), f)
    if p["resize"] == "longest-pad":
        canvas = Image.new(im.mode, (W, H), tuple(p["padColor"]) if im.mode == "RGB" else p["padColor"][0])
        canvas.paste(im, ((W - nw) // 2, (H - nh) // 2))
        im = canvas
    elif (nw, nh) != (W, H):
        top = int(round((nh - H) / 2.0))
        left = int(round((nw - W) / 2.0))
        im = im.crop((left, top, left + W, top + H))
    return im


def normalize(u8, p):
    arr = u8.astype(np.float32) / np.float32(255)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    mean = np.array(p["mean"], dtype=np.float32)
    std = np.array(p["std"], dtype=np.float32)
    return ((arr - mean) / std).transpose(2, 0, 1).copy()  # CHW float32


def make_sources(photos):
    rng = np.random.default_rng(1234)
    if photos:
        for name in ("chelsea", "coffee"):
            Image.open(os.path.join(photos, f"{name}.png")).convert("RGB").save(os.path.join(HERE, f"{name}.jpg"), quality=90)
    # Line art: thin black strokes and text on white, the case where ringing shows.
    im = Image.new("RGB", (320, 240), "white")
    d = ImageDraw.Draw(im)
    for i in range(0, 320, 23):
        d.line([(i, 0), (319 - i, 239)], fill=(0, 0, 0), width=1)
    d.rectangle([40, 30, 130, 110], outline=(200, 0, 0), width=3)
    d.ellipse([170, 60, 300, 200], outline=(0, 0, 220), width=2)
    d.text((20, 200), "omnitok line art 0123", fill=(0, 0, 0))
    im.save(os.path.join(HERE, "lineart.png"))
    Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), "RGB").save(os.path.join(HERE, "tiny.png"))
    Image.fromarray(rng.integers(0, 256, (40, 3, 3), dtype=np.uint8), "RGB").save(os.path.join(HERE, "strip.png"))
    Image.fromarray(np.array([[[200, 30, 90]]], dtype=np.uint8), "RGB").save(os.path.join(HERE, "pixel.png"))
    # RGBA: colour gradient, alpha from 0 (left) to 255 (right), a transparent hole with black under it.
    y, x = np.mgrid[0:48, 0:64]
    rgba = np.stack([x * 4, y * 5, 255 - x * 3, (x * 255 // 63)], axis=-1).astype(np.uint8)
    rgba[10:20, 10:20] = [0, 0, 0, 0]
    Image.fromarray(rgba, "RGBA").save(os.path.join(HERE, "rgba.png"))
    gray = (np.clip((x[:37, :50] * 3 + y[:37, :50] * 4) + rng.normal(0, 12, (37, 50)), 0, 255)).astype(np.uint8)
    Image.fromarray(gray, "L").save(os.path.join(HERE, "gray.png"))
    g16 = (np.mgrid[0:30, 0:45][1] * 1489 + rng.integers(0, 257, (30, 45))).clip(0, 65535).astype(np.uint16)
    g16[0, 0], g16[0, 1] = 65535, 0
    Image.fromarray(g16, "I;16").save(os.path.join(HERE, "gray16.png"))
    # EXIF orientation 6 (rotate 90° clockwise to view): stored 40 wide × 24 high, viewed 24 × 40.
    base = Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8), "RGB").resize((40, 24))
    ImageDraw.Draw(base).rectangle([0, 0, 9, 5], fill=(255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    base.save(os.path.join(HERE, "oriented.jpg"), quality=95, exif=exif)
    # Two-frame GIF: the first frame is the image.
    f0 = Image.open(os.path.join(HERE, "lineart.png")).resize((80, 60), Image.BILINEAR).quantize(64)
    f1 = Image.new("RGB", (80, 60), (0, 255, 0)).quantize(64)
    f0.save(os.path.join(HERE, "anim.gif"), save_all=True, append_images=[f1], duration=100, loop=0)


def stats(x):
    return [dict(mean=float(c.astype(np.float64).mean()), std=float(c.astype(np.float64).std()),
                 min=float(c.min()), max=float(c.max())) for c in x]


CASES = [
    # (case id, source, preset name, full array?, load options)
    ("chelsea.clip-vit-b-16", "chelsea.jpg", "clip-vit-b-16", True, {}),
    ("chelsea.clip-vit-l-14-336", "chelsea.jpg", "clip-vit-l-14-336", False, {}),
    ("chelsea.siglip-384", "chelsea.jpg", "siglip-384", False, {}),
    ("chelsea.imagenet", "chelsea.jpg", "imagenet", False, {}),
    ("coffee.clip-vit-b-32", "coffee.jpg", "clip-vit-b-32", False, {}),
    ("coffee.siglip-224", "coffee.jpg", "siglip-224", False, {}),
    ("lineart.clip-vit-b-16", "lineart.png", "clip-vit-b-16", True, {}),
    ("lineart.siglip-224", "lineart.png", "siglip-224", True, {}),
    ("lineart.nearest-160", "lineart.png", "nearest-160", True, {}),
    ("lineart.pad-192", "lineart.png", "pad-192", True, {}),
    ("lineart.gray-112", "lineart.png", "gray-112", True, {}),
    ("lineart.rect-96x128", "lineart.png", "rect-96x128", True, {}),
    ("tiny.clip-vit-b-16", "tiny.png", "clip-vit-b-16", True, {}),
    ("tiny.siglip-224", "tiny.png", "siglip-224", True, {}),
    ("tiny.imagenet", "tiny.png", "imagenet", True, {}),
    ("strip.clip-vit-b-16", "strip.png", "clip-vit-b-16", True, {}),
    ("pixel.clip-vit-b-16", "pixel.png", "clip-vit-b-16", True, {}),
    ("rgba.clip-vit-b-16", "rgba.png", "clip-vit-b-16", True, {}),
    ("rgba-drop.clip-vit-b-16", "rgba.png", "clip-vit-b-16", True, {"alpha": "drop"}),
    ("gray.clip-vit-b-16", "gray.png", "clip-vit-b-16", True, {}),
    ("gray16.clip-vit-b-16", "gray16.png", "clip-vit-b-16", True, {}),
    ("oriented.clip-vit-b-16", "oriented.jpg", "clip-vit-b-16", True, {}),
    ("anim.clip-vit-b-16", "anim.gif", "clip-vit-b-16", True, {}),
]

# Crop-then-resize (the RandomResizedCrop path, with a fixed box): (left, top, width, height) → 224².
CROP_CASES = [
    ("lineart.crop", "lineart.png", (37, 21, 200, 150), (224, 224), "bicubic"),
    ("chelsea.crop", "chelsea.jpg", (100, 50, 300, 240), (224, 224), "bicubic"),
]


def main():
    photos = sys.argv[sys.argv.index("--photos") + 1] if "--photos" in sys.argv else None
    make_sources(photos)
    rng = np.random.default_rng(99)
    out = {"generator": f"Pillow {Image.__version__}, numpy {np.__version__}", "cases": [], "cropCases": []}
    for case, source, preset_name, full, opts in CASES:
        p = PRESETS.get(preset_name) or CUSTOM[preset_name]
        im = transform(load_rgb(os.path.join(HERE, source), **opts), p)
        u8 = np.asarray(im, dtype=np.uint8)
        x = normalize(u8, p)
        C, H, W = x.shape
        samples = []
        for _ in range(48):
            c, yy, xx = int(rng.integers(C)), int(rng.integers(H)), int(rng.integers(W))
            samples.append([c, yy, xx, float(x[c, yy, xx])])
        entry = dict(id=case, source=source, preset=preset_name if preset_name in PRESETS else p,
                     decode=opts, shape=[C, H, W], stats=stats(x), samples=samples)
        if full:
            name = f"ref-{case}.png"
            Image.fromarray(u8).save(os.path.join(HERE, name), optimize=True)
            entry["full"] = name
        else:
            crops = []
            for (cy, cx) in [(0, 0), (H // 2 - 8, W // 2 - 8), (H - 16, W - 16), (H // 3, 2 * W // 3)]:
                block = u8[cy:cy + 16, cx:cx + 16]
                crops.append(dict(y=cy, x=cx, height=16, width=16, u8=block.reshape(-1).tolist()))
            entry["crops"] = crops
        out["cases"].append(entry)
    for case, source, box, size, interp in CROP_CASES:
        im = load_rgb(os.path.join(HERE, source))
        l, t, w, h = box
        r = im.crop((l, t, l + w, t + h)).resize(size, FILTERS[interp])
        name = f"ref-{case}.png"
        r.save(os.path.join(HERE, name), optimize=True)
        out["cropCases"].append(dict(id=case, source=source, box=dict(left=l, top=t, width=w, height=h),
                                     size=list(size), interpolation=interp, full=name))
    with open(os.path.join(HERE, "reference.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
