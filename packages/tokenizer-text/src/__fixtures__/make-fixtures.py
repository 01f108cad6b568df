#!/usr/bin/python3
"""Generates clip-parity.json: ids from openai/CLIP's own tokenizer for a fixed list of strings.

Run once; the output is committed and the tests never need Python:

    git --git-dir=<openai/CLIP mirror> show HEAD:clip/simple_tokenizer.py > /tmp/clip/simple_tokenizer.py
    PYTHONPATH=<folder with ftfy 6.3.1> /usr/bin/python3 make-fixtures.py /tmp/clip/simple_tokenizer.py

Arguments: the path of openai/CLIP's `clip/simple_tokenizer.py` (not committed here), and
optionally the merges file (default: the package's bundled assets/bpe_simple_vocab_16e6.txt.gz).
Needs `regex` (Debian python3-regex). Uses the real `ftfy` when importable; otherwise installs an
NFC-only stand-in and records that in the fixture (`ftfy: "nfc-shim"`), in which case the strings
whose `ftfyChanged` is true are exactly the ones real ftfy would change beyond NFC.
"""
import importlib.util
import json
import os
import random
import sys
import types
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))

if len(sys.argv) < 2:
    sys.exit(__doc__)
tokenizer_path = sys.argv[1]
merges_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, '..', '..', 'assets', 'bpe_simple_vocab_16e6.txt.gz')

try:
    import ftfy
    ftfy_name = 'ftfy ' + ftfy.__version__
except ImportError:
    ftfy = types.ModuleType('ftfy')
    ftfy.fix_text = lambda text: unicodedata.normalize('NFC', text)
    sys.modules['ftfy'] = ftfy
    ftfy_name = 'nfc-shim'

spec = importlib.util.spec_from_file_location('simple_tokenizer', tokenizer_path)
simple_tokenizer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(simple_tokenizer)
tok = simple_tokenizer.SimpleTokenizer(merges_path)

STRINGS = [
    # anchors and plain captions
    'a photo of a cat', 'A photo of a dog.', 'a diagram', 'two dogs playing in the snow',
    'A man riding a horse on the beach at sunset', 'an astronaut riding a horse, digital art',
    'a close-up photo of a red apple on a wooden table', 'the quick brown fox jumps over the lazy dog',
    'THE QUICK BROWN FOX', 'MiXeD CaSe WoRdS', 'CamelCaseIdentifier', 'snake_case_identifier',
    'kebab-case-identifier', 'dotted.name.here', 'user@example.com', 'https://example.com/path?q=1&r=2',
    'C:\\\\Windows\\\\System32', '/usr/local/bin/node', '#hashtag @mention', '$19.99 or €20,00 or ¥3000',
    # punctuation
    'Hello, world!', 'Wait... what?!', 'semi;colon:colon', '(parentheses) [brackets] {braces}',
    '"double quotes" and \'single quotes\'', '<angle brackets>', 'a/b\\c|d', '~tilde `backtick` ^caret',
    '!!!???...,,,', '--- *** +++ ===', 'end.', '.start', '...', '-', "'", '"', '&', '<', '>', '@#$%^&*()',
    'emoji-less :) :( ;) :D xD <3',
    # numbers
    '0', '7', '42', '1234567890', '3.14159', '1,000,000', '-273.15', '1e-10', '2024-01-31', '12:34:56',
    'version 2.0.1-beta', '100%', '1st 2nd 3rd 4th', 'ⅷ and ½ and ² and ٣ and 四',
    # contractions
    "it's", "don't", "they're", "we've", "I'm", "you'll", "he'd", "IT'S", "DON'T", "She'S",
    "rock 'n' roll", "'s alone", "the dogs' bowls", "o'clock", "ma'am", "y'all'd've", "it'ſ",
    # accents, scripts
    'café', 'naïve résumé', 'Crème brûlée', 'Ångström', 'Ærøskøbing', 'straße', 'STRASSE', 'İstanbul',
    'ǅemal', 'ΣΊΣΥΦΟΣ', 'Ὀδυσσεύς', 'ελληνικά', 'русский текст', 'Україна', 'עברית', 'العربية',
    'हिन्दी', 'বাংলা', 'ไทย', 'ქართული', 'Հայերեն', 'Tiếng Việt', 'e\u0301', 'cafe\u0301', 'n\u0303o',
    '1\u0345', 'a\u0308\u0301', '日本語のテキスト', '中文文本测试', '한국어 텍스트', 'ｶﾀｶﾅ', 'カタカナ ひらがな 漢字',
    'mixed 日本 english', '東京タワーの写真',
    # emoji and symbols
    '😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷🇯🇵', 'I ❤️ NY', '☕ coffee', '★☆✓✗', '→ ← ↑ ↓', '∑∫√∞≠≤', '♠♣♥♦',
    '©®™', '§¶†‡', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝟙𝟚𝟛', '🐱 cat emoji 🐶',
    # html entities (unescaped twice by CLIP, once more by ftfy)
    '&amp;', '&amp;amp;', '&amp;amp;amp;', 'Tom &amp; Jerry', '&lt;b&gt;bold&lt;/b&gt;', '&quot;quoted&quot;',
    '&#39;apos&#39;', '&#x27;hex&#x27;', '&copy; 2024', '&nbsp;spaces&nbsp;', '&eacute;t&eacute;', '&EACUTE;',
    '&notit;', '&not', 'AT&T', 'fish &chips', '&#128512;', '&#0;', '&#x110000;', '&#150;', '&bogus;',
    '<b>&amp;</b>', 'x < y &amp; y > z', '&amp;lt;', '&hellip;',
    # whitespace
    '   leading', 'trailing   ', '  both  ', 'multiple     spaces', 'tab\tseparated', 'new\nline',
    'windows\r\nline', 'mac\rline', 'nbsp\u00a0here', 'ideographic\u3000space', 'em\u2003space',
    'zero\u200bwidth', 'line\u2028separator', 'next\u0085line', '\t\n  \t', ' ', '', 'a  \n\n  b',
    # long words
    'supercalifragilisticexpialidocious', 'pneumonoultramicroscopicsilicovolcanoconiosis',
    'Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft',
    'a' * 60, 'ab' * 40, 'xyzzy' * 20, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab',
    '1' * 50,
    # specials typed by the user
    '<|startoftext|>', '<|endoftext|>', 'a <|endoftext|> b', '<|ENDOFTEXT|>',
    # ftfy territory: mojibake, quotes, ligatures, widths, controls
    'cafÃ©', 'CafÃ© au lait', 'Ã©tÃ©', 'sÃ³', 'voilÃ  le travail', 'The Mona Lisa doesnâ€™t have eyebrows.',
    'â€œquotedâ€\x9d', 'âœ” No problems', 'Ã¡rvÃ­ztÅ±rÅ‘', 'ÐŸÑ€Ð¸Ð²ÐµÑ‚', 'Ã\xa0 la carte', 'ï»¿BOM text',
    '“curly” ‘quotes’', 'it’s', 'ﬁne ﬂower ﬀ', 'Ĳssel', 'ＬＯＵＤ　ＮＯＩＳＥＳ', 'ＡＢＣ１２３', 'ﾊﾝｶｸ',
    'bell\x07char', 'null\x00char', 'del\x7fchar', 'esc\x1b[31mred\x1b[0m', 'c1\x80\x9fcontrols', 'bom\ufeffinside',
    'soft\u00adhyphen', 'zwj\u200dzwnj\u200c', 'rtl\u200fmark', 'lone \ud800 high', 'lone \udc00 low', 'pair \ud83d\ude00',
    '\ud83d', 'Â£100', 'â‚¬50', 'Ð¡Ð»Ð°Ð²Ð°', 'â€”dashâ€“', 'Ã¼ber', '\x1c\x1dfile sep\x1e\x1f',
]

rng = random.Random(20240531)
POOL = (
    list('abcdefghijklmnopqrstuvwxyz') * 4 + list('ABCDEFGHIJKLMNOPQRSTUVWXYZ') + list('0123456789') * 2
    + list(" " * 12) + list(".,;:!?'\"-()[]/&#@*+=") + list('éèêëàâäôöûüçñßøåæœ') + list('ÉÀÖÜ')
    + list('日本語中文字한국어') + list('αβγδεζηθ') + list('абвгдежз') + ['😀', '🐶', '❤️', '👍', '\t', '\n', '&amp;', "'s", "'ll"]
)
for _ in range(110):
    n = rng.randint(1, 40)
    STRINGS.append(''.join(rng.choice(POOL) for _ in range(n)))

cases = []
for text in STRINGS:
    ids = tok.encode(text)
    case = {'text': text, 'ids': ids, 'decoded': tok.decode(ids)}
    try:
        nfc = unicodedata.normalize('NFC', text)
    except Exception:
        nfc = None
    try:
        case['ftfyChanged'] = ftfy.fix_text(text) != nfc
    except Exception:
        case['ftfyChanged'] = True
    cases.append(case)

FIXES = [
    'cafÃ©', 'The Mona Lisa doesnâ€™t have eyebrows.', 'âœ” No problems', '&macr;\\_(ã\x83\x84)_/&macr;',
    'Broken text&hellip; it&#x2019;s ﬂubberiﬁc!', 'ＬＯＵＤ　ＮＯＩＳＥＳ', 'voilÃ  le travail', 'sÃ³', 'Ã³',
    'P&EACUTE;REZ', 'BUNDESSTRA&SZLIG;E', '&ntilde; &Ntilde; &NTILDE; &nTILDE;', '<b>&amp;</b>\n&amp;',
    'ÃºnicoÂ', 'â€œ like this â€\ufffd', 'Ã\xa0 la', 'fÃ cil', 'l’été', 'Ã¡rvÃ­ztÅ±rÅ‘ tÃ¼kÃ¶rfÃºrÃ³gÃ©p',
    'ÐŸÑ€Ð¸Ð²ÐµÑ‚', 'Ð\x9fÑ\x80Ð¸Ð²ÐµÑ\x82', 'Ã©\x85', 'I\x92m', 'caf\x8e', '\x1b[36;44mblue\x1b[0m', 'Ï€', 'Î±Î²Î³',
    'Ã¢â‚¬Å“double mojibakeÃ¢â‚¬\x9d', 'Ã\x83Â©', 'âˆ’', 'Ã¶', 'normal text with é and ö', 'Ãœber',
    'The word is â€˜quotedâ€™.', '√©', 'ÃƒÂ©', '\ud83d\ude00 paired', 'x\ud800y', '\r\nline\r', 'ﬃ ﬄ', 'ǲ ǅ',
]
fixes = [{'text': t, 'fixed': ftfy.fix_text(t)} for t in FIXES]

out = {
    'generator': 'src/__fixtures__/make-fixtures.py with openai/CLIP clip/simple_tokenizer.py',
    'ftfy': ftfy_name,
    'python': '.'.join(map(str, sys.version_info[:3])),
    'unicode': unicodedata.unidata_version,
    'cases': cases,
    'fixText': fixes,
}
with open(os.path.join(HERE, 'clip-parity.json'), 'w') as f:
    json.dump(out, f, ensure_ascii=True, indent=0)
    f.write('\n')
print(len(cases), 'cases,', len(fixes), 'fixText cases,', ftfy_name)
