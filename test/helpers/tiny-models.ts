/** Small model files derived from stories260K for tests that need an odd shape. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openGGUF } from '../../src/gguf/reader.js';
import { gv, metadataOf, tensorChunks, writeGGUF, type GGUFWriteValue } from '../../src/gguf/writer.js';
import { sharedPath } from './shared.js';

/**
 * stories260K cut to its first layer, with its 64-wide attention read as 16 heads of 4 (8 KV heads,
 * rope over all 4 dims): a valid Llama with head size 4, which the wasm attention kernel does not take.
 */
export async function headSize4Model(): Promise<string> {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'tsinfer-hs4-')), 'stories-1l-hs4.gguf');
  const f = await openGGUF(sharedPath('models', 'stories260K.gguf'));
  try {
    const set: Record<string, number> = { 'llama.block_count': 1, 'llama.attention.head_count': 16, 'llama.attention.head_count_kv': 8, 'llama.rope.dimension_count': 4 };
    const meta = metadataOf(f).map(([k, v]): [string, GGUFWriteValue] => [k, k in set ? gv.u32(set[k]!) : v]);
    const tensors = f.tensors.filter((t) => !/^blk\.[1-9]/.test(t.name)).map((t) => ({ name: t.name, typeId: t.typeId, shape: t.shape, data: () => tensorChunks(f, t.name) }));
    await writeGGUF(out, meta, tensors);
  } finally {
    f.close();
  }
  return out;
}
