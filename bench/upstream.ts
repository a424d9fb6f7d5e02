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
 *   POST /mapi/emsmdb/?MailboxId=…
 *                       a MAPI/HTTP answer shaped like Exchange's (docs: docs/protocols.md §1.8):
 *                       reads the request body, then answers chunked with the X-* headers
 *                       echoed and the inner stream PROCESSING / DONE + additional headers /
 *                       a 1 KiB binary body, each written as its own chunk
 *   POST /pass/emsmdb/?MailboxId=…
 *                       the same answer, byte for byte, to the same request disguised so that a
 *                       proxy's MAPI/HTTP observer does not claim it (X-RequestTypf is echoed
 *                       as X-RequestType): the baseline of the MAPI-shaped row
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

// The binary part of the MAPI answer, shaped like an Execute response body (MS-OXCMAPIHTTP
// 2.2.4.2.2): StatusCode 0, ErrorCode 0, Flags 0, RopBufferSize, RopBuffer, AuxiliaryBufferSize 0.
const MAPI_BODY = Buffer.alloc(1024, 0x5a);
MAPI_BODY.writeUInt32LE(0, 0);
MAPI_BODY.writeUInt32LE(0, 4);
MAPI_BODY.writeUInt32LE(0, 8);
MAPI_BODY.writeUInt32LE(MAPI_BODY.length - 20, 12);
MAPI_BODY.writeUInt32LE(0, MAPI_BODY.length - 4);
const PROCESSING = Buffer.from('PROCESSING\r\n', 'latin1');
// The DONE part carries X-StartTime, a date: built once a second, not once a request.
let doneSecond = -1;
let done = Buffer.alloc(0);
function doneChunk(): Buffer {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== doneSecond) {
    doneSecond = second;
    done = Buffer.from(`DONE\r\nX-ResponseCode: 0\r\nX-ElapsedTime: 1\r\nX-StartTime: ${new Date(now).toUTCString()}\r\n\r\n`, 'latin1');
  }
  return done;
}

/**
 * The X-* request headers Exchange echoes, as sent; none when the request had none. The
 * disguised baseline request names X-RequestType `X-RequestTypf` (same length), and gets it back
 * as X-RequestType so that both answers are the same bytes.
 */
function echoed(req: http.IncomingMessage, disguised: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['X-RequestType', 'X-RequestId', 'X-ClientInfo']) {
    const sent = disguised && name === 'X-RequestType' ? 'x-requesttypf' : name.toLowerCase();
    const value = req.headers[sent];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Exchange's framing: each meta-tag part and the body its own write, so each its own chunk. */
function mapi(req: http.IncomingMessage, res: http.ServerResponse, disguised = false): void {
  req.on('data', () => undefined);
  req.on('end', () => {
    // Exchange's spelling of the names (Node keeps it on the wire).
    res.writeHead(200, {
      'Content-Type': 'application/mapi-http',
      'Transfer-Encoding': 'chunked',
      ...echoed(req, disguised),
      'X-ResponseCode': '0',
      'X-ServerApplication': 'Exchange/15.02.1544.014',
      'X-ExpirationInfo': '900000',
      'X-PendingPeriod': '15000',
    });
    res.write(PROCESSING);
    res.write(doneChunk());
    res.write(MAPI_BODY);
    res.end();
  });
  req.on('error', () => res.destroy());
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
  if (req.method === 'POST' && url.pathname === '/mapi/emsmdb/') return mapi(req, res);
  if (req.method === 'POST' && url.pathname === '/pass/emsmdb/') return mapi(req, res, true);
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
