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
import { openGGUF } from '../gguf/reader.js';
import { planModel } from '../model/arch/index.js';
import { BACKENDS, createBackend, defaultBackend, type Backend, type BackendName } from '../kernels/index.js';
import type { OpProfile } from '../kernels/backend.js';
import { loadWasmBuild, WA, wasmAvailable, type WasmBuild } from '../kernels/wasm/loader.js';
import { num, parseArgs, usage, UsageError } from './args.js';
import { formatBytes, formatCount, keyValues, table } from './format.js';
import { ceilingAt, ceilingsCached, ceilingsCachePath, formatCeilingRow, loadCeilings, type CeilingMode, type Ceilings } from './ceilings.js';
import { probeWebGPU } from './webgpu-probe.js';

export const BENCH_USAGE = `tsinfer bench -m FILE [-p 512] [-n 128] [-d 0] [-t THREADS] [-r REPS] [--backend wasm|reference|webgpu] [--profile] [--json]
  -p N[,N..]  prompt tokens for the ppN tests (0 skips it); comma lists as llama-bench: -p 64,512
  -n N[,N..]  generated tokens for the tgN tests (0 skips it)
  -d N[,N..]  depth: tokens already in the context before each test (default 0)
  -t N[,N..]  compute threads (wasm; default the core count); one row per combination
  -r N        repetitions (default 3), after one warm-up run
  --flash     wasm: one-pass flash attention instead of llama.cpp's non-flash numerics
  --profile   wasm: time every op on every thread; prints µs per token by op for pp and tg
  --ceilings cache|fresh|off
              wasm: this machine's WASM ceilings (DRAM read GB/s, int8/f32 MAC peaks) to report
              every figure against: measured once and cached (default), measured now, or not at all
  --json      exactly one JSON object on stdout:
              { model, backend, threads, build, results: [{ test, threads, tokensPerSecond, stddev, gbPerSecond?, ...fractions }], ceilings? }`;

export interface BenchResult {
  /** ppN or tgN, with `@ dD` when run at a depth (llama-bench's names). */
  test: string;
  threads?: number;
  depth?: number;
  tokensPerSecond: number;
  stddev: number;
  /** tg: weight bytes a decode step reads x tok/s. */
  gbPerSecond?: number;
  /** pp: matmul multiply-adds per token x tok/s, in 1e9/s. */
  gmacPerSecond?: number;
  /** tg: gbPerSecond over this machine's measured DRAM read ceiling at the same thread count. */
  ofDramRead?: number;
  /** pp: gmacPerSecond over the measured SIMD128 MAC peak at the same thread count (int8, or f32 for float weights). */
  ofMacPeak?: number;
  /** Per repetition, tok/s. */
  samples: number[];
}

export interface BenchReport {
  model: string;
  /** Multiply-adds of the matmuls per token (their weights' element count). */
  macsPerToken: number;
  /** Whether every matmul weight is a float type (F32, F16, BF16): pp is then set against the f32 MAC peak. */
  floatWeights: boolean;
  backend: BackendName;
  threads: number;
  build: string;
  /** The KV cache's type and, where the backend says, how it is stored (wasm: binary16 or f32 slots). */
  kvCache?: string;
  /** Matrices the backend stores in another block type than the file's (wasm: Q5_0 and Q5_1 expanded). */
  expandedWeights?: string;
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
    a.work.forEach((v, t) => {
      r.work[t]! += ((v - b.work[t]!) * 1000) / tokens;
    });
    a.wait.forEach((v, t) => {
      r.wait[t]! += ((v - b.wait[t]!) * 1000) / tokens;
    });
    r.count++;
    rows.set(key, r);
  });
  return [...rows.values()];
}

export function formatProfile(rows: ProfileRow[]): string {
  const nth = rows[0]?.work.length ?? 0;
  const total = {
    op: 'total',
    count: rows.reduce((s, r) => s + r.count, 0),
    work: rows[0]!.work.map((_, t) => rows.reduce((s, r) => s + r.work[t]!, 0)),
    wait: rows[0]!.wait.map((_, t) => rows.reduce((s, r) => s + r.wait[t]!, 0)),
  };
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
  /** Prompt lengths of the pp tests (0 or [] for none). */
  prompt: number | number[];
  /** Token counts of the tg tests. */
  generate: number | number[];
  /** Context depths every test runs at (default [0]). */
  depth?: number | number[];
  repetitions: number;
  flashAttention?: boolean;
  /** Time every op per thread during the decode test (wasm backend). */
  profile?: boolean;
}

/** A number-or-list option as a list (negative entries dropped). */
const list = (x: number | number[] | undefined, dflt: number[]): number[] => (x === undefined ? dflt : Array.isArray(x) ? x : [x]).filter((v) => v >= 0);
const testName = (kind: string, n: number, depth: number) => `${kind}${n}${depth > 0 ? ` @ d${depth}` : ''}`;

/** A model loaded on a backend for timing: the pieces runBench and bench/side-by-side.mjs share. */
export interface BenchSession {
  readonly backend: Backend;
  /** Weight bytes every decode step reads (each matmul weight once), and the matmuls' multiply-adds per token. */
  readonly bytesPerToken: number;
  readonly macsPerToken: number;
  /** Every matmul weight is F32, F16 or BF16. */
  readonly floatWeights: boolean;
  readonly vocabSize: number;
  /** Fills the context with `depth` random tokens, untimed (batches of at most 512). */
  fill(depth: number): Promise<void>;
  /** One prompt batch of `tokens` random tokens at position `depth` (logits of the last only): tok/s. */
  pp(tokens: number, depth: number): Promise<number>;
  /** `tokens` greedy single-token steps from position `depth` (the context must hold `depth` tokens): tok/s. */
  tg(tokens: number, depth: number): Promise<number>;
  close(): void;
}

/** Opens `file` on a backend with room for `contextLength` positions and prompt batches of `maxBatch`. */
export async function openBenchSession(o: {
  file: string;
  backend: BackendName;
  threads?: number;
  flashAttention?: boolean;
  profile?: boolean;
  contextLength: number;
  maxBatch: number;
}): Promise<BenchSession> {
  const file = await openGGUF(o.file);
  let backend: Backend | undefined;
  try {
    const { program, hyperparameters: hp } = planModel(file, 'f16');
    backend = await createBackend(o.backend, { threads: o.threads, flashAttention: o.flashAttention, profile: o.profile });
    await backend.init({ file, program, contextLength: o.contextLength, maxBatch: o.maxBatch, onProgress: undefined });
    const matmulWeights = [...new Set(program.ops.flatMap((op) => (op.op === 'matmul' ? [op.weight] : [])))].map((n) => file.tensor(n)!);
    const b = backend;
    const fill = async (depth: number) => {
      const toks = randomTokens(depth, hp.vocabSize, 3);
      for (let p = 0; p < depth; p += o.maxBatch) await b.forward({ tokens: toks.subarray(p, Math.min(depth, p + o.maxBatch)), pos: p, allLogits: false });
    };
    // Greedy decode as the generate loop runs it: on-device argmax when the backend has one.
    const step = b.forwardArgmax ? (s: { tokens: Int32Array; pos: number; allLogits: boolean }) => b.forwardArgmax!(s) : (s: { tokens: Int32Array; pos: number; allLogits: boolean }) => b.forward(s);
    return {
      backend: b,
      bytesPerToken: matmulWeights.reduce((s, t) => s + t.nBytes, 0),
      macsPerToken: matmulWeights.reduce((s, t) => s + t.nElements, 0),
      floatWeights: matmulWeights.every((t) => ['F32', 'F16', 'BF16'].includes(t.type.name)),
      vocabSize: hp.vocabSize,
      fill,
      async pp(tokens, depth) {
        const toks = randomTokens(tokens, hp.vocabSize, 1);
        const t0 = performance.now();
        await b.forward({ tokens: toks, pos: depth, allLogits: false });
        return tokens / ((performance.now() - t0) / 1000);
      },
      async tg(tokens, depth) {
        const toks = randomTokens(tokens, hp.vocabSize, 2);
        const t0 = performance.now();
        for (let i = 0; i < tokens; i++) await step({ tokens: toks.subarray(i, i + 1), pos: depth + i, allLogits: false });
        return tokens / ((performance.now() - t0) / 1000);
      },
      close() {
        b.dispose();
        file.close();
      },
    };
  } catch (e) {
    backend?.dispose();
    file.close();
    throw e;
  }
}

/** Runs the pp and tg tests (every prompt length and token count, at every depth); the library entry point of `tsinfer bench`. */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const prompts = list(o.prompt, []).filter((p) => p > 0);
  const gens = list(o.generate, []).filter((n) => n > 0);
  const depths = list(o.depth, [0]);
  const maxDepth = Math.max(0, ...depths);
  const session = await openBenchSession({
    file: o.file,
    backend: o.backend,
    threads: o.threads,
    flashAttention: o.flashAttention,
    profile: o.profile,
    contextLength: Math.max(1, maxDepth + Math.max(0, ...prompts, ...gens)),
    maxBatch: Math.max(1, ...prompts, Math.min(maxDepth, 512)),
  });
  const b = session.backend;
  try {
    const results: BenchResult[] = [];
    let perToken: Record<string, number> | undefined;
    let profile: ProfileRow[] | undefined;
    let profilePrompt: ProfileRow[] | undefined;
    for (const depth of depths) {
      for (const P of prompts) {
        await session.fill(depth);
        await session.pp(P, depth);
        const samples: number[] = [];
        const prof0 = b.profile?.();
        for (let r = 0; r < o.repetitions; r++) samples.push(await session.pp(P, depth));
        const prof1 = b.profile?.();
        if (prof0 && prof1) profilePrompt = profileRows(prof0, prof1, P * o.repetitions);
        const { mean, std } = meanStd(samples);
        results.push({ test: testName('pp', P, depth), depth, tokensPerSecond: mean, stddev: std, gmacPerSecond: (mean * session.macsPerToken) / 1e9, samples });
      }
      for (const N of gens) {
        await session.fill(depth);
        await session.tg(N, depth);
        const samples: number[] = [];
        let before = b.getCounters?.();
        const prof0 = b.profile?.();
        for (let r = 0; r < o.repetitions; r++) {
          before = b.getCounters?.();
          samples.push(await session.tg(N, depth));
        }
        const after = b.getCounters?.();
        const prof1 = b.profile?.();
        if (prof0 && prof1) profile = profileRows(prof0, prof1, N * o.repetitions);
        if (before && after) perToken = Object.fromEntries(Object.keys(after).map((k) => [k, (after[k]! - (before![k] ?? 0)) / N]));
        const { mean, std } = meanStd(samples);
        results.push({ test: testName('tg', N, depth), depth, tokensPerSecond: mean, stddev: std, gbPerSecond: (mean * session.bytesPerToken) / 1e9, samples });
      }
    }
    const d = b.describe();
    const threads = Number(d.threads ?? 1);
    for (const r of results) r.threads = threads;
    const file = await openGGUF(o.file);
    const parameters = file.tensors.reduce((s, t) => s + t.nElements, 0);
    const fileBytes = file.tensors.reduce((s, t) => s + t.nBytes, 0);
    const model = file.getString('general.name') ?? basename(o.file);
    file.close();
    const { loadavg } = await import('node:os');
    return {
      model,
      macsPerToken: session.macsPerToken,
      floatWeights: session.floatWeights,
      backend: o.backend,
      threads,
      build: String(d.build ?? o.backend),
      ...(d.kvStorage ? { kvCache: `${String(d.kvCacheType)}, stored as ${String(d.kvStorage)}` } : {}),
      ...(d.expandedQ5 && d.expandedQ5 !== 'none' ? { expandedWeights: String(d.expandedQ5) } : {}),
      bytesPerToken: session.bytesPerToken,
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
    session.close();
  }
}

/** Sets each result's fractions of the ceilings measured at its thread count (tg: DRAM read; pp: the MAC peak). */
export function addFractions(r: BenchReport, c: Ceilings | undefined): void {
  for (const x of r.results) {
    const at = ceilingAt(c, x.threads ?? r.threads);
    if (!at) continue;
    if (x.gbPerSecond !== undefined) x.ofDramRead = x.gbPerSecond / at.dramReadGBps;
    if (x.gmacPerSecond !== undefined) x.ofMacPeak = x.gmacPerSecond / (r.floatWeights ? at.f32GMACs : Math.max(at.i8GMACs, at.i8RelaxedGMACs ?? 0));
  }
}

const pct = (x: number | undefined, what: string) => (x === undefined ? '' : `${(100 * x).toFixed(0)} % ${what}`);

export function formatBenchTable(reports: BenchReport[], fileName: string): string {
  const rows = reports.flatMap((r) =>
    r.results.map((x) => [
      fileName,
      formatBytes(r.fileBytes),
      formatCount(r.parameters),
      `${r.backend} (${r.build})`,
      String(x.threads ?? r.threads),
      x.test,
      `${x.tokensPerSecond.toFixed(2)} ± ${x.stddev.toFixed(2)}`,
      x.gbPerSecond === undefined ? '' : x.gbPerSecond.toFixed(2),
      x.ofDramRead !== undefined ? pct(x.ofDramRead, 'of DRAM read') : pct(x.ofMacPeak, `of ${r.floatWeights ? 'f32' : 'int8'} MAC peak`),
    ]),
  );
  return table(['model', 'size', 'params', 'backend', 'threads', 'test', 't/s', 'GB/s', 'of ceiling'], rows, new Set([1, 2, 4, 6, 7, 8]));
}

/** A comma list of integers for a flag (`-p 64,512`). */
function numList(value: string | undefined, flag: string, opts: { min: number; max: number }): number[] | undefined {
  if (value === undefined) return undefined;
  const xs = value.split(',').map((v) => num(v, flag, { integer: true, ...opts })!);
  return [...new Set(xs)];
}

export async function cmdBench(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string', short: 'm' },
        'n-prompt': { type: 'string', short: 'p' },
        'n-gen': { type: 'string', short: 'n' },
        'n-depth': { type: 'string', short: 'd' },
        threads: { type: 'string', short: 't' },
        repetitions: { type: 'string', short: 'r' },
        backend: { type: 'string' },
        flash: { type: 'boolean' },
        json: { type: 'boolean' },
        profile: { type: 'boolean' },
        ceilings: { type: 'string' },
      },
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.model) throw new UsageError(`bench needs a model: -m FILE\n${BENCH_USAGE}`);
  const backend = (values.backend ?? (await defaultBackend())) as BackendName;
  if (!BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got "${values.backend}"`);
  const mode = (values.ceilings ?? 'cache') as CeilingMode;
  if (!['cache', 'fresh', 'off'].includes(mode)) throw new UsageError(`--ceilings must be cache, fresh or off, got "${values.ceilings}"`);
  const threadList = numList(values.threads, '--threads', { min: 1, max: 256 }) ?? [undefined];
  const prompts = numList(values['n-prompt'], '-p', { min: 0, max: 1 << 16 }) ?? [512];
  const gens = numList(values['n-gen'], '-n', { min: 0, max: 1 << 16 }) ?? [128];
  const depths = numList(values['n-depth'], '-d', { min: 0, max: 1 << 20 }) ?? [0];
  const repetitions = num(values.repetitions, '-r', { integer: true, min: 1, max: 1000 }) ?? 3;
  const reports: BenchReport[] = [];
  for (const threads of threadList) {
    reports.push(
      await runBench({
        file: values.model,
        backend,
        threads,
        prompt: prompts,
        generate: gens,
        depth: depths,
        repetitions,
        flashAttention: values.flash === true,
        profile: values.profile === true,
      }),
    );
  }
  let ceilings: Ceilings | undefined;
  let ceilingNote = '';
  if (backend === 'wasm' && mode !== 'off') {
    try {
      const cached = mode === 'cache' && ceilingsCached(reports.map((r) => r.threads));
      if (!cached) process.stderr.write(`measuring this machine's WASM ceilings (once; cached in ${ceilingsCachePath()})…\n`);
      ceilings = await loadCeilings(
        reports.map((r) => r.threads),
        mode,
      );
      for (const r of reports) addFractions(r, ceilings);
    } catch (e) {
      ceilingNote = `ceilings not measured: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    }
  }
  const report = reports[0]!;
  const kernelVariants = backend === 'wasm' ? (loadWasmBuild().variants ?? 'baseline for every type') : undefined;
  if (values.profile && !report.profile && !report.profilePrompt) process.stderr.write(`--profile: the ${backend} backend does not time its ops\n`);
  if (values.json) {
    const threadsOut = reports.length === 1 ? report.threads : reports.map((r) => r.threads);
    const last = reports[reports.length - 1]!;
    process.stdout.write(
      JSON.stringify({
        model: report.model,
        backend: report.backend,
        threads: threadsOut,
        build: report.build,
        ...(kernelVariants ? { kernelVariants } : {}),
        ...(report.kvCache ? { kvCache: report.kvCache } : {}),
        results: reports.flatMap((r) => r.results.map(({ samples: _samples, ...x }) => x)),
        ...(last.profilePrompt ? { profilePrompt: last.profilePrompt } : {}),
        ...(last.profile ? { profile: last.profile } : {}),
        ...(last.perToken ? { perToken: last.perToken, deviceBytes: last.deviceBytes, fileBytes: last.fileBytes, weightBytesPerToken: last.bytesPerToken } : {}),
        ...(ceilings ? { ceilings: { cpu: ceilings.cpu, date: ceilings.date, byThreads: ceilings.byThreads.filter((c) => reports.some((r) => r.threads === c.threads)) } } : {}),
        ...(ceilingNote ? { ceilingNote } : {}),
      }) + '\n',
    );
  } else {
    process.stdout.write(formatBenchTable(reports, basename(values.model)) + '\n');
    if (kernelVariants) process.stdout.write(`wasm kernels per type: ${kernelVariants}\n`);
    if (report.kvCache) process.stdout.write(`KV cache: ${report.kvCache}\n`);
    if (report.expandedWeights) process.stdout.write(`weights: ${report.expandedWeights} (same results; the GB/s above count the file's bytes)\n`);
    process.stdout.write(
      `weights read per decode token: ${formatBytes(report.bytesPerToken)}; matmul MACs per token: ${formatCount(report.macsPerToken)}; load average ${report.loadAverage.map((x) => x.toFixed(2)).join(' ')}\n`,
    );
    if (ceilings) {
      for (const r of reports) {
        const at = ceilingAt(ceilings, r.threads);
        if (at) process.stdout.write(`ceilings (${ceilings.cpu}, measured ${ceilings.date.slice(0, 16)}): ${formatCeilingRow(at)}\n`);
      }
      if (ceilings.loadAverage[0]! > ceilings.cores)
        process.stdout.write(
          `the ceilings were measured at load average ${ceilings.loadAverage[0]!.toFixed(1)} on ${ceilings.cores} cores (too low, fractions too high): --ceilings fresh on a quiet machine\n`,
        );
    }
    if (ceilingNote) process.stdout.write(ceilingNote + '\n');
    for (const r of reports) {
      const tag = reports.length > 1 ? ` (${r.threads} threads)` : '';
      if (r.perToken) {
        const c = r.perToken;
        const mem = r.deviceBytes === undefined ? '' : `; device memory ${formatBytes(r.deviceBytes)} (file ${formatBytes(r.fileBytes)})`;
        process.stdout.write(`per decode token${tag}: ${c.submits ?? '?'} submits, ${c.dispatches ?? '?'} dispatches, ${c.bytesReadBack ?? '?'} bytes read back${mem}\n`);
      }
      if (r.profilePrompt) process.stdout.write(`\nper prompt token (pp)${tag}, by op:\n${formatProfile(r.profilePrompt)}\n`);
      if (r.profile) process.stdout.write(`\nper decode token (tg)${tag}, by op:\n${formatProfile(r.profile)}\n`);
    }
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
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    0x01,
    0x05,
    0x01,
    0x60,
    0x00,
    0x01,
    0x7b, // type: () -> v128
    0x03,
    0x02,
    0x01,
    0x00, // one function of type 0
    0x0a,
    body.length + 2,
    0x01,
    body.length,
    ...body,
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
  wasm: { available: boolean; build: string; threads: number; sharedArrayBuffer: boolean; relaxedSimd: string; kernelVariants: string };
}

/** One line naming a WASM build and what it uses. */
function describeWasmBuild(b: WasmBuild): string {
  return b.name === 'relaxed-simd' ? 'relaxed-simd: SIMD128 + threads, int8 dot products in relaxed SIMD (AssemblyScript)' : 'simd: baseline SIMD128 + threads (AssemblyScript)';
}

export async function runtimeInfo(): Promise<RuntimeInfo> {
  let build: WasmBuild | undefined;
  let failure = '';
  try {
    build = loadWasmBuild();
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  const relaxedNote = !build ? `unknown: ${failure}` : build.name === 'relaxed-simd' ? `in use: ${build.detail}` : build.note || `not used: ${build.detail}`;
  return {
    node: process.version,
    v8: process.versions.v8,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    defaultBackend: await defaultBackend(),
    wasm: {
      available: wasmAvailable(),
      build: build ? describeWasmBuild(build) : `none: ${failure}`,
      threads: availableParallelism(),
      sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
      relaxedSimd: relaxedNote,
      kernelVariants: !build ? 'unknown' : (build.variants ?? 'baseline for every type (this build has no relaxed kernels)'),
    },
  };
}

export const INFO_USAGE = `usage: tsinfer info [--json]
  runtime, CPU, default backend, WASM build (baseline / relaxed SIMD), threads, and whether WebGPU is available
`;

export async function cmdInfo(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
      },
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const info = { ...(await runtimeInfo()), webgpu: await probeWebGPU() };
  if (values.json) {
    process.stdout.write(JSON.stringify(info) + '\n');
    return 0;
  }
  const rows: [string, string][] = [
    ['node', `${info.node} (V8 ${info.v8})`],
    ['cpu', `${info.cpu}, ${info.cores} cores`],
    ['default backend', info.defaultBackend],
    ['wasm', info.wasm.available ? 'available' : 'not available (needs SIMD128, threads, SharedArrayBuffer)'],
    ['wasm build', info.wasm.build],
    ['wasm relaxed SIMD', info.wasm.relaxedSimd],
    ['wasm kernels per type', info.wasm.kernelVariants],
    ['wasm threads', `${info.wasm.threads} (main thread + ${info.wasm.threads - 1} worker${info.wasm.threads === 2 ? '' : 's'}; -t to change)`],
    [
      'webgpu',
      info.webgpu.available
        ? `available: ${info.webgpu.adapter} (shader-f16 ${info.webgpu.shaderF16 ? 'yes' : 'no'}, subgroups ${info.webgpu.subgroups ? 'yes' : 'no'})`
        : `not available: ${info.webgpu.reason}`,
    ],
  ];
  process.stdout.write(keyValues(rows) + '\n');
  return 0;
}
