"""PyTorch's antialiased bilinear resize weights (what SigLIP 2 NaFlex resizes its position table with).

    /usr/bin/python3 make-antialiased-bilinear.py

For each (in, out) size, the [out, in] matrix of F.interpolate(mode='bilinear', align_corners=False,
antialias=True) along one axis, read off by resizing one-hot rows. Output: antialiased-bilinear.json.
"""
import json, torch, torch.nn.functional as F

cases = []
for n_in, n_out in [(4, 3), (4, 2), (4, 5), (16, 7), (16, 24), (5, 5), (3, 1), (16, 64)]:
    eye = torch.eye(n_in).reshape(n_in, 1, 1, n_in)   # batch of one-hot rows along the width
    out = F.interpolate(eye, size=(1, n_out), mode="bilinear", align_corners=False, antialias=True).reshape(n_in, n_out)
    cases.append({"in": n_in, "out": n_out, "weights": out.t().contiguous().flatten().tolist()})   # [out, in]
json.dump({"torch": torch.__version__, "cases": cases}, open("antialiased-bilinear.json", "w"))
print("ok")
