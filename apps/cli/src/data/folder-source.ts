import { type Dirent, realpathSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { DataSource, RawRecord } from './records.js';

/** Extensions of the files a class folder's samples are (torchvision's image extensions and the audio / video ones). */
const MODALITY_OF_EXTENSION: Readonly<Record<string, string>> = Object.fromEntries([
  ...['jpg', 'jpeg', 'png', 'webp', 'bmp', 'gif', 'tif', 'tiff', 'ppm', 'pgm'].map((e) => [e, 'image']),
  ...['wav', 'flac', 'mp3', 'ogg', 'm4a', 'opus'].map((e) => [e, 'audio']),
  ...['mp4', 'mov', 'webm', 'mkv', 'avi', 'm4v'].map((e) => [e, 'video']),
]);

/** Sorts as Python's `sorted` on str does (by code point), so the order is torchvision's. */
const byCodePoint = (a: string, b: string): number => {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
};

const isDir = async (entry: Dirent, path: string): Promise<boolean> => {
  if (entry.isDirectory()) return true;
  if (!entry.isSymbolicLink()) return false;
  return readdir(path).then(() => true, () => false);
};

/**
 * A class-per-folder tree, as torchvision's `ImageFolder` reads one (ImageNet's `val/`, open_clip's
 * `--imagenet-val`): `ROOT/CLASS/…/FILE`. The classes are the sub-folders of ROOT in sorted order;
 * each class's files are walked recursively (links followed, each real folder once) in torchvision's
 * order — folders sorted by path, files sorted by name. A file's modality comes from its extension
 * (`.jpg` / `.png` / `.webp` … image, `.wav` / `.flac` … audio, `.mp4` / `.webm` … video); other files
 * and files directly in ROOT are passed over. Each record: key `CLASS/…/FILE`, label `CLASS`.
 */
export async function folderSource(root: string): Promise<DataSource & { readonly classes: readonly string[] }> {
  const entries = await readdir(root, { withFileTypes: true });
  const classes: string[] = [];
  for (const e of entries) if (!e.name.startsWith('.') && (await isDir(e, join(root, e.name)))) classes.push(e.name);
  classes.sort(byCodePoint);
  return {
    kind: 'folder',
    description: `class folders ${root} (${classes.length} classes)`,
    modalities: [],
    classes,
    async *records(): AsyncGenerator<RawRecord> {
      for (const cls of classes) {
        // every folder under the class (torchvision: sorted(os.walk(...)), i.e. by path)
        const folders: string[] = [];
        const seen = new Set<string>();
        const walk = async (rel: string) => {
          const real = realpathSync(join(root, rel));
          if (seen.has(real)) return;
          seen.add(real);
          folders.push(rel);
          for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
            if (await isDir(e, join(root, rel, e.name))) await walk(`${rel}/${e.name}`);
          }
        };
        await walk(cls);
        folders.sort(byCodePoint);
        for (const rel of folders) {
          const files: { name: string; modality: string }[] = [];
          for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
            const modality = MODALITY_OF_EXTENSION[extname(e.name).slice(1).toLowerCase()];
            if (modality && !(await isDir(e, join(root, rel, e.name)))) files.push({ name: e.name, modality });
          }
          files.sort((a, b) => byCodePoint(a.name, b.name));
          for (const f of files) {
            const key = `${rel}/${f.name}`;
            yield { key, where: key, label: cls, fields: { [f.modality]: { kind: 'path', path: join(root, rel, f.name) } } };
          }
        }
      }
    },
  };
}
