/**
 * The one HTTP client the simulated Office/Outlook clients share. It keeps its connections alive
 * (FPSE clients hold one connection for the whole conversation, §2.2 `Connection: Keep-Alive`),
 * sends header names in the exact case it is given, and either talks to the origin directly or
 * to a forward proxy with an absolute-form request target (RFC 9112 3.2.2).
 * Each response keeps its body chunks with arrival times, so a long poll's keep-alives
 * (MAPI/HTTP PENDING every X-PendingPeriod, §1.8) can be timed.
 */
import http from 'node:http';

export interface HttpClientOptions {
  /** Forward proxy URL (`http://127.0.0.1:8080`); absent = connect to the origin. */
  via?: string;
  /** At most this many connections per destination; 1 keeps a conversation on one connection. */
  maxSockets?: number;
  /** Per request, milliseconds without any socket activity before giving up (default 60000). */
  idleTimeoutMs?: number;
}

export interface HttpRequest {
  method: string;
  /** Origin-form path with query, e.g. `/mapi/emsmdb/?MailboxId=a@b`. */
  path: string;
  /** Header name → value, names sent in the case written here. */
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
  /** Called with each body chunk as it arrives. */
  onChunk?: (data: Buffer, atMs: number) => void;
}

export interface ReceivedChunk {
  /** Milliseconds since the request was sent. */
  atMs: number;
  data: Buffer;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Header lines as received, name case intact. */
  rawHeaders: string[];
  body: Buffer;
  chunks: ReceivedChunk[];
  /** Local port of the connection that carried the exchange (tells connections apart). */
  localPort?: number;
}

export interface HttpClient {
  /** Sends `request` to `origin` (`http://host:port`), directly or through the proxy. */
  request(origin: string, request: HttpRequest): Promise<HttpResponse>;
  /** Closes the kept-alive connections. */
  close(): void;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? Infinity });
  const proxy = options.via === undefined ? undefined : new URL(options.via);
  const idleTimeoutMs = options.idleTimeoutMs ?? 60000;

  function request(origin: string, req: HttpRequest): Promise<HttpResponse> {
    const target = new URL(origin);
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'latin1');
    const headers: Record<string, string | string[]> = { Host: target.host, ...req.headers };
    if (body !== undefined && !hasHeader(headers, 'content-length')) headers['Content-Length'] = String(body.length);
    const started = Date.now();
    return new Promise<HttpResponse>((resolve, reject) => {
      const outgoing = http.request({
        agent,
        method: req.method,
        host: proxy?.hostname ?? target.hostname,
        port: proxy?.port ?? target.port,
        // Through a forward proxy the target is written in absolute form.
        path: proxy === undefined ? req.path : `${target.origin}${req.path}`,
        headers,
        timeout: idleTimeoutMs,
      });
      outgoing.on('timeout', () => outgoing.destroy(new Error(`no activity for ${idleTimeoutMs} ms`)));
      outgoing.on('error', reject);
      outgoing.on('response', (res) => {
        const chunks: ReceivedChunk[] = [];
        const localPort = res.socket.localPort;
        res.on('data', (data: Buffer) => {
          const atMs = Date.now() - started;
          chunks.push({ atMs, data });
          req.onChunk?.(data, atMs);
        });
        res.on('error', reject);
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks.map((c) => c.data)),
            chunks,
            ...(localPort === undefined ? {} : { localPort }),
          });
        });
      });
      outgoing.end(body);
    });
  }

  return { request, close: () => agent.destroy() };
}

function hasHeader(headers: Record<string, unknown>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/** The single value of a response header (the last one when repeated). */
export function headerValue(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[value.length - 1] : value;
}
