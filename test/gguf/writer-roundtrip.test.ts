import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openGGUF } from '../../src/gguf/reader.js';
import { copyGGUF } from '../../src/gguf/writer.js';
import { SHARED_DIR, sharedPath } from '../helpers/shared.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-roundtrip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const vocabDir = sharedPath('vocab');
const files = [
  sharedPath('models', 'stories260K.gguf'),
  ...readdirSync(vocabDir)
    .filter((f) => f.endsWith('.gguf'))
    .map((f) => path.join(vocabDir, f)),
  sharedPath('vocab', 'smollm2', 'smollm2-vocab.gguf'),
];

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

describe('GGUF writer round trip', () => {
  it.each(files.map((f) => [path.relative(SHARED_DIR, f), f]))('%s is rewritten byte for byte', async (_name, file) => {
    const g = await openGGUF(file);
    const out = path.join(dir, path.basename(file));
    try {
      if (g.version !== 3) return; // only v3 is written
      const layout = await copyGGUF(g, out);
      expect(layout.fileSize).toBe(statSync(file).size);
    } finally {
      g.close();
    }
    const a = readFileSync(file);
    const b = readFileSync(out);
    expect(firstDifference(a, b), `first differing byte of ${file}`).toBe(-1);
  });
});
