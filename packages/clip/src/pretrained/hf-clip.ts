import { decodeSafetensors, InvalidArgumentError, type SafetensorsFile } from '@omnitok/core';
import { type HfClipImportReport, importHfClip } from '@omnitok/core/runtime';
import { ClipModel, type ClipModelConfig } from '../model/clip-model.js';
import { EncoderTower } from '../model/tower.js';

/**
 * A Hugging Face `CLIPModel` `config.json` (the fields the architecture reads; everything else is
 * ignored). Absent fields take transformers' `CLIPVisionConfig` / `CLIPTextConfig` defaults — the
 * openai/clip-vit-base-patch32 shapes. The legacy `text_config_dict` / `vision_config_dict` override
 * `text_config` / `vision_config`, as transformers reads them.
 */
export interface HfClipConfig {
  readonly model_type?: string;
  readonly architectures?: readonly string[];
  readonly projection_dim?: number;
  readonly logit_scale_init_value?: number;
  readonly text_config?: HfClipTextConfig;
  readonly vision_config?: HfClipVisionConfig;
  readonly text_config_dict?: HfClipTextConfig;
  readonly vision_config_dict?: HfClipVisionConfig;
}

interface HfEncoderFields {
  readonly hidden_size?: number;
  readonly intermediate_size?: number;
  readonly num_hidden_layers?: number;
  readonly num_attention_heads?: number;
  readonly hidden_act?: string;
  readonly layer_norm_eps?: number;
}

export interface HfClipVisionConfig extends HfEncoderFields {
  readonly image_size?: number;
  readonly patch_size?: number;
  readonly num_channels?: number;
}

export interface HfClipTextConfig extends HfEncoderFields {
  readonly vocab_size?: number;
  readonly max_position_embeddings?: number;
  readonly eos_token_id?: number;
}

/** The resolved shapes of a pretrained CLIP (what the tokenizers must produce for it). */
export interface HfClipShapes {
  readonly imageSize: number;
  readonly patchSize: number;
  readonly channels: number;
  readonly vocabSize: number;
  /** Text positions (77 for every released CLIP). */
  readonly contextLength: number;
  readonly embedDim: number;
}

export interface HfClipOptions {
  /** Tower names in the model (default `image` and `text`: the modality names the CLI pairs). */
  readonly names?: { readonly vision?: string; readonly text?: string };
  /** Seed of the model's RNG (dropout; every weight comes from the checkpoint). */
  readonly seed?: number;
}

const VISION_DEFAULTS = { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, image_size: 224, patch_size: 32, num_channels: 3 };
const TEXT_DEFAULTS = { hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 8, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, vocab_size: 49408, max_position_embeddings: 77 };
// transformers' ACT2FN names → our GELU kinds (the exact erf GELU, its tanh approximation, x·σ(1.702x))
const ACTIVATIONS: Record<string, 'erf' | 'tanh' | 'quick'> = { quick_gelu: 'quick', gelu: 'erf', gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh', gelu_fast: 'tanh' };

function section<T extends object>(config: HfClipConfig, key: 'vision' | 'text', defaults: T): T & Record<string, unknown> {
  const a = config[`${key}_config`];
  const b = config[`${key}_config_dict`];
  for (const [name, v] of [[`${key}_config`, a], [`${key}_config_dict`, b]] as const) {
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new InvalidArgumentError(`config.json ${name}`, v, 'an object');
  }
  return { ...defaults, ...(a ?? {}), ...(b ?? {}) } as T & Record<string, unknown>;
}

function positive(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidArgumentError(`config.json ${field}`, value, 'a positive integer');
  return value;
}

function encoderFields(c: Record<string, unknown>, key: string) {
  const width = positive(c.hidden_size, `${key}.hidden_size`);
  const inter = positive(c.intermediate_size, `${key}.intermediate_size`);
  const gelu = ACTIVATIONS[c.hidden_act as string];
  if (!gelu) throw new InvalidArgumentError(`config.json ${key}.hidden_act`, c.hidden_act, `one of ${Object.keys(ACTIVATIONS).join(', ')}`);
  const lnEps = c.layer_norm_eps;
  if (typeof lnEps !== 'number' || !(lnEps > 0)) throw new InvalidArgumentError(`config.json ${key}.layer_norm_eps`, lnEps, 'a positive number');
  return { size: 'custom' as const, width, depth: positive(c.num_hidden_layers, `${key}.num_hidden_layers`), heads: positive(c.num_attention_heads, `${key}.num_attention_heads`), mlpRatio: inter / width, gelu, lnEps, posEmb: 'learned' as const };
}

/** Checks that a parsed config.json describes a CLIPModel (not a SigLIP, a text-only CLIP, …). */
export function isHfClipConfig(config: unknown): config is HfClipConfig {
  if (typeof config !== 'object' || config === null) return false;
  const c = config as HfClipConfig;
  return c.model_type === 'clip' || (Array.isArray(c.architectures) && c.architectures.includes('CLIPModel'));
}

/** The shapes a CLIPModel config implies (defaults filled in). */
export function hfClipShapes(config: HfClipConfig): HfClipShapes {
  const v = section(config, 'vision', VISION_DEFAULTS);
  const t = section(config, 'text', TEXT_DEFAULTS);
  const imageSize = positive(v.image_size, 'vision_config.image_size');
  const patchSize = positive(v.patch_size, 'vision_config.patch_size');
  if (imageSize % patchSize !== 0) throw new InvalidArgumentError('config.json vision_config.patch_size', patchSize, `a divisor of image_size (${imageSize})`);
  return {
    imageSize,
    patchSize,
    channels: positive(v.num_channels, 'vision_config.num_channels'),
    vocabSize: positive(t.vocab_size, 'text_config.vocab_size'),
    contextLength: positive(t.max_position_embeddings, 'text_config.max_position_embeddings'),
    embedDim: positive(config.projection_dim ?? 512, 'projection_dim'),
  };
}

/**
 * The `ClipModelConfig` of a Hugging Face CLIPModel: a vision tower (CLS token, `ln_pre`, bias-free
 * patch projection, learned positions) over `[(S/P)², C·P·P]` channel-major patch tokens — what
 * @omnitok/tokenizer-image emits — and a causal text tower pooled at the end-of-text token, both
 * projected to `projection_dim`, with CLIP's softmax objective. `logitScale` (the log temperature,
 * usually read from the checkpoint) sets the pair's initial scale.
 */
export function hfClipModelConfig(config: HfClipConfig, options: HfClipOptions & { readonly logitScale?: number } = {}): ClipModelConfig {
  if (!isHfClipConfig(config)) {
    const c = config as HfClipConfig | null;
    throw new InvalidArgumentError('config.json model_type', c?.model_type ?? c?.architectures, '"clip" (a Hugging Face CLIPModel)');
  }
  const shapes = hfClipShapes(config);
  const v = section(config, 'vision', VISION_DEFAULTS);
  const t = section(config, 'text', TEXT_DEFAULTS);
  const vision = options.names?.vision ?? 'image';
  const text = options.names?.text ?? 'text';
  if (vision === text) throw new InvalidArgumentError('names', options.names, 'two different tower names');
  const side = shapes.imageSize / shapes.patchSize;
  const logitScale = options.logitScale ?? config.logit_scale_init_value;
  return {
    towers: {
      [vision]: {
        ...encoderFields(v, 'vision_config'),
        pooling: 'cls',
        preNorm: true,
        embedBias: false,
        tokens: { kind: 'continuous', dim: shapes.channels * shapes.patchSize * shapes.patchSize, count: side * side, grid: [side, side] },
      },
      [text]: {
        ...encoderFields(t, 'text_config'),
        pooling: 'eot',
        causal: true,
        tokens: { kind: 'discrete', vocabSize: shapes.vocabSize, count: shapes.contextLength },
      },
    },
    embedDim: shapes.embedDim,
    pairs: [[vision, text]],
    objective: 'clip',
    ...(logitScale !== undefined ? { logitScaleInit: logitScale } : {}),
    seed: options.seed ?? 0,
  };
}

export interface LoadedHfClip {
  readonly model: ClipModel;
  readonly report: HfClipImportReport;
  readonly shapes: HfClipShapes;
}

function mergeFiles(weights: Uint8Array | SafetensorsFile | readonly SafetensorsFile[]): SafetensorsFile {
  const files = weights instanceof Uint8Array ? [decodeSafetensors(weights)] : Array.isArray(weights) ? (weights as readonly SafetensorsFile[]) : [weights as SafetensorsFile];
  if (files.length === 1) return files[0]!;
  const tensors: SafetensorsFile['tensors'] = {};
  for (const f of files) Object.assign(tensors, f.tensors);
  return { tensors, metadata: files[0]?.metadata ?? {} };
}

/** The checkpoint's `logit_scale` (CLIP's log temperature), or undefined when it has none. */
export function hfClipLogitScale(weights: Uint8Array | SafetensorsFile | readonly SafetensorsFile[]): number | undefined {
  const t = mergeFiles(weights).tensors.logit_scale;
  return t ? Number(t.data[0]) : undefined;
}

/**
 * Assigns a Hugging Face CLIPModel checkpoint to the towers `vision` and `text` of a model built
 * from its config (`hfClipModelConfig`), e.g. before fine-tuning: every tensor mapped, every shape
 * checked first, missing or unexpected tensors a `WeightImportError`, nothing assigned on error.
 * The pair's logit scale is left to the config (`hfClipModelConfig`'s `logitScale`).
 */
export function importHfClipWeights(
  model: ClipModel,
  weights: Uint8Array | SafetensorsFile | readonly SafetensorsFile[],
  options: { readonly vision?: string; readonly text?: string; readonly source?: string } = {},
): HfClipImportReport {
  const encoder = (name: string) => {
    const tower = model.tower(name);
    if (!(tower instanceof EncoderTower)) throw new InvalidArgumentError('tower', name, 'a tower with its own encoder (not a shared trunk)');
    return tower.encoder;
  };
  return importHfClip(mergeFiles(weights), { vision: encoder(options.vision ?? 'image'), text: encoder(options.text ?? 'text') }, { patchLayout: 'chw', source: options.source });
}

/**
 * Builds a `ClipModel` from a Hugging Face CLIPModel `config.json` and its weights (safetensors bytes
 * or decoded files; several for a sharded checkpoint). The pair's logit scale comes from the
 * checkpoint's `logit_scale`. The model is returned in eval mode.
 */
export function loadHfClip(weights: Uint8Array | SafetensorsFile | readonly SafetensorsFile[], config: HfClipConfig, options: HfClipOptions & { readonly source?: string } = {}): LoadedHfClip {
  const file = mergeFiles(weights);
  const scale = hfClipLogitScale(file);
  const modelConfig = hfClipModelConfig(config, { ...options, ...(scale !== undefined ? { logitScale: scale } : {}) });
  const [vision, text] = Object.keys(modelConfig.towers) as [string, string];
  const model = new ClipModel(modelConfig);
  try {
    const report = importHfClipWeights(model, file, { vision, text, source: options.source });
    model.eval();
    return { model, report, shapes: hfClipShapes(config) };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
