#!/usr/bin/python3
"""Generates clip-parity-random.json: 400 random strings (seeded) from a soup of letters, punctuation,
accents, scripts, emoji, combining marks, odd whitespace, HTML entities and mojibake, with the ids of
openai/CLIP's own tokenizer (real ftfy). Run once, like make-fixtures.py:

    PYTHONPATH=<folder with ftfy 6.3.1> /usr/bin/python3 make-random-parity.py /tmp/clip/simple_tokenizer.py

(7 000 such strings matched when this was written; the committed 400 keep it so.)
"""
import importlib.util, json, os, random, sys
import ftfy

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('simple_tokenizer', sys.argv[1])
st = importlib.util.module_from_spec(spec)
spec.loader.exec_module(st)
tok = st.SimpleTokenizer(os.path.join(HERE, '..', '..', 'assets', 'bpe_simple_vocab_16e6.txt.gz'))
random.seed(11)
pieces = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + list(" .,;:!?'\"()[]{}<>/\\|-_+=*&^%$#@~`") + \
  ['é', 'ü', 'ñ', 'ß', 'Å', 'ø', 'ç', 'İ', 'ı', 'ǅ', 'Σ', 'ς', 'ж', 'Я', 'ע', 'ع', 'ह', 'ি', 'ไ', 'ქ', 'ệ', '日', '本', '語', 'カ', 'ｶ', '한', '中', '文',
   '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '❤️', '☕', '∑', '½', '²', '٣', 'Ⅷ', '𝔘', '𝟙', '\u0301', '\u0308', '\u200b', '\u00a0', '\u3000', '\t', '\n', '\r\n',
   '&amp;', '&lt;', '&gt;', '&quot;', '&#39;', '&nbsp;', '&eacute;', '&#128512;', 'Ã©', 'â€™', 'â€œ', 'Ã¼', 'ï¿½', '\ufffd', "'s", "'t", "'re", "'ll", "n't",
   'http://x.co/a?b=1', 'www', 'the ', 'a ', 'photo ', 'of ', 'cat', 'dog', ' ' * 3, '...', '--', '\u2019', '\u201c', '\u201d', '\u2013', '\u2014', 'ﬁ', 'Ⓐ', '\x00', '\x1b', '\u0085']
cases = []
for i in range(400):
    s = ''.join(random.choice(pieces) for _ in range(random.randint(0, 60)))
    try:
        ids = tok.encode(s)
    except Exception as e:
        ids = 'error: ' + type(e).__name__
    cases.append({'text': s, 'ids': ids})
json.dump({'generator': 'src/__fixtures__/make-random-parity.py', 'ftfy': 'ftfy ' + ftfy.__version__, 'cases': cases}, open(os.path.join(HERE, 'clip-parity-random.json'), 'w'), ensure_ascii=False)
print(len(cases))
