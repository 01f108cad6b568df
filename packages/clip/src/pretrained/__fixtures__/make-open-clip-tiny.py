#!/usr/bin/python3
"""A tiny random open_clip model folder and what open_clip's pipeline makes of it. Run ONCE:

    PYTHONPATH=<folder with ftfy 6.3.1> /usr/bin/python3 make-open-clip-tiny.py <openai/CLIP>/clip/simple_tokenizer.py

Writes open-clip-tiny/ as an open_clip upload on the Hugging Face hub leaves it (open_clip_config.json
with model_cfg and preprocess_cfg, open_clip_model.safetensors in float16 with open_clip's state-dict
names: visual.conv1, visual.transformer.resblocks.{i}.attn.in_proj_weight, mlp.c_fc, ls_1.gamma, …),
and reference-open-clip.json: per image (the PNGs of make-hf-clip-tiny.py) the pixels' checksums and the
image embedding, per text openai/CLIP's ids and the text embedding.

Independent of omnitok: the transform follows open_clip's image_transform for resize_mode 'shortest'
(torchvision Resize(224, bicubic) on the PIL image: long side int(size·long/short); CenterCrop with
int(round((size − crop) / 2)); ToTensor; Normalize), the model open_clip's VisionTransformer /
TextTransformer (ResidualAttentionBlock: x + ls_1(attn(ln_1(x))) with torch.nn.MultiheadAttention and
the causal mask, x + ls_2(mlp(ln_2(x))), QuickGELU; ln_post then the class token @ proj; the text's
argmax token @ text_projection). PyTorch 1.13, CPU, float32.
"""
import importlib.util, json, math, os, struct, sys
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "open-clip-tiny")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(5)

V_D, V_L, HEAD_W, IMG, P = 16, 2, 8, 32, 16
T_D, T_L, T_H, VOCAB, CTX = 8, 2, 2, 49408, 77
E = 8
V_H = V_D // HEAD_W
config = {
    "model_cfg": {"embed_dim": E, "quick_gelu": True,
                  "vision_cfg": {"image_size": IMG, "layers": V_L, "width": V_D, "head_width": HEAD_W, "patch_size": P, "mlp_ratio": 3.0, "ls_init_value": 0.5},
                  "text_cfg": {"context_length": CTX, "vocab_size": VOCAB, "width": T_D, "heads": T_H, "layers": T_L}},
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic", "resize_mode": "shortest"},
}

sd = {}
def rnd(*shape, scale):
    return (torch.randn(*shape) * scale).half()
def block(prefix, D, mlp, ls):
    sd[f"{prefix}.ln_1.weight"] = 1 + rnd(D, scale=0.1); sd[f"{prefix}.ln_1.bias"] = rnd(D, scale=0.1)
    sd[f"{prefix}.attn.in_proj_weight"] = rnd(3 * D, D, scale=1 / math.sqrt(D)); sd[f"{prefix}.attn.in_proj_bias"] = rnd(3 * D, scale=0.1)
    sd[f"{prefix}.attn.out_proj.weight"] = rnd(D, D, scale=1 / math.sqrt(D)); sd[f"{prefix}.attn.out_proj.bias"] = rnd(D, scale=0.1)
    if ls:
        sd[f"{prefix}.ls_1.gamma"] = 0.5 + rnd(D, scale=0.1)
    sd[f"{prefix}.ln_2.weight"] = 1 + rnd(D, scale=0.1); sd[f"{prefix}.ln_2.bias"] = rnd(D, scale=0.1)
    sd[f"{prefix}.mlp.c_fc.weight"] = rnd(mlp, D, scale=1 / math.sqrt(D)); sd[f"{prefix}.mlp.c_fc.bias"] = rnd(mlp, scale=0.1)
    sd[f"{prefix}.mlp.c_proj.weight"] = rnd(D, mlp, scale=1 / math.sqrt(mlp)); sd[f"{prefix}.mlp.c_proj.bias"] = rnd(D, scale=0.1)
    if ls:
        sd[f"{prefix}.ls_2.gamma"] = 0.5 + rnd(D, scale=0.1)

NP = (IMG // P) ** 2
sd["visual.class_embedding"] = rnd(V_D, scale=1.0)
sd["visual.positional_embedding"] = rnd(NP + 1, V_D, scale=0.5)
sd["visual.proj"] = rnd(V_D, E, scale=0.25)
sd["visual.conv1.weight"] = rnd(V_D, 3, P, P, scale=0.05)
sd["visual.ln_pre.weight"] = 1 + rnd(V_D, scale=0.1); sd["visual.ln_pre.bias"] = rnd(V_D, scale=0.1)
for i in range(V_L): block(f"visual.transformer.resblocks.{i}", V_D, int(V_D * 3.0), True)
sd["visual.ln_post.weight"] = 1 + rnd(V_D, scale=0.1); sd["visual.ln_post.bias"] = rnd(V_D, scale=0.1)
sd["token_embedding.weight"] = rnd(VOCAB, T_D, scale=1.0)
sd["positional_embedding"] = rnd(CTX, T_D, scale=0.5)
for i in range(T_L): block(f"transformer.resblocks.{i}", T_D, 4 * T_D, False)
sd["ln_final.weight"] = 1 + rnd(T_D, scale=0.1); sd["ln_final.bias"] = rnd(T_D, scale=0.1)
sd["text_projection"] = rnd(T_D, E, scale=0.25)
sd["logit_scale"] = torch.tensor(math.log(1 / 0.07)).half()
W = {k: v.float() for k, v in sd.items()}

header, payload, offset = {"__metadata__": {"format": "pt"}}, [], 0
for name, t in sd.items():
    b = t.contiguous().numpy().tobytes()
    header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
    payload.append(b); offset += len(b)
h = json.dumps(header, separators=(",", ":")).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(OUT, "open_clip_model.safetensors"), "wb") as f: f.write(struct.pack("<Q", len(h)) + h + b"".join(payload))
json.dump(config, open(os.path.join(OUT, "open_clip_config.json"), "w"), indent=2)

# ---------------------------------------------------------------- open_clip image_transform (eval, resize_mode shortest)
files = ["wide-45x41.png", "tall-30x37.png"]
def transform(f):
    im = Image.open(os.path.join(HERE, f)).convert("RGB")
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    nw, nh = (IMG, int(IMG * long / short)) if w <= h else (int(IMG * long / short), IMG)
    im = im.resize((nw, nh), Image.BICUBIC)
    top, left = int(round((nh - IMG) / 2.0)), int(round((nw - IMG) / 2.0))
    a = torch.from_numpy(np.asarray(im.crop((left, top, left + IMG, top + IMG))).copy()).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(config["preprocess_cfg"]["mean"])[:, None, None]; std = torch.tensor(config["preprocess_cfg"]["std"])[:, None, None]
    return (a - mean) / std
pixels = torch.stack([transform(f) for f in files])

spec = importlib.util.spec_from_file_location("simple_tokenizer", sys.argv[1])
st = importlib.util.module_from_spec(spec); spec.loader.exec_module(st)
tok = st.SimpleTokenizer(os.path.join(HERE, "..", "..", "..", "..", "tokenizer-text", "assets", "bpe_simple_vocab_16e6.txt.gz"))
texts = ["a photo of a cat", "a diagram", "hello world"]
ids = torch.zeros(len(texts), CTX, dtype=torch.int64)
for i, t in enumerate(texts):
    row = [49406] + tok.encode(t) + [49407]
    ids[i, :len(row)] = torch.tensor(row)

def transformer(x, prefix, D, H, L, mask, ls):
    for i in range(L):
        p = f"{prefix}.resblocks.{i}"
        mha = torch.nn.MultiheadAttention(D, H, batch_first=True)
        with torch.no_grad():
            mha.in_proj_weight.copy_(W[p + ".attn.in_proj_weight"]); mha.in_proj_bias.copy_(W[p + ".attn.in_proj_bias"])
            mha.out_proj.weight.copy_(W[p + ".attn.out_proj.weight"]); mha.out_proj.bias.copy_(W[p + ".attn.out_proj.bias"])
            y = F.layer_norm(x, (D,), W[p + ".ln_1.weight"], W[p + ".ln_1.bias"], 1e-5)
            a = mha(y, y, y, need_weights=False, attn_mask=mask)[0]
        x = x + (a * W[p + ".ls_1.gamma"] if ls else a)
        y = F.layer_norm(x, (D,), W[p + ".ln_2.weight"], W[p + ".ln_2.bias"], 1e-5)
        y = F.linear(y, W[p + ".mlp.c_fc.weight"], W[p + ".mlp.c_fc.bias"])
        y = F.linear(y * torch.sigmoid(1.702 * y), W[p + ".mlp.c_proj.weight"], W[p + ".mlp.c_proj.bias"])
        x = x + (y * W[p + ".ls_2.gamma"] if ls else y)
    return x

B = pixels.shape[0]
x = F.conv2d(pixels, W["visual.conv1.weight"], stride=P).reshape(B, V_D, -1).permute(0, 2, 1)
x = torch.cat([W["visual.class_embedding"].expand(B, 1, V_D), x], 1) + W["visual.positional_embedding"]
x = F.layer_norm(x, (V_D,), W["visual.ln_pre.weight"], W["visual.ln_pre.bias"], 1e-5)
x = transformer(x, "visual.transformer", V_D, V_H, V_L, None, True)
x = F.layer_norm(x, (V_D,), W["visual.ln_post.weight"], W["visual.ln_post.bias"], 1e-5)
image_embeds = F.normalize(x[:, 0] @ W["visual.proj"], dim=-1)

x = W["token_embedding.weight"][ids] + W["positional_embedding"]
causal = torch.empty(CTX, CTX).fill_(float("-inf")).triu_(1)
x = transformer(x, "transformer", T_D, T_H, T_L, causal, False)
x = F.layer_norm(x, (T_D,), W["ln_final.weight"], W["ln_final.bias"], 1e-5)
text_embeds = F.normalize(x[torch.arange(len(texts)), ids.argmax(-1)] @ W["text_projection"], dim=-1)

reference = {
    "images": [{"file": f, "pixels_sum": [float(pixels[i, c].double().sum()) for c in range(3)], "pixels_first": pixels[i].flatten()[:8].tolist(),
                "embedding": image_embeds[i].tolist()} for i, f in enumerate(files)],
    "texts": [{"text": t, "ids": ids[i, :int((ids[i] > 0).sum())].tolist(), "embedding": text_embeds[i].tolist()} for i, t in enumerate(texts)],
    "logit_scale": float(W["logit_scale"]),
    "torch": torch.__version__,
}
json.dump(reference, open(os.path.join(HERE, "reference-open-clip.json"), "w"), indent=1)
print("ok", {f: os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT)})
