/** Analysis windows. `hann-periodic` is torch.hann_window(N) (Whisper); `hann` is the symmetric
 * torch.hann_window(N, periodic=False) that Kaldi's `hanning` uses (AST, ImageBind). */
export type WindowKind = 'hann' | 'hann-periodic' | 'hamming' | 'povey' | 'rectangular';

export const WINDOW_KINDS: readonly WindowKind[] = ['hann', 'hann-periodic', 'hamming', 'povey', 'rectangular'];

export function makeWindow(kind: WindowKind, length: number): Float64Array {
  const w = new Float64Array(length);
  const sym = length > 1 ? length - 1 : 1;
  for (let j = 0; j < length; j++) {
    switch (kind) {
      case 'hann-periodic':
        w[j] = 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / length);
        break;
      case 'hann':
        w[j] = 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / sym);
        break;
      case 'hamming':
        w[j] = 0.54 - 0.46 * Math.cos((2 * Math.PI * j) / sym);
        break;
      case 'povey':
        w[j] = Math.pow(0.5 - 0.5 * Math.cos((2 * Math.PI * j) / sym), 0.85);
        break;
      case 'rectangular':
        w[j] = 1;
        break;
    }
  }
  return w;
}
