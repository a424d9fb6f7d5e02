/**
 * The journal's files (journal.ts writes them): which file a --record path names, a fresh name
 * when one is taken, and what kind of file an fd is.
 *
 * A journal holds bodies (documents, mail, tokens a redaction list does not know), so the files
 * the proxy creates are 0600 and the folders 0700 (issue 21 finding 3), like the CA's keys. A
 * file or folder that already existed keeps the mode its owner gave it (the proxy does not chmod
 * what it did not make); an existing journal file that others can read is named in a warning
 * (a folder others can list shows only file names, so it is not).
 */
import { fstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { ProgramError } from '../errors.js';

/** Mode of the journal files the proxy creates: owner read/write only. */
export const FILE_MODE = 0o600;
/** Mode of the folders the proxy creates for them. */
export const FOLDER_MODE = 0o700;

/** Creates the folder `file` goes into, and any missing parents, with FOLDER_MODE (an existing one is left as it is). */
export function makeFolder(file: string): void {
  mkdirSync(dirname(resolve(file)), { recursive: true, mode: FOLDER_MODE });
}

/** The mode (octal text) of the regular file behind `fd` when group or others may read it; else undefined. */
export function looseMode(fd: number): string | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    const info = fstatSync(fd);
    const mode = info.mode & 0o777;
    return info.isFile() && (mode & 0o077) !== 0 ? mode.toString(8) : undefined;
  } catch {
    return undefined;
  }
}

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
      return { fd: openSync(name, 'wx', FILE_MODE), name };
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
