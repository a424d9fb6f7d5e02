/**
 * Clients of the live feed (`GET /api/events`, docs/control-api.md "Live feed") for tests: a
 * subscriber that collects every message, and a bare upgrade attempt that reports the control
 * server's answer (101 or its JSON refusal). Everything is closed when the test ends.
 */
import http from 'node:http';
import type { TestContext } from 'node:test';
import WebSocket from 'ws';
import { waitFor } from './process.js';

export interface FeedMessage {
  seq: number;
  type: 'started' | 'finished' | 'missed';
  time?: number;
  missed?: number;
  exchange?: { id: string; method: string; url: string; start: number; status?: number; kind: string; protocol?: string; verdicts: Array<{ code: string }>; rules: string[]; bytes: { request: number; response: number } };
}

export interface Subscription {
  ws: WebSocket;
  messages: FeedMessage[];
  /** Resolves once `n` messages (of those `keep` accepts, all by default) have come. */
  waitFor(n: number, keep?: (m: FeedMessage) => boolean, timeoutMs?: number): Promise<FeedMessage[]>;
  closed: Promise<{ code: number; reason: string }>;
}

export interface SubscribeOptions {
  /** The bearer token as Authorization (undefined: none). */
  token?: string;
  protocols?: string[];
  query?: string;
  headers?: Record<string, string>;
}

/** Opens the feed on `port` and collects its messages; rejects when the upgrade is refused. */
export async function subscribe(t: TestContext, port: number, options: SubscribeOptions = {}): Promise<Subscription> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/events${options.query ?? ''}`, options.protocols ?? [], { headers, perMessageDeflate: false });
  t.after(() => ws.terminate());
  const messages: FeedMessage[] = [];
  ws.on('message', (data) => messages.push(JSON.parse((data as Buffer).toString('utf8')) as FeedMessage));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return {
    ws,
    messages,
    closed,
    waitFor: (n, keep = () => true, timeoutMs = 5000) =>
      waitFor(`${n} feed messages (have ${JSON.stringify(messages.filter(keep).slice(-5))})`, () => {
        const kept = messages.filter(keep);
        return kept.length >= n ? kept : undefined;
      }, timeoutMs),
  };
}

export interface UpgradeAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The JSON body of a refusal. */
  json: { error?: string; code?: string; issues?: string[] } | undefined;
}

/** A WebSocket handshake by hand (RFC 6455 §4.1) with any headers; reports 101 or the refusal. */
export function tryUpgrade(port: number, path: string, headers: Record<string, string>): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      agent: false,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to the upgrade of ${path}`));
    }, 5000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('upgrade', (res, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, json: undefined });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        let json: UpgradeAnswer['json'];
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as UpgradeAnswer['json'];
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    req.end();
  });
}
