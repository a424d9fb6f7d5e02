/**
 * The ceiling: a raw TCP relay that understands nothing and copies bytes both ways between the
 * client and the upstream. No proxy in Node can beat it, so throughput is reported against it.
 *
 *   node dist/bench/relay.js LISTEN_PORT UPSTREAM_PORT   (LISTEN_PORT 0 picks a free port)
 *
 * Clients talk to it as if it were the upstream. Prints {"msg":"listening","port":N} on stdout.
 */
import net from 'node:net';

const listenPort = Number(process.argv[2] ?? 0);
const upstreamPort = Number(process.argv[3]);
if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) {
  process.stderr.write('usage: relay.js LISTEN_PORT UPSTREAM_PORT\n');
  process.exit(2);
}

const server = net.createServer((client) => {
  const upstream = net.connect(upstreamPort, '127.0.0.1');
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  // pipe() applies backpressure both ways; either side failing ends both.
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});

server.listen(listenPort, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay: no TCP address');
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port: address.port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
