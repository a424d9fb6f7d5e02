/**
 * Hostile inputs, part "pathological patterns" (issue 21, finding 1): rule patterns that a
 * backtracking engine takes seconds to minutes on, fed long paths, hosts and header values
 * through the real proxy. For each: what the client got, what the upstream received, what the
 * record says (the exchange log line, and the journal at the end), and that another client's
 * plain request, sent while the hostile ones are in flight, is answered within 50 ms.
 *
 * The proxy runs as its own process, so a regression that blocks its event loop fails this test
 * on the clock of a process that is not blocked (and is killed), instead of hanging the runner.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExchangeLine } from '../src/record/entry.js';
import { readJournal } from '../src/record/journal-read.js';
import { RawConnection, header, type ParsedResponse } from './helpers/client.js';
import { ProxyProcess, type LogLine } from './helpers/process.js';
import { clock, startRecordingServer, type RecordingServer } from './helpers/servers.js';

/**
 * The bound of the issue. A plain request through the proxy takes 1-3 ms on loopback; the bug
 * it guards against took 1.2 s to minutes, so 50 ms leaves room for a loaded machine.
 */
const ANSWER_BOUND_MS = 50;

/** Patterns from the issue's attack run, each tagging the request it matches. */
const RULES = `rules:
  - id: dll
    match: { path: "*/_vti_bin/*/*.dll" }
    actions: [ { setHeader: { name: X-Matched, value: dll } } ]
  - id: g-chain
    match: { path: "/g*a*a*a*a*a*a*a*a*a*a*b" }
    actions: [ { setHeader: { name: X-Matched, value: g-chain } } ]
  - id: nested
    match: { path: '/^\\/(a+)+$/' }
    actions: [ { setHeader: { name: X-Matched, value: nested } } ]
  - id: words
    match: { header: { X-Words: '/^(\\w+\\s?)+$/' } }
    actions: [ { setHeader: { name: X-Matched, value: words } } ]
  - id: host-chain
    priority: 10
    match: { host: "g*a*a*a*a*a*a*a*a*a*a*b" }
    actions: [ { setHeader: { name: X-Matched, value: host-chain } } ]
  # Answers requests for made-up hosts without an upstream (after host-chain had its look).
  - id: answer-here
    match: { header: { X-Answer-Here: "1" } }
    actions: [ { respond: { status: 200, body: answered by rule } } ]
`;

interface Hostile {
  name: string;
  /** Request target (absolute form) and extra header lines. */
  url: string;
  headers?: string;
  /** The rule id the upstream's X-Matched should carry; undefined: no tag. */
  tag: string | undefined;
  /** false: the answer-here rule answers, the upstream sees nothing. */
  reachesUpstream?: boolean;
}

const repeat = (s: string, n: number): string => s.repeat(n);
/** A 252-character host (DNS allows 253, in labels of at most 63) of `a` after a `g`, and no `b`. */
const LONG_HOST = `g${repeat(`${repeat('a', 62)}.`, 3)}${repeat('a', 62)}`;

function cases(upstream: string): Hostile[] {
  return [
    // 1,500 folders named _vti_bin: the `.*` chain tries each split (24 s for 1,600 under V8).
    { name: '*/_vti_bin/*/*.dll, 13.5 KB path, no match', url: `${upstream}${repeat('/_vti_bin', 1500)}/a.dl`, tag: undefined },
    { name: '*/_vti_bin/*/*.dll, 13.5 KB path, match', url: `${upstream}${repeat('/_vti_bin', 1500)}/author.dll`, tag: 'dll' },
    { name: 'g*a*…*b, 61-character path', url: `${upstream}/g${repeat('a', 59)}`, tag: undefined },
    { name: 'g*a*…*b, 15 KB path', url: `${upstream}/g${repeat('a', 15_000)}`, tag: undefined },
    { name: 'g*a*…*b, 15 KB path, match', url: `${upstream}/g${repeat('a', 15_000)}b`, tag: 'g-chain' },
    { name: '/^\\/(a+)+$/, 29-character path', url: `${upstream}/${repeat('a', 28)}!`, tag: undefined },
    { name: '/^\\/(a+)+$/, 15 KB path', url: `${upstream}/${repeat('a', 15_000)}!`, tag: undefined },
    { name: '/^\\/(a+)+$/, 15 KB path, match', url: `${upstream}/${repeat('a', 15_000)}`, tag: 'nested' },
    { name: '/^(\\w+\\s?)+$/ on a 15 KB header value', url: `${upstream}/words`, headers: `X-Words: ${repeat('word ', 3000)}!\r\n`, tag: undefined },
    { name: 'host g*a*…*b on a 252-character host', url: `http://${LONG_HOST}/host`, headers: 'X-Answer-Here: 1\r\n', tag: undefined, reachesUpstream: false },
    { name: 'host g*a*…*b on a 252-character host, match', url: `http://${LONG_HOST.slice(0, -1)}b/host`, headers: 'X-Answer-Here: 1\r\n', tag: 'host-chain', reachesUpstream: false },
  ];
}

function requestBytes(url: string, extra = ''): string {
  return `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\n${extra}Connection: close\r\n\r\n`;
}

/** A request on its own connection, and how long its complete answer took. */
async function timedPlain(port: number, url: string, headers?: string): Promise<{ response: ParsedResponse; ms: number }> {
  const start = clock();
  const conn = await RawConnection.open(port);
  try {
    const response = await conn.request(requestBytes(url, headers), 10_000);
    return { response, ms: response.receivedAt - start };
  } finally {
    conn.destroy();
  }
}

describe('hostile input: pathological rule patterns', { timeout: 60_000 }, () => {
  let upstream: RecordingServer;
  let proxy: ProxyProcess;
  let origin: string;
  let folder: string;
  let journal: string;
  /** How many times each hostile URL was sent (warm-up included), for the journal's count. */
  const sent = new Map<string, number>();
  const count = (url: string, n: number): void => void sent.set(url, (sent.get(url) ?? 0) + n);

  before(async () => {
    upstream = await startRecordingServer();
    origin = `http://127.0.0.1:${upstream.port}`;
    folder = await mkdtemp(path.join(os.tmpdir(), 'version-proxy-hostile-'));
    const file = path.join(folder, 'patterns.yaml');
    await writeFile(file, RULES, 'utf8');
    journal = path.join(folder, 'journal.ndjson');
    proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--rules', file, '--seed', '42', '--record', journal]);
    // One exchange of each kind first, so that what is measured below is not the proxy's code
    // being compiled (a cold first 15 KB path costs ~10 ms): a blocking matcher blocks warm too.
    // Under the bug this already fails, on the 10 s timeout of one of these answers.
    await timedPlain(proxy.port, `${origin}/plain-warm-up`);
    for (const c of cases(origin)) {
      count(c.url, 1);
      const warm = await timedPlain(proxy.port, c.url, c.headers).catch((error: Error) => {
        throw new Error(`warm-up, ${c.name}: ${error.message}`);
      });
      assert.equal(warm.response.statusCode, 200, `warm-up: ${c.name}`);
    }
  });

  after(async () => {
    await proxy?.kill();
    await upstream?.close();
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  });

  it('loads every pattern: none needs refusing, since all match in linear time', async () => {
    const loaded = await proxy.waitForLine('the "rules loaded" line', (l) => l.msg === 'rules loaded');
    assert.equal(loaded.count ?? loaded.rules, 6, JSON.stringify(loaded));
  });

  for (const [i, c] of cases('http://UPSTREAM').entries()) {
    it(`${c.name}: answered, recorded, and a plain client is served within ${ANSWER_BOUND_MS} ms meanwhile`, async () => {
      const hostile = cases(origin)[i]!;
      const seenBefore = upstream.requests.length;
      const linesBefore = linesFor(proxy, hostile.url).length;
      const took: number[] = [];
      let copies = 0;
      // Three copies in flight on their own connections, then the plain request: a matcher that
      // blocks the loop holds the plain answer back for as long as it runs. Up to three tries,
      // each with fresh copies in flight: a blocking matcher fails all three, while a proxy
      // process descheduled for a moment on a shared CI machine does not fail the test.
      while (took.length < 3 && !took.some((ms) => ms < ANSWER_BOUND_MS)) {
        const conns = await Promise.all([0, 1, 2].map(() => RawConnection.open(proxy.port)));
        try {
          await Promise.all(conns.map((conn) => conn.write(requestBytes(hostile.url, hostile.headers))));
          copies += conns.length;
          count(hostile.url, conns.length);
          const plain = await timedPlain(proxy.port, `${origin}/plain-${i}`).catch((error: Error) => {
            throw new Error(`the plain request sent while ${c.name} was in flight got no answer: ${error.message}`);
          });
          assert.equal(plain.response.statusCode, 200);
          assert.equal(plain.response.body.toString(), 'ok');
          took.push(plain.ms);
          // What each hostile client got.
          for (const conn of conns) {
            const answer = await conn.readResponse(10_000);
            assert.equal(answer.statusCode, 200);
            assert.equal(answer.body.toString(), hostile.reachesUpstream === false ? 'answered by rule' : 'ok');
          }
        } finally {
          for (const conn of conns) conn.destroy();
        }
      }
      const shown = took.map((ms) => `${ms.toFixed(1)} ms`).join(', ');
      assert.ok(took.some((ms) => ms < ANSWER_BOUND_MS), `the plain request took ${shown} while ${c.name} was in flight (bound ${ANSWER_BOUND_MS} ms)`);

      // What the upstream received: each hostile request whole, tagged only by the rule that matches.
      const seen = upstream.requests.slice(seenBefore).filter((r) => !r.url.startsWith('/plain-'));
      if (hostile.reachesUpstream === false) assert.equal(seen.length, 0, 'the rule answered; the upstream saw nothing');
      else {
        const path = new URL(hostile.url).pathname;
        assert.equal(seen.length, copies);
        for (const r of seen) {
          assert.equal(r.url, path);
          assert.equal(header(r.rawHeaders, 'X-Matched'), hostile.tag);
          if (hostile.headers !== undefined) assert.equal(header(r.rawHeaders, 'X-Words'), hostile.headers.slice('X-Words: '.length, -2));
        }
      }

      // What the record says: one exchange line per hostile request, with the rules applied.
      const lines = (await waitForLines(proxy, hostile.url, linesBefore + copies)).slice(linesBefore);
      for (const line of lines) {
        assert.equal(line.status, 200);
        // `rules` lists the rules applied (absent when none was).
        const want = appliedRules(hostile);
        assert.deepEqual(line.rules, want.length === 0 ? undefined : want);
      }
    });
  }

  it('the journal holds every hostile exchange once, with the rules applied to it', async () => {
    await proxy.kill(); // ends the journal's last write
    const lines: ExchangeLine[] = [];
    for await (const { entry } of readJournal([journal])) if (entry.type === 'exchange') lines.push(entry);
    for (const c of cases(origin)) {
      const mine = lines.filter((l) => l.url === c.url);
      assert.equal(mine.length, sent.get(c.url), `${c.name}: journal lines`);
      for (const line of mine) {
        assert.equal(line.response?.statusCode, 200);
        assert.deepEqual((line.rules ?? []).filter((r) => r.outcome === 'applied').map((r) => r.id), appliedRules(c), c.name);
      }
    }
  });
});

/** The ids of the rules that apply to a hostile request, in the order they run. */
function appliedRules(c: Hostile): string[] {
  return [...(c.tag === undefined ? [] : [c.tag]), ...(c.reachesUpstream === false ? ['answer-here'] : [])];
}

function linesFor(proxy: ProxyProcess, url: string): LogLine[] {
  return proxy.lines.filter((l) => l.msg === 'exchange' && l.url === url);
}

async function waitForLines(proxy: ProxyProcess, url: string, n: number): Promise<LogLine[]> {
  await proxy.waitForLine(`${n} exchange lines for ${url.slice(0, 60)}…`, () => linesFor(proxy, url).length >= n, 10_000);
  const found = linesFor(proxy, url);
  assert.equal(found.length, n);
  return found;
}
