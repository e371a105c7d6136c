/**
 * Code point classes as llama.cpp's `unicode.cpp` sees them, and the GPT-2 byte-to-unicode
 * mapping used by byte-level BPE vocabularies.
 *
 * llama.cpp keeps one flag word per code point: exactly one general-category bit (\p{N}, \p{L},
 * \p{Z}, \p{M}, \p{P}, \p{S}, \p{C}, or UNDEFINED for unassigned code points) plus a
 * whitespace bit taken from Unicode's White_Space property. The categories here come from the
 * JavaScript engine's Unicode tables, computed lazily per block of 256 code points.
 *
 * Known difference: llama.cpp's table is generated from an older Unicode release than recent
 * JavaScript engines use (Node 20.20: Unicode 16), so code points assigned since (Egyptian
 * Hieroglyphs Extended-A, Garay, Todhri, ...) are letters/symbols here and unassigned there,
 * which can cut text around them differently. Everything assigned in both agrees.
 */

export const CpFlag = {
  UNDEFINED: 0x01,
  NUMBER: 0x02,
  LETTER: 0x04,
  SEPARATOR: 0x08,
  MARK: 0x10,
  PUNCTUATION: 0x20,
  SYMBOL: 0x40,
  CONTROL: 0x80,
  CATEGORIES: 0xff,
  WHITESPACE: 0x100,
} as const;

/** Unicode White_Space (PropList.txt), the set llama.cpp's `unicode_set_whitespace` holds. */
const WHITESPACE = [
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
];

const MAX_CP = 0x110000;
const flags = new Uint16Array(MAX_CP);
/** One bit per block of 256 code points: 1 when the block's flags are computed. */
const ready = new Uint8Array(MAX_CP >> 8);

const CATEGORY = /(\p{L})|(\p{N})|(\p{P})|(\p{M})|(\p{S})|(\p{Z})|(\p{Cn})|(\p{C})/u;
const CATEGORY_FLAGS = [0, CpFlag.LETTER, CpFlag.NUMBER, CpFlag.PUNCTUATION, CpFlag.MARK, CpFlag.SYMBOL, CpFlag.SEPARATOR, CpFlag.UNDEFINED, CpFlag.CONTROL];

function fillBlock(block: number): void {
  const base = block << 8;
  for (let cp = base; cp < base + 256; cp++) {
    let f: number = CpFlag.CONTROL; // surrogates (Cs)
    if (cp < 0xd800 || cp > 0xdfff) {
      const m = CATEGORY.exec(String.fromCodePoint(cp));
      f = CpFlag.UNDEFINED;
      if (m !== null) {
        for (let g = 1; g < m.length; g++) {
          if (m[g] !== undefined) {
            f = CATEGORY_FLAGS[g]!;
            break;
          }
        }
      }
    }
    flags[cp] = f;
  }
  for (const w of WHITESPACE) if (w >> 8 === block) flags[w] = flags[w]! | CpFlag.WHITESPACE;
  ready[block] = 1;
}

// ASCII and Latin-1 are needed by nearly every text: fill them up front.
fillBlock(0);

/** The flag word of a code point (0 for values outside the Unicode range, as llama.cpp's "out of range"). */
export function cpFlags(cp: number): number {
  if (cp < 0 || cp >= MAX_CP) return 0;
  const b = cp >> 8;
  if (ready[b] === 0) fillBlock(b);
  return flags[cp]!;
}

/** True when `cp` lies in one of the inclusive [first, last] ranges. */
export function inRanges(cp: number, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [a, b] of ranges) if (cp >= a && cp <= b) return true;
  return false;
}

export function isWhitespaceCp(cp: number): boolean {
  return (cpFlags(cp) & CpFlag.WHITESPACE) !== 0;
}

/** Simple lowercase mapping of one code point (UnicodeData.txt's, as llama.cpp's `unicode_tolower`). */
export function toLowerCp(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp;
  // The one code point whose full lowercase (SpecialCasing.txt) is longer than its simple one.
  if (cp === 0x130) return 0x69;
  const s = String.fromCodePoint(cp);
  const l = s.toLowerCase();
  // Only one-to-one mappings count (llama.cpp's table maps single code points).
  const c = l.codePointAt(0)!;
  return l.length === (c > 0xffff ? 2 : 1) ? c : cp;
}

// ---- GPT-2 bytes <-> unicode ----

/** Byte value → the character GPT-2's byte-level BPE uses for it. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out = new Array<string>(256);
  const direct = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = direct(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  return out;
})();

/** Char code of a byte-level character → byte value, -1 for characters that are not one. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const out = new Int16Array(512).fill(-1);
  for (let b = 0; b < 256; b++) out[BYTE_TO_CHAR[b]!.charCodeAt(0)] = b;
  return out;
})();
