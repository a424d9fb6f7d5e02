/**
 * Rule files and rule-driven proxies for integration tests (issue 4, docs/rules.md): YAML
 * text written to a fresh temporary folder that the test removes when it ends, a proxy started
 * on it with `seed: 42`, the record of one rule on an exchange, and a recording relay that sits
 * between the proxy and a simulator so a test sees exactly what the upstream received (the
 * simulators answer like real servers but keep no record of what they were sent).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { ProxyConfig } from '../../src/config.js';
import type { Exchange, RuleRecord } from '../../src/core/exchange.js';
import { startProxy, startProxyFor, type Mode, type ModeProxy, type TestProxy } from './proxy.js';
import { startRecordingServer, type RecordingServer } from './servers.js';

/** The seed every rule proxy of these tests uses (`--seed 42`). */
export const SEED = 42;

/** A fresh, empty folder under the system temp folder, removed when the test ends. */
export async function ruleFolder(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'version-proxy-rules-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `yaml` as `name` in a fresh folder (or in `dir`); returns the file's path. */
export async function writeRules(t: TestContext, yaml: string, name = 'rules.yaml', dir?: string): Promise<string> {
  const folder = dir ?? (await ruleFolder(t));
  const file = path.join(folder, name);
  await writeFile(file, yaml, 'utf8');
  return file;
}

/** A forward proxy on the rules in `yaml` with `seed: 42`, closed when the test ends. */
export async function rulesProxy(t: TestContext, yaml: string, overrides: Partial<ProxyConfig> = {}): Promise<TestProxy> {
  const file = await writeRules(t, yaml);
  const proxy = await startProxy({ rules: [file], seed: SEED, ...overrides });
  t.after(() => proxy.close());
  return proxy;
}

/** A proxy in `mode` for `upstreamPort` on the rules in `yaml` with `seed: 42`, closed when the test ends. */
export async function rulesProxyFor(t: TestContext, mode: Mode, upstreamPort: number, yaml: string, overrides: Partial<ProxyConfig> = {}): Promise<ModeProxy> {
  const file = await writeRules(t, yaml);
  const proxy = await startProxyFor(mode, upstreamPort, { rules: [file], seed: SEED, ...overrides });
  t.after(() => proxy.close());
  return proxy;
}

/** The record of rule `id` on an exchange; fails listing the rules that are there. */
export function ruleRecord(exchange: Exchange | undefined, id: string): RuleRecord {
  if (exchange === undefined) throw new Error('no such exchange');
  const found = exchange.rules?.find((r) => r.id === id);
  if (found === undefined) {
    const listed = (exchange.rules ?? []).map((r) => `${r.id} ${r.outcome}`).join(', ') || 'none';
    throw new Error(`rule ${id} is not on the record of ${exchange.request.method} ${exchange.request.url}; rules: ${listed}`);
  }
  return found;
}

/** Rule ids on the record with their outcome, e.g. `['a applied', 'b passed']`. */
export function outcomes(exchange: Exchange | undefined): string[] {
  return (exchange?.rules ?? []).map((r) => `${r.id} ${r.outcome}`);
}

/** One answer the simulator behind a relay gave, as the relay received it. */
export interface RelayedAnswer {
  statusCode: number;
  rawHeaders: string[];
  body: Buffer;
}

export interface RecordingRelay extends RecordingServer {
  /** What the simulator answered to each request, in order (pushed when the answer ended). */
  answers: RelayedAnswer[];
}

/** Fields that describe one connection, not the message: the relay's own hops set their own. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection']);

function withoutHop(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/**
 * An upstream that records each request whole (head and body, as the proxy sent them), passes
 * it to the simulator at `to`, and streams the simulator's answer back chunk by chunk (a MAPI/HTTP
 * long poll keeps its timing, give or take a loopback hop). Closed when the test ends.
 */
export async function recordingRelay(t: TestContext, to: string): Promise<RecordingRelay> {
  const target = new URL(to);
  const answers: RelayedAnswer[] = [];
  const relay = await startRecordingServer((seen, res) => {
    const headers = withoutHop(seen.rawHeaders);
    const upstream = http.request({ host: target.hostname, port: target.port, method: seen.method, path: seen.url, headers, agent: false });
    upstream.on('error', () => res.destroy());
    upstream.on('response', (answer) => {
      const chunks: Buffer[] = [];
      const rawHeaders = withoutHop(answer.rawHeaders);
      // Without a length the answer is chunked (as the simulator sent it); node:http frames it again.
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage ?? '', rawHeaders);
      res.flushHeaders();
      answer.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        res.write(chunk);
      });
      answer.on('end', () => {
        answers.push({ statusCode: answer.statusCode ?? 0, rawHeaders: answer.rawHeaders, body: Buffer.concat(chunks) });
        res.end();
      });
      answer.on('error', () => res.destroy());
      res.on('close', () => answer.destroy());
    });
    upstream.end(seen.body);
  });
  relay.server.on('connection', (socket) => socket.setNoDelay(true));
  t.after(() => relay.close());
  return { ...relay, answers };
}
