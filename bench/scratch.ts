/**
 * Where the bench keeps large files that are not what it measures, and how it gets rid of the
 * large files that are.
 *
 * On this VM (ext4 mounted with `discard`), writing and deleting gigabytes slowed the machine for
 * ~30 s afterwards: after 1.5 GB written and deleted, our proxy's CPU per request (it logs each
 * exchange to a file) rose from ~122 to ~235 µs and took half a minute to come back, and the
 * http-proxy floor's moved too. Whichever row ran next paid for it. So:
 *
 * - the 1 GiB upload source and the har-100k probe's journal and HAR (~1.3 GB), which only feed
 *   a measurement, live on tmpfs (/dev/shm) when it has room, in a folder of this process;
 * - the recording row's journal, which is what that row measures, is written to the disk as a
 *   user's would be, but after the row it is only moved aside (`.bench/spent/`), not deleted:
 *   everything there is deleted when the bench ends.
 */
import fs from 'node:fs';
import path from 'node:path';

const SHM = '/dev/shm';
let scratch: string | undefined;

/** A folder for bench-only files of up to `needBytes`: on tmpfs when it has room (with 1 GB to spare), else `workDir`. */
export function scratchDir(workDir: string, needBytes: number): string {
  if (scratch !== undefined && fs.existsSync(scratch)) return scratch;
  try {
    const s = fs.statfsSync(SHM);
    if (s.bavail * s.bsize >= needBytes + 1e9) {
      scratch = fs.mkdtempSync(path.join(SHM, 'version-proxy-bench-'));
      return scratch;
    }
  } catch {
    // No /dev/shm (or not writable): the work directory.
  }
  return workDir;
}

/** Removes the tmpfs folder, if one was made; synchronous, so it can run from process.on('exit'). */
export function removeScratch(): void {
  if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
}

/** Moves files out of the way (into `.bench/spent/`) instead of deleting them now. */
export function setAside(workDir: string, files: string[]): void {
  if (files.length === 0) return;
  const spent = path.join(workDir, 'spent');
  fs.mkdirSync(spent, { recursive: true });
  for (const file of files) fs.renameSync(file, path.join(spent, `${Date.now()}-${Math.random().toString(36).slice(2, 8)}-${path.basename(file)}`));
}

/** Deletes what was set aside (at the end of the bench, or on the way out). */
export function removeSpent(workDir: string): void {
  fs.rmSync(path.join(workDir, 'spent'), { recursive: true, force: true });
}
