/** The ceilings benchmark measured for real, small: every figure is there and positive (speeds are not asserted). */
import { describe, expect, it } from 'vitest';
import { ceilingsTable, measureCeilings } from '../../src/cli/ceilings.js';

describe('measureCeilings', () => {
  it('measures DRAM and cache reads and the MAC peaks at 1 and 2 threads', async () => {
    const c = await measureCeilings({ threads: [2, 1], dramBytes: 16 << 20, cacheBytes: 64 << 10, repetitions: 1, macIterations: 200_000 });
    expect(c.byThreads.map((r) => r.threads)).toEqual([1, 2]);
    for (const r of c.byThreads) {
      for (const k of ['dramReadGBps', 'dramReadTwoStreamsGBps', 'cacheReadGBps', 'f32GMACs', 'f32SubnormalGMACs', 'i8GMACs'] as const) {
        expect(r[k], `${k} at ${r.threads} threads`).toBeGreaterThan(0);
      }
      // Node 20 validates relaxed SIMD once its flag is set
      expect(r.i8RelaxedGMACs).toBeGreaterThan(0);
    }
    expect(ceilingsTable(c).split('\n')).toHaveLength(4);
  }, 120_000);
});
