#!/usr/bin/python3
"""A tiny random Hugging Face SigLIP model folder and what the reference pipeline makes of it. Run ONCE:

    /usr/bin/python3 make-hf-siglip-tiny.py

Writes hf-siglip-tiny/ as a download leaves a SiglipModel (config.json, bfloat16 weights in one
model.safetensors, preprocessor_config.json of a SiglipImageProcessor) — without spiece.model, which is
@omnitok/tokenizer-text's sp-unigram.model fixture (vocab 600; tests copy it in) — and
reference-siglip.json: per image (the PNGs of make-hf-clip-tiny.py) the SiglipImageProcessor pixels'
checksums and the image embedding, per text the ids and the text embedding, and logits_per_text.

Independent of omnitok: the processor follows transformers' image_processing_siglip.py (PIL resize of
the 8-bit image to height × width, no crop, rescale in float64 cast to float32, normalize in float32);
the tokenizer HF's SiglipTokenizer (lowercase, canonicalize_text: drop string.punctuation, collapse
whitespace, strip; SentencePiece ids, </s> appended, padded with </s> to 64, no attention mask); the
model modeling_siglip.py (conv patch embedding with bias, no CLS, gelu_pytorch_tanh, post_layernorm,
the attention-pooling head with torch.nn.MultiheadAttention, the text tower without causal or padding
mask pooled at the last position through its head; logits_per_text = text·imageᵀ·exp(scale) + bias).
PyTorch 1.13, CPU, float32; sentencepiece 0.1.97.

    /usr/bin/python3 make-hf-siglip-tiny.py --siglip2

writes the same for a SigLIP 2 (FixRes) folder, hf-siglip2-tiny/ and reference-siglip2.json: the model
is a SiglipModel too, its text tokenizer Gemma's (here tokenizer-text's sp-bpe.model, vocab 900, a
SentencePiece BPE model with byte fallback; tests copy it in as tokenizer.model) as SigLIP 2 uses it:
lowercased (HF Siglip2Tokenizer), no <bos>, <eos> appended, padded with <pad> to 64
(tokenizer_config.json of the released checkpoints).

    /usr/bin/python3 make-hf-siglip-tiny.py --odd

writes a SigLIP folder whose patch size does not divide its image size (20-pixel images, patches of 6:
the "valid" patch convolution covers the first 18 pixels, 3 × 3 patches — as google/siglip-so400m-
patch14-384's 384 pixels make 27 × 27 patches of 14), hf-siglip-odd-tiny/ and reference-siglip-odd.json.
"""
import json, math, os, re, string, struct, sys
import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SIGLIP2 = "--siglip2" in sys.argv
ODD = "--odd" in sys.argv
OUT = os.path.join(HERE, "hf-siglip2-tiny" if SIGLIP2 else "hf-siglip-odd-tiny" if ODD else "hf-siglip-tiny")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(12 if SIGLIP2 else 14 if ODD else 11)

D, L, H, MLP, IMG, P, C = (16, 2, 2, 48, 20, 6, 3) if ODD else (16, 2, 2, 48, 32, 16, 3)
VOCAB, CTX = (900 if SIGLIP2 else 600), 64
EPS = 1e-6
config = {
    "architectures": ["SiglipModel"], "model_type": "siglip", "initializer_factor": 1.0, "torch_dtype": "bfloat16",
    "text_config": {"model_type": "siglip_text_model", "hidden_size": D, "intermediate_size": MLP, "num_hidden_layers": L, "num_attention_heads": H,
                    "vocab_size": VOCAB, "max_position_embeddings": CTX},
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": D, "intermediate_size": MLP, "num_hidden_layers": L, "num_attention_heads": H,
                      "image_size": IMG, "patch_size": P},
}
processor = {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "SiglipImageProcessor",
             "image_std": [0.5, 0.5, 0.5], "processor_class": "SiglipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"height": IMG, "width": IMG}}

hf = {}
def rnd(*shape, scale):
    return (torch.randn(*shape) * scale).bfloat16()
def layer(prefix):
    for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
        hf[f"{prefix}.self_attn.{n}.weight"] = rnd(D, D, scale=1 / math.sqrt(D)); hf[f"{prefix}.self_attn.{n}.bias"] = rnd(D, scale=0.1)
    for n in ["layer_norm1", "layer_norm2"]:
        hf[f"{prefix}.{n}.weight"] = 1 + rnd(D, scale=0.1); hf[f"{prefix}.{n}.bias"] = rnd(D, scale=0.1)
    hf[f"{prefix}.mlp.fc1.weight"] = rnd(MLP, D, scale=1 / math.sqrt(D)); hf[f"{prefix}.mlp.fc1.bias"] = rnd(MLP, scale=0.1)
    hf[f"{prefix}.mlp.fc2.weight"] = rnd(D, MLP, scale=1 / math.sqrt(MLP)); hf[f"{prefix}.mlp.fc2.bias"] = rnd(D, scale=0.1)

NP = (IMG // P) ** 2
hf["vision_model.embeddings.patch_embedding.weight"] = rnd(D, C, P, P, scale=0.05)
hf["vision_model.embeddings.patch_embedding.bias"] = rnd(D, scale=0.1)
hf["vision_model.embeddings.position_embedding.weight"] = rnd(NP, D, scale=0.5)
for i in range(L): layer(f"vision_model.encoder.layers.{i}")
hf["vision_model.post_layernorm.weight"] = 1 + rnd(D, scale=0.1); hf["vision_model.post_layernorm.bias"] = rnd(D, scale=0.1)
hf["vision_model.head.probe"] = rnd(1, 1, D, scale=1.0)
hf["vision_model.head.attention.in_proj_weight"] = rnd(3 * D, D, scale=1 / math.sqrt(D)); hf["vision_model.head.attention.in_proj_bias"] = rnd(3 * D, scale=0.1)
hf["vision_model.head.attention.out_proj.weight"] = rnd(D, D, scale=1 / math.sqrt(D)); hf["vision_model.head.attention.out_proj.bias"] = rnd(D, scale=0.1)
hf["vision_model.head.layernorm.weight"] = 1 + rnd(D, scale=0.1); hf["vision_model.head.layernorm.bias"] = rnd(D, scale=0.1)
hf["vision_model.head.mlp.fc1.weight"] = rnd(MLP, D, scale=1 / math.sqrt(D)); hf["vision_model.head.mlp.fc1.bias"] = rnd(MLP, scale=0.1)
hf["vision_model.head.mlp.fc2.weight"] = rnd(D, MLP, scale=1 / math.sqrt(MLP)); hf["vision_model.head.mlp.fc2.bias"] = rnd(D, scale=0.1)
hf["text_model.embeddings.token_embedding.weight"] = rnd(VOCAB, D, scale=1.0)
hf["text_model.embeddings.position_embedding.weight"] = rnd(CTX, D, scale=0.5)
for i in range(L): layer(f"text_model.encoder.layers.{i}")
hf["text_model.final_layer_norm.weight"] = 1 + rnd(D, scale=0.1); hf["text_model.final_layer_norm.bias"] = rnd(D, scale=0.1)
hf["text_model.head.weight"] = rnd(D, D, scale=0.25); hf["text_model.head.bias"] = rnd(D, scale=0.1)
hf["logit_scale"] = torch.tensor([math.log(10)]).bfloat16()
hf["logit_bias"] = torch.tensor([-10.0]).bfloat16()
W = {k: v.float() for k, v in hf.items()}

header, payload, offset = {"__metadata__": {"format": "pt"}}, [], 0
for name, t in hf.items():
    b = t.contiguous().view(torch.int16).numpy().tobytes()  # bfloat16 bits
    header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
    payload.append(b); offset += len(b)
h = json.dumps(header, separators=(",", ":")).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(OUT, "model.safetensors"), "wb") as f: f.write(struct.pack("<Q", len(h)) + h + b"".join(payload))
json.dump(config, open(os.path.join(OUT, "config.json"), "w"), indent=2)
json.dump(processor, open(os.path.join(OUT, "preprocessor_config.json"), "w"), indent=2)
if SIGLIP2:
    tokenizer_config = {"add_bos_token": False, "add_eos_token": True, "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                        "model_max_length": 1000000000000000019884624838656, "padding_side": "right", "processor_class": "SiglipProcessor",
                        "model_input_names": ["input_ids"], "tokenizer_class": "GemmaTokenizer"}
    json.dump(tokenizer_config, open(os.path.join(OUT, "tokenizer_config.json"), "w"), indent=2)

# ---------------------------------------------------------------- SiglipImageProcessor
files = ["wide-45x41.png", "tall-30x37.png"]
def siglip_processor(f):
    im = Image.open(os.path.join(HERE, f)).convert("RGB").resize((IMG, IMG), resample=Image.BICUBIC, reducing_gap=None)
    a = (np.asarray(im).transpose(2, 0, 1).astype(np.float64) * processor["rescale_factor"]).astype(np.float32)
    return (a - np.float32(0.5)) / np.float32(0.5)
pixels = torch.from_numpy(np.stack([siglip_processor(f) for f in files]))

# ---------------------------------------------------------------- SiglipTokenizer
sp = spm.SentencePieceProcessor(model_file=os.path.join(HERE, "..", "..", "..", "..", "tokenizer-text", "src", "__fixtures__", "sp-bpe.model" if SIGLIP2 else "sp-unigram.model"))
EOS = sp.eos_id()
PAD = sp.pad_id() if SIGLIP2 else EOS
texts = ["A photo of a cat!", "a DOG, sitting   next to a red car.", "mountain lake"] + (["Ünïcödé ☃ <start_of_turn> 2024"] if SIGLIP2 else [])
def canonicalize(t):
    if SIGLIP2: return t.lower()  # Siglip2Tokenizer: Lowercase normalizer only
    t = t.lower().translate(str.maketrans("", "", string.punctuation))
    return re.sub(r"\s+", " ", t).strip()
rows = [sp.encode(canonicalize(t)) + [EOS] for t in texts]
ids = torch.tensor([r + [PAD] * (CTX - len(r)) for r in rows])

# ---------------------------------------------------------------- SiglipModel forward
def encoder(h, prefix):
    for i in range(L):
        p = f"{prefix}.encoder.layers.{i}"
        r = h
        h = F.layer_norm(h, (D,), W[p + ".layer_norm1.weight"], W[p + ".layer_norm1.bias"], EPS)
        B, N, _ = h.shape; hd = D // H
        lin = lambda t, n: F.linear(t, W[f"{p}.self_attn.{n}.weight"], W[f"{p}.self_attn.{n}.bias"])
        sh = lambda t: t.view(B, N, H, hd).transpose(1, 2)
        w = (sh(lin(h, "q_proj")) @ sh(lin(h, "k_proj")).transpose(2, 3)) * hd ** -0.5
        o = (torch.softmax(w, -1) @ sh(lin(h, "v_proj"))).transpose(1, 2).reshape(B, N, D)
        h = r + lin(o, "out_proj")
        r = h
        h = F.layer_norm(h, (D,), W[p + ".layer_norm2.weight"], W[p + ".layer_norm2.bias"], EPS)
        h = r + F.linear(F.gelu(F.linear(h, W[p + ".mlp.fc1.weight"], W[p + ".mlp.fc1.bias"]), approximate="tanh"), W[p + ".mlp.fc2.weight"], W[p + ".mlp.fc2.bias"])
    return h

B = pixels.shape[0]
h = F.conv2d(pixels, W["vision_model.embeddings.patch_embedding.weight"], W["vision_model.embeddings.patch_embedding.bias"], stride=P).flatten(2).transpose(1, 2)
h = encoder(h + W["vision_model.embeddings.position_embedding.weight"], "vision_model")
h = F.layer_norm(h, (D,), W["vision_model.post_layernorm.weight"], W["vision_model.post_layernorm.bias"], EPS)
mha = torch.nn.MultiheadAttention(D, H, batch_first=True)
with torch.no_grad():
    mha.in_proj_weight.copy_(W["vision_model.head.attention.in_proj_weight"]); mha.in_proj_bias.copy_(W["vision_model.head.attention.in_proj_bias"])
    mha.out_proj.weight.copy_(W["vision_model.head.attention.out_proj.weight"]); mha.out_proj.bias.copy_(W["vision_model.head.attention.out_proj.bias"])
    a = mha(W["vision_model.head.probe"].repeat(B, 1, 1), h, h)[0]
a = a + F.linear(F.gelu(F.linear(F.layer_norm(a, (D,), W["vision_model.head.layernorm.weight"], W["vision_model.head.layernorm.bias"], EPS), W["vision_model.head.mlp.fc1.weight"], W["vision_model.head.mlp.fc1.bias"]), approximate="tanh"),
                 W["vision_model.head.mlp.fc2.weight"], W["vision_model.head.mlp.fc2.bias"])
image_embeds = F.normalize(a[:, 0], dim=-1)

h = W["text_model.embeddings.token_embedding.weight"][ids] + W["text_model.embeddings.position_embedding.weight"]
h = F.layer_norm(encoder(h, "text_model"), (D,), W["text_model.final_layer_norm.weight"], W["text_model.final_layer_norm.bias"], EPS)
text_embeds = F.normalize(F.linear(h[:, -1], W["text_model.head.weight"], W["text_model.head.bias"]), dim=-1)
logits_per_text = text_embeds @ image_embeds.T * W["logit_scale"].exp() + W["logit_bias"]

reference = {
    "images": [{"file": f, "pixels_sum": [float(pixels[i, c].double().sum()) for c in range(3)], "pixels_first": pixels[i].flatten()[:8].tolist(),
                "embedding": image_embeds[i].tolist()} for i, f in enumerate(files)],
    "texts": [{"text": t, "ids": rows[i], "embedding": text_embeds[i].tolist()} for i, t in enumerate(texts)],
    "logit_scale": float(W["logit_scale"]), "logit_bias": float(W["logit_bias"]),
    "logits_per_text": logits_per_text.tolist(),
    "torch": torch.__version__,
}
json.dump(reference, open(os.path.join(HERE, "reference-siglip2.json" if SIGLIP2 else "reference-siglip-odd.json" if ODD else "reference-siglip.json"), "w"), indent=1)
print("ok", {f: os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT)}, rows)
