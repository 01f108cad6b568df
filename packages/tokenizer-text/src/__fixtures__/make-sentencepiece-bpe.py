"""SentencePiece BPE reference, Gemma-style (Debian: python3-sentencepiece 0.1.97 + python3-protobuf).

  /usr/bin/python3 make-sentencepiece-bpe.py

Trains a small BPE model with the settings of Gemma's tokenizer.model (SigLIP 2's text tokenizer):
byte fallback, split digits, the identity normalizer, no dummy prefix, whitespace kept as is,
whitespace-only pieces, user-defined symbols, <pad>/<eos>/<bos>/<unk> as ids 0..3. Then marks three
merged pieces UNUSED (sentencepiece re-splits them into the pieces they were merged from) and records
SentencePieceProcessor.encode ids / pieces and decode text for strings with upper case, digits, space
runs, tabs and newlines, user-defined and control symbols written in the text, characters outside
the vocabulary (bytes), CJK and emoji. Output: sp-bpe.model, sentencepiece-bpe.json.
"""
import json
import random

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb


def encodable(t):
    try:
        t.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


cases = [c for c in json.load(open("clip-parity.json"))["cases"] if encodable(c["text"]) and "\n" not in c["text"]]
random.seed(1)
subjects = ["Cat", "dog", "red car", "small boat", "mountain lake", "City street", "bowl of soup", "old man", "tree"]
verbs = ["sitting on", "next to", "in front of", "under", "painted near", "photographed beside"]
lines = [c["text"] for c in cases]
for _ in range(3000):
    n = random.randint(0, 2024)
    lines.append(f"A photo of {n} {random.choice(subjects)}s {random.choice(verbs)} a {random.choice(subjects)}.  ")
    lines.append(f"def f{n}(x):\n    return x * {n}\n\n")
with open("/tmp/sp-bpe-corpus.txt", "w") as f:
    f.write("\n".join(lines) + "\n")
spm.SentencePieceTrainer.train(
    input="/tmp/sp-bpe-corpus.txt", model_prefix="/tmp/sp-bpe-trained", vocab_size=900, model_type="bpe",
    character_coverage=0.9995, num_threads=1, byte_fallback=True, split_digits=True,
    normalization_rule_name="identity", add_dummy_prefix=False, remove_extra_whitespaces=False,
    allow_whitespace_only_pieces=True, split_by_whitespace=False,
    user_defined_symbols=["<start_of_turn>", "<end_of_turn>", "<table>", "\n\n"], control_symbols=["<mask>"],
    pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
)
model = pb.ModelProto()
model.ParseFromString(open("/tmp/sp-bpe-trained.model", "rb").read())
unused = []
for p in model.pieces:
    if p.type == 1 and p.piece in ("▁photo", "ain", "tree"):
        p.type = 5  # UNUSED
        unused.append(p.piece)
assert len(unused) == 3, unused
open("sp-bpe.model", "wb").write(model.SerializeToString())

sp = spm.SentencePieceProcessor(model_file="sp-bpe.model")
tests = [c["text"] for c in cases[::3]] + [
    "A photo of a Cat", "a photo of 2024 cats", "  leading and trailing  ", "many     spaces\tand\ttabs\nnewline\n\nparagraph",
    "def f12(x):\n    return x * 12\n\n", "<start_of_turn>user hi<end_of_turn>", "<table><mask>", "<start_of_turn", "a city street in the rain",
    "singing and dancing", "ＦＵＬＬＷＩＤＴＨ １２３", "ﬁne ﬂowers", "crème brûlée naïve café", "日本語のテキスト", "emoji 😀🎉 mixed",
    "unknown ☃☃☃ run ✈✈ here", "supercalifragilisticexpialidocious", "", " ", "e\u0301 combining", "x\u00a0nbsp\u2003em space",
    "<unk> <pad> <eos> <bos> <0x41>", "photographing streets", "3.14159 and 1,000,000",
]
out = []
for t in tests:
    ids = sp.encode(t)
    out.append({"text": t, "ids": ids, "pieces": sp.encode(t, out_type=str), "decoded": sp.decode(ids)})
byte = lambda b: sp.piece_to_id(f"<0x{b:02X}>")
decode_only = [[byte(0x41), byte(0xE6), byte(0x97)], [byte(0xF0), byte(0x9F)], [byte(0xE6), byte(0x97), byte(0xA5)], [byte(0x80), 20, byte(0xC3)]]  # stray / truncated / whole UTF-8
json.dump({"sentencepiece": spm.__version__, "vocab": sp.get_piece_size(), "unk": sp.unk_id(), "bos": sp.bos_id(), "eos": sp.eos_id(),
           "pad": sp.pad_id(), "unused": unused, "cases": out,
           "decodeOnly": [{"ids": ids, "decoded": sp.decode(ids)} for ids in decode_only]},
          open("sentencepiece-bpe.json", "w"), ensure_ascii=False, indent=0)
print(len(out), "cases; vocab", sp.get_piece_size(), "unused", unused)
