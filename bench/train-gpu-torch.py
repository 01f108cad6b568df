"""PyTorch reference for bench/train-gpu.mjs: the same two-tower CLIP train step on CUDA, fp32 (TF32 off).

  python3 bench/train-gpu-torch.py B STEPS WIDTH DEPTH HEADS IMAGE_TOKENS FEATURES TEXT_TOKENS VOCAB PROJ [fp32|bf16|fp16] [ckpt]

fp32 (default): float32 weights and math, TF32 off. bf16: torch.autocast(bfloat16) over the forward and
the loss (fp32 master weights), the usual mixed-precision recipe. fp16: the same with float16 and a
dynamic loss scale (torch.cuda.amp.GradScaler): the peer of omnitok's f16 GEMMs with lossScale 'dynamic'.
ckpt: gradient checkpointing of every block (torch.utils.checkpoint, non-reentrant), the peer of
omnitok's setGradCheckpointing.

Prints one JSON line (torch version, device, parameters, samples/s). Exits 3 with "CUDA unavailable"
when torch has no CUDA device (bench/train-gpu.mjs then reports PyTorch as skipped).
Mirrors the omnitok encoders: pre-LN blocks, fused qkv, exact GELU, learned positions, CLS pooling
(vision, with a CLS token) and EOT pooling (text, causal), bias-free projections, AdamW wd 0.1,
clip-norm 1, the symmetric CLIP loss with logit scale 100.
"""
import json, os, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_torch import towers  # noqa: E402 (the model both torch benches share)

if not torch.cuda.is_available():
    print("CUDA unavailable", file=sys.stderr)
    sys.exit(3)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
torch.manual_seed(0)
B, STEPS, D, DEPTH, H, NI, FI, LT, V, P = (int(a) for a in sys.argv[1:11])
PRECISION = sys.argv[11] if len(sys.argv) > 11 else "fp32"
assert PRECISION in ("fp32", "bf16", "fp16"), f"precision must be fp32, bf16 or fp16, got {PRECISION}"
CKPT = len(sys.argv) > 12 and sys.argv[12] == "ckpt"
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(PRECISION)
scaler = torch.cuda.amp.GradScaler(enabled=PRECISION == "fp16")


vision, text = (t.to(dev) for t in towers(D, DEPTH, H, NI, FI, LT, V, P))
vision.grad_checkpointing = text.grad_checkpointing = CKPT
params = list(vision.parameters()) + list(text.parameters())
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1)
img = torch.randn(B, NI, FI, device=dev)
ids = torch.randint(0, V, (B, LT), device=dev)
eot = torch.full((B,), LT - 1, device=dev)
labels = torch.arange(B, device=dev)


def step():
    with torch.autocast("cuda", dtype=AUTOCAST or torch.bfloat16, enabled=AUTOCAST is not None):
        a = F.normalize(vision(img), dim=-1)
        b = F.normalize(text(ids, eot), dim=-1)
        logits = 100.0 * a @ b.T
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    scaler.step(opt)
    scaler.update()
    return loss


for _ in range(3):
    step()  # warmup
torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(STEPS):
    step()
torch.cuda.synchronize()
dt = time.perf_counter() - t0
print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "params": sum(p.numel() for p in params), "samplesPerSec": B * STEPS / dt, "steps": STEPS, "batch": B, "precision": PRECISION, "gradCheckpointing": CKPT, "peakGiB": torch.cuda.max_memory_allocated() / 2**30}))
