/**
 * Runs once before the test files: makes sure the 1-layer SmolLM2-shaped fixtures
 * (F32 and the Q8_0/Q4_0/Q4_K_M/Q6_K quantizations, a few seconds) exist in
 * fixtures/generated/, so that the tests that use them run on a fresh clone too
 * instead of being skipped. The full-size fixtures stay opt-in (npm run fixtures).
 */
export default async function setup(): Promise<void> {
  // scripts/fixtures.mjs runs on the built library (dist/), which `npm test` builds first.
  // @ts-expect-error: plain ESM script without type declarations
  const { ensureFixtures } = (await import('../scripts/fixtures.mjs')) as { ensureFixtures: (o: object) => Promise<string[]> };
  const t0 = Date.now();
  const made: string[] = [];
  await ensureFixtures({ sets: ['tiny'], log: (line: string) => line.startsWith('wrote') && made.push(line) });
  if (made.length) console.log(`test fixtures: ${made.length} written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
