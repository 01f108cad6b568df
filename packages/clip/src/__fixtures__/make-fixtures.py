#!/usr/bin/python3
"""Reference values for the CLIP and SigLIP losses, computed once with PyTorch (float64).

Run: /usr/bin/python3 packages/clip/src/__fixtures__/make-fixtures.py   (Debian python3-torch)
Writes losses.json next to this file. The tests never need Python.

The references use torch's own building blocks, as open_clip's ClipLoss / SigLipLoss do:
  clip:    logits = exp(t) * a @ b.T;  loss = (F.cross_entropy(logits, arange) + F.cross_entropy(logits.T, arange)) / 2
  sigmoid: logits = exp(t) * a @ b.T (+ bias);  labels = 2*eye - 1;  loss = -F.logsigmoid(labels * logits).sum() / n
Inputs are drawn in float32 (so the TypeScript side reads them exactly) and evaluated in float64.
With "normalize", a and b are raw rows normalized inside the graph (F.normalize), and the gradients are
with respect to the raw rows.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)


def draw(n, d, normalized):
    x = torch.randn(n, d, dtype=torch.float32)
    if normalized:
        x = F.normalize(x.double(), dim=-1).float()
    return x


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def clip_case(n, d, t, normalize):
    a32, b32 = draw(n, d, not normalize), draw(n, d, not normalize)
    a = a32.double().requires_grad_(True)
    b = b32.double().requires_grad_(True)
    ts = torch.tensor(t, dtype=torch.float32).double().requires_grad_(True)
    A = F.normalize(a, dim=-1) if normalize else a
    B = F.normalize(b, dim=-1) if normalize else b
    logits = ts.exp() * A @ B.T
    labels = torch.arange(n)
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    loss.backward()
    return dict(kind='clip', n=n, d=d, normalize=normalize, a=flat(a32), b=flat(b32), logitScale=float(ts.item()),
                loss=float(loss.item()), gradA=flat(a.grad), gradB=flat(b.grad), gradLogitScale=float(ts.grad.item()))


def sigmoid_case(n, d, t, bias, normalize):
    a32, b32 = draw(n, d, not normalize), draw(n, d, not normalize)
    a = a32.double().requires_grad_(True)
    b = b32.double().requires_grad_(True)
    ts = torch.tensor(t, dtype=torch.float32).double().requires_grad_(True)
    A = F.normalize(a, dim=-1) if normalize else a
    B = F.normalize(b, dim=-1) if normalize else b
    logits = ts.exp() * A @ B.T
    bs = None
    if bias is not None:
        bs = torch.tensor(bias, dtype=torch.float32).double().requires_grad_(True)
        logits = logits + bs
    labels = 2 * torch.eye(n, dtype=torch.float64) - 1
    loss = -F.logsigmoid(labels * logits).sum() / n
    loss.backward()
    out = dict(kind='sigmoid', n=n, d=d, normalize=normalize, a=flat(a32), b=flat(b32), logitScale=float(ts.item()),
               loss=float(loss.item()), gradA=flat(a.grad), gradB=flat(b.grad), gradLogitScale=float(ts.grad.item()))
    if bs is not None:
        out.update(logitBias=float(bs.item()), gradLogitBias=float(bs.grad.item()))
    return out


cases = []
for n, d, t, normalize in [(1, 4, math.log(1 / 0.07), False), (2, 4, math.log(1 / 0.07), False), (5, 8, 0.3, False),
                           (16, 8, math.log(1 / 0.07), False), (16, 8, math.log(100), False), (7, 6, 1.7, True), (32, 4, math.log(100), False)]:
    cases.append(clip_case(n, d, t, normalize))
for n, d, t, bias, normalize in [(1, 4, math.log(10), -10.0, False), (3, 4, math.log(10), -10.0, False), (8, 8, 2.0, 1.5, False),
                                 (16, 8, math.log(10), None, False), (16, 8, math.log(100), -3.0, False), (7, 6, 1.1, -2.0, True), (32, 4, 2.5, None, False)]:
    cases.append(sigmoid_case(n, d, t, bias, normalize))

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, 'losses.json'), 'w') as f:
    json.dump({'generator': 'make-fixtures.py', 'torch': torch.__version__, 'cases': cases}, f, separators=(',', ':'))
print(f'{len(cases)} cases written')
