/** The request head as the client sent it, for the record (raw headers: order, case, repeats). */
import type { IncomingMessage } from 'node:http';
import type { RequestHead } from '../core/exchange.js';

export function requestHeadOf(req: IncomingMessage): RequestHead {
  return { method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, rawHeaders: req.rawHeaders };
}
