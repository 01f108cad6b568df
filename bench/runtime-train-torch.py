"""PyTorch reference for bench/runtime-train.mjs: the same tiny two-tower CLIP train step on CPU.

Run by the JS bench (OPENBLAS_NUM_THREADS=1, one intra-op thread) and printed as one JSON line.
Shapes: width 128, depth 4, heads 4, mlp 4x, vision 64 continuous tokens of 48 features + CLS,
text 16 ids of a 1000-word vocab (causal, EOT pooling), projection 128, batch 64, AdamW.
A third argument `ckpt` recomputes every block in the backward (torch.utils.checkpoint).
"""
import json, os, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_torch import towers  # noqa: E402 (the model both torch benches share)

torch.set_num_threads(1)
torch.manual_seed(0)
B = int(sys.argv[1]) if len(sys.argv) > 1 else 64
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
D, DEPTH, H, V, LT, NI, FI, P = 128, 4, 4, 1000, 16, 64, 48, 128


vision, text = towers(D, DEPTH, H, NI, FI, LT, V, P)
vision.grad_checkpointing = text.grad_checkpointing = len(sys.argv) > 3 and sys.argv[3] == "ckpt"
params = list(vision.parameters()) + list(text.parameters())
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1)
img = torch.randn(B, NI, FI)
ids = torch.randint(0, V, (B, LT))
eot = torch.full((B,), LT - 1)
labels = torch.arange(B)


def step():
    a = F.normalize(vision(img), dim=-1)
    b = F.normalize(text(ids, eot), dim=-1)
    logits = 100.0 * a @ b.T
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss)


step()  # warmup
t0 = time.perf_counter()
for _ in range(STEPS):
    step()
dt = time.perf_counter() - t0
print(json.dumps({"torch": torch.__version__, "params": sum(p.numel() for p in params), "samplesPerSec": B * STEPS / dt, "steps": STEPS, "batch": B}))
