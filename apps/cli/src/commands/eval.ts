import { InvalidArgumentError, type ModalityRegistry } from '@omnitok/core';
import type { BackendChoice } from '@omnitok/core/runtime';
import { type Command, Option } from 'commander';
import { openSource, textModalities } from '../data/open-source.js';
import { isHeldOut, TrainDataError } from '../data/records.js';
import type { CliIO } from '../io.js';
import { embedRecords } from '../train/embed-stream.js';
import { classifierFile, zeroShotClassifierFor } from '../train/classifier-cache.js';
import { evaluateEmbedded } from '../train/evaluate.js';
import { loadRun } from '../train/load-run.js';
import { pct } from '../train/progress.js';
import { parsePair } from '../train/run-train.js';
import { readClasses, readTemplates } from './lists.js';
import { addStreamOptions, CHECKPOINT_OPTION, MAX_PATCHES_OPTION } from './model-options.js';
import { BACKEND_OPTION, intArg } from './train.js';

/** `omnitok eval`: retrieval R@1/5/10 both ways, or zero-shot top-1/top-5, of a trained run. */
export function evalCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  const command = program
    .command('eval')
    .description('evaluate a trained run: retrieval R@1/5/10 both ways, or zero-shot top-1/top-5')
    .addOption(CHECKPOINT_OPTION())
    .option('--data <source>', "demo, FILE.jsonl, FILE.csv or shards (default: the run's own data, held-out split)")
    .addOption(new Option('--task <task>', 'what to measure').choices(['retrieval', 'zero-shot']).default('retrieval'))
    .option('--pair <A:B>', 'the pair for retrieval (default: every pair of the model)')
    .option('--classes <names>', 'zero-shot class names: a file (one per line), "imagenet" (open_clip\'s 1 000 names) or "a,b,c" (default: the run\'s, else the labels in the data; with class folders, names in the folders\' sorted order)')
    .option('--classifier <file>', 'zero-shot: FILE.safetensors keeping the class embeddings (read when made for the same classes, templates and text tower, else built and written)')
    .option('--templates <file>', 'zero-shot prompt templates with {} for the class, one per line; a set (openai: CLIP\'s 80 ImageNet prompts; simple: 7); or one template as text')
    .addOption(new Option('--split <split>', 'which samples: held-out (default for the run\'s own data) or all').choices(['held-out', 'all']))
    .option('--limit <n>', 'samples evaluated at most', intArg('--limit'), 5000);
  addStreamOptions(command, 'samples')
    .addOption(MAX_PATCHES_OPTION())
    .addOption(BACKEND_OPTION())
    .option('--json', 'print one JSON object')
    .action(async (o: Record<string, unknown>) => {
      const reg = await registry();
      const run = await loadRun(o.checkpoint as string, io.cwd, reg, o.backend as BackendChoice, { log: io.stderr, maxPatches: o.maxPatches as number | undefined });
      const { config, model, backend } = run;
      const dataSpec = (o.data as string | undefined) ?? config.data;
      if (dataSpec === undefined) throw new InvalidArgumentError('--data', undefined, `a data source (demo, FILE.jsonl, FILE.csv or shards): ${run.path} is a pretrained model with no data of its own`);
      const own = o.data === undefined || dataSpec === config.data || (dataSpec === 'demo' && config.data === 'demo');
      const split = (o.split as string | undefined) ?? (own ? 'held-out' : 'all');
      const source = await openSource(dataSpec, { cwd: io.cwd, textModalities: textModalities(reg), allowOutsideRoot: Boolean(o.allowOutsideRoot) });
      let pairs = config.pairs;
      if (o.pair) {
        const p = parsePair(o.pair as string);
        const found = model.pairs.find((q) => (q.a === p[0] && q.b === p[1]) || (q.a === p[1] && q.b === p[0]));
        if (!found) throw new InvalidArgumentError('--pair', o.pair, `a pair of the model (${config.pairs.map((q) => q.join(':')).join(', ')})`);
        pairs = [[found.a, found.b]];
      }
      const task = o.task as 'retrieval' | 'zero-shot';
      const textSetup = [...run.setups.values()].find((s) => s.plugin.acceptsText);
      const zsPair = textSetup && pairs.find((p) => p.includes(textSetup.modality));
      if (task === 'zero-shot' && (!textSetup || !zsPair)) throw new InvalidArgumentError('--task', task, 'retrieval: zero-shot needs a pair with a text modality');
      const needed = task === 'retrieval' ? [...new Set(pairs.flat())] : [zsPair![0] === textSetup!.modality ? zsPair![1] : zsPair![0]];
      // the class names and prompts are read before any sample is embedded: a bad --classes fails fast
      const givenClasses = task === 'zero-shot' && o.classes ? await readClasses(o.classes as string, '--classes', io.cwd) : undefined;
      const templates = task === 'zero-shot' && o.templates ? await readTemplates(o.templates as string, '--templates', io.cwd) : (config.zeroShot?.templates ?? ['{}', 'a {}']);
      if (task === 'zero-shot' && !givenClasses && source.classes?.length && source.classes.every((c) => /^n\d{8}$/.test(c))) {
        io.stderr(`omnitok: the class folders are WordNet ids (${source.classes[0]}, …): prompts will name them as they are; for ImageNet pass --classes imagenet\n`);
      }
      if (givenClasses && source.classes && !source.classes.every((c) => givenClasses.includes(c)) && givenClasses.length !== source.classes.length) {
        throw new InvalidArgumentError('--classes', o.classes, `the names of the ${source.classes.length} class folders, or ${source.classes.length} class names in the folders' sorted order (got ${givenClasses.length})`);
      }
      // streamed: tokens of one batch at a time, the embeddings of all (a 50 000-image set fits)
      let shown = 0;
      const set = await embedRecords(backend.tf, model, needed.map((m) => run.setups.get(m)!), source.records(), {
        skipBad: true,
        batchSize: o.batchSize as number,
        concurrency: o.concurrency as number,
        limit: o.limit as number,
        accept: split === 'held-out' ? (r) => isHeldOut(r, config.train?.evalFraction ?? 0) : undefined,
        onSkip: (input, reason) => {
          if (++shown <= 5) io.stderr(`omnitok: skipped ${input}: ${reason}\n`);
        },
      });
      const skipped = set.skipped.length;
      if (set.limited) {
        const why = source.kind === 'folder' ? ': class folders are read class by class, so these are the first classes only' : '';
        io.stderr(`omnitok: evaluated the first ${set.n} samples (--limit ${o.limit}); the data has more${why} — raise --limit to evaluate all\n`);
      }
      if (set.n < 2) throw new TrainDataError(`${source.description} (${split} split) gave ${set.n} usable sample(s); evaluation needs at least 2`);
      const { tf } = backend;
      let zeroShot;
      let labelled: typeof set = set;
      if (task === 'zero-shot') {
        const labels = [...new Set(set.labels.filter((l): l is string => l !== undefined))].sort();
        const classNames = givenClasses ?? config.zeroShot?.classNames ?? labels;
        if (classNames.length === 0) throw new TrainDataError(`no class names: the samples have no label; pass --classes`);
        // class folders named otherwise (ImageNet's synsets) take the given names by their sorted index, as torchvision numbers them
        const folders = source.classes;
        if (givenClasses && folders && !folders.every((c) => givenClasses.includes(c))) {
          const index = new Map(folders.map((c, i) => [c, i]));
          labelled = { ...set, classIndices: set.labels.map((l) => (l === undefined ? undefined : index.get(l))) };
        }
        // no sample with a class: nothing to classify (the error below says so), so no prompt is encoded
        const names = new Set(classNames);
        const anyLabelled = labelled.classIndices ? labelled.classIndices.some((i) => i !== undefined) : labelled.labels.some((l) => l !== undefined && names.has(l));
        const classifier = anyLabelled ? await zeroShotClassifierFor(tf, model, textSetup!, classNames, templates, { file: classifierFile(o.classifier, io.cwd), log: io.stderr }) : undefined;
        zeroShot = { classNames, templates, text: textSetup!, modality: needed[0]!, classifier };
      }
      // Retrieval only over the requested pairs: evaluate() walks model.pairs, so filter after.
      const result = await evaluateEmbedded(tf, model, labelled, zeroShot, { retrieval: task === 'retrieval' });
      const retrieval = task === 'retrieval' ? result.retrieval.filter((r) => pairs.some(([a, b]) => r.pair === `${a}__${b}`)) : [];
      const out = { checkpoint: run.path, step: run.step, data: source.description, split, samples: set.n, limited: set.limited, skipped, backend: backend.name, task, ...(task === 'retrieval' ? { retrieval } : { zeroShot: result.zeroShot }) };
      if (o.json) {
        io.stdout(`${JSON.stringify(out)}\n`);
        return;
      }
      io.stdout(`omnitok eval: ${run.path} (step ${run.step}) on ${source.description}, ${split} split: ${set.n} samples${skipped ? `, ${skipped} skipped` : ''} (${backend.name})\n`);
      for (const r of retrieval) {
        const [a, b] = r.pair.split('__');
        io.stdout(`  ${a}→${b}  R@1 ${pct(r.aToB.r1)}  R@5 ${pct(r.aToB.r5)}  R@10 ${pct(r.aToB.r10)}\n`);
        const chance = r.chanceR1 === r.chanceR1BToA ? pct(r.chanceR1) : `${pct(r.chanceR1)} / ${pct(r.chanceR1BToA)}`;
        io.stdout(`  ${b}→${a}  R@1 ${pct(r.bToA.r1)}  R@5 ${pct(r.bToA.r5)}  R@10 ${pct(r.bToA.r10)}   (chance R@1 ${chance})\n`);
        if (r.unique.a !== r.n || r.unique.b !== r.n) io.stdout(`  ${r.n} pairs over ${r.unique.a} distinct ${a} and ${r.unique.b} distinct ${b}: a hit is any match within k\n`);
      }
      const z = result.zeroShot;
      if (task === 'zero-shot') {
        if (!z) throw new TrainDataError('no sample has a label among the class names; zero-shot accuracy needs labelled samples');
        io.stdout(`  zero-shot ${z.modality}: top-1 ${pct(z.top1)}  top-5 ${pct(z.top5)} over ${z.classes} classes, ${z.n} labelled samples (chance ${pct(z.chanceTop1)} / ${pct(z.chanceTop5)}, majority class ${pct(z.majority)})\n`);
      }
      model.dispose();
    });
}
