/**
 * The `forward-record` row (issue 6: "recording on ≥ 0.9× recording off pass-through req/s, same
 * run"): `proxy forward` plus `--record .bench/bench-record.ndjson`. Its journal is cleared before
 * the proxy starts (a journal named by the user is appended to), read once the proxy stopped (with
 * the proxy's own reader, src/record/journal-read.ts, so it must parse), and deleted: a 10 s load
 * writes ~100 MB. What it held (size, bytes per exchange, dropped exchanges, whether every
 * completed request is in it) goes to the row's notes and the acceptance lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { byJournalPart, readJournal } from '../src/record/journal-read.js';
import type { SubjectRun } from './measure.js';
import { setAside } from './scratch.js';

/** The row's journal; parts past --record-rotate are `bench-record.part2.ndjson`, … */
export const RECORD_JOURNAL = 'bench-record.ndjson';
const JOURNAL_PARTS = /^bench-record(?:\.part\d+)?\.ndjson$/;

/** Lines above this are the stream phases' exchanges (bodies captured up to --capture-bytes, 1 MiB each way). */
const LARGE_LINE = 64 * 1024;

export interface JournalStats {
  files: number;
  bytes: number;
  exchanges: number;
  /** Exchanges the writer reported as dropped (`dropped` lines): it could not keep up. */
  dropped: number;
  /** Lines the reader skipped (not JSON, torn), with the first one. */
  problems: number;
  firstProblem?: string;
  /** Median and mean size of the exchange lines under 64 KiB (the load's `GET /small`), newline included. */
  medianLineBytes?: number;
  meanLineBytes?: number;
  /** Exchange lines of 64 KiB and more (the 1 GiB download and upload), and their bytes. */
  large: number;
  largeBytes: number;
  /** Requests the load generators completed (warm-up, load, streams): each must have its line. */
  completed: number;
}

/** A run of the table with, for `forward-record`, what its journal held. */
export type RecordedRun = SubjectRun & { journal?: JournalStats };

export function recordJournalPath(workDir: string): string {
  return path.join(workDir, RECORD_JOURNAL);
}

function journalParts(workDir: string): string[] {
  try {
    return fs
      .readdirSync(workDir)
      .filter((name) => JOURNAL_PARTS.test(name))
      .sort(byJournalPart)
      .map((name) => path.join(workDir, name));
  } catch {
    return [];
  }
}

/** Deletes the row's journal (every part); synchronous, so it can run from process.on('exit'). */
export function removeRecordJournal(workDir: string): void {
  for (const file of journalParts(workDir)) fs.rmSync(file, { force: true });
}

/** Moves the row's journal aside, to be deleted when the bench ends (scratch.ts says why). */
export function setAsideRecordJournal(workDir: string): void {
  setAside(workDir, journalParts(workDir));
}

/**
 * After the row's proxy stopped: reads its journal, sets it aside, and records what it held on the
 * run (`journal`, and a note). Nothing when the journal is missing (the proxy never started).
 */
export async function collectRecordJournal(workDir: string, result: RecordedRun): Promise<void> {
  const files = journalParts(workDir);
  if (files.length === 0) {
    if (result.startError === undefined) result.notes.push(`no journal ${RECORD_JOURNAL} was written`);
    return;
  }
  try {
    const stats = await scanJournal(files);
    stats.completed = (result.warmupRequests ?? 0) + (result.load?.requests ?? 0) + (result.down !== undefined ? 1 : 0) + (result.up !== undefined ? 1 : 0);
    result.journal = stats;
    result.notes.push(journalNote(stats));
  } catch (err) {
    result.notes.push(`the journal could not be read: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    setAsideRecordJournal(workDir);
  }
}

async function scanJournal(files: string[]): Promise<JournalStats> {
  const stats: JournalStats = { files: files.length, bytes: 0, exchanges: 0, dropped: 0, problems: 0, large: 0, largeBytes: 0, completed: 0 };
  for (const file of files) stats.bytes += fs.statSync(file).size;
  const small: number[] = [];
  let before = 0;
  let lineBytes = 0;
  const lines = readJournal(files, {
    onProgress: (bytes) => {
      lineBytes = bytes - before;
      before = bytes;
    },
    onProblem: (p) => {
      stats.problems += 1;
      stats.firstProblem ??= `${path.basename(p.file)}:${p.line}: ${p.message}`;
    },
  });
  for await (const { entry } of lines) {
    if (entry.type === 'dropped') stats.dropped += entry.count;
    if (entry.type !== 'exchange') continue;
    stats.exchanges += 1;
    if (lineBytes >= LARGE_LINE) {
      stats.large += 1;
      stats.largeBytes += lineBytes;
    } else {
      small.push(lineBytes);
    }
  }
  if (small.length > 0) {
    small.sort((a, b) => a - b);
    stats.medianLineBytes = small[Math.floor(small.length / 2)]!;
    stats.meanLineBytes = small.reduce((a, b) => a + b, 0) / small.length;
  }
  return stats;
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** Exchanges completed that have no line (0 when the journal holds them all). */
export function missingExchanges(stats: JournalStats): number {
  return Math.max(0, stats.completed - stats.exchanges);
}

function journalNote(s: JournalStats): string {
  const perExchange = s.medianLineBytes === undefined ? 'n/a' : `${count(s.medianLineBytes)} bytes per exchange line (median; mean ${count(s.meanLineBytes ?? 0)}, GET /small with its 1 KiB answer)`;
  const large = s.large === 0 ? '' : `; ${s.large} stream exchange line(s) ${mb(s.largeBytes)} (bodies kept up to --capture-bytes, 1 MiB each way)`;
  const missing = missingExchanges(s);
  const complete = missing === 0 ? 'every one in it' : `${count(missing)} of them missing`;
  const problems = s.problems === 0 ? '' : `; ${s.problems} line(s) the reader skipped, first: ${s.firstProblem ?? ''}`;
  return (
    `journal: ${count(s.exchanges)} exchange lines, ${mb(s.bytes)} in ${s.files} file(s), ${perExchange}${large}; ` +
    `${s.dropped === 0 ? 'none dropped' : `${count(s.dropped)} DROPPED by the writer`}; ${count(s.completed)} requests completed (warm-up, load, streams), ${complete}${problems}`
  );
}
