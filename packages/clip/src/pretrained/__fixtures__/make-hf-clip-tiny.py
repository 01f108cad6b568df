#!/usr/bin/python3
"""A tiny random Hugging Face CLIP model folder and what the reference pipeline makes of it. Run ONCE:

    PYTHONPATH=<folder with ftfy 6.3.1> /usr/bin/python3 make-hf-clip-tiny.py <openai/CLIP>/clip/simple_tokenizer.py

Writes hf-clip-tiny/ as `huggingface-cli download` leaves a real model (config.json in transformers'
CLIPConfig layout, float16 weights in two safetensors shards with model.safetensors.index.json,
preprocessor_config.json of a CLIPImageProcessor), two PNG images, and reference.json: for each image
the CLIPImageProcessor pixels' checksums and the image embedding, for each text openai/CLIP's token ids
and the text embedding, and CLIPModel's logits_per_image. Tests read these and never need Python.

Independent of omnitok: the processor steps follow transformers' image_processing_clip.py /
image_transforms.py (PIL resize of the 8-bit image to the shortest edge, long side int(edge·long/short),
center_crop with (size − crop) // 2, rescale in float64 cast to float32, normalize in float32); the
model follows modeling_clip.py (eager attention, q·d^-0.5, causal + padding mask, EOT pooling by argmax,
projections without bias, logit_scale.exp()). PyTorch 1.13, CPU, float32.
"""
import importlib.util, json, math, os, struct, sys
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hf-clip-tiny")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(7)
rng = np.random.default_rng(7)

V_D, V_L, V_H, V_MLP, IMG, P, C = 16, 2, 2, 64, 32, 16, 3
T_D, T_L, T_H, T_MLP, VOCAB, CTX = 8, 2, 2, 32, 49408, 77
PROJ = 8
config = {
    "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": PROJ, "logit_scale_init_value": 2.6592, "torch_dtype": "float16",
    "text_config": {"model_type": "clip_text_model", "hidden_size": T_D, "intermediate_size": T_MLP, "num_hidden_layers": T_L, "num_attention_heads": T_H,
                    "max_position_embeddings": CTX, "vocab_size": VOCAB, "hidden_act": "gelu", "layer_norm_eps": 1e-5, "projection_dim": PROJ,
                    "bos_token_id": 49406, "eos_token_id": 2},
    "vision_config": {"model_type": "clip_vision_model", "hidden_size": V_D, "intermediate_size": V_MLP, "num_hidden_layers": V_L, "num_attention_heads": V_H,
                      "image_size": IMG, "patch_size": P, "hidden_act": "quick_gelu", "projection_dim": PROJ},
}
processor = {"crop_size": {"height": IMG, "width": IMG}, "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
             "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711], "image_processor_type": "CLIPImageProcessor",
             "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": IMG}}

# ---------------------------------------------------------------- weights (float16, as a torch_dtype float16 upload)
hf = {}
def rnd(*shape, scale):
    return (torch.randn(*shape) * scale).half()
def layer(prefix, D, MLP):
    for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
        hf[f"{prefix}.self_attn.{n}.weight"] = rnd(D, D, scale=1 / math.sqrt(D)); hf[f"{prefix}.self_attn.{n}.bias"] = rnd(D, scale=0.1)
    for n in ["layer_norm1", "layer_norm2"]:
        hf[f"{prefix}.{n}.weight"] = 1 + rnd(D, scale=0.1); hf[f"{prefix}.{n}.bias"] = rnd(D, scale=0.1)
    hf[f"{prefix}.mlp.fc1.weight"] = rnd(MLP, D, scale=1 / math.sqrt(D)); hf[f"{prefix}.mlp.fc1.bias"] = rnd(MLP, scale=0.1)
    hf[f"{prefix}.mlp.fc2.weight"] = rnd(D, MLP, scale=1 / math.sqrt(MLP)); hf[f"{prefix}.mlp.fc2.bias"] = rnd(D, scale=0.1)

hf["text_model.embeddings.token_embedding.weight"] = rnd(VOCAB, T_D, scale=1.0)
hf["text_model.embeddings.position_embedding.weight"] = rnd(CTX, T_D, scale=0.5)
hf["text_model.embeddings.position_ids"] = torch.arange(CTX, dtype=torch.int64)[None]
for i in range(T_L): layer(f"text_model.encoder.layers.{i}", T_D, T_MLP)
hf["text_model.final_layer_norm.weight"] = 1 + rnd(T_D, scale=0.1); hf["text_model.final_layer_norm.bias"] = rnd(T_D, scale=0.1)
NP = (IMG // P) ** 2
hf["vision_model.embeddings.class_embedding"] = rnd(V_D, scale=1.0)
hf["vision_model.embeddings.patch_embedding.weight"] = rnd(V_D, C, P, P, scale=0.05)
hf["vision_model.embeddings.position_embedding.weight"] = rnd(NP + 1, V_D, scale=0.5)
hf["vision_model.embeddings.position_ids"] = torch.arange(NP + 1, dtype=torch.int64)[None]
hf["vision_model.pre_layrnorm.weight"] = 1 + rnd(V_D, scale=0.1); hf["vision_model.pre_layrnorm.bias"] = rnd(V_D, scale=0.1)
for i in range(V_L): layer(f"vision_model.encoder.layers.{i}", V_D, V_MLP)
hf["vision_model.post_layernorm.weight"] = 1 + rnd(V_D, scale=0.1); hf["vision_model.post_layernorm.bias"] = rnd(V_D, scale=0.1)
hf["visual_projection.weight"] = rnd(PROJ, V_D, scale=0.25)
hf["text_projection.weight"] = rnd(PROJ, T_D, scale=0.25)
hf["logit_scale"] = torch.tensor(math.log(1 / 0.07)).half()
W = {k: (v.float() if v.dtype == torch.float16 else v) for k, v in hf.items()}  # what a float32 load computes with

def write_safetensors(path, tensors):
    header, payload, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        a = t.contiguous().numpy()
        dt = {np.float16: "F16", np.int64: "I64"}[a.dtype.type]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        payload.append(b); offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f: f.write(struct.pack("<Q", len(h)) + h + b"".join(payload))

names = list(hf)
shards = {"model-00001-of-00002.safetensors": [n for n in names if n.startswith("text_model")],
          "model-00002-of-00002.safetensors": [n for n in names if not n.startswith("text_model")]}
for file, keys in shards.items(): write_safetensors(os.path.join(OUT, file), {k: hf[k] for k in keys})
json.dump({"metadata": {"total_size": sum(v.numel() * v.element_size() for v in hf.values())}, "weight_map": {k: f for f, ks in shards.items() for k in ks}},
          open(os.path.join(OUT, "model.safetensors.index.json"), "w"), indent=2)
json.dump(config, open(os.path.join(OUT, "config.json"), "w"), indent=2)
json.dump(processor, open(os.path.join(OUT, "preprocessor_config.json"), "w"), indent=2)

# ---------------------------------------------------------------- images and CLIPImageProcessor
def smooth_image(w, h, seed):
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    chans = [np.sin(xx / (3 + 2 * c) + r.uniform(0, 6)) * np.cos(yy / (4 + c) + r.uniform(0, 6)) * 100 + 128 + r.normal(0, 20, (h, w)) for c in range(3)]
    return Image.fromarray(np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8), "RGB")

# 45×41: shortest edge 32 → 35×32, crop margin 3 → left 1 (round-half-even would say 2); 30×37 → 32×39, margin 7 → top 3 (not 4)
images = {"wide-45x41.png": smooth_image(45, 41, 1), "tall-30x37.png": smooth_image(30, 37, 2)}
for f, im in images.items(): im.save(os.path.join(HERE, f))

def clip_processor(im):
    im = Image.open(os.path.join(HERE, im)).convert("RGB")
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = IMG, int(IMG * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    im = im.resize((nw, nh), resample=Image.BICUBIC, reducing_gap=None)
    a = np.asarray(im).transpose(2, 0, 1)  # CHW uint8
    top, left = (nh - IMG) // 2, (nw - IMG) // 2
    a = a[:, top:top + IMG, left:left + IMG]
    a = (a.astype(np.float64) * processor["rescale_factor"]).astype(np.float32)
    mean = np.array(processor["image_mean"], dtype=np.float32)[:, None, None]
    std = np.array(processor["image_std"], dtype=np.float32)[:, None, None]
    return (a - mean) / std

pixels = torch.from_numpy(np.stack([clip_processor(f) for f in images]))

# ---------------------------------------------------------------- openai/CLIP tokenizer
spec = importlib.util.spec_from_file_location("simple_tokenizer", sys.argv[1])
st = importlib.util.module_from_spec(spec); spec.loader.exec_module(st)
tok = st.SimpleTokenizer(os.path.join(HERE, "..", "..", "..", "..", "tokenizer-text", "assets", "bpe_simple_vocab_16e6.txt.gz"))
texts = ["a photo of a cat", "A diagram of the Sun & its 8 planets!", "hello world 😀"]
ids = torch.zeros(len(texts), CTX, dtype=torch.int64)
for i, t in enumerate(texts):
    row = [49406] + tok.encode(t) + [49407]
    ids[i, :len(row)] = torch.tensor(row)
amask = (torch.arange(CTX)[None] <= ids.argmax(-1)[:, None]).long()

# ---------------------------------------------------------------- CLIPModel forward
def act(x, kind):
    return x * torch.sigmoid(1.702 * x) if kind == "quick_gelu" else F.gelu(x)
def encoder(h, prefix, D, L, H, kind, mask4=None):
    for i in range(L):
        p = f"{prefix}.encoder.layers.{i}"
        r = h
        h = F.layer_norm(h, (D,), W[p + ".layer_norm1.weight"], W[p + ".layer_norm1.bias"], 1e-5)
        B, N, _ = h.shape; hd = D // H
        lin = lambda t, n: F.linear(t, W[f"{p}.self_attn.{n}.weight"], W[f"{p}.self_attn.{n}.bias"])
        sh = lambda t: t.view(B, N, H, hd).transpose(1, 2)
        w = (sh(lin(h, "q_proj")) @ sh(lin(h, "k_proj")).transpose(2, 3)) * hd ** -0.5
        if mask4 is not None: w = w + mask4
        o = (torch.softmax(w, -1) @ sh(lin(h, "v_proj"))).transpose(1, 2).reshape(B, N, D)
        h = r + lin(o, "out_proj")
        r = h
        h = F.layer_norm(h, (D,), W[p + ".layer_norm2.weight"], W[p + ".layer_norm2.bias"], 1e-5)
        h = r + F.linear(act(F.linear(h, W[p + ".mlp.fc1.weight"], W[p + ".mlp.fc1.bias"]), kind), W[p + ".mlp.fc2.weight"], W[p + ".mlp.fc2.bias"])
    return h

B = pixels.shape[0]
pe = F.conv2d(pixels, W["vision_model.embeddings.patch_embedding.weight"], stride=P).flatten(2).transpose(1, 2)
h = torch.cat([W["vision_model.embeddings.class_embedding"].expand(B, 1, V_D), pe], 1) + W["vision_model.embeddings.position_embedding.weight"]
h = F.layer_norm(h, (V_D,), W["vision_model.pre_layrnorm.weight"], W["vision_model.pre_layrnorm.bias"], 1e-5)
h = encoder(h, "vision_model", V_D, V_L, V_H, "quick_gelu")
pooled = F.layer_norm(h[:, 0], (V_D,), W["vision_model.post_layernorm.weight"], W["vision_model.post_layernorm.bias"], 1e-5)
image_embeds = F.normalize(pooled @ W["visual_projection.weight"].T, dim=-1)

h = W["text_model.embeddings.token_embedding.weight"][ids] + W["text_model.embeddings.position_embedding.weight"]
causal = torch.full((CTX, CTX), torch.finfo(torch.float32).min).triu(1)[None, None]
pad = (1.0 - amask[:, None, None, :].float()) * torch.finfo(torch.float32).min
h = encoder(h, "text_model", T_D, T_L, T_H, "gelu", causal + pad)
h = F.layer_norm(h, (T_D,), W["text_model.final_layer_norm.weight"], W["text_model.final_layer_norm.bias"], 1e-5)
text_embeds = F.normalize(h[torch.arange(len(texts)), ids.argmax(-1)] @ W["text_projection.weight"].T, dim=-1)
logits_per_image = W["logit_scale"].exp() * image_embeds @ text_embeds.T

reference = {
    "images": [{"file": f, "pixels_sum": [float(pixels[i, c].double().sum()) for c in range(3)], "pixels_first": pixels[i].flatten()[:8].tolist(),
                "embedding": image_embeds[i].tolist()} for i, f in enumerate(images)],
    "texts": [{"text": t, "ids": ids[i, :int(amask[i].sum())].tolist(), "embedding": text_embeds[i].tolist()} for i, t in enumerate(texts)],
    "logit_scale": float(W["logit_scale"]),
    "logits_per_image": logits_per_image.tolist(),
    "torch": torch.__version__,
}
json.dump(reference, open(os.path.join(HERE, "reference.json"), "w"), indent=1)
print("ok", {f: os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT)})
