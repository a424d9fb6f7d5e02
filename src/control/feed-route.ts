/**
 * `GET /api/events` in the one table of routes (routes.ts), so the OpenAPI document lists it and
 * its query is parsed like every other route's. The WebSocket itself never reaches a handler: the
 * control server hands Upgrade requests to feed.ts. A plain GET is told to upgrade (RFC 9110
 * §15.5.22: 426 names the protocol in `Upgrade`).
 */
import { ApiError } from './api-error.js';
import type { Route } from './routes.js';

export const EVENTS_PATH = '/api/events';

export const EVENTS_ROUTE: Route = {
  method: 'GET',
  path: EVENTS_PATH,
  operationId: 'streamEvents',
  summary:
    'The live feed, a WebSocket (RFC 6455): one JSON text message per event, {seq, type: started|finished|missed, time, exchange?: ExchangeSummary, missed?: n}. The token goes in Authorization: Bearer, or (browsers) as the subprotocol bearer.<token> offered beside version-proxy.v1. A plain GET gets 426.',
  parameters: [
    {
      name: 'filter',
      in: 'query',
      description: "only events this filter holds for (docs/filter.md); a filter with keys other than method, host and path reads the finished exchange, so it gets no 'started' events",
      schema: { type: 'string' },
    },
    {
      name: 'since',
      in: 'query',
      description: "first the held events after this seq (a reconnect resumes), preceded by a 'missed' message counting those no longer held",
      schema: { type: 'integer', minimum: 0 },
    },
    {
      name: 'run',
      in: 'query',
      description: "the run `since` counts in, as the X-Feed-Run header of the 101 named it: from another run (the proxy restarted), since counts from this run's start",
      schema: { type: 'string' },
    },
  ],
  response: {
    status: 101,
    description: 'Switching Protocols: the WebSocket is open and events follow; X-Feed-Run names this run (pass it as run= with since= when reconnecting)',
    schema: {
      type: 'object',
      required: ['seq', 'type'],
      properties: {
        seq: { type: 'integer', description: "one more per event over the run; for 'missed', the seq of the last event it counts" },
        type: { enum: ['started', 'finished', 'missed'] },
        time: { type: 'integer', description: 'epoch milliseconds: the start or the end of the exchange' },
        exchange: { $ref: '#/components/schemas/ExchangeSummary' },
        missed: { type: 'integer', description: 'events the subscriber did not get (it read too slowly, or they left the ring before it resumed)' },
      },
    },
  },
  handler: () => {
    throw new ApiError(426, 'UPGRADE_REQUIRED', `${EVENTS_PATH} is a WebSocket: connect with ws://HOST:PORT${EVENTS_PATH} (Upgrade: websocket), or run ./proxy tail`, undefined, { Upgrade: 'websocket', Connection: 'Upgrade' });
  },
};
