// Stop strings over a stream of text chunks.
//
// The matcher emits text as soon as it can no longer be part of a stop string.
// It holds back only the longest suffix of the text seen so far that is a
// proper prefix of some stop string; everything before that suffix is emitted.
// Because the held suffix is the longest such one, a stop string can never
// begin in text already emitted.
//
// When stop strings complete, the one that completes first in the text wins
// (smallest end offset; on equal ends the one that starts first, i.e. the
// longer one). This makes the result independent of how the text is split into
// chunks: feeding "abcd" at once or one character at a time with stops
// ["abcd", "bc"] both stop at "bc" and emit "a". Text before the stop string is
// emitted, the stop string itself and anything after it are dropped, and the
// matcher stays stopped.

export interface StopPushResult {
  /** Text that is safe to show now. */
  emit: string;
  /** True once a stop string has completed; generation should end. */
  stopped: boolean;
  /** The stop string that matched (only when `stopped`). */
  matched?: string;
}

export class StopMatcher {
  private readonly stops: readonly string[];
  private held = '';
  private done = false;

  constructor(stops: readonly string[]) {
    if (!Array.isArray(stops)) {
      throw new RangeError('StopMatcher: stops must be an array of strings');
    }
    const seen = new Set<string>();
    for (const s of stops) {
      if (typeof s !== 'string') {
        throw new RangeError(`StopMatcher: stop strings must be strings, got ${typeof s}`);
      }
      if (s.length > 0) seen.add(s); // empty stop strings are ignored
    }
    this.stops = [...seen];
  }

  /** True after a stop string has completed. */
  get stopped(): boolean {
    return this.done;
  }

  push(text: string): StopPushResult {
    if (this.done) return { emit: '', stopped: true };
    if (this.stops.length === 0) return { emit: text, stopped: false };

    const buf = this.held + text;

    // Earliest-completing stop string.
    let bestStart = -1;
    let bestEnd = Infinity;
    let bestStop = '';
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at < 0) continue;
      const end = at + s.length;
      if (end < bestEnd || (end === bestEnd && at < bestStart)) {
        bestStart = at;
        bestEnd = end;
        bestStop = s;
      }
    }
    if (bestStart >= 0) {
      this.done = true;
      this.held = '';
      return { emit: buf.slice(0, bestStart), stopped: true, matched: bestStop };
    }

    // Hold back the longest suffix of buf that is a proper prefix of a stop string.
    let hold = 0;
    for (const s of this.stops) {
      const maxLen = Math.min(s.length - 1, buf.length);
      for (let len = maxLen; len > hold; len--) {
        if (buf.endsWith(s.slice(0, len))) {
          hold = len;
          break;
        }
      }
    }
    this.held = buf.slice(buf.length - hold);
    return { emit: buf.slice(0, buf.length - hold), stopped: false };
  }

  /** End of generation: returns the held-back text (empty once stopped). */
  flush(): string {
    const out = this.held;
    this.held = '';
    return out;
  }
}
