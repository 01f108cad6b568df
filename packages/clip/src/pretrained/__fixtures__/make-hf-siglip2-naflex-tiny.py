#!/usr/bin/python3
"""A tiny random SigLIP 2 NaFlex folder (Siglip2Model) and what the reference pipeline makes of it. Run ONCE:

    /usr/bin/python3 make-hf-siglip2-naflex-tiny.py

Writes hf-siglip2-naflex-tiny/ (config.json with model_type "siglip2", float32 model.safetensors,
preprocessor_config.json of a Siglip2ImageProcessor, tokenizer_config.json; tokenizer.model is
@omnitok/tokenizer-text's sp-bpe.model, which tests copy in), the image strip-50x20.png, and
reference-siglip2-naflex.json: per image the size it was resized to, its patch grid, the pixels'
checksums and the image embedding; per text the ids and the text embedding.

Independent of omnitok: the processor follows transformers' image_processing_siglip2.py (the slow one:
get_image_size_for_max_num_patches' binary search, PIL BILINEAR resize of the 8-bit image, rescale in
float64 cast to float32, normalize, patches in (row, column, y, x, channel) order, zero padding to
max_num_patches with the pixel attention mask); the model modeling_siglip2.py (a linear patch
embedding, the position table resized per image with F.interpolate(bilinear, align_corners=False,
antialias=True) and padded with its first row, the padding masked as keys in every layer and in the
attention-pooling head); the text tower is SigLIP's. PyTorch 1.13, CPU, float32; sentencepiece 0.1.97.
"""
import json, math, os, struct
import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hf-siglip2-naflex-tiny")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(13)

D, L, H, MLP, P, C, NP, MAXP = 16, 2, 2, 48, 8, 3, 16, 12   # position table 4 × 4; at most 12 patches per image
VOCAB, CTX = 900, 64
EPS = 1e-6
G = int(math.isqrt(NP))
config = {
    "architectures": ["Siglip2Model"], "model_type": "siglip2", "initializer_factor": 1.0, "torch_dtype": "float32",
    "text_config": {"model_type": "siglip2_text_model", "hidden_size": D, "intermediate_size": MLP, "num_hidden_layers": L, "num_attention_heads": H,
                    "vocab_size": VOCAB, "max_position_embeddings": CTX},
    "vision_config": {"model_type": "siglip2_vision_model", "hidden_size": D, "intermediate_size": MLP, "num_hidden_layers": L, "num_attention_heads": H,
                      "num_patches": NP, "patch_size": P, "num_channels": C},
}
processor = {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "Siglip2ImageProcessor",
             "image_std": [0.5, 0.5, 0.5], "max_num_patches": MAXP, "patch_size": P, "processor_class": "Siglip2Processor", "resample": 2,
             "rescale_factor": 0.00392156862745098}
tokenizer_config = {"add_bos_token": False, "add_eos_token": True, "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                    "padding_side": "right", "processor_class": "Siglip2Processor", "tokenizer_class": "GemmaTokenizer"}

W = {}
def rnd(*shape, scale):
    return torch.randn(*shape) * scale
def layer(prefix):
    for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
        W[f"{prefix}.self_attn.{n}.weight"] = rnd(D, D, scale=1 / math.sqrt(D)); W[f"{prefix}.self_attn.{n}.bias"] = rnd(D, scale=0.1)
    for n in ["layer_norm1", "layer_norm2"]:
        W[f"{prefix}.{n}.weight"] = 1 + rnd(D, scale=0.1); W[f"{prefix}.{n}.bias"] = rnd(D, scale=0.1)
    W[f"{prefix}.mlp.fc1.weight"] = rnd(MLP, D, scale=1 / math.sqrt(D)); W[f"{prefix}.mlp.fc1.bias"] = rnd(MLP, scale=0.1)
    W[f"{prefix}.mlp.fc2.weight"] = rnd(D, MLP, scale=1 / math.sqrt(MLP)); W[f"{prefix}.mlp.fc2.bias"] = rnd(D, scale=0.1)

W["vision_model.embeddings.patch_embedding.weight"] = rnd(D, C * P * P, scale=0.05)
W["vision_model.embeddings.patch_embedding.bias"] = rnd(D, scale=0.1)
W["vision_model.embeddings.position_embedding.weight"] = rnd(NP, D, scale=0.5)
for i in range(L): layer(f"vision_model.encoder.layers.{i}")
W["vision_model.post_layernorm.weight"] = 1 + rnd(D, scale=0.1); W["vision_model.post_layernorm.bias"] = rnd(D, scale=0.1)
W["vision_model.head.probe"] = rnd(1, 1, D, scale=1.0)
W["vision_model.head.attention.in_proj_weight"] = rnd(3 * D, D, scale=1 / math.sqrt(D)); W["vision_model.head.attention.in_proj_bias"] = rnd(3 * D, scale=0.1)
W["vision_model.head.attention.out_proj.weight"] = rnd(D, D, scale=1 / math.sqrt(D)); W["vision_model.head.attention.out_proj.bias"] = rnd(D, scale=0.1)
W["vision_model.head.layernorm.weight"] = 1 + rnd(D, scale=0.1); W["vision_model.head.layernorm.bias"] = rnd(D, scale=0.1)
W["vision_model.head.mlp.fc1.weight"] = rnd(MLP, D, scale=1 / math.sqrt(D)); W["vision_model.head.mlp.fc1.bias"] = rnd(MLP, scale=0.1)
W["vision_model.head.mlp.fc2.weight"] = rnd(D, MLP, scale=1 / math.sqrt(MLP)); W["vision_model.head.mlp.fc2.bias"] = rnd(D, scale=0.1)
W["text_model.embeddings.token_embedding.weight"] = rnd(VOCAB, D, scale=1.0)
W["text_model.embeddings.position_embedding.weight"] = rnd(CTX, D, scale=0.5)
for i in range(L): layer(f"text_model.encoder.layers.{i}")
W["text_model.final_layer_norm.weight"] = 1 + rnd(D, scale=0.1); W["text_model.final_layer_norm.bias"] = rnd(D, scale=0.1)
W["text_model.head.weight"] = rnd(D, D, scale=0.25); W["text_model.head.bias"] = rnd(D, scale=0.1)
W["logit_scale"] = torch.tensor([math.log(10)])
W["logit_bias"] = torch.tensor([-10.0])

header, payload, offset = {"__metadata__": {"format": "pt"}}, [], 0
for name, t in W.items():
    b = t.contiguous().numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
    payload.append(b); offset += len(b)
h = json.dumps(header, separators=(",", ":")).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(OUT, "model.safetensors"), "wb") as f: f.write(struct.pack("<Q", len(h)) + h + b"".join(payload))
json.dump(config, open(os.path.join(OUT, "config.json"), "w"), indent=2)
json.dump(processor, open(os.path.join(OUT, "preprocessor_config.json"), "w"), indent=2)
json.dump(tokenizer_config, open(os.path.join(OUT, "tokenizer_config.json"), "w"), indent=2)

# ---------------------------------------------------------------- Siglip2ImageProcessor (slow)
strip = np.random.default_rng(5).integers(0, 256, size=(20, 50, 3), dtype=np.uint8)
Image.fromarray(strip).save(os.path.join(HERE, "strip-50x20.png"))
files = ["wide-45x41.png", "tall-30x37.png", "strip-50x20.png"]

def size_for_max_patches(h, w):
    def scaled(scale, size):
        s = math.ceil(size * scale / P) * P
        return int(max(P, s))
    lo, hi = 1e-5 / 10, 100.0
    while hi - lo >= 1e-5:
        mid = (lo + hi) / 2
        if (scaled(mid, h) / P) * (scaled(mid, w) / P) <= MAXP: lo = mid
        else: hi = mid
    return scaled(lo, h), scaled(lo, w)

def naflex(f):
    im = Image.open(os.path.join(HERE, f)).convert("RGB")
    th, tw = size_for_max_patches(im.height, im.width)
    im = im.resize((tw, th), resample=Image.BILINEAR, reducing_gap=None)
    a = (np.asarray(im).astype(np.float64) * processor["rescale_factor"]).astype(np.float32)   # [h, w, C]
    a = (a - np.float32(0.5)) / np.float32(0.5)
    nh, nw = th // P, tw // P
    patches = a.reshape(nh, P, nw, P, C).transpose(0, 2, 1, 3, 4).reshape(nh * nw, P * P * C)
    padded = np.zeros((MAXP, P * P * C), np.float32); padded[: nh * nw] = patches
    mask = np.zeros(MAXP, np.int64); mask[: nh * nw] = 1
    return a, padded, mask, (nh, nw), (th, tw)

pre = [naflex(f) for f in files]
pixels = torch.from_numpy(np.stack([p[1] for p in pre]))
pmask = torch.from_numpy(np.stack([p[2] for p in pre]))
shapes = [p[3] for p in pre]

# ---------------------------------------------------------------- Siglip2Model forward
def encoder(h, prefix, key_mask=None):
    B, N, _ = h.shape; hd = D // H
    add = None if key_mask is None else (1.0 - key_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for i in range(L):
        p = f"{prefix}.encoder.layers.{i}"
        r = h
        h = F.layer_norm(h, (D,), W[p + ".layer_norm1.weight"], W[p + ".layer_norm1.bias"], EPS)
        lin = lambda t, n: F.linear(t, W[f"{p}.self_attn.{n}.weight"], W[f"{p}.self_attn.{n}.bias"])
        sh = lambda t: t.view(B, N, H, hd).transpose(1, 2)
        w = (sh(lin(h, "q_proj")) @ sh(lin(h, "k_proj")).transpose(2, 3)) * hd ** -0.5
        if add is not None: w = w + add
        o = (torch.softmax(w, -1) @ sh(lin(h, "v_proj"))).transpose(1, 2).reshape(B, N, D)
        h = r + lin(o, "out_proj")
        r = h
        h = F.layer_norm(h, (D,), W[p + ".layer_norm2.weight"], W[p + ".layer_norm2.bias"], EPS)
        h = r + F.linear(F.gelu(F.linear(h, W[p + ".mlp.fc1.weight"], W[p + ".mlp.fc1.bias"]), approximate="tanh"), W[p + ".mlp.fc2.weight"], W[p + ".mlp.fc2.bias"])
    return h

B = pixels.shape[0]
table = W["vision_model.embeddings.position_embedding.weight"].reshape(G, G, D).permute(2, 0, 1).unsqueeze(0)
pos = torch.empty(B, MAXP, D)
for i, (nh, nw) in enumerate(shapes):
    r = F.interpolate(table, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True).reshape(D, nh * nw).transpose(0, 1)
    pos[i, : nh * nw] = r; pos[i, nh * nw :] = r[0]
h = F.linear(pixels, W["vision_model.embeddings.patch_embedding.weight"], W["vision_model.embeddings.patch_embedding.bias"]) + pos
h = encoder(h, "vision_model", pmask)
h = F.layer_norm(h, (D,), W["vision_model.post_layernorm.weight"], W["vision_model.post_layernorm.bias"], EPS)
mha = torch.nn.MultiheadAttention(D, H, batch_first=True)
with torch.no_grad():
    mha.in_proj_weight.copy_(W["vision_model.head.attention.in_proj_weight"]); mha.in_proj_bias.copy_(W["vision_model.head.attention.in_proj_bias"])
    mha.out_proj.weight.copy_(W["vision_model.head.attention.out_proj.weight"]); mha.out_proj.bias.copy_(W["vision_model.head.attention.out_proj.bias"])
    head_mask = ((1.0 - pmask[:, None, :].float()) * torch.finfo(torch.float32).min).repeat_interleave(H, 0)   # [B·H, 1, N]
    a = mha(W["vision_model.head.probe"].repeat(B, 1, 1), h, h, attn_mask=head_mask)[0]
a = a + F.linear(F.gelu(F.linear(F.layer_norm(a, (D,), W["vision_model.head.layernorm.weight"], W["vision_model.head.layernorm.bias"], EPS), W["vision_model.head.mlp.fc1.weight"], W["vision_model.head.mlp.fc1.bias"]), approximate="tanh"),
                 W["vision_model.head.mlp.fc2.weight"], W["vision_model.head.mlp.fc2.bias"])
image_embeds = F.normalize(a[:, 0], dim=-1)

sp = spm.SentencePieceProcessor(model_file=os.path.join(HERE, "..", "..", "..", "..", "tokenizer-text", "src", "__fixtures__", "sp-bpe.model"))
texts = ["A photo of a cat!", "mountain lake"]
rows = [sp.encode(t.lower()) + [sp.eos_id()] for t in texts]
ids = torch.tensor([r + [sp.pad_id()] * (CTX - len(r)) for r in rows])
t = W["text_model.embeddings.token_embedding.weight"][ids] + W["text_model.embeddings.position_embedding.weight"]
t = F.layer_norm(encoder(t, "text_model"), (D,), W["text_model.final_layer_norm.weight"], W["text_model.final_layer_norm.bias"], EPS)
text_embeds = F.normalize(F.linear(t[:, -1], W["text_model.head.weight"], W["text_model.head.bias"]), dim=-1)

reference = {
    "images": [{"file": f, "resized": list(pre[i][4]), "grid": list(shapes[i]), "pixels_sum": [float(pre[i][0][:, :, c].astype(np.float64).sum()) for c in range(3)],
                "pixels_first": pre[i][0].transpose(2, 0, 1).flatten()[:8].tolist(), "embedding": image_embeds[i].tolist()} for i, f in enumerate(files)],
    "texts": [{"text": s, "ids": rows[i], "embedding": text_embeds[i].tolist()} for i, s in enumerate(texts)],
    "logit_scale": float(W["logit_scale"]), "logit_bias": float(W["logit_bias"]),
    "torch": torch.__version__,
}
json.dump(reference, open(os.path.join(HERE, "reference-siglip2-naflex.json"), "w"), indent=1)
print("ok", [(f, p[4], p[3]) for f, p in zip(files, pre)])
