"""Reference values for the runtime tests, computed ONCE with PyTorch (1.13, CPU, float32).

Run:  /usr/bin/python3 packages/core/src/runtime/__fixtures__/make-fixtures.py
Writes reference.safetensors (layers and encoders, weights under our dotted names), hf-clip-tiny.safetensors
(a random CLIPModel-shaped state dict under Hugging Face names) and hf-clip-io.safetensors (inputs and the
outputs of an HF-structured forward). Tests read these files and never need Python.

Everything here is an independent torch implementation of the semantics documented in the runtime
(packages/core/RUNTIME.md); the HF forward follows transformers' modeling_clip.py (eager attention).
"""
import json, math, os, struct
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
np.random.seed(0)
OUT = os.path.dirname(os.path.abspath(__file__))


def write_safetensors(path, tensors, metadata=None):
    header, payload, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        dt = {np.float32: "F32", np.int32: "I32", np.int64: "I64"}[a.dtype.type]
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        payload.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(payload))


def rnd(*shape, scale=0.3):
    return (torch.randn(*shape) * scale).float()


ref = {}

# ---------------------------------------------------------------- primitives
x = rnd(2, 3, 8, scale=1.0); w = rnd(8, 12); b = rnd(12, scale=0.1)
ref.update({"linear.x": x, "linear.weight": w, "linear.bias": b, "linear.y": x @ w + b})

x = rnd(2, 3, 16, scale=2.0) + 0.5; g = 1 + rnd(16, scale=0.1); bb = rnd(16, scale=0.1)
ref.update({"ln.x": x, "ln.weight": g, "ln.bias": bb, "ln.y": F.layer_norm(x, (16,), g, bb, 1e-5)})

x = torch.linspace(-6, 6, 97)
ref.update({"gelu.x": x, "gelu.erf": F.gelu(x), "gelu.tanh": F.gelu(x, approximate="tanh"), "gelu.quick": x * torch.sigmoid(1.702 * x)})


def gelu(x, kind):
    return F.gelu(x) if kind == "erf" else F.gelu(x, approximate="tanh") if kind == "tanh" else x * torch.sigmoid(1.702 * x)


def attention(p, pre, x, heads, kv=None, key_mask=None, causal=False):
    W, bq = p[pre + "qkv.weight"], p[pre + "qkv.bias"]
    B, Nq, D = x.shape
    Dh = D // heads
    if kv is None:
        qkv = (x @ W + bq).reshape(B, Nq, 3, heads, Dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
    else:
        Nk = kv.shape[1]
        q = (x @ W[:, :D] + bq[:D]).reshape(B, Nq, heads, Dh).transpose(1, 2)
        kvp = (kv @ W[:, D:] + bq[D:]).reshape(B, Nk, 2, heads, Dh).permute(2, 0, 3, 1, 4)
        k, v = kvp[0], kvp[1]
    s = q @ k.transpose(-1, -2) / math.sqrt(Dh)
    if key_mask is not None:
        s = s + (1 - key_mask[:, None, None, :].float()) * -1e9
    if causal:
        n = s.shape[-1]
        s = s + (1 - torch.tril(torch.ones(n, n))) * -1e9
    o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, Nq, D)
    return o @ p[pre + "proj.weight"] + p[pre + "proj.bias"]


D, H = 16, 4
att = {"qkv.weight": rnd(D, 3 * D), "qkv.bias": rnd(3 * D, scale=0.1), "proj.weight": rnd(D, D), "proj.bias": rnd(D, scale=0.1)}
x = rnd(2, 5, D, scale=1.0)
km = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.int32)
for k, v in att.items():
    ref["attn." + k] = v
ref.update({"attn.x": x, "attn.mask": km,
            "attn.y": attention(att, "", x, H), "attn.y_masked": attention(att, "", x, H, key_mask=km),
            "attn.y_causal": attention(att, "", x, H, causal=True)})


# ---------------------------------------------------------------- position embeddings (MAE numpy code)
def mae_1d(dim, pos):
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def mae_2d(dim, gh, gw):
    grid_h = np.arange(gh, dtype=np.float32); grid_w = np.arange(gw, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)  # here w goes first
    grid = np.stack(grid, axis=0).reshape([2, 1, gh, gw])
    emb_h = mae_1d(dim // 2, grid[0]); emb_w = mae_1d(dim // 2, grid[1])
    return np.concatenate([emb_h, emb_w], axis=1)


def sincos_3d(dim, gt, gh, gw):  # thirds: column, row, frame
    t, h, w = np.meshgrid(np.arange(gt), np.arange(gh), np.arange(gw), indexing="ij")
    return np.concatenate([mae_1d(dim // 3, w), mae_1d(dim // 3, h), mae_1d(dim // 3, t)], axis=1)


def sincos(dim, grid):
    if len(grid) == 1:
        return mae_1d(dim, np.arange(grid[0]))
    if len(grid) == 2:
        return mae_2d(dim, *grid)
    return sincos_3d(dim, *grid)


ref["sincos.1d"] = torch.tensor(sincos(8, [5]), dtype=torch.float32)
ref["sincos.2d"] = torch.tensor(sincos(16, [3, 4]), dtype=torch.float32)
ref["sincos.3d"] = torch.tensor(sincos(12, [2, 2, 3]), dtype=torch.float32)

t2 = rnd(1 + 6, 4, scale=1.0)  # CLS row + a 2x3 grid, D=4
g2 = t2[1:].reshape(1, 2, 3, 4).permute(0, 3, 1, 2)
r2 = F.interpolate(g2, size=(3, 5), mode="bilinear", align_corners=False).permute(0, 2, 3, 1).reshape(15, 4)
ref.update({"interp2d.in": t2, "interp2d.out": torch.cat([t2[:1], r2], 0)})
t3 = rnd(8, 4, scale=1.0)
g3 = t3.reshape(1, 2, 2, 2, 4).permute(0, 4, 1, 2, 3)
r3 = F.interpolate(g3, size=(3, 2, 4), mode="trilinear", align_corners=False).permute(0, 2, 3, 4, 1).reshape(24, 4)
ref.update({"interp3d.in": t3, "interp3d.out": r3})


# ---------------------------------------------------------------- encoders
def encoder_params(c):
    D, Dm = c["width"], int(c["width"] * c["mlpRatio"])
    p = {}
    t = c["tokens"]
    if t["kind"] == "continuous":
        p["embed.proj.weight"] = rnd(t["dim"], D)
        if c.get("embedBias", True):
            p["embed.proj.bias"] = rnd(D, scale=0.1)
    else:
        p["embed.weight"] = rnd(t["vocabSize"], D, scale=1.0)
    cls = c.get("clsToken", c["pooling"] == "cls")
    if cls:
        p["cls_token"] = rnd(D, scale=1.0)
    if c["posEmb"] == "learned":
        p["pos_embed"] = rnd(t["count"] + (1 if cls else 0), D, scale=0.5)
    if c.get("preNorm"):
        p["ln_pre.weight"] = 1 + rnd(D, scale=0.1); p["ln_pre.bias"] = rnd(D, scale=0.1)

    def ln(pre):
        p[pre + "weight"] = 1 + rnd(D, scale=0.1); p[pre + "bias"] = rnd(D, scale=0.1)

    def lin(pre, i, o, bias=True):
        p[pre + "weight"] = rnd(i, o, scale=1 / math.sqrt(i))
        if bias:
            p[pre + "bias"] = rnd(o, scale=0.1)

    for i in range(c["depth"]):
        b = f"blocks.{i}."
        ln(b + "ln1."); lin(b + "attn.qkv.", D, 3 * D); lin(b + "attn.proj.", D, D)
        if c.get("layerScale"):
            p[b + "ls1.gamma"] = c["layerScale"] + rnd(D, scale=0.05)
        ln(b + "ln2."); lin(b + "mlp.fc1.", D, Dm); lin(b + "mlp.fc2.", Dm, D)
        if c.get("layerScale"):
            p[b + "ls2.gamma"] = c["layerScale"] + rnd(D, scale=0.05)
    ln("ln_final.")
    if c["pooling"] == "map":
        p["head.probe"] = rnd(1, 1, D, scale=1.0)
        lin("head.attn.qkv.", D, 3 * D); lin("head.attn.proj.", D, D); ln("head.ln.")
        lin("head.mlp.fc1.", D, Dm); lin("head.mlp.fc2.", Dm, D)
    if c.get("projectionDim"):
        lin("proj.", D, c["projectionDim"], bias=False)
    return {k: v.clone().requires_grad_(True) for k, v in p.items()}


def encoder_forward(c, p, x, mask=None, eot=None):
    D = c["width"]; t = c["tokens"]; eps = c.get("lnEps", 1e-5)
    cls = c.get("clsToken", c["pooling"] == "cls")
    LN = lambda h, pre: F.layer_norm(h, (D,), p[pre + "weight"], p[pre + "bias"], eps)
    if t["kind"] == "continuous":
        h = x @ p["embed.proj.weight"] + (p["embed.proj.bias"] if "embed.proj.bias" in p else 0)
    else:
        h = p["embed.weight"][x.long()]
    B = h.shape[0]
    if cls:
        h = torch.cat([p["cls_token"].reshape(1, 1, D).expand(B, 1, D), h], 1)
    if c["posEmb"] == "learned":
        h = h + p["pos_embed"]
    elif c["posEmb"] == "sincos":
        tab = torch.tensor(sincos(D, t.get("grid", [t["count"]])), dtype=torch.float32)
        if cls:
            tab = torch.cat([torch.zeros(1, D), tab], 0)
        h = h + tab
    if c.get("preNorm"):
        h = LN(h, "ln_pre.")
    km = None
    if mask is not None:
        km = mask.float()
        if cls:
            km = torch.cat([torch.ones(B, 1), km], 1)
    for i in range(c["depth"]):
        b = f"blocks.{i}."
        a = attention(p, b + "attn.", LN(h, b + "ln1."), c["heads"], key_mask=km, causal=c.get("causal", False))
        if c.get("layerScale"):
            a = a * p[b + "ls1.gamma"]
        h = h + a
        m = LN(h, b + "ln2.") @ p[b + "mlp.fc1.weight"] + p[b + "mlp.fc1.bias"]
        m = gelu(m, c["gelu"]) @ p[b + "mlp.fc2.weight"] + p[b + "mlp.fc2.bias"]
        if c.get("layerScale"):
            m = m * p[b + "ls2.gamma"]
        h = h + m
    tokens = LN(h, "ln_final.")
    pre = 1 if cls else 0
    if c["pooling"] == "cls":
        pooled = tokens[:, 0]
    elif c["pooling"] == "mean":
        body = tokens[:, pre:]
        if km is None:
            pooled = body.mean(1)
        else:
            m = km[:, pre:, None]
            pooled = (body * m).sum(1) / m.sum(1).clamp(min=1)
    elif c["pooling"] == "eot":
        pooled = tokens[torch.arange(B), eot.long() + pre]
    else:  # map
        probe = p["head.probe"].expand(B, 1, D)
        a = attention(p, "head.attn.", probe, c["heads"], kv=tokens, key_mask=km)
        m = LN(a, "head.ln.") @ p["head.mlp.fc1.weight"] + p["head.mlp.fc1.bias"]
        m = gelu(m, c["gelu"]) @ p["head.mlp.fc2.weight"] + p["head.mlp.fc2.bias"]
        pooled = (a + m)[:, 0]
    emb = pooled @ p["proj.weight"] if c.get("projectionDim") else pooled
    return tokens, pooled, emb


configs = {
    "encA": {"size": "custom", "width": 16, "depth": 2, "heads": 2, "mlpRatio": 2, "gelu": "tanh", "posEmb": "learned", "pooling": "cls",
             "projectionDim": 8, "preNorm": True, "layerScale": 0.5, "tokens": {"kind": "continuous", "dim": 12, "count": 6, "grid": [2, 3]}},
    "encB": {"size": "custom", "width": 16, "depth": 2, "heads": 2, "mlpRatio": 2, "gelu": "quick", "posEmb": "learned", "pooling": "eot",
             "projectionDim": 8, "causal": True, "tokens": {"kind": "discrete", "vocabSize": 20, "count": 5}},
    "encC": {"size": "custom", "width": 24, "depth": 1, "heads": 3, "mlpRatio": 2, "gelu": "erf", "posEmb": "sincos", "pooling": "mean",
             "tokens": {"kind": "continuous", "dim": 10, "count": 6, "grid": [2, 3]}},
    "encD": {"size": "custom", "width": 16, "depth": 1, "heads": 4, "mlpRatio": 2, "gelu": "erf", "posEmb": "sincos", "pooling": "map",
             "projectionDim": 6, "tokens": {"kind": "continuous", "dim": 10, "count": 6}},
}
inputs = {
    "encA": (rnd(2, 6, 12, scale=1.0), None, None),
    "encB": (torch.tensor([[3, 7, 19, 0, 0], [5, 5, 2, 19, 1]], dtype=torch.int32), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.int32), torch.tensor([2, 3], dtype=torch.int32)),
    "encC": (rnd(2, 6, 10, scale=1.0), torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.int32), None),
    "encD": (rnd(2, 6, 10, scale=1.0), torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.int32), None),
}
for name, c in configs.items():
    p = encoder_params(c)
    x, mask, eot = inputs[name]
    tokens, pooled, emb = encoder_forward(c, p, x, mask, eot)
    R = rnd(*emb.shape, scale=1.0)
    loss = (emb * R).sum() + 0.1 * (tokens ** 2).mean()
    loss.backward()
    for k, v in p.items():
        ref[f"{name}.param.{k}"] = v.detach()
        ref[f"{name}.grad.{k}"] = v.grad.detach()
    ref[f"{name}.x"] = x
    if mask is not None:
        ref[f"{name}.mask"] = mask
    if eot is not None:
        ref[f"{name}.eot"] = eot
    ref.update({f"{name}.tokens": tokens.detach(), f"{name}.pooled": pooled.detach(), f"{name}.embedding": emb.detach(), f"{name}.R": R, f"{name}.loss": loss.detach().reshape(1)})

# ---------------------------------------------------------------- AdamW (torch.optim.AdamW), 3 steps
pw = rnd(3, 4, scale=1.0).requires_grad_(True); pb = rnd(4, scale=1.0).requires_grad_(True)
ref["adamw.w0"] = pw.detach().clone(); ref["adamw.b0"] = pb.detach().clone()
opt = torch.optim.AdamW([{"params": [pw], "weight_decay": 0.1}, {"params": [pb], "weight_decay": 0.0}], lr=0.05, betas=(0.9, 0.95), eps=1e-6)
for s, lr in enumerate([0.05, 0.03, 0.01]):
    for group in opt.param_groups:
        group["lr"] = lr
    gw = rnd(3, 4, scale=1.0); gb = rnd(4, scale=1.0)
    pw.grad = gw.clone(); pb.grad = gb.clone()
    opt.step()
    ref[f"adamw.gw{s}"] = gw; ref[f"adamw.gb{s}"] = gb
    ref[f"adamw.w{s + 1}"] = pw.detach().clone(); ref[f"adamw.b{s + 1}"] = pb.detach().clone()

write_safetensors(os.path.join(OUT, "reference.safetensors"), {k: v.detach().contiguous() for k, v in ref.items()},
                  {"configs": json.dumps(configs), "torch": torch.__version__})

# ---------------------------------------------------------------- HF CLIPModel-shaped checkpoint (random) and its forward
Dv, Dt, P, C, IMG, L, V, LAYERS, HEADS, MLP, PROJ = 16, 16, 4, 3, 8, 6, 30, 2, 2, 32, 8
NP = (IMG // P) ** 2
hf = {}


def hf_layer(prefix, D):
    for n in ["q_proj", "k_proj", "v_proj", "out_proj"]:
        hf[f"{prefix}.self_attn.{n}.weight"] = rnd(D, D, scale=1 / math.sqrt(D)); hf[f"{prefix}.self_attn.{n}.bias"] = rnd(D, scale=0.1)
    for n in ["layer_norm1", "layer_norm2"]:
        hf[f"{prefix}.{n}.weight"] = 1 + rnd(D, scale=0.1); hf[f"{prefix}.{n}.bias"] = rnd(D, scale=0.1)
    hf[f"{prefix}.mlp.fc1.weight"] = rnd(MLP, D, scale=1 / math.sqrt(D)); hf[f"{prefix}.mlp.fc1.bias"] = rnd(MLP, scale=0.1)
    hf[f"{prefix}.mlp.fc2.weight"] = rnd(D, MLP, scale=1 / math.sqrt(MLP)); hf[f"{prefix}.mlp.fc2.bias"] = rnd(D, scale=0.1)


hf["text_model.embeddings.token_embedding.weight"] = rnd(V, Dt, scale=1.0)
hf["text_model.embeddings.position_embedding.weight"] = rnd(L, Dt, scale=0.5)
hf["text_model.embeddings.position_ids"] = torch.arange(L, dtype=torch.int64)[None]
for i in range(LAYERS):
    hf_layer(f"text_model.encoder.layers.{i}", Dt)
hf["text_model.final_layer_norm.weight"] = 1 + rnd(Dt, scale=0.1); hf["text_model.final_layer_norm.bias"] = rnd(Dt, scale=0.1)
hf["vision_model.embeddings.class_embedding"] = rnd(Dv, scale=1.0)
hf["vision_model.embeddings.patch_embedding.weight"] = rnd(Dv, C, P, P, scale=0.2)
hf["vision_model.embeddings.position_embedding.weight"] = rnd(NP + 1, Dv, scale=0.5)
hf["vision_model.embeddings.position_ids"] = torch.arange(NP + 1, dtype=torch.int64)[None]
hf["vision_model.pre_layrnorm.weight"] = 1 + rnd(Dv, scale=0.1); hf["vision_model.pre_layrnorm.bias"] = rnd(Dv, scale=0.1)
for i in range(LAYERS):
    hf_layer(f"vision_model.encoder.layers.{i}", Dv)
hf["vision_model.post_layernorm.weight"] = 1 + rnd(Dv, scale=0.1); hf["vision_model.post_layernorm.bias"] = rnd(Dv, scale=0.1)
hf["visual_projection.weight"] = rnd(PROJ, Dv, scale=0.25)
hf["text_projection.weight"] = rnd(PROJ, Dt, scale=0.25)
hf["logit_scale"] = torch.tensor(math.log(1 / 0.07), dtype=torch.float32)


def hf_encoder(h, prefix, D, mask4=None):
    # transformers CLIPEncoderLayer / CLIPAttention (eager), quick_gelu
    for i in range(LAYERS):
        L_ = f"{prefix}.encoder.layers.{i}"
        r = h
        h = F.layer_norm(h, (D,), hf[L_ + ".layer_norm1.weight"], hf[L_ + ".layer_norm1.bias"], 1e-5)
        B, N, _ = h.shape
        hd = D // HEADS
        lin = lambda t, n: F.linear(t, hf[f"{L_}.self_attn.{n}.weight"], hf[f"{L_}.self_attn.{n}.bias"])
        q = lin(h, "q_proj") * hd ** -0.5
        k = lin(h, "k_proj"); v = lin(h, "v_proj")
        sh = lambda t: t.view(B, N, HEADS, hd).transpose(1, 2)
        w = sh(q) @ sh(k).transpose(2, 3)
        if mask4 is not None:
            w = w + mask4
        o = (torch.softmax(w, -1) @ sh(v)).transpose(1, 2).reshape(B, N, D)
        h = r + lin(o, "out_proj")
        r = h
        h = F.layer_norm(h, (D,), hf[L_ + ".layer_norm2.weight"], hf[L_ + ".layer_norm2.bias"], 1e-5)
        h = F.linear(h, hf[L_ + ".mlp.fc1.weight"], hf[L_ + ".mlp.fc1.bias"])
        h = h * torch.sigmoid(1.702 * h)
        h = r + F.linear(h, hf[L_ + ".mlp.fc2.weight"], hf[L_ + ".mlp.fc2.bias"])
    return h


pixels = rnd(2, C, IMG, IMG, scale=1.0)
pe = F.conv2d(pixels, hf["vision_model.embeddings.patch_embedding.weight"], stride=P).flatten(2).transpose(1, 2)
h = torch.cat([hf["vision_model.embeddings.class_embedding"].expand(2, 1, Dv), pe], 1) + hf["vision_model.embeddings.position_embedding.weight"]
h = F.layer_norm(h, (Dv,), hf["vision_model.pre_layrnorm.weight"], hf["vision_model.pre_layrnorm.bias"], 1e-5)
h = hf_encoder(h, "vision_model", Dv)
pooled = F.layer_norm(h[:, 0], (Dv,), hf["vision_model.post_layernorm.weight"], hf["vision_model.post_layernorm.bias"], 1e-5)
image_embeds = pooled @ hf["visual_projection.weight"].T

ids = torch.tensor([[1, 8, 9, 29, 0, 0], [1, 4, 4, 5, 6, 29]], dtype=torch.int64)
amask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.int64)
h = hf["text_model.embeddings.token_embedding.weight"][ids] + hf["text_model.embeddings.position_embedding.weight"]
causal = torch.full((L, L), torch.finfo(torch.float32).min).triu(1)[None, None]
pad = (1.0 - amask[:, None, None, :].float()) * torch.finfo(torch.float32).min
h = hf_encoder(h, "text_model", Dt, causal + pad)
h = F.layer_norm(h, (Dt,), hf["text_model.final_layer_norm.weight"], hf["text_model.final_layer_norm.bias"], 1e-5)
eot = ids.argmax(-1)
text_embeds = h[torch.arange(2), eot] @ hf["text_projection.weight"].T

gh = IMG // P
hwc = pixels.reshape(2, C, gh, P, gh, P).permute(0, 2, 4, 3, 5, 1).reshape(2, NP, P * P * C)
chw = pixels.reshape(2, C, gh, P, gh, P).permute(0, 2, 4, 1, 3, 5).reshape(2, NP, C * P * P)
write_safetensors(os.path.join(OUT, "hf-clip-tiny.safetensors"), {k: v.contiguous() for k, v in hf.items()}, {"format": "pt"})
write_safetensors(os.path.join(OUT, "hf-clip-io.safetensors"), {
    "pixel_values": pixels, "patches_hwc": hwc.contiguous(), "patches_chw": chw.contiguous(), "input_ids": ids.int(), "attention_mask": amask.int(),
    "eot_index": eot.int(), "image_embeds": image_embeds.detach(), "text_embeds": text_embeds.detach()})
print("ok", {f: os.path.getsize(os.path.join(OUT, f)) for f in ["reference.safetensors", "hf-clip-tiny.safetensors", "hf-clip-io.safetensors"]})
