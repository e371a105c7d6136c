/** The grammar flags of `tsinfer generate` as users run them (built by `npm test`'s pretest). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const MODEL = sharedPath('models', 'stories260K.gguf');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'generate', '-m', MODEL, '--backend', 'reference', '-p', 'Once', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tsinfer generate grammar flags', () => {
  const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 1, maximum: 3 } }, required: ['ok', 'n'] };

  it('-j constrains the output to the schema, ending with finish stop', () => {
    const r = run('-j', JSON.stringify(schema), '-s', '5', '-n', '40', '--json');
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout) as { text: string; finishReason: string };
    expect(o.finishReason).toBe('stop');
    const v = JSON.parse(o.text) as { ok: boolean; n: number };
    expect(typeof v.ok).toBe('boolean');
    expect([1, 2, 3]).toContain(v.n);
  });

  it('--grammar-file and --json-schema-file read files; --grammar takes the text', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsinfer-grammar-'));
    writeFileSync(path.join(dir, 'g.gbnf'), 'root ::= ("yes" | "no") "."\n');
    writeFileSync(path.join(dir, 's.json'), JSON.stringify(schema));
    const a = run('--grammar-file', path.join(dir, 'g.gbnf'), '-s', '1', '--json');
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout).text).toMatch(/^(yes|no)\.$/);
    const b = run('--json-schema-file', path.join(dir, 's.json'), '-s', '2', '-n', '40', '--json');
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(JSON.parse(b.stdout).text)).toHaveProperty('ok');
    const c = run('--grammar', 'root ::= "ab" [0-9]', '-s', '3', '--json');
    expect(JSON.parse(c.stdout).text).toMatch(/^ab[0-9]$/);
  });

  it('bad grammars, schemas and flag combinations are one-line errors', () => {
    const bad = run('--grammar', 'root ::= "a" (');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/GrammarError: expected "\)" .* at line 1, column 15/);
    const schemaErr = run('-j', '{"type":"string","format":"email"}');
    expect(schemaErr.code).toBe(1);
    expect(schemaErr.stderr).toMatch(/JsonSchemaError: string format "email" is not supported/);
    const notJson = run('-j', '{type: object}');
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/--json-schema is not valid JSON/);
    const both = run('-j', '{}', '--grammar', 'root ::= "a"');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give one of --grammar, --json-schema, not several/);
    const missing = run('--grammar-file', '/nonexistent/g.gbnf');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --grammar-file/);
  });
});
