import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PROMPT_TEMPLATE_SETS } from '@omnitok/clip';
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

/** A file of one entry per line when `value` names a file, else `value` split on `separator`. */
export async function readList(value: string, flag: string, cwd: string, separator = ','): Promise<string[]> {
  if (await stat(resolve(cwd, value)).then((s) => s.isFile(), () => false)) return readLines(value, flag, cwd);
  const out = value.split(separator).map((s) => s.trim()).filter((s) => s !== '');
  if (out.length === 0) throw new InvalidArgumentError(flag, value, `a file, or entries separated by "${separator}"`);
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
