import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CLASS_NAME_SETS, PROMPT_TEMPLATE_SETS } from '@omnitok/clip';
import { InvalidArgumentError } from '@omnitok/core';

/** The non-empty lines of a text file (`#` comments skipped); an unreadable or empty file is a usage error naming `flag`. */
export async function readLines(path: string, flag: string, cwd: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, path), 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(flag, path, 'a readable text file, one entry per line', { cause: error });
  }
  const out = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (out.length === 0) throw new InvalidArgumentError(flag, path, 'a file with at least one non-empty line');
  return out;
}

/**
 * Class names: a file of one per line when `value` names a file, a named set (`imagenet`: open_clip's
 * 1 000 ImageNet names; a file of that name wins), else `value` split on commas.
 */
export async function readClasses(value: string, flag: string, cwd: string): Promise<string[]> {
  if (await stat(resolve(cwd, value)).then((s) => s.isFile(), () => false)) return readLines(value, flag, cwd);
  if (CLASS_NAME_SETS[value]) return [...CLASS_NAME_SETS[value]];
  const out = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (out.length === 0) throw new InvalidArgumentError(flag, value, `a file, a set (${Object.keys(CLASS_NAME_SETS).join(', ')}), or names separated by ","`);
  return out;
}

/**
 * Prompt templates: a file of one per line, a named set (`openai`: CLIP's 80 ImageNet prompts, `simple`:
 * its 7; a file of that name wins), or one template given as text; each must hold `{}` (the class).
 */
export async function readTemplates(value: string, flag: string, cwd: string): Promise<string[]> {
  const isFile = await stat(resolve(cwd, value)).then((s) => s.isFile(), () => false);
  if (!isFile && PROMPT_TEMPLATE_SETS[value]) return [...PROMPT_TEMPLATE_SETS[value]];
  const templates = isFile ? await readLines(value, flag, cwd) : [value];
  const bad = templates.find((t) => !t.includes('{}'));
  if (bad !== undefined) throw new InvalidArgumentError(flag, bad, `templates with {} where the class name goes${isFile ? ` (in ${value})` : `, a file of them, or a set: ${Object.keys(PROMPT_TEMPLATE_SETS).join(', ')}`}`);
  return templates;
}
