/**
 * The live feed subscriber of the `forward-control` row (issue 22), in a process of its own as a
 * user's `./proxy tail` or test suite would be: it subscribes to `GET /api/events` (WebSocket,
 * `Authorization: Bearer <token>`, no filter: every event), parses every message and counts them
 * by type, so the row can show the subscriber saw the whole load. One JSON line per event of its
 * own on stdout (the harness sends it to .bench/NAME.log):
 *
 *   {"msg":"subscribed"}                       the upgrade succeeded; the harness starts the load
 *   {"msg":"feed refused","status":404,…}      the upgrade was answered with HTTP (exits 1)
 *   {"msg":"feed counts","started":N,…}        on SIGTERM, once the feed has been quiet 250 ms
 *
 *   node dist/bench/feed-subscriber.js <control URL> <token file>
 */
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';

/** What the subscriber counted (the `feed counts` line). */
export interface FeedCounts {
  messages: number;
  bytes: number;
  started: number;
  finished: number;
  /** `missed` messages, and the events they said were dropped for this subscriber. */
  missedMessages: number;
  missed: number;
  /** `finished` events of the bench load (`GET …/small`). */
  finishedSmall: number;
  firstSeq?: number;
  lastSeq?: number;
  /** Set when the server closed the feed before the harness stopped the subscriber. */
  closed?: { code: number; reason: string };
  /** Messages that were not the feed's JSON. */
  unparsed: number;
  /** CPU seconds this process used (user + system), from start to the counts. */
  cpuSeconds?: number;
}

export const SUBSCRIBED = 'subscribed';
export const COUNTS = 'feed counts';
export const REFUSED = 'feed refused';

const HEAD = /^\{"seq":(\d+),"type":"(\w+)"/;
const SMALL_URL = Buffer.from('/small"');
const QUIET_MS = 250;
const DRAIN_LIMIT_MS = 3000;

function out(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function main(): void {
  const [url, tokenFile] = process.argv.slice(2);
  if (url === undefined || tokenFile === undefined) {
    process.stderr.write('usage: node dist/bench/feed-subscriber.js <control URL> <token file>\n');
    process.exitCode = 2;
    return;
  }
  const token = fs.readFileSync(tokenFile, 'utf8').trim();
  const events = new URL('/api/events', url);
  events.protocol = events.protocol === 'https:' ? 'wss:' : 'ws:';
  const counts: FeedCounts = { messages: 0, bytes: 0, started: 0, finished: 0, missedMessages: 0, missed: 0, finishedSmall: 0, unparsed: 0 };
  let lastMessageAt = Date.now();

  const ws = new WebSocket(events, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false, skipUTF8Validation: true });
  ws.on('open', () => out({ msg: SUBSCRIBED, url: events.href }));
  ws.on('unexpected-response', (_req, res: IncomingMessage) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d.slice(0, 500)));
    res.on('end', () => {
      out({ msg: REFUSED, status: res.statusCode, body: body.slice(0, 500) });
      process.exit(1);
    });
  });
  ws.on('error', (err) => out({ msg: 'feed error', error: err.message }));
  ws.on('close', (code, reason) => {
    counts.closed ??= { code, reason: reason.toString('utf8') };
  });
  ws.on('message', (data: Buffer, isBinary) => {
    lastMessageAt = Date.now();
    counts.messages++;
    counts.bytes += data.length;
    // Every message is read, but only as far as counting needs: the subscriber shares two cores
    // with the proxy, wrk and the upstream, and every microsecond it spends is taken from them.
    // `{"seq":N,"type":"…"` opens each message (feed.ts); only `missed` messages are parsed whole.
    const head = isBinary ? null : HEAD.exec(data.toString('latin1', 0, 64));
    if (head === null) {
      counts.unparsed++;
      return;
    }
    const seq = Number(head[1]);
    counts.firstSeq ??= seq;
    counts.lastSeq = seq;
    if (head[2] === 'started') counts.started++;
    else if (head[2] === 'finished') {
      counts.finished++;
      // The load's answers: `"url":"http://127.0.0.1:UP/small"` in the exchange summary.
      if (data.includes(SMALL_URL)) counts.finishedSmall++;
    } else if (head[2] === 'missed') {
      counts.missedMessages++;
      const missed = (JSON.parse(data.toString('utf8')) as { missed?: unknown }).missed;
      if (typeof missed === 'number') counts.missed += missed;
    } else counts.unparsed++;
  });

  // The load has ended when the harness says so; events still on the wire are read first.
  process.once('SIGTERM', () => {
    const stopAt = Date.now() + DRAIN_LIMIT_MS;
    const check = (): void => {
      if (Date.now() - lastMessageAt < QUIET_MS && Date.now() < stopAt) {
        setTimeout(check, 50);
        return;
      }
      const cpu = process.cpuUsage();
      out({ msg: COUNTS, ...counts, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      ws.terminate();
      process.exit(0);
    };
    check();
  });
}

// Run when started as a program; the harness imports this file for its types and names only.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
