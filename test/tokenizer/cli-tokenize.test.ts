/** `tsinfer tokenize` on vocabulary-only byte-level BPE files (bin/tsinfer.js, built dist/). */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/model/model.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

function tokenize(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'tsinfer.js'), 'tokenize', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tsinfer tokenize on BPE vocabularies', () => {
  it('SmolLM2: special tokens only with --parse-special', async () => {
    const file = sharedPath('vocab/smollm2/smollm2-vocab.gguf');
    const text = 'Hello <|im_end|> 2024!';
    const tok = await loadTokenizer(file);
    const plain = tokenize(['-m', file, text]);
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout)).toEqual(tok.encode(text, { addSpecial: true }));
    const special = tokenize(['-m', file, '--parse-special', text]);
    expect(JSON.parse(special.stdout)).toContain(2);
    expect(JSON.parse(plain.stdout)).not.toContain(2);
  });

  it('Llama 3 (llama-bpe): BOS by default, none with --no-bos', () => {
    const file = sharedPath('vocab/ggml-vocab-llama-bpe.gguf');
    expect(JSON.parse(tokenize(['-m', file, 'Hello world']).stdout)).toEqual([128000, 9906, 1917]);
    expect(JSON.parse(tokenize(['-m', file, '--no-bos', 'Hello world']).stdout)).toEqual([9906, 1917]);
  });
});
