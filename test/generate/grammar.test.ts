/** GBNF parsing and matching: grammars of the kind llama.cpp ships, strings accepted and rejected, errors with places. */
import { describe, expect, it } from 'vitest';
import { Grammar, GrammarError } from '../../src/index.js';
import { GRAMMARS } from './grammar-cases.js';
import { GrammarConstraint } from '../../src/generate/grammar/constraint.js';

const cases: Record<keyof typeof GRAMMARS, { accept: string[]; reject: string[] }> = {
  json: {
    accept: ['{}', '{"a": 1}', '{"a": [1, -2.5e3, {"b": null}], "c": "x\\n\\u00e9", "d": true}', '{ "k" : "v" }'],
    reject: ['', '[]', '{', '{"a" 1}', '{"a": 01}', '{"a": "\u0001"}', '{"a": tru}', '{"a": 1,}'],
  },
  arithmetic: {
    accept: ['1+2= 3\n', 'x*(y+1)= 4\n2=2\n', 'a_1/2= b\n'],
    reject: ['', '1+2', '1++2= 3\n', '(1= 1\n', 'X= 1\n'],
  },
  list: { accept: ['- a\n', '- milk\n- eggs\n- bread\n'], reject: ['', '- \n', '-a\n', '- a\n- b\n- c\n- d\n- e\n- f\n', '- a\r\n'] },
  c: {
    accept: ['', 'int main(){return 0;}', 'int f(int x){int y = x*2+1;while(y>0){y = y-1;}return y;}', 'char g(){// hi\n/* multi * line */x = h(1, 2);}'],
    reject: ['int main(){return 0}', 'main(){}', 'int f(int){}', 'int f(){/* open }'],
  },
  chess: { accept: ['1. e4 e5\n2. Nf3 Nc6\n', '1. d4 d5\n2. c4 dxc4\n3. O-O Qxd1+\n'], reject: ['1. e4 e5\n', '1. e9 e5\n2. a3 a6\n', '1. e4 e5\n2. Zf3 a6\n'] },
  japanese: { accept: ['こんにちは', '日本語。カタカナ。'], reject: ['', 'hello', 'こんにちは。。', '日本語 です'] },
  emoji: { accept: ['say 😀!', 'say 😀🙏😎!'], reject: ['say !', 'say 😀😀😀😀!', 'say 🚀!'] },
  yesno: { accept: ['yes.', 'no.'], reject: ['yes', 'yes..', 'maybe.', 'Yes.'] },
};

describe('GBNF grammars', () => {
  for (const [name, src] of Object.entries(GRAMMARS)) {
    it(`${name}: accepts and rejects`, () => {
      const g = Grammar.parse(src);
      const c = cases[name as keyof typeof GRAMMARS];
      for (const s of c.accept) expect(g.matchesString(s), `accepts ${JSON.stringify(s)}`).toBe(true);
      for (const s of c.reject) expect(g.matchesString(s), `rejects ${JSON.stringify(s)}`).toBe(false);
    });
  }

  it('repetitions {m}, {m,}, {m,n}, {,n}, *, +, ? and escapes', () => {
    const g = Grammar.parse('root ::= "a"{2} "b"{1,} "c"{0,2} "d"{,1} [\\x41-\\x43]* "\\t"? "\\u00e9"+ .');
    expect(g.matchesString('aab\u00e9z')).toBe(true);
    expect(g.matchesString('aabbbccdABC\t\u00e9\u00e9\u00e9?')).toBe(true);
    expect(g.matchesString('ab\u00e9z')).toBe(false);
    expect(g.matchesString('aabcccz\u00e9z')).toBe(false);
    expect(g.matchesString('aabdd\u00e9z')).toBe(false);
    expect(g.matchesString('aab\u00e9')).toBe(false); // "." needs a character
  });

  it('negated classes and "." match any code point, multi-line rules and comments', () => {
    const g = Grammar.parse('# top comment\nroot ::= ( # group\n  [^a-c] |\n  "x" . )+ # trailing\n');
    expect(g.matchesString('d😀z')).toBe(true);
    expect(g.matchesString('x\u0000')).toBe(true);
    expect(g.matchesString('a')).toBe(false);
  });

  const bad: [string, string, number, number][] = [
    ['root ::= foo', 'undefined rule "foo"', 1, 10],
    ['root ::= "a', 'unterminated string literal', 1, 10],
    ['root ::= [a-', 'unterminated character class', 1, 10],
    ['root ::= "a"\n\nx ::= "\\q"', 'unknown escape \\q', 3, 8],
    ['root ::= "a"{3,1}', 'maximum below its minimum', 1, 13],
    ['root ::= ( "a" ', 'expected ")"', 1, 16],
    ['root ::= * "a"', 'nothing before it to repeat', 1, 10],
    ['root "a"', 'expected "::="', 1, 6],
    ['root ::= "a" ) "b"', 'expected the end of rule "root"', 1, 14],
    ['root ::= "a"{5000}', 'repetition count above 2000', 1, 13],
    ['root ::= "\\x4"', 'expected 2 hex digits', 1, 14],
    ['root ::= <[12]>', 'token references', 1, 10],
  ];
  for (const [src, msg, line, col] of bad) {
    it(`bad grammar: ${JSON.stringify(src)} -> ${msg}`, () => {
      let err: unknown;
      try {
        Grammar.parse(src);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GrammarError);
      expect((err as GrammarError).message).toContain(msg);
      expect([(err as GrammarError).line, (err as GrammarError).column]).toEqual([line, col]);
    });
  }

  it('no root, and left recursion, are errors', () => {
    expect(() => Grammar.parse('a ::= "x"')).toThrow(/no "root" rule/);
    expect(() => Grammar.parse('root ::= root "x" | "y"')).toThrow(/left recursion in rule "root"/);
    expect(() => Grammar.parse('root ::= a\na ::= b? a "x" | "y"\nb ::= "z"')).toThrow(/left recursion/);
    expect(() => Grammar.parse('root ::= a "x"\na ::= "y" | a "z"')).toThrow(/left recursion in rule "a"/);
    // Reaching itself only in last position does not grow the stack: accepted, as llama.cpp does.
    const opt = Grammar.parse('root ::= ("x"?)*');
    for (const s of ['', 'x', 'xxxx']) expect(opt.matchesString(s)).toBe(true);
    expect(opt.matchesString('y')).toBe(false);
    // A rule defined again replaces the earlier definition (llama.cpp).
    const twice = Grammar.parse('root ::= "a"\nroot ::= "b"');
    expect([twice.matchesString('a'), twice.matchesString('b')]).toEqual([false, true]);
    // Right recursion is fine (and does not grow the stacks).
    expect(Grammar.parse('root ::= "x" root | "y"').matchesString('x'.repeat(5000) + 'y')).toBe(true);
  });
});

describe('token masks', () => {
  // Tokens as raw bytes: EOS (0), whole characters, lone UTF-8 pieces, an overlong form, multi-symbol tokens.
  const pieces = [[], [0xe3, 0x81, 0x82], [0xe3], [0x81, 0x82], [0x81], [0x82], [0xe2], [0xc1, 0xbb], [0x7b], [0x7b, 0x7d], [0x7d, 0x20], [0xed, 0xa0, 0x80], [0x20]].map((b) => Uint8Array.from(b));
  const vocab = { vocabSize: pieces.length, tokenToPieceBytes: (id: number) => pieces[id]!, isEog: (id: number) => id === 0 };
  const allowed = (c: GrammarConstraint) => {
    const m = c.allowedMask();
    return pieces.map((_, id) => id).filter((id) => (m[id >>> 5]! >>> (id & 31)) & 1);
  };

  it('a character split across tokens: lead bytes only where the character can match, then its continuation', () => {
    const c = new GrammarConstraint(Grammar.parse('root ::= "\u3042" "\u3042"'), vocab);
    expect(allowed(c)).toEqual([1, 2]); // "あ" whole, or its lead byte; not E2 (U+2000..U+2FFF cannot match)
    c.accept(2);
    expect(c.isAccepting).toBe(false);
    expect(allowed(c)).toEqual([3, 4]); // 81 82 completes it; 81 alone leaves it partial (U+3040..U+307F can still match); 82 cannot
    c.accept(3);
    expect(allowed(c)).toEqual([1, 2]);
    c.accept(1);
    expect(c.isComplete).toBe(true);
    expect(allowed(c)).toEqual([0]); // only EOS once the grammar is complete
  });

  it('a partial sequence may stop inside the character; overlong forms and surrogates never match', () => {
    const c = new GrammarConstraint(Grammar.parse('root ::= [^a]*'), vocab);
    expect(allowed(c)).toEqual([0, 1, 2, 6, 8, 9, 10, 12]); // not 81/82 first, not C1 BB ("{" overlong), not ED A0 80 (a surrogate)
    c.accept(2);
    expect(c.isAccepting).toBe(false); // inside a character: EOS waits
    expect(allowed(c)).toEqual([3, 4, 5]); // continuation bytes only
    c.accept(4);
    expect(allowed(c)).toEqual([4, 5]); // one more completes the character; two would leave a stray continuation byte
  });

  it('tokens spanning several symbols, and EOS only where the grammar can end', () => {
    const c = new GrammarConstraint(Grammar.parse('root ::= "{" "}" " "?'), vocab);
    expect(allowed(c)).toEqual([8, 9]);
    c.accept(9);
    expect(c.isAccepting).toBe(true);
    expect(c.isComplete).toBe(false);
    expect(allowed(c)).toEqual([0, 12]);
    expect(() => c.accept(8)).toThrow(GrammarError);
  });
});
