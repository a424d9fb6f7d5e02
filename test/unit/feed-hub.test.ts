/**
 * The live feed's logic without sockets (src/control/feed-hub.ts, docs/control-api.md
 * "Live feed"): what an event costs with no subscriber and with several, the filter at 'started',
 * a subscriber whose queue is full (dropped, counted, told), stall and keepalive, `since`.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { createExchange, type Exchange } from '../../src/core/exchange.js';
import { MATCH_ALL, parseFilter, type Filter } from '../../src/core/filter.js';
import { silentLogger } from '../../src/log.js';
import { messageOf, type EventBatch } from '../../src/control/event-ring.js';
import { FeedHub, FLUSH_MS, type FeedLimits, type Peer } from '../../src/control/feed-hub.js';
import { createRedactor, type Redactor } from '../../src/record/redact.js';

class FakePeer implements Peer {
  bufferedAmount = 0;
  sent: Buffer[] = [];
  pings = 0;
  closed: { code: number; reason: string } | undefined;
  terminated = false;
  batches: Array<{ batch: EventBatch; only: readonly number[] | undefined }> = [];
  send(data: Buffer): void {
    this.sent.push(data);
  }
  sendBatch(batch: EventBatch, only?: readonly number[]): void {
    this.batches.push({ batch, only });
    for (let k = 0; k < (only?.length ?? batch.count); k++) this.sent.push(messageOf(batch, only === undefined ? k : only[k]!));
  }
  ping(): void {
    this.pings += 1;
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  terminate(): void {
    this.terminated = true;
  }
  messages(): Array<{ seq: number; type: string; missed?: number; exchange?: { url: string; status?: number } }> {
    return this.sent.map((b) => JSON.parse(b.toString('utf8')) as { seq: number; type: string });
  }
}

/** A redactor that counts its calls: a summary redacts the URL, so calls count summaries. */
function countingRedactor(): Redactor & { calls: number } {
  const real = createRedactor({ enabled: true, extraHeaders: [] });
  const counting: Redactor & { calls: number } = {
    ...real,
    calls: 0,
    url: (url: string) => {
      counting.calls += 1;
      return real.url(url);
    },
  };
  return counting;
}

function exchange(path: string, status?: number): Exchange {
  const x = createExchange('http', { address: '127.0.0.1', port: 1 } as Exchange['client'], { method: 'GET', url: `http://h${path}`, httpVersion: '1.1', rawHeaders: [] });
  if (status !== undefined) {
    x.response = { statusCode: status, statusMessage: '', httpVersion: '1.1', rawHeaders: [] } as unknown as Exchange['response'];
    x.timings.end = x.timings.start + 1;
  }
  return x;
}

function filter(text: string): Filter {
  const parsed = parseFilter(text);
  assert.ok(parsed.ok);
  return parsed.filter;
}

/** An event sent at once (the hub batches them for FLUSH_MS; these tests are about what is sent). */
function finish(h: FeedHub, x: Exchange): void {
  h.finished(x);
  h.flush();
}
function start(h: FeedHub, x: Exchange): void {
  h.started(x);
  h.flush();
}

const hubs: FeedHub[] = [];
function hub(redactor: Redactor = countingRedactor(), limits: Partial<FeedLimits> = {}): FeedHub {
  const h = new FeedHub(redactor, silentLogger(), limits);
  hubs.push(h);
  return h;
}

afterEach(() => {
  for (const h of hubs.splice(0)) h.close();
  mock.timers.reset();
});

describe('feed hub: cost', () => {
  it('with no subscriber builds no summary, yet numbers every event', () => {
    const redactor = countingRedactor();
    const h = hub(redactor);
    for (let i = 0; i < 100; i++) {
      const x = exchange(`/${i}`);
      start(h, x);
      finish(h, x);
    }
    assert.equal(redactor.calls, 0);
    assert.equal(h.seq, 200);
  });

  it('with several subscribers builds and serializes each event once: the same bytes to each', () => {
    const redactor = countingRedactor();
    const h = hub(redactor);
    const peers = [new FakePeer(), new FakePeer(), new FakePeer()];
    for (const p of peers) h.add(p, MATCH_ALL, 'test');
    finish(h, exchange('/x', 200));
    assert.equal(redactor.calls, 1);
    assert.ok(peers.every((p) => p.batches.length === 1 && p.batches[0]!.batch === peers[0]!.batches[0]!.batch && p.batches[0]!.only === undefined), 'one batch for all');
  });
});

describe('feed hub: messages', () => {
  it("'started' carries the request line as a summary, as JSON.stringify would write it, escapes and all", () => {
    const h = hub();
    const peer = new FakePeer();
    h.add(peer, MATCH_ALL, 'test');
    const x = exchange('/a"b\\c?access_token=secret&x=\u2028');
    start(h, x);
    const text = peer.sent[0]!.toString('utf8');
    const message = JSON.parse(text) as { exchange: { url: string } };
    assert.deepEqual(message, {
      seq: 1,
      type: 'started',
      time: Math.round(x.timings.start),
      exchange: { id: x.id, kind: 'http', method: 'GET', url: message.exchange.url, start: Math.round(x.timings.start), verdicts: [], rules: [], bytes: { request: 0, response: 0 } },
    });
    assert.equal(text, JSON.stringify(message));
    assert.doesNotMatch(message.exchange.url, /secret/);
    assert.match(message.exchange.url, /^http:\/\/h\/a"b\\c\?access_token=/);
  });
});

describe('feed hub: filters', () => {
  it("a filter of head keys gets 'started'; one that reads the finished exchange only 'finished'", () => {
    const h = hub();
    const head = new FakePeer();
    const finishedOnly = new FakePeer();
    const negated = new FakePeer();
    h.add(head, filter('method:GET path:/a*'), 'test');
    h.add(finishedOnly, filter('status:2xx'), 'test');
    h.add(negated, filter('-status:5xx'), 'test');
    for (const [path, status] of [['/a1', 200], ['/b', 200], ['/a2', 503]] as const) {
      const x = exchange(path);
      start(h, x);
      x.response = { statusCode: status } as Exchange['response'];
      x.timings.end = x.timings.start + 1;
      finish(h, x);
    }
    const seen = (p: FakePeer): string[] => p.messages().map((m) => `${m.seq} ${m.type} ${new URL(m.exchange!.url).pathname}`);
    assert.deepEqual(seen(head), ['1 started /a1', '2 finished /a1', '5 started /a2', '6 finished /a2']);
    assert.deepEqual(seen(finishedOnly), ['2 finished /a1', '4 finished /b']);
    assert.deepEqual(seen(negated), ['2 finished /a1', '4 finished /b']);
  });
});

describe('feed hub: a subscriber that does not keep up', () => {
  it('past the cap its events are dropped and counted; under it again, one missed before the next event', () => {
    const h = hub(undefined, { bufferCap: 1000 });
    const slow = new FakePeer();
    const fast = new FakePeer();
    h.add(slow, MATCH_ALL, 'slow');
    h.add(fast, MATCH_ALL, 'fast');
    finish(h, exchange('/1', 200));
    slow.bufferedAmount = 1000;
    for (let i = 2; i <= 5; i++) finish(h, exchange(`/${i}`, 200));
    assert.equal(slow.sent.length, 1);
    assert.equal(fast.sent.length, 5, 'the others are not held back');
    slow.bufferedAmount = 0;
    finish(h, exchange('/6', 200));
    assert.deepEqual(
      slow.messages().map((m) => `${m.seq} ${m.type}${m.missed !== undefined ? ` ${m.missed}` : ''}`),
      ['1 finished', '5 missed 4', '6 finished'],
    );
  });

  it('told at the next tick when it catches up with nothing new to send; closed with 1008 after the stall limit', () => {
    mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] });
    const h = hub(undefined, { bufferCap: 1000, stallMs: 5000 });
    const caughtUp = new FakePeer();
    const stuck = new FakePeer();
    h.add(caughtUp, MATCH_ALL, 'a');
    h.add(stuck, MATCH_ALL, 'b');
    caughtUp.bufferedAmount = stuck.bufferedAmount = 5000;
    finish(h, exchange('/1', 200));
    finish(h, exchange('/2', 200));
    caughtUp.bufferedAmount = 0;
    mock.timers.tick(1000);
    assert.deepEqual(caughtUp.messages(), [{ seq: 2, type: 'missed', missed: 2 }]);
    mock.timers.tick(3000);
    assert.equal(stuck.closed, undefined, 'not yet');
    mock.timers.tick(2000);
    const closed = stuck.closed as { code: number; reason: string } | undefined;
    assert.equal(closed?.code, 1008);
    assert.match(closed.reason, /stalled: nothing read for 5 s; 2 events missed/);
    assert.ok(Buffer.byteLength(closed.reason) <= 123, 'a close reason fits in a control frame (RFC 6455 §5.5)');
    assert.equal(caughtUp.closed, undefined);
  });

  it('keepalive: pings each period; a peer with an empty queue that answered no ping is terminated, one with a full queue is left to the stall rule', () => {
    mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] });
    const h = hub(undefined, { pingMs: 2000, bufferCap: 1000, stallMs: 60_000 });
    const alive = new FakePeer();
    const dead = new FakePeer();
    const busy = new FakePeer();
    const subscriber = h.add(alive, MATCH_ALL, 'alive');
    h.add(dead, MATCH_ALL, 'dead');
    h.add(busy, MATCH_ALL, 'busy');
    mock.timers.tick(2000);
    assert.deepEqual([alive.pings, dead.pings, busy.pings], [1, 1, 1]);
    h.pong(subscriber);
    busy.bufferedAmount = 5000;
    mock.timers.tick(2000);
    assert.equal(alive.pings, 2);
    assert.equal(dead.terminated, true);
    assert.equal(busy.terminated, false);
    assert.equal(h.count, 2);
  });
});

describe('feed hub: since', () => {
  it('replays the held events after since, a missed first for those gone; after the linger, nothing is held', () => {
    mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] });
    const h = hub(undefined, { ring: 3, lingerMs: 10_000 });
    const first = new FakePeer();
    const s = h.add(first, MATCH_ALL, 'first');
    for (let i = 1; i <= 5; i++) finish(h, exchange(`/${i}`, 200));
    h.remove(s);
    finish(h, exchange('/6', 200)); // held: the feed lingers
    const back = new FakePeer();
    const b = h.add(back, MATCH_ALL, 'back', 2);
    assert.deepEqual(
      back.messages().map((m) => `${m.seq} ${m.type}${m.missed !== undefined ? ` ${m.missed}` : ''}`),
      ['3 missed 1', '4 finished', '5 finished', '6 finished'],
    );
    const upToDate = new FakePeer();
    const u = h.add(upToDate, MATCH_ALL, 'current', 6);
    assert.equal(upToDate.sent.length, 0);
    // Everyone leaves; past the linger the ring is let go and events cost nothing again.
    h.remove(b);
    h.remove(u);
    assert.equal(h.count, 0);
    mock.timers.tick(10_000);
    finish(h, exchange('/7', 200));
    const late = new FakePeer();
    h.add(late, MATCH_ALL, 'late', 4);
    assert.deepEqual(late.messages(), [{ seq: 7, type: 'missed', missed: 3 }]);
  });
});

describe('feed hub: batches', () => {
  it('events of FLUSH_MS leave together: one batch, one send per subscriber, nothing before the timer; each serialized once', () => {
    mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] });
    const redactor = countingRedactor();
    const h = hub(redactor);
    const all = new FakePeer();
    const filtered = new FakePeer();
    h.add(all, MATCH_ALL, 'all');
    h.add(filtered, filter('path:/b*'), 'filtered');
    for (const path of ['/a', '/b', '/c']) {
      const x = exchange(path);
      h.started(x);
      x.response = { statusCode: 200 } as Exchange['response'];
      x.timings.end = x.timings.start + 1;
      h.finished(x);
    }
    assert.equal(all.sent.length, 0, 'queued, not sent');
    mock.timers.tick(FLUSH_MS);
    assert.equal(all.batches.length, 1);
    assert.equal(all.batches[0]!.only, undefined, 'all of it, as it is');
    assert.deepEqual(all.messages().map((m) => `${m.seq} ${m.type}`), ['1 started', '2 finished', '3 started', '4 finished', '5 started', '6 finished']);
    assert.equal(filtered.batches.length, 1);
    assert.deepEqual(filtered.batches[0]!.only, [2, 3]);
    assert.equal(redactor.calls, 6, 'each event serialized once for both');
  });

  it('a subscriber joining while events wait gets none of them; those there before get them at once', () => {
    mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'] });
    const h = hub();
    const early = new FakePeer();
    h.add(early, MATCH_ALL, 'early');
    h.finished(exchange('/before', 200));
    const late = new FakePeer();
    h.add(late, MATCH_ALL, 'late');
    assert.deepEqual(early.messages().map((m) => m.seq), [1]);
    h.finished(exchange('/after', 200));
    mock.timers.tick(FLUSH_MS);
    assert.deepEqual(early.messages().map((m) => m.seq), [1, 2]);
    assert.deepEqual(late.messages().map((m) => m.seq), [2]);
  });

  it('a subscriber over the cap misses the whole batch, counted per event it would have had', () => {
    const h = hub(undefined, { bufferCap: 1000 });
    const slow = new FakePeer();
    h.add(slow, filter('path:/k*'), 'slow');
    slow.bufferedAmount = 1000;
    for (const path of ['/k1', '/x', '/k2']) h.finished(exchange(path, 200));
    h.flush();
    slow.bufferedAmount = 0;
    finish(h, exchange('/k3', 200));
    assert.deepEqual(slow.messages().map((m) => `${m.seq} ${m.type}${m.missed !== undefined ? ` ${m.missed}` : ''}`), ['3 missed 2', '4 finished']);
  });
});
