import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../src/generate/stop.js';
import { Rng } from '../../src/generate/rng.js';

/** Feeds chunks; returns every push result plus the total visible text (flushed if not stopped). */
function run(stops: string[], chunks: string[]) {
  const m = new StopMatcher(stops);
  const results = chunks.map((c) => m.push(c));
  const stopped = results.some((r) => r.stopped);
  const text = results.map((r) => r.emit).join('') + m.flush();
  return { results, stopped, text, matched: results.find((r) => r.stopped)?.matched };
}

/** What the whole text should produce: cut at the stop string that ends first (ties: starts first). */
function expected(stops: string[], text: string): { text: string; stopped: boolean } {
  let bestStart = -1;
  let bestEnd = Infinity;
  for (const s of stops) {
    if (!s) continue;
    const at = text.indexOf(s);
    if (at < 0) continue;
    const end = at + s.length;
    if (end < bestEnd || (end === bestEnd && at < bestStart)) {
      bestStart = at;
      bestEnd = end;
    }
  }
  return bestStart < 0 ? { text, stopped: false } : { text: text.slice(0, bestStart), stopped: true };
}

describe('StopMatcher', () => {
  it('passes text through when there are no stop strings', () => {
    const m = new StopMatcher([]);
    expect(m.push('hello ')).toEqual({ emit: 'hello ', stopped: false });
    expect(m.push('world')).toEqual({ emit: 'world', stopped: false });
    expect(m.flush()).toBe('');
  });

  it('emits text that cannot start a stop string immediately', () => {
    const m = new StopMatcher(['</s>']);
    expect(m.push('Hello world')).toEqual({ emit: 'Hello world', stopped: false });
  });

  it('catches a stop string spanning chunks and drops it', () => {
    const m = new StopMatcher(['<|end|>']);
    expect(m.push('Hello <|')).toEqual({ emit: 'Hello ', stopped: false });
    expect(m.push('en')).toEqual({ emit: '', stopped: false });
    expect(m.push('d|> more text')).toEqual({ emit: '', stopped: true, matched: '<|end|>' });
    expect(m.stopped).toBe(true);
    expect(m.push('ignored')).toEqual({ emit: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  it('emits text before the stop string in the same chunk', () => {
    expect(run(['###'], ['The answer is 4.### Next'])).toMatchObject({ text: 'The answer is 4.', stopped: true });
  });

  it('releases a held prefix when the next chunk breaks it ("ab" + "d" with stop "abc")', () => {
    const m = new StopMatcher(['abc']);
    expect(m.push('ab')).toEqual({ emit: '', stopped: false });
    expect(m.push('d')).toEqual({ emit: 'abd', stopped: false });
    expect(m.flush()).toBe('');
  });

  it('holds back the longest suffix that is still a prefix (overlapping prefixes)', () => {
    const m = new StopMatcher(['abac']);
    expect(m.push('xaba')).toEqual({ emit: 'x', stopped: false });
    // "xabab": "aba"+"b" breaks the first attempt, but "ab" can still start "abac"
    expect(m.push('b')).toEqual({ emit: 'ab', stopped: false });
    expect(m.push('ac!')).toEqual({ emit: '', stopped: true, matched: 'abac' });
  });

  it('holds "a" of "aab" for stop "abc" and stops at "aabc"', () => {
    const m = new StopMatcher(['abc']);
    expect(m.push('aa')).toEqual({ emit: 'a', stopped: false });
    expect(m.push('bc')).toEqual({ emit: '', stopped: true, matched: 'abc' });
  });

  it('flush() returns held-back text at the end of generation', () => {
    const m = new StopMatcher(['abc']);
    expect(m.push('xab')).toEqual({ emit: 'x', stopped: false });
    expect(m.flush()).toBe('ab');
    expect(m.flush()).toBe('');
  });

  it('handles several stop strings', () => {
    const r = run(['\n\n', 'User:'], ['Hi\nUs', 'er: x']);
    expect(r.results[0]).toEqual({ emit: 'Hi\n', stopped: false });
    expect(r).toMatchObject({ text: 'Hi\n', stopped: true, matched: 'User:' });
    expect(run(['\n\n', 'User:'], ['Hi\n', '\nUser:'])).toMatchObject({ text: 'Hi', matched: '\n\n' });
  });

  it('the stop string that completes first wins, however the text is chunked', () => {
    const stops = ['abcd', 'bc'];
    expect(run(stops, ['abcd'])).toMatchObject({ text: 'a', matched: 'bc' });
    expect(run(stops, ['a', 'b', 'c', 'd'])).toMatchObject({ text: 'a', matched: 'bc' });
    // equal ends: the longer one (starting first) wins
    expect(run(['abc', 'bc'], ['xabc'])).toMatchObject({ text: 'x', matched: 'abc' });
  });

  it('stops at the very start', () => {
    expect(run(['STOP'], ['STOP and more'])).toMatchObject({ text: '', stopped: true });
    const m = new StopMatcher(['STOP']);
    expect(m.push('ST')).toEqual({ emit: '', stopped: false });
    expect(m.push('OP')).toEqual({ emit: '', stopped: true, matched: 'STOP' });
  });

  it('ignores empty stop strings', () => {
    expect(run(['', 'z'], ['abc', 'def'])).toMatchObject({ text: 'abcdef', stopped: false });
    const m = new StopMatcher(['']);
    expect(m.push('abc')).toEqual({ emit: 'abc', stopped: false });
  });

  it('rejects non-string stops', () => {
    expect(() => new StopMatcher([1 as unknown as string])).toThrow(RangeError);
    expect(() => new StopMatcher('abc' as unknown as string[])).toThrow(RangeError);
  });

  it('agrees with a whole-text reference under random chunkings', () => {
    const rng = new Rng(99);
    const alphabet = 'ab c';
    const pick = (len: number) => Array.from({ length: len }, () => alphabet[Math.floor(rng.next() * alphabet.length)]).join('');
    let stoppedCases = 0;
    for (let trial = 0; trial < 2000; trial++) {
      const stops = Array.from({ length: 1 + Math.floor(rng.next() * 3) }, () => pick(1 + Math.floor(rng.next() * 4)));
      const text = pick(Math.floor(rng.next() * 30));
      const chunks: string[] = [];
      for (let i = 0; i < text.length; ) {
        const len = Math.floor(rng.next() * 5); // includes empty chunks
        chunks.push(text.slice(i, i + len));
        i += len;
      }
      const want = expected(stops, text);
      const got = run(stops, chunks);
      expect({ text: got.text, stopped: got.stopped }, JSON.stringify({ stops, chunks })).toEqual(want);
      // nothing is emitted that a later stop string could still claim
      // and only the longest suffix that could still start a stop string is held back
      let emitted = '';
      let seen = '';
      got.results.forEach((r, i) => {
        emitted += r.emit;
        seen += chunks[i];
        expect(want.text.startsWith(emitted)).toBe(true);
        if (!r.stopped && !got.results.slice(0, i).some((x) => x.stopped)) {
          let hold = 0;
          for (const st of stops) {
            for (let len = Math.min(st.length - 1, seen.length); len > hold; len--) {
              if (seen.endsWith(st.slice(0, len))) hold = len;
            }
          }
          expect(emitted).toBe(seen.slice(0, seen.length - hold));
        }
      });
      if (want.stopped) stoppedCases++;
    }
    expect(stoppedCases).toBeGreaterThan(200); // the random cases exercise stopping
  });
});
