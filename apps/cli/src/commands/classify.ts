import { zeroShotProbabilities } from '@omnitok/clip';
import { InvalidArgumentError, type ModalityRegistry } from '@omnitok/core';
import type { BackendChoice } from '@omnitok/core/runtime';
import type { Command } from 'commander';
import { textModalities } from '../data/open-source.js';
import type { CliIO } from '../io.js';
import { commandRecords, embedRecords } from '../train/embed-stream.js';
import { classifierFile, zeroShotClassifierFor } from '../train/classifier-cache.js';
import { loadRun, PRETRAINED_TEMPLATES } from '../train/load-run.js';
import { pct } from '../train/progress.js';
import { readClasses, readTemplates } from './lists.js';
import { addStreamOptions, CHECKPOINT_OPTION, MAX_PATCHES_OPTION } from './model-options.js';
import { BACKEND_OPTION, intArg } from './train.js';

/**
 * `omnitok classify`: zero-shot classification of inputs against class names — each class's prompts
 * (templates with `{}`) embedded by the text tower and averaged, each input embedded by its tower, and
 * the probabilities the model was trained to give: a softmax over the classes for CLIP, an independent
 * sigmoid per class for SigLIP (as transformers' zero-shot pipelines report them).
 */
export function classifyCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  const command = program
    .command('classify')
    .description('zero-shot classification: the probability of each class name for each input')
    .argument('[inputs...]', 'files of the classified modality (images, audio, …)')
    .addOption(CHECKPOINT_OPTION())
    .requiredOption('--classes <names>', 'class names separated by commas, a file with one per line, or "imagenet" (open_clip\'s 1 000 names)')
    .option('--templates <file>', "prompt templates with {} for the class, one per line (default: the run's, else \"a photo of a {}.\"), a set (openai: CLIP's 80 ImageNet prompts; simple: 7), or one template with {}")
    .option('--modality <m>', 'the classified modality (default: the one paired with text)')
    .option('--top <k>', 'classes shown per input', intArg('--top'), 5)
    .option('--classifier <file>', 'FILE.safetensors keeping the class embeddings: read when made for the same classes, templates and text tower, else built and written')
    .option('--data <source>', "instead of inputs: the modality's field of every record of FILE.jsonl, FILE.csv or shards")
    .option('--skip-bad', 'skip inputs that fail to decode instead of stopping at the first');
  addStreamOptions(command, 'inputs')
    .addOption(MAX_PATCHES_OPTION())
    .addOption(BACKEND_OPTION())
    .option('--json', 'one JSON object per input: { input, classes: [{ name, p }] } best first')
    .action(async (inputs: string[], o: Record<string, unknown>) => {
      const reg = await registry();
      const run = await loadRun(o.checkpoint as string, io.cwd, reg, o.backend as BackendChoice, { log: io.stderr, maxPatches: o.maxPatches as number | undefined });
      const { model, config } = run;
      const text = [...run.setups.values()].find((s) => s.plugin.acceptsText);
      if (!text) throw new InvalidArgumentError('--checkpoint', o.checkpoint, `a model with a text tower (this one has ${config.modalities.join(', ')})`);
      const others = model.pairs.filter((p) => p.a === text.modality || p.b === text.modality).map((p) => (p.a === text.modality ? p.b : p.a));
      const modality = (o.modality as string | undefined) ?? others[0]!;
      const pair = model.pairs.find((p) => (p.a === modality && p.b === text.modality) || (p.b === modality && p.a === text.modality));
      if (!pair) throw new InvalidArgumentError('--modality', modality, `a modality paired with ${text.modality} (${others.join(', ') || 'none'})`);
      const classNames = await readClasses(o.classes as string, '--classes', io.cwd);
      const templates = o.templates === undefined ? (config.zeroShot?.templates ?? PRETRAINED_TEMPLATES) : await readTemplates(o.templates as string, '--templates', io.cwd);
      const setup = run.setups.get(modality)!;
      const records = await commandRecords(inputs, o.data as string | undefined, { cwd: io.cwd, modality, acceptsText: Boolean(setup.plugin.acceptsText), textModalities: textModalities(reg), allowOutsideRoot: Boolean(o.allowOutsideRoot) });
      const classifier = await zeroShotClassifierFor(run.backend.tf, model, text, classNames, templates, { file: classifierFile(o.classifier, io.cwd), log: io.stderr });
      const C = classNames.length;
      const top = Math.min(o.top as number, C);
      const D = model.config.embedDim;
      const logits = { objective: model.objective, logitScale: pair.logitScale.dataSync()[0]!, logitBias: pair.logitBias?.dataSync()[0] };
      // each batch is classified and printed as it is embedded: output streams, memory holds one batch
      await embedRecords(run.backend.tf, model, [setup], records, {
        skipBad: Boolean(o.skipBad),
        batchSize: o.batchSize as number,
        concurrency: o.concurrency as number,
        onSkip: (input, reason) => io.stderr(`omnitok: skipped ${input}: ${reason}\n`),
        onBatch: (keys, rows) => {
          const probs = zeroShotProbabilities({ data: rows.get(modality)!, shape: [keys.length, D] }, classifier, logits);
          keys.forEach((input, i) => {
            const row = probs.data.subarray(i * C, (i + 1) * C);
            const best = [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, top);
            if (o.json) io.stdout(`${JSON.stringify({ input, classes: best.map((c) => ({ name: classNames[c], p: row[c] })) })}\n`);
            else io.stdout(`${input}: ${best.map((c) => `${classNames[c]} ${pct(row[c]!)}`).join(', ')}\n`);
          });
        },
      });
      model.dispose();
    });
}
