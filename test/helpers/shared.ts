/**
 * Locating the shared reference data (`<repo>/../shared`, i.e. /work/shared
 * next to the checkout) from tests, independent of the working directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is <repo>/test/helpers/shared.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The shared folder next to the repository. */
export const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');

/** Absolute path of a file or folder under the shared folder; throws if it is missing. */
export function sharedPath(...parts: string[]): string {
  const p = path.join(SHARED_DIR, ...parts);
  if (!existsSync(p)) {
    throw new Error(`shared reference data not found: ${p} (expected the shared folder next to the repository at ${SHARED_DIR})`);
  }
  return p;
}

/** Parsed JSON of a file under the shared folder. */
export function readSharedJson<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(sharedPath(...parts), 'utf8')) as T;
}
