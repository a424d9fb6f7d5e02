/**
 * Step 10 (close) of an HTTP exchange (http-exchange.ts): what its record gains as it
 * finishes, beside the timings and the error: the protocol verdicts (negotiation.ts), the rules
 * it met, and the bodies captured. Free functions of the finished exchange: the pipeline class
 * keeps only what moves bytes and events.
 *
 * When the record is emitted (issue 21, finding 5): a client that has the whole response may
 * be told "done" while a `kill -9` takes the proxy, so the record must be handed to the kernel
 * before the response's last bytes are. Node hands a response's bytes to the kernel inside
 * `res.write()` / `res.end()` (a synchronous write when the socket takes them), and only emits
 * 'finish' and 'close' later, so the record is emitted from inside `res.end()`, before Node's
 * own end runs (onEnd below), and the journal writes it synchronously then (record/journal.ts).
 * A body framed by Content-Length is complete for the client with its last data bytes, which
 * Node writes before end() is called: while recording, the client's socket is corked for the
 * rest of each turn in which response bytes are written (holdLastBytes), so those bytes wait
 * in user space for the end() of the same turn, whose record comes first.
 */
import { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { BodyCapture } from '../core/body-capture.js';
import type { Exchange } from '../core/exchange.js';
import type { Observation } from '../protocols/observer.js';
import type { RuleRun } from '../rules/engine.js';
import type { PipelineContext } from './pipeline-context.js';

/** Concludes the protocol observer's work: the verdicts go on `exchange.protocol`. */
export function judgeExchange(ctx: Pick<PipelineContext, 'negotiations' | 'log'>, exchange: Exchange, observation: Observation): void {
  try {
    exchange.protocol = ctx.negotiations.judge(exchange, observation);
  } catch (err) {
    // Parsers never throw by contract; if one does, the exchange is still recorded and the
    // proxy stays up (docs/running.md "Failures are answers").
    ctx.log.error({ err, xid: exchange.id }, 'protocol observer failed');
  }
}

/** The record lists every rule met; the log names the ones that acted or could not. */
export function recordRules(ctx: Pick<PipelineContext, 'log' | 'redactChanges'>, exchange: Exchange, run: RuleRun): void {
  exchange.rules = run.applied;
  for (const rule of run.applied) {
    if (rule.outcome === 'applied') ctx.log.info({ xid: exchange.id, rule: rule.id, changes: ctx.redactChanges(rule.changes) }, 'rule applied');
    else if (rule.outcome === 'skipped') ctx.log.warn({ xid: exchange.id, rule: rule.id, reason: rule.reason }, 'rule skipped');
  }
}

/** Bodies go on the record only when there was one: no body, no field. */
export function recordBodies(exchange: Exchange, requestCapture: BodyCapture, responseCapture: BodyCapture | undefined): void {
  const request = requestCapture.result();
  const response = responseCapture?.result();
  if (request.size === 0 && (response === undefined || response.size === 0)) return;
  exchange.bodies = {
    ...(request.size > 0 && { request }),
    ...(response !== undefined && response.size > 0 && { response }),
  };
}

/** Told inside the response's end(), before Node's own end writes anything. */
export interface EndListener {
  responseEnding(): void;
}

/**
 * The server's responses (http.createServer's `ServerResponse` option): end() first tells the
 * exchange, whose record then goes out before the last bytes are handed to the socket. A class
 * rather than an end() patched onto each response: a per-response own property changed the
 * object's shape, and the bound function and closure per exchange cost ~6 MB of peak RSS under
 * the bench's load.
 */
export class RecordedResponse extends ServerResponse {
  endListener: EndListener | undefined = undefined;

  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    const listener = this.endListener;
    if (listener !== undefined) {
      this.endListener = undefined;
      listener.responseEnding();
    }
    // Node sorts out which of the three it was given (a callback alone, a chunk and a callback, …).
    return (super.end as (...args: unknown[]) => this)(chunk, encoding, callback);
  }
}

/**
 * Holds what is written to the client's socket for the rest of this event-loop turn: released
 * by the response's end() (Node uncorks fully there, after the record went out) or at the turn's
 * end, whichever comes first. A stream still flowing leaves at the end of each turn, so nothing
 * waits for data the turn does not have (docs/running.md "Streaming").
 */
export function holdLastBytes(socket: Socket | null): void {
  if (socket === null || socket.destroyed || socket.writableCorked > 0) return;
  socket.cork();
  setImmediate(release, socket);
}

function release(socket: Socket): void {
  if (socket.writableCorked > 0) socket.uncork();
}
