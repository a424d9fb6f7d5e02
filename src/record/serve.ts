/**
 * `./proxy serve <journal…> --listen ADDR` (issue 6, item 5): an HTTP server that answers from a
 * recording, so a developer can reproduce a bug report without the original server. Requests are
 * matched by serve-match.ts (method, path, FPSE method, MAPI/HTTP request type, then order); the
 * answer is the recorded one, status line and raw headers as the client received them (RFC 9110
 * §7.6.1 hop-by-hop fields and Transfer-Encoding left out: this server frames the body itself
 * with Content-Length), body as captured. A body the capture cut short is served as kept and
 * says so in `X-Version-Proxy-Served`, never silently.
 *
 * Memory: the index holds every recorded response body. Journals attached to bug reports are
 * small (a conversation or two, bodies capped by --capture-bytes); a journal of a long capture
 * belongs to `./proxy har` and `./proxy report`, which stream.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { setHeader, withoutHeader, type RawHeaders } from '../core/raw-headers.js';
import { ProgramError } from '../errors.js';
import { FpseRequestScanner } from '../protocols/fpse-request.js';
import { stripHopByHop } from '../proxy/hop-by-hop.js';
import { decodeBytes, type ExchangeLine } from './entry.js';
import { readJournal } from './journal-read.js';
import { AnswerIndex, describeKey, fpseMethodOf, requestKeyOf, type RequestKey } from './serve-match.js';

export interface RecordedAnswer {
  /** Id of the recorded exchange, for logs. */
  id: string;
  statusCode: number;
  statusMessage: string;
  rawHeaders: RawHeaders;
  body: Buffer;
  /** The real body size; more than `body.length` when the capture was cut short. */
  size: number;
}

export interface ServeHandle {
  /** `http://host:port` */
  url: string;
  port: number;
  /** Recorded answers indexed. */
  answers: number;
  close(): Promise<void>;
}

/** Names the answer as a cut-short copy (never silently, issue 6 item 1). */
export const SERVED_HEADER = 'X-Version-Proxy-Served';

/** The answer a recorded exchange gives, or undefined for tunnels, upgrades and exchanges without a response. */
export function answerOf(line: ExchangeLine): RecordedAnswer | undefined {
  if (line.kind !== 'http' || line.response === undefined) return undefined;
  const recorded = line.bodies?.response;
  const body = recorded === undefined ? Buffer.alloc(0) : decodeBytes(recorded);
  // No captured body although bytes flowed: recorded with capture off; served empty, marked cut.
  const size = recorded?.size ?? line.bytes.response;
  return { id: line.id, statusCode: line.response.statusCode, statusMessage: line.response.statusMessage, rawHeaders: line.response.rawHeaders, body, size };
}

/** The key a recorded request is filed under. */
export function recordedKeyOf(line: ExchangeLine): RequestKey {
  const body = line.bodies?.request === undefined ? undefined : decodeBytes(line.bodies.request);
  return requestKeyOf(line.request.method, line.request.url, line.request.rawHeaders, fpseMethodOf(body));
}

/** Reads the journals into an index of answers (see the memory note at the top). */
export async function indexJournals(journals: string[], log: Logger): Promise<AnswerIndex<RecordedAnswer>> {
  const index = new AnswerIndex<RecordedAnswer>();
  const onProblem = (p: { file: string; line: number; message: string }): void => log.warn({ file: p.file, line: p.line }, p.message);
  const lines: ExchangeLine[] = [];
  for await (const { entry } of readJournal(journals, { onProblem })) {
    if (entry.type === 'exchange') lines.push(entry);
  }
  // The journal is in order of finishing; the order that counts for matching is the clients'.
  lines.sort((a, b) => a.timings.start - b.timings.start);
  for (const line of lines) {
    const answer = answerOf(line);
    if (answer !== undefined) index.add(recordedKeyOf(line), answer);
  }
  return index;
}

/** The head and body to send for `answer`, for a request with `method`. */
export function responseFor(answer: RecordedAnswer, method: string): { rawHeaders: RawHeaders; body: Buffer } {
  let headers = withoutHeader(stripHopByHop(answer.rawHeaders).headers, 'transfer-encoding');
  const status = answer.statusCode;
  // RFC 9110 §6.4.1: no content in 1xx, 204 and 304 answers, nor in an answer to HEAD; their
  // Content-Length (if any) describes the representation, so it stays as recorded, except on 204
  // where RFC 9110 §8.6 forbids it.
  const bodiless = method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
  if (status === 204) headers = withoutHeader(headers, 'content-length');
  if (!bodiless) headers = setHeader(headers, 'Content-Length', String(answer.body.length));
  if (answer.body.length < answer.size) headers = [...headers, SERVED_HEADER, `truncated (${answer.body.length} of ${answer.size} bytes)`];
  return { rawHeaders: headers, body: bodiless ? Buffer.alloc(0) : answer.body };
}

/** The 404 text when nothing recorded matches: what was looked for, and what there is. */
export function noMatchText(key: RequestKey, closest: RequestKey[]): string {
  const lines = [`No recorded answer for ${describeKey(key)}.`];
  if (closest.length > 0) lines.push('Closest recorded requests:', ...closest.map((k) => `  ${describeKey(k)}`));
  lines.push('Requests are matched by method, path, FPSE method, MAPI/HTTP request type, then order (./proxy serve).');
  return `${lines.join('\n')}\n`;
}

export async function startServe(journals: string[], listen: { host: string; port: number }, logger: Logger): Promise<ServeHandle> {
  const log = logger.child({ component: 'serve' });
  const index = await indexJournals(journals, log);
  if (index.size === 0) {
    throw new ProgramError('ERR_JOURNAL', `${journals.join(', ')} holds no HTTP exchange with a response to serve`, 'record with ./proxy start --record PATH while the client talks to the server');
  }

  const server = http.createServer({ requireHostHeader: false }, (req, res) => answer(req, res));
  // A client of a recording (Office, Outlook) keeps its connection as it would with IIS.
  server.keepAliveTimeout = 120_000;

  function answer(req: IncomingMessage, res: ServerResponse): void {
    // Only the first body line is kept (FPSE, docs/protocols.md §2.2); the rest is read and dropped.
    const scanner = new FpseRequestScanner();
    req.on('data', (chunk: Buffer) => scanner.push(chunk));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const key = requestKeyOf(req.method ?? 'GET', req.url ?? '/', req.rawHeaders, scanner.end().method);
      const found = index.match(key);
      if (found === undefined) {
        const closest = index.closest(key);
        log.warn({ request: describeKey(key), closest: closest.map(describeKey) }, 'no recorded answer');
        const text = Buffer.from(noMatchText(key, closest), 'utf8');
        res.writeHead(404, 'Not Found', ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(text.length)]);
        res.end(text);
        return;
      }
      const { rawHeaders, body } = responseFor(found.answer, req.method ?? 'GET');
      log.info({ request: describeKey(key), xid: found.answer.id, answer: whichAnswer(found.nth, found.of), ...(found.withoutQuery && { withoutQuery: true }) }, 'served');
      // Recorded heads carry their own Date (or none); do not add one that was never there.
      res.sendDate = false;
      res.writeHead(found.answer.statusCode, found.answer.statusMessage, rawHeaders);
      res.end(body);
    });
  }

  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new ProgramError('ERR_ADDRESS_IN_USE', `${listen.host}:${listen.port} is taken by another program`, 'choose another --listen port, or stop the program using it')
          : new ProgramError('ERR_LISTEN_FAILED', `cannot listen on ${listen.host}:${listen.port} (${err.code ?? err.message})`, 'check the --listen address'),
      );
    });
    server.listen({ host: listen.host, port: listen.port }, () => resolve(server.address() as AddressInfo));
  });
  server.on('error', (err) => log.error({ err }, 'server error'));
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log.info({ url, port: address.port, answers: index.size }, 'listening');
  return {
    url,
    port: address.port,
    answers: index.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Which recorded answer was served, in words: `2 of 3 recorded`, or once they are used up,
 * `the last of 1 recorded, again (request 2)`, since the same request keeps getting the last one.
 */
export function whichAnswer(nth: number, of: number): string {
  return nth <= of ? `${nth} of ${of} recorded` : `the last of ${of} recorded, again (request ${nth})`;
}
