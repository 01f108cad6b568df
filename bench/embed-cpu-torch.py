"""PyTorch reference for bench/embed-cpu.mjs: CLIP ViT-B/32 inference (image and text towers) on CPU.

argv: batch, iterations, threads. Prints one JSON line: samples/s of each tower (median of the
iterations after one warm-up), under torch.no_grad() in eval mode. Model: bench/clip_torch.py's
Tower at openai/clip-vit-base-patch32's shapes (image: width 768, 12 blocks, 12 heads, 49 patches of
3 072 values + CLS; text: width 512, 12 blocks, 8 heads, 77 ids of 49 408, causal, EOT pooling;
projections to 512), random weights (speed does not depend on them).
"""
import json, os, statistics, sys, time
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_torch import Tower  # noqa: E402

B, ITERS, THREADS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(THREADS)
torch.manual_seed(0)
vision = Tower(False, 768, 12, 12, 49, 512, features=3072).eval()
text = Tower(True, 512, 12, 8, 77, 512, vocab=49408).eval()
img = torch.randn(B, 49, 3072)
ids = torch.randint(0, 49408, (B, 77))
eot = torch.full((B,), 20)


def rate(fn):
    fn()
    times = []
    for _ in range(ITERS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return B / statistics.median(times)


with torch.no_grad():
    out = {"image": rate(lambda: vision(img)), "text": rate(lambda: text(ids, eot)), "threads": THREADS, "torch": torch.__version__}
print(json.dumps(out))
