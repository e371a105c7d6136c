/**
 * GBNF parser: llama.cpp's grammar syntax (grammars/README.md there) into rules of
 * alternatives of elements, with repetitions and groups lowered to generated rules.
 *
 *   name ::= alternatives          rule; `root` is where matching starts
 *   a b | c                        sequence and alternation; ( ... ) groups
 *   "lit"  [a-z]  [^"\\]  .        literal, character class (ranges, negation), any character
 *   x*  x+  x?  x{m}  x{m,}  x{m,n}  x{,n}
 *   \x41 \u00e9 \U0001F600 \n \r \t \\ \" \[ \]  escapes in literals and classes
 *   # comment                      to the end of the line
 *
 * A sequence ends at a newline unless it is inside parentheses or right after
 * `::=` or `|`. Names are letters, digits and `-`. Errors are GrammarError with
 * the line and column of the offending character.
 */
import { GrammarError } from './errors.js';

/** A set of code points as sorted, disjoint, inclusive [lo, hi] pairs. */
export interface CharElement {
  readonly kind: 'char';
  readonly ranges: readonly number[];
}
export interface RefElement {
  readonly kind: 'ref';
  readonly rule: number;
}
export type Element = CharElement | RefElement;

export interface GrammarRule {
  readonly name: string;
  /** Each alternative is a sequence of elements; an empty one matches the empty string. */
  readonly alternatives: Element[][];
}

export interface ParsedGrammar {
  readonly rules: GrammarRule[];
  readonly root: number;
}

const MAX_CODE_POINT = 0x10ffff;
/** As llama.cpp: larger repetition counts are rejected rather than expanded. */
export const MAX_REPETITION = 2000;

/** Sorted, merged ranges; `negate` complements over all code points. */
export function normalizeRanges(pairs: number[], negate: boolean): number[] {
  const items: [number, number][] = [];
  for (let i = 0; i < pairs.length; i += 2) items.push([pairs[i]!, pairs[i + 1]!]);
  items.sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [lo, hi] of items) {
    if (lo > hi) continue;
    const n = merged.length;
    if (n > 0 && lo <= merged[n - 1]! + 1) merged[n - 1] = Math.max(merged[n - 1]!, hi);
    else merged.push(lo, hi);
  }
  if (!negate) return merged;
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < merged.length; i += 2) {
    if (merged[i]! > next) out.push(next, merged[i]! - 1);
    next = merged[i + 1]! + 1;
  }
  if (next <= MAX_CODE_POINT) out.push(next, MAX_CODE_POINT);
  return out;
}

const isNameChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45;

class Parser {
  private pos = 0;
  readonly rules: (Element[][] | undefined)[] = [];
  readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  /** Where each rule was first referenced (for "undefined rule" errors). */
  private readonly firstRef = new Map<number, number>();
  private generated = 0;

  constructor(private readonly src: string) {}

  fail(message: string, at = this.pos): never {
    let line = 1;
    let col = 1;
    for (let i = 0; i < at && i < this.src.length; i++) {
      if (this.src.charCodeAt(i) === 10) {
        line++;
        col = 1;
      } else if ((this.src.charCodeAt(i) & 0xfc00) !== 0xdc00) col++; // count code points
    }
    throw new GrammarError(message, line, col);
  }

  private peek(off = 0): number {
    const i = this.pos + off;
    return i < this.src.length ? this.src.charCodeAt(i) : -1;
  }

  private symbol(name: string, refAt?: number): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
      this.rules.push(undefined);
    }
    if (refAt !== undefined && !this.firstRef.has(id)) this.firstRef.set(id, refAt);
    return id;
  }

  private newRule(base: string, alternatives: Element[][]): number {
    // "_" cannot appear in a GBNF name, so generated names never meet the grammar's own.
    const id = this.symbol(`${base}_${++this.generated}`);
    this.rules[id] = alternatives;
    return id;
  }

  private space(newlineOk: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === 32 || c === 9) this.pos++;
      else if (c === 35) {
        while (this.pos < this.src.length && this.peek() !== 10 && this.peek() !== 13) this.pos++;
      } else if ((c === 10 || c === 13) && newlineOk) this.pos++;
      else return;
    }
  }

  private name(): string {
    const start = this.pos;
    while (isNameChar(this.peek())) this.pos++;
    if (this.pos === start) this.fail(`expected a rule name, found ${this.describeHere()}`);
    return this.src.slice(start, this.pos);
  }

  private describeHere(): string {
    if (this.pos >= this.src.length) return 'the end of the grammar';
    const cp = this.src.codePointAt(this.pos)!;
    return cp === 10 ? 'a newline' : JSON.stringify(String.fromCodePoint(cp));
  }

  private hex(digits: number): number {
    let v = 0;
    for (let i = 0; i < digits; i++) {
      const c = this.peek();
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) this.fail(`expected ${digits} hex digits in escape`);
      v = v * 16 + d;
      this.pos++;
    }
    if (v > MAX_CODE_POINT) this.fail(`escape \\U${v.toString(16)} is beyond U+10FFFF`, this.pos - digits);
    return v;
  }

  /** One character of a literal or class, with escapes. */
  private char(context: string): number {
    if (this.pos >= this.src.length) this.fail(`unexpected end of the grammar in ${context}`);
    const c = this.src.codePointAt(this.pos)!;
    if (c !== 92) {
      this.pos += c > 0xffff ? 2 : 1;
      return c;
    }
    const e = this.peek(1);
    this.pos += 2;
    switch (e) {
      case 120: // x
        return this.hex(2);
      case 117: // u
        return this.hex(4);
      case 85: // U
        return this.hex(8);
      case 116:
        return 9;
      case 114:
        return 13;
      case 110:
        return 10;
      case 92:
      case 34:
      case 91:
      case 93:
        return e;
      case -1:
        return this.fail(`unexpected end of the grammar in ${context}`);
      default:
        return this.fail(`unknown escape \\${String.fromCharCode(e)} in ${context}`, this.pos - 2);
    }
  }

  /** The whole grammar. */
  parse(): ParsedGrammar {
    this.space(true);
    while (this.pos < this.src.length) {
      this.rule();
      this.space(true);
    }
    for (let id = 0; id < this.rules.length; id++) {
      if (this.rules[id] === undefined) this.fail(`undefined rule "${this.names[id]}"`, this.firstRef.get(id) ?? 0);
    }
    const root = this.ids.get('root');
    if (root === undefined) throw new GrammarError('the grammar has no "root" rule');
    const rules = this.rules.map((alternatives, i) => ({ name: this.names[i]!, alternatives: alternatives! }));
    checkLeftRecursion(rules);
    return { rules, root };
  }

  private rule(): void {
    const name = this.name();
    this.space(false);
    if (!this.src.startsWith('::=', this.pos)) this.fail(`expected "::=" after rule name "${name}", found ${this.describeHere()}`);
    this.pos += 3;
    this.space(true);
    const id = this.symbol(name);
    // As llama.cpp: a rule defined again replaces the earlier definition.
    this.rules[id] = this.alternates(name, false);
    const c = this.peek();
    if (c === 13 && this.peek(1) === 10) this.pos += 2;
    else if (c === 10 || c === 13) this.pos++;
    else if (c !== -1) this.fail(`expected the end of rule "${name}", found ${this.describeHere()}`);
  }

  private alternates(ruleName: string, nested: boolean): Element[][] {
    const alts = [this.sequence(ruleName, nested)];
    while (this.peek() === 124) {
      this.pos++;
      this.space(true);
      alts.push(this.sequence(ruleName, nested));
    }
    return alts;
  }

  private sequence(ruleName: string, nested: boolean): Element[] {
    const seq: Element[] = [];
    let lastStart = -1; // where the last item (what a postfix operator repeats) begins
    for (;;) {
      const c = this.peek();
      const itemAt = this.pos;
      if (c === 34) {
        // "literal"
        this.pos++;
        lastStart = seq.length;
        while (this.peek() !== 34) {
          if (this.pos >= this.src.length) this.fail('unterminated string literal', itemAt);
          const ch = this.char('a string literal');
          seq.push({ kind: 'char', ranges: [ch, ch] });
        }
        this.pos++;
      } else if (c === 91) {
        // [class]
        this.pos++;
        const negate = this.peek() === 94;
        if (negate) this.pos++;
        const pairs: number[] = [];
        while (this.peek() !== 93) {
          if (this.pos >= this.src.length) this.fail('unterminated character class', itemAt);
          const lo = this.char('a character class');
          let hi = lo;
          if (this.peek() === 45 && this.peek(1) !== 93 && this.peek(1) !== -1) {
            this.pos++;
            hi = this.char('a character class');
            if (hi < lo) this.fail(`character range is backwards (U+${lo.toString(16)} > U+${hi.toString(16)})`, itemAt);
          }
          pairs.push(lo, hi);
        }
        this.pos++;
        lastStart = seq.length;
        seq.push({ kind: 'char', ranges: normalizeRanges(pairs, negate) });
      } else if (c === 46) {
        // . any character
        this.pos++;
        lastStart = seq.length;
        seq.push({ kind: 'char', ranges: [0, MAX_CODE_POINT] });
      } else if (isNameChar(c)) {
        const name = this.name();
        lastStart = seq.length;
        seq.push({ kind: 'ref', rule: this.symbol(name, itemAt) });
      } else if (c === 40) {
        // ( group )
        this.pos++;
        this.space(true);
        const alts = this.alternates(ruleName, true);
        if (this.peek() !== 41) this.fail(`expected ")" to close the group opened at column ${this.columnOf(itemAt)}, found ${this.describeHere()}`);
        this.pos++;
        lastStart = seq.length;
        seq.push({ kind: 'ref', rule: this.newRule(ruleName, alts) });
      } else if (c === 42 || c === 43 || c === 63) {
        // * + ?
        if (lastStart < 0) this.fail(`"${String.fromCharCode(c)}" has nothing before it to repeat`);
        this.pos++;
        this.repeat(seq, lastStart, ruleName, c === 43 ? 1 : 0, c === 63 ? 1 : Infinity);
        lastStart = -1;
      } else if (c === 123) {
        // {m} {m,} {m,n} {,n}
        if (lastStart < 0) this.fail('"{" has nothing before it to repeat');
        this.pos++;
        this.space(nested);
        const min = this.peek() === 44 ? 0 : this.integer();
        let max = min;
        this.space(nested);
        if (this.peek() === 44) {
          this.pos++;
          this.space(nested);
          max = this.peek() === 125 ? Infinity : this.integer();
          this.space(nested);
        }
        if (this.peek() !== 125) this.fail(`expected "}" to close the repetition, found ${this.describeHere()}`);
        this.pos++;
        if (max < min) this.fail(`repetition {${min},${max}} has its maximum below its minimum`, itemAt);
        this.repeat(seq, lastStart, ruleName, min, max, itemAt);
        lastStart = -1;
      } else if (c === 60) {
        this.fail('token references (<...>) are not supported');
      } else {
        break;
      }
      this.space(nested);
    }
    return seq;
  }

  private columnOf(at: number): number {
    const nl = this.src.lastIndexOf('\n', at - 1);
    return at - nl;
  }

  private integer(): number {
    const start = this.pos;
    while (this.peek() >= 48 && this.peek() <= 57) this.pos++;
    if (this.pos === start) this.fail(`expected a number in the repetition, found ${this.describeHere()}`);
    return Number(this.src.slice(start, this.pos));
  }

  /** Replaces seq[lastStart..] (one item) by its repetition min..max times, as generated rules. */
  private repeat(seq: Element[], lastStart: number, ruleName: string, min: number, max: number, at = this.pos): void {
    if (min > MAX_REPETITION || (max !== Infinity && max > MAX_REPETITION)) this.fail(`repetition count above ${MAX_REPETITION}`, at);
    const item = seq.splice(lastStart);
    for (let i = 0; i < min; i++) seq.push(...item);
    if (max === Infinity) {
      // r ::= item r | ε
      const id = this.newRule(ruleName, []);
      this.rules[id]!.push([...item, { kind: 'ref', rule: id }], []);
      seq.push({ kind: 'ref', rule: id });
    } else if (max > min) {
      // (item (item (...)?)?)? nested from the inside out
      let inner = -1;
      for (let i = min; i < max; i++) {
        const alt: Element[] = inner < 0 ? [...item] : [...item, { kind: 'ref', rule: inner }];
        inner = this.newRule(ruleName, [alt, []]);
      }
      seq.push({ kind: 'ref', rule: inner });
    }
  }
}

/** Rules that can match the empty string. */
export function nullableRules(rules: readonly GrammarRule[]): boolean[] {
  const nullable = rules.map(() => false);
  for (let changed = true; changed; ) {
    changed = false;
    rules.forEach((r, i) => {
      if (nullable[i]) return;
      if (r.alternatives.some((alt) => alt.every((e) => e.kind === 'ref' && nullable[e.rule]))) {
        nullable[i] = true;
        changed = true;
      }
    });
  }
  return nullable;
}

/**
 * Left recursion that grows the stack (a rule that can reach itself without matching a
 * character, through a reference with something after it) cannot be matched by a stack
 * machine. Reaching itself only through references in last position (`r ::= x? r | ...`)
 * is fine: the expansion meets the same stack again and stops, as llama.cpp's does.
 */
function checkLeftRecursion(rules: readonly GrammarRule[]): void {
  const nullable = nullableRules(rules);
  // Edges i -> j: rule j can start rule i; `grows` when the reference has elements after it.
  const edges = rules.map((r) => {
    const out: { to: number; grows: boolean }[] = [];
    for (const alt of r.alternatives) {
      for (let k = 0; k < alt.length; k++) {
        const e = alt[k]!;
        if (e.kind !== 'ref') break;
        out.push({ to: e.rule, grows: k + 1 < alt.length });
        if (!nullable[e.rule]) break;
      }
    }
    return out;
  });
  const reaches = (from: number, target: number): boolean => {
    const seen = new Uint8Array(rules.length);
    const todo = [from];
    while (todo.length > 0) {
      const i = todo.pop()!;
      if (i === target) return true;
      if (seen[i]) continue;
      seen[i] = 1;
      for (const e of edges[i]!) todo.push(e.to);
    }
    return false;
  };
  edges.forEach((out, i) => {
    for (const e of out) {
      if (e.grows && reaches(e.to, i)) throw new GrammarError(`left recursion in rule "${rules[i]!.name}": it can reach itself without matching a character`);
    }
  });
}

/** Parses GBNF text; throws GrammarError with line and column. */
export function parseGbnf(source: string): ParsedGrammar {
  if (typeof source !== 'string') throw new GrammarError(`a grammar must be a string, got ${typeof source}`);
  return new Parser(source).parse();
}
