import { InvalidArgumentError } from '../errors/index.js';
import { type DenseArray, decodeSafetensors, type SafetensorsFile } from '../io/index.js';
import type { TransformerEncoder } from './encoder.js';
import { WeightImportError } from './errors.js';
import { clearBufferPool } from './kernels/native-backend.js';

/*
 * Hugging Face `CLIPModel` state-dict names → TransformerEncoder names (per tower; {T} is
 * `vision_model` or `text_model`, {i} a layer):
 *
 *   {T}.embeddings.class_embedding                 [D]            → cls_token               (vision)
 *   {T}.embeddings.patch_embedding.weight          [D, C, P, P]   → embed.proj.weight [C·P·P, D] (vision, see patchLayout)
 *   {T}.embeddings.token_embedding.weight          [V, D]         → embed.weight            (text)
 *   {T}.embeddings.position_embedding.weight       [N(+1), D]     → pos_embed
 *   vision_model.pre_layrnorm.{weight,bias}                       → ln_pre.*
 *   {T}.encoder.layers.{i}.layer_norm1.*                          → blocks.{i}.ln1.*
 *   {T}.encoder.layers.{i}.self_attn.{q,k,v}_proj.weight [D, D]   → blocks.{i}.attn.qkv.weight [D, 3D] (transposed, concatenated q|k|v)
 *   {T}.encoder.layers.{i}.self_attn.{q,k,v}_proj.bias   [D]      → blocks.{i}.attn.qkv.bias [3D]
 *   {T}.encoder.layers.{i}.self_attn.out_proj.*                   → blocks.{i}.attn.proj.*  (weight transposed)
 *   {T}.encoder.layers.{i}.layer_norm2.*                          → blocks.{i}.ln2.*
 *   {T}.encoder.layers.{i}.mlp.fc{1,2}.*                          → blocks.{i}.mlp.fc{1,2}.* (weights transposed)
 *   vision_model.post_layernorm.* / text_model.final_layer_norm.* → ln_final.*
 *   visual_projection.weight / text_projection.weight [P, D]      → proj.weight [D, P] (transposed)
 *   logit_scale                                                   → report.logitScale
 *   *.position_ids (buffers)                                      → ignored
 *
 * The towers must be configured like CLIP: vision {clsToken, pooling 'cls', preNorm, embedBias false,
 * gelu 'quick', posEmb 'learned'}, text {pooling 'eot', causal, gelu 'quick', posEmb 'learned'}.
 *
 * `SiglipModel` (family 'siglip') differs in the stems and heads; the blocks are named as above:
 *
 *   vision_model.embeddings.patch_embedding.{weight,bias}          → embed.proj.{weight,bias}
 *   vision_model.embeddings.position_embedding.weight [N, D]       → pos_embed (no CLS token)
 *   vision_model.post_layernorm.*                                  → ln_final.*
 *   vision_model.head.probe [1, 1, D]                              → head.probe
 *   vision_model.head.attention.in_proj_{weight [3D, D], bias}     → head.attn.qkv.* (weight transposed)
 *   vision_model.head.attention.out_proj.*, .head.mlp.fc{1,2}.*    → head.attn.proj.*, head.mlp.fc{1,2}.* (weights transposed)
 *   vision_model.head.layernorm.*                                  → head.ln.*
 *   text_model.head.{weight [P, D], bias}                          → proj.{weight [D, P], bias}
 *   logit_scale, logit_bias                                        → report.logitScale, report.logitBias
 *
 * Its towers: vision {pooling 'map', no CLS, embedBias, no projection}, text {pooling 'last', not causal,
 * projectionBias, padMask false}, both gelu 'tanh'.
 */

/*
 * open_clip's `CLIP` / `CustomTextCLIP` state dict (family 'open_clip'; text names at the top level, or
 * under `text.` for CustomTextCLIP):
 *
 *   visual.class_embedding, visual.positional_embedding, visual.ln_pre.*, visual.ln_post.*  → cls_token, pos_embed, ln_pre.*, ln_final.*
 *   visual.conv1.weight [D, C, P, P]                                   → embed.proj.weight (conv → linear)
 *   visual.proj [D, E], text_projection [D, E]                         → proj.weight (as is: x @ proj); text_projection.{weight [E, D], bias} with proj_bias
 *   token_embedding.weight, positional_embedding, ln_final.*          → embed.weight, pos_embed, ln_final.*
 *   {visual.}transformer.resblocks.{i}.ln_1 / ln_2                     → blocks.{i}.ln1 / ln2
 *   … .attn.in_proj_weight [3D, D] / in_proj_bias, attn.out_proj.*     → blocks.{i}.attn.qkv.* (weight transposed), attn.proj.*
 *   … .mlp.c_fc.*, mlp.c_proj.*, ls_1.gamma, ls_2.gamma                → blocks.{i}.mlp.fc1.*, mlp.fc2.*, ls1.gamma, ls2.gamma
 *   logit_scale (logit_bias)                                           → report
 */

/**
 * Which model's names: Hugging Face `CLIPModel`, `SiglipModel` or `Siglip2Model` (SigLIP 2 NaFlex: a
 * linear patch embedding over (row, column, channel) patches and a position table per grid), or
 * open_clip's `CLIP`.
 */
export type HfFamily = 'clip' | 'siglip' | 'siglip2' | 'open_clip';

export type PatchLayout = 'hwc' | 'chw';

export interface HfClipImportOptions {
  /**
   * Feature order inside a continuous patch token: `chw` (channel-major, the conv kernel's own order
   * and what @omnitok/tokenizer-image emits — the default) or `hwc` (row, column, channel — einops
   * `(p1 p2 c)`).
   */
  readonly patchLayout?: PatchLayout;
  /** Missing or unexpected tensors are an error (default true); shape mismatches always are. */
  readonly strict?: boolean;
  /** Names the source in messages. */
  readonly source?: string;
  /** `clip` (default: CLIPModel names), `siglip` (SiglipModel names) or `open_clip` (open_clip's CLIP names). */
  readonly family?: HfFamily;
}

export interface HfClipImportReport {
  /** Our parameter names that were assigned, per tower. */
  readonly loaded: { vision: string[]; text: string[] };
  /** Our parameters with no source tensor (`vision:pos_embed`). */
  readonly missing: string[];
  /** Source tensors that map to nothing (HF names). */
  readonly unexpected: string[];
  /** Source tensors skipped on purpose (buffers like position_ids). */
  readonly ignored: string[];
  /** exp(logit_scale) is CLIP's softmax temperature; undefined when absent. */
  readonly logitScale: number | undefined;
  /** SigLIP's logit bias; undefined when absent. */
  readonly logitBias: number | undefined;
}

type Rule =
  | { kind: 'copy'; hf: string }
  | { kind: 'linearT'; hf: string }
  | { kind: 'qkvWeight' | 'qkvBias'; hf: [string, string, string] }
  | { kind: 'conv'; hf: string }
  // nn.Linear over 3-channel patches flattened (row, column, channel): Siglip2's patch embedding
  | { kind: 'patchLinear'; hf: string };

/** Loads an HF CLIPModel (or SiglipModel) safetensors checkpoint into one or both towers; checks every shape first. */
export function importHfClip(
  source: Uint8Array | SafetensorsFile,
  towers: { readonly vision?: TransformerEncoder; readonly text?: TransformerEncoder },
  options: HfClipImportOptions = {},
): HfClipImportReport {
  const file = source instanceof Uint8Array ? decodeSafetensors(source) : source;
  const family = options.family ?? 'clip';
  if (family !== 'clip' && family !== 'siglip' && family !== 'siglip2' && family !== 'open_clip') throw new InvalidArgumentError('options.family', family, '"clip", "siglip", "siglip2" or "open_clip"');
  const label = options.source ?? `the ${{ clip: 'HF CLIP', siglip: 'HF SigLIP', siglip2: 'HF SigLIP 2', open_clip: 'open_clip' }[family]} checkpoint`;
  const layout = options.patchLayout ?? 'chw';
  if (layout !== 'hwc' && layout !== 'chw') throw new InvalidArgumentError('options.patchLayout', layout, '"hwc" or "chw"');
  const used = new Set<string>();
  const missing: string[] = [];
  const mismatched: string[] = [];
  // every shape is checked before anything is converted or assigned; then each tensor is converted and
  // assigned in turn, so a checkpoint is never held twice over in converted copies
  const planned: { tower: TransformerEncoder; key: 'vision' | 'text'; ours: string; rule: Rule; arrays: DenseArray[]; shape: readonly number[] }[] = [];

  for (const key of ['vision', 'text'] as const) {
    const tower = towers[key];
    if (!tower) continue;
    const rules = family === 'open_clip' ? openClipRules(key, file) : rulesFor(key, family);
    for (const [ours, variable] of tower.parameters()) {
      const rule = rules(ours);
      const hfNames = rule ? (Array.isArray(rule.hf) ? rule.hf : [rule.hf]) : [];
      const arrays = hfNames.map((n) => file.tensors[n]);
      if (!rule || arrays.some((a) => !a)) {
        missing.push(`${key}:${ours}${rule ? ` (${hfNames.filter((_, i) => !arrays[i]).join(', ')})` : ''}`);
        continue;
      }
      hfNames.forEach((n) => used.add(n));
      const error = shapeError(rule, arrays as DenseArray[], variable.shape);
      if (error) mismatched.push(`${key}:${ours} from ${hfNames.join(' + ')}: ${error}`);
      else planned.push({ tower, key, ours, rule, arrays: arrays as DenseArray[], shape: variable.shape });
    }
  }

  const ignored = Object.keys(file.tensors).filter((n) => n.endsWith('position_ids') || (family === 'open_clip' && n.endsWith('attn_mask')));
  const wanted = Object.keys(file.tensors).filter((n) => !used.has(n) && !ignored.includes(n) && n !== 'logit_scale' && !(family !== 'clip' && n === 'logit_bias'));
  // Tensors of a tower that was not asked for are not "unexpected".
  const visionName = family === 'open_clip' ? /^visual\./ : /^(vision_model\.|visual_projection\.)/;
  const textName = family === 'open_clip' ? /^(?!visual\.)/ : /^(text_model\.|text_projection\.)/;
  const unexpected = wanted.filter((n) => !((!towers.vision && visionName.test(n)) || (!towers.text && textName.test(n))));
  if (mismatched.length > 0 || (options.strict !== false && (missing.length > 0 || unexpected.length > 0))) {
    throw new WeightImportError(label, { missing, unexpected, mismatched });
  }
  const loaded = { vision: [] as string[], text: [] as string[] };
  for (const { tower, key, ours, rule, arrays, shape } of planned) {
    loaded[key].push(...tower.loadStateDict({ [ours]: convert(rule, arrays, shape, layout) }, { strict: false, source: label }).loaded);
    clearBufferPool(); // the parameter's initial weights, just freed: not worth a place in the native pool
  }
  const scalar = (name: string) => (file.tensors[name] ? Number(file.tensors[name].data[0]) : undefined);
  return { loaded, missing, unexpected, ignored, logitScale: scalar('logit_scale'), logitBias: family !== 'clip' ? scalar('logit_bias') : undefined };
}

function rulesFor(key: 'vision' | 'text', family: HfFamily): (ours: string) => Rule | undefined {
  const T = key === 'vision' ? 'vision_model' : 'text_model';
  const fixed: Record<string, Rule> = family === 'siglip' || family === 'siglip2' ? siglipStems(key, family === 'siglip2') : {
    cls_token: { kind: 'copy', hf: `${T}.embeddings.class_embedding` },
    'embed.proj.weight': { kind: 'conv', hf: `${T}.embeddings.patch_embedding.weight` },
    'embed.proj.bias': { kind: 'copy', hf: `${T}.embeddings.patch_embedding.bias` },
    'embed.weight': { kind: 'copy', hf: `${T}.embeddings.token_embedding.weight` },
    pos_embed: { kind: 'copy', hf: `${T}.embeddings.position_embedding.weight` },
    'ln_pre.weight': { kind: 'copy', hf: `${T}.pre_layrnorm.weight` },
    'ln_pre.bias': { kind: 'copy', hf: `${T}.pre_layrnorm.bias` },
    'ln_final.weight': { kind: 'copy', hf: key === 'vision' ? 'vision_model.post_layernorm.weight' : 'text_model.final_layer_norm.weight' },
    'ln_final.bias': { kind: 'copy', hf: key === 'vision' ? 'vision_model.post_layernorm.bias' : 'text_model.final_layer_norm.bias' },
    'proj.weight': { kind: 'linearT', hf: key === 'vision' ? 'visual_projection.weight' : 'text_projection.weight' },
  };
  return (ours) => {
    if (fixed[ours]) return fixed[ours];
    const m = /^blocks\.(\d+)\.(.+)$/.exec(ours);
    if (!m) return undefined;
    const L = `${T}.encoder.layers.${m[1]}`;
    const qkv = (suffix: string): [string, string, string] => [`${L}.self_attn.q_proj.${suffix}`, `${L}.self_attn.k_proj.${suffix}`, `${L}.self_attn.v_proj.${suffix}`];
    switch (m[2]) {
      case 'ln1.weight': return { kind: 'copy', hf: `${L}.layer_norm1.weight` };
      case 'ln1.bias': return { kind: 'copy', hf: `${L}.layer_norm1.bias` };
      case 'ln2.weight': return { kind: 'copy', hf: `${L}.layer_norm2.weight` };
      case 'ln2.bias': return { kind: 'copy', hf: `${L}.layer_norm2.bias` };
      case 'attn.qkv.weight': return { kind: 'qkvWeight', hf: qkv('weight') };
      case 'attn.qkv.bias': return { kind: 'qkvBias', hf: qkv('bias') };
      case 'attn.proj.weight': return { kind: 'linearT', hf: `${L}.self_attn.out_proj.weight` };
      case 'attn.proj.bias': return { kind: 'copy', hf: `${L}.self_attn.out_proj.bias` };
      case 'mlp.fc1.weight': return { kind: 'linearT', hf: `${L}.mlp.fc1.weight` };
      case 'mlp.fc1.bias': return { kind: 'copy', hf: `${L}.mlp.fc1.bias` };
      case 'mlp.fc2.weight': return { kind: 'linearT', hf: `${L}.mlp.fc2.weight` };
      case 'mlp.fc2.bias': return { kind: 'copy', hf: `${L}.mlp.fc2.bias` };
      default: return undefined;
    }
  };
}

function openClipRules(key: 'vision' | 'text', file: SafetensorsFile): (ours: string) => Rule | undefined {
  const P = key === 'vision' ? 'visual.' : file.tensors['text.token_embedding.weight'] ? 'text.' : '';
  const both = (ours: string, theirs: string): Record<string, Rule> => ({ [`${ours}.weight`]: { kind: 'copy', hf: `${P}${theirs}.weight` }, [`${ours}.bias`]: { kind: 'copy', hf: `${P}${theirs}.bias` } });
  // text_projection is a parameter [D, E] (x @ proj), or an nn.Linear with proj_bias
  const textProj: Record<string, Rule> = file.tensors[`${P}text_projection.weight`]
    ? { 'proj.weight': { kind: 'linearT', hf: `${P}text_projection.weight` }, 'proj.bias': { kind: 'copy', hf: `${P}text_projection.bias` } }
    : { 'proj.weight': { kind: 'copy', hf: `${P}text_projection` } };
  const fixed: Record<string, Rule> =
    key === 'vision'
      ? {
          cls_token: { kind: 'copy', hf: 'visual.class_embedding' },
          'embed.proj.weight': { kind: 'conv', hf: 'visual.conv1.weight' },
          pos_embed: { kind: 'copy', hf: 'visual.positional_embedding' },
          ...both('ln_pre', 'ln_pre'),
          ...both('ln_final', 'ln_post'),
          'proj.weight': { kind: 'copy', hf: 'visual.proj' },
        }
      : { 'embed.weight': { kind: 'copy', hf: `${P}token_embedding.weight` }, pos_embed: { kind: 'copy', hf: `${P}positional_embedding` }, ...both('ln_final', 'ln_final'), ...textProj };
  const BLOCK: Record<string, ['copy' | 'linearT', string]> = {
    'ln1.weight': ['copy', 'ln_1.weight'], 'ln1.bias': ['copy', 'ln_1.bias'], 'ln2.weight': ['copy', 'ln_2.weight'], 'ln2.bias': ['copy', 'ln_2.bias'],
    'attn.qkv.weight': ['linearT', 'attn.in_proj_weight'], 'attn.qkv.bias': ['copy', 'attn.in_proj_bias'],
    'attn.proj.weight': ['linearT', 'attn.out_proj.weight'], 'attn.proj.bias': ['copy', 'attn.out_proj.bias'],
    'mlp.fc1.weight': ['linearT', 'mlp.c_fc.weight'], 'mlp.fc1.bias': ['copy', 'mlp.c_fc.bias'],
    'mlp.fc2.weight': ['linearT', 'mlp.c_proj.weight'], 'mlp.fc2.bias': ['copy', 'mlp.c_proj.bias'],
    'ls1.gamma': ['copy', 'ls_1.gamma'], 'ls2.gamma': ['copy', 'ls_2.gamma'],
  };
  return (ours) => {
    if (fixed[ours]) return fixed[ours];
    const m = /^blocks\.(\d+)\.(.+)$/.exec(ours);
    const rule = m ? BLOCK[m[2]!] : undefined;
    return rule ? { kind: rule[0], hf: `${P}transformer.resblocks.${m![1]}.${rule[1]}` } : undefined;
  };
}

function siglipStems(key: 'vision' | 'text', linearPatches = false): Record<string, Rule> {
  if (key === 'text') {
    return {
      'embed.weight': { kind: 'copy', hf: 'text_model.embeddings.token_embedding.weight' },
      pos_embed: { kind: 'copy', hf: 'text_model.embeddings.position_embedding.weight' },
      'ln_final.weight': { kind: 'copy', hf: 'text_model.final_layer_norm.weight' },
      'ln_final.bias': { kind: 'copy', hf: 'text_model.final_layer_norm.bias' },
      'proj.weight': { kind: 'linearT', hf: 'text_model.head.weight' },
      'proj.bias': { kind: 'copy', hf: 'text_model.head.bias' },
    };
  }
  const V = 'vision_model';
  const H = `${V}.head`;
  return {
    'embed.proj.weight': { kind: linearPatches ? 'patchLinear' : 'conv', hf: `${V}.embeddings.patch_embedding.weight` },
    'embed.proj.bias': { kind: 'copy', hf: `${V}.embeddings.patch_embedding.bias` },
    pos_embed: { kind: 'copy', hf: `${V}.embeddings.position_embedding.weight` },
    'ln_final.weight': { kind: 'copy', hf: `${V}.post_layernorm.weight` },
    'ln_final.bias': { kind: 'copy', hf: `${V}.post_layernorm.bias` },
    'head.probe': { kind: 'copy', hf: `${H}.probe` },
    'head.attn.qkv.weight': { kind: 'linearT', hf: `${H}.attention.in_proj_weight` },
    'head.attn.qkv.bias': { kind: 'copy', hf: `${H}.attention.in_proj_bias` },
    'head.attn.proj.weight': { kind: 'linearT', hf: `${H}.attention.out_proj.weight` },
    'head.attn.proj.bias': { kind: 'copy', hf: `${H}.attention.out_proj.bias` },
    'head.ln.weight': { kind: 'copy', hf: `${H}.layernorm.weight` },
    'head.ln.bias': { kind: 'copy', hf: `${H}.layernorm.bias` },
    'head.mlp.fc1.weight': { kind: 'linearT', hf: `${H}.mlp.fc1.weight` },
    'head.mlp.fc1.bias': { kind: 'copy', hf: `${H}.mlp.fc1.bias` },
    'head.mlp.fc2.weight': { kind: 'linearT', hf: `${H}.mlp.fc2.weight` },
    'head.mlp.fc2.bias': { kind: 'copy', hf: `${H}.mlp.fc2.bias` },
  };
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
const eq = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function floats(a: DenseArray): Float32Array {
  return a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as ArrayLike<number>, Number);
}

/** [rows, cols] → [cols, rows]. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** What is wrong with the source arrays' shapes for a parameter of shape `ours`, or undefined. */
function shapeError(rule: Rule, arrays: DenseArray[], ours: readonly number[]): string | undefined {
  switch (rule.kind) {
    case 'copy':
      return eq(arrays[0]!.shape, ours) ? undefined : `expected ${fmt(ours)} got ${fmt(arrays[0]!.shape)}`;
    case 'linearT': {
      const want = [ours[1]!, ours[0]!];
      return eq(arrays[0]!.shape, want) ? undefined : `expected ${fmt(want)} ([out, in]) got ${fmt(arrays[0]!.shape)}`;
    }
    case 'qkvWeight':
    case 'qkvBias': {
      const want = rule.kind === 'qkvWeight' ? [ours[1]! / 3, ours[0]!] : [ours[0]! / 3];
      const bad = arrays.find((a) => !eq(a.shape, want));
      return bad ? `expected q/k/v${rule.kind === 'qkvBias' ? ' bias' : ''} ${fmt(want)} got ${fmt(bad.shape)}` : undefined;
    }
    case 'patchLinear': {
      const a = arrays[0]!;
      const [F, D] = ours as [number, number];
      const P = Math.round(Math.sqrt(F / 3));
      const ok = a.shape.length === 2 && a.shape[0] === D && a.shape[1] === F && 3 * P * P === F;
      return ok ? undefined : `expected a linear patch embedding [${D}, P·P·3] with P·P·3 = ${F} got ${fmt(a.shape)}`;
    }
    case 'conv': {
      const a = arrays[0]!;
      const [F, D] = ours as [number, number];
      const ok = a.shape.length === 4 && a.shape[0] === D && a.shape[2] === a.shape[3] && a.shape[1]! * a.shape[2]! * a.shape[3]! === F;
      return ok ? undefined : `expected a conv kernel [${D}, C, P, P] with C·P·P = ${F} got ${fmt(a.shape)}`;
    }
  }
}

/** The source arrays (shapes checked by `shapeError`) in our layout, as a fresh array. */
function convert(rule: Rule, arrays: DenseArray[], ours: readonly number[], layout: PatchLayout): DenseArray {
  switch (rule.kind) {
    case 'copy': {
      const f = floats(arrays[0]!);
      // a view into the checkpoint's bytes is copied: the parameter must not keep the whole file alive
      return { data: f.byteLength === f.buffer.byteLength ? f : f.slice(), shape: ours };
    }
    case 'linearT':
      return { data: transpose2d(floats(arrays[0]!), ours[1]!, ours[0]!), shape: ours };
    case 'qkvWeight': {
      const [D, threeD] = ours as [number, number];
      // concat([Wq; Wk; Wv]) is [3D, D] in torch layout; our [D, 3D] is its transpose
      const stacked = new Float32Array(threeD * D);
      arrays.forEach((a, i) => stacked.set(floats(a), i * (threeD / 3) * D));
      return { data: transpose2d(stacked, threeD, D), shape: ours };
    }
    case 'qkvBias': {
      const out = new Float32Array(ours[0]!);
      arrays.forEach((a, i) => out.set(floats(a), (i * ours[0]!) / 3));
      return { data: out, shape: ours };
    }
    case 'patchLinear': {
      const [F, D] = ours as [number, number];
      const C = 3;
      const P = Math.round(Math.sqrt(F / C));
      const src = floats(arrays[0]!); // [D, F] with features (y, x, c)
      const out = new Float32Array(F * D);
      for (let d = 0; d < D; d++) {
        for (let y = 0; y < P; y++) {
          for (let x = 0; x < P; x++) {
            for (let c = 0; c < C; c++) {
              const f = layout === 'hwc' ? (y * P + x) * C + c : (c * P + y) * P + x;
              out[f * D + d] = src[d * F + (y * P + x) * C + c]!;
            }
          }
        }
      }
      return { data: out, shape: ours };
    }
    case 'conv': {
      const a = arrays[0]!;
      const [F, D] = ours as [number, number];
      const [, C, P] = a.shape as [number, number, number, number];
      const src = floats(a);
      const out = new Float32Array(F * D);
      for (let d = 0; d < D; d++) {
        for (let c = 0; c < C; c++) {
          for (let y = 0; y < P; y++) {
            for (let x = 0; x < P; x++) {
              const f = layout === 'hwc' ? (y * P + x) * C + c : (c * P + y) * P + x;
              out[f * D + d] = src[((d * C + c) * P + y) * P + x]!;
            }
          }
        }
      }
      return { data: out, shape: ours };
    }
  }
}
