/**
 * `./proxy replay <journal> --target URL [--fast]` (issue 6, item 5): re-sends the recorded HTTP
 * requests, in order, to another server, and reports where the new answers are judged
 * differently (replay-diff.ts).
 *
 * The requests go THROUGH an in-process proxy pipeline in reverse mode (createProxyServer, target
 * = the replay target, on 127.0.0.1:0), so the new answers are observed and judged by exactly the
 * code that judged the recording: same protocol facts, same versions, same verdicts. Each new
 * record is collected from the pipeline's 'finished' event and paired with its request by the
 * client port it came from (requests on one connection go one at a time).
 *
 * How the requests are sent:
 *  - one client connection per recorded client connection, its requests one after the other, so
 *    keep-alive and connection affinity (NTLM, FPSE conversations) behave as they did;
 *  - a request waits for every request that had finished before it started in the recording
 *    (what overlapped, such as a MAPI/HTTP NotificationWait long poll, overlaps again), and under
 *    original pacing also for its recorded offset, each pause capped at `maxGapMs`;
 *  - headers as recorded, minus hop-by-hop fields (RFC 9110 §7.6.1) and minus headers the journal
 *    holds redacted; Host is the target's. Cookies the target sets during the replay are sent in
 *    place of the recorded values, as a client's cookie jar would (RFC 6265 §5.4; replay-cookies.ts):
 *    recorded session cookies are redacted, and a fresh server would not know them anyway;
 *  - the body as captured; a request whose body the capture cut short is skipped, since sending
 *    part of it would be another request.
 *
 * Memory: the requests (heads and bodies) are held until sent, since the journal is in order of
 * finishing and replay needs order of starting. Journals for bug reports are small; response
 * bodies are not kept.
 */
import http, { type Agent } from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import { now, type Exchange } from '../core/exchange.js';
import { ProgramError } from '../errors.js';
import { originUrl, type Origin } from '../core/origin.js';
import { getHeaderValues, setHeader, withoutHeader, type RawHeaders } from '../core/raw-headers.js';
import { stripHopByHop } from '../proxy/hop-by-hop.js';
import { createProxyServer } from '../proxy/server.js';
import type { UpstreamTls } from '../proxy/upstream-tls.js';
import { decodeBytes, type ExchangeLine } from './entry.js';
import { readJournal, type JournalProblem } from './journal-read.js';
import { CookieJar, REDACTED } from './replay-cookies.js';
import { redactedParams } from './redact-url.js';
import { compareExchanges, type Judged, type ReplayResult, type Skipped } from './replay-diff.js';
import { originFormOf } from './serve-match.js';

export type { ReplayResult };

export interface ReplayOptions {
  /** Where the requests go (the CLI parses --target). */
  target: Origin;
  /** Back to back (`--fast`) instead of the recorded pacing. */
  fast?: boolean;
  logger: Logger;
  /** Longest pause between two requests under original pacing; default 10 s. */
  maxGapMs?: number;
  /** Silence from the target before its request fails; default 330 s (a MAPI/HTTP long poll, DEFAULTS). */
  upstreamTimeoutMs?: number;
  /** Trust for an https: target; the system store when absent. */
  upstreamTls?: UpstreamTls;
  /** Told about every journal line skipped (a torn last line); default: listed in the result's notes. */
  onProblem?(problem: JournalProblem): void;
  /** Given each re-sent request's new record (undefined when the request never reached the pipeline), in recorded order. */
  onExchange?(recordedId: string, replayed: Exchange | undefined): void;
}

export const DEFAULT_MAX_GAP_MS = 10_000;
/** How long the pipeline's record may lag behind the end of the answer the client read. */
const RECORD_WAIT_MS = 2000;

/** A request to re-send, with what is needed to judge its answer. */
interface Planned {
  recorded: Judged & { id: string };
  method: string;
  path: string;
  rawHeaders: RawHeaders;
  body: Buffer | undefined;
  /** Recorded client connection: run prefix of the id + connection number (journals can merge runs). */
  connection: string;
  start: number;
  end: number;
}

export async function replayJournal(journals: string[], options: ReplayOptions): Promise<ReplayResult> {
  const result: ReplayResult = { sent: 0, skipped: [], differences: [], withheld: [], notes: [] };
  const withheld = new Set<string>();
  const plans = await planRequests(journals, options, result, withheld);
  const maxGapMs = options.maxGapMs ?? DEFAULT_MAX_GAP_MS;
  if (!options.fast) {
    const capped = plans.filter((p, i) => i > 0 && p.start - plans[i - 1]!.start > maxGapMs).length;
    if (capped > 0) result.notes.push(`original pacing; ${capped} pause(s) longer than ${maxGapMs / 1000} s shortened to ${maxGapMs / 1000} s`);
  }

  if (plans.length > 0) await assertReachable(options.target);

  const proxy = createProxyServer({
    target: options.target,
    keepHost: false,
    forwarded: false,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 330_000,
    logger: options.logger,
    ...(options.upstreamTls !== undefined && { upstreamTls: options.upstreamTls }),
  });
  const records = new RecordsByPort();
  proxy.events.on('finished', (x) => records.add(x));
  const address = await proxy.listen('127.0.0.1', 0);
  const jar = new CookieJar();
  const agents = new Map<string, Agent>();
  const log = options.logger.child({ component: 'replay' });
  log.info({ target: originUrl(options.target), requests: plans.length }, 'replay started');

  const outcomes: Array<Promise<Outcome>> = [];
  const lastOnConnection = new Map<string, Promise<unknown>>();
  // Requests whose recorded end was not yet reached when the latest request started.
  let open: Array<{ end: number; done: Promise<unknown> }> = [];
  let barrier: Promise<unknown> = Promise.resolve();
  const t0 = now();
  let offset = 0;
  try {
    for (const [i, plan] of plans.entries()) {
      if (i > 0) offset += Math.min(plan.start - plans[i - 1]!.start, maxGapMs);
      const finishedBefore = open.filter((o) => o.end <= plan.start);
      if (finishedBefore.length > 0) {
        barrier = Promise.all([barrier, ...finishedBefore.map((o) => o.done)]);
        open = open.filter((o) => o.end > plan.start);
      }
      const due = options.fast ? 0 : t0 + offset;
      const waits = [barrier, lastOnConnection.get(plan.connection) ?? Promise.resolve()];
      let agent = agents.get(plan.connection);
      if (agent === undefined) {
        agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        agents.set(plan.connection, agent);
      }
      const sendingAgent = agent;
      const outcome = Promise.all(waits)
        .then(() => sleepUntil(due))
        .then(() => send(plan, address.port, sendingAgent, jar, withheld, records));
      outcomes.push(outcome);
      const done = outcome.catch(() => undefined);
      lastOnConnection.set(plan.connection, done);
      open.push({ end: plan.end, done });
    }
    const replayed = await Promise.all(outcomes);
    result.sent = plans.length;
    for (const [i, plan] of plans.entries()) {
      const { record, seen } = replayed[i]!;
      options.onExchange?.(plan.recorded.id, record);
      const diff = compareExchanges({ id: plan.recorded.id, method: plan.method, path: plan.path }, plan.recorded, record ?? seen);
      if (diff !== undefined) result.differences.push(diff);
    }
  } finally {
    for (const agent of agents.values()) agent.destroy();
    await proxy.close(1000);
  }
  if (jar.replaced) result.notes.push('cookies the target set during the replay were sent in place of the recorded values, as a client would');
  result.withheld = [...withheld];
  log.info({ sent: result.sent, skipped: result.skipped.length, differ: result.differences.length }, 'replay finished');
  return result;
}

/** The journal's HTTP requests in the order they started; what cannot be re-sent goes to `skipped`. */
async function planRequests(journals: string[], options: ReplayOptions, result: ReplayResult, withheld: Set<string>): Promise<Planned[]> {
  const target = options.target;
  const lines: ExchangeLine[] = [];
  const onProblem = (p: JournalProblem): void => {
    if (options.onProblem !== undefined) options.onProblem(p);
    else result.notes.push(`${p.file}:${p.line}: ${p.message}`);
  };
  for await (const { entry } of readJournal(journals, { onProblem })) if (entry.type === 'exchange') lines.push(entry);
  lines.sort((a, b) => a.timings.start - b.timings.start);

  const plans: Planned[] = [];
  const origins = new Set<string>();
  let ruled = 0;
  for (const line of lines) {
    const skip = (reason: string): void => void result.skipped.push({ id: line.id, reason } satisfies Skipped);
    if (line.kind !== 'http') {
      const what = line.kind === 'upgrade' ? 'an upgrade' : line.intercepted === true ? 'an intercepted tunnel' : 'a tunnel';
      const inside = line.intercepted === true ? '; the requests decrypted from it are replayed on their own' : '';
      skip(`${what} (${line.url}); replay re-sends HTTP requests only${inside}`);
      continue;
    }
    if (line.request.method === '') {
      skip('the recorded request head was not valid HTTP; there is nothing to re-send');
      continue;
    }
    const recordedBody = line.bodies?.request;
    if (recordedBody?.truncated === true) {
      skip(`its body was cut at ${decodeBytes(recordedBody).length} of ${recordedBody.size} bytes by --capture-bytes; part of it would be another request`);
      continue;
    }
    if (recordedBody === undefined && line.bytes.request > 0) {
      skip(`its body (${line.bytes.request} bytes) is not in the journal (recorded with --capture-bytes 0?)`);
      continue;
    }
    const path = originFormOf(line.request.url);
    // A redacted query value is sent as its (URL-safe) marker: named like a withheld header.
    for (const name of redactedParams(path)) withheld.add(`?${name}`);
    if (line.url.endsWith(path)) origins.add(line.url.slice(0, line.url.length - path.length));
    if (line.rules?.some((r) => r.outcome === 'applied') === true) ruled += 1;
    plans.push({
      recorded: { id: line.id, ...(line.response && { response: line.response }), ...(line.protocol && { protocol: line.protocol }), ...(line.error && { error: line.error }) },
      method: line.request.method,
      path,
      rawHeaders: headersToSend(line.request.rawHeaders, target, withheld),
      body: recordedBody === undefined ? undefined : decodeBytes(recordedBody),
      connection: `${line.id.split('-')[0]}:${line.client.connection}`,
      start: line.timings.start,
      end: line.timings.end ?? line.timings.start,
    });
  }
  if (origins.size > 1) result.notes.push(`the journal addresses ${origins.size} origins (${[...origins].join(', ')}); all requests went to ${originUrl(target)}`);
  if (ruled > 0) result.notes.push(`${ruled} recorded exchange(s) were changed by rules; replay sends what the clients sent and applies no rules`);
  return plans;
}

/** Recorded headers minus hop-by-hop and redacted ones, Host set to the target; Cookie is rebuilt at send time. */
function headersToSend(raw: RawHeaders, target: Origin, withheld: Set<string>): RawHeaders {
  // Proxy-Authorization was addressed to the recording proxy (RFC 9110 §11.7.2), not the origin.
  const stripped = stripHopByHop(raw, { dropProxyAuthorization: true }).headers;
  const out: RawHeaders = [];
  for (let i = 0; i < stripped.length; i += 2) {
    const name = stripped[i]!;
    const value = stripped[i + 1]!;
    if (value.includes(REDACTED) && name.toLowerCase() !== 'cookie') withheld.add(name);
    else out.push(name, value);
  }
  return setHeader(out, 'Host', target.authority);
}

function sleepUntil(time: number): Promise<void> {
  const wait = time - now();
  return wait <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, wait));
}

/** The pipeline's record of a re-sent request, or only what the client saw when no record came. */
interface Outcome {
  record?: Exchange;
  seen: Judged;
}

/** Sends one request through the pipeline. */
function send(plan: Planned, port: number, agent: Agent, jar: CookieJar, withheld: Set<string>, records: RecordsByPort): Promise<Outcome> {
  let headers = plan.rawHeaders;
  const cookies = getHeaderValues(headers, 'cookie');
  if (cookies.length > 0) {
    const cookie = jar.cookieFor(plan.path, cookies, withheld);
    headers = cookie === undefined ? withoutHeader(headers, 'cookie') : setHeader(headers, 'Cookie', cookie);
  }
  return new Promise((resolve) => {
    let localPort: number | undefined;
    let settled = false;
    const settle = (seen: Judged): void => {
      // A response error can be followed by a request error: the record is claimed once.
      if (settled) return;
      settled = true;
      if (localPort === undefined) return resolve({ seen });
      void records.take(localPort, plan, RECORD_WAIT_MS).then((record) => resolve(record === undefined ? { seen } : { record, seen }));
    };
    let req: http.ClientRequest;
    try {
      req = http.request({ host: '127.0.0.1', port, method: plan.method, path: plan.path, headers, agent, setHost: false });
    } catch (err) {
      // Node refuses some recorded heads outright (ERR_INVALID_CHAR in a header value): a difference, not a crash.
      const e = err as NodeJS.ErrnoException;
      return resolve({ seen: { error: { code: e.code ?? 'ERR_REPLAY', message: e.message, phase: 'request-head' } } });
    }
    req.on('socket', (socket) => {
      if (socket.localPort !== undefined) localPort = socket.localPort;
      else socket.once('connect', () => (localPort = socket.localPort));
    });
    req.on('response', (res) => {
      jar.store(plan.path, res.headers['set-cookie'] ?? []);
      res.resume();
      res.on('end', () => settle({ response: { statusCode: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', httpVersion: res.httpVersion, rawHeaders: res.rawHeaders, source: 'upstream' } }));
      res.on('error', (err: NodeJS.ErrnoException) => settle({ error: { code: err.code ?? 'ERR_REPLAY', message: err.message, phase: 'response-body' } }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => settle({ error: { code: err.code ?? 'ERR_REPLAY', message: err.message, phase: 'request-head' } }));
    req.end(plan.body);
  });
}

/** The pipeline's finished records by client port, claimed in order by the request sent from that port. */
class RecordsByPort {
  private readonly byPort = new Map<number, Exchange[]>();
  private readonly waiting = new Map<number, () => void>();

  add(x: Exchange): void {
    const list = this.byPort.get(x.client.port) ?? [];
    list.push(x);
    this.byPort.set(x.client.port, list);
    this.waiting.get(x.client.port)?.();
  }

  async take(port: number, plan: Planned, timeoutMs: number): Promise<Exchange | undefined> {
    const deadline = now() + timeoutMs;
    for (;;) {
      const list = this.byPort.get(port) ?? [];
      // A port can be reused by a later connection; a record that is not this request's is stale.
      const index = list.findIndex((x) => x.request.method === plan.method && x.request.url === plan.path);
      if (index >= 0) return list.splice(index, 1)[0];
      const left = deadline - now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting.set(port, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiting.delete(port);
    }
  }
}

/** How long the reachability check waits for the target's TCP handshake. */
const REACH_TIMEOUT_MS = 5000;

/**
 * One TCP connection to the target before anything is re-sent: a target that is not there is said
 * once, as one error, instead of as a 502 on every replayed exchange.
 */
function assertReachable(target: Origin): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.hostname, port: target.port });
    const fail = (reason: string): void => {
      socket.destroy();
      reject(new ProgramError('ERR_BAD_TARGET', `cannot reach the target ${originUrl(target)} (${reason})`, 'start the server first, or check --target'));
    };
    socket.setTimeout(REACH_TIMEOUT_MS, () => fail(`no answer within ${REACH_TIMEOUT_MS / 1000} s`));
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
  });
}
