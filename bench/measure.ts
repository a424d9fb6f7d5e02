/**
 * One subject, one run: start it, warm it up, run the small-response load, then the large
 * download and upload, reading its peak RSS after each phase, and stop it. Every phase fails
 * soft: its error is recorded and the row says so, the other phases and subjects still run.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { cpuSeconds } from './cpu.js';
import { download, upload, type StreamResult } from './curl.js';
import { isRunning } from './proc.js';
import { peakRss, resetPeak } from './rss.js';
import { startSubject, type Context, type Running, type Subject, type SubjectId } from './subjects.js';
import { runWrk, type WrkResult } from './wrk.js';

export interface BenchConfig {
  runs: number;
  quick: boolean;
  only: SubjectId[];
  loadSeconds: number;
  warmupSeconds: number;
  streamBytes: number;
  connections: number;
  threads: number;
}

export interface Tools {
  wrk: string;
  curl: string;
  uploadFile: string;
}

export interface SubjectRun {
  subject: SubjectId;
  run: number;
  /** The subject could not be started (or was skipped): nothing else was measured. */
  startError?: string;
  load?: WrkResult;
  loadError?: string;
  down?: StreamResult;
  downError?: string;
  up?: StreamResult;
  upError?: string;
  /** Peak RSS in bytes during the small-response load, and during the two large streams. */
  rssLoad?: number;
  rssStream?: number;
  /** CPU seconds the subject process used during the small-response load (not the warm-up). */
  cpuLoad?: number;
  /** Anything odd that did not fail a phase (warnings, unclean exit, log problems). */
  notes: string[];
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function measure(subject: Subject, ctx: Context, cfg: BenchConfig, tools: Tools, run: number, log: (line: string) => void): Promise<SubjectRun> {
  const result: SubjectRun = { subject: subject.id, run, notes: [] };
  if (subject.unavailable !== undefined) {
    result.startError = subject.unavailable;
    return result;
  }
  let running: Running;
  try {
    running = await startSubject(subject, ctx);
  } catch (err) {
    result.startError = message(err);
    log(`  ${subject.label}: failed to start: ${result.startError}`);
    return result;
  }

  const alive = (): void => {
    if (running.service !== undefined && !isRunning(running.service)) {
      const c = running.service.child;
      throw new Error(`${subject.label} exited (${String(c.exitCode ?? c.signalCode)}) during the run`);
    }
  };
  const wrkOptions = {
    wrk: tools.wrk,
    connectPort: running.port,
    ...(subject.mode === 'forward' ? { forwardTo: ctx.upstreamPort } : {}),
    connections: cfg.connections,
    threads: cfg.threads,
    workDir: ctx.workDir,
  };
  const stream = {
    curl: tools.curl,
    urlPort: subject.mode === 'forward' ? ctx.upstreamPort : running.port,
    ...(subject.mode === 'forward' ? { proxyPort: running.port } : {}),
    bytes: cfg.streamBytes,
    // Generous: 5 MB/s would be a broken subject, not a slow one.
    timeoutSeconds: Math.max(60, Math.ceil(cfg.streamBytes / 5e6)),
  };
  const pid = running.pid;

  try {
    // Warm-up: JIT, connection pools and buffers settle before anything is counted.
    try {
      await runWrk({ ...wrkOptions, seconds: cfg.warmupSeconds });
    } catch (err) {
      result.notes.push(`warm-up: ${message(err)}`);
    }

    try {
      alive();
      if (pid !== undefined && !resetPeak(pid)) result.notes.push('could not reset peak RSS (clear_refs)');
      const cpuBefore = pid === undefined ? undefined : cpuSeconds(pid);
      result.load = await runWrk({ ...wrkOptions, seconds: cfg.loadSeconds });
      const cpuAfter = pid === undefined ? undefined : cpuSeconds(pid);
      if (cpuBefore !== undefined && cpuAfter !== undefined) result.cpuLoad = cpuAfter - cpuBefore;
      if (result.load.warning !== undefined) result.notes.push(`load: ${result.load.warning}`);
      alive();
      if (pid !== undefined) result.rssLoad = peakRss(pid);
      const cpu = result.cpuLoad === undefined ? '' : `, ${((result.cpuLoad / result.load.requests) * 1e6).toFixed(0)} µs CPU/request`;
      log(`  ${subject.label}: ${Math.round(result.load.rps)} req/s, p50 ${(result.load.p50Us / 1000).toFixed(2)} ms, p99 ${(result.load.p99Us / 1000).toFixed(2)} ms${cpu}`);
    } catch (err) {
      result.loadError = message(err);
      log(`  ${subject.label}: load failed: ${result.loadError}`);
    }

    if (pid !== undefined) resetPeak(pid);
    try {
      alive();
      result.down = await download(stream);
      log(`  ${subject.label}: download ${(result.down.bytesPerSecond / 1e6).toFixed(0)} MB/s`);
    } catch (err) {
      result.downError = message(err);
      log(`  ${subject.label}: download failed: ${result.downError}`);
    }
    try {
      alive();
      result.up = await upload(stream, tools.uploadFile);
      log(`  ${subject.label}: upload ${(result.up.bytesPerSecond / 1e6).toFixed(0)} MB/s`);
    } catch (err) {
      result.upError = message(err);
      log(`  ${subject.label}: upload failed: ${result.upError}`);
    }
    if (pid !== undefined && running.service !== undefined && isRunning(running.service)) result.rssStream = peakRss(pid);
    if (pid !== undefined) {
      const mb = (b: number | undefined): string => (b === undefined ? '?' : (b / 1e6).toFixed(0));
      log(`  ${subject.label}: peak RSS ${mb(result.rssLoad)} MB load, ${mb(result.rssStream)} MB streams`);
    }
  } finally {
    const stopNote = await running.stop();
    if (stopNote !== undefined) result.notes.push(stopNote);
  }

  if (subject.id === 'forward' || subject.id === 'reverse') {
    const problems = await proxyLogProblems(running.service?.logFile, result);
    result.notes.push(...problems);
  }
  for (const note of result.notes) log(`  ${subject.label}: note: ${note}`);
  return result;
}

/**
 * Our proxy's log, read after it stopped: warn/error lines are worth a note, and so is an
 * exchange count below the requests completed (logging was off, or lines were lost).
 */
async function proxyLogProblems(file: string | undefined, r: SubjectRun): Promise<string[]> {
  if (file === undefined || !fs.existsSync(file)) return [];
  let exchanges = 0;
  const byLevel = new Map<number, { count: number; first: string }>();
  const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.includes('"msg":"exchange"')) exchanges++;
    const level = /"level":(\d+)/.exec(line);
    if (level === null || Number(level[1]) < 40) continue;
    const n = Number(level[1]);
    const entry = byLevel.get(n) ?? { count: 0, first: line.slice(0, 240) };
    entry.count++;
    byLevel.set(n, entry);
  }
  const notes: string[] = [];
  const names: Record<number, string> = { 40: 'warn', 50: 'error', 60: 'fatal' };
  for (const [level, { count, first }] of [...byLevel].sort((a, b) => a[0] - b[0])) {
    notes.push(`log has ${count} ${names[level] ?? `level-${level}`} line(s), first: ${first}`);
  }
  const requests = (r.load?.requests ?? 0) + (r.down ? 1 : 0) + (r.up ? 1 : 0);
  if (requests > 0 && exchanges < requests) notes.push(`log has ${exchanges} "exchange" lines for ≥ ${requests} completed requests`);
  return notes;
}
