/**
 * Recordings that cannot fill a disk. Recording is on by default, and under load a journal grows
 * fast (127 MB in 5 s was seen with 1 KiB bodies), so two bounds hold it, each saying on the log
 * and in the journal what it did, never silently:
 *
 * - `--record-max`: the recording's files together stay under this size. When over, the oldest
 *   files go first (by modification time), never the file being written. In a recordings folder
 *   (the default, `recordings/`) that is every `.ndjson` file in it; for a journal named with
 *   `--record FILE`, only that journal's own parts (`FILE`, `<stem>.partN.ndjson`), since the
 *   folder around it is the user's.
 * - `--record-min-free`: the free space on the journal's file system. Below it, bodies stop being
 *   captured (exchange lines keep their heads and facts); below half of it, exchanges stop being
 *   recorded at all. Each change of state is a `capture` line in the journal, and the line that
 *   ends a state counts what it left out. The state is re-read every CHECK_MS, not per exchange.
 */
import { readdirSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Logger } from 'pino';
import { JOURNAL_VERSION, type CaptureLine } from './entry.js';

/** How often the folder size and the free space are read again. */
export const CHECK_MS = 2000;

export type CaptureState = CaptureLine['state'];

export interface RecordingGuardOptions {
  /** The journal file being written now (asked again at each check: it changes as it rotates). */
  current(): string;
  /** True when the journal is a file the journal named itself in a recordings folder. */
  folderMode: boolean;
  /** Bytes the recording's files may take together; 0: no bound. */
  maxBytes: number;
  /** Free bytes below which bodies stop being captured (half of it: exchanges); 0: no guard. */
  minFreeBytes: number;
  /** Writes one line to the journal. */
  append(line: object): void;
  /** Told of each file deleted for --record-max (the journal's index stops pointing into it). */
  deleted?(file: string): void;
  logger: Logger;
  /** Free bytes on the file system holding `file` (a seam for tests). */
  freeBytes?: (file: string) => number;
}

export class RecordingGuard {
  state: CaptureState = 'full';
  private bodiesLeftOut = 0;
  private exchangesLeftOut = 0;
  /** Left out since the start, never reset (the control plane's metrics). */
  readonly leftOut = { bodies: 0, exchanges: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly freeBytes: (file: string) => number;

  constructor(private readonly options: RecordingGuardOptions) {
    this.freeBytes = options.freeBytes ?? statfsFree;
    this.check();
    this.timer = setInterval(() => this.check(), CHECK_MS);
    this.timer.unref();
  }

  /** Whether the next exchange is written, and with its bodies; counts what is left out. */
  admit(hasBodies: boolean): CaptureState {
    if (this.state === 'off') {
      this.exchangesLeftOut += 1;
      this.leftOut.exchanges += 1;
    } else if (this.state === 'no-bodies' && hasBodies) {
      this.bodiesLeftOut += 1;
      this.leftOut.bodies += 1;
    }
    return this.state;
  }

  /** Reads the free space and the recording's size now; public for tests and for the close. */
  check(): void {
    if (this.options.minFreeBytes > 0) this.checkFree();
    if (this.options.maxBytes > 0) this.trim();
  }

  close(): void {
    clearInterval(this.timer);
    // A run that ends while left short says how much it left out.
    if (this.state !== 'full') this.enter('full', 'the proxy stopped');
  }

  private checkFree(): void {
    let free: number;
    try {
      free = this.freeBytes(this.options.current());
    } catch {
      return; // the file system cannot be asked: nothing to decide on
    }
    const min = this.options.minFreeBytes;
    const off = min / 2;
    // Going back up takes 10 % more than the line, so a disk hovering at it does not flap.
    const up = (line: number): number => line * 1.1;
    let want: CaptureState;
    if (free < off) want = 'off';
    else if (free < min) want = this.state === 'off' && free < up(off) ? 'off' : 'no-bodies';
    else want = this.state !== 'full' && free < up(min) ? 'no-bodies' : 'full';
    if (want !== this.state) this.enter(want, `${mib(free)} free on the journal's file system (--record-min-free ${mib(min)})`, free);
  }

  private enter(state: CaptureState, reason: string, free?: number): void {
    const line: CaptureLine = {
      v: JOURNAL_VERSION,
      type: 'capture',
      time: Date.now(),
      state,
      reason,
      ...(free !== undefined && { freeBytes: free }),
      ...(this.bodiesLeftOut > 0 && { bodiesLeftOut: this.bodiesLeftOut }),
      ...(this.exchangesLeftOut > 0 && { exchangesLeftOut: this.exchangesLeftOut }),
    };
    const words = state === 'full' ? 'recording everything again' : state === 'no-bodies' ? 'recording exchanges without their bodies' : 'not recording exchanges';
    const log = state === 'full' ? this.options.logger.info.bind(this.options.logger) : this.options.logger.warn.bind(this.options.logger);
    log({ reason, bodiesLeftOut: this.bodiesLeftOut, exchangesLeftOut: this.exchangesLeftOut }, `journal: ${words}`);
    this.state = state;
    this.bodiesLeftOut = 0;
    this.exchangesLeftOut = 0;
    this.options.append(line);
  }

  /** Deletes the oldest of the recording's files until they fit under --record-max. */
  private trim(): void {
    const current = this.options.current();
    const files = this.recordingFiles(current);
    let total = files.reduce((sum, f) => sum + f.size, 0);
    if (total <= this.options.maxBytes) return;
    for (const file of files.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
      if (total <= this.options.maxBytes) break;
      if (file.path === current) continue;
      try {
        unlinkSync(file.path);
      } catch {
        continue;
      }
      total -= file.size;
      this.options.deleted?.(file.path);
      this.options.logger.info({ deleted: file.path, bytes: file.size, total, max: this.options.maxBytes }, `journal: deleted the oldest recording to stay under --record-max ${mib(this.options.maxBytes)}`);
    }
  }

  private recordingFiles(current: string): Array<{ path: string; size: number; mtimeMs: number }> {
    const folder = dirname(current);
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return [];
    }
    const ours = this.options.folderMode ? (name: string) => name.endsWith('.ndjson') : partsOf(current);
    const files: Array<{ path: string; size: number; mtimeMs: number }> = [];
    for (const name of names) {
      if (!ours(name)) continue;
      try {
        const st = statSync(join(folder, name));
        if (st.isFile()) files.push({ path: join(folder, name), size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // gone meanwhile
      }
    }
    return files;
  }
}

/** `x.ndjson`, `x.part2.ndjson`, … for the journal `x.ndjson` (or one of its parts). */
function partsOf(current: string): (name: string) => boolean {
  const ext = extname(current);
  const stem = basename(current, ext).replace(/\.part\d+$/, '');
  return (name) => name === `${stem}${ext}` || (name.startsWith(`${stem}.part`) && name.endsWith('.ndjson') && /^\d+$/.test(name.slice(stem.length + 5, -'.ndjson'.length)));
}

function statfsFree(file: string): number {
  const st = statfsSync(dirname(file));
  return st.bavail * st.bsize;
}

function mib(bytes: number): string {
  return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : `${Math.round(bytes / (1 << 20))} MiB`;
}
