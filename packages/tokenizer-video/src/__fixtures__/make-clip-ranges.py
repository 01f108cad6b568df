"""Frame ranges of pytorchvideo's ConstantClipsPerVideoSampler + EncodedVideoDecord.get_clip, as
ImageBind's data.py drives them (get_clip_timepoints), for random videos: clip-ranges.json.
Run once with /usr/bin/python3 (no pytorchvideo needed: the arithmetic below is theirs, in the same
types — Fraction clip times, float fps, math.ceil)."""
import json, math, random
from fractions import Fraction

def ranges(n, fps, K, D):
    duration = float(n) / float(fps)                       # EncodedVideoDecord.duration
    clip_duration = Fraction(D)                            # ClipSampler.__init__
    max_start = Fraction(max(duration - clip_duration, 0)) # ConstantClipsPerVideoSampler.__call__
    uniform = Fraction(max_start, K)
    out = []
    for k in range(K):
        start = uniform * k
        end = start + clip_duration
        a = math.ceil(fps * start)                         # get_clip: float × Fraction → float
        b = min(math.ceil(fps * end), n)
        out.append([a, b])
    return out

random.seed(7)
cases = []
for fps in [25.0, 30.0, 29.97, 23.976, 24.0, 60.0, 12.5, 59.94]:
    for _ in range(12):
        n = random.choice([random.randint(1, 40), random.randint(40, 3000)])
        K = random.choice([1, 2, 3, 5, 5, 8])
        D = random.choice([2, 2, 1, 0.5, 2.5, 10])
        cases.append({"frames": n, "fps": fps, "clips": K, "clipDuration": D, "ranges": ranges(n, fps, K, D)})
cases.append({"frames": 75, "fps": 25.0, "clips": 5, "clipDuration": 2, "ranges": ranges(75, 25.0, 5, 2)})
json.dump({"source": "pytorchvideo ConstantClipsPerVideoSampler + EncodedVideoDecord.get_clip arithmetic (make-clip-ranges.py)", "cases": cases}, open("clip-ranges.json", "w"))
print(len(cases), cases[-1])
