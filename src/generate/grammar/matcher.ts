/**
 * A compiled GBNF grammar as a pushdown matcher over code points.
 *
 * As in llama.cpp, the matcher's position is a set of stacks. A stack is a path
 * through the rules: its top is a character element still to be matched, the
 * entries below it are where to continue once the enclosing rule ends. The
 * empty stack means the root rule is complete (the input may end there).
 *
 * Stacks are interned as (position, parent) nodes, and a set of stacks as a
 * state id, so equal positions share one id and one transition cache: a
 * step on a state and a code point is computed once, then is a table lookup
 * (an Int32Array per state for ASCII, a Map above). Sampling walks the
 * vocabulary trie with these lookups (see vocab-trie.ts).
 */
import { GrammarError } from './errors.js';
import { parseGbnf, type ParsedGrammar } from './gbnf.js';

const END = 0;
const CHAR = 1;
const REF = 2;

/** Transition not computed yet (ASCII tables). */
const UNKNOWN = -2;
/** No stack survives: the input is rejected. */
export const DEAD = -1;
/** The stack id of the empty stack (root complete). */
const EMPTY = 0;

/** Enough room for the parent id in a node key (pos * NODE_KEY + parent). */
const NODE_KEY = 2 ** 26;

export class Grammar {
  readonly source: string | undefined;
  readonly ruleNames: readonly string[];
  // Flat program: every alternative's elements followed by END.
  private readonly kind: Uint8Array;
  private readonly arg: Int32Array; // class index (CHAR) or rule id (REF)
  private readonly altStarts: Int32Array[]; // per rule
  private readonly classRanges: Int32Array[];
  private readonly classAscii: Uint32Array; // 4 words per class

  // Interned stack nodes; node 0 is the empty stack.
  private readonly nodePos: number[] = [-1];
  private readonly nodeParent: number[] = [-1];
  private readonly nodeIds = new Map<number, number>();

  // Interned states (sorted stack-id sets).
  private readonly stateStacks: Int32Array[] = [];
  /** States by a hash of their sorted stack ids (collisions share a bucket). */
  private readonly stateIds = new Map<number, number | number[]>();
  // Scratch of computeStep (reused: a step allocates only when it meets a new state).
  private readonly scratchOut = new Set<number>();
  private readonly scratchSeen = new Set<number>();
  private readonly asciiNext: (Int32Array | undefined)[] = [];
  private readonly otherNext: (Map<number, number> | undefined)[] = [];
  private readonly loops: (Uint32Array | undefined)[] = [];
  readonly initialState: number;

  constructor(parsed: ParsedGrammar, source?: string) {
    this.source = source;
    this.ruleNames = parsed.rules.map((r) => r.name);
    const kind: number[] = [];
    const arg: number[] = [];
    const classes: number[][] = [];
    const classIndex = new Map<string, number>();
    this.altStarts = parsed.rules.map((rule) =>
      Int32Array.from(rule.alternatives, (alt) => {
        const start = kind.length;
        for (const e of alt) {
          if (e.kind === 'ref') {
            kind.push(REF);
            arg.push(e.rule);
          } else {
            const key = e.ranges.join(',');
            let c = classIndex.get(key);
            if (c === undefined) {
              c = classes.length;
              classes.push([...e.ranges]);
              classIndex.set(key, c);
            }
            kind.push(CHAR);
            arg.push(c);
          }
        }
        kind.push(END);
        arg.push(0);
        return start;
      }),
    );
    this.kind = Uint8Array.from(kind);
    this.arg = Int32Array.from(arg);
    this.classRanges = classes.map((r) => Int32Array.from(r));
    this.classAscii = new Uint32Array(classes.length * 4);
    classes.forEach((r, c) => {
      for (let i = 0; i < r.length; i += 2) {
        for (let cp = r[i]!; cp <= Math.min(r[i + 1]!, 127); cp++) this.classAscii[c * 4 + (cp >> 5)]! |= 1 << (cp & 31);
      }
    });
    const init = new Set<number>();
    const seen = new Set<number>();
    for (const start of this.altStarts[parsed.root]!) this.expand(start, EMPTY, init, seen);
    this.initialState = this.intern(init);
  }

  /** Parses and compiles GBNF text (GrammarError on a bad grammar). */
  static parse(source: string): Grammar {
    return new Grammar(parseGbnf(source), source);
  }

  private node(pos: number, parent: number): number {
    const key = pos * NODE_KEY + parent;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      id = this.nodePos.length;
      if (id >= NODE_KEY) throw new GrammarError('the grammar needs too many distinct stacks (more than 2^26)');
      this.nodePos.push(pos);
      this.nodeParent.push(parent);
      this.nodeIds.set(key, id);
    }
    return id;
  }

  /** Adds to `out` every stack whose top is a character element, reached from `pos` with `parent` below. */
  private expand(pos: number, parent: number, out: Set<number>, seen: Set<number>): void {
    const key = pos * NODE_KEY + parent;
    if (seen.has(key)) return;
    seen.add(key);
    const k = this.kind[pos]!;
    if (k === CHAR) {
      out.add(this.node(pos, parent));
    } else if (k === END) {
      if (parent === EMPTY) out.add(EMPTY);
      else this.expand(this.nodePos[parent]!, this.nodeParent[parent]!, out, seen);
    } else {
      // A reference: continue after it once the rule ends (nothing to remember when it is last: tail call).
      const below = this.kind[pos + 1] === END ? parent : this.node(pos + 1, parent);
      for (const start of this.altStarts[this.arg[pos]!]!) this.expand(start, below, out, seen);
    }
  }

  private intern(stacks: Set<number>): number {
    const sorted = Int32Array.from(stacks).sort();
    let h = sorted.length;
    for (let i = 0; i < sorted.length; i++) h = Math.imul(h ^ sorted[i]!, 0x9e3779b1) ^ (h >>> 15);
    const bucket = this.stateIds.get(h);
    const same = (id: number): boolean => {
      const o = this.stateStacks[id]!;
      if (o.length !== sorted.length) return false;
      for (let i = 0; i < o.length; i++) if (o[i] !== sorted[i]) return false;
      return true;
    };
    if (typeof bucket === 'number' && same(bucket)) return bucket;
    if (Array.isArray(bucket)) for (const id of bucket) if (same(id)) return id;
    const id = this.stateStacks.length;
    this.stateStacks.push(sorted);
    this.asciiNext.push(undefined);
    this.otherNext.push(undefined);
    this.loops.push(undefined);
    if (bucket === undefined) this.stateIds.set(h, id);
    else if (typeof bucket === 'number') this.stateIds.set(h, [bucket, id]);
    else bucket.push(id);
    return id;
  }

  /** Number of distinct states met so far (grows as matching explores). */
  get stateCount(): number {
    return this.stateStacks.length;
  }

  private matches(cls: number, cp: number): boolean {
    if (cp < 128) return (this.classAscii[cls * 4 + (cp >> 5)]! & (1 << (cp & 31))) !== 0;
    const r = this.classRanges[cls]!;
    let lo = 0;
    let hi = (r.length >> 1) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cp < r[2 * mid]!) hi = mid - 1;
      else if (cp > r[2 * mid + 1]!) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** The state after matching code point `cp` in `state`, or DEAD. */
  step(state: number, cp: number): number {
    if (cp < 128) {
      let t = this.asciiNext[state];
      if (t === undefined) this.asciiNext[state] = t = new Int32Array(128).fill(UNKNOWN);
      const next = t[cp]!;
      if (next !== UNKNOWN) return next;
      return (t[cp] = this.computeStep(state, cp));
    }
    let m = this.otherNext[state];
    if (m === undefined) this.otherNext[state] = m = new Map();
    let next = m.get(cp);
    if (next === undefined) m.set(cp, (next = this.computeStep(state, cp)));
    return next;
  }

  /** The ASCII transition table of a state (entries UNKNOWN (-2) until computed by `step`). */
  asciiTable(state: number): Int32Array {
    let t = this.asciiNext[state];
    if (t === undefined) this.asciiNext[state] = t = new Int32Array(128).fill(UNKNOWN);
    return t;
  }

  /** ASCII bytes (4 words of bits) on which a state steps to itself. */
  selfLoops(state: number): Uint32Array {
    let l = this.loops[state];
    if (l === undefined) {
      l = new Uint32Array(4);
      for (let b = 0; b < 128; b++) if (this.step(state, b) === state) l[b >> 5]! |= 1 << (b & 31);
      this.loops[state] = l;
    }
    return l;
  }

  private computeStep(state: number, cp: number): number {
    const out = this.scratchOut;
    const seen = this.scratchSeen;
    out.clear();
    seen.clear();
    for (const s of this.stateStacks[state]!) {
      if (s === EMPTY) continue;
      const pos = this.nodePos[s]!;
      if (this.matches(this.arg[pos]!, cp)) this.expand(pos + 1, this.nodeParent[s]!, out, seen);
    }
    return out.size === 0 ? DEAD : this.intern(out);
  }

  /** Whether some code point in [lo, hi] can be matched next (pruning of partial UTF-8 sequences). */
  canMatchRange(state: number, lo: number, hi: number): boolean {
    for (const s of this.stateStacks[state]!) {
      if (s === EMPTY) continue;
      const r = this.classRanges[this.arg[this.nodePos[s]!]!]!;
      for (let i = 0; i < r.length; i += 2) if (r[i]! <= hi && r[i + 1]! >= lo) return true;
    }
    return false;
  }

  /** The input may end here (the root rule is complete on some stack). */
  isAccepting(state: number): boolean {
    return this.stateStacks[state]![0] === EMPTY;
  }

  /** The root rule is complete and nothing may follow. */
  isComplete(state: number): boolean {
    const s = this.stateStacks[state]!;
    return s.length === 1 && s[0] === EMPTY;
  }

  /** The state after matching all of `text` from the start, or DEAD. */
  stateAfter(text: string): number {
    let s = this.initialState;
    for (const ch of text) {
      s = this.step(s, ch.codePointAt(0)!);
      if (s === DEAD) return DEAD;
    }
    return s;
  }

  /** Whether the whole string matches the grammar. */
  matchesString(text: string): boolean {
    const s = this.stateAfter(text);
    return s !== DEAD && this.isAccepting(s);
  }

  /** Whether the string can be continued into a match (it has not left the grammar). */
  matchesPrefix(text: string): boolean {
    return this.stateAfter(text) !== DEAD;
  }
}
