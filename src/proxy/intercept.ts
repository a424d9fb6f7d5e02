/**
 * An intercepted CONNECT (issue 5, item 2): the proxy answers the CONNECT, terminates the
 * client's TLS with a leaf from its own CA for the name the client asked for (SNI, else the
 * CONNECT host), and hands the decrypted connection to the same HTTP pipeline as plain traffic.
 * The CONNECT itself stays on the record as a tunnel exchange marked `intercepted`, with how
 * the client's handshake went: a client that does not trust the CA fails here, and says so.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls, { type SecureContext } from 'node:tls';
import { failExchange, now, type Exchange } from '../core/exchange.js';
import type { ExchangeEvents } from '../core/exchange-events.js';
import type { Origin } from '../core/origin.js';
import type { ClientConnection, TunnelInfo } from './client-connection.js';
import { ProgramError } from '../errors.js';
import { writeRawAnswer } from './respond.js';

export interface Interception {
  /** CONNECTs to this host are intercepted (--intercept / --no-intercept). */
  wants(hostname: string): boolean;
  /** A server-side TLS context with a leaf for `name` (cached; issued natively). */
  context(name: string): Promise<SecureContext>;
  /** Feeds the decrypted connection to the HTTP server. */
  accept(socket: tls.TLSSocket, tunnel: TunnelInfo): void;
}

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

export function interceptTunnel(interception: Interception, events: ExchangeEvents, conn: ClientConnection, exchange: Exchange, socket: Duplex, head: Buffer, origin: Origin): void {
  exchange.intercepted = true;
  conn.carriesTunnel = true;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    exchange.timings.end = now();
    events.emit('finished', exchange);
  };
  // The leaf comes first, so that a CA problem can still be answered with a 502.
  interception.context(origin.hostname).then(
    (secureContext) => {
      if (socket.destroyed) {
        failExchange(exchange, { code: 'CLIENT_ABORTED', message: 'the client closed the connection while the tunnel was opening', phase: 'connect' });
        exchange.ended = 'client-closed';
        return finish();
      }
      exchange.timings.responseHead = now();
      exchange.response = { statusCode: 200, statusMessage: 'Connection Established', httpVersion: '1.1', rawHeaders: [], source: 'proxy' };
      socket.write(ESTABLISHED);
      if (head.length > 0) socket.unshift(head);
      terminate(interception, conn, exchange, socket as net.Socket, secureContext, origin, finish);
    },
    (err: unknown) => {
      const why = err instanceof ProgramError ? `${err.message}${err.hint === undefined ? '' : `; ${err.hint}`}` : err instanceof Error ? err.message : String(err);
      const message = `cannot intercept ${origin.authority}: ${why}`;
      failExchange(exchange, { code: 'ERR_CA', message, phase: 'connect' });
      const sent = writeRawAnswer(socket, { status: 502, code: 'ERR_CA', message });
      exchange.response = sent.head;
      exchange.ended = 'refused';
      finish();
    },
  );
}

function terminate(interception: Interception, conn: ClientConnection, exchange: Exchange, socket: net.Socket, secureContext: SecureContext, origin: Origin, finish: () => void): void {
  const baseRead = socket.bytesRead;
  const baseWritten = socket.bytesWritten;
  let secured = false;
  const tlsSocket = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext,
    // The proxy speaks HTTP/1.1 to both sides (MAPI/HTTP and FPSE are HTTP/1.1 protocols).
    ALPNProtocols: ['http/1.1'],
    SNICallback: (name, done) => void interception.context(name).then((ctx) => done(null, ctx), (err: Error) => done(err)),
  });
  tlsSocket.once('secure', () => (secured = true));
  tlsSocket.on('error', (err: NodeJS.ErrnoException & { reason?: string }) => {
    if (secured) return; // errors after the handshake belong to the exchanges inside
    failExchange(exchange, {
      code: err.code ?? 'ETLS',
      // OpenSSL's `reason` ("tlsv1 alert unknown ca") reads better than its full error line.
      message: `the client's TLS handshake failed (${err.reason ?? err.message.trim()}); a client that does not trust the proxy's CA refuses its certificates (./proxy ca shows how to install it), or tunnel this host untouched with --no-intercept ${origin.hostname}`,
      phase: 'tunnel',
    });
  });
  tlsSocket.once('close', () => {
    exchange.bytes.request = socket.bytesRead - baseRead;
    exchange.bytes.response = Math.max(0, socket.bytesWritten - baseWritten);
    exchange.ended ??= secured ? 'closed' : 'handshake-failed';
    finish();
  });
  conn.link(tlsSocket);
  interception.accept(tlsSocket, { origin, client: conn.info });
}
