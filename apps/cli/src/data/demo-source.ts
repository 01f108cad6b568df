import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type DataSource, hash32, type RawRecord, TrainDataError } from './records.js';

/**
 * The built-in demo data: the 64×64 Google Noto emoji PNGs of the npm package `emoji-datasource-google`
 * (images Apache-2.0, Google Noto Emoji; data MIT, © Cal Henderson), installed with the CLI. Each PNG
 * (1,911 base emoji + 1,875 skin-tone variants = 3,786) is paired with a caption built from its
 * category and name, e.g. "smileys & emotion: grinning face with smiling eyes", labelled with its
 * category. The 5 `Component` swatches are left out.
 *
 * Split: an emoji is held out when the hash of its base code point sequence falls in the first 10 %,
 * so skin-tone variants of a held-out emoji are held out with it. Evaluation uses the held-out base
 * emoji (one image each), so zero-shot accuracy is not dominated by skin-tone repeats.
 */
export const DEMO_HELD_OUT_FRACTION = 0.1;
export const DEMO_TEMPLATES = ['{}', '{}: an emoji', 'an emoji of {}'] as const;

interface EmojiRow {
  name: string | null;
  unified: string;
  image: string;
  short_name: string;
  category: string;
  subcategory: string;
  has_img_google: boolean;
  skin_variations?: Record<string, { unified: string; image: string; has_img_google: boolean }>;
}

const TONES: Record<string, string> = { '1F3FB': 'light', '1F3FC': 'medium-light', '1F3FD': 'medium', '1F3FE': 'medium-dark', '1F3FF': 'dark' };

export function emojiPackageDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('emoji-datasource-google/package.json'));
  } catch (error) {
    throw new TrainDataError('the demo data set (npm package emoji-datasource-google) is not installed; reinstall @omnitok/cli or pass --data', {}, { cause: error });
  }
}

function emojiName(row: EmojiRow): string {
  return (row.name ?? row.short_name.replaceAll('_', ' ')).toLowerCase();
}

/** All demo samples, in emoji.json order (metadata only: paths and captions). */
export async function demoRecords(): Promise<{ records: RawRecord[]; classNames: string[] }> {
  const dir = emojiPackageDir();
  const rows = JSON.parse(await readFile(join(dir, 'emoji.json'), 'utf8')) as EmojiRow[];
  const img = join(dir, 'img', 'google', '64');
  const records: RawRecord[] = [];
  const classes = new Set<string>();
  for (const row of rows) {
    if (!row.has_img_google || row.category === 'Component') continue;
    const category = row.category.toLowerCase();
    classes.add(category);
    const name = emojiName(row);
    const heldOut = hash32(row.unified) / 4294967296 < DEMO_HELD_OUT_FRACTION;
    const make = (unified: string, image: string, caption: string, variant: boolean): RawRecord => ({
      key: unified,
      where: `emoji ${unified} (${image})`,
      fields: { image: { kind: 'path', path: join(img, image) }, text: { kind: 'text', text: caption } },
      label: category,
      heldOut,
      ...(variant ? { variant: true } : {}),
    });
    records.push(make(row.unified, row.image, `${category}: ${name}`, false));
    for (const [tones, v] of Object.entries(row.skin_variations ?? {})) {
      if (!v.has_img_google) continue;
      const toneWords = [...new Set(tones.split('-').map((t) => TONES[t] ?? t))].join(' and ');
      records.push(make(v.unified, v.image, `${category}: ${name}, ${toneWords} skin tone`, true));
    }
  }
  return { records, classNames: [...classes].sort() };
}

/**
 * The demo as a data source. Held-out records that are skin-tone variants are dropped altogether
 * (neither trained on nor evaluated), see above.
 */
export async function demoSource(): Promise<DataSource> {
  const { records, classNames } = await demoRecords();
  const kept = records.filter((r) => !(r.heldOut && (r as { variant?: boolean }).variant));
  return {
    kind: 'demo',
    description: `demo: ${kept.length} Google Noto emoji (64×64 PNG, Apache-2.0) with captions from their names and categories (npm emoji-datasource-google)`,
    modalities: ['image', 'text'],
    zeroShot: { classNames, templates: [...DEMO_TEMPLATES] },
    async *records() {
      yield* kept;
    },
  };
}
