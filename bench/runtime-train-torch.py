"""PyTorch reference for bench/runtime-train.mjs: the same tiny two-tower CLIP train step on CPU.

Run by the JS bench (OPENBLAS_NUM_THREADS=1, one intra-op thread) and printed as one JSON line.
Shapes: width 128, depth 4, heads 4, mlp 4x, vision 64 continuous tokens of 48 features + CLS,
text 16 ids of a 1000-word vocab (causal, EOT pooling), projection 128, batch 64, AdamW.
"""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)
B = int(sys.argv[1]) if len(sys.argv) > 1 else 64
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
D, DEPTH, H, V, LT, NI, FI, P = 128, 4, 4, 1000, 16, 64, 48, 128


class Block(nn.Module):
    def __init__(self, causal):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.fc1, self.fc2 = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
        self.causal = causal

    def forward(self, x):
        Bn, N, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(Bn, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
        s = q @ k.transpose(-1, -2) / math.sqrt(D // H)
        if self.causal:
            s = s + torch.full((N, N), -1e9).triu(1)
        x = x + self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(Bn, N, D))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Tower(nn.Module):
    def __init__(self, text):
        super().__init__()
        self.text = text
        self.embed = nn.Embedding(V, D) if text else nn.Linear(FI, D)
        self.cls = None if text else nn.Parameter(torch.randn(D) * 0.02)
        self.pos = nn.Parameter(torch.randn(LT if text else NI + 1, D) * 0.02)
        self.blocks = nn.ModuleList([Block(text) for _ in range(DEPTH)])
        self.ln = nn.LayerNorm(D)
        self.proj = nn.Linear(D, P, bias=False)

    def forward(self, x, eot=None):
        h = self.embed(x)
        if not self.text:
            h = torch.cat([self.cls.expand(h.shape[0], 1, D), h], 1)
        h = h + self.pos
        for b in self.blocks:
            h = b(h)
        h = self.ln(h)
        pooled = h[torch.arange(h.shape[0]), eot] if self.text else h[:, 0]
        return self.proj(pooled)


vision, text = Tower(False), Tower(True)
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
