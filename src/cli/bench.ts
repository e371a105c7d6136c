/**
 * `tsinfer bench` (llama-bench style: prompt processing ppN and text
 * generation tgN, tok/s ± stddev over repetitions, achieved GB/s of weight
 * reads for decode) and `tsinfer info` (runtime, WASM build, threads).
 *
 * The bench drives a backend directly, as llama-bench drives llama.cpp: a
 * prompt of random tokens evaluated as one batch with logits for its last
 * token only, and N single-token decode steps from an empty cache.
 */
import { availableParallelism, cpus } from 'node:os';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { openGGUF } from '../gguf/reader.js';
import { planModel } from '../model/arch/index.js';
import { BACKENDS, createBackend, defaultBackend, type Backend, type BackendName } from '../kernels/index.js';
import type { OpProfile } from '../kernels/backend.js';
import { loadWasmBuild, WA, wasmAvailable, type WasmBuild } from '../kernels/wasm/loader.js';
import { num, usage, UsageError } from './args.js';
import { formatBytes, formatCount, table } from './format.js';

export const BENCH_USAGE = `tsinfer bench -m FILE [-p 512] [-n 128] [-t THREADS] [-r REPS] [--backend wasm|reference|webgpu] [--profile] [--json]
  -p N        prompt tokens for the ppN test (0 skips it)
  -n N        generated tokens for the tgN test (0 skips it)
  -t N        compute threads (wasm; default the core count)
  -r N        repetitions (default 3), after one warm-up run
  --flash     wasm: one-pass flash attention instead of llama.cpp's non-flash numerics
  --profile   wasm: time every op on every thread; prints µs per token by op for pp and tg
  --json      exactly one JSON object on stdout:
              { model, backend, threads, build, results: [{ test, tokensPerSecond, stddev, gbPerSecond? }] }`;

export interface BenchResult {
  test: string;
  tokensPerSecond: number;
  stddev: number;
  gbPerSecond?: number;
  /** Per repetition, tok/s. */
  samples: number[];
}

export interface BenchReport {
  model: string;
  backend: BackendName;
  threads: number;
  build: string;
  /** Bytes of weights a decode step reads (every matrix a matmul touches, once). */
  bytesPerToken: number;
  fileBytes: number;
  parameters: number;
  loadAverage: number[];
  results: BenchResult[];
  /**
   * Work per decoded token (last tg repetition), for backends that count it
   * (WebGPU: submits, dispatches, bytesReadBack, bytesWritten), plus the
   * device memory the backend allocated (deviceBytes, WebGPU: gpuBytes).
   */
  perToken?: Record<string, number>;
  deviceBytes?: number;
  /** With the profile option: per decoded token, microseconds per op kind (layers summed) and thread. */
  profile?: ProfileRow[];
  /** The same for the prompt test, per prompt token. */
  profilePrompt?: ProfileRow[];
}

export interface ProfileRow {
  /** Op kind, layer numbers folded (`matmul blk.*.ffn_up.weight`). */
  op: string;
  /** Ops of this kind per step. */
  count: number;
  /** µs per token inside the op, per thread. */
  work: number[];
  /** µs per token in the barrier after it, per thread. */
  wait: number[];
}

/** Per-token µs by op kind from two profile snapshots taken `tokens` tokens apart. */
export function profileRows(before: OpProfile[], after: OpProfile[], tokens: number): ProfileRow[] {
  const rows = new Map<string, ProfileRow>();
  after.forEach((a, i) => {
    const b = before[i]!;
    const key = a.op.replace(/blk\.\d+\./, 'blk.*.');
    const r = rows.get(key) ?? { op: key, count: 0, work: a.work.map(() => 0), wait: a.wait.map(() => 0) };
    a.work.forEach((v, t) => (r.work[t]! += ((v - b.work[t]!) * 1000) / tokens));
    a.wait.forEach((v, t) => (r.wait[t]! += ((v - b.wait[t]!) * 1000) / tokens));
    r.count++;
    rows.set(key, r);
  });
  return [...rows.values()];
}

export function formatProfile(rows: ProfileRow[]): string {
  const nth = rows[0]?.work.length ?? 0;
  const total = { op: 'total', count: rows.reduce((s, r) => s + r.count, 0), work: rows[0]!.work.map((_, t) => rows.reduce((s, r) => s + r.work[t]!, 0)), wait: rows[0]!.wait.map((_, t) => rows.reduce((s, r) => s + r.wait[t]!, 0)) };
  const head = ['op', 'per step', ...Array.from({ length: nth }, (_, t) => `work µs t${t}`), ...Array.from({ length: nth }, (_, t) => `wait µs t${t}`)];
  const body = [...rows, total].map((r) => [r.op, String(r.count), ...r.work.map((v) => v.toFixed(1)), ...r.wait.map((v) => v.toFixed(1))]);
  return table(head, body, new Set(Array.from({ length: head.length - 1 }, (_, i) => i + 1)));
}

function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

/** Deterministic pseudo-random token ids in [1, vocab). */
function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 1 + (s % (vocab - 1));
  });
}

export interface BenchOptions {
  file: string;
  backend: BackendName;
  threads?: number;
  prompt: number;
  generate: number;
  repetitions: number;
  flashAttention?: boolean;
  /** Time every op per thread during the decode test (wasm backend). */
  profile?: boolean;
}

/** Runs the pp and tg tests; the library entry point of `tsinfer bench` (also used by bench/). */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const file = await openGGUF(o.file);
  let backend: Backend | undefined;
  try {
    const { program, hyperparameters: hp } = planModel(file, 'f16');
    const contextLength = Math.max(1, o.prompt, o.generate);
    backend = createBackend(o.backend, { threads: o.threads, flashAttention: o.flashAttention, profile: o.profile });
    await backend.init({ file, program, contextLength, maxBatch: Math.max(1, o.prompt), onProgress: undefined });
    const matmulWeights = new Set(program.ops.flatMap((op) => (op.op === 'matmul' ? [op.weight] : [])));
    const bytesPerToken = [...matmulWeights].reduce((s, n) => s + file.tensor(n)!.nBytes, 0);
    const d = backend.describe();
    const results: BenchResult[] = [];
    let perToken: Record<string, number> | undefined;
    let profile: ProfileRow[] | undefined;
    let profilePrompt: ProfileRow[] | undefined;
    if (o.prompt > 0) {
      const toks = randomTokens(o.prompt, hp.vocabSize, 1);
      await backend.forward({ tokens: toks, pos: 0, allLogits: false });
      const samples: number[] = [];
      const prof0 = backend.profile?.();
      for (let r = 0; r < o.repetitions; r++) {
        const t0 = performance.now();
        await backend.forward({ tokens: toks, pos: 0, allLogits: false });
        samples.push(o.prompt / ((performance.now() - t0) / 1000));
      }
      const prof1 = backend.profile?.();
      if (prof0 && prof1) profilePrompt = profileRows(prof0, prof1, o.prompt * o.repetitions);
      const { mean, std } = meanStd(samples);
      results.push({ test: `pp${o.prompt}`, tokensPerSecond: mean, stddev: std, samples });
    }
    if (o.generate > 0) {
      const toks = randomTokens(o.generate, hp.vocabSize, 2);
      const b = backend;
      // Greedy decode as the generate loop runs it: on-device argmax when the backend has one.
      const step = b.forwardArgmax ? (s: { tokens: Int32Array; pos: number; allLogits: boolean }) => b.forwardArgmax!(s) : (s: { tokens: Int32Array; pos: number; allLogits: boolean }) => b.forward(s);
      const run = async () => {
        const t0 = performance.now();
        for (let i = 0; i < o.generate; i++) await step({ tokens: toks.subarray(i, i + 1), pos: i, allLogits: false });
        return o.generate / ((performance.now() - t0) / 1000);
      };
      await run();
      const samples: number[] = [];
      let before = b.getCounters?.();
      const prof0 = b.profile?.();
      for (let r = 0; r < o.repetitions; r++) {
        before = b.getCounters?.();
        samples.push(await run());
      }
      const after = b.getCounters?.();
      const prof1 = b.profile?.();
      if (prof0 && prof1) profile = profileRows(prof0, prof1, o.generate * o.repetitions);
      if (before && after) perToken = Object.fromEntries(Object.keys(after).map((k) => [k, (after[k]! - (before![k] ?? 0)) / o.generate]));
      const { mean, std } = meanStd(samples);
      results.push({ test: `tg${o.generate}`, tokensPerSecond: mean, stddev: std, gbPerSecond: (mean * bytesPerToken) / 1e9, samples });
    }
    const parameters = file.tensors.reduce((s, t) => s + t.nElements, 0);
    const fileBytes = file.tensors.reduce((s, t) => s + t.nBytes, 0);
    const { loadavg } = await import('node:os');
    return {
      model: file.getString('general.name') ?? basename(o.file),
      backend: o.backend,
      threads: Number(d.threads ?? 1),
      build: String(d.build ?? o.backend),
      bytesPerToken,
      fileBytes,
      parameters,
      loadAverage: loadavg(),
      results,
      ...(perToken ? { perToken } : {}),
      ...(profile ? { profile } : {}),
      ...(profilePrompt ? { profilePrompt } : {}),
      ...(typeof d.gpuBytes === 'number' ? { deviceBytes: d.gpuBytes } : {}),
    };
  } finally {
    backend?.dispose();
    file.close();
  }
}

export function formatBenchTable(r: BenchReport, fileName: string): string {
  const rows = r.results.map((x) => [
    fileName, formatBytes(r.fileBytes), formatCount(r.parameters), `${r.backend} (${r.build})`, String(r.threads), x.test,
    `${x.tokensPerSecond.toFixed(2)} ± ${x.stddev.toFixed(2)}`, x.gbPerSecond === undefined ? '' : x.gbPerSecond.toFixed(2),
  ]);
  return table(['model', 'size', 'params', 'backend', 'threads', 'test', 't/s', 'GB/s'], rows, new Set([1, 2, 4, 6, 7]));
}

export async function cmdBench(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({ args: argv, allowPositionals: true, strict: true, options: {
    model: { type: 'string', short: 'm' },
    'n-prompt': { type: 'string', short: 'p' },
    'n-gen': { type: 'string', short: 'n' },
    threads: { type: 'string', short: 't' },
    repetitions: { type: 'string', short: 'r' },
    backend: { type: 'string' },
    flash: { type: 'boolean' },
    json: { type: 'boolean' },
    profile: { type: 'boolean' },
  } }));
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.model) throw new UsageError(`bench needs a model: -m FILE\n${BENCH_USAGE}`);
  const backend = (values.backend ?? defaultBackend()) as BackendName;
  if (!BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got "${values.backend}"`);
  const report = await runBench({
    file: values.model,
    backend,
    threads: num(values.threads, '--threads', { integer: true, min: 1, max: 256 }),
    prompt: num(values['n-prompt'], '-p', { integer: true, min: 0, max: 1 << 16 }) ?? 512,
    generate: num(values['n-gen'], '-n', { integer: true, min: 0, max: 1 << 16 }) ?? 128,
    repetitions: num(values.repetitions, '-r', { integer: true, min: 1, max: 1000 }) ?? 3,
    flashAttention: values.flash === true,
    profile: values.profile === true,
  });
  if (values.profile && !report.profile && !report.profilePrompt) process.stderr.write(`--profile: the ${backend} backend does not time its ops\n`);
  if (values.json) {
    process.stdout.write(JSON.stringify({
      model: report.model, backend: report.backend, threads: report.threads, build: report.build,
      results: report.results.map(({ test, tokensPerSecond, stddev, gbPerSecond }) => (gbPerSecond === undefined ? { test, tokensPerSecond, stddev } : { test, tokensPerSecond, stddev, gbPerSecond })),
      ...(report.profilePrompt ? { profilePrompt: report.profilePrompt } : {}),
      ...(report.profile ? { profile: report.profile } : {}),
      ...(report.perToken ? { perToken: report.perToken, deviceBytes: report.deviceBytes, fileBytes: report.fileBytes, weightBytesPerToken: report.bytesPerToken } : {}),
    }) + '\n');
  } else {
    process.stdout.write(formatBenchTable(report, basename(values.model)) + '\n');
    process.stdout.write(`weights read per decode token: ${formatBytes(report.bytesPerToken)}; load average ${report.loadAverage.map((x) => x.toFixed(2)).join(' ')}\n`);
    if (report.perToken) {
      const c = report.perToken;
      const mem = report.deviceBytes === undefined ? '' : `; device memory ${formatBytes(report.deviceBytes)} (file ${formatBytes(report.fileBytes)})`;
      process.stdout.write(`per decode token: ${c.submits ?? '?'} submits, ${c.dispatches ?? '?'} dispatches, ${c.bytesReadBack ?? '?'} bytes read back${mem}\n`);
    }
    if (report.profilePrompt) process.stdout.write(`\nper prompt token (pp), by op:\n${formatProfile(report.profilePrompt)}\n`);
    if (report.profile) process.stdout.write(`\nper decode token (tg), by op:\n${formatProfile(report.profile)}\n`);
  }
  return 0;
}

/**
 * Whether this engine validates a module using one relaxed-SIMD instruction (f32x4.relaxed_madd) as it
 * is now (on Node 20 that is true only after the WASM loader has set V8's relaxed-SIMD flag).
 */
export function engineHasRelaxedSimd(): boolean {
  const c = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...c, ...c, ...c, 0xfd, 0x85, 0x02, 0x0b];
  const bytes = Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
    0x03, 0x02, 0x01, 0x00, // one function of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body,
  ]);
  try {
    return WA.validate(bytes);
  } catch {
    return false;
  }
}

export interface RuntimeInfo {
  node: string;
  v8: string;
  cpu: string;
  cores: number;
  defaultBackend: BackendName;
  wasm: { available: boolean; build: string; threads: number; sharedArrayBuffer: boolean; relaxedSimd: string };
}

/** One line naming a WASM build and what it uses. */
function describeWasmBuild(b: WasmBuild): string {
  return b.name === 'relaxed-simd'
    ? 'relaxed-simd: SIMD128 + threads, int8 dot products in relaxed SIMD (AssemblyScript)'
    : 'simd: baseline SIMD128 + threads (AssemblyScript)';
}

export function runtimeInfo(): RuntimeInfo {
  let build: WasmBuild | undefined;
  let failure = '';
  try {
    build = loadWasmBuild();
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  const relaxedNote = !build
    ? `unknown: ${failure}`
    : build.name === 'relaxed-simd'
      ? `in use: ${build.detail}`
      : build.note || `not used: ${build.detail}`;
  return {
    node: process.version,
    v8: process.versions.v8,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    defaultBackend: defaultBackend(),
    wasm: {
      available: wasmAvailable(),
      build: build ? describeWasmBuild(build) : `none: ${failure}`,
      threads: availableParallelism(),
      sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
      relaxedSimd: relaxedNote,
    },
  };
}

export async function cmdInfo(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({ args: argv, allowPositionals: true, strict: true, options: {
    json: { type: 'boolean' },
  } }));
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const info = runtimeInfo();
  if (values.json) {
    process.stdout.write(JSON.stringify(info) + '\n');
    return 0;
  }
  const rows: string[][] = [
    ['node', `${info.node} (V8 ${info.v8})`],
    ['cpu', `${info.cpu}, ${info.cores} cores`],
    ['default backend', info.defaultBackend],
    ['wasm', info.wasm.available ? 'available' : 'not available (needs SIMD128, threads, SharedArrayBuffer)'],
    ['wasm build', info.wasm.build],
    ['wasm relaxed SIMD', info.wasm.relaxedSimd],
    ['wasm threads', `${info.wasm.threads} (main thread + ${info.wasm.threads - 1} worker${info.wasm.threads === 2 ? '' : 's'}; -t to change)`],
  ];
  process.stdout.write(table(['', ''], rows) + '\n');
  return 0;
}
