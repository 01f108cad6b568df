import { InvalidArgumentError } from '@omnitok/core';

/** `ModelProto.SentencePiece.Type` (sentencepiece_model.proto). */
export const PIECE_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** `NormalizerSpec`: how raw text becomes the string the model segments. */
export interface NormalizerSpec {
  /** The precompiled character map (absent for the `identity` rule). */
  readonly charsmap?: Uint8Array;
  readonly addDummyPrefix: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly escapeWhitespaces: boolean;
}

/** What the tokenizer needs of a `.model` file (a serialized `ModelProto`). */
export interface SentencePieceModel {
  readonly pieces: readonly { readonly piece: string; readonly score: number; readonly type: number }[];
  readonly normalizer: NormalizerSpec;
  /** `TrainerSpec.model_type`: unigram (1) or BPE (2). */
  readonly modelType: 'unigram' | 'bpe';
  /** Characters outside the vocabulary become their UTF-8 bytes (`<0x41>` pieces) instead of `<unk>`. */
  readonly byteFallback: boolean;
  /** The pieces `unk_id()`, `bos_id()`, `eos_id()` and `pad_id()` look up (TrainerSpec `*_piece`). */
  readonly specialPieces: { readonly unk: string; readonly bos: string; readonly eos: string; readonly pad: string };
  /** How an unknown id decodes (TrainerSpec `unk_surface`, default " ⁇ "). */
  readonly unkSurface: string;
}

/** A cursor over one protobuf message (the wire types a `.model` file uses). */
class ProtoReader {
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  }

  /** The value after a key of wire type `wire`: a number (varint, fixed32 as float) or bytes; undefined for fixed64, skipped. */
  value(wire: number): number | Uint8Array | undefined {
    if (wire === 0) return this.varint();
    if (wire === 2) {
      const len = this.varint();
      if (this.pos + len > this.buf.length) throw new Error('truncated field');
      this.pos += len;
      return this.buf.subarray(this.pos - len, this.pos);
    }
    if (wire === 5) {
      if (this.pos + 4 > this.buf.length) throw new Error('truncated fixed32');
      this.pos += 4;
      return new DataView(this.buf.buffer, this.buf.byteOffset + this.pos - 4, 4).getFloat32(0, true);
    }
    if (wire === 1) {
      this.pos += 8;
      return undefined;
    }
    throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

/** (field, wire type, value) triples of one message. */
function* fields(buf: Uint8Array): Generator<[number, number, number | Uint8Array]> {
  const r = new ProtoReader(buf);
  while (!r.done) {
    const key = r.varint();
    const value = r.value(key & 7);
    if (value !== undefined) yield [Math.floor(key / 8), key & 7, value];
  }
}

const utf8 = new TextDecoder('utf-8');

/**
 * One `SentencePiece` message (piece = 1, score = 2, type = 3), read without a generator: a model has
 * up to 256 000 of them, and a generator per piece makes loading one markedly slower.
 */
function parsePiece(buf: Uint8Array): { piece: string; score: number; type: number } {
  let piece = '';
  let score = 0;
  let type: number = PIECE_TYPE.NORMAL;
  const r = new ProtoReader(buf);
  while (!r.done) {
    const key = r.varint();
    const value = r.value(key & 7);
    const field = Math.floor(key / 8);
    if (field === 1 && value instanceof Uint8Array) piece = utf8.decode(value);
    else if (field === 2 && (key & 7) === 5) score = value as number;
    else if (field === 3 && (key & 7) === 0) type = value as number;
  }
  return { piece, score, type };
}

const MODEL_TYPES: Record<number, string> = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' };

/**
 * Parses a SentencePiece `.model` file. Unigram and BPE models are accepted (with byte fallback,
 * user-defined and unused pieces); word / char models, suffix whitespace and a byte-fallback model
 * missing some of its 256 byte pieces throw `InvalidArgumentError` naming what is unsupported.
 */
export function parseSentencePieceModel(bytes: Uint8Array): SentencePieceModel {
  const pieces: { piece: string; score: number; type: number }[] = [];
  const normalizer = { addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true } as { -readonly [K in keyof NormalizerSpec]: NormalizerSpec[K] };
  const specialPieces = { unk: '<unk>', bos: '<s>', eos: '</s>', pad: '<pad>' };
  let unkSurface = ' \u2047 ';
  let modelType = 1;
  let byteFallback = false;
  let suffixWhitespace = false;
  try {
    for (const [field, wire, value] of fields(bytes)) {
      if (field === 1 && wire === 2) pieces.push(parsePiece(value as Uint8Array));
      else if (field === 2 && wire === 2) {
        for (const [f, w, v] of fields(value as Uint8Array)) {
          if (w === 0) {
            if (f === 3) modelType = v as number;
            else if (f === 24) suffixWhitespace = v !== 0;
            else if (f === 35) byteFallback = v !== 0;
          } else if (w === 2) {
            const s = utf8.decode(v as Uint8Array);
            if (f === 44) unkSurface = s;
            else if (f === 45) specialPieces.unk = s;
            else if (f === 46) specialPieces.bos = s;
            else if (f === 47) specialPieces.eos = s;
            else if (f === 48) specialPieces.pad = s;
          }
        }
      } else if (field === 3 && wire === 2) {
        for (const [f, w, v] of fields(value as Uint8Array)) {
          if (f === 2 && w === 2) normalizer.charsmap = v as Uint8Array;
          else if (f === 3 && w === 0) normalizer.addDummyPrefix = v !== 0;
          else if (f === 4 && w === 0) normalizer.removeExtraWhitespaces = v !== 0;
          else if (f === 5 && w === 0) normalizer.escapeWhitespaces = v !== 0;
        }
      }
    }
  } catch (error) {
    throw new InvalidArgumentError('model', `bytes that are not a SentencePiece model (${(error as Error).message})`, 'a sentencepiece .model file');
  }
  if (pieces.length === 0) throw new InvalidArgumentError('model', 'a file with no pieces', 'a sentencepiece .model file');
  if (modelType !== 1 && modelType !== 2) {
    throw new InvalidArgumentError('model', `a ${MODEL_TYPES[modelType] ?? `type ${modelType}`} model`, 'a unigram or BPE model (model_type 1 or 2)');
  }
  if (suffixWhitespace) throw new InvalidArgumentError('model', 'treat_whitespace_as_suffix', 'a model with whitespace as prefix (the default)');
  if (modelType === 1 && pieces.some((p) => p.type === PIECE_TYPE.USER_DEFINED)) {
    throw new InvalidArgumentError('model', 'a unigram model with user-defined symbols', 'a unigram model without them, or a BPE model (not supported yet)');
  }
  const bytePieces = pieces.filter((p) => p.type === PIECE_TYPE.BYTE).length;
  if (!byteFallback && bytePieces > 0) throw new InvalidArgumentError('model', `${bytePieces} byte pieces without byte_fallback`, 'byte pieces only in a byte-fallback model');
  if (byteFallback && bytePieces !== 256) throw new InvalidArgumentError('model', `byte fallback with ${bytePieces} byte pieces`, 'all 256 <0xXX> pieces');
  return { pieces, normalizer, modelType: modelType === 1 ? 'unigram' : 'bpe', byteFallback, specialPieces, unkSurface };
}
