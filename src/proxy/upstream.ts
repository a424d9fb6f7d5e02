/**
 * The upstream side of an HTTP exchange: the only importer of http-proxy (DESIGN.md layout).
 *
 * http-proxy creates the upstream request, pipes the client's body into it (with backpressure)
 * and aborts it when the client aborts. Its defaults would break the invariants, so:
 *  - only its `stream` pass runs: `deleteLength` invents `Content-Length: 0` and `XHeaders`
 *    mutates lower-cased headers; X-Forwarded-* is done on the raw head in forward-head.ts;
 *  - the head it copies from `req.headers` is replaced by one built from the raw head, so names
 *    keep their case and order and repeated fields stay repeated;
 *  - the path is set verbatim on the outgoing request, because http-proxy's urlJoin collapses
 *    `//` inside paths;
 *  - the agent is the client connection's own (affinity), never a shared pool;
 *  - `selfHandleResponse`: the pipeline writes the response head from raw headers itself.
 * http-proxy skips its `proxyReq` hook when an `Expect` header is present (it renders the head
 * early), so Expect is held back and re-inserted in its place when the hook runs.
 */
import type { Agent, ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import httpProxy from 'http-proxy';
import type { Origin } from '../core/origin.js';
import { toHeaderObject, type RawHeaders } from '../core/raw-headers.js';

export interface UpstreamPlan {
  origin: Origin;
  /** Origin-form request-target, sent exactly as given. */
  path: string;
  rawHeaders: RawHeaders;
  agent: Agent;
}

export interface UpstreamHooks {
  /** The upstream request exists and has a socket; its head has not been written yet. */
  onRequest(proxyReq: ClientRequest): void;
  onResponse(proxyRes: IncomingMessage): void;
  /** The upstream request failed, or the client's request stream did. */
  onError(err: NodeJS.ErrnoException): void;
}

interface PerRequest {
  plan: UpstreamPlan;
  hooks: UpstreamHooks;
  /** The full head in order, when Expect had to be held back. */
  expectHead?: Record<string, string | string[]>;
}

const PER_REQUEST = 'versionProxyExchange';

type EngineOptions = httpProxy.ServerOptions & { [PER_REQUEST]: PerRequest };

export class Upstream {
  private readonly engine = httpProxy.createProxyServer({ selfHandleResponse: true, xfwd: false, ws: false });

  constructor() {
    const engine = this.engine as unknown as { webPasses: Array<{ name: string }> };
    engine.webPasses = engine.webPasses.filter((pass) => pass.name === 'stream');
    this.engine.on('proxyReq', (proxyReq, _req, _res, options) => {
      const { plan, hooks, expectHead } = (options as EngineOptions)[PER_REQUEST];
      proxyReq.path = plan.path;
      if (expectHead !== undefined) {
        for (const name of proxyReq.getHeaderNames()) proxyReq.removeHeader(name);
        for (const name of Object.keys(expectHead)) proxyReq.setHeader(name, expectHead[name]!);
        // The client waits for 100 Continue before sending its body, so the head must leave now.
        proxyReq.flushHeaders();
      }
      proxyReq.on('response', (proxyRes: IncomingMessage) => hooks.onResponse(proxyRes));
      hooks.onRequest(proxyReq);
    });
  }

  forward(req: IncomingMessage, res: ServerResponse, plan: UpstreamPlan, hooks: UpstreamHooks): void {
    const head = toHeaderObject(plan.rawHeaders);
    const perRequest: PerRequest = { plan, hooks };
    const expectName = Object.keys(head).find((name) => name.length === 6 && name.toLowerCase() === 'expect');
    if (expectName !== undefined) {
      perRequest.expectHead = head;
      const withoutExpect = { ...head };
      delete withoutExpect[expectName];
      req.headers = withoutExpect;
    } else {
      req.headers = head;
    }
    const options: EngineOptions = {
      target: { protocol: plan.origin.protocol, host: plan.origin.hostname, hostname: plan.origin.hostname, port: plan.origin.port },
      agent: plan.agent,
      [PER_REQUEST]: perRequest,
    };
    this.engine.web(req, res, options, (err) => hooks.onError(err));
  }

  close(): void {
    this.engine.close();
  }
}
