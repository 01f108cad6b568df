#!/usr/bin/env bash
# The standard GPU measurement of issue 12 in one device call (~5 min on an H100/H200):
#   here:    npm run build && bash ../shared/tools/gpu-bundle.sh bench/train-gpu.mjs bench/gemm-gpu.mjs bench/gpu-check.mjs
#   device:  command "bash bench/gpu-run.sh", carry [".gpu"], timeout_s 590 (the timeouts below sum to 585 s; a run takes ~6 min)
# Writes to $OUT, each line as it is measured (a timeout keeps what was done), then prints the summary:
#   check.txt           the kernels' correctness on this GPU against the cpu backend (bench/gpu-check.mjs: every GEMM tile,
#                       every attention program, LayerNorm/GELU, linear, guarded AdamW) — CI checks them on lavapipe only
#   gemm.txt            TFLOP/s of every GEMM of a step per tile variant (pick the forward's tile from it), and of the f16 matrix GEMM
#   s.txt               ViT-S: PyTorch, after, before, per-kernel tables
#   s-bias-separate.txt the weight and bias gradients as GEMM + column sums (the way before the ones-row GEMM)
#   s-attn-tiled.txt    the tiled forward and the tiled backward (dQ; dK|dV: 3 dispatches, no N×N buffer),
#                       profiled: the per-program table shows each attention program's GPU time
#   s-f16.txt           f16 GEMMs on the matrix unit (OMNITOK_WEBGPU_MATMUL=f16: Dawn's subgroup matrices, tensor
#                       cores) with a dynamic loss scale, against PyTorch fp16 autocast + GradScaler; its "GEMMs:" line
#                       says whether the self-check passed (which spelling of the builtins compiled) or why not
#   b16-f16.txt         ViT-B/16 at batch 128 with f16 GEMMs against PyTorch fp16 and bf16 autocast (only when s-f16's self-check passed)
#   b16.txt             ViT-B/16 at the issue's batch 256 (since the lean backward ≈ 51 GiB of tfjs' pool, extrapolated on
#                       lavapipe), else at 256 with gradient checkpointing on both sides (≈ 14 GiB); PyTorch fp32 and bf16
set -u
O=${OUT:-/tmp/omnitok-gpu-out}; mkdir -p "$O"
G="bash .gpu/enter.sh node"
timeout 45 $G .gpu/gpu-check.cjs --out "$O/check.txt" > "$O/check.log" 2>&1; echo "rc $?" >> "$O/check.log"
OMNITOK_WEBGPU_MATMUL=f16 timeout 55 $G .gpu/gemm-gpu.cjs --variants "tfjs,128 vec4,128x64 vec4,64x128 vec4,64 vec4,auto vec4,f16 matrix" --out "$O/gemm.txt" > /dev/null 2>&1
timeout 105 $G .gpu/train-gpu.cjs --out "$O/s.txt" > "$O/s.log" 2>&1; echo "rc $?" >> "$O/s.log"
OMNITOK_WEBGPU_BIAS_GRAD=separate timeout 30 $G .gpu/train-gpu.cjs --only after --no-torch --no-profile --out "$O/s-bias-separate.txt" > /dev/null 2>&1
OMNITOK_WEBGPU_ATTN_FWD=tiled OMNITOK_WEBGPU_ATTN_BWD=tiled timeout 45 $G .gpu/train-gpu.cjs --only after --no-torch --out "$O/s-attn-tiled.txt" > /dev/null 2>&1
OMNITOK_WEBGPU_MATMUL=f16 timeout 60 $G .gpu/train-gpu.cjs --only after --no-profile --torch-fp16 --torch-steps 20 --out "$O/s-f16.txt" > "$O/s-f16.log" 2>&1
if grep -q '^GEMMs: f16' "$O/s-f16.txt" 2>/dev/null; then
  OMNITOK_WEBGPU_MATMUL=f16 timeout 55 $G .gpu/train-gpu.cjs --shape b16 --batch 128 --only after --no-profile --steps 3 --repeats 2 --torch-fp16 --torch-bf16 --torch-steps 10 --out "$O/b16-f16.txt" > "$O/b16-f16.log" 2>&1
fi
# ViT-B/16 at the issue's batch 256 (before the lean backward it needed > 80 GB: tfjs held 48 GiB at batch
# 128 on the H100); where it does not fit, at 256 with every block recomputed in the backward (both sides)
MIB=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -1 | tr -dc 0-9)
echo "b16 batch 256 (GPU memory ${MIB:-?} MiB)" > "$O/b16.log"
timeout 120 $G .gpu/train-gpu.cjs --shape b16 --batch 256 --only after --steps 3 --repeats 2 --torch-bf16 --torch-steps 20 --out "$O/b16.txt" >> "$O/b16.log" 2>&1
if ! grep -q '^samples/s:' "$O/b16.txt" 2>/dev/null; then
  mv "$O/b16.txt" "$O/b16-256-failed.txt" 2>/dev/null
  echo "b16 batch 256 failed; batch 256 with --grad-checkpointing" >> "$O/b16.log"
  timeout 70 $G .gpu/train-gpu.cjs --shape b16 --batch 256 --grad-checkpointing --only after --no-profile --steps 2 --repeats 2 --torch-bf16 --torch-steps 10 --out "$O/b16.txt" >> "$O/b16.log" 2>&1
fi
cat "$O/check.txt" 2>/dev/null; tail -1 "$O/check.log"
cat "$O/gemm.txt" 2>/dev/null
grep -hE "^shape|^GEMMs|^AdamW|PyTorch|samples/s:|loss scale|host:|step wall|per step|after /|after \(f16|failed|\| webgpu" "$O/s.txt" "$O/s-bias-separate.txt" "$O/s-attn-tiled.txt" "$O/s-f16.txt" "$O/b16-f16.txt" "$O/b16.txt" 2>/dev/null
tail -3 "$O/s-f16.log"
grep -hE "Attention" "$O/s.txt" "$O/s-attn-tiled.txt" 2>/dev/null | grep " › " 
tail -2 "$O/s.log"; cat "$O/b16.log" | grep "^b16"
# one line per configuration: its median samples/s (the lines above carry the rest)
for f in s s-bias-separate s-attn-tiled s-f16 b16-f16 b16; do
  printf '%-18s %s\n' "$f" "$(grep -h '^samples/s:' "$O/$f.txt" 2>/dev/null | sed -E 's/.*median ([0-9.]+).*/\1/' | tr '\n' ' ')"
done
