/**
 * JSON over HTTP/1.1 to the control server, with node:http: the bearer token on every request,
 * kept-alive connections of the client's own (idle ones do not hold a test process open), a
 * timeout on every call, and the long-lived `hold` request on a connection of its own, which is
 * the point of it (closing that connection is what tells the server the holder is gone).
 * node:http rather than the global fetch: the hold needs a socket we can unref and close, and
 * errors here keep their `code` (ECONNREFUSED) where fetch hides it behind "fetch failed".
 */
import http from 'node:http';
import { ControlError } from './error.js';
import type { ErrorBody } from './types.js';

/** Every call but a long poll is answered well within this. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** An answer past this is not from the control server (an exchange record is a few MiB at most). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export interface CallOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Give up (ControlError TIMEOUT) when the answer has not come within this; default 30 s. */
  timeoutMs?: number;
}

export interface Transport {
  call<T>(method: string, path: string, options?: CallOptions): Promise<T>;
  /**
   * Sends a request the server answers only when something ends (a held scope), on a socket of
   * its own that is unref'd: it never keeps the process alive. Resolves with the answer, or
   * undefined when `signal` aborts it (the connection is closed); rejects when the connection
   * fails or the answer is an error. `onSent` is called once the request is on the wire.
   */
  hold<T>(path: string, signal: AbortSignal, onSent?: () => void): Promise<T | undefined>;
  close(): void;
}

export function createTransport(base: URL, token: string): Transport {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  // URL.hostname keeps IPv6 brackets; node:http wants the bare address.
  const host = base.hostname.replace(/^\[|\]$/g, '');
  const port = Number(base.port || 80);
  const where = `the control server at ${base.origin}`;
  const baseHeaders = { Authorization: `Bearer ${token}`, Accept: 'application/json' };

  function send<T>(method: string, path: string, body: string | undefined, timeoutMs: number, retried: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const headers: Record<string, string> = { ...baseHeaders };
      if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = String(Buffer.byteLength(body));
      }
      const req = http.request({ host, port, method, path, headers, agent });
      let answered = false;
      req.setTimeout(timeoutMs, () => req.destroy(new ControlError(0, 'TIMEOUT', `no answer from ${where} within ${timeoutMs} ms`, undefined, `${method} ${path}`)));
      req.on('response', (res) => {
        answered = true;
        readAnswer<T>(res, `${method} ${path}`).then(resolve, reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (answered) return;
        // A kept-alive socket the server closed as we reused it (RFC 9112 §9.3.1 allows a retry
        // when nothing of the answer arrived): once, on a fresh connection.
        if (req.reusedSocket && err.code === 'ECONNRESET' && !retried) {
          send<T>(method, path, body, timeoutMs, true).then(resolve, reject);
          return;
        }
        reject(err instanceof ControlError ? err : unreachable(method, path, err));
      });
      req.end(body);
    });
  }

  function unreachable(method: string, path: string, err: NodeJS.ErrnoException): ControlError {
    return new ControlError(0, 'UNREACHABLE', `cannot reach ${where} (${err.code ?? err.message}); is the proxy running with its control server there?`, undefined, `${method} ${path}`, { cause: err });
  }

  return {
    call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) query.set(key, String(value));
      const target = query.size > 0 ? `${path}?${query.toString()}` : path;
      const body = options.body === undefined ? undefined : JSON.stringify(options.body);
      return send<T>(method, target, body, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, false);
    },

    hold<T>(path: string, signal: AbortSignal, onSent?: () => void): Promise<T | undefined> {
      return new Promise<T | undefined>((resolve, reject) => {
        if (signal.aborted) return resolve(undefined);
        const req = http.request({ host, port, method: 'GET', path, headers: baseHeaders, agent: false });
        const onAbort = (): void => {
          resolve(undefined);
          req.destroy();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        req.on('socket', (socket) => {
          socket.unref();
          // A peer that vanishes without a FIN (a dead host) is noticed by the kernel.
          socket.setKeepAlive(true, 10_000);
        });
        if (onSent !== undefined) req.on('finish', onSent);
        req.on('response', (res) => {
          signal.removeEventListener('abort', onAbort);
          readAnswer<T>(res, `GET ${path}`).then(resolve, reject);
        });
        req.on('error', (err: NodeJS.ErrnoException) => {
          signal.removeEventListener('abort', onAbort);
          if (!signal.aborted) reject(unreachable('GET', path, err));
        });
        req.end();
      });
    },

    close(): void {
      agent.destroy();
    },
  };
}

/** The answer as JSON; an error status becomes a ControlError with the server's code and message. */
function readAnswer<T>(res: http.IncomingMessage, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) res.destroy(new ControlError(res.statusCode ?? 0, 'BAD_ANSWER', `the answer is over ${MAX_ANSWER_BYTES} bytes`, undefined, what));
      else chunks.push(chunk);
    });
    res.on('error', (err) => reject(err instanceof ControlError ? err : new ControlError(res.statusCode ?? 0, 'BAD_ANSWER', `the answer was cut off (${err.message})`, undefined, what, { cause: err })));
    res.on('end', () => {
      const status = res.statusCode ?? 0;
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (status >= 400) {
        const body = json as Partial<ErrorBody> | undefined;
        const message = typeof body?.error === 'string' ? body.error : `HTTP ${status} ${text.slice(0, 200)}`;
        reject(new ControlError(status, typeof body?.code === 'string' ? body.code : `HTTP_${status}`, message, Array.isArray(body?.issues) ? body.issues : undefined, what));
      } else if (json === undefined && text !== '') {
        reject(new ControlError(status, 'BAD_ANSWER', `the answer is not JSON: ${text.slice(0, 200)}`, undefined, what));
      } else {
        resolve(json as T);
      }
    });
  });
}
