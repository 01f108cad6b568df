import type { ModalityRegistry } from '@omnitok/core';
import { InvalidArgumentError } from '@omnitok/core';
import type { BackendChoice, MatmulPrecision } from '@omnitok/core/runtime';
import { type Command, Option } from 'commander';
import { type CliIO, CommandExit, ExitCode } from '../io.js';
import { DEMO_BATCH, DEMO_STEPS, parsePair, runTrain } from '../train/run-train.js';

const demoLength = `${DEMO_STEPS.fast} steps (${DEMO_STEPS.slow} on wasm / cpu)`;

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function intArg(flag: string, min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(flag, value, `an integer ≥ ${min}`);
    return n;
  };
}

export function numArg(flag: string, min = 0, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(flag, value, max === Infinity ? `a finite number ≥ ${min}` : `a number in [${min}, ${max}]`);
    return n;
  };
}

export const BACKEND_OPTION = () =>
  new Option('--backend <name>', 'auto | native | tensorflow | webgpu | wasm | cpu, or another backend of @omnitok/core/runtime (auto passes over software WebGPU)').default('auto');

/**
 * `omnitok train`: contrastive alignment of modality pairs (CLIP / SigLIP, N-way binding when pairs
 * share a modality) on streamed data. With no arguments: the emoji demo, `tiny` model, CPU.
 */
export function trainCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  program
    .command('train')
    .description(`train cross-modal alignment (no arguments: the built-in emoji image-text demo, tiny model, ${demoLength} of ${DEMO_BATCH})`)
    .option('--pair <A:B>', 'modalities to align, repeatable (several sharing one modality: N-way binding)', collect)
    .option('--data <source>', 'demo (default), FILE.jsonl, FILE.csv / FILE.tsv, or WebDataset shards (dir/{00000..00009}.tar)')
    .addOption(new Option('--objective <name>', "contrastive loss (default: clip, or a pretrained model's own)").choices(['clip', 'siglip']))
    .option('--model <name>', 'tiny | small | base | FILE.json | a CLIP / SigLIP / open_clip model folder or Hugging Face model id (org/name) to fine-tune', 'tiny')
    .option('--preset <M=NAME>', 'tokenizer preset per modality (a name or FILE.json), repeatable', collect, [])
    .option('--batch-size <n>', `samples per step (default ${DEMO_BATCH} for the demo, else 32)`, intArg('--batch-size', 2))
    .option('--grad-cache-chunk <m>', 'gradient caching: embed the batch m samples at a time (big batches in little memory)', intArg('--grad-cache-chunk'))
    .option('--max-patches <n>', 'a SigLIP 2 NaFlex --model: patches per image (default its processor\'s max_num_patches)', intArg('--max-patches'))
    .option('--lock <modality>', 'freeze that tower (LiT: --lock image fine-tunes the text tower against a pretrained image tower), repeatable', collect, [])
    .option('--grad-checkpointing', "recompute each transformer block in the backward: ~1/16 of the blocks' activation memory for ~30% more compute, same gradients")
    .option('--steps <n>', `optimizer steps (default: demo ${demoLength}, else one epoch)`, intArg('--steps'))
    .option('--epochs <n>', 'passes over the training split (instead of --steps)', intArg('--epochs'))
    .option('--lr <x>', 'peak learning rate (AdamW, warmup + cosine)', numArg('--lr', 0), 5e-4)
    .option('--warmup <n>', 'linear warmup steps (default 10% of the run, at most 500)', intArg('--warmup', 0))
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', numArg('--weight-decay', 0), 0.1)
    .option('--clip-norm <x>', 'clip the global gradient norm (0: off)', numArg('--clip-norm', 0), 1)
    .addOption(
      new Option('--matmul-precision <p>', 'webgpu GEMMs: f32, or f16 operands with f32 accumulation on the GPU matrix unit (trained with a dynamic loss scale); f16-emulated: the same numerics without the matrix unit')
        .choices(['f32', 'f16', 'f16-emulated'])
        .default('f32'),
    )
    .option('--seed <n>', 'seed of the weights, the data order and augmentation', intArg('--seed', 0), 0)
    .addOption(BACKEND_OPTION())
    .option('--out <dir>', 'run directory: checkpoints, metrics.jsonl, skipped.jsonl, plot.png, report.html (default runs/<demo|train>-<time>)')
    .option('--resume', 'continue the run in --out from its newest good checkpoint (same data order and RNG)')
    .option('--checkpoint-every <n>', 'steps between checkpoints (default: a tenth of the run)', intArg('--checkpoint-every'))
    .option('--keep <k>', 'checkpoints kept (the newest k)', intArg('--keep'), 3)
    .option('--eval-every <n>', 'steps between held-out evaluations (default: a sixth of the run)', intArg('--eval-every'))
    .option('--eval-fraction <x>', 'held-out share of the data, by a hash of each sample id (not for the demo: its split is fixed)', numArg('--eval-fraction', 0, 0.9), 0.05)
    .option('--eval-samples <n>', 'held-out samples evaluated at most', intArg('--eval-samples'), 1000)
    .option('--max-bad-fraction <x>', 'stop (exit 1) when more than this share of samples is bad', numArg('--max-bad-fraction', 0, 1), 0.1)
    .option('--allow-outside-root', 'let manifest paths leave the manifest folder')
    .option('--augment', "train-time augmentation from each preset's augment settings (e.g. random resized crop)")
    .option('--concurrency <n>', 'samples decoded at the same time', intArg('--concurrency'), 8)
    .option('--prefetch <n>', 'batches prepared ahead of the training step', intArg('--prefetch'), 2)
    .option('--shuffle-buffer <n>', 'records held for shuffling (default: 1000; demo: all)', intArg('--shuffle-buffer', 0))
    .option('--json', 'machine-readable: one JSON object per line (start, step, eval, end)')
    .action(async (o: Record<string, unknown>, command: Command) => {
      if (o.steps !== undefined && o.epochs !== undefined) throw new InvalidArgumentError('--epochs', o.epochs, 'either --steps or --epochs, not both');
      const result = await runTrain(io, await registry(), {
        pairs: (o.pair as string[] | undefined)?.map(parsePair),
        data: o.data as string | undefined,
        objective: o.objective as 'clip' | 'siglip' | undefined,
        model: o.model as string,
        batchSize: o.batchSize as number | undefined,
        gradCacheChunk: o.gradCacheChunk as number | undefined,
        gradCheckpointing: Boolean(o.gradCheckpointing),
        lock: o.lock as string[],
        maxPatches: o.maxPatches as number | undefined,
        steps: o.steps as number | undefined,
        epochs: o.epochs as number | undefined,
        lr: o.lr as number,
        warmup: o.warmup as number | undefined,
        weightDecay: o.weightDecay as number,
        clipNorm: o.clipNorm as number,
        matmulPrecision: o.matmulPrecision as MatmulPrecision,
        seed: o.seed as number,
        backend: o.backend as BackendChoice,
        out: o.out as string | undefined,
        resume: Boolean(o.resume),
        json: Boolean(o.json),
        presets: o.preset as string[],
        maxBadFraction: o.maxBadFraction as number,
        allowOutsideRoot: Boolean(o.allowOutsideRoot),
        checkpointEvery: o.checkpointEvery as number | undefined,
        keep: o.keep as number,
        evalEvery: o.evalEvery as number | undefined,
        evalFraction: o.evalFraction as number,
        evalSamples: o.evalSamples as number,
        concurrency: o.concurrency as number,
        prefetch: o.prefetch as number,
        shuffleBuffer: o.shuffleBuffer as number | undefined,
        explicit: new Set(command.options.filter((opt) => command.getOptionValueSource(opt.attributeName()) === 'cli').map((opt) => opt.long ?? opt.flags)),
        augment: Boolean(o.augment),
      });
      // Interrupted (SIGINT) after saving: exit 130 like a shell's Ctrl-C.
      if (result.interrupted) throw new CommandExit(ExitCode.Interrupted);
    });
}
