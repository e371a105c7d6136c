/** Small UTF-8 helpers shared by the tokenizers. */

const encoder = new TextEncoder();
/** Non-fatal (invalid bytes become U+FFFD) and keeps a leading BOM. */
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes UTF-8 bytes; invalid sequences become U+FFFD (WHATWG rules), a BOM is kept. */
export function utf8Decode(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Byte length of `s` in UTF-8 (a lone surrogate counts 3, like U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Replaces lone surrogates with U+FFFD, as encoding to UTF-8 would. */
export function toWellFormed(s: string): string {
  let out: string[] | undefined;
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    (out ??= []).push(s.slice(last, i), '\ufffd');
    last = i + 1;
  }
  if (out === undefined) return s;
  out.push(s.slice(last));
  return out.join('');
}
