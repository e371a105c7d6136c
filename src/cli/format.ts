import type { GGUFMetaValue } from '../gguf/reader.js';
import { GGUFValueType, valueTypeName } from '../gguf/reader.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)} K`;
  return String(n);
}

function short(s: string, max: number): string {
  const one = JSON.stringify(s);
  return one.length > max ? one.slice(0, max - 1) + '…"' : one;
}

/** Shortest decimal that reads back as the same float32. */
export function formatF32(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

/** One metadata value for a table: arrays show their length, element type and first elements. */
export function formatMeta(v: GGUFMetaValue, max = 60): string {
  const val = v.value;
  if (v.type === GGUFValueType.ARRAY) {
    const arr = val as ArrayLike<unknown>;
    const head: string[] = [];
    let len = 0;
    for (let i = 0; i < arr.length && len < max; i++) {
      const e = arr[i];
      const s =
        typeof e === 'string' ? short(e, 20) : typeof e === 'bigint' ? e.toString() : Array.isArray(e) ? `[${e.length}]` : v.elementType === GGUFValueType.FLOAT32 ? formatF32(e as number) : String(e);
      head.push(s);
      len += s.length + 2;
    }
    const more = arr.length > head.length ? ', …' : '';
    return `[${arr.length} × ${valueTypeName(v.elementType ?? -1)}] [${head.join(', ')}${more}]`;
  }
  if (typeof val === 'string') return short(val, max);
  if (v.type === GGUFValueType.FLOAT32) return formatF32(val as number);
  return String(val);
}

/** Left-aligned text table with a header row. */
export function table(header: string[], rows: string[][], rightAlign: Set<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAlign.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Key-value lines with the values aligned (no header row). */
export function keyValues(rows: [string, string][]): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n');
}

export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>, (x) => (typeof x === 'bigint' ? String(x) : x));
  return value;
}

/**
 * A `loading FILE: NN%` line on stderr for model loading (undefined when `show` is false);
 * `clear()` erases it once the model is loaded.
 */
export function loadProgress(file: string, show: boolean): { onProgress?: (p: { loadedBytes: number; totalBytes: number }) => void; clear: () => void } {
  if (!show) return { clear: () => {} };
  let lastPct = -1;
  return {
    onProgress: (p) => {
      const pct = Math.floor((100 * p.loadedBytes) / Math.max(1, p.totalBytes));
      if (pct !== lastPct) process.stderr.write(`\rloading ${file}: ${pct}%`);
      lastPct = pct;
    },
    clear: () => process.stderr.write('\r\x1b[K'),
  };
}
