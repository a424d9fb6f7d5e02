/**
 * The control server's bearer token: 32 random bytes per run, base64url (RFC 6750 §2.1 allows
 * those characters), written to a file only its owner can read, so that the run's test code
 * (same user) can use the API and nobody else on the machine can.
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ProgramError } from '../errors.js';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Writes the token to `file` (mode 0600), creating its directory (0700) when missing. Written to
 * a temporary file and renamed: an old token file with wider permissions is replaced, never
 * rewritten in place, and a reader never sees half a token.
 */
export function writeTokenFile(file: string, token: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${token}\n`, { mode: 0o600, flag: 'w' });
    chmodSync(temporary, 0o600);
    renameSync(temporary, file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ProgramError('ERR_BAD_OPTION', `--control-token-file ${file} cannot be written (${reason})`, 'choose a writable place with --control-token-file FILE, or turn the control server off with --no-control');
  }
}

/**
 * Removes the token file at shutdown, when it still holds this run's token: a dead token is no
 * use to anyone, and another run started since with the same file has written its own, which
 * stays. Best effort: shutdown goes on whatever happens here.
 */
export function removeTokenFile(file: string, token: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === token) unlinkSync(file);
  } catch {
    // Already gone, or not ours to read any more.
  }
}

/**
 * Compares a presented token with the run's in constant time. Both are hashed first, so the
 * comparison neither fails early nor tells the token's length (timingSafeEqual needs equal lengths).
 */
export function tokenMatches(presented: string, token: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
