/**
 * Where exchanges are announced: `started` when the head has been read, `finished` once the
 * exchange is over for both sides (the pipeline in src/proxy/http-exchange.ts, steps 1 and 10). Journal, live feed
 * and log line all subscribe here; none of them is known to the proxy.
 */
import { EventEmitter } from 'node:events';
import type { Exchange } from './exchange.js';

export interface ExchangeEventMap {
  started: [Exchange];
  finished: [Exchange];
}

export class ExchangeEvents extends EventEmitter<ExchangeEventMap> {}
