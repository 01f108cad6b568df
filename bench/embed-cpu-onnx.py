"""ONNX export of bench/embed-cpu-torch.py's towers, for the ONNX Runtime peer of bench/embed-cpu.mjs
(onnxruntime-node: the engine transformers.js runs models on in Node).

argv: output directory. Writes vision.onnx (x: [batch, 49, 3072] float32) and text.onnx (ids: [batch, 77]
int64, eot: [batch] int64), batch a dynamic axis, opset 17 (LayerNormalization as one op), from the same
seeded random weights as the PyTorch run. Prints one JSON line with the two paths.
"""
import json, os, sys
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_torch import Tower  # noqa: E402

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
vision = Tower(False, 768, 12, 12, 49, 512, features=3072).eval()
text = Tower(True, 512, 12, 8, 77, 512, vocab=49408).eval()
paths = {"vision": os.path.join(out, "vision.onnx"), "text": os.path.join(out, "text.onnx")}
with torch.no_grad():
    torch.onnx.export(vision, (torch.randn(2, 49, 3072),), paths["vision"], input_names=["x"], output_names=["embedding"],
                      dynamic_axes={"x": {0: "batch"}, "embedding": {0: "batch"}}, opset_version=17)
    torch.onnx.export(text, (torch.randint(0, 49408, (2, 77)), torch.full((2,), 20)), paths["text"], input_names=["ids", "eot"],
                      output_names=["embedding"], dynamic_axes={"ids": {0: "batch"}, "eot": {0: "batch"}, "embedding": {0: "batch"}}, opset_version=17)
print(json.dumps(paths))
