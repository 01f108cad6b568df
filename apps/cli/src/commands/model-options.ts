import { type Command, Option } from 'commander';
import { intArg } from './train.js';

/*
 * The options of the commands that run a trained or pretrained model over inputs (embed, classify,
 * eval): declared once so that their names, parsing and help stay the same in the three.
 */

/** `--checkpoint`: the model to run. */
export const CHECKPOINT_OPTION = () =>
  new Option('--checkpoint <dir>', 'a run directory (its newest checkpoint), a step-* directory, a CLIP / SigLIP / open_clip model folder, or a Hugging Face model id (org/name, hf:org/name@revision)').makeOptionMandatory();

/** `--max-patches`: a SigLIP 2 NaFlex model's patch budget per image. */
export const MAX_PATCHES_OPTION = () =>
  new Option('--max-patches <n>', "SigLIP 2 NaFlex models: patches per image (default the processor's max_num_patches, e.g. 256; more is more resolution)").argParser(intArg('--max-patches'));

/** How the inputs (or samples) stream: per embedding batch, decoded at the same time, manifest paths allowed out. */
export function addStreamOptions(command: Command, items: 'inputs' | 'samples'): Command {
  return command
    .option('--batch-size <n>', `${items} tokenized, then embedded, at a time`, intArg('--batch-size'), 64)
    .option('--concurrency <n>', `${items} decoded at the same time`, intArg('--concurrency'), 8)
    .option('--allow-outside-root', 'let manifest paths leave the manifest folder');
}
