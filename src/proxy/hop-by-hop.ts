/**
 * Connection-specific ("hop-by-hop") header fields, RFC 9110 §7.6.1: a proxy removes the
 * `Connection` field, every field it names, and the fields that are connection-specific by
 * definition, before forwarding a message in either direction. Everything else passes as it is.
 */
import type { RawHeaders } from '../core/raw-headers.js';

/**
 * Connection-specific by definition (RFC 9110 §7.6.1 and §7.8; `Proxy-Connection` is the
 * pre-standard spelling some clients still send; `Trailer` as listed by RFC 7230 §6.1).
 * `Transfer-Encoding` is not here: Node frames each hop itself from it, so passing it on keeps
 * the message framed the way the sender chose.
 */
const ALWAYS = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

/** The lengths of ALWAYS's names and of `proxy-authorization`, indexed by length. */
const CANDIDATE_LENGTH: boolean[] = [];
for (const name of [...ALWAYS, 'proxy-authorization']) CANDIDATE_LENGTH[name.length] = true;

export interface HopByHopOptions {
  /** Keep `Connection` and `Upgrade` on an upgrade request or a 101 response (RFC 9110 §7.8). */
  upgrade?: boolean;
  /**
   * Drop `Proxy-Authorization`: in forward mode the client addresses it to this proxy
   * (RFC 9110 §11.7.2), which asks for no credentials, so it must not travel on to the origin.
   */
  dropProxyAuthorization?: boolean;
}

export interface Stripped {
  headers: RawHeaders;
  /** Names removed, in their original spelling (for the record and debug logs). */
  removed: string[];
}

/** Returns the headers to forward; `headers` is the input array itself when nothing was removed. */
export function stripHopByHop(raw: RawHeaders, options: HopByHopOptions = {}): Stripped {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) {
        const t = token.trim().toLowerCase();
        if (t.length > 0) (named ??= new Set()).add(t);
      }
    }
  }

  let out: RawHeaders | undefined;
  const removed: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Most fields cannot be hop-by-hop by their length alone: no lower-cased copy for them.
    if ((named === undefined && !CANDIDATE_LENGTH[name.length]) || !shouldDrop(name.toLowerCase(), named, options)) {
      if (out !== undefined) out.push(name, raw[i + 1]!);
    } else {
      if (out === undefined) out = raw.slice(0, i);
      removed.push(name);
    }
  }
  return { headers: out ?? raw, removed };
}

function shouldDrop(lower: string, named: Set<string> | undefined, options: HopByHopOptions): boolean {
  if (options.upgrade && (lower === 'connection' || lower === 'upgrade')) return false;
  if (ALWAYS.has(lower)) return true;
  if (options.dropProxyAuthorization && lower === 'proxy-authorization') return true;
  // A Connection option may name a field; never let it remove the framing of the message.
  if (named?.has(lower)) return lower !== 'transfer-encoding' && lower !== 'content-length' && lower !== 'host';
  return false;
}

/** Whether the sender of this head wants the connection kept open after the message. */
export function wantsKeepAlive(httpVersion: string, raw: RawHeaders): boolean {
  let close = false;
  let keepAlive = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) {
        const t = token.trim().toLowerCase();
        if (t === 'close') close = true;
        else if (t === 'keep-alive') keepAlive = true;
      }
    }
  }
  if (close) return false;
  return httpVersion === '1.0' ? keepAlive : true;
}
