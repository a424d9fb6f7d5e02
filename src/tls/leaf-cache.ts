/**
 * Server-side TLS contexts for intercepted hosts (issue 5, item 3): one per server name, issued by
 * our CA on first use and kept in a bounded LRU, so a browser that opens a thousand hosts costs a
 * thousand small contexts at most and a returning host costs a Map lookup.
 */
import tls from 'node:tls';
import { LruMap } from '../core/lru-map.js';
import { normaliseServerName, type CertificateAuthority } from './ca.js';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

interface Entry {
  context: tls.SecureContext;
  /** Issue again from this time on, before clients see the leaf expire. */
  renewAt: number;
}

export class LeafCache {
  private readonly entries: LruMap<string, Entry>;
  // Issues in flight, outside the LRU: a failed issue is forgotten (the next call tries again)
  // instead of being cached, and concurrent calls for one name share one signature.
  private readonly pending = new Map<string, Promise<tls.SecureContext>>();
  /** Settles when the last queued issue has (see issue()). */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ca: CertificateAuthority,
    options: { size?: number } = {},
  ) {
    this.entries = new LruMap(options.size ?? 1000);
  }

  /** A secure context for this server name (DNS or IP), issued on first use, cached (LRU); concurrent calls for one name share one issue. */
  context(name: string): Promise<tls.SecureContext> {
    const key = normaliseServerName(name);
    const hit = this.entries.get(key);
    if (hit !== undefined && Date.now() < hit.renewAt) return Promise.resolve(hit.context);
    const inFlight = this.pending.get(key);
    if (inFlight !== undefined) return inFlight;
    const issued = this.issue(key).finally(() => this.pending.delete(key));
    this.pending.set(key, issued);
    return issued;
  }

  /** Contexts held (issues in flight not counted). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Issues run one at a time, each step in its own turn of the event loop. An issue is about
   * 2.5 ms of main-thread work in three pieces of up to ~1 ms (ASN.1 encoding before the native
   * signature, encoding after it, OpenSSL parsing key and chain); a page that opens fifty new hosts
   * at once would otherwise run fifty first pieces back to back (measured: a 100 ms stall). In a
   * queue the work is the same, but other connections' I/O gets through between the pieces.
   */
  private issue(name: string): Promise<tls.SecureContext> {
    const run = this.queue.then(() => this.issueNow(name));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async issueNow(name: string): Promise<tls.SecureContext> {
    await nextTurn();
    const leaf = await this.ca.issueLeaf([name]);
    await nextTurn();
    const context = tls.createSecureContext({
      key: this.ca.leafKeyPem,
      // The chain is the leaf followed by our CA. RFC 8446 4.4.2 lets a server omit the root, and
      // clients that trust the CA build the path without it; but Chromium's
      // --ignore-certificate-errors-spki-list matches only the certificates the server sends, so
      // the CA's SPKI (the hash `./proxy ca --spki` prints) must be in the chain. It costs ~500 bytes
      // per full handshake.
      cert: `${leaf.certPem.trimEnd()}\n${this.ca.certPem}`,
    });
    const now = Date.now();
    // A day before the end; never sooner than an hour, so an expiring CA cannot make every
    // handshake re-issue.
    this.entries.set(name, { context, renewAt: Math.max(leaf.notAfter.getTime() - DAY_MS, now + HOUR_MS) });
    return context;
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
