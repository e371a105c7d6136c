/**
 * The package as users get it: `npm pack`, installed from the tarball into a new project, then
 *  - test/package/consumer/use.ts type-checks with tsc --strict under nodenext, without skipLibCheck
 *    (the published declarations must not need devDependencies such as @webgpu/types), and
 *  - runs under node as an ES module: one generation on stories260K;
 *  - consumer/require.cjs: require('tsinfer') loads where Node can require ES modules and fails
 *    with Node's "use import()" error elsewhere.
 * dist/ comes from `npm test`'s pretest build; the pack skips the prepare script. The install takes
 * @huggingface/jinja from npm's cache when it is there (--prefer-offline), the registry otherwise.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

const MODEL = sharedPath('models', 'stories260K.gguf');
const DIR = mkdtempSync(path.join(tmpdir(), 'tsinfer-package-'));
const PROJECT = path.join(DIR, 'project');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function sh(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${x.stdout ?? ''}${x.stderr ?? x.message}`);
  }
}

beforeAll(() => {
  const packed = JSON.parse(sh(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', DIR], REPO_ROOT)) as { filename: string }[];
  mkdirSync(PROJECT);
  writeFileSync(path.join(PROJECT, 'package.json'), JSON.stringify({ name: 'tsinfer-consumer', private: true, type: 'module' }));
  sh(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', path.join(DIR, packed[0]!.filename)], PROJECT);
  cpSync(path.join(REPO_ROOT, 'test', 'package', 'consumer'), PROJECT, { recursive: true });
  // A Node user's own type packages (not tsinfer's): @types/node and what it needs.
  mkdirSync(path.join(PROJECT, 'node_modules', '@types'), { recursive: true });
  symlinkSync(path.join(REPO_ROOT, 'node_modules', '@types', 'node'), path.join(PROJECT, 'node_modules', '@types', 'node'), 'dir');
  symlinkSync(path.join(REPO_ROOT, 'node_modules', 'undici-types'), path.join(PROJECT, 'node_modules', 'undici-types'), 'dir');
}, 300_000);

describe('the packed tarball in a new project', () => {
  it('installs only its runtime dependency (no devDependencies such as @webgpu/types)', () => {
    const mods = readdirSync(path.join(PROJECT, 'node_modules')).filter((m) => m !== '@types' && m !== 'undici-types' && !m.startsWith('.'));
    expect(mods.sort()).toEqual(['@huggingface', 'tsinfer']);
    expect(readdirSync(path.join(PROJECT, 'node_modules', '@types'))).toEqual(['node']);
  });

  it('type-checks a user of the API with tsc --strict --module nodenext, without skipLibCheck', () => {
    const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const out = (() => {
      try {
        return sh(process.execPath, [tsc, '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck', 'false', 'use.ts'], PROJECT);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(out).toBe('');
  }, 240_000);

  it('runs one generation as an ES module', () => {
    const r = JSON.parse(sh(process.execPath, ['use.js', MODEL], PROJECT)) as { text: string; streamed: string; tokens: number[]; reason: string; oneShot: number; tensors: number; q8max: number };
    expect(r.tokens).toHaveLength(8);
    expect(r.text).toBe(r.streamed);
    expect(r.text).toMatch(/^, there was/);
    expect(r.reason).toBe('length');
    expect(r.oneShot).toBe(3);
    expect(r.tensors).toBe(48);
    expect(r.q8max).toBeLessThan(0.02);
  }, 120_000);

  it('require() loads it where Node can require ES modules, else says to use import()', () => {
    const r = JSON.parse(sh(process.execPath, ['require.cjs'], PROJECT)) as { required?: string; code?: string; message?: string };
    if ((process.features as { require_module?: boolean }).require_module) expect(r).toEqual({ required: 'function' });
    else {
      expect(r.code).toBe('ERR_REQUIRE_ESM');
      expect(r.message).toMatch(/import\(\)/);
    }
  });
});
