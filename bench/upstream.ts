/**
 * The origin every subject is measured against, in its own process so that it costs the same
 * CPU whichever subject sits in front of it (and the harness process stays idle).
 *
 *   node dist/bench/upstream.js [PORT]      (PORT 0, the default, picks a free port)
 *
 * Prints one JSON line {"msg":"listening","port":N} on stdout once listening, then nothing.
 *
 *   GET /small          1 KiB body with Content-Length (the req/s load)
 *   GET /down?bytes=N   N bytes with Content-Length, streamed from one reused buffer
 *   PUT /up             counts the body's bytes and answers with the count as text
 */
import http from 'node:http';

const SMALL = Buffer.alloc(1024, 'x');
// One buffer written again and again: the download costs the upstream no allocation and no
// copying, so the subject in front of it is what the measurement sees.
const CHUNK = Buffer.alloc(256 * 1024, 'y');

function small(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(SMALL.length) });
  res.end(SMALL);
}

function download(res: http.ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
  let left = total;
  let aborted = false;
  res.on('close', () => {
    aborted = left > 0;
  });
  // Write until the socket says stop, then wait for 'drain': memory stays flat at any speed.
  const pump = (): void => {
    while (left > 0 && !aborted) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!aborted) res.end();
  };
  pump();
}

function upload(req: http.IncomingMessage, res: http.ServerResponse): void {
  let count = 0;
  req.on('data', (chunk: Buffer) => {
    count += chunk.length;
  });
  req.on('end', () => {
    const body = String(count);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
  req.on('error', () => res.destroy());
}

const server = http.createServer((req, res) => {
  // Proxies send origin-form; a proxy that passed absolute-form through still gets served.
  const url = new URL(req.url ?? '/', 'http://upstream.invalid');
  if (req.method === 'GET' && url.pathname === '/small') return small(res);
  if (req.method === 'GET' && url.pathname === '/down') {
    const bytes = Number(url.searchParams.get('bytes'));
    if (Number.isSafeInteger(bytes) && bytes >= 0) return download(res, bytes);
  }
  if (req.method === 'PUT' && url.pathname === '/up') return upload(req, res);
  req.resume();
  res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '10' });
  res.end('not found\n');
});

// A 1 GiB upload through a slow subject may take minutes: no request deadline here.
server.requestTimeout = 0;
// Longer than any pause between phases: a subject's pooled upstream sockets are not closed
// under its feet mid-run (that would measure a reconnect race, not the subject).
server.keepAliveTimeout = 65_000;

const port = Number(process.argv[2] ?? 0);
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('upstream: no TCP address');
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: address.port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
