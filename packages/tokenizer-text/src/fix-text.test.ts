import { describe, expect, it } from 'vitest';
import { basicClean, clipNormalize, clipPretokenize, pyStrip, whitespaceClean } from './clean-text.js';
import { fixText } from './fix-text.js';
import { htmlUnescape } from './html-unescape.js';

describe('htmlUnescape (Python html.unescape)', () => {
  it('decodes named, numeric and semicolon-less references like Python', () => {
    expect(htmlUnescape('&lt;b&gt; &amp;amp; &copy &notit; &#39; &#x27; &#X41;')).toBe("<b> &amp; © ¬it; ' ' A");
    expect(htmlUnescape('&#150; &#0; &#x110000; &#xD800; &#1; &#65534;')).toBe('\u2013 \ufffd \ufffd \ufffd  ');
    expect(htmlUnescape('&bogus; & &; AT&T')).toBe('&bogus; & &; AT&T');
    expect(htmlUnescape('&#' + '9'.repeat(40) + ';')).toBe('\ufffd');
  });
});

describe('fixText (ftfy.fix_text)', () => {
  it('repairs common mojibake and leaves correct text alone', () => {
    expect(fixText('cafÃ©')).toBe('café');
    expect(fixText('doesnâ€™t')).toBe("doesn't");
    expect(fixText('café naïve 日本 😀')).toBe('café naïve 日本 😀');
    expect(fixText('e\u0301')).toBe('é');
  });

  it('applies the small fixes: quotes, ligatures, widths, controls, surrogates, line breaks', () => {
    expect(fixText('“hi” ‘x’ ﬁne ＡＢＣ\u3000x')).toBe('"hi" \'x\' fine ABC x');
    expect(fixText('a\x00b\x07c\ufeffd\x1b[1me')).toBe('abcde');
    expect(fixText('x\ud800y')).toBe('x\ufffdy');
    expect(fixText('a\r\nb\rc\u2028d')).toBe('a\nb\nc\nd');
  });

  it('unescapes entities only until a line has a "<"', () => {
    expect(fixText('&amp; x')).toBe('& x');
    expect(fixText('<b>&amp;</b>\n&amp;')).toBe('<b>&amp;</b>\n&amp;');
    expect(fixText('&amp;\n<b>&amp;')).toBe('&\n<b>&amp;');
  });
});

describe('CLIP cleaning', () => {
  it('strips and collapses whitespace the way Python does', () => {
    expect(pyStrip('\x1c\u3000 a b \x85')).toBe('a b');
    expect(whitespaceClean(' a \t\n b\u00a0\u2003c ')).toBe('a b c');
    // U+FEFF is not whitespace in Python (ftfy removes it before anyway).
    expect(whitespaceClean('a\ufeffb')).toBe('a\ufeffb');
    expect(basicClean('  &amp;amp;lt;  ')).toBe('<');
  });

  it('pre-tokenizes with CLIP regex on lowercased text', () => {
    expect(clipPretokenize(clipNormalize("It's 42 CATS!! <|endoftext|>"))).toEqual(['it', "'s", '4', '2', 'cats', '!!', '<|endoftext|>']);
    expect(clipPretokenize("it'ſ 1\u0345")).toEqual(['it', "'ſ", '1']);
  });
});
