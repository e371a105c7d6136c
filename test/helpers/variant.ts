/** Variants of a GGUF file rebuilt with the test-only GGUF builder (changed metadata, dropped or changed tensors). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GGUFValueType, openGGUFSync, type GGUFMetaValue } from '../../src/gguf/reader.js';
import { arr, buildGGUF, type TensorSpec, type VTName, type WValue } from '../gguf/writer-helper.js';
import { sharedPath } from './shared.js';

const NAMES = Object.keys({ u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 }) as VTName[];

function toW(type: number, value: unknown): WValue {
  const t = NAMES[type]!;
  if (t === 'array') throw new Error('nested');
  return { t, v: value } as WValue;
}
function metaToW(m: GGUFMetaValue): WValue {
  if (m.type !== GGUFValueType.ARRAY) return toW(m.type, m.value);
  const of = NAMES[m.elementType!]!;
  return arr(
    of,
    Array.from(m.value as ArrayLike<unknown>, (v) => toW(m.elementType!, v)),
  );
}

const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-llama-'));
let n = 0;

/** stories260K (or `source`) rebuilt with changes (metadata keys changed or added, tensors dropped, changed or added); returns the new file's path. */
export function variant(opts: { meta?: Record<string, WValue>; drop?: string[]; tensor?: (t: TensorSpec) => TensorSpec; add?: TensorSpec[]; source?: string }): string {
  const src = openGGUFSync(opts.source ?? sharedPath('models', 'stories260K.gguf'));
  try {
    const meta: [string, WValue][] = [...src.metadata].map(([k, v]) => [k, opts.meta?.[k] ?? metaToW(v)]);
    const tensors: TensorSpec[] = src.tensors
      .filter((t) => !opts.drop?.includes(t.name))
      .map((t) => (opts.tensor ?? ((x) => x))({ name: t.name, type: t.typeId, shape: t.shape, data: src.readTensor(t) }))
      .concat(opts.add ?? []);
    for (const [k, v] of Object.entries(opts.meta ?? {})) if (!meta.some(([mk]) => mk === k)) meta.push([k, v]);
    const file = path.join(dir, `v${n++}.gguf`);
    writeFileSync(file, buildGGUF(meta, tensors).bytes);
    return file;
  } finally {
    src.close();
  }
}
