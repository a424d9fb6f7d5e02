/**
 * The `har-100k` probe (issue 6: "converting a 100,000-exchange journal to HAR takes < 30 s with
 * peak RSS < 200 MB"): writes a synthetic journal of 100,000 exchanges (record-journal.ts; ~0.6
 * GB) into .bench/, converts it with `har` in a process of its own, exactly as ./proxy runs it (its
 * node flags, without the ensure step that may rebuild first), and measures that process: wall
 * time from spawn to exit, peak RSS (VmHWM from /proc/PID/status, sampled every 50 ms; it is a
 * high-water mark, so only the last 50 ms could escape it) and CPU time.
 *
 * The HAR (~0.7 GB) is checked cheaply, without parsing it whole: its head opens a HAR 1.2 log
 * with an entries array, its tail closes the array and the log, and it holds one
 * `"startedDateTime":` per exchange (counted while streaming; a body can only hold that text
 * JSON-escaped, `\"startedDateTime\"`, which does not match). Both files are deleted afterwards,
 * and on any way out of the harness (run.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSeconds } from './cpu.js';
import type { BenchConfig } from './measure.js';
import { isRunning, startService, stopService } from './proc.js';
import { writeSyntheticJournal, type ExchangeShape } from './record-journal.js';
import { peakRss } from './rss.js';
import { scratchDir } from './scratch.js';
import type { Context } from './subjects.js';

/** The acceptance's count, also with --quick (a conversion is seconds, not minutes). */
export const HAR_EXCHANGES = 100_000;
export const HAR_MAX_SECONDS = 30;
export const HAR_MAX_RSS_MB = 200;

/** The node flags of ./proxy's `exec node … "$here/dist/src/cli.js"` line: the converter runs as a user's would. */
function proxyNodeFlags(root: string): string[] {
  const line = /^exec node (.*?) "\$here\/dist\/src\/cli\.js"/m.exec(fs.readFileSync(path.join(root, 'proxy'), 'utf8'));
  if (line === null) throw new Error('bench: no `exec node … "$here/dist/src/cli.js"` line in ./proxy');
  return line[1]!.split(/\s+/).filter((flag) => flag.startsWith('--'));
}
/** Far past the target: a slow converter is measured, a stuck one is stopped. */
const TIMEOUT_MS = 600_000;
const SAMPLE_MS = 50;
/** Journal ~0.6 GB + HAR ~0.7 GB, with room to spare. */
const FREE_BYTES_NEEDED = 2e9;

const JOURNAL = 'har-100k.ndjson';
const HAR = 'har-100k.har';

export interface HarRun {
  probe: 'har-100k';
  run: number;
  error?: string;
  notes: string[];
  exchanges: number;
  journal?: { bytes: number; seconds: number; mix: Record<ExchangeShape, number> };
  /** The conversion: spawn to exit. */
  seconds?: number;
  cpuSeconds?: number;
  /** Bytes. */
  rssPeak?: number;
  harBytes?: number;
  /** `"startedDateTime":` occurrences in the HAR. */
  entries?: number;
}

/** Deletes the probe's files; synchronous, so it can run from process.on('exit'). */
export function removeHarFiles(workDir: string): void {
  for (const name of [JOURNAL, HAR]) fs.rmSync(path.join(workDir, name), { force: true });
}

export async function measureHar(ctx: Context, _cfg: BenchConfig, run: number, log: (line: string) => void): Promise<HarRun> {
  const result: HarRun = { probe: 'har-100k', run, notes: [], exchanges: HAR_EXCHANGES };
  // On tmpfs when it has room (scratch.ts: gigabytes written and deleted on this VM's disk slowed
  // the rows that came after).
  const dir = scratchDir(ctx.workDir, FREE_BYTES_NEEDED);
  const journal = path.join(dir, JOURNAL);
  const har = path.join(dir, HAR);
  removeHarFiles(dir);
  try {
    const free = freeBytes(dir);
    if (free !== undefined && free < FREE_BYTES_NEEDED) throw new Error(`only ${(free / 1e9).toFixed(1)} GB free in ${dir}; the journal and the HAR need ~1.3 GB`);
    const written = await writeSyntheticJournal(journal, HAR_EXCHANGES);
    result.journal = { bytes: written.bytes, seconds: written.seconds, mix: written.mix };
    log(`  journal of ${HAR_EXCHANGES.toLocaleString('en-US')} exchanges written: ${(written.bytes / 1e6).toFixed(0)} MB in ${written.seconds.toFixed(1)} s`);
    await convert(ctx, journal, har, result);
    log(`  har: ${result.seconds?.toFixed(1) ?? '?'} s, peak RSS ${((result.rssPeak ?? 0) / 1e6).toFixed(0)} MB, CPU ${result.cpuSeconds?.toFixed(1) ?? '?'} s`);
    const check = await checkHar(har);
    result.harBytes = check.bytes;
    result.entries = check.entries;
    const problems = [...check.problems, ...(check.entries === HAR_EXCHANGES ? [] : [`${check.entries} entries ("startedDateTime") for ${HAR_EXCHANGES} exchanges`])];
    if (problems.length > 0) throw new Error(`the HAR is not what the journal holds: ${problems.join('; ')}`);
    log(`  HAR ${(check.bytes / 1e6).toFixed(0)} MB, ${check.entries.toLocaleString('en-US')} entries, head and tail well-formed`);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`  har-100k failed: ${result.error}`);
  } finally {
    removeHarFiles(dir);
  }
  return result;
}

function freeBytes(dir: string): number | undefined {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** `node <./proxy's flags> dist/src/cli.js har JOURNAL -o HAR`, sampled until it exits. */
async function convert(ctx: Context, journal: string, har: string, result: HarRun): Promise<void> {
  const cli = path.join(ctx.root, 'dist', 'src', 'cli.js');
  const started = process.hrtime.bigint();
  const service = startService('har-100k', process.execPath, [...proxyNodeFlags(ctx.root), cli, 'har', journal, '-o', har], path.join(ctx.workDir, 'har-100k.log'));
  let exited = false;
  void service.exited.then(() => {
    exited = true;
  });
  const deadline = Date.now() + TIMEOUT_MS;
  let rss: number | undefined;
  let cpu: number | undefined;
  while (!exited && isRunning(service)) {
    // Read before the exit is seen: once the process is reaped, /proc/PID is gone.
    rss = peakRss(service.pid) ?? rss;
    cpu = cpuSeconds(service.pid) ?? cpu;
    if (Date.now() > deadline) {
      await stopService(service, 2000);
      throw new Error(`har did not finish within ${TIMEOUT_MS / 1000} s`);
    }
    await Promise.race([service.exited, sleep(SAMPLE_MS)]);
  }
  const { code, signal } = await service.exited;
  result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (rss !== undefined) result.rssPeak = rss;
  if (cpu !== undefined) result.cpuSeconds = cpu;
  const output = fs.readFileSync(service.logFile, 'utf8').trim();
  if (code !== 0) throw new Error(`har exited with ${code !== null ? `code ${code}` : String(signal)}: ${output.split('\n').slice(-3).join(' | ').slice(0, 300)}`);
  // It prints `N entries written to FILE` last; anything before that is a journal line it skipped.
  const skipped = output.split('\n').filter((l) => l.trim() !== '' && !/entries written to/.test(l));
  if (skipped.length > 0) result.notes.push(`har reported ${skipped.length} line(s), first: ${skipped[0]!.slice(0, 200)}`);
  if (rss === undefined) result.notes.push('the converter exited before its RSS could be read');
}

const MARK = Buffer.from('"startedDateTime":');

/** Head and tail structure, and the entries counted by their `"startedDateTime":` key, streaming. */
async function checkHar(file: string): Promise<{ bytes: number; entries: number; problems: string[] }> {
  const bytes = fs.statSync(file).size;
  const problems: string[] = [];
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(bytes, 4096));
    fs.readSync(fd, head, 0, head.length, 0);
    const headText = head.toString('utf8');
    // HAR 1.2: a "log" object with "version", "creator" and "entries" (an array).
    if (!/^\s*\{\s*"log"\s*:\s*\{/.test(headText)) problems.push(`it does not open with {"log": {: ${JSON.stringify(headText.slice(0, 40))}`);
    if (!/"version"\s*:\s*"1\.2"/.test(headText)) problems.push('no "version": "1.2" in its head');
    if (!/"creator"\s*:\s*\{/.test(headText)) problems.push('no "creator" in its head');
    if (!/"entries"\s*:\s*\[/.test(headText)) problems.push('no "entries": [ in its head');
    const tail = Buffer.alloc(Math.min(bytes, 256));
    fs.readSync(fd, tail, 0, tail.length, bytes - tail.length);
    // The last entry, then the entries array, the log and the document close.
    if (!/\}\s*\]\s*\}\s*\}\s*$/.test(tail.toString('utf8'))) problems.push(`it does not end with }]}}: ${JSON.stringify(tail.toString('utf8').slice(-40))}`);
  } finally {
    fs.closeSync(fd);
  }
  let entries = 0;
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    // The mark may straddle two chunks: keep the last MARK.length - 1 bytes for the next round.
    const buf = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    for (let at = buf.indexOf(MARK); at !== -1; at = buf.indexOf(MARK, at + MARK.length)) entries += 1;
    carry = buf.subarray(Math.max(0, buf.length - (MARK.length - 1)));
  }
  return { bytes, entries, problems };
}
