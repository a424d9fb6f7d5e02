/**
 * Replays the real-world corpus (test/fixtures/real-world, sources in its README): each folder is
 * one conversation, `NN.request` / `NN.response` the exact bytes of its exchanges in order. An
 * upstream on 127.0.0.1:0 answers the Nth request it reads with the Nth response; the client
 * writes each request on a new raw socket to the proxy, so every byte is the fixture's.
 *
 * What a proxy may change (RFC 9110 §7.6.1, RFC 9112 §3.2 and §6–§7), and nothing else:
 *   - Host: in reverse mode the proxy sends the target's authority (unless --keep-host);
 *   - hop-by-hop fields: Connection, the fields it names, Keep-Alive, TE, Transfer-Encoding,
 *     Upgrade, Trailer, Proxy-Connection; the proxy's own hop may add `Connection`;
 *   - framing: a chunked body may be re-chunked (compared after decoding); bytes after a
 *     Content-Length body (Metasploit's trailing CRLF CRLF) are not part of the message.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import { FIXTURES } from '../fixtures/mapihttp/read.js';
import { parseResponse, type ParsedResponse } from './client.js';
import { startRawServer, type RawTestServer } from './servers.js';

/** The source folder (found from test/… or dist/test/…, beside the MAPI/HTTP fixtures). */
export const REAL_WORLD = join(FIXTURES, '..', 'real-world');

export interface FixtureExchange {
  /** `01`, `02`, … */
  n: string;
  request: Buffer;
  response: Buffer;
}

/** The exchanges of one conversation folder, in order. */
export function loadConversation(name: string): FixtureExchange[] {
  const dir = join(REAL_WORLD, name);
  const numbers = readdirSync(dir).filter((f) => f.endsWith('.request')).map((f) => f.slice(0, -'.request'.length)).sort();
  return numbers.map((n) => ({ n, request: readFileSync(join(dir, `${n}.request`)), response: readFileSync(join(dir, `${n}.response`)) }));
}

export interface ParsedRequest {
  requestLine: string;
  /** `[name0, value0, …]` as on the wire. */
  rawHeaders: string[];
  body: Buffer;
  /** Bytes this request took (head and Content-Length body). */
  length: number;
}

/** Parses one request (Content-Length framing only: the corpus has no chunked requests); undefined while incomplete. */
export function parseRequest(bytes: Buffer): ParsedRequest | undefined {
  // RFC 9112 §2.2: empty lines before a request-line are ignored (Metasploit leaves CRLF CRLF behind its body).
  let start = 0;
  while (bytes.subarray(start, start + 2).toString('latin1') === '\r\n') start += 2;
  const headEnd = bytes.indexOf('\r\n\r\n', start);
  if (headEnd < 0) return undefined;
  const lines = bytes.subarray(start, headEnd).toString('latin1').split('\r\n');
  const rawHeaders: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const length = Number(valueOf(rawHeaders, 'content-length') ?? '0');
  const bodyStart = headEnd + 4;
  if (bytes.length < bodyStart + length) return undefined;
  return { requestLine: lines[0]!, rawHeaders, body: bytes.subarray(bodyStart, bodyStart + length), length: bodyStart + length };
}

/** Parses a whole fixture response (its framing is complete in the file). */
export function parseFixtureResponse(bytes: Buffer): ParsedResponse {
  const parsed = parseResponse(bytes, { ended: true });
  if (parsed === undefined) throw new Error('fixture response is incomplete');
  return parsed;
}

function valueOf(raw: string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

export interface FixtureUpstream extends RawTestServer {
  /** Requests as the upstream read them, in arrival order. */
  received: ParsedRequest[];
}

/**
 * A raw upstream answering the Nth request with `responses[N]`, byte for byte. A response that
 * says `Connection: close` ends its socket, as the server that wrote it would.
 */
export async function startFixtureUpstream(responses: Buffer[]): Promise<FixtureUpstream> {
  const received: ParsedRequest[] = [];
  const server = await startRawServer((socket: net.Socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const request = parseRequest(buffer);
        if (request === undefined) return;
        buffer = buffer.subarray(request.length);
        const answer = responses[received.length];
        received.push(request);
        if (answer === undefined) {
          socket.destroy();
          return;
        }
        socket.write(answer);
        if (/^connection:[ \t]*close\r?$/im.test(answer.subarray(0, answer.indexOf('\r\n\r\n')).toString('latin1'))) socket.end();
      }
    });
  });
  return { ...server, received };
}

/** Header fields a proxy may add, drop or rewrite on its own hop (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'trailer', 'proxy-connection']);

/** `raw` without hop-by-hop fields, including those the Connection field names. */
export function endToEnd(raw: string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const token of raw[i + 1]!.split(',')) named.add(token.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** The client's end-to-end fields with Host set to `authority` in place (reverse mode, RFC 9112 §3.2). */
export function asForwarded(raw: string[], authority: string): string[] {
  const out = endToEnd(raw);
  for (let i = 0; i < out.length; i += 2) if (out[i]!.toLowerCase() === 'host') out[i + 1] = authority;
  return out;
}
