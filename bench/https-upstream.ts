/**
 * The HTTPS origin of the HTTPS rows and probes (issue 5), in its own process as bench/upstream.ts
 * is, with a throwaway test CA of its own: the proxy is told to trust it with --upstream-ca, as a
 * user does for a lab server, so the proxy verifies every upstream certificate it meets.
 *
 *   node dist/bench/https-upstream.js DIR HOSTS
 *
 * Writes the test CA's certificate to DIR/upstream-ca.pem, then listens twice and prints one line
 * {"msg":"listening","port":A,"hostsPort":B,"hosts":HOSTS,"ca":"DIR/upstream-ca.pem"}:
 *
 * - port A, on 127.0.0.1: the load of the `forward-https` row. Its certificate names 127.0.0.1
 *   (IP SAN) and localhost. `GET /small` answers exactly what bench/upstream.ts answers (1 KiB,
 *   Content-Length, the same header fields), so the HTTPS row and the plain one differ by TLS only.
 * - port B, on every IPv4 address (so that 127.0.0.2, 127.0.1.1, … reach it; connections from
 *   anywhere but loopback are dropped at once): the new-host probes' HOSTS distinct hosts
 *   (https-client.ts hostAddress). Each address gets a certificate of its own, for that address
 *   alone, issued and loaded before the line above is printed, chosen by the address the
 *   connection came in on (IP hosts send no SNI). So the proxy verifies an ordinary one-name
 *   certificate per host, and the upstream spends no issuing time inside a measurement. Answers
 *   carry `X-Local-Address`, the address the request came in on: the probe checks that the proxy
 *   reached the host the client asked for.
 *
 * Certificates come from the tests' fixture CA (test/helpers/tls.ts): ECDSA P-256 like the
 * proxy's own, each leaf with a key of its own.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { makeTestCa } from '../test/helpers/tls.js';
import { hostAddress } from './https-client.js';

/** Issues in flight at once while the per-host certificates are made (signing runs on the thread pool). */
const ISSUE_BATCH = 32;

const SMALL = Buffer.alloc(1024, 'x');

/** `GET /small` as bench/upstream.ts answers it; 404 for anything else (nothing else is asked). */
function handler(withAddress: boolean): http.RequestListener {
  return (req, res) => {
    const url = req.url ?? '/';
    const pathname = url.startsWith('/') ? url.split('?')[0] : new URL(url).pathname;
    if (req.method === 'GET' && pathname === '/small') {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-length': String(SMALL.length),
        ...(withAddress && { 'x-local-address': req.socket.localAddress ?? '' }),
      });
      res.end(SMALL);
      return;
    }
    req.resume();
    res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '10' });
    res.end('not found\n');
  };
}

/** As bench/upstream.ts: no request deadline, idle keep-alive longer than any pause of the harness. */
function tune(server: http.Server): void {
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
}

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('https-upstream: no TCP address'));
      resolve(address.port);
    });
  });
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  const hosts = Number(process.argv[3] ?? 0);
  if (dir === undefined || !Number.isInteger(hosts) || hosts < 0) throw new Error('usage: https-upstream.js DIR HOSTS');
  // The tests' own fixture CA (test/helpers/tls.ts): one way to make a throwaway upstream CA.
  const issuer = await makeTestCa('bench upstream');
  const caFile = path.join(dir, 'upstream-ca.pem');
  fs.writeFileSync(caFile, issuer.certPem);

  // Port A: the keep-alive load.
  const loadLeaf = await issuer.issue(['127.0.0.1', 'localhost']);
  const load = https.createServer({ cert: loadLeaf.certPem, key: loadLeaf.keyPem, ALPNProtocols: ['http/1.1'] }, handler(false));
  tune(load);

  // Port B: a certificate per host address, all made before listening.
  const contexts = new Map<string, tls.SecureContext>();
  for (let start = 0; start < hosts; start += ISSUE_BATCH) {
    const batch = Array.from({ length: Math.min(ISSUE_BATCH, hosts - start) }, (_, j) => hostAddress(start + j));
    const leaves = await Promise.all(batch.map((ip) => issuer.issue([ip])));
    batch.forEach((ip, j) => contexts.set(ip, tls.createSecureContext({ cert: leaves[j]!.certPem, key: leaves[j]!.keyPem })));
  }
  const hostsHttp = http.createServer(handler(true));
  tune(hostsHttp);
  const front = net.createServer((socket) => {
    const remote = socket.remoteAddress ?? '';
    const local = (socket.localAddress ?? '').replace(/^::ffff:/, '');
    const context = contexts.get(local);
    // Listening on every address is what lets 127.0.x.y reach it; nothing from outside is served.
    if (!remote.replace(/^::ffff:/, '').startsWith('127.') || context === undefined) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] });
    secure.on('error', () => secure.destroy());
    hostsHttp.emit('connection', secure);
  });

  const port = await listen(load, '127.0.0.1');
  // Without host addresses to serve (no new-host probe selected), nothing needs more than loopback.
  const hostsPort = await listen(front, hosts > 0 ? '0.0.0.0' : '127.0.0.1');
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port, hostsPort, hosts, ca: caFile })}\n`);
}

process.on('SIGTERM', () => process.exit(0));
main().catch((err: unknown) => {
  process.stderr.write(`https-upstream: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
