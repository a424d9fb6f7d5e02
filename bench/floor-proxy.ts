/**
 * The floor: the smallest honest forward proxy on the `http-proxy` package, with one shared
 * keep-alive agent. What any http-proxy based design pays at least; our proxy is compared
 * with it. No logging, no header work beyond what http-proxy does itself.
 *
 *   node dist/bench/floor-proxy.js [PORT]   (PORT 0, the default, picks a free port)
 *
 * Forward mode: takes absolute-form requests (`GET http://127.0.0.1:UP/x HTTP/1.1`) and sends
 * each to its URL's origin. Prints {"msg":"listening","port":N} on stdout once listening.
 */
import http from 'node:http';
import httpProxy from 'http-proxy';

// One agent for every origin, as a real proxy would share its pool.
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const proxy = httpProxy.createProxyServer({ agent });

// Without a handler http-proxy throws on upstream errors; answer 502 like a proxy should.
proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse) {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' });
    res.end();
  } else {
    res.destroy();
  }
});

const server = http.createServer((req, res) => {
  let origin: string;
  try {
    origin = new URL(req.url ?? '').origin;
  } catch {
    res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' });
    res.end();
    return;
  }
  // http-proxy turns the absolute-form URL into its path (url.parse(req.url).path).
  proxy.web(req, res, { target: origin });
});

// Same as the upstream: a 1 GiB upload may take longer than Node's default request deadline.
server.requestTimeout = 0;

const port = Number(process.argv[2] ?? 0);
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('floor-proxy: no TCP address');
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: address.port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
