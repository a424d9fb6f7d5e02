/**
 * `./proxy har`: journals → one HAR 1.2 file, streamed in constant memory (harDocument, which the
 * control API's export feeds from its ring instead). The log's head is
 * written first, then each entry as its journal line is read (never all entries at once), then
 * the tail; a full output stream is waited for ('drain'), so a slow disk holds the reader back
 * instead of filling memory. Entries come in journal order, i.e. the order exchanges finished;
 * HAR viewers sort by `startedDateTime` themselves.
 *
 * A bad line is never fatal: the reader reports it (journal-read.ts), and so does a line that
 * parses but cannot be converted; both reach `onProblem` and the count in the result.
 */
import { once } from 'node:events';
import { statSync } from 'node:fs';
import type { Filter } from '../core/filter.js';
import { TOOL } from '../core/tool.js';
import { ProgramError } from '../errors.js';
import { compilePattern } from '../rules/matchers.js';
import type { ExchangeLine } from './entry.js';
import { harEntry } from './har.js';
import { journalFiles, readJournal, type JournalProblem } from './journal-read.js';

export interface HarFilters {
  /** `mapihttp`, `fpse`, or `http` for exchanges no protocol observer claimed. */
  protocols?: string[];
  /** Globs on the URL's host (`*.contoso.com`), case-insensitive; `/regex/` as in rules. */
  hosts?: string[];
  /** Verdict codes (`accepted`, `rejected-client-too-old`): an exchange with any of them is kept. */
  verdicts?: string[];
  /** Epoch ms: exchanges that started earlier are left out. */
  since?: number;
  /** `--filter`: a parsed filter expression (core/filter.ts), ANDed with the filters above. */
  filter?: Filter;
}

export interface HarWriteResult {
  entries: number;
  filteredOut: number;
  problems: number;
}

export interface HarWriteOptions {
  filters?: HarFilters;
  onProblem?(problem: JournalProblem): void;
  /** Bytes of the journals read so far, and their total size. */
  onProgress?(bytesRead: number, totalBytes: number): void;
}

export async function writeHar(journals: string[], out: NodeJS.WritableStream, options: HarWriteOptions = {}): Promise<HarWriteResult> {
  const files = journalFiles(journals);
  const totalBytes = files.reduce((sum, file) => sum + sizeOf(file), 0);
  const keep = compileFilters(options.filters ?? {});
  const result: HarWriteResult = { entries: 0, filteredOut: 0, problems: 0 };
  const problem = (p: JournalProblem): void => {
    result.problems += 1;
    options.onProblem?.(p);
  };
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  // Where the line being converted came from, for a problem with it (harDocument converts each
  // line as it is handed over, before it asks for the next).
  let at = { file: '', line: 0 };
  async function* exchanges(): AsyncGenerator<ExchangeLine> {
    for await (const { file, line, entry } of readJournal(files, { onProblem: problem, onProgress: (bytes) => options.onProgress?.(bytes, totalBytes) })) {
      if (entry.type === 'dropped') {
        problem({ file, line, message: `the recorder dropped ${entry.count} exchange(s) here (${entry.reason}); they are not in the journal` });
        continue;
      }
      if (entry.type === 'capture' && (entry.exchangesLeftOut ?? 0) > 0) {
        problem({ file, line, message: `the recorder left ${entry.exchangesLeftOut} exchange(s) out before this point (the disk was short of space); they are not in the journal` });
        continue;
      }
      if (entry.type !== 'exchange') continue;
      let kept: boolean;
      try {
        kept = keep(entry);
      } catch (err) {
        problem({ file, line, message: `not a usable exchange record (${(err as Error).message}); skipped` });
        continue;
      }
      if (!kept) {
        result.filteredOut += 1;
        continue;
      }
      at = { file, line };
      yield entry;
    }
  }
  const document = harDocument(exchanges(), {
    onUnusable: (err) => problem({ ...at, message: `not a usable exchange record (${err.message}); skipped` }),
  });
  for await (const text of document.chunks) await write(text);
  result.entries = document.entries();
  return result;
}

export interface HarDocument {
  /** The document's text in pieces: the log's head, each entry, the tail. */
  chunks: AsyncGenerator<string>;
  /** Entries written so far. */
  entries(): number;
}

/**
 * The HAR 1.2 document of `lines`, whatever reads them: the journals (`./proxy har`, writeHar) or
 * the control API's ring (GET /api/exchanges/har). Lazy and streamed: a line is converted when the
 * consumer asks for more text, so memory holds one piece at a time, and a consumer that stops
 * (`return()`) stops the reading. A line harEntry cannot convert is skipped and told to
 * `onUnusable`; `comment` is the log's (HAR 1.2 `log.comment`).
 */
export function harDocument(lines: AsyncIterable<ExchangeLine>, options: { onUnusable?(err: Error): void; comment?: string } = {}): HarDocument {
  let entries = 0;
  async function* chunks(): AsyncGenerator<string> {
    const creator = { name: TOOL.name, version: TOOL.version };
    const comment = options.comment === undefined ? '' : `\n    "comment": ${JSON.stringify(options.comment)},`;
    // HAR 1.2 "log": version, creator and entries are required; pages are optional and unused here.
    yield `{\n  "log": {\n    "version": "1.2",\n    "creator": ${JSON.stringify(creator)},${comment}\n    "entries": [`;
    for await (const line of lines) {
      let text: string;
      try {
        text = JSON.stringify(harEntry(line));
      } catch (err) {
        options.onUnusable?.(err as Error);
        continue;
      }
      yield `${entries === 0 ? '\n' : ',\n'}      ${text}`;
      entries += 1;
    }
    yield `${entries === 0 ? '' : '\n    '}]\n  }\n}\n`;
  }
  return { chunks: chunks(), entries: () => entries };
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // readJournal says why it cannot read it
  }
}

/** The filters as one predicate; every filter given must pass. */
export function compileFilters(filters: HarFilters): (line: ExchangeLine) => boolean {
  const tests: Array<(line: ExchangeLine) => boolean> = [];
  if (filters.protocols !== undefined && filters.protocols.length > 0) {
    const wanted = new Set(filters.protocols.map((p) => p.toLowerCase()));
    tests.push((line) => wanted.has(line.protocol?.protocol ?? 'http'));
  }
  if (filters.hosts !== undefined && filters.hosts.length > 0) {
    const patterns = filters.hosts.map((glob) => compilePattern(glob).regex);
    tests.push((line) => {
      const { hostname, host } = hostOf(line);
      return patterns.some((regex) => regex.test(hostname) || regex.test(host));
    });
  }
  if (filters.verdicts !== undefined && filters.verdicts.length > 0) {
    const wanted = new Set(filters.verdicts);
    tests.push((line) => line.protocol?.verdicts.some((v) => wanted.has(v.code)) ?? false);
  }
  if (filters.since !== undefined) {
    const since = filters.since;
    tests.push((line) => line.timings.start >= since);
  }
  const filter = filters.filter;
  if (filter !== undefined && filter.terms.length > 0) tests.push((line) => filter.test(line));
  return (line) => tests.every((test) => test(line));
}

/** The host an exchange addressed: from its URL, or `host:port` for a tunnel. */
function hostOf(line: ExchangeLine): { hostname: string; host: string } {
  const href = line.kind === 'tunnel' ? `https://${line.request.url || line.url}` : line.url;
  if (URL.canParse(href)) {
    const url = new URL(href);
    return { hostname: url.hostname, host: url.host };
  }
  return { hostname: '', host: '' };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * `--since`: an ISO 8601 date or date-time (`2024-05-01`, `2024-05-01T14:30:00Z`; without an
 * offset, a date-time is local time and a bare date is UTC, as ECMAScript's Date.parse reads
 * them), or a span back from now: `30s`, `10m`, `2h`, `1d`, `1h30m`.
 */
export function parseSince(text: string, now: number = Date.now()): number {
  const trimmed = text.trim();
  if (/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/i.test(trimmed)) {
    let span = 0;
    for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/gi)) span += Number(amount) * UNITS[unit!.toLowerCase()]!;
    return now - span;
  }
  if (ISO_DATE.test(trimmed)) {
    const time = Date.parse(trimmed.replace(' ', 'T'));
    if (!Number.isNaN(time)) return time;
  }
  throw new ProgramError('ERR_BAD_OPTION', `--since "${text}" is neither an ISO 8601 time nor a span`, 'give a time like 2024-05-01T14:30:00Z or a span back from now like 30s, 10m, 2h or 1d');
}
