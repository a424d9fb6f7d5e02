/**
 * The journal's files (journal.ts writes them): which file a --record path names, a fresh name
 * when one is taken, and what kind of file an fd is.
 */
import { fstatSync, openSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { ProgramError } from '../errors.js';

/** `recordings` → `recordings/2026-11-22T10-15-30Z.ndjson`; `x.ndjson` stays as named. */
export function resolveFile(path: string): { file: string; explicit: boolean } {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    isDir = extname(path) === '' || path.endsWith('/');
  }
  if (!isDir) return { file: path, explicit: true };
  // Colons are not allowed in Windows file names: 2026-11-22T10-15-30Z sorts and reads as well.
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  return { file: join(path, `${stamp}.ndjson`), explicit: false };
}

/** A new file; `-2`, `-3`, … when one of that name exists (two runs in one second). */
export function openFresh(file: string): { fd: number; name: string } {
  const stem = file.slice(0, -extname(file).length);
  for (let n = 1; n < 1000; n++) {
    const name = n === 1 ? file : `${stem}-${n}${extname(file)}`;
    try {
      return { fd: openSync(name, 'wx'), name };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new ProgramError('ERR_JOURNAL', `cannot find a free name next to ${file}`, 'clean up the recordings folder or pass --record FILE');
}

export function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

export function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
