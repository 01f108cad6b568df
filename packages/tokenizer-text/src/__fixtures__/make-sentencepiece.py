"""SentencePiece unigram reference (Debian: sentencepiece + python3-sentencepiece 0.1.97).

  /usr/bin/python3 make-sentencepiece.py

Trains a small unigram model (vocab 600, the default nmt_nfkc normalizer with its precompiled
charsmap, dummy prefix, extra-whitespace removal) on the CLIP parity strings plus generated captions,
then records SentencePieceProcessor.encode ids and decode text for test strings that exercise NFKC
(full-width forms, ligatures, compatibility characters), whitespace runs, unknown characters (runs of
them are merged into one unk id) and long words. Output: sp-unigram.model, sentencepiece.json.
"""
import json
import random

import sentencepiece as spm

def encodable(t):
    try:
        t.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates (CLIP's cases include some)
        return False


cases = [c for c in json.load(open("clip-parity.json"))["cases"] if encodable(c["text"]) and "\n" not in c["text"]]
random.seed(0)
subjects = ["cat", "dog", "red car", "small boat", "mountain lake", "city street", "bowl of soup", "old man", "tree"]
verbs = ["sitting on", "next to", "in front of", "under", "painted near", "photographed beside"]
lines = [c["text"] for c in cases]
for _ in range(3000):
    lines.append(f"a photo of a {random.choice(subjects)} {random.choice(verbs)} a {random.choice(subjects)}")
with open("/tmp/sp-corpus.txt", "w") as f:
    f.write("\n".join(lines) + "\n")
spm.SentencePieceTrainer.train(
    input="/tmp/sp-corpus.txt", model_prefix="sp-unigram", vocab_size=600, model_type="unigram",
    character_coverage=0.9995, seed_sentencepiece_size=20000, num_threads=1,
)
sp = spm.SentencePieceProcessor(model_file="sp-unigram.model")
tests = [c["text"] for c in cases[::3]] + [
    "a photo of a cat", "  leading and trailing  ", "many     spaces\tand\ttabs\nnewline",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ １２３", "ﬁne ﬂowers ﬀ", "①②③ ㍻ ™ ½", "Ⅻ century",
    "crème brûlée naïve café", "日本語のテキスト", "emoji 😀🎉 mixed", "unknown ☃☃☃ run ✈✈ here",
    "supercalifragilisticexpialidocious", "", " ", "ABC def GHI", "e\u0301 combining", "x\u00a0nbsp\u2003em space",
]
out = []
for t in tests:
    ids = sp.encode(t)
    out.append({"text": t, "ids": ids, "pieces": sp.encode(t, out_type=str), "decoded": sp.decode(ids)})
json.dump({"sentencepiece": spm.__version__, "vocab": sp.get_piece_size(), "unk": sp.unk_id(), "bos": sp.bos_id(), "eos": sp.eos_id(), "pad": sp.pad_id(), "cases": out},
          open("sentencepiece.json", "w"), ensure_ascii=False, indent=0)
print(len(out), "cases; vocab", sp.get_piece_size())
