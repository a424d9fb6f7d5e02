/**
 * Issue 4, "a MAPI `serverVersion` rewrite keeps the streaming test's timing". The MAPI/HTTP
 * simulator (`./proxy simulate mapi --pending-period P`, Exchange/15.02.1544.014) runs in its own
 * process as the bench upstream does. Its NotificationWait is a long poll (MS-OXCMAPIHTTP 3.1.5.5):
 * the response head and PROCESSING at once, a PENDING keep-alive every P ms, DONE and the body
 * after 2P. Three series of long polls, each on its own keep-alive connection after its own
 * Connect (the session cookie a NotificationWait needs), rotating so each meets the same moments
 * of the machine:
 *
 *   direct   straight to the simulator: its own timer drift, no proxy at all
 *   plain    through our proxy without rules
 *   rewrite  through our proxy with bench/rules/mapi-server-version.yaml (X-ServerApplication
 *            becomes Exchange/15.00.0847.032 on every MAPI/HTTP answer; the body is not touched)
 *
 * As in test/mapi-streaming.test.ts, what counts is when the client has each piece: the arrival
 * of the chunk that completes each meta-tag line. The server's schedule puts PENDING n at n·P and
 * DONE at 2P after PROCESSING, so each later piece's extra delay is its arrival after PROCESSING's
 * minus that. The acceptance compares the worst extra delay of any piece with and without the
 * rule. Every answer's X-ServerApplication is checked too: the rewritten one through the rule,
 * the simulator's own elsewhere.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { BenchConfig } from './measure.js';
import { oneConnectionAgent, pairLogNotes, percentile, startProxyPair, startSimulator, type ProxyPair, type Simulator } from './probe-kit.js';
import type { Context } from './subjects.js';

export const MAPI_RULES = 'mapi-server-version.yaml';
const SERVER = 'Exchange/15.02.1544.014';
export const REWRITTEN_SERVER = 'Exchange/15.00.0847.032';
const CLIENT = 'Outlook/16.0.15928.20006';
const MAILBOX = '0e2dcbf4-7d6b-4a46-9a7b-3f7bd8f49e3a@contoso.com';
const EMSMDB = `/mapi/emsmdb/?MailboxId=${MAILBOX}`;
const SERIES = ['direct', 'plain', 'rewrite'] as const;
export type Series = (typeof SERIES)[number];

/** Connect request body (MS-OXCMAPIHTTP 2.2.4.1.1): UserDn, Flags, code page, LCIDs, no aux. */
function connectBody(): Buffer {
  const dn = Buffer.from('/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=bench\0', 'latin1');
  const tail = Buffer.alloc(20);
  tail.writeUInt32LE(0, 0);
  tail.writeUInt32LE(1252, 4);
  tail.writeUInt32LE(1033, 8);
  tail.writeUInt32LE(1033, 12);
  tail.writeUInt32LE(0, 16);
  return Buffer.concat([dn, tail]);
}
/** NotificationWait request body (2.2.4.4.1): Flags 0, AuxiliaryBufferSize 0. */
const NOTIFICATION_WAIT_BODY = Buffer.alloc(8);

export interface SeriesResult {
  /** Long polls timed (after one untimed warm-up poll). */
  polls: number;
  /** PENDING and DONE pieces timed. */
  pieces: number;
  pending: number;
  /** Extra delay of each piece over the server's schedule, relative to PROCESSING's arrival, ms. */
  maxExtraMs?: number;
  p50ExtraMs?: number;
  /** Request sent → PROCESSING (with the head) at the client, median over polls, ms. */
  p50FirstPieceMs?: number;
  /** X-ServerApplication values seen (Connect and every NotificationWait), with counts. */
  serverApplication: Record<string, number>;
  /** Answers whose X-ServerApplication is the one expected for the series. */
  expectedServer: number;
  answers: number;
}

export interface MapiStreamRun {
  probe: 'mapi-stream';
  run: number;
  error?: string;
  pendingMs: number;
  series: Partial<Record<Series, SeriesResult>>;
  /** max extra (rewrite) − max extra (plain), ms. */
  maxExtraDeltaMs?: number;
  /** `rule applied` lines in the log of the proxy with rules. */
  ruleApplied?: number;
  notes: string[];
}

interface Piece {
  tag: string;
  at: number;
}

interface PollResult {
  status: number;
  serverApplication: string | undefined;
  sentAt: number;
  pieces: Piece[];
  setCookie: string[];
}

/** What one series gathers over a run. */
interface Tally {
  /** Extra delay of every timed PENDING and DONE piece, ms. */
  extras: number[];
  /** Request sent → PROCESSING, per timed poll, ms. */
  first: number[];
  pending: number;
  polls: number;
  server: Record<string, number>;
  /** Answers with the expected X-ServerApplication, of all answers. */
  ok: number;
  answers: number;
}

/** A side: where to connect, how to name the target, and its connection. */
interface Side {
  port: number;
  /** Absolute-form through a proxy, origin-form straight to the simulator. */
  target: string;
  authority: string;
  agent: http.Agent;
  cookie?: string;
  requestCounter: number;
}

/**
 * One MAPI/HTTP request, noting when each meta-tag line of the inner stream was complete at the
 * client (PROCESSING, PENDING, DONE: each ends with CRLF; the bytes after DONE are not scanned).
 */
function mapiRequest(side: Side, requestType: string, body: Buffer): Promise<PollResult> {
  return new Promise((resolve, reject) => {
    side.requestCounter++;
    const headers: Record<string, string> = {
      Host: side.authority,
      'Content-Type': 'application/mapi-http',
      'X-RequestType': requestType,
      'X-ClientInfo': '{2EF33C39-49C8-421C-B876-CDF7F2AC3AA0}:1',
      'X-RequestId': `{E2EA6C1C-E61B-49E9-9CFB-38184F907552}:${side.requestCounter}`,
      'X-ClientApplication': CLIENT,
      'User-Agent': 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.15928; Pro)',
      Accept: '*/*',
      'Content-Length': String(body.length),
    };
    if (side.cookie !== undefined) headers.Cookie = side.cookie;
    const req = http.request({ host: '127.0.0.1', port: side.port, method: 'POST', path: side.target, agent: side.agent, headers });
    req.setTimeout(30_000, () => req.destroy(new Error('no data for 30 s')));
    req.once('error', reject);
    const pieces: Piece[] = [];
    let sentAt = 0;
    req.once('response', (res) => {
      let text = '';
      let scanned = 0;
      let done = false;
      res.on('data', (chunk: Buffer) => {
        const at = performance.now();
        if (done) return;
        text += chunk.toString('latin1');
        for (let eol = text.indexOf('\r\n', scanned); eol >= 0 && !done; eol = text.indexOf('\r\n', scanned)) {
          const tag = text.slice(scanned, eol);
          scanned = eol + 2;
          pieces.push({ tag, at });
          done = tag === 'DONE';
        }
      });
      res.once('error', reject);
      res.once('end', () => {
        const server = res.headers['x-serverapplication'];
        const setCookie = res.headers['set-cookie'] ?? [];
        resolve({ status: res.statusCode ?? 0, serverApplication: Array.isArray(server) ? server.join(', ') : server, sentAt, pieces, setCookie });
      });
    });
    sentAt = performance.now();
    req.end(body);
  });
}

/** Connect: the session cookie (MapiContext) a NotificationWait needs, as a client keeps it. */
async function connect(side: Side): Promise<PollResult> {
  const answer = await mapiRequest(side, 'Connect', connectBody());
  const pairs = answer.setCookie.map((c) => c.split(';')[0] ?? '').filter((p) => /^Mapi\w+=./.test(p));
  if (answer.status !== 200 || !pairs.some((p) => p.startsWith('MapiContext='))) {
    throw new Error(`Connect was answered ${answer.status} without a MapiContext cookie (pieces: ${answer.pieces.map((p) => p.tag).join(',')})`);
  }
  side.cookie = pairs.join('; ');
  return answer;
}

/** The server's schedule after PROCESSING: PENDING n at n·P, DONE at 2P (the simulator's NotificationWait). */
function extraDelays(poll: PollResult, pendingMs: number): { extras: number[]; pending: number } | string {
  const tags = poll.pieces.map((p) => p.tag);
  const first = poll.pieces[0];
  const doneAt = poll.pieces.find((p) => p.tag === 'DONE');
  if (first?.tag !== 'PROCESSING' || doneAt === undefined) return `unexpected inner stream ${tags.join(',') || '(empty)'}`;
  const extras: number[] = [];
  let pending = 0;
  for (const piece of poll.pieces.slice(1)) {
    if (piece.tag === 'PENDING') pending++;
    else if (piece.tag !== 'DONE') return `unexpected meta-tag ${JSON.stringify(piece.tag.slice(0, 20))} in ${tags.join(',')}`;
    const expected = piece.tag === 'DONE' ? 2 * pendingMs : pending * pendingMs;
    extras.push(piece.at - first.at - expected);
  }
  if (pending === 0) return `no PENDING before DONE (${tags.join(',')}): the long poll did not stream`;
  return { extras, pending };
}

export async function measureMapiStream(ctx: Context, cfg: BenchConfig, run: number, log: (line: string) => void): Promise<MapiStreamRun> {
  const pendingMs = cfg.mapiPendingMs;
  const result: MapiStreamRun = { probe: 'mapi-stream', run, pendingMs, series: {}, notes: [] };
  let sim: Simulator | undefined;
  let pair: ProxyPair | undefined;
  try {
    sim = await startSimulator(ctx, 'sim-mapi', 'mapi', ['--server', SERVER, '--pending-period', String(pendingMs)]);
    pair = await startProxyPair(ctx, 'mapi', MAPI_RULES);
    const simAuthority = `127.0.0.1:${sim.port}`;
    const sides: Record<Series, Side> = {
      direct: { port: sim.port, target: EMSMDB, authority: simAuthority, agent: oneConnectionAgent(), requestCounter: 0 },
      plain: { port: pair.plain.port, target: `http://${simAuthority}${EMSMDB}`, authority: simAuthority, agent: oneConnectionAgent(), requestCounter: 0 },
      rewrite: { port: pair.rules.port, target: `http://${simAuthority}${EMSMDB}`, authority: simAuthority, agent: oneConnectionAgent(), requestCounter: 0 },
    };
    const expected: Record<Series, string> = { direct: SERVER, plain: SERVER, rewrite: REWRITTEN_SERVER };
    const fresh = (): Tally => ({ extras: [], first: [], pending: 0, polls: 0, server: {}, ok: 0, answers: 0 });
    const acc: Record<Series, Tally> = { direct: fresh(), plain: fresh(), rewrite: fresh() };
    const note = (series: Series, answer: PollResult): void => {
      const a = acc[series];
      const value = answer.serverApplication ?? '(none)';
      a.server[value] = (a.server[value] ?? 0) + 1;
      a.answers++;
      if (answer.serverApplication === expected[series]) a.ok++;
    };
    try {
      for (const series of SERIES) note(series, await connect(sides[series]));
      // One untimed poll each first (JIT, connections), then the timed ones, rotating the order.
      for (let i = 0; i <= cfg.mapiPolls; i++) {
        const order = [...SERIES.slice(i % SERIES.length), ...SERIES.slice(0, i % SERIES.length)];
        for (const series of order) {
          const answer = await mapiRequest(sides[series], 'NotificationWait', NOTIFICATION_WAIT_BODY);
          note(series, answer);
          if (answer.status !== 200) throw new Error(`${series}: NotificationWait answered HTTP ${answer.status}`);
          const timing = extraDelays(answer, pendingMs);
          if (typeof timing === 'string') throw new Error(`${series}: ${timing}`);
          if (i === 0) continue;
          const a = acc[series];
          a.polls++;
          a.pending += timing.pending;
          a.extras.push(...timing.extras);
          a.first.push(answer.pieces[0]!.at - answer.sentAt);
        }
      }
    } finally {
      for (const side of Object.values(sides)) side.agent.destroy();
    }
    for (const series of SERIES) {
      const a = acc[series];
      result.series[series] = {
        polls: a.polls,
        pieces: a.extras.length,
        pending: a.pending,
        maxExtraMs: a.extras.length === 0 ? undefined : Math.max(...a.extras),
        p50ExtraMs: percentile(a.extras, 50),
        p50FirstPieceMs: percentile(a.first, 50),
        serverApplication: a.server,
        expectedServer: a.ok,
        answers: a.answers,
      };
    }
    const plain = result.series.plain?.maxExtraMs;
    const rewrite = result.series.rewrite?.maxExtraMs;
    if (plain !== undefined && rewrite !== undefined) result.maxExtraDeltaMs = rewrite - plain;
    const wrong = SERIES.filter((s) => acc[s].ok < acc[s].answers);
    if (wrong.length > 0) {
      result.error = wrong
        .map((s) => `${s}: X-ServerApplication ${expected[s]} on ${acc[s].ok} of ${acc[s].answers} answers (seen ${JSON.stringify(acc[s].server)})`)
        .join('; ');
    }
    const f = (n: number | undefined): string => (n === undefined ? 'n/a' : n.toFixed(2));
    log(
      `  mapi-stream: max extra per piece (ms) direct ${f(result.series.direct?.maxExtraMs)}, no rule ${f(plain)}, rewrite ${f(rewrite)}; ` +
        `median ${f(result.series.direct?.p50ExtraMs)} / ${f(result.series.plain?.p50ExtraMs)} / ${f(result.series.rewrite?.p50ExtraMs)}; ` +
        `${acc.rewrite.ok} of ${acc.rewrite.answers} answers through the rule said ${REWRITTEN_SERVER}`,
    );
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    log(`  mapi-stream: failed: ${result.error}`);
  } finally {
    if (pair !== undefined) result.notes.push(...(await pair.stop()));
    const simNote = await sim?.stop();
    if (simNote !== undefined) result.notes.push(`MAPI simulator ${simNote}`);
  }
  if (pair !== undefined) {
    const logs = pairLogNotes(pair);
    result.ruleApplied = logs.ruleApplied;
    result.notes.push(...logs.notes);
  }

  for (const note of result.notes) log(`  mapi-stream: note: ${note}`);
  return result;
}
