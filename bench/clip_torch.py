"""The PyTorch two-tower CLIP the omnitok benches compare against (bench/runtime-train-torch.py on CPU,
bench/train-gpu-torch.py on CUDA): it mirrors the omnitok encoders — pre-LN blocks, fused qkv, exact
GELU, learned positions, CLS pooling (vision, with a CLS token) and EOT pooling (text, causal),
bias-free projections — so that both sides train the same model shape for shape.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


class Block(nn.Module):
    def __init__(self, width, heads, causal):
        super().__init__()
        self.width, self.heads, self.causal = width, heads, causal
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc1, self.fc2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x):
        Bn, N, D = x.shape
        H = self.heads
        q, k, v = self.qkv(self.ln1(x)).reshape(Bn, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
        s = q @ k.transpose(-1, -2) / math.sqrt(D // H)
        if self.causal:
            s = s + torch.full((N, N), -1e9, device=x.device).triu(1)
        x = x + self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(Bn, N, D))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Tower(nn.Module):
    """text: `vocab` ids of `tokens` positions (causal, EOT pooling); else `tokens` continuous
    vectors of `features` values plus a CLS token (CLS pooling)."""

    def __init__(self, text, width, depth, heads, tokens, proj, vocab=0, features=0):
        super().__init__()
        self.text, self.width = text, width
        self.embed = nn.Embedding(vocab, width) if text else nn.Linear(features, width)
        self.cls = None if text else nn.Parameter(torch.randn(width) * 0.02)
        self.pos = nn.Parameter(torch.randn(tokens if text else tokens + 1, width) * 0.02)
        self.blocks = nn.ModuleList([Block(width, heads, text) for _ in range(depth)])
        self.ln = nn.LayerNorm(width)
        self.proj = nn.Linear(width, proj, bias=False)
        # recompute each block in the backward (omnitok's setGradCheckpointing)
        self.grad_checkpointing = False

    def forward(self, x, eot=None):
        h = self.embed(x)
        if not self.text:
            h = torch.cat([self.cls.expand(h.shape[0], 1, self.width), h], 1)
        h = h + self.pos
        for b in self.blocks:
            h = checkpoint(b, h, use_reentrant=False) if self.grad_checkpointing and torch.is_grad_enabled() else b(h)
        h = self.ln(h)
        pooled = h[torch.arange(h.shape[0], device=h.device), eot] if self.text else h[:, 0]
        return self.proj(pooled)


def towers(width, depth, heads, image_tokens, features, text_tokens, vocab, proj):
    """(vision, text), created in that order (the order seeded runs rely on)."""
    vision = Tower(False, width, depth, heads, image_tokens, proj, features=features)
    text = Tower(True, width, depth, heads, text_tokens, proj, vocab=vocab)
    return vision, text
