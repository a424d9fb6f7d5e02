/** The ERR_* catalogue in src/errors.ts and the README's table list the same codes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../src/errors.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('error catalogue', () => {
  it('README documents every ERR_* code, and no other', () => {
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    assert.deepEqual(documented, Object.keys(ERROR_CODES).sort());
  });
});
