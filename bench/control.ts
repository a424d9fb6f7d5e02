/**
 * Our proxy with its control server (issue 22), as the bench starts and talks to it: the start
 * options (`--control 127.0.0.1:0` and a token file of the bench's own, instead of --no-control),
 * the control URL from the `listening` line, a small JSON client on one keep-alive connection,
 * and the 100 rules of bench/rules/hundred-nonmatching.yaml sent through `POST /api/rules`.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse } from 'yaml';
import type { FeedCounts } from './feed-subscriber.js';

/**
 * `forward`'s options (`base`, PROXY_START) with the control server on a free loopback port
 * instead of --no-control, its token written to `tokenFile` (never `<ca-dir>/control-token`,
 * which a user's own proxy may be using).
 */
export function controlStartArgs(base: readonly string[], tokenFile: string): string[] {
  return [...base.filter((a) => a !== '--no-control'), '--control', '127.0.0.1:0', '--control-token-file', tokenFile];
}

/** What a subject with a control server says through it once its load is done (measure.ts checks it). */
export interface ControlChecks {
  /** `forward-control`: the feed subscriber's counts, or why there were none. */
  feed?: FeedCounts;
  feedError?: string;
  /** `forward-rules100-runtime`: the rules in force after the load, or why they could not be read. */
  rules?: RulesInForce;
  rulesError?: string;
}

/** Where a subject's token goes: `.bench/NAME.token` (mode 0600, written by the proxy; removed after). */
export function tokenFileFor(workDir: string, name: string): string {
  return path.join(workDir, `${name}.token`);
}

/** The control server's URL from the proxy's `{"msg":"listening", …, "control":"http://…"}` line. */
export function controlUrlFromLog(logFile: string): string {
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"listening"')) continue;
    try {
      const parsed = JSON.parse(line) as { msg?: unknown; control?: unknown };
      if (parsed.msg === 'listening' && typeof parsed.control === 'string') return parsed.control;
    } catch {
      // Not this line.
    }
  }
  throw new Error(`no "control" URL in the proxy's listening line (${logFile}): was it started without --no-control?`);
}

export interface ControlAnswer {
  status: number;
  body: unknown;
  /** From the request's first byte written to the answer's last byte read. */
  ms: number;
  /** The request went over a connection already open (keep-alive). */
  reused: boolean;
}

/**
 * The control API on one keep-alive connection (the server closes an idle one after 5 s; the
 * agent then opens another, which `connections` counts).
 */
export class ControlClient {
  readonly origin: URL;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  connections = 0;

  constructor(
    url: string,
    readonly token: string,
  ) {
    this.origin = new URL(url);
  }

  static fromRun(logFile: string, tokenFile: string): ControlClient {
    return new ControlClient(controlUrlFromLog(logFile), fs.readFileSync(tokenFile, 'utf8').trim());
  }

  request(method: string, pathname: string, body?: unknown): Promise<ControlAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.origin.hostname,
        port: this.origin.port,
        method,
        path: pathname,
        agent: this.agent,
        headers: {
          Authorization: `Bearer ${this.token}`,
          ...(payload !== undefined && { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) }),
        },
      });
      let start = 0;
      req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${pathname}: no answer within 10 s`)));
      req.once('error', reject);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () => {
          const ms = performance.now() - start;
          if (!req.reusedSocket) this.connections++;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // Not JSON: kept as text, for the error message.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, ms, reused: req.reusedSocket });
        });
      });
      start = performance.now();
      req.end(payload);
    });
  }

  /** The answer's body when its status is `want`, else an error that quotes it. */
  async expect(want: number, method: string, pathname: string, body?: unknown): Promise<unknown> {
    const answer = await this.request(method, pathname, body);
    if (answer.status !== want) throw new Error(`${method} ${pathname} answered ${answer.status}, not ${want}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    return answer.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The rules of a bench rule file as JSON values, each as `POST /api/rules` takes it. */
export function rulesAsJson(file: string): Record<string, unknown>[] {
  // The proxy's loader reads the same YAML 1.2 core schema (src/rules/load.ts), so `0x0004000D`
  // is the same number and `250ms` the same string on both paths.
  const doc = parse(fs.readFileSync(file, 'utf8')) as { rules?: unknown };
  if (!Array.isArray(doc.rules)) throw new Error(`${file} has no "rules:" list`);
  return doc.rules as Record<string, unknown>[];
}

/** Adds every rule of `file` through `POST /api/rules`, one request each; returns how many. */
export async function addRuntimeRules(client: ControlClient, file: string): Promise<number> {
  const rules = rulesAsJson(file);
  for (const rule of rules) await client.expect(201, 'POST', '/api/rules', rule);
  return rules.length;
}

/** What `GET /api/rules` says is in force: by source, and the hits of all of them. */
export interface RulesInForce {
  total: number;
  file: number;
  runtime: number;
  scope: number;
  /** Exchanges in which any rule was applied, summed over rules (0: none applied). */
  hits: number;
}

export async function rulesInForce(client: ControlClient): Promise<RulesInForce> {
  const list = (await client.expect(200, 'GET', '/api/rules')) as Array<{ source?: string; hits?: number }>;
  const count = (source: string): number => list.filter((r) => r.source === source).length;
  return { total: list.length, file: count('file'), runtime: count('runtime'), scope: count('scope'), hits: list.reduce((n, r) => n + (r.hits ?? 0), 0) };
}
