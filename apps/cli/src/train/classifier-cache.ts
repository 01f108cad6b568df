import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { buildZeroShotClassifier, type ClipModel, type Embeddings } from '@omnitok/clip';
import { resolve } from 'node:path';
import { decodeSafetensors, InvalidArgumentError } from '@omnitok/core';
import type { TF } from '@omnitok/core/runtime';
import { openEmbeddingsWriter } from '../embeddings-writer.js';
import { textEncoder } from './evaluate.js';
import type { ModalitySetup } from './prepare.js';

/** The prompt whose embedding tells whether a stored classifier came from this text tower. */
const PROBE = 'a photo of a cat.';
const FORMAT = 'omnitok-zero-shot-classifier/1';

const digest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/**
 * The zero-shot classifier of `classNames` × `templates` (open_clip's `build_zero_shot_classifier`),
 * optionally kept in `file` (`.safetensors`): a file made for the same classes and templates by a text
 * tower that embeds a probe prompt the same way (within 1e-4) is read instead of encoding every prompt
 * again — ImageNet's 1 000 classes × 80 templates are 80 000 prompts — and otherwise the classifier is
 * built and written there. `log` gets progress lines while a large one is built (every 10 s).
 */
export async function zeroShotClassifierFor(
  tf: TF,
  model: ClipModel,
  text: ModalitySetup,
  classNames: readonly string[],
  templates: readonly string[],
  options: { readonly file?: string; readonly log?: (line: string) => void } = {},
): Promise<Embeddings> {
  const encode = textEncoder(tf, model, text);
  const meta = { format: FORMAT, classes: digest(classNames), templates: digest(templates) };
  const probe = options.file ? (await encode([PROBE])).data : undefined;
  if (options.file && existsSync(options.file)) {
    const stored = readStored(options.file);
    const same = stored && stored.meta.classes === meta.classes && stored.meta.templates === meta.templates && stored.meta.format === FORMAT;
    if (same && stored.probe.length === probe!.length && stored.probe.every((x, i) => Math.abs(x - probe![i]!) < 1e-4) && stored.classifier.shape[0] === classNames.length) {
      return stored.classifier;
    }
    options.log?.(`omnitok: ${options.file} was made for other classes, templates or another model: building the classifier again\n`);
  }
  const total = classNames.length * templates.length;
  let last = Date.now();
  const classifier = await buildZeroShotClassifier({
    classNames,
    templates,
    encode,
    onProgress: (done) => {
      if (Date.now() - last < 10_000 || done === total) return;
      last = Date.now();
      options.log?.(`omnitok: zero-shot classifier: ${done} of ${total} prompts encoded\n`);
    },
  });
  if (options.file) {
    // classifier rows, then the probe's embedding as the last row
    const D = classifier.shape[1]!;
    const writer = await openEmbeddingsWriter(options.file, 'classifier', D);
    try {
      await writer.append(classifier.data);
      await writer.append(probe!);
      await writer.finish({ ...meta, probe: PROBE, classNames: JSON.stringify(classNames) });
    } catch (error) {
      await writer.abort();
      throw error;
    }
  }
  return classifier;
}

function readStored(file: string): { meta: Record<string, string>; classifier: Embeddings; probe: Float32Array } | undefined {
  try {
    const st = decodeSafetensors(readFileSync(file));
    const t = st.tensors.classifier;
    if (!t || !(t.data instanceof Float32Array) || t.shape.length !== 2 || t.shape[0]! < 2) return undefined;
    const [rows, D] = t.shape as [number, number];
    return { meta: st.metadata, classifier: { data: t.data.subarray(0, (rows - 1) * D), shape: [rows - 1, D] }, probe: t.data.subarray((rows - 1) * D) };
  } catch {
    return undefined;
  }
}

/** `--classifier FILE`: a `.safetensors` path resolved against `cwd`, or undefined when not given. */
export function classifierFile(value: unknown, cwd: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value.endsWith('.safetensors')) throw new InvalidArgumentError('--classifier', value, 'a FILE.safetensors (it keeps its classes, templates and a probe embedding as metadata)');
  return resolve(cwd, value);
}
