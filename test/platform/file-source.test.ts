/**
 * FileSource (src/platform/node.ts): positioned reads return the file's bytes, whether a read goes
 * straight into the destination (64 KiB or less) or through its reused 1 MiB buffer (more), across
 * chunk boundaries, from odd offsets, and short at the end of the file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSource } from '../../src/platform/node.js';

const dir = mkdtempSync(join(tmpdir(), 'tsinfer-file-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 3 * (1 << 20) + 12345;
const bytes = new Uint8Array(SIZE);
let s = 12345;
for (let i = 0; i < SIZE; i++) {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
  bytes[i] = s >>> 24;
}
const path = join(dir, 'data.bin');
writeFileSync(path, bytes);

describe('FileSource.readInto', () => {
  const cases: Array<[string, number, number]> = [
    ['small, direct', 7, 1000],
    ['64 KiB exactly, direct', 65536, 65536],
    ['just over 64 KiB, through the buffer', 3, 65537],
    ['several buffer lengths and a partial one', 1000001, 2 * (1 << 20) + 777],
    ['the whole file', 0, SIZE],
  ];
  for (const [name, pos, len] of cases) {
    it(`${name} (${len} bytes at ${pos})`, () => {
      const src = new FileSource(path);
      try {
        const dst = new Uint8Array(len);
        expect(src.readInto(pos, dst)).toBe(len);
        expect(Buffer.from(dst).equals(Buffer.from(bytes.subarray(pos, pos + len)))).toBe(true);
      } finally {
        src.close();
      }
    });
  }
  it('stops short at the end of the file, leaving the rest untouched', () => {
    const src = new FileSource(path);
    try {
      for (const len of [1000, 5 * (1 << 20)]) {
        const pos = SIZE - 500;
        const dst = new Uint8Array(len).fill(0xee);
        expect(src.readInto(pos, dst)).toBe(500);
        expect(Buffer.from(dst.subarray(0, 500)).equals(Buffer.from(bytes.subarray(pos)))).toBe(true);
        expect(dst.subarray(500).every((b) => b === 0xee)).toBe(true);
      }
    } finally {
      src.close();
    }
  });
});
