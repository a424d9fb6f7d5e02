/**
 * The live feed's logic, apart from the WebSocket library (feed.ts is that seam): numbering the
 * proxy's exchange events, serializing each once, holding recent ones for `since`, and handing
 * them to each subscriber its filter admits, without ever waiting for one
 * (docs/control-api.md "Live feed").
 *
 * Costs: with no subscriber (and none in the last LINGER_MS) an event costs one increment: no
 * summary, no JSON, nothing held. With subscribers, an event is written as JSON text once
 * (feed-json.ts) and each filtered subscriber's filter is tested on it; every FLUSH_MS the queued
 * texts become one batch, held, and handed to each subscriber in one write. Sending each event on
 * its own cost the proxy about 25-30 µs of CPU per exchange under load (a summary object, a
 * JSON.stringify, a Buffer and a frame per event, twice per exchange); batched it is a few µs.
 * The queue holds the text, not the exchange: a queue of records kept each one alive for another
 * scavenge of the young generation, which the garbage collector paid for in copying.
 *
 * A subscriber that reads slower than events come is never waited for and never buffered without
 * bound: past `bufferCap` bytes queued for it, its events are dropped and counted, and once its
 * queue is under the cap again it is told how many (`{type:'missed'}`) before anything else.
 * One that reads nothing for `stallMs` is closed (1008).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Exchange } from '../core/exchange.js';
import type { Filter, FilterView } from '../core/filter.js';
import type { Redactor } from '../record/redact.js';
import { BatchBuilder, EventRing, FINISHED, STARTED, type EventBatch, type HeldEvent } from './event-ring.js';
import type { ExchangeSummary } from './exchange-summary.js';
import { finishedJson, startedJson } from './feed-json.js';

/** One WebSocket, as the hub uses it (feed.ts adapts `ws`; unit tests fake it). */
export interface Peer {
  /** Bytes queued in the process for this peer and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** Sends one text message (the bytes are UTF-8 JSON). */
  send(data: Buffer): void;
  /**
   * Sends messages of a batch, each as one text message, in order and in one write: those at
   * the indexes `only` lists, or all of them.
   */
  sendBatch(batch: EventBatch, only?: readonly number[]): void;
  ping(): void;
  /** Starts the closing handshake (RFC 6455 §7.1.2); the peer leaves through `remove`. */
  close(code: number, reason: string): void;
  /** Destroys the connection at once. */
  terminate(): void;
}

export interface FeedLimits {
  /** Events held for `since` (`--control-feed-ring`). */
  ring: number;
  /** Subscribers at once; more get 503. */
  maxSubscribers: number;
  /** Bytes queued for one subscriber past which its events are dropped (and counted). */
  bufferCap: number;
  /** A subscriber over the cap this long, reading nothing, is closed with 1008. */
  stallMs: number;
  /** Keepalive: a ping this often; a peer that took the last ping and sent no pong is terminated. */
  pingMs: number;
  /** After the last subscriber leaves, events are still held this long, so a reconnect resumes. */
  lingerMs: number;
}

export const FEED_DEFAULTS: FeedLimits = {
  ring: 10_000,
  maxSubscribers: 32,
  bufferCap: 1024 * 1024,
  stallMs: 120_000,
  pingMs: 30_000,
  lingerMs: 60_000,
};

/** How often subscribers are looked at: missed counts flushed to the drained, stalls closed. */
const TICK_MS = 1000;
/**
 * How long an event may wait for the others of its batch. Short beside what a person notices (the
 * web UI renders at most every 100 ms) and what a test waits; long enough that a batch holds many
 * events: each flush is a timer, a write and a wake-up of every subscriber. At a paced 1,000
 * exchanges/s a subscriber cost the proxy 21% more CPU per exchange with 10 ms, 7% with 50 ms.
 */
export const FLUSH_MS = 50;

export interface Subscriber {
  readonly peer: Peer;
  readonly filter: Filter;
  /** False when the filter reads what only the finished exchange has: such a subscriber gets no 'started'. */
  readonly wantsStarted: boolean;
  /** It takes every event: no filter terms, and 'started' too. */
  readonly takesAll: boolean;
  /** The queued events its filter admits, by index in the queue (unused when it takes all). */
  queued: number[];
  /** For the log: who it is. */
  readonly remote: string;
  dropped: number;
  /** The seq of the last event counted in `dropped`. */
  lastDropped: number;
  /** Date.now() when its queue was first seen over the cap (this episode). */
  overSince: number | undefined;
  awaitingPong: boolean;
}

/** Filter keys decided by the request head alone (core/filter.ts), so they can hold at 'started'. */
const HEAD_KEYS: ReadonlySet<string> = new Set(['method', 'host', 'path']);

export class FeedHub {
  readonly limits: FeedLimits;
  /** Names this run's numbering: a `since` from another run (the proxy restarted) means nothing here. */
  readonly run = randomBytes(6).toString('base64url');
  private seqNow = 0;
  private readonly ring: EventRing;
  private readonly subscribers = new Set<Subscriber>();
  private lingering = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private ticks = 0;
  /** The events not yet sent, their seqs up to seqNow. */
  private readonly pending = new BatchBuilder();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redactor: Redactor,
    private readonly logger: Logger,
    limits: Partial<FeedLimits> = {},
  ) {
    this.limits = { ...FEED_DEFAULTS, ...limits };
    this.ring = new EventRing(this.limits.ring);
    this.ticker = setInterval(() => this.tick(), TICK_MS).unref();
  }

  /** The seq of the last event of this run (0 before any). */
  get seq(): number {
    return this.seqNow;
  }

  get count(): number {
    return this.subscribers.size;
  }

  get full(): boolean {
    return this.subscribers.size >= this.limits.maxSubscribers;
  }

  /** Listener for the proxy's 'started' event (core/exchange-events.ts). */
  readonly started = (x: Exchange): void => {
    ++this.seqNow;
    if (this.subscribers.size === 0 && !this.lingering) return;
    this.queue(STARTED, x);
  };

  /** Listener for the proxy's 'finished' event. */
  readonly finished = (x: Exchange): void => {
    ++this.seqNow;
    if (this.subscribers.size === 0 && !this.lingering) return;
    this.queue(FINISHED, x);
  };

  private queue(type: number, x: Exchange): void {
    const seq = this.seqNow;
    const index = this.pending.add(type, type === STARTED ? startedJson(seq, x, this.redactor) : finishedJson(seq, x, this.redactor));
    for (const s of this.subscribers) {
      if (s.takesAll || (type === STARTED && !s.wantsStarted)) continue;
      // The exchange is its own filter view (core/filter.ts FilterView); at 'started' only head
      // keys are tested, which the request line already decides.
      if (s.filter.test(x)) s.queued.push(index);
    }
    this.flushTimer ??= setTimeout(this.flush, FLUSH_MS);
  }

  /** Sends the queued events now (the timer's job; tests call it to skip the wait). */
  readonly flush = (): void => {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const count = this.pending.count;
    if (count === 0) return;
    // Queued events are the last ones numbered: queuing stops only when the linger ends, and
    // that flushes first.
    const batch = this.pending.take(this.seqNow - count + 1);
    this.ring.push(batch);
    for (const s of this.subscribers) {
      if (s.takesAll) {
        this.deliver(s, batch, undefined);
      } else if (s.queued.length > 0) {
        const only = s.queued;
        s.queued = [];
        this.deliver(s, batch, only);
      }
    }
  };

  /**
   * A new subscriber: from now on it gets every event its filter admits; with `since`, first the
   * held events after that seq, preceded by a `missed` for those no longer held.
   */
  add(peer: Peer, filter: Filter, remote: string, since?: number): Subscriber {
    // Events queued until now go to those who were there, and into the ring for `since`; this
    // one's events start with the next.
    this.flush();
    const wantsStarted = filter.terms.every((t) => HEAD_KEYS.has(t.key));
    const s: Subscriber = {
      peer,
      filter,
      wantsStarted,
      takesAll: wantsStarted && filter.terms.length === 0,
      queued: [],
      remote,
      dropped: 0,
      lastDropped: 0,
      overSince: undefined,
      awaitingPong: false,
    };
    this.subscribers.add(s);
    this.lingering = false;
    clearTimeout(this.lingerTimer);
    if (since !== undefined && since < this.seqNow) {
      const held = this.ring.after(since);
      // The ring holds one unbroken run of seqs up to the newest while anyone listens, so what
      // is gone is what came before its first event (all of it when nothing is held).
      const gone = this.seqNow - since - held.length;
      if (gone > 0) {
        s.dropped = gone;
        s.lastDropped = held.length > 0 ? held[0]!.seq - 1 : this.seqNow;
        this.flushMissed(s);
      }
      for (const event of held) this.replay(s, event);
    }
    this.logger.debug({ remote, filter: filter.toString(), since, subscribers: this.subscribers.size }, 'feed subscriber joined');
    return s;
  }

  remove(s: Subscriber): void {
    if (!this.subscribers.delete(s)) return;
    this.logger.debug({ remote: s.remote, missed: s.dropped, subscribers: this.subscribers.size }, 'feed subscriber left');
    if (this.subscribers.size > 0) return;
    this.lingering = true;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => {
      // Nobody came back: stop paying for events, and let the held ones go.
      this.flush();
      this.lingering = false;
      this.ring.clear();
    }, this.limits.lingerMs).unref();
  }

  pong(s: Subscriber): void {
    s.awaitingPong = false;
  }

  /** Every subscriber is told the proxy is stopping (1001, RFC 6455 §7.4.1); feed.ts ends the rest. */
  close(): void {
    clearInterval(this.ticker);
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    clearTimeout(this.lingerTimer);
    for (const s of this.subscribers) s.peer.close(1001, 'the proxy is stopping');
  }

  /** The events of a batch (those at `only`, or all) in one write, unless its queue is full. */
  private deliver(s: Subscriber, batch: EventBatch, only: number[] | undefined): void {
    if (this.overCap(s)) {
      s.dropped += only?.length ?? batch.count;
      s.lastDropped = batch.firstSeq + (only === undefined ? batch.count - 1 : only[only.length - 1]!);
      return;
    }
    s.peer.sendBatch(batch, only);
  }

  /** One held event for a subscriber that came back with `since`. */
  private replay(s: Subscriber, event: HeldEvent): void {
    if (event.type === 'started' && !s.wantsStarted) return;
    if (!s.takesAll) {
      const message = JSON.parse(event.data.toString('utf8')) as { exchange: ExchangeSummary };
      if (!s.filter.test(viewOf(message.exchange))) return;
    }
    if (this.overCap(s)) {
      s.dropped += 1;
      s.lastDropped = event.seq;
      return;
    }
    s.peer.send(event.data);
  }

  /**
   * Whether this subscriber's queue is over the cap (its next events are dropped and counted);
   * if not, and it had missed some, it is told how many first.
   */
  private overCap(s: Subscriber): boolean {
    if (s.peer.bufferedAmount >= this.limits.bufferCap) {
      if (s.dropped === 0) this.logger.warn({ remote: s.remote, queued: s.peer.bufferedAmount }, 'feed subscriber is not reading: its events are dropped and counted until it catches up');
      s.overSince ??= Date.now();
      return true;
    }
    s.overSince = undefined;
    if (s.dropped > 0) this.flushMissed(s);
    return false;
  }

  private flushMissed(s: Subscriber): void {
    s.peer.send(Buffer.from(JSON.stringify({ seq: s.lastDropped, type: 'missed', missed: s.dropped })));
    s.dropped = 0;
  }

  private tick(): void {
    const now = Date.now();
    const ping = ++this.ticks % Math.max(1, Math.round(this.limits.pingMs / TICK_MS)) === 0;
    for (const s of this.subscribers) {
      const queued = s.peer.bufferedAmount;
      if (queued < this.limits.bufferCap) {
        s.overSince = undefined;
        // Caught up with nothing new to send: told now rather than at the next event.
        if (s.dropped > 0) this.flushMissed(s);
      } else if (s.overSince === undefined) {
        s.overSince = now;
      } else if (now - s.overSince >= this.limits.stallMs) {
        this.logger.warn({ remote: s.remote, missed: s.dropped, stalledMs: now - s.overSince }, 'feed subscriber closed: it read nothing for too long');
        s.peer.close(1008, `stalled: nothing read for ${Math.round(this.limits.stallMs / 1000)} s; ${s.dropped} events missed`);
        s.overSince = undefined;
        continue;
      }
      if (!ping) continue;
      // Its queue empty yet the last ping unanswered: the peer is gone (a queue still full is
      // the stall rule's business: the ping may be waiting behind it).
      if (s.awaitingPong && queued === 0) {
        this.logger.info({ remote: s.remote }, 'feed subscriber did not answer a ping: closed');
        s.peer.terminate();
        this.remove(s);
        continue;
      }
      if (!s.awaitingPong) {
        s.awaitingPong = true;
        s.peer.ping();
      }
    }
  }
}

/** The filter's view of a summary (core/filter.ts FilterView): what it reads, and nothing else. */
function viewOf(s: ExchangeSummary): FilterView {
  return {
    kind: s.kind,
    url: s.url,
    request: { method: s.method },
    ...(s.status !== undefined && { response: { statusCode: s.status } }),
    ...(s.protocol !== undefined && { protocol: { protocol: s.protocol, operation: s.operation ?? '', verdicts: s.verdicts } }),
    rules: s.rules.map((id) => ({ id, outcome: 'applied' })),
  };
}
