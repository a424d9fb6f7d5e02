/**
 * Step 10 (close) of an HTTP exchange (http-exchange.ts): what its record gains as it
 * finishes, beside the timings and the error: the protocol verdicts (negotiation.ts), the rules
 * it met, and the bodies captured. Free functions of the finished exchange: the pipeline class
 * keeps only what moves bytes and events.
 */
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
    // proxy stays up (DESIGN.md invariant 4).
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
